"""VirtualTable: a keyed, sorted, filtered table on Textual's line API for huge lists.

Over 500 lines because the widget's own job (keys, cursor, scrolling, messages, which lines
are on screen) is one; rows, strips and the choice of columns are split out already
(:mod:`widgets.rowmodel`, :mod:`widgets.rowstrips`, :mod:`widgets.column_fit`).

DataTable keeps a renderable per cell and re-walks its rows on many operations; at 30,000 pods
clearing and re-adding costs seconds and a width update hundreds of milliseconds (STYLE.md).
This table is built for the big panels (nodes, workloads, pods, events) instead:

- Rows are keyed. ``upsert`` and ``remove_row`` only record the change; ``commit`` (once per
  refresh tick) applies them through :class:`~widgets.rowmodel.RowModel`, which re-places only
  rows that moved and lets column widths grow lazily (see there).
- Only visible lines are drawn (``render_line``); :mod:`widgets.rowstrips` builds each row's
  strip and caches it by (key, row version, layout, cursor), so repaints reuse work.
- The cursor belongs to a key, not an index: when rows move, the same object stays selected;
  until first moved it rests on the top row (the worst), not on whichever row came first.
- Cells are ``Text`` or ``str``; a ``str`` is shown as is, never parsed as markup.
- Row tones (``problem``, ``warning``, ``dim``) map to component classes, so themes decide the
  colours.
- Time-dependent cells (ages) are not stored per row but computed at draw time for the rows on
  screen, through the ``timed`` callback and the clock :meth:`VirtualTable.set_now` moves: a
  cluster created in one go has every age string change every second, and re-aging 30,000
  stored rows a second cost more than the 1,000 events a second of a rollout
  (bench/bench_live.py), while the screen shows about fifty of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import rich.repr
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from widgets.rowmodel import Cell, Column, RowModel
from widgets.rowstrips import COMPONENT_CLASSES, TABLE_CSS, RowStrips, overlay

__all__ = ["Cell", "Column", "TimedCells", "VirtualTable"]

TimedCells = Callable[[str, float], Mapping[int, Cell]]
"""``timed(key, now)``: the time-dependent cells of a row at ``now``, by column index."""

_NO_CELLS: Mapping[int, Cell] = {}


class VirtualTable(ScrollView, can_focus=True):
    """A virtualised, keyed table for tens of thousands of rows (see the module docstring).

    Feed it with :meth:`upsert` / :meth:`remove_row` and call :meth:`commit` once per batch.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False, id="vtable.cursor-up",
                tooltip="Select the row above"),
        Binding("down", "cursor_down", "Down", show=False, id="vtable.cursor-down",
                tooltip="Select the row below"),
        Binding("pageup", "page_up", "Page up", show=False, id="vtable.page-up",
                tooltip="Select one screen up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="vtable.page-down",
                tooltip="Select one screen down"),
        Binding("home", "first_row", "First", show=False, id="vtable.first-row",
                tooltip="Select the first row"),
        Binding("end", "last_row", "Last", show=False, id="vtable.last-row",
                tooltip="Select the last row"),
        Binding("enter", "select_row", "Open", show=False, id="vtable.select-row",
                tooltip="Open the selected row"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | up / down | Move the cursor one row. |
    | pageup / pagedown | Move the cursor one screen. |
    | home / end | Move the cursor to the first / last row. |
    | enter | Post `RowSelected` for the row under the cursor. |
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = set(COMPONENT_CLASSES)
    """Header, cursor and row tones (listed, styled and drawn in :mod:`widgets.rowstrips`)."""

    DEFAULT_CSS = TABLE_CSS

    show_header: reactive[bool] = reactive(True)
    """Whether the header line is drawn (it stays put while the rows scroll)."""

    @rich.repr.auto
    class RowHighlighted(Message):
        """The cursor moved to another key (by keys, a click, or because rows moved)."""

        def __init__(self, table: VirtualTable, key: str) -> None:
            super().__init__()
            self.table = table
            """The table whose cursor moved."""
            self.key = key
            """Key of the row now under the cursor."""

        def __rich_repr__(self) -> rich.repr.Result:
            yield "key", self.key

        @property
        def control(self) -> VirtualTable:
            """Alias for :attr:`table`."""
            return self.table

    @rich.repr.auto
    class RowSelected(Message):
        """Enter was pressed on a row (or the selected row was clicked)."""

        def __init__(self, table: VirtualTable, key: str) -> None:
            super().__init__()
            self.table = table
            """The table the row belongs to."""
            self.key = key
            """Key of the selected row."""

        def __rich_repr__(self) -> rich.repr.Result:
            yield "key", self.key

        @property
        def control(self) -> VirtualTable:
            """Alias for :attr:`table`."""
            return self.table

    def __init__(self, columns: Sequence[Column | str] = (), *, timed: TimedCells | None = None,
                 name: str | None = None, id: str | None = None, classes: str | None = None,
                 disabled: bool = False) -> None:
        """``timed(key, now)`` gives the time-dependent cells of a row by column index; they
        replace the stored ones when drawn and in :meth:`get_cells` (see :meth:`set_now`,
        which also widens a column for them)."""
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.model = RowModel(columns)
        """The rows, their order and the column widths (no Textual in there)."""
        self._timed = timed
        self._now: float | None = None
        self._shown: tuple[Any, ...] | None = None
        """:meth:`_on_screen` as of the last commit."""
        self._cursor_key: str | None = None
        self._cursor_index = 0
        self._chosen = False  # moved by the engineer: it follows its row, else rests on top
        self._strips = RowStrips(self, self.model)
        """The header and row strips, and the cache of recent ones."""
        self.lines_rendered = 0
        """How many lines ``render_line`` produced (tests and benchmarks read it)."""
        self._update_virtual_size()

    # ------------------------------------------------------------------ rows

    def set_columns(self, columns: Sequence[Column | str]) -> None:
        """Replace the columns (widths start from the labels and grow from there)."""
        self.model.set_columns(columns)
        self._layout_changed()
        self.refresh()

    @property
    def columns(self) -> tuple[Column, ...]:
        """The columns, left to right."""
        return tuple(self.model.columns)

    @property
    def column_widths(self) -> tuple[int, ...]:
        """Current content width of each column (without padding), as if all were shown."""
        return tuple(self.model.widths)

    @property
    def shown_columns(self) -> tuple[str, ...]:
        """Labels of the columns drawn at the table's width (by priority), left to right."""
        return self._strips.shown_columns

    def on_resize(self) -> None:
        """A new width: the columns are chosen again (:meth:`RowStrips.invalidate`)."""
        self._layout_changed()

    def upsert(
        self, key: str, cells: tuple[Cell, ...], sort_key: Any = (), *, tone: str | None = None
    ) -> bool:
        """Add or replace a row; shown after the next :meth:`commit`.

        ``sort_key`` orders the rows (ascending; ties broken by key) and must be comparable
        with every other row's. ``tone`` is ``"problem"``, ``"warning"``, ``"dim"`` or None.
        Returns False when the row is identical to what is held (nothing to do).
        """
        return self.model.upsert(key, cells, sort_key, tone=tone)

    def update_cell(self, key: str, column: int, value: Cell) -> bool:
        """Replace one cell of a row, keeping its sort key and tone (e.g. an age tick)."""
        return self.model.update_cell(key, column, value)

    def remove_row(self, key: str) -> bool:
        """Remove a row (gone after the next :meth:`commit`); False if it was not held.

        Named like ``DataTable.remove_row``: ``remove()`` is Widget's, and removes the widget.
        """
        return self.model.remove(key)

    def clear(self) -> None:
        """Drop every row at once (widths shrink back to the labels)."""
        self.model.clear()
        self._cursor_key = None
        self._cursor_index = 0
        self._layout_changed()
        self._after_commit(moved=True, repaint=True)

    def has_row(self, key: str) -> bool:
        """Whether a row with this key is held (shown or filtered out)."""
        return self.model.has(key)

    def get_cells(self, key: str) -> tuple[Cell, ...] | None:
        """The cells of a held row (shown or filtered out) as drawn now, or None."""
        cells = self.model.cells(key)
        if cells is None:
            return None
        return overlay(cells, self._timed_cells(key))

    # ------------------------------------------------------------------ time

    @property
    def now(self) -> float | None:
        """The clock of the time-dependent cells (None until :meth:`set_now`)."""
        return self._now

    def set_now(self, now: float) -> None:
        """Move the clock of the time-dependent cells; repaint the rows on screen whose
        text changed, and widen a column a new value does not fit (``119s`` after ``9s``).
        O(rows on screen), however many rows are held."""
        old, self._now = self._now, now
        timed = self._timed
        model = self.model
        if timed is None or old == now or not self.size.height or not model.row_count:
            return
        header = self._header_height
        top = round(self.scroll_y)
        grew = False
        changed: list[int] = []
        for index in range(top, min(top + self._page_rows, model.row_count)):
            key = model.key_at(index)
            cells = timed(key, now)
            if old is None or cells != timed(key, old):
                changed.append(index)
                grew |= model.fit(cells)
        if grew:
            self._layout_changed()
            self.refresh()
            return
        for index in changed:
            self.refresh_line(index + header)

    def _timed_cells(self, key: str) -> Mapping[int, Cell]:
        if self._timed is None or self._now is None:
            return _NO_CELLS
        return self._timed(key, self._now)

    def get_tone(self, key: str) -> str | None:
        """The tone of a held row."""
        return self.model.tone(key)

    @property
    def total_count(self) -> int:
        """How many rows are held, including those the filters hide."""
        return self.model.total_count

    @property
    def row_count(self) -> int:
        """How many rows are shown (after filters), as of the last commit."""
        return self.model.row_count

    def key_at(self, index: int) -> str:
        """The key of the shown row at ``index``."""
        return self.model.key_at(index)

    def keys(self) -> list[str]:
        """Keys of the shown rows in display order (O(rows): for tests and tools)."""
        return self.model.keys()

    @property
    def filter_text(self) -> str:
        """The current text filter ("" when none)."""
        return self.model.filter_text

    def set_filter(self, text: str) -> None:
        """Show only rows whose cells contain ``text`` (case-insensitive); applied now."""
        if self.model.set_filter(text):
            self.commit()

    def set_row_filter(self, predicate: Callable[[str], bool] | None) -> None:
        """Show only rows whose key passes ``predicate`` (None shows all); applied now.

        The predicate is re-evaluated for a row whenever the row is upserted, so it may
        depend on state the caller updates together with the row.
        """
        self.model.set_row_filter(predicate)
        self.commit()

    def commit(self) -> None:
        """Apply the upserts and removals since the last commit: re-place moved rows,
        grow column widths, keep the cursor on its key and repaint. Call once per batch."""
        result = self.model.commit()
        if not result.changed:
            return
        if result.widened:
            self._layout_changed()
        self._after_commit(moved=result.moved, repaint=result.widened)

    def _on_screen(self) -> tuple[Any, ...] | None:
        """What the rows on screen are: first index, then each row's key and version."""
        if not self.size.height:
            return None
        model = self.model
        top = round(self.scroll_y)
        end = min(top + self._page_rows, model.row_count)
        return (top, *((key, model.version(key)) for key in map(model.key_at, range(top, end))))

    def _layout_changed(self) -> None:
        self._strips.invalidate()
        self._update_virtual_size()

    def _update_virtual_size(self) -> None:
        """Tell the scroll machinery how big the rows are, without a screen layout.

        ``Widget.virtual_size`` is a reactive with ``layout=True``: assigning it lays out the
        whole screen, and a loading table changes it on every commit (40 layouts while 30,000
        pods arrive, a third of the frame time; bench/bench_live.py). Only the scrollbars
        depend on it, so it is set quietly and the scrollbars are updated; when one must
        appear or disappear, their own reactives still ask for the layout that needs.
        ``_scroll_update`` is Textual's (8.x) own step for that; without it, the plain
        assignment.
        """
        width = self._strips.width
        height = self.model.row_count + self._header_height
        if self.virtual_size == (width, height):
            return
        size = Size(width, height)
        scroll_update = getattr(self, "_scroll_update", None)
        if not self.is_mounted or scroll_update is None:
            self.virtual_size = size
            return
        self.set_reactive(VirtualTable.virtual_size, size)
        scroll_update(size)

    @property
    def _header_height(self) -> int:
        return 1 if self.show_header else 0

    def _after_commit(self, *, moved: bool, repaint: bool = True) -> None:
        """Keep the cursor on its key, resize the scroll area and repaint what changed on
        screen (``repaint``: all of it).

        Rows that arrive or change off screen (a list arriving in key order, a flood of
        pod events among 30,000 rows) need no repaint of the rows shown: the scrollbar
        alone follows. Versions only grow, so the same keys and versions at the same place
        mean the same drawing.
        """
        was_visible = self._index_visible(self._cursor_index)
        old_key = self._cursor_key
        self._update_virtual_size()
        model = self.model
        if moved:
            index = model.index_of(self._cursor_key) if self._chosen else 0
            if index is None:  # gone or filtered out: stay at the same height
                index = min(self._cursor_index, max(model.row_count - 1, 0))
            self._cursor_index = index
        self._cursor_key = model.key_at(self._cursor_index) if model.row_count else None
        if self._cursor_key is not None and self._cursor_key != old_key:
            self.post_message(self.RowHighlighted(self, self._cursor_key))
        if was_visible:
            self._scroll_to_index(self._cursor_index)
        shown = self._on_screen()
        if repaint or shown is None or shown != self._shown:
            self.refresh()
        self._shown = shown

    # ------------------------------------------------------------------ cursor

    @property
    def cursor_key(self) -> str | None:
        """Key of the row under the cursor, or None when no row is shown."""
        return self._cursor_key

    @property
    def cursor_index(self) -> int:
        """Display index of the cursor row."""
        return self._cursor_index

    def move_cursor(self, index: int, *, scroll: bool = True) -> None:
        """Put the cursor on the shown row at ``index`` (clamped); it then follows it."""
        count = self.model.row_count
        if not count:
            return
        self._chosen = True
        index = max(0, min(index, count - 1))
        old = self._cursor_index
        self._cursor_index = index
        key = self.model.key_at(index)
        if key != self._cursor_key:
            self._cursor_key = key
            self.post_message(self.RowHighlighted(self, key))
        self.refresh_line(old + self._header_height)
        self.refresh_line(index + self._header_height)
        if scroll:
            self._scroll_to_index(index)

    def select_key(self, key: str) -> bool:
        """Put the cursor on ``key`` if it is shown (as of the last commit); False otherwise."""
        index = self.model.index_of(key)
        if index is None:
            return False
        self.move_cursor(index)
        return True

    @property
    def _page_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - self._header_height)

    def _index_visible(self, index: int) -> bool:
        top = round(self.scroll_y)
        return top <= index < top + self._page_rows

    def _scroll_to_index(self, index: int) -> None:
        if not self.size.height:
            return
        top = round(self.scroll_y)
        page = self._page_rows
        if index < top:
            self.scroll_to(y=index, animate=False, force=True)
        elif index >= top + page:
            self.scroll_to(y=index - page + 1, animate=False, force=True)

    def action_cursor_up(self) -> None:
        """Move the cursor one row up."""
        self.move_cursor(self._cursor_index - 1)

    def action_cursor_down(self) -> None:
        """Move the cursor one row down."""
        self.move_cursor(self._cursor_index + 1)

    def action_page_up(self) -> None:
        """Move the cursor one screen up."""
        self.move_cursor(self._cursor_index - self._page_rows)

    def action_page_down(self) -> None:
        """Move the cursor one screen down."""
        self.move_cursor(self._cursor_index + self._page_rows)

    def action_first_row(self) -> None:
        """Move the cursor to the first row."""
        self.move_cursor(0)

    def action_last_row(self) -> None:
        """Move the cursor to the last row."""
        self.move_cursor(self.model.row_count - 1)

    def action_select_row(self) -> None:
        """Tell the parent that the row under the cursor was chosen."""
        if self._cursor_key is not None:
            self.post_message(self.RowSelected(self, self._cursor_key))

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < self._header_height:
            return
        index = round(self.scroll_y) + offset.y - self._header_height
        if 0 <= index < self.model.row_count:
            event.stop()
            if index == self._cursor_index:
                self.action_select_row()
            else:
                self.move_cursor(index, scroll=False)

    # ------------------------------------------------------------------ rendering

    def watch_show_header(self) -> None:
        self._layout_changed()
        self.refresh()

    def notify_style_update(self) -> None:
        """Theme or focus changed: cached strips hold the old colours."""
        super().notify_style_update()
        self._strips.invalidate()

    @property
    def strips_built(self) -> int:
        """How many row strips were built rather than taken from the cache."""
        return self._strips.built

    @strips_built.setter
    def strips_built(self, value: int) -> None:
        self._strips.built = value

    def render_line(self, y: int) -> Strip:
        """Draw one screen line: the header, a row (from the strip cache) or blank."""
        self.lines_rendered += 1
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        header = self._header_height
        if y < header:
            strip = self._strips.header()
        else:
            index = scroll_y + y - header
            if not 0 <= index < self.model.row_count:
                return Strip.blank(width, base)
            key = self.model.key_at(index)
            strip = self._strips.row(key, index == self._cursor_index, self._timed_cells(key))
        return strip.crop_extend(scroll_x, scroll_x + width, base)
