"""What the App's collaborators may ask of the App, and nothing more: :class:`Host`.

The action collaborators (``tui/actions.py``, ``tui/rollbacks.py``, ``tui/alert_actions.py``,
``tui/baseline_actions.py``, ``tui/runbook_actions.py``) are plain classes, not mixins: they
get the store, the settings and the target in their constructor and reach the screen only
through this protocol. That keeps them typed (mypy checks every call against Textual's own
signatures, since :class:`~tui.app.ControlRoomApp` is passed where a ``Host`` is expected) and
testable with a stand-in.

Workers: Textual's ``@work`` decorator needs a DOM node, which a collaborator is not. They call
:func:`start_worker`, which runs the job as an App worker exactly like ``@work`` did (same
node, group, exclusivity, ``exit_on_error=False``), so ``push_screen_wait`` works inside it
and an exclusive group still cancels the previous action's worker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel
    from textual.screen import Screen

    from widgets.panel import Panel

__all__ = ["Host", "start_worker"]

ResultT = TypeVar("ResultT")


class Host(Protocol):
    """The App as its collaborators see it."""

    def notify(self, message: str, *, title: str = ..., severity: SeverityLevel = ...,
               timeout: float | None = ..., markup: bool = ...) -> None:
        """A toast (pass ``markup=False`` for any text that came from outside)."""

    def push_screen(self, screen: Screen[ResultT]) -> object:
        """Show a screen without waiting for its answer."""

    async def push_screen_wait(self, screen: Screen[ResultT]) -> ResultT:
        """Show a screen and wait for its answer (only inside a worker)."""

    def run_worker(self, work: Callable[[], Awaitable[None]], *, name: str | None = ...,
                   group: str = ..., exit_on_error: bool = ..., exclusive: bool = ...
                   ) -> object:
        """Run ``work`` as a worker of the App (see :func:`start_worker`)."""

    def refresh_bindings(self) -> None:
        """Ask ``check_action`` again (the key bar dims or lights keys)."""

    def focused_panel(self) -> Panel | None:
        """The dashboard panel that has (or last had) the focus."""

    def panel_for(self, kind: str) -> Panel | None:
        """The first dashboard panel that shows rows of ``kind`` (its filter applies)."""


def start_worker(host: Host, job: Callable[[], Awaitable[None]], *, name: str, group: str,
                 exclusive: bool) -> None:
    """Run ``job`` (a ``functools.partial`` of an async method) the way ``@work(group=...,
    exclusive=..., exit_on_error=False)`` on the App ran it: a failure is logged on the
    worker and does not end the App."""
    host.run_worker(job, name=name, group=group, exclusive=exclusive, exit_on_error=False)
