"""The data side of :class:`~widgets.vtable.VirtualTable`: keyed rows, order, filters, widths.

No Textual here, so the expensive part (keeping 30,000 rows sorted under 1,000 changes a
second) is tested and benchmarked on its own.

How the order stays cheap:

- ``upsert`` / ``remove`` only record the change (O(1)); :meth:`RowModel.commit` applies them
  once per batch.
- The order is a sorted list of ``(sort_key, key)`` tuples. Each row remembers the tuple it was
  placed under, so a row whose sort key and filter verdict did not change is not touched at all
  (the common case: a pod's restarts or readiness changed, not its rank).
- Rows that did move are found and placed by binary search (O(m log n) comparisons for m
  moves); with more than a handful the new order is assembled from slices of the old one, one
  C-level copy of n pointers. Never a full sort per change, and never per upsert.
- Widths grow lazily: only committed rows are measured, a width never shrinks (until
  :meth:`RowModel.clear`), and a cell is measured only when it could be wider than its column.
"""

from __future__ import annotations

import sys
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import le
from typing import Any, Literal, NamedTuple

import msgspec
from rich.cells import cell_len
from rich.text import Text

__all__ = ["Cell", "Column", "CommitResult", "RowModel"]

Cell = Text | str
"""A cell value: plain text (never markup) or a ``Text`` carrying its own spans."""

Placed = tuple[Any, str]

_INSORT_LIMIT = 16
"""Up to this many moves, delete/insert in place (each a memmove); above, rebuild by slices."""
_UNMEASURED = sys.maxsize
"""Width limit of a column that is not measured (fixed width, or grown to its cap)."""


@dataclass(frozen=True)
class Column:
    """A column: its header label and how wide it may be."""

    label: str
    width: int | None = None
    """Fixed width in cells; ``None`` grows with the widest committed value."""
    max_width: int = 48
    """Cap for auto widths; longer values are cut with an ellipsis."""
    align: Literal["left", "right"] = "left"
    priority: int = 5
    """How much the column matters when the table is too narrow for all of them (1 most):
    the least important are narrowed to ``min_width`` first, then dropped
    (:func:`widgets.column_fit.fit_columns`)."""
    min_width: int | None = None
    """Narrowest the column may be shown; None: its label's width."""
    ideal: int | None = None
    """Width the column grows to before less important columns grow past their minimum
    (a message: enough to read); beyond it, it grows last. None: its full width."""
    cut: Literal["end", "middle"] = "end"
    """Where a value too long for the column is cut: names are cut in the middle, where
    siblings differ (:func:`widgets.formatting.middle_cut`)."""


class CommitResult(NamedTuple):
    """What a commit changed, so the widget repaints only as much as needed."""

    changed: bool
    """Any row was added, changed or removed."""
    moved: bool
    """The order changed (rows appeared, vanished or moved)."""
    widened: bool
    """A column grew."""


class _Entry(msgspec.Struct, gc=False):
    """One row as the model holds it (mutable, private).

    ``gc=False``: 30,000 of them are not walked by every full collection. An entry refers
    only to cells, keys and tuples, never back to itself, so it cannot be in a cycle.
    """

    cells: tuple[Cell, ...]
    sort_key: Any
    tone: str | None
    version: int = 0
    placed: Placed | None = None
    """The tuple under which the row sits in the order (as of the last commit)."""
    search: str | None = None
    """Lower-cased text of all cells, built on first filter use."""


class RowModel:
    """Keyed rows in a sorted, filtered order, with lazily growing column widths."""

    def __init__(self, columns: Sequence[Column | str] = ()) -> None:
        self.columns: list[Column] = []
        self.widths: list[int] = []
        self._entries: dict[str, _Entry] = {}
        self._order: list[Placed] = []
        self._dirty: set[str] = set()
        self._unplace: list[Placed] = []
        self._rebuild = False
        self._filter = ""
        self._row_filter: Callable[[str], bool] | None = None
        self.set_columns(columns)

    # ------------------------------------------------------------------ columns

    def set_columns(self, columns: Sequence[Column | str]) -> None:
        """Replace the columns; widths start from the labels (or the fixed widths)."""
        self.columns = [c if isinstance(c, Column) else Column(c) for c in columns]
        self.widths = [
            c.width if c.width is not None else min(cell_len(c.label), c.max_width)
            for c in self.columns
        ]
        self._measure(self._entries)

    @property
    def total_width(self) -> int:
        """Sum of the column widths (without padding)."""
        return sum(self.widths)

    # ------------------------------------------------------------------ rows

    def upsert(
        self, key: str, cells: tuple[Cell, ...], sort_key: Any = (), *, tone: str | None = None
    ) -> bool:
        """Add or replace a row (applied at :meth:`commit`); False if nothing changed."""
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = _Entry(cells, sort_key, tone)
        elif entry.cells == cells and entry.sort_key == sort_key and entry.tone == tone:
            return False
        else:
            entry.cells = cells
            entry.sort_key = sort_key
            entry.tone = tone
            entry.version += 1
            entry.search = None
        self._dirty.add(key)
        return True

    def update_cell(self, key: str, column: int, value: Cell) -> bool:
        """Replace one cell, keeping sort key and tone; False if unknown or unchanged."""
        entry = self._entries.get(key)
        if entry is None or entry.cells[column] == value:
            return False
        cells = list(entry.cells)
        cells[column] = value
        return self.upsert(key, tuple(cells), entry.sort_key, tone=entry.tone)

    def remove(self, key: str) -> bool:
        """Remove a row (applied at :meth:`commit`); False if it was not held."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        if entry.placed is not None:
            self._unplace.append(entry.placed)
        self._dirty.discard(key)
        return True

    def clear(self) -> None:
        """Drop every row now; widths shrink back to the labels."""
        self._entries.clear()
        self._order.clear()
        self._dirty.clear()
        self._unplace.clear()
        self._rebuild = False
        self.set_columns(self.columns)

    def has(self, key: str) -> bool:
        """Whether the row is held (shown or filtered out)."""
        return key in self._entries

    def cells(self, key: str) -> tuple[Cell, ...] | None:
        """The row's cells, or None."""
        entry = self._entries.get(key)
        return None if entry is None else entry.cells

    def tone(self, key: str) -> str | None:
        """The row's tone, or None."""
        entry = self._entries.get(key)
        return None if entry is None else entry.tone

    def version(self, key: str) -> int:
        """Bumped on every change of the row (the strip cache's key)."""
        return self._entries[key].version

    @property
    def total_count(self) -> int:
        """Rows held, shown or not."""
        return len(self._entries)

    @property
    def row_count(self) -> int:
        """Rows shown, as of the last commit."""
        return len(self._order)

    def key_at(self, index: int) -> str:
        """The key shown at ``index``."""
        return self._order[index][1]

    def keys(self) -> list[str]:
        """Shown keys in order (O(rows))."""
        return [key for _, key in self._order]

    def index_of(self, key: str | None) -> int | None:
        """Display index of a shown key (O(log rows)), or None."""
        entry = self._entries.get(key) if key is not None else None
        if entry is None or entry.placed is None:
            return None
        return bisect_left(self._order, entry.placed)

    # ------------------------------------------------------------------ filters

    @property
    def filter_text(self) -> str:
        """The text filter ("" when none)."""
        return self._filter

    def set_filter(self, text: str) -> bool:
        """Keep rows whose cells contain ``text`` (case-insensitive); True if it changed."""
        text = text.strip().lower()
        if text == self._filter:
            return False
        self._filter = text
        self._rebuild = True
        return True

    def set_row_filter(self, predicate: Callable[[str], bool] | None) -> None:
        """Keep rows whose key passes ``predicate`` (re-evaluated when a row changes)."""
        self._row_filter = predicate
        self._rebuild = True

    def _passes(self, key: str, entry: _Entry) -> bool:
        if self._row_filter is not None and not self._row_filter(key):
            return False
        if self._filter:
            search = entry.search
            if search is None:
                search = entry.search = "\t".join(
                    cell.plain if isinstance(cell, Text) else cell for cell in entry.cells
                ).lower()
            return self._filter in search
        return True

    # ------------------------------------------------------------------ commit

    @property
    def pending(self) -> bool:
        """Whether there are changes waiting for :meth:`commit`."""
        return bool(self._dirty or self._unplace or self._rebuild)

    def commit(self) -> CommitResult:
        """Apply the recorded changes: re-place moved rows, grow widths."""
        if not self.pending:
            return CommitResult(False, False, False)
        widened = self._measure(self._dirty) if self._dirty else False
        if self._rebuild:
            self._reorder_all()
            moved = True
        else:
            moved = self._reorder_changed()
        self._dirty.clear()
        self._unplace.clear()
        self._rebuild = False
        return CommitResult(True, moved, widened)

    def _reorder_all(self) -> None:
        order = []
        passes = self._passes
        for key, entry in self._entries.items():
            if passes(key, entry):
                entry.placed = (entry.sort_key, key)
                order.append(entry.placed)
            else:
                entry.placed = None
        order.sort()
        self._order = order

    def _reorder_changed(self) -> bool:
        """Re-place only the rows that appeared, vanished or changed place."""
        entries = self._entries
        drop = self._unplace
        add: list[Placed] = []
        for key in self._dirty:
            entry = entries.get(key)
            if entry is None:
                continue
            wanted = (entry.sort_key, key) if self._passes(key, entry) else None
            if wanted == entry.placed:
                continue
            if entry.placed is not None:
                drop.append(entry.placed)
            if wanted is not None:
                add.append(wanted)
            entry.placed = wanted
        if not drop and not add:
            return False
        if len(drop) + len(add) <= _INSORT_LIMIT:
            order = self._order
            for placed in drop:
                index = bisect_left(order, placed)
                if index < len(order) and order[index] == placed:
                    del order[index]
            for placed in add:
                insort(order, placed)
        else:
            self._order = _splice(self._order, drop, add)
        return True

    def fit(self, cells: Mapping[int, Cell]) -> bool:
        """Grow auto-width columns to fit cells that are not stored (drawn ones, such as
        ages computed at draw time), by column index; True if any grew."""
        grew = False
        widths = self.widths
        for index, cell in cells.items():
            if not 0 <= index < len(widths):
                continue
            column = self.columns[index]
            if column.width is not None or widths[index] >= column.max_width:
                continue
            width = cell_len(cell.plain if isinstance(cell, Text) else cell)
            if width > widths[index]:
                widths[index] = min(width, column.max_width)
                grew = True
        return grew

    def _measure(self, keys: Iterable[str]) -> bool:
        """Grow auto-width columns to fit the given rows; True if any grew."""
        widths = self.widths
        auto = [
            (index, column.max_width)
            for index, column in enumerate(self.columns)
            if column.width is None and widths[index] < column.max_width
        ]
        if not auto:
            return False
        grew = False
        entries = self._entries
        # A cell can only widen its column if it is longer than the column is wide; columns
        # not measured (fixed, or at their cap) never trigger. Checked with C-level loops,
        # since nearly every row fits once the widths have settled (an age tick re-measures
        # thousands of rows a second).
        limits = [_UNMEASURED] * len(widths)
        for index, _ in auto:
            limits[index] = widths[index]
        for key in keys:
            entry = entries.get(key)
            if entry is None:
                continue
            cells = entry.cells
            try:
                joined = "".join(cells)  # type: ignore[arg-type]  # TypeError on a Text
                if joined.isascii() and all(map(le, map(len, cells), limits)):
                    continue  # ASCII: one cell per character, and every cell fits
            except TypeError:
                pass  # a Text cell: measured one by one below
            for index, cap in auto:
                if index >= len(cells):
                    continue
                cell = cells[index]
                text = cell.plain if isinstance(cell, Text) else cell
                current = widths[index]
                if text.isascii():  # O(1) in CPython: one cell per character
                    width = len(text)
                elif len(text) * 2 <= current:  # even all-wide characters would fit
                    continue
                else:
                    width = cell_len(text)
                if width > current:
                    widths[index] = min(width, cap)
                    limits[index] = widths[index] if widths[index] < cap else _UNMEASURED
                    grew = True
        return grew


def _splice(order: list[Placed], drop: list[Placed], add: list[Placed]) -> list[Placed]:
    """``order`` without ``drop`` and with ``add``, still sorted.

    Positions come from searching the old order, each from where the previous (sorted)
    addition went; the result is put together from slices of it, so the work is at most
    O(m log n) comparisons plus one copy of the list, and close to O(m) when the additions
    cluster (a list arriving page by page in key order lands at the end).
    """
    cuts = []
    for placed in drop:
        index = bisect_left(order, placed)
        if index < len(order) and order[index] == placed:
            cuts.append(index)
    cuts.sort()
    add.sort()
    result: list[Placed] = []
    start = 0
    next_cut = 0
    position = 0
    for placed in add:
        position = _gallop(order, placed, position)
        while next_cut < len(cuts) and cuts[next_cut] < position:
            result.extend(order[start : cuts[next_cut]])
            start = cuts[next_cut] + 1
            next_cut += 1
        if position > start:
            result.extend(order[start:position])
            start = position
        result.append(placed)
    for cut in cuts[next_cut:]:
        result.extend(order[start:cut])
        start = cut + 1
    result.extend(order[start:])
    return result


def _gallop(order: list[Placed], placed: Placed, lo: int) -> int:
    """``bisect_left(order, placed)`` for a ``placed`` known to sit at ``lo`` or after:
    probe 1, 2, 4... places ahead, then bisect the last step (O(log distance))."""
    size = len(order)
    if lo >= size or not order[lo] < placed:
        return lo
    step = 1
    while lo + step < size and order[lo + step] < placed:
        step *= 2
    return bisect_left(order, placed, lo + step // 2 + 1, min(lo + step, size))
