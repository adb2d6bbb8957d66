"""The breaker on this context as the header shows it: the journal AND the cluster's marks.

Why its own module: the breaker's state is read from two places and on two clocks, which is
one job apart from planning and running actions (``tui/actions.py``). The journal is looked
at every half second (two ``stat`` calls; re-read only when its files changed), so a breaker
engaged or released by anyone sharing the journal shows within about a second. The cluster's
``controlroom.io/breaker`` marks are read on every refresh and at least every
:data:`CLUSTER_POLL_S` seconds, so a breaker engaged by another operator, with another state
dir or none, shows too (issue 14, point 11), as ``controlroom breaker status`` says it.

Never calm when unsure: when the journal or a kind's marks cannot be read, "breaker: off" is
not known, so :meth:`BreakerWatch.doubt` says what could not be read and since when, and the
header shows it until a read succeeds again.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from backends.ops.journal import Journal, JournalError
from backends.sanitize import clean

if TYPE_CHECKING:
    from backends.ops.breaker import BreakerState
    from backends.store import Store
    from backends.usecases.workspace import Workspace
    from tui.host import Host

__all__ = ["BREAKER_POLL_S", "CLUSTER_POLL_S", "BreakerWatch"]

BREAKER_POLL_S: Final = 0.5
"""How often the journal file is looked at for writes by others."""
CLUSTER_POLL_S: Final = 15.0
"""How often, at the least, the cluster's breaker marks are listed (three metadata lists)."""


class BreakerWatch:
    """Holds :attr:`state` for the header, the drift watchdog and validation."""

    def __init__(self, host: Host, store: Store, workspace: Callable[[], Workspace | None],
                 journal: Callable[[], Journal | None]) -> None:
        self._host = host
        self._store = store
        self._workspace = workspace
        self._journal = journal
        self.state: BreakerState | None = None
        """The breaker on this context as the journal and the marks tell it."""
        self._drift_seen: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._unread: str = ""
        """What the last refresh could not read ("" when it read everything)."""
        self._unread_since: datetime | None = None

    def doubt(self) -> str:
        """What the breaker state is unsure of, for the header: "" when the last refresh
        read the journal and every kind's marks; otherwise what failed, since when (the
        first failure of an unbroken run of them)."""
        if not self._unread or self._unread_since is None:
            return ""
        return f"breaker {self._unread} since {self._unread_since:%H:%M:%S}"

    def _note_unread(self, what: str) -> None:
        if what and not self._unread:
            self._unread_since = datetime.now(UTC)
        elif not what:
            self._unread_since = None
        self._unread = what

    async def refresh(self) -> None:
        """Read the journal's open operations and the cluster's marks; not once the journal
        is closed (the App is ending). A cluster that cannot be listed leaves the journal's
        view, with why in the state's notes."""
        from backends.ops import breaker

        ws, journal = self._workspace(), self._journal()
        if ws is None or ws.journal is None or journal is None:
            return
        try:
            operations = await journal.open_operations(ws.context)
        except JournalError as exc:
            if not self._unread.startswith("journal"):
                self._host.notify(f"journal: {exc}", severity="error", markup=False)
            self._note_unread(f"journal unreadable ({clean(exc, 200)})")
            return
        marks = await breaker.scan(ws.conn)  # never raises: what failed is in its errors
        self.state = breaker.combined_state(operations, marks)
        self._note_unread(f"marks unreadable ({'; '.join(marks.errors)})" if marks.errors
                          else "")

    def start(self) -> None:
        """A plain task, not an App worker: it never ends, and tests (and the App) wait for
        the workers to complete."""
        if self._journal() is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(),
                                                                name="breaker watch")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _watch(self) -> None:
        seen, scanned = self._signature(), time.monotonic()
        while self._journal() is not None:
            await asyncio.sleep(BREAKER_POLL_S)
            now = self._signature()
            if now != seen or time.monotonic() - scanned >= CLUSTER_POLL_S:
                seen, scanned = now, time.monotonic()
                try:
                    await self.refresh()
                except Exception as exc:  # noqa: BLE001 - the watch must outlive a bad read
                    self._host.notify(f"breaker watch: {clean(exc, 300)}", severity="error",
                                      markup=False)

    def _signature(self) -> tuple[tuple[int, int], ...]:
        """(mtime, size) of the journal and its write-ahead log: a commit by any process
        changes one of them."""
        journal = self._journal()
        if journal is None:
            return ()
        out = []
        for path in (journal.path, journal.path.with_name(journal.path.name + "-wal")):
            try:
                st = os.stat(path)
            except OSError:
                out.append((0, 0))
            else:
                out.append((st.st_mtime_ns, st.st_size))
        return tuple(out)

    async def engaged(self) -> tuple[list[str], str]:
        """The headlines of the breakers engaged on this context, read afresh (a teammate's
        CLI may have engaged one a moment ago), and why that could not be known ("" when it
        could): validation fails on the first, cannot check on the second, exactly as
        ``controlroom validate`` does."""
        await self.refresh()
        if self._workspace() is None or self._journal() is None:
            return [], "the journal is not open (writes and breakers unknown)"
        if self.state is None:
            return [], "the journal could not be read"
        return ([self.state.headline()] if self.state.engaged else []), ""

    def check_drift(self) -> None:
        """The drift watchdog: tell the operator when something reverts an emergency change
        (selfHeal, an ApplicationSet, an HPA) while the breaker is engaged."""
        state = self.state
        if state is None or not state.engaged:
            return
        # Here, after the check: this runs every second from the start, and the breaker's
        # modules are not needed before one is engaged (issue 16: first rows).
        from backends.ops import breaker

        drifts = {d.describe() for d in breaker.detect_drift(self._store, state)}
        for text in sorted(drifts - self._drift_seen):
            self._host.notify(f"DRIFT: {text}", severity="error", markup=False, timeout=20)
        self._drift_seen = drifts
