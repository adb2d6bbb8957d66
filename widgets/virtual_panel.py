"""VirtualPanel: a panel on a :class:`~widgets.vtable.VirtualTable`, for lists that can reach
thousands or tens of thousands of rows (nodes, workloads, pods, events). The table holds the
rows even before it is mounted.

Ages are computed when a row is drawn, from the row the panel holds and the clock
:meth:`VirtualPanel.refresh_ages` sets: the ~50 rows on screen are aged, not the 30,000 held.
The cells stored in the table keep the age of their last change, so a text filter matches what
the row said then; what :meth:`~widgets.panel.Panel.cells_of` returns is what is drawn now.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar, Self

from textual import on
from textual.app import ComposeResult
from textual.content import Content

from widgets.formatting import PROBLEM, WARNING, plain
from widgets.panel import Panel, RowId, RowView
from widgets.rowmodel import Cell, Column
from widgets.vtable import VirtualTable

__all__ = ["VirtualPanel"]


class VirtualPanel(Panel):
    """A panel on a :class:`VirtualTable` (for lists that can reach tens of thousands)."""

    DEFAULT_CSS = """
    VirtualPanel > VirtualTable { height: 1fr; }
    """

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    #: Label of the narrowed view that shows only notable rows (problem or warning tone),
    #: e.g. "problems"; "" for a panel that always shows everything.
    NARROW_LABEL: ClassVar[str] = ""

    def __init__(
        self,
        *,
        show_all: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.table = VirtualTable(self.COLUMNS, timed=self._timed_cells_of)
        """The table (exposed for tests and for the App's focus handling)."""
        self._show_all = show_all or not self.NARROW_LABEL
        if self.NARROW_LABEL:
            self._apply_mode()

    @property
    def show_all(self) -> bool:
        """True when every row is shown, False for notable rows only."""
        return self._show_all

    def toggle_mode(self) -> None:
        """Switch between all rows and notable rows only (no store access needed: the table
        already holds every row and only re-filters)."""
        self._show_all = not self._show_all
        self._apply_mode()
        self._show_counts()

    def _apply_mode(self) -> None:
        views = self._views
        row_id = self.row_id

        def notable(table_key: str) -> bool:
            view = views.get(row_id(table_key))
            return view is not None and view.tone in (PROBLEM, WARNING)

        self.table.set_row_filter(None if self._show_all else notable)
        mode = "all" if self._show_all else self.NARROW_LABEL
        self.border_title = Content.assemble(self.TITLE, " ", (mode, "$text-accent"))

    def compose(self) -> ComposeResult:
        yield self.status_line
        yield self.table

    def focus(self, scroll_visible: bool = True) -> Self:
        """Focus goes to the table (the panel itself is not focusable)."""
        self.table.focus(scroll_visible)
        return self

    @property
    def filter_text(self) -> str:
        return self.table.filter_text

    def set_filter(self, text: str) -> None:
        self.table.set_filter(text)
        self._show_counts()

    @property
    def selected_row(self) -> RowId | None:
        key = self.table.cursor_key
        return None if key is None else self.row_id(key)

    def select_row(self, rid: RowId) -> bool:
        return self.table.select_key(self.table_key(rid))

    def rows_in_order(self) -> Iterator[RowId]:
        table = self.table
        for index in range(table.row_count):
            yield self.row_id(table.key_at(index))

    def visible_count(self) -> int:
        return self.table.row_count

    def visible_rows(self) -> list[RowId]:
        return [self.row_id(key) for key in self.table.keys()]

    def refresh_ages(self, now: float, *, budget: int = 2000) -> None:
        """Move the table's clock: the rows on screen are re-aged as they are drawn, so this
        costs O(rows on screen) and ``budget`` is not needed."""
        self.table.set_now(now)

    def _timed_cells_of(self, table_key: str, now: float) -> Mapping[int, Cell]:
        rid = self.row_id(table_key)
        row = self._rows.get(rid)
        return {} if row is None else self.timed_cells(rid[0], row, now)

    def cells_of(self, key: str, kind: str | None = None) -> list[str]:
        for row_kind in (kind,) if kind else (self.ROW_KINDS or self.KINDS):
            cells = self.table.get_cells(self.table_key((row_kind, key)))
            if cells is not None:
                return [plain(cell) for cell in cells]
        return []

    def apply_views(self, updates: dict[RowId, RowView | None], *, resort: bool = True) -> None:
        table = self.table
        views = self._views
        for rid, view in updates.items():
            table_key = self.table_key(rid)
            if view is None:
                views.pop(rid, None)
                table.remove_row(table_key)
            else:
                views[rid] = view
                table.upsert(table_key, view.cells, view.sort_key, tone=view.tone)
        table.commit()

    @on(VirtualTable.RowHighlighted)
    def _table_row_highlighted(self, event: VirtualTable.RowHighlighted) -> None:
        event.stop()
        self._post_highlighted(event.key)

    @on(VirtualTable.RowSelected)
    def _table_row_selected(self, event: VirtualTable.RowSelected) -> None:
        event.stop()
        self._post_activated(event.key)
