"""The timeline key: ``i`` opens the recorded timeline; Enter on an entry comes back to the
dashboard on the row of what it is about.

Which recording: the one this context's recording is written to
(:func:`backends.timeline.store.default_path` under the journal's state directory), whether
this control room or a ``controlroom record`` beside it writes it. Reading never needs the
cluster, so the key works before the sources are up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from textual.binding import Binding

from backends.sanitize import clean
from backends.store import Store
from backends.timeline.store import default_path
from tui.host import Host, start_worker
from tui.navigation import Navigator

__all__ = ["TIMELINE_BINDINGS", "TimelineActions"]

TIMELINE_BINDINGS = [
    Binding("i", "timeline", "Timeline", id="timeline",
            tooltip="Incident timeline: who changed what, newest first, each alert with the "
            "change it followed; Enter jumps to the object's row"),
]


class TimelineActions:
    """Opens the timeline screen on this context's recording and follows its Enter."""

    def __init__(self, host: Host, store: Store, navigator: Navigator, context: str,
                 state_dir: Path | None) -> None:
        self._host = host
        self._store = store
        self._navigator = navigator
        self.path: Path | None = default_path(state_dir, context) if state_dir else None
        """The recording the screen reads (None: no state directory, nothing recorded). A
        replay points it at the file it replays."""
        self.until: Callable[[], float | None] | None = None
        """The latest moment the screen shows, asked at each read: a replay sets its
        cursor's time, so the timeline shows nothing the panels do not show yet."""

    def open(self) -> None:
        if self.path is None:
            self._host.notify("timeline: no state directory, so no recording to read",
                              severity="warning", markup=False)
            return
        start_worker(self._host, partial(self._show, self.path), name="_timeline",
                     group="timeline", exclusive=True)

    async def _show(self, path: Path) -> None:
        from backends.timeline.feed import (
            TimelineFeed,  # at first use: not needed for the first rows
        )
        from tui.timeline_screen import TimelineScreen

        screen = TimelineScreen(TimelineFeed(path, until=self.until), self._app_keys)
        targets = await self._host.push_screen_wait(screen)
        if targets:
            self.jump(targets)

    def _app_keys(self) -> Sequence[str]:
        return list(self._store.rows("applications"))

    def jump(self, targets: Sequence[tuple[str, str]]) -> None:
        """Put the cursor on the first of ``targets`` the dashboard shows."""
        if not self._navigator.show_first(targets):
            kind, key = targets[0]
            self._host.notify(f"{clean(key, 200)} ({kind}) is not on the dashboard now "
                              "(filtered out, or gone since)", severity="warning",
                              markup=False, timeout=6)
