"""The drawing side of :class:`~widgets.vtable.VirtualTable`: one row (or the header) as a Strip.

:mod:`widgets.rowmodel` holds the rows, their order and the column widths; VirtualTable is the
widget (keys, cursor, scrolling, messages, which lines are on screen). What is left, and is
here, is turning one row into a line of segments and keeping the lines recently drawn:

- Cells are fitted to their column's width and alignment, with an ellipsis when cut. A ``str``
  is joined into plain runs with its neighbours and never parsed as markup; a ``Text`` keeps
  its spans.
- The row's tone (``problem``, ``warning``, ``dim``) and the cursor are styles of the widget's
  component classes (``vtable--*``), looked up only when a strip is built, so themes decide
  the colours. Those classes and their default CSS are declared here, next to the code that
  reads them, and the widget takes them as its own (:data:`COMPONENT_CLASSES`,
  :data:`TABLE_CSS`).
- Time-dependent cells are laid over the stored ones at draw time (:func:`overlay`).
- Strips are cached by (key, row version, layout generation, cursor, focus, time-dependent
  cells), so scrolling and repaints reuse work; the cache is small on purpose (see
  ``_STRIP_CACHE``).

It is separate because it has its own cost model (what a strip costs to build and to keep)
and can change (how a cell is cut, how styles layer) without touching how rows are kept or
how the cursor moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.strip import Strip
from textual.widget import Widget

from widgets.column_fit import fit_columns, shown_labels
from widgets.formatting import middle_cut
from widgets.rowmodel import Cell, RowModel

__all__ = ["COMPONENT_CLASSES", "TABLE_CSS", "RowStrips", "overlay"]

_ELLIPSIS = "\u2026"
_PADDING = 1
"""Blank cells on each side of every column."""
_TONES: tuple[str, ...] = ("problem", "warning", "dim")
_STRIP_CACHE = 64
"""Row strips kept: a screen of the tallest panel and some. A cached strip holds Textual's
crop of it, and each Strip brings seven small caches: about thirty objects the cyclic
collector walks on every full collection. With ages drawn per second, older strips of a row
are stale anyway; at 256 per table the strips were most of what a full collection walked
under a flood, and its pause neared 50 ms (bench/bench_live.py)."""

COMPONENT_CLASSES: frozenset[str] = frozenset({
    "vtable--header",
    "vtable--cursor",
    "vtable--problem",
    "vtable--warning",
    "vtable--dim",
})
"""The component classes a table declares and :class:`RowStrips` draws with.

| Class | Description |
| :- | :- |
| `vtable--header` | The header line. |
| `vtable--cursor` | The selected row. |
| `vtable--problem` | Rows with tone `problem` (failing). |
| `vtable--warning` | Rows with tone `warning` (needs a look). |
| `vtable--dim` | Rows with tone `dim` (finished, unimportant). |
"""

TABLE_CSS = """
VirtualTable {
    background: $surface;
    color: $foreground;
    height: 1fr;
    & > .vtable--header {
        background: $panel;
        color: $foreground;
        text-style: bold;
    }
    & > .vtable--cursor {
        background: $block-cursor-blurred-background;
        color: $block-cursor-blurred-foreground;
        text-style: $block-cursor-blurred-text-style;
    }
    &:focus > .vtable--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    & > .vtable--problem {
        color: $text-error;
        text-style: bold;
    }
    & > .vtable--warning {
        color: $text-warning;
    }
    & > .vtable--dim {
        color: $foreground-muted;
    }
}
"""
"""The table's ``DEFAULT_CSS``: its colours and those of :data:`COMPONENT_CLASSES` (themes
decide them through the variables)."""


class RowStrips:
    """Builds the strips of a table's header and rows, and keeps the recent ones.

    ``widget`` gives the styles (its own and its ``vtable--*`` component classes), its focus
    and the console; ``model`` gives the cells, tones, versions and widths.
    """

    def __init__(self, widget: Widget, model: RowModel) -> None:
        self._widget = widget
        self._model = model
        self._generation = 0
        self._cache: LRUCache[tuple[Any, ...], Strip] = LRUCache(_STRIP_CACHE)
        self.built = 0
        """How many row strips were built rather than taken from the cache."""
        self.fitted: tuple[int, ...] | None = None
        """Each column's width as drawn (0: dropped), from
        :func:`widgets.column_fit.fit_columns`; None: the model's (full) widths."""

    def _fit(self) -> None:
        """Choose the columns and their widths for the widget's width by priority
        (:func:`widgets.column_fit.fit_columns`), keeping the vertical scrollbar's room
        always, so a scrollbar coming and going does not make the columns jump. Nothing
        before the widget has a size."""
        widget = self._widget
        available = widget.size.width - widget.styles.scrollbar_size_vertical
        if available > 0:
            self.fitted = fit_columns(self._model.columns, self._model.widths, available)

    @property
    def shown_columns(self) -> tuple[str, ...]:
        """Labels of the columns drawn, left to right."""
        return shown_labels(self._model.columns, self.widths)

    @property
    def widths(self) -> tuple[int, ...]:
        """Each column's width as drawn (0: not drawn)."""
        fitted = self.fitted
        if fitted is not None and len(fitted) == len(self._model.widths):
            return fitted
        return tuple(self._model.widths)

    @property
    def width(self) -> int:
        """Cells in a full line: every drawn column's width and its padding."""
        widths = self.widths
        return sum(widths) + 2 * _PADDING * sum(1 for width in widths if width)

    def invalidate(self) -> None:
        """Columns, widths, the widget's width or styles changed: the columns are chosen
        again, and no kept strip may be reused."""
        self._fit()
        self._generation += 1
        self._cache.clear()

    def header(self) -> Strip:
        """The header line (the column labels)."""
        cache_key = ("\0header", self._generation)
        strip = self._cache.get(cache_key)
        if strip is None:
            style = self._widget.get_component_rich_style("vtable--header")
            cells = tuple(column.label for column in self._model.columns)
            strip = self._build(cells, style, None, labels=True)
            self._cache[cache_key] = strip
        return strip

    def row(self, key: str, cursor: bool, timed: Mapping[int, Cell]) -> Strip:
        """The line of the row ``key``, with the cursor on it or not, and ``timed`` (its
        time-dependent cells by column index) laid over its stored cells."""
        model = self._model
        widget = self._widget
        # The cursor's colours depend on focus (":focus > .vtable--cursor").
        focus = cursor and widget.has_focus
        cache_key = (key, model.version(key), self._generation, cursor, focus, *timed.items())
        cacheable = True
        try:
            strip = self._cache.get(cache_key)
        except TypeError:  # a Text among the timed cells (not hashable): not cached
            strip, cacheable = None, False
        if strip is None:
            style = widget.rich_style
            tone = model.tone(key)
            if tone in _TONES:
                style += widget.get_component_rich_style(f"vtable--{tone}", partial=True)
            post = widget.get_component_rich_style("vtable--cursor") if cursor else None
            cells = overlay(model.cells(key) or (), timed)
            strip = self._build(cells, style, post)
            if cacheable:
                self._cache[cache_key] = strip
            self.built += 1
        return strip

    def _build(self, cells: tuple[Cell, ...], style: Style, post: Style | None, *,
               labels: bool = False) -> Strip:
        """One row as segments: plain cells are joined into runs, Text cells keep spans.
        ``labels``: the header line, whose labels are cut at the end like any word."""
        run_style = style + post if post is not None else style
        segments: list[Segment] = []
        run: list[str] = []
        console = self._widget.app.console
        pad = " " * _PADDING
        widths = self.widths
        for index, column in enumerate(self._model.columns):
            width = widths[index]
            if not width:
                continue  # dropped: the table is too narrow for it
            cell = cells[index] if index < len(cells) else ""
            if column.cut == "middle" and not labels and isinstance(cell, str):
                cell = middle_cut(cell, width)
            run.append(pad)
            if isinstance(cell, Text):
                if run:
                    segments.append(Segment("".join(run), run_style))
                    run.clear()
                text = cell.copy()
                text.no_wrap = True
                text.end = ""
                if column.align == "right" and text.cell_len < width:
                    text.pad_left(width - text.cell_len)
                text.truncate(width, overflow="ellipsis", pad=True)
                segments.extend(Segment.apply_style(text.render(console), style, post))
            else:
                run.append(_fit(cell, width, column.align))
            run.append(pad)
        if run:
            segments.append(Segment("".join(run), run_style))
        return Strip(segments, self.width)


def overlay(cells: tuple[Cell, ...], timed: Mapping[int, Cell]) -> tuple[Cell, ...]:
    """``cells`` with the time-dependent ones put in (columns beyond the row are ignored)."""
    if not timed:
        return cells
    merged = list(cells)
    for column, value in timed.items():
        if 0 <= column < len(merged):
            merged[column] = value
    return tuple(merged)


def _fit(text: str, width: int, align: str) -> str:
    """Pad or cut a plain string to exactly ``width`` cells (ellipsis when cut)."""
    length = len(text)
    if length == width and text.isascii():
        return text
    size = cell_len(text)
    if size > width:
        return set_cell_size(text, width - 1) + _ELLIPSIS if width > 0 else ""
    gap = " " * (width - size)
    return gap + text if align == "right" else text + gap
