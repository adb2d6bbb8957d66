"""Argo CD Applications: sync, health, auto-sync state, revision, last sync, operation.

Auto-sync is shown as ``on`` / ``paused`` / ``off`` exactly as the store decoded it (a pause
left behind after an incident is how drift sneaks in, so paused apps are highlighted), with
``selfHeal`` spelled out because it reverts hand-made changes. Degraded or missing health and
failed syncs sort first.
"""

from __future__ import annotations

from typing import ClassVar

from backends.model import AppRow, Row
from backends.store import Store
from widgets.formatting import PROBLEM, WARNING, age_changes_at, ago, short_revision
from widgets.panel import RowView
from widgets.rowmodel import Cell, Column
from widgets.table_panel import TablePanel

__all__ = ["AppsPanel", "last_sync"]

_LAST_SYNC = 5
_BAD_HEALTH = frozenset({"Degraded", "Missing"})
_BAD_PHASES = frozenset({"Failed", "Error"})


def last_sync(app: AppRow, now: float) -> str:
    """Result of the last finished operation: ``Succeeded 5m ago`` / ``Failed 2m ago``."""
    if not app.operation_phase or app.operation_phase in ("Running", "Terminating"):
        return ""
    when = ago(app.operation_finished, now)
    return f"{app.operation_phase} {when}" if when else app.operation_phase


def _operation(app: AppRow) -> str:
    """The operation under way: ``Running: <message>``, or ``requested`` before it starts."""
    if app.operation_phase in ("Running", "Terminating"):
        phase = app.operation_phase
        return f"{phase}: {app.operation_message}" if app.operation_message else phase
    if app.operation_pending:
        return "requested"
    return ""


def _auto_sync(app: AppRow) -> str:
    """``on``, ``on selfHeal``, ``paused`` or ``off`` (prune is in the detail view)."""
    if app.auto_sync == "on" and app.self_heal:
        return "on selfHeal"
    return app.auto_sync


class AppsPanel(TablePanel):
    """One row per Application; unhealthy and failed first."""

    KINDS: ClassVar[tuple[str, ...]] = ("applications",)
    TITLE: ClassVar[str] = "Argo CD"
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("NAME"),
        Column("SYNC"),
        Column("HEALTH"),
        Column("AUTO-SYNC"),
        Column("REVISION"),
        Column("LAST SYNC"),
        Column("OPERATION"),
    )

    def view(self, store: Store, kind: str, row: Row, now: float) -> RowView | None:
        if not isinstance(row, AppRow):
            return None
        tone: str | None
        if row.health_status in _BAD_HEALTH or row.operation_phase in _BAD_PHASES:
            rank, tone = 0, PROBLEM
        elif (
            row.sync_status != "Synced"
            or row.health_status != "Healthy"
            or row.auto_sync == "paused"
            or row.operation_in_progress
        ):
            rank, tone = 1, WARNING
        else:
            rank, tone = 2, None
        # Apps usually live in the argocd namespace; show it only when it says something.
        name = row.name if row.namespace in ("", "argocd") else f"{row.namespace}/{row.name}"
        cells: tuple[Cell, ...] = (
            name,
            row.sync_status or "Unknown",
            row.health_status or "Unknown",
            _auto_sync(row),
            short_revision(row.revision),
            last_sync(row, now),
            _operation(row),
        )
        return RowView(cells, (rank, row.namespace, row.name), tone)

    def timed_cells(self, kind: str, row: Row, now: float) -> dict[int, Cell]:
        return {_LAST_SYNC: last_sync(row, now)} if isinstance(row, AppRow) else {}

    def timed_due(self, kind: str, row: Row, now: float) -> float | None:
        if not isinstance(row, AppRow) or not last_sync(row, now):
            return None
        return age_changes_at(row.operation_finished, now)
