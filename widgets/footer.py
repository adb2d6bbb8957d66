"""QuietFooter: Textual's Footer, recomposed once per burst of binding changes.

Textual's Footer answers every ``bindings_updated`` signal with its own recompose (remove and
re-mount every key, restyle each, lay out the whole screen). While the App starts, focus,
keymap, app focus and the session's actions each signal, several times within a few frames,
and each recompose cost a layout and a full repaint of every panel while the first lists
load (bench/bench_live.py, frames while loading). Here a signal that arrives while a
recompose is already scheduled is folded into it: the recompose reads the bindings when it
runs, so the keys shown end up the same. And a recompose whose keys would be exactly those
already shown (same bindings, enabled states, tooltips and key displays) is skipped.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

__all__ = ["QuietFooter"]


class QuietFooter(Footer):
    """A Footer that coalesces recomposes (see the module docstring)."""

    _recompose_scheduled = False
    _composed: Hashable = None
    """What the last compose showed (see :meth:`_shown`); None before the bindings are ready."""

    def _shown(self) -> Hashable:
        """Everything :meth:`Footer.compose` reads to build the keys."""
        app = self.app
        return (
            tuple(
                (binding, enabled, tooltip, app.get_key_display(binding))
                for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            ),
            self.show_command_palette, app.ENABLE_COMMAND_PALETTE, app.COMMAND_PALETTE_BINDING,
        )

    def compose(self) -> ComposeResult:
        self._composed = self._shown() if self._bindings_ready else None
        yield from super().compose()

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._recompose_scheduled:
            self._recompose_scheduled = True
            self.call_after_refresh(self._scheduled_recompose)

    async def _scheduled_recompose(self) -> None:
        self._recompose_scheduled = False
        if self._composed is not None and self.is_attached and self._shown() == self._composed:
            return
        await self.recompose()
