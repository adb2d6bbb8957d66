"""Column-at-a-time text for the export: an hour's entries turned into cells without a
Python call per cell.

Why a module of its own: the post-mortem export of the worst flood hour (200,000 entries,
issue 17 point 6: under 2 s) spent most of its time in per-cell Python calls (a helper
per field, per row: four million calls). The export now reads each field as a column
(:func:`column`, ``operator.attrgetter`` mapped in C), turns each column into text through a
:class:`Memo` (a dict: a lookup in C per cell, the conversion once per *distinct* value, and
an hour's kinds, objects, actors and changes recur thousands of times) and joins the rows
with ``zip`` and ``str.join``. Times, unique per row, are formatted in one C call
(:func:`float_texts`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import msgspec

from backends.timeline.entry import TimelineEntry

__all__ = ["Memo", "column", "float_texts", "seconds"]

K = TypeVar("K", bound=Hashable)

_SHORTEST_SAME_AS_REPR = (1e-4, 1e16)
"""Where msgspec's shortest float text is exactly ``repr``'s: from 1e-4 (below, ``repr``
writes ``1e-05`` where msgspec writes ``0.00001``) up to 1e16 (``1e+16`` against ``1e16``)."""


class Memo(dict[K, str], Generic[K]):
    """A dict that converts a missing key once (``convert(key)``) and keeps the text.

    ``memo.__getitem__`` mapped over a column is a C lookup per cell; only the first sight
    of a value runs Python. One per export (not a global cache): an export's distinct
    values are bounded by its entries, and it is dropped with the export.
    """

    def __init__(self, convert: Callable[[K], str]) -> None:
        super().__init__()
        self._convert = convert

    def __missing__(self, key: K) -> str:
        text = self[key] = self._convert(key)
        return text

    def over(self, keys: Iterable[K]) -> Iterator[str]:
        """The text of each key, in order."""
        return map(self.__getitem__, keys)


def column(entries: Sequence[TimelineEntry], field: str) -> list[Any]:
    """One field of every entry, in order (typed as the field is: the caller names it)."""
    return list(map(operator.attrgetter(field), entries))


def float_texts(values: Sequence[float]) -> list[str]:
    """Each float as ``repr`` writes it (shortest text that reads back to the same number).

    msgspec's encoder writes the same digits about five times faster; it is used when
    every value lies where its text is ``repr``'s (finite, from 1e-4 to 1e16: every Unix
    time of this century), else ``repr`` itself (a hand-made recording may hold anything).
    """
    low, high = _SHORTEST_SAME_AS_REPR
    if values and all(map(low.__le__, values)) and all(map(high.__gt__, values)):
        return msgspec.json.encode(values)[1:-1].decode().split(",")
    return list(map(repr, values))


def seconds(values: Iterable[float]) -> Iterator[int]:
    """Each moment's whole second (floor: a moment before 1970 rounds down, too)."""
    return map(math.floor, values)
