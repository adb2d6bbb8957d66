"""Argo CD Applications: sync, health, auto-sync state, revision, last sync, operation.

Auto-sync is shown as ``on`` / ``paused`` / ``off`` exactly as the store decoded it (a pause
left behind after an incident is how drift sneaks in, so paused apps are highlighted), with
``selfHeal`` spelled out because it reverts hand-made changes. Degraded or missing health and
failed syncs sort first.

PromQL key signals (``[[signals]]``: error ratio, p99 latency...) get one column each, right
after AUTO-SYNC, because "Synced, Healthy" next to a rising error ratio is exactly what an
on-call must not miss during an update. A cell is a sparkline and the latest value
(:mod:`widgets.sparkline`), coloured by the signal's status through component classes, dimmed
when the value is stale (Prometheus unreachable). A signal row joins an app by the app's name,
else by its destination namespace (``<signal>/<app>`` keys of store kind ``signals``). The
columns are the configured signals, given at construction; an app without a series shows an
empty cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text

from backends.model import AppRow, Row
from backends.signals.model import SIGNALS, SignalRow, signal_key
from backends.store import Store
from widgets.formatting import PROBLEM, WARNING, age_changes_at, ago, short_revision
from widgets.panel import RowId, RowView
from widgets.rowmodel import Cell, Column
from widgets.sparkline import format_value, sparkline
from widgets.table_panel import TablePanel

__all__ = ["SPARK_WIDTH", "AppsPanel", "last_sync", "signal_cell"]

SPARK_WIDTH = 10
"""Cells of a sparkline; longer ranges are squeezed (max per cell, so spikes stay)."""
_SIGNAL_STATES = ("ok", "warn", "crit", "unknown", "stale")
_SIGNALS_AT = 4
"""Index of the first signal column (right after AUTO-SYNC: a paused auto-sync must stay in
view in a narrow panel, it is how drift sneaks in after an incident)."""
_LAST_SYNC = 5
"""Index of LAST SYNC without signal columns."""
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


def signal_cell(row: SignalRow | None, styles: dict[str, Style]) -> Cell:
    """``▁▁▂▅█ 9.1%``: the sparkline (right-aligned to :data:`SPARK_WIDTH`) and the latest
    value, styled by the row's status (``styles`` by status, and ``stale``); "" without a row.

    Higher-is-worse signals are drawn on a scale from 0 to at least the critical threshold,
    so a full bar means "at or past critical" and a healthy flat line stays low.
    """
    if row is None:
        return ""
    ascending = row.warn is None or row.crit is None or row.crit >= row.warn
    high = row.crit if row.crit is not None else row.warn
    line = sparkline(row.values, SPARK_WIDTH, low=0.0 if ascending else None,
                     high=high if ascending else None)
    text = Text(f"{line.rjust(SPARK_WIDTH)} {format_value(row.latest, row.unit)}", end="")
    style = styles.get("stale" if row.stale else row.status)
    if style is not None:
        text.stylize(style)  # a span over the row tone's, so the status colour wins
    return text


class AppsPanel(TablePanel):
    """One row per Application; unhealthy and failed first; a sparkline per signal."""

    COMPONENT_CLASSES: ClassVar[set[str]] = TablePanel.COMPONENT_CLASSES | {
        f"apps--signal-{state}" for state in _SIGNAL_STATES
    }
    """
    | Class | Description |
    | :- | :- |
    | `apps--signal-ok` | A signal within its thresholds. |
    | `apps--signal-warn` | A signal past its warning threshold. |
    | `apps--signal-crit` | A signal past its critical threshold. |
    | `apps--signal-unknown` | A signal without a current value. |
    | `apps--signal-stale` | A signal's last known value (Prometheus unreachable). |
    """

    DEFAULT_CSS = """
    AppsPanel {
        & > .apps--signal-ok { color: $text-success; }
        & > .apps--signal-warn { color: $text-warning; }
        & > .apps--signal-crit { color: $text-error; text-style: bold; }
        & > .apps--signal-unknown { color: $foreground-muted; }
        & > .apps--signal-stale { color: $foreground-muted; text-style: italic; }
    }
    """

    KINDS: ClassVar[tuple[str, ...]] = ("applications", SIGNALS)
    ROW_KINDS: ClassVar[tuple[str, ...]] = ("applications",)
    TITLE: ClassVar[str] = "Argo CD"
    # Fixed widths: rows of two kinds (applications, signals) arrive in any order, and auto
    # widths then depended on timing (seen as a flaky snapshot in CI, like the traffic panel's).
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("NAME", width=16, priority=1, min_width=10, ideal=10, cut="middle"),
        Column("SYNC", width=9, priority=2, ideal=9),
        Column("HEALTH", width=11, priority=1, min_width=8, ideal=8),
        Column("AUTO-SYNC", width=11, priority=4, min_width=4),
        Column("REVISION", width=8, priority=5),
        Column("LAST SYNC", width=16, priority=6, min_width=8),
        Column("OPERATION", width=30, priority=3, min_width=10, ideal=20),
    )
    """The columns without signals; an instance inserts one per signal after AUTO-SYNC (the
    first, the key signal, right after health in priority; widgets/column_fit.py)."""

    def __init__(
        self,
        *,
        signals: Sequence[str] = (),
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.signals: tuple[str, ...] = tuple(dict.fromkeys(signals))
        """Names of the configured signals, one column each, in this order."""
        base = type(self).COLUMNS
        # Per instance: the signals come from the configuration, the class holds the default.
        self.COLUMNS = (  # type: ignore[misc]
            *base[:_SIGNALS_AT],
            *(Column(signal.upper(), width=SPARK_WIDTH + 8, priority=2 if first else 4,
                     min_width=SPARK_WIDTH, ideal=SPARK_WIDTH + 8)
              for first, signal in zip([True] + [False] * len(self.signals), self.signals,
                                       strict=False)),
            *base[_SIGNALS_AT:],
        )
        self._last_sync = _LAST_SYNC + len(self.signals)
        self._signal_rows: dict[RowId, tuple[SignalRow | None, ...]] = {}
        self._joins: dict[str, set[RowId]] = {}
        """App name and destination namespace -> app rows (to wake them on signal changes)."""
        self._signal_styles: dict[str, Style] = {}

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
        rid = (kind, row.key)
        signals = tuple(self._find_signal(store, signal, row) for signal in self.signals)
        self._signal_rows[rid] = signals
        for join in (row.name, row.destination_namespace):
            if join:
                self._joins.setdefault(join, set()).add(rid)
        cells: tuple[Cell, ...] = (
            name,
            row.sync_status or "Unknown",
            row.health_status or "Unknown",
            _auto_sync(row),
            *(signal_cell(signal, self._signal_styles) for signal in signals),
            short_revision(row.revision),
            last_sync(row, now),
            _operation(row),
        )
        return RowView(cells, (rank, row.namespace, row.name), tone)

    @staticmethod
    def _find_signal(store: Store, signal: str, app: AppRow) -> SignalRow | None:
        """The signal's row for an app: by the app's name, else its destination namespace."""
        for join in (app.name, app.destination_namespace):
            found = store.get(SIGNALS, signal_key(signal, join)) if join else None
            if isinstance(found, SignalRow):
                return found
        return None

    def dependents(self, kind: str, keys: Iterable[str]) -> Iterator[RowId]:
        """The app rows a changed signal row belongs to (by name or destination namespace)."""
        if kind != SIGNALS or not self.signals:
            return
        for key in keys:
            signal, _, join = key.partition("/")
            if signal in self.signals:
                yield from (rid for rid in self._joins.get(join, ()) if rid in self._rows)

    def rows_updated(self, updates: dict[RowId, RowView | None], now: float) -> None:
        super().rows_updated(updates, now)
        for rid, view in updates.items():
            if view is None:
                self._signal_rows.pop(rid, None)

    def timed_cells(self, kind: str, row: Row, now: float) -> dict[int, Cell]:
        return {self._last_sync: last_sync(row, now)} if isinstance(row, AppRow) else {}

    def timed_due(self, kind: str, row: Row, now: float) -> float | None:
        if not isinstance(row, AppRow) or not last_sync(row, now):
            return None
        return age_changes_at(row.operation_finished, now)

    # ------------------------------------------------------------------ signal colours

    def _resolve_signal_styles(self) -> dict[str, Style]:
        return {
            state: self.get_component_rich_style(f"apps--signal-{state}", partial=True)
            for state in _SIGNAL_STATES
        }

    def on_mount(self) -> None:
        """Colour the signal cells built before mount (runs before TablePanel's on_mount
        fills the table, Textual calling both)."""
        self._restyle_signals()

    def notify_style_update(self) -> None:
        """A theme switch changes the signal colours too: rebuild those cells after it."""
        super().notify_style_update()
        if self.is_mounted:
            self.call_later(self._restyle_signals)

    def _restyle_signals(self) -> None:
        """Rebuild the signal cells of every held row when the status colours changed."""
        styles = self._resolve_signal_styles()
        if styles == self._signal_styles:
            return
        self._signal_styles = styles
        if not self.signals:
            return
        updates: dict[RowId, RowView | None] = {}
        for rid, view in self._views.items():
            signals = self._signal_rows.get(rid, ())
            cells = list(view.cells)
            for index, signal in enumerate(signals):
                cells[_SIGNALS_AT + index] = signal_cell(signal, styles)
            updates[rid] = RowView(tuple(cells), view.sort_key, view.tone)
        if updates:
            with self._batch():
                self.apply_views(updates, resort=False)
