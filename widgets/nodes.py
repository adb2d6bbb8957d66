"""Nodes: readiness, pool, CPU and memory use against allocatable, kubelet version, age.

NotReady (and Unknown) nodes sort first and are highlighted: during a node-image upgrade or a
zone outage they are the first thing the on-call must see. Metrics change every scrape, so they
are kept out of the sort key (rows would jump around every tick); high use only tints the row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

from backends.model import NodeMetricsRow, NodeRow, Row
from backends.store import Store
from widgets.formatting import PROBLEM, WARNING, age, age_changes_at, percent, rank_key
from widgets.panel import RowId, RowView
from widgets.rowmodel import Cell, Column
from widgets.virtual_panel import VirtualPanel

__all__ = ["NodesPanel"]

_PRESSURES = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
_HOT_PERCENT = 90.0
_AGE = 6


class NodesPanel(VirtualPanel):
    """One row per node; NotReady first."""

    KINDS: ClassVar[tuple[str, ...]] = ("nodes", "nodemetrics")
    ROW_KINDS: ClassVar[tuple[str, ...]] = ("nodes",)
    TITLE: ClassVar[str] = "Nodes"
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("NAME", priority=1, min_width=16, ideal=24, cut="middle"),
        Column("POOL", priority=5, min_width=6),
        Column("STATUS", priority=1, min_width=8),
        Column("CPU", align="right", priority=3),
        Column("MEM", align="right", priority=3),
        Column("VERSION", priority=6),
        Column("AGE", align="right", priority=7),
    )
    """By priority (widgets/column_fit.py): the name and its status first, age last."""

    def view(self, store: Store, kind: str, row: Row, now: float) -> RowView | None:
        if not isinstance(row, NodeRow):
            return None
        metrics = store.get("nodemetrics", row.name)
        cpu = memory = ""
        hot = False
        if isinstance(metrics, NodeMetricsRow):
            cpu = percent(metrics.cpu_m, row.cpu_allocatable_m)
            memory = percent(metrics.memory, row.memory_allocatable)
            hot = _ratio(metrics.cpu_m, row.cpu_allocatable_m) >= _HOT_PERCENT or _ratio(
                metrics.memory, row.memory_allocatable
            ) >= _HOT_PERCENT
        status = _status(row)
        pressured = any(
            c.status == "True" for c in row.conditions if c.type in _PRESSURES
        )
        tone: str | None
        if row.ready != "True":
            rank, tone = 0, PROBLEM
        elif row.unschedulable or pressured:
            rank, tone = 1, WARNING
        else:
            rank, tone = 2, (WARNING if hot else None)
        cells: tuple[Cell, ...] = (
            row.name,
            row.pool,
            status,
            cpu,
            memory,
            row.kubelet_version,
            age(row.created, now),
        )
        return RowView(cells, rank_key(rank, row.name), tone)

    def timed_cells(self, kind: str, row: Row, now: float) -> dict[int, Cell]:
        return {_AGE: age(row.created, now)} if isinstance(row, NodeRow) else {}

    def timed_due(self, kind: str, row: Row, now: float) -> float | None:
        return age_changes_at(row.created, now) if isinstance(row, NodeRow) else None

    def dependents(self, kind: str, keys: Iterable[str]) -> Iterator[RowId]:
        if kind == "nodemetrics":
            # NodeMetrics are named after their node (both cluster-scoped).
            for key in keys:
                yield ("nodes", key)


def _ratio(used: float, total: float) -> float:
    return used * 100 / total if total > 0 else 0.0


def _status(node: NodeRow) -> str:
    """kubectl's STATUS: ``Ready``, ``NotReady``, ``Unknown`` plus flags."""
    parts = [{"True": "Ready", "False": "NotReady"}.get(node.ready, "Unknown")]
    if node.unschedulable:
        parts.append("SchedulingDisabled")
    parts.extend(c.type for c in node.conditions if c.type in _PRESSURES and c.status == "True")
    return ",".join(parts)
