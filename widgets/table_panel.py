"""TablePanel: a panel on a ``DataTable``, for short lists (tens to a few hundred rows).

Updates follow STYLE.md "Tables updated by key": inside ``batch_update`` remove rows that
vanished, ``update_cell`` only the cells whose value changed (``update_width`` only when the new
value is wider than its column, the cheap case of that call), add new rows, and sort once, only
when a sort key changed or a row appeared. Views are kept in the panel, so a panel fed before it
is mounted fills its table on mount.

Columns are chosen by priority for the table's width (:mod:`widgets.column_fit`): on a
resize, or when a value needs a wider column, the table's columns are rebuilt with the
columns that fit, at their fitted widths, and the (few) rows added again; names in a
``cut="middle"`` column are cut where siblings differ.

Ages and "5m ago" cells are re-aged on a schedule: each row is due when its string next changes
(``42s`` every second, ``7m`` every minute, ``3d`` every day), so a call costs O(rows due).
Anything that can grow to thousands of rows belongs on a
:class:`~widgets.virtual_panel.VirtualPanel` instead, which ages only the rows on screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from heapq import heappop, heappush
from typing import ClassVar, Self

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from backends.model import Row
from widgets.column_fit import fit_columns, shown_labels
from widgets.formatting import middle_cut, plain
from widgets.panel import Panel, RowId, RowView
from widgets.rowmodel import Cell, Column
from widgets.rowtable import RowTable

__all__ = ["QuietDataTable", "TablePanel"]


class QuietDataTable(RowTable):
    """A DataTable whose new rows do not lay out the whole screen.

    ``DataTable`` sets its ``virtual_size`` after rows arrive, and that reactive asks for a
    layout of the screen, which repaints every panel: while a big cluster loads, the short
    panels (Argo CD, traffic, alerts, endpoints) filling up cost ten layouts (bench/
    bench_live.py). The table's own size is fixed by the panel, so only its scrollbars depend
    on the virtual size: as in :class:`~widgets.vtable.VirtualTable`, the size is taken
    quietly and the scrollbars are updated; a scrollbar that appears or vanishes still asks
    for the layout it needs.
    """

    _quiet_size = False
    cursor_chosen = False
    """The engineer moved the cursor (keys, a click, :meth:`TablePanel.select_row`): it then
    follows its row when the table is sorted; before, it rests on the top row."""

    def action_cursor_up(self) -> None:
        self.cursor_chosen = True
        super().action_cursor_up()

    def action_cursor_down(self) -> None:
        self.cursor_chosen = True
        super().action_cursor_down()

    def action_page_up(self) -> None:
        self.cursor_chosen = True
        super().action_page_up()

    def action_page_down(self) -> None:
        self.cursor_chosen = True
        super().action_page_down()

    def action_scroll_top(self) -> None:
        self.cursor_chosen = True
        super().action_scroll_top()

    def action_scroll_bottom(self) -> None:
        self.cursor_chosen = True
        super().action_scroll_bottom()

    async def _on_click(self, event: events.Click) -> None:
        self.cursor_chosen = True
        await super()._on_click(event)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        before = self.virtual_size
        self._quiet_size = True
        try:
            super()._update_dimensions(new_rows)
        finally:
            self._quiet_size = False
        if self.virtual_size != before and self.is_mounted:
            self._scroll_update(self.virtual_size)

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Self:
        if layout and self._quiet_size:
            layout = False  # the virtual size alone changed (see the class docstring)
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)


class TablePanel(Panel):
    """A panel on a ``DataTable`` (for short lists)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"panel--problem", "panel--warning", "panel--dim"}
    """
    | Class | Description |
    | :- | :- |
    | `panel--problem` | Cells of failing rows. |
    | `panel--warning` | Cells of rows that need a look. |
    | `panel--dim` | Cells of unimportant rows. |
    """

    DEFAULT_CSS = """
    TablePanel {
        & > DataTable { height: 1fr; }
        & > .panel--problem { color: $text-error; text-style: bold; }
        & > .panel--warning { color: $text-warning; }
        & > .panel--dim { color: $foreground-muted; }
    }
    """

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    """Columns (``width`` None = auto, grown only when a wider value arrives)."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.table = QuietDataTable(cursor_type="row", zebra_stripes=False)
        """The table (exposed for tests and for the App's focus handling)."""
        self._shown: dict[RowId, tuple[Text, ...]] = {}
        self._column_keys: list[ColumnKey | None] = []
        """The table's key of each of COLUMNS (None: dropped for want of room)."""
        self._natural: list[int] = []
        """Each column's width to show its values whole (fixed, or grown with them)."""
        self._fitted: tuple[int, ...] = ()
        """Each column's width as shown (0: dropped): :func:`fit_columns`."""
        self._refit_wanted = False
        self._filter = ""
        self._palette: dict[str, Style] = {}
        self._ready = False
        self._due: dict[RowId, float] = {}
        """When each row's time-dependent cells next change (see :meth:`timed_due`)."""
        self._due_heap: list[tuple[float, RowId]] = []

    def compose(self) -> ComposeResult:
        yield self.status_line
        yield self.table

    def on_mount(self) -> None:
        self._natural = [
            column.width if column.width is not None
            else min(cell_len(column.label), column.max_width)
            for column in self.COLUMNS
        ]
        self._fitted = tuple(self._natural)
        self._add_columns()
        self._palette = self._resolve_palette()
        self._ready = True
        with self._batch():
            self._sync_all()
        self._refit()
        self._show_counts()

    def on_resize(self) -> None:
        """A new width: the columns are chosen again once the table has its size."""
        self.call_after_refresh(self._refit)

    @property
    def shown_columns(self) -> tuple[str, ...]:
        """Labels of the columns shown at the table's width, left to right."""
        return shown_labels(self.COLUMNS, self._fitted)

    def _add_columns(self) -> None:
        self._column_keys = [
            self.table.add_column(Text(column.label, no_wrap=True, overflow="ellipsis"),
                                  width=width, key=str(index)) if width else None
            for index, (column, width) in enumerate(zip(self.COLUMNS, self._fitted,
                                                        strict=True))
        ]

    def _refit(self) -> None:
        """Choose the columns for the table's width; rebuild the table if they changed.

        Rebuilding (columns and rows) is O(rows), fine for the short lists a TablePanel is
        for, and happens on a resize or when a value first needs a wider column."""
        self._refit_wanted = False
        if not self._ready:
            return
        width = self.table.size.width
        available = width - self.table.styles.scrollbar_size_vertical if width else 0
        fitted = fit_columns(self.COLUMNS, self._natural, available)
        if fitted == self._fitted:
            return
        selected = self.selected_row
        self._fitted = fitted
        with self._batch():
            self.table.clear(columns=True)
            self._add_columns()
            self._shown.clear()
            for rid, view in self._views.items():
                self._push(rid, view, None)
            if self._shown:
                self._sort(selected)

    def focus(self, scroll_visible: bool = True) -> Self:
        """Focus goes to the table (the panel itself is not focusable)."""
        self.table.focus(scroll_visible)
        return self

    # ------------------------------------------------------------------ contract

    @property
    def filter_text(self) -> str:
        return self._filter

    def set_filter(self, text: str) -> None:
        text = text.strip().lower()
        if text == self._filter:
            return
        self._filter = text
        if self._ready:
            with self._batch():
                self._sync_all()
        self._show_counts()

    @property
    def selected_row(self) -> RowId | None:
        table = self.table
        if not self._ready or table.row_count == 0:
            return None
        row = min(table.cursor_row, table.row_count - 1)
        value = table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
        return None if value is None else self.row_id(value)

    def select_row(self, rid: RowId) -> bool:
        if not self._ready or rid not in self._shown:
            return False
        self.table.cursor_chosen = True
        self.table.move_cursor(row=self.table.get_row_index(self.table_key(rid)))
        return True

    def rows_in_order(self) -> Iterator[RowId]:
        if self._ready:
            for row in self.table.ordered_rows:
                yield self.row_id(str(row.key.value))

    def visible_count(self) -> int:
        return len(self._shown) if self._ready else 0

    def visible_rows(self) -> list[RowId]:
        if not self._ready:
            return []
        return [self.row_id(str(row.key.value)) for row in self.table.ordered_rows]

    def apply_views(self, updates: dict[RowId, RowView | None], *, resort: bool = True) -> None:
        if not self._ready:
            for rid, view in updates.items():
                if view is None:
                    self._views.pop(rid, None)
                else:
                    self._views[rid] = view
            return
        selected = self.selected_row
        need_sort = False
        for rid, view in updates.items():
            old = self._views.get(rid)
            if view is None:
                self._views.pop(rid, None)
            else:
                self._views[rid] = view
            if view is not None and old == view and (rid in self._shown) == self._matches(view):
                continue
            need_sort |= self._push(rid, view, old)
        if need_sort and resort:
            self._sort(selected)
        if self._refit_wanted:
            self._refit()

    def rows_updated(self, updates: dict[RowId, RowView | None], now: float) -> None:
        for rid, view in updates.items():
            if view is None:
                self._due.pop(rid, None)
            else:
                self._schedule(rid, self._rows[rid], now)

    def refresh_ages(self, now: float, *, budget: int = 2000) -> None:
        """Re-age the rows that are due (see the module docstring), at most ``budget``; the
        rest follow on the next calls."""
        heap, due = self._due_heap, self._due
        changed: dict[RowId, RowView | None] = {}
        while heap and heap[0][0] <= now and budget > 0:
            when, rid = heappop(heap)
            if due.get(rid) != when:
                continue  # rescheduled or gone since
            row = self._rows[rid]
            view = self._views.get(rid)
            if view is not None:
                timed = self.timed_cells(rid[0], row, now)
                cells = view.cells
                if any(cells[column] != value for column, value in timed.items()):
                    new = list(cells)
                    for column, value in timed.items():
                        new[column] = value
                    changed[rid] = RowView(tuple(new), view.sort_key, view.tone)
            self._schedule(rid, row, now)
            budget -= 1
        if changed:
            with self._batch():
                self.apply_views(changed, resort=False)

    def _schedule(self, rid: RowId, row: Row, now: float) -> None:
        when = self.timed_due(rid[0], row, now)
        if when is None:
            self._due.pop(rid, None)
        elif self._due.get(rid) != when:
            self._due[rid] = when
            heappush(self._due_heap, (when, rid))

    # ------------------------------------------------------------------ internals

    def _matches(self, view: RowView) -> bool:
        if not self._filter:
            return True
        return any(self._filter in plain(cell).lower() for cell in view.cells)

    def _push(self, rid: RowId, view: RowView | None, old: RowView | None) -> bool:
        """Make the table agree with one view; True if the order may have changed."""
        table = self.table
        table_key = self.table_key(rid)
        shown = self._shown.get(rid)
        if view is None or not self._matches(view):
            if shown is not None:
                table.remove_row(table_key)
                del self._shown[rid]
            return False
        if shown is None:
            texts = self._texts(view)
            keys = self._column_keys
            table.add_row(*(t for t, k in zip(texts, keys, strict=False) if k is not None),
                          key=table_key)
            self._shown[rid] = texts
            self._grow(view.cells)
            return True
        if old is not None and old is not view and old.tone == view.tone:
            # Same tone and palette: only the cells whose value changed need a new Text
            # (an age tick changes one cell of thousands of rows every second).
            columns = [
                index for index, (was, new) in enumerate(zip(old.cells, view.cells, strict=False))
                if was != new
            ]
        else:
            columns = list(range(min(len(shown), len(view.cells))))
        merged = list(shown)
        style = self._palette.get(view.tone) if view.tone else None
        for index in columns:
            was, new = shown[index], self._text(view.cells[index], self.COLUMNS[index], style,
                                                self._fitted[index])
            if was == new:
                continue
            key = self._column_keys[index]
            if key is not None:
                table.update_cell(table_key, key, new)
            merged[index] = new
        self._shown[rid] = tuple(merged)
        self._grow(view.cells)
        return old is None or old.sort_key != view.sort_key

    def _grow(self, cells: tuple[Cell, ...]) -> None:
        """Note the columns a row's values need wider (re-fitted after the batch)."""
        natural = self._natural
        for index, (cell, column) in enumerate(zip(cells, self.COLUMNS, strict=False)):
            if column.width is None and natural[index] < column.max_width:
                wanted = min(cell_len(plain(cell)), column.max_width)
                if wanted > natural[index]:
                    natural[index] = wanted
                    self._refit_wanted = True

    def _texts(self, view: RowView) -> tuple[Text, ...]:
        style = self._palette.get(view.tone) if view.tone else None
        return tuple(
            self._text(cell, column, style, width)
            for cell, column, width in zip(view.cells, self.COLUMNS, self._fitted, strict=False)
        )

    @staticmethod
    def _text(cell: Cell, column: Column, style: Style | None, width: int = 0) -> Text:
        if column.cut == "middle" and isinstance(cell, str) and 0 < width < cell_len(cell):
            text = Text(middle_cut(cell, width), end="")
        else:
            text = cell.copy() if isinstance(cell, Text) else Text(cell, end="")
        text.no_wrap = True
        text.overflow = "ellipsis"
        text.justify = column.align
        if style is not None:
            text.stylize_before(style)
        return text

    def _sort(self, selected: RowId | None) -> None:
        """Order the table by the views' sort keys, keeping the cursor on its row (on the
        top row while the engineer has not moved it: ``QuietDataTable.cursor_chosen``).

        ``DataTable.sort`` hands the key function a row's cells only; the first cell objects
        are ours (we keep them in ``_shown``), so their identity leads back to the row.
        """
        first = next((i for i, key in enumerate(self._column_keys) if key is not None), None)
        if first is None:
            return
        ranks = {
            id(texts[first]): (self._views[rid].sort_key, rid)
            for rid, texts in self._shown.items()
        }
        self.table.sort(key=lambda cells: ranks[id(cells[0])])
        if not self.table.cursor_chosen:
            if self.table.cursor_row != 0:
                self.table.move_cursor(row=0)
        elif selected is not None and selected in self._shown:
            index = self.table.get_row_index(self.table_key(selected))
            if index != self.table.cursor_row:
                self.table.move_cursor(row=index)

    def _sync_all(self) -> None:
        """Re-push every view (after mount or a filter change); one sort at the end."""
        selected = self.selected_row
        for rid in [rid for rid in self._shown if rid not in self._views]:
            self.table.remove_row(self.table_key(rid))
            del self._shown[rid]
        for rid, view in self._views.items():
            self._push(rid, view, view)
        if self._shown:
            self._sort(selected)
        if self._refit_wanted:
            self._refit()

    def _resolve_palette(self) -> dict[str, Style]:
        return {
            tone: self.get_component_rich_style(f"panel--{tone}", partial=True)
            for tone in ("problem", "warning", "dim")
        }

    def notify_style_update(self) -> None:
        """A theme switch changes the tone colours: restyle the cells (once, after it)."""
        super().notify_style_update()
        if self._ready:
            self.call_later(self._restyle)

    def _restyle(self) -> None:
        palette = self._resolve_palette()
        if palette == self._palette:
            return
        self._palette = palette
        with self._batch():
            for rid in list(self._shown):
                view = self._views[rid]
                self._push(rid, view, view)

    @on(DataTable.RowHighlighted)
    def _table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self._post_highlighted(event.row_key.value)

    @on(DataTable.RowSelected)
    def _table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self._post_activated(event.row_key.value)
