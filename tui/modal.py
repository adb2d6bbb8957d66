"""The base of every modal screen of the control room: :class:`ContextModal`.

A modal covers the header, and the header is where the operator reads which context the keys
act on and whether it is production. A plan typed into on the wrong context, or a picker read
as staging while it is production, is the mistake the red banner exists to prevent, so every
modal (plans, pickers, the countdown, the journal, baselines, the runbook, help, detail)
carries the same target line, docked on its top row (:class:`~widgets.header.TargetBanner`).

``?`` on any modal lists that modal's keys (the help screen, :mod:`tui.screens`): a modal
stops the App's bindings, so the dashboard's ``?`` cannot answer there.

The line is mounted by the base class when the screen mounts, so a new modal gets it by
deriving from :class:`ContextModal`; a test holds that every modal screen in ``tui/`` does.
The target is read from the App (:class:`~tui.session.Target`): a screen shown by another App
(a widget test's) simply has no line.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.binding import Binding, BindingType
from textual.screen import ModalScreen

from tui.session import Target
from widgets.header import TargetBanner

__all__ = ["ContextModal"]

ResultT = TypeVar("ResultT")


class ContextModal(ModalScreen[ResultT]):
    """A modal screen with the target line (context, PRODUCTION, READ-ONLY) on its top row,
    and ``?`` listing its own keys (the dashboard's keys do not reach a modal)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help_keys", "Keys", show=False, id="modal.help",
                tooltip="The keys of this screen"),
    ]

    async def action_help_keys(self) -> None:
        """``?``: the App's help screen, which lists the keys of the screen on top: this one
        and its focused widget's (the help screen itself closes instead)."""
        await self.run_action("app.help")

    def on_mount(self) -> None:
        # Textual calls the on_mount of every class in the MRO, so a subclass's own on_mount
        # does not replace this one.
        target = getattr(self.app, "target", None)
        if isinstance(target, Target) and not self.query(TargetBanner):
            self.mount(TargetBanner(target.cluster, target.context, target.production,
                                    read_only=target.read_only, id="target-banner"))
