"""The panel contract and its two table-backed bases.

Every dashboard panel is a :class:`Panel`: the App's refresh tick calls
:meth:`Panel.refresh_from` with the store and the change set since the last tick, and the panel
turns only the changed rows into views (cells, sort key, tone) and pushes the differences to its
table. A panel never reads the store outside that call (one-way data flow) and works whether or
not it is mounted yet: views are kept in the panel and flushed to the table on mount.

- :class:`~widgets.table_panel.TablePanel` shows short lists (traffic, apps) in a
  ``DataTable``: ``Text`` cells, keyed rows, ``update_cell`` without ``update_width`` (a
  width grows only when a new value is wider than its column, which is the cheap path), one
  ``sort`` per tick and only when a sort key changed or a row appeared.
- :class:`~widgets.virtual_panel.VirtualPanel` shows lists that can reach thousands or tens of
  thousands of rows (nodes, workloads, pods, events) in a :class:`~widgets.vtable.VirtualTable`.
  A DataTable of 3,000 deployments or 1,000 nodes alone cost seconds while a big cluster
  loaded and 100 ms frames under a flood (bench/bench_live.py).

Time-dependent cells (ages, "5m ago", see :meth:`Panel.timed_cells`) are kept right by
:meth:`Panel.refresh_ages`, which each base does its own way: a virtual panel computes them at
draw time for the rows on screen only; a table panel re-ages its (few) rows on a schedule of
when each row's string next changes (:meth:`Panel.timed_due`).

Row tones (``problem``, ``warning``, ``dim``) are resolved through component classes, so the
theme decides the colours; a theme switch restyles the cells. A panel holding failing rows gets
the ``-problems`` class (its title turns red) and counts them in its subtitle.

The failure funnel's last step: a panel fed by cluster sources (:attr:`Panel.fed_by`) says on
its status line, above its table, when one of them does not deliver
(:func:`widgets.sourcestate.panel_status`): "stale since 14:02:11: <reason>" over its last
known rows, dimmed (``-stale``), or "no data: <reason>" when it never had any, and its border
turns red (``-source-down``); and "2 objects could not be read: payments/web-1: <why>" when
a source delivers but some of its objects did not decode (issue 13, point 11: the rows shown
are right, but not all). Never an empty, calm-looking panel. The line is hidden while
every source delivers, so the healthy screen is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

import msgspec
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from backends.model import KINDS as CLUSTER_KINDS
from backends.model import Row
from backends.store import ChangeSet, Store
from widgets.formatting import PROBLEM, WARNING, plain
from widgets.messages import PanelRowActivated, PanelRowHighlighted
from widgets.rowmodel import Cell
from widgets.sourcestate import failing_sources, panel_status, unreadable_status

__all__ = ["SEVERITY", "Panel", "RowId", "RowView"]

RowId = tuple[str, str]
"""``(kind, key)`` of a row in the store."""

_NOTHING: frozenset[str] = frozenset()

SEVERITY: dict[str, int] = {PROBLEM: 2, WARNING: 1}
"""How bad a row's tone is, for the jump to the worst row (other tones: 0)."""
MAX_SEVERITY = max(SEVERITY.values())


class RowView(msgspec.Struct, frozen=True, gc=False):
    """What a panel shows for one store row.

    A ``gc=False`` struct, not a NamedTuple: a pods panel holds one per pod (30,000) and
    replaces each one every second while ages count seconds; tracked by the cyclic collector,
    they made every full collection walk them (bench/bench_live.py). A view only refers to
    strings, ``Text`` cells and tuples, never back to itself, so it cannot be in a cycle.
    """

    cells: tuple[Cell, ...]
    sort_key: tuple[Any, ...] | str
    """Ascending; ties are broken by the row id, so the order is total and stable. Big
    tables use one string (:func:`widgets.formatting.rank_key`): it sorts in C."""
    tone: str | None = None
    """``"problem"``, ``"warning"``, ``"dim"`` or None."""


class Panel(Widget):
    """Base of the dashboard panels: the contract the App relies on.

    Subclasses set ``KINDS`` (store kinds that wake the panel), ``ROW_KINDS`` (kinds whose rows
    are the panel's rows; the others only affect them, see :meth:`dependents`), ``TITLE``, and
    implement :meth:`view`.
    """

    DEFAULT_CSS = """
    Panel {
        height: 1fr;
        border: round $border-blurred;
        border-title-color: $foreground;
        border-subtitle-color: $foreground-muted;
        &:focus-within {
            border: round $border;
        }
        &.-problems {
            border-title-color: $text-error;
            border-subtitle-color: $text-error;
        }
        &.-source-down {
            border: round $error;
            border-title-color: $text-error;
        }
        & > .panel--status {
            height: auto;
            max-height: 3;
            padding: 0 1;
            color: $text-error;
            text-style: bold;
        }
        &.-stale > DataTable, &.-stale > VirtualTable {
            text-opacity: 55%;
        }
    }
    """

    ALLOW_MAXIMIZE = True
    """A panel (not only its table) fills the screen when maximised (tui/layout.py)."""

    KINDS: ClassVar[tuple[str, ...]] = ()
    """Store kinds this panel shows or depends on."""
    ROW_KINDS: ClassVar[tuple[str, ...]] = ()
    """Kinds whose rows are rows of this panel (defaults to ``KINDS``)."""
    TITLE: ClassVar[str] = ""
    """Name shown in the panel's border."""
    WATCHES_HEALTH: ClassVar[bool] = False
    """Wake on source-health changes too (panels that show a source's state)."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._rows: dict[RowId, Row] = {}
        self._views: dict[RowId, RowView] = {}
        self._subtitle = ""
        self._failing: set[RowId] = set()
        """Rows with tone ``problem``: counted in the subtitle, and ``-problems`` set."""
        self.border_title = Content(self.TITLE)
        self.fed_by: frozenset[str] = frozenset(
            k for k in (self.ROW_KINDS or self.KINDS) if k in CLUSTER_KINDS)
        """The cluster kinds whose sources feed this panel's rows (their health is shown)."""
        self.status_line = Static(classes="panel--status")
        """Why the panel's data is stale or missing (hidden while its sources deliver)."""
        self.status_line.display = False
        self._status_text = ""

    # ------------------------------------------------------------------ contract

    def refresh_from(self, store: Store, changes: ChangeSet, now: float) -> None:
        """Update what changed in ``changes`` (removed, changed, new rows), nothing else."""
        self.prepare(store, now)
        row_kinds = self.ROW_KINDS or self.KINDS
        targets: dict[RowId, None] = {}
        for kind in self.KINDS:
            upserted = changes.upserted.get(kind, _NOTHING)
            if changes.full:
                held = {key for k, key in self._rows if k == kind}
                removed: Iterable[str] = held.difference(upserted)
            else:
                removed = changes.removed.get(kind, _NOTHING)
            if kind in row_kinds:
                targets.update(dict.fromkeys((kind, key) for key in upserted))
                targets.update(dict.fromkeys((kind, key) for key in removed))
            else:
                targets.update(dict.fromkeys(self.dependents(kind, upserted)))
                targets.update(dict.fromkeys(self.dependents(kind, removed)))
        targets.update(dict.fromkeys(self.extra_targets(now)))
        # The per-row loop runs for every row of a 30,000-pod list as it loads: one lookup
        # of each kind's table, not a store call per row, and the failing set kept here.
        tables = {kind: store.held(kind) for kind in row_kinds}
        rows_held = self._rows
        failing = self._failing
        view_of = self.view
        updates: dict[RowId, RowView | None] = {}
        for rid in targets:
            kind = rid[0]
            table = tables.get(kind)
            row = table.get(rid[1]) if table is not None else None
            view = None if row is None else view_of(store, kind, row, now)
            if row is not None and view is not None:
                rows_held[rid] = row
                updates[rid] = view
                if view.tone == PROBLEM:
                    failing.add(rid)
                else:
                    failing.discard(rid)
            elif rid in rows_held:
                updates[rid] = None
                del rows_held[rid]
                failing.discard(rid)
        self.rows_updated(updates, now)
        with self._batch():
            self.apply_views(updates)
            self.refresh_ages(now)
        self._show_counts()
        self.show_sources(store)

    @property
    def status_text(self) -> str:
        """What the status line says about the sources feeding the panel ("" when fine)."""
        return self._status_text

    def show_sources(self, store: Store) -> None:
        """Say on the status line whether the panel's sources deliver (module docstring)."""
        if not self.fed_by:
            return
        health = store.all_health()
        text, stale = panel_status(failing_sources(health, self.fed_by), bool(self._rows))
        # Objects that could not be decoded are missing from the rows: said, never calm.
        text = "; ".join(t for t in (text, unreadable_status(health, self.fed_by)) if t)
        self.set_class(stale, "-stale")
        self.set_class(bool(text), "-source-down")
        if text != self._status_text:
            self._status_text = text
            self.status_line.update(Content(text))  # the server's words: never markup
            self.status_line.display = bool(text)

    def set_filter(self, text: str) -> None:
        """Show only rows with ``text`` in a visible cell (case-insensitive); "" clears."""
        raise NotImplementedError

    @property
    def filter_text(self) -> str:
        """The active filter ("" when none)."""
        raise NotImplementedError

    @property
    def selected_key(self) -> str | None:
        """Store key of the row under the cursor."""
        rid = self.selected_row
        return None if rid is None else rid[1]

    @property
    def selected_kind(self) -> str | None:
        """Store kind of the row under the cursor."""
        rid = self.selected_row
        return None if rid is None else rid[0]

    @property
    def selected_row(self) -> RowId | None:
        """``(kind, key)`` under the cursor, or None when the panel shows nothing."""
        raise NotImplementedError

    def select_row(self, rid: RowId) -> bool:
        """Put the cursor on a shown row (it then follows that row as rows move); False
        when the row is not shown."""
        raise NotImplementedError

    def rows_in_order(self) -> Iterator[RowId]:
        """The shown rows in display order, lazily (a search can stop early)."""
        raise NotImplementedError

    def worst_row(self) -> tuple[RowId, int] | None:
        """The first shown row of the worst tone (``problem`` before ``warning`` before
        the rest) and how bad it is (:data:`SEVERITY`; 0: nothing to see), or None when
        the panel shows no row. The panels sort the worst rows first, so the search
        usually stops at the top; it reads the rows only when a key asks."""
        worst: tuple[RowId, int] | None = None
        views = self._views
        for rid in self.rows_in_order():
            view = views.get(rid)
            rank = SEVERITY.get(view.tone or "", 0) if view is not None else 0
            if worst is None or rank > worst[1]:
                worst = (rid, rank)
                if rank == MAX_SEVERITY:
                    break
        return worst

    def rank_of(self, rid: RowId) -> int:
        """How bad a held row's tone is (:data:`SEVERITY`; 0 for the rest or unknown)."""
        view = self._views.get(rid)
        return SEVERITY.get(view.tone or "", 0) if view is not None else 0

    def refresh_ages(self, now: float, *, budget: int = 2000) -> None:
        """Bring the time-dependent cells (ages, "5m ago") up to ``now``.

        :meth:`refresh_from` runs it every tick, and the App calls it on a timer so ages move
        while the cluster is quiet, so it must cost O(rows on screen) or O(rows due), never
        O(rows). ``budget`` caps the rows re-aged per call where rows are re-aged at all (the
        table panels' schedule).
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ for subclasses

    def view(self, store: Store, kind: str, row: Row, now: float) -> RowView | None:
        """The view of one row (None hides it). Called only for changed rows."""
        raise NotImplementedError

    def timed_cells(self, kind: str, row: Row, now: float) -> dict[int, Cell]:
        """Cells that change with time alone, by column index (ages). Default: none."""
        return {}

    def timed_due(self, kind: str, row: Row, now: float) -> float | None:
        """When :meth:`timed_cells` of this row will next differ (None: never); the table
        panels' re-ageing schedule uses it."""
        return None

    def rows_updated(self, updates: dict[RowId, RowView | None], now: float) -> None:
        """Hook run once per refresh with the new views (None: gone), after ``_rows`` holds
        the new rows and before the table gets the views."""

    def prepare(self, store: Store, now: float) -> None:
        """Hook run once per refresh before any view is built (per-tick lookups)."""

    def dependents(self, kind: str, keys: Iterable[str]) -> Iterator[RowId]:
        """Rows to rebuild when rows of a non-row kind changed (e.g. node metrics)."""
        return iter(())

    def extra_targets(self, now: float) -> Iterable[RowId]:
        """Rows to rebuild although they did not change (time-dependent status)."""
        return ()

    def apply_views(self, updates: dict[RowId, RowView | None], *, resort: bool = True) -> None:
        """Push new views (None removes) to the table and remember them."""
        raise NotImplementedError

    def visible_count(self) -> int:
        """How many rows the table shows now."""
        raise NotImplementedError

    def visible_rows(self) -> list[RowId]:
        """``(kind, key)`` of the rows shown, in display order (O(rows): tests and tools)."""
        raise NotImplementedError

    def visible_keys(self) -> list[str]:
        """Store keys of the rows shown, in display order (O(rows): tests and tools)."""
        return [key for _, key in self.visible_rows()]

    def cells_of(self, key: str, kind: str | None = None) -> list[str]:
        """The text of a held row's cells (shown or filtered out); ``[]`` if not held.

        ``kind`` is needed only where two kinds share a key (the traffic panel).
        """
        for row_kind in (kind,) if kind else (self.ROW_KINDS or self.KINDS):
            view = self._views.get((row_kind, key))
            if view is not None:
                return [plain(cell) for cell in view.cells]
        return []

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def table_key(rid: RowId) -> str:
        """The table's row key for a store row: ``kind/key``."""
        return f"{rid[0]}/{rid[1]}"

    @staticmethod
    def row_id(table_key: str) -> RowId:
        """Inverse of :meth:`table_key` (kinds never contain a slash)."""
        kind, _, key = table_key.partition("/")
        return kind, key

    def _batch(self) -> AbstractContextManager[object]:
        return self.app.batch_update() if self.is_attached else nullcontext()

    @property
    def failing_count(self) -> int:
        """How many rows have the ``problem`` tone (the pager line shows it)."""
        return len(self._failing)

    def _show_counts(self) -> None:
        shown, held = self.visible_count(), len(self._views)
        parts = [f"{shown}" if shown == held else f"{shown} of {held}"]
        if self._failing:
            parts.insert(0, f"{len(self._failing)} failing")
        self.set_class(bool(self._failing), "-problems")
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        subtitle = "  ".join(parts)
        if subtitle != self._subtitle:  # setting it repaints the border
            self._subtitle = subtitle
            self.border_subtitle = Content(subtitle)

    def _post_highlighted(self, table_key: str) -> None:
        kind, key = self.row_id(table_key)
        self.post_message(PanelRowHighlighted(kind, key, panel=self))

    def _post_activated(self, table_key: str) -> None:
        kind, key = self.row_id(table_key)
        self.post_message(PanelRowActivated(kind, key, panel=self))
