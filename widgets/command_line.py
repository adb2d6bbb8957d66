"""The command line: ``:`` opens one line under the dashboard, k9s's way of going somewhere.

What a line means is decided by :func:`widgets.commands.resolve` (pure); this widget only
takes the line, completes panel names as they are typed (Textual's suggester: right arrow
accepts), and hands the line to whoever opened it. Enter runs it, Escape closes it without
running anything; either way the box hides and the focus goes back.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import events, on
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input

from widgets.commands import PANEL_NAMES

__all__ = ["CommandLine"]

_WORDS = sorted({name for names in PANEL_NAMES.values() for name in names} | {"filter "})


class CommandLine(Input):
    """An ``Input`` shown while a command is typed; hidden otherwise."""

    DEFAULT_CSS = """
    CommandLine { dock: bottom; height: 3; border: tall $accent; background: $surface; }
    """

    def __init__(self, run: Callable[[str], None], *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(placeholder=":pods :deploy :apps :routes :alerts :events :nodes "
                         ":filter TEXT (Esc closes)",
                         suggester=SuggestFromList(_WORDS, case_sensitive=False), id=id)
        self._run = run
        self._back: Widget | None = None
        self.display = False

    def open(self) -> None:
        """Show the line, empty, with the focus."""
        focused = self.app.focused
        self._back = focused if focused is not self else None
        self.value = ""
        self.display = True
        self.focus()

    def close(self) -> None:
        """Hide the line and give the focus back to where it was."""
        self.display = False
        if self._back is not None and self._back.is_attached:
            self._back.focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        line = event.value
        self.close()
        self._run(line)  # after close: a command may move the focus itself

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            self.close()
