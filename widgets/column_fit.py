"""Which columns a table shows at its width, and how wide: by priority, not by order.

Why: a dashboard panel is a third of a laptop screen. Shown left to right at their full
widths, its columns put the words the engineer reads (an event's message, an alert's
summary, a pod's status) off the right edge, behind sideways scrolling, while the age and
the node sit in plain view. Each :class:`~widgets.rowmodel.Column` declares a priority, a
minimum and an ideal width instead, and this one pure function decides:

1. Columns are taken most important first (ties: left first). Each is shown if its
   minimum width fits in what the columns before it leave, counting those at their ideal
   width (a message at the width it can be read, a name whole); else it is dropped, and
   a smaller, less important one may still fit after it. The most important column is
   always shown.
2. The shown columns start at their minimum; the room left is handed out most important
   first: to the columns that declare an ideal width up to it, then to every column up to
   its full (natural) width.

So a less important column is shown only once the more important ones have their ideal
room; it is the first narrowed and the first dropped, and a long message takes its ideal
room before the node column appears. Shown columns keep their left-to-right
order. No Textual here: both table kinds (:mod:`widgets.vtable`, :mod:`widgets.table_panel`)
call it with their widths.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len

from widgets.rowmodel import Column

__all__ = ["fit_columns", "shown_labels"]


def fit_columns(columns: Sequence[Column], natural: Sequence[int], available: int,
                padding: int = 1) -> tuple[int, ...]:
    """Each column's width in cells at ``available`` cells (0: the column is dropped).

    ``natural``: the width each column would take to show its values whole; ``padding``:
    blank cells on each side of every shown column. A table not laid out yet
    (``available`` <= 0) shows every column whole.
    """
    count = len(columns)
    if available <= 0 or sum(natural) + 2 * padding * count <= available:
        return tuple(natural)
    floors = [
        min(natural[i], column.min_width if column.min_width is not None
            else cell_len(column.label))
        for i, column in enumerate(columns)
    ]
    order = sorted(range(count), key=lambda i: (columns[i].priority, i))
    widths = [0] * count
    claimed = 0  # the shown columns at their ideal widths (at most all there is)
    used = 0  # the shown columns at their minimum widths
    for index in order:
        if claimed + floors[index] + 2 * padding <= available:
            widths[index] = floors[index]
            used += floors[index] + 2 * padding
            ideal = max(floors[index], _ideal(columns[index], natural[index]))
            claimed = min(available, claimed + ideal + 2 * padding)
    if order and not widths[order[0]]:  # not even the most important fits: it alone
        first = order[0]
        widths = [0] * count
        widths[first] = max(1, min(natural[first], available - 2 * padding))
        return tuple(widths)
    room = available - used
    for goal in (_declared_ideal, _natural):
        for index in order:
            if not widths[index] or room <= 0:
                continue
            grow = min(goal(columns[index], natural[index]) - widths[index], room)
            if grow > 0:
                widths[index] += grow
                room -= grow
    return tuple(widths)


def _ideal(column: Column, natural: int) -> int:
    return natural if column.ideal is None else min(column.ideal, natural)


def _declared_ideal(column: Column, natural: int) -> int:
    return 0 if column.ideal is None else min(column.ideal, natural)


def _natural(column: Column, natural: int) -> int:
    return natural


def shown_labels(columns: Sequence[Column], widths: Sequence[int]) -> tuple[str, ...]:
    """The labels of the columns a fit shows, left to right (for tests and tools)."""
    return tuple(c.label.strip() for c, w in zip(columns, widths, strict=False) if w)
