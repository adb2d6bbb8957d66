"""Pods: problem pods first, on a VirtualTable (a cluster can hold 30,000 of them).

Order, worst first: failing statuses (CrashLoopBackOff, ImagePullBackOff, Error...), Pending
too long, running but not ready, restarts risen since the store first saw the pod (the store's
restart baseline, so an old pod with 40 restarts from last month does not shout), then the
merely notable (Pending briefly, Terminating), healthy, and finished pods last.

By default only problem and notable pods are shown: in a 30,000-pod cluster the healthy ones
are noise during an incident. :meth:`PodsPanel.toggle_all` shows every pod; the rows are all
held either way, so toggling re-filters and never re-reads the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType

from backends.model import PodRow, Row
from backends.store import Store
from widgets.formatting import DIM, PROBLEM, WARNING, age, age_changes_at, rank_key
from widgets.panel import RowId, RowView
from widgets.rowmodel import Cell, Column
from widgets.virtual_panel import VirtualPanel

__all__ = ["PodsPanel"]

_AGE = 7
_FINISHED = frozenset({"Completed", "Succeeded"})


class PodsPanel(VirtualPanel):
    """Problem pods first; all pods on demand."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "toggle_all", "All pods", id="pods.toggle-all",
                tooltip="Show every pod, or only the pods that need a look"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | a | Toggle between problem pods only and all pods. |
    """

    KINDS: ClassVar[tuple[str, ...]] = ("pods",)
    TITLE: ClassVar[str] = "Pods"
    NARROW_LABEL: ClassVar[str] = "problems"
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("NAMESPACE", max_width=24, priority=4, min_width=8),
        Column("NAME", max_width=56, priority=1, min_width=16, ideal=24, cut="middle"),
        Column("READY", align="right", priority=3),
        Column("STATUS", max_width=26, priority=1, min_width=10, ideal=26),
        Column("RESTARTS", align="right", priority=3, min_width=6),
        Column("PROBLEM", max_width=40, priority=2, min_width=12, ideal=30),
        Column("NODE", max_width=36, priority=8, min_width=10, cut="middle"),
        Column("AGE", align="right", priority=7),
    )
    """By priority (widgets/column_fit.py): name, status and the problem in words first;
    node and age last."""

    def __init__(
        self,
        *,
        show_all: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(show_all=show_all, name=name, id=id, classes=classes,
                         disabled=disabled)
        self._problems: dict[str, str] = {}
        self._pending: set[str] = set()
        """Pending pods not (yet) problems: rebuilt every refresh to catch "too long"."""

    def toggle_all(self) -> None:
        """Switch between all rows and problems only."""
        self.toggle_mode()

    def action_toggle_all(self) -> None:
        """Switch between all rows and problems only."""
        self.toggle_mode()

    # ------------------------------------------------------------------ views

    def prepare(self, store: Store, now: float) -> None:
        self._problems = store.problem_pods(now=now)

    def extra_targets(self, now: float) -> Iterable[RowId]:
        # Drop pods no longer held: O(pending pods), not O(all pods) every tick.
        rows = self._rows
        self._pending = {key for key in self._pending if ("pods", key) in rows}
        return [("pods", key) for key in self._pending]

    def view(self, store: Store, kind: str, row: Row, now: float) -> RowView | None:
        if not isinstance(row, PodRow):
            return None
        key = row.key
        reason = self._problems.get(key, "")
        baseline = store.restart_baseline(row.uid or key)
        rise = row.restarts - baseline if baseline is not None else 0
        restarts = f"{row.restarts} (+{rise})" if rise > 0 else str(row.restarts)
        rank = _rank(row, reason, rise)
        if row.phase == "Pending" and not reason:
            self._pending.add(key)
        else:
            self._pending.discard(key)
        tone = PROBLEM if rank <= 3 else WARNING if rank == 4 else DIM if rank == 6 else None
        cells: tuple[Cell, ...] = (
            row.namespace,
            row.name,
            f"{row.ready_containers}/{row.total_containers}",
            row.status or row.phase,
            restarts,
            reason,
            row.node,
            age(row.created, now),
        )
        return RowView(cells, rank_key(rank, row.namespace, row.name), tone)

    def timed_cells(self, kind: str, row: Row, now: float) -> dict[int, Cell]:
        return {_AGE: age(row.created, now)} if isinstance(row, PodRow) else {}

    def timed_due(self, kind: str, row: Row, now: float) -> float | None:
        return age_changes_at(row.created, now) if isinstance(row, PodRow) else None


def _rank(pod: PodRow, reason: str, rise: int) -> int:
    """0 failing, 1 pending too long, 2 not ready, 3 restarts rising, 4 notable, 5 fine,
    6 finished."""
    status = pod.status or pod.phase
    if pod.problem and status != "Running":
        return 0  # the decoder flags only failing statuses (ImagePullBackOff is phase Pending)
    if reason.startswith("Pending"):
        return 1
    if pod.problem:
        return 2
    if rise > 0:
        return 3
    if pod.phase == "Pending" or pod.deleted is not None:
        return 4
    if status in _FINISHED or pod.phase == "Succeeded":
        return 6
    return 5
