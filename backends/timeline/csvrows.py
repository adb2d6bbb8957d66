"""The CSV of the post-mortem export: every entry field, RFC 4180, formulas neutralised.

The dialect is the :mod:`csv` module's default (a field quoted when it holds a comma, a quote
or a line break, a quote inside doubled, CRLF between rows); the two times ``at`` and
``seen`` are written as Python writes a float (exact: each reads back to the same number).

Formula injection: every text field came from the cluster, an alert source, the team bus or
an operator, and a post-mortem is opened in a spreadsheet, which runs a cell starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula (``=HYPERLINK(...)`` in
an event message, say). Such a text gets a single quote in front (:data:`FORMULA_START`, the
usual neutralisation: the spreadsheet shows it as text, and a reader sees why); every other
text is written exactly.

Built column by column (:mod:`backends.timeline.columns`): the worst flood hour is 200,000
rows of 20 fields, and a Python call per cell cost more than the issue's 2 s allows for the
whole export; here each distinct text is quoted once, a column with nothing to quote is used as it
is, and any other cell is a dict lookup in C.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Final

from backends.timeline.columns import column, float_texts
from backends.timeline.entry import TimelineEntry

__all__ = ["CSV_COLUMNS", "CSV_EOL", "FORMULA_START", "csv_cell", "csv_cells", "csv_rows"]

CSV_EOL: Final = "\r\n"
"""RFC 4180's line ending (the csv module's default)."""
CSV_COLUMNS: Final = ("time", *TimelineEntry.__struct_fields__, "followed")
"""Every entry field, the time in words first and, for a firing alert, the correlation."""
FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
"""How a cell a spreadsheet would run as a formula starts (OWASP's list for CSV injection):
such a text is written with a single quote in front."""

_TEXT_FIELDS: Final = CSV_COLUMNS[3:-1]
"""The entry's text fields, in column order (after ``time``, ``at`` and ``seen``)."""


def csv_cell(value: str) -> str:
    """One text field as the :mod:`csv` module writes it inside a row, a formula's start
    neutralised."""
    if not value:
        return ""  # a lone empty field is written '""' by csv; in a row it is nothing
    if value.startswith(FORMULA_START):
        value = "'" + value
    buffer = io.StringIO()
    # The rows' terminator (RFC 4180's CRLF): csv quotes a field holding one of its
    # characters, so a lone CR or LF inside a value is quoted too.
    csv.writer(buffer, lineterminator=CSV_EOL).writerow((value,))
    return buffer.getvalue()[:-len(CSV_EOL)]


def csv_cells(values: Sequence[str]) -> Sequence[str]:
    """Each text of a column as its CSV cell: the column itself when no distinct value
    needs quoting or neutralising (most columns of a flood hour: names, kinds, actors),
    else one dict lookup per cell. Each distinct text is converted once (a set and a dict
    built in C: about half the cost of a lookup per cell through a memo)."""
    cells = {value: csv_cell(value) for value in set(values)}
    if all(cell is value or cell == value for value, cell in cells.items()):
        return values
    return list(map(cells.__getitem__, values))


def csv_rows(entries: Sequence[TimelineEntry], times: Sequence[str],
             followed: Sequence[str]) -> str:
    """The whole CSV file: the header, then one row per entry in order, with its time in
    words (``times``) and the correlation's words (``followed``, "" for none)."""
    rows = zip(csv_cells(times), float_texts(column(entries, "at")),
               float_texts(column(entries, "seen")),
               *(csv_cells(column(entries, field)) for field in _TEXT_FIELDS),
               csv_cells(followed), strict=True)
    return CSV_EOL.join((",".join(CSV_COLUMNS), *map(",".join, rows), ""))
