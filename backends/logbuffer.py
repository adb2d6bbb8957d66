"""The newest lines of a log, in a ring: memory stays bounded however long a follow runs.

A follow can run for hours on a chatty container; keeping every line would grow without end.
:class:`LogBuffer` is a ``collections.deque`` with ``maxlen``: adding a line past the limit
drops the oldest one, in O(1), and nothing else holds the lines. Lines are addressed by
*absolute* number (the n-th line ever added), so a view scrolled to a line, or a search match,
still names the same line after older lines have been dropped; :attr:`LogBuffer.first` says
which is the oldest one still held.

Search is a case-insensitive substring match over the held lines (regular expressions would
let a typo in the search box cost a catastrophic backtrack per line).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice

from backends.kube.logs import LogLine

__all__ = ["DEFAULT_RING", "LogBuffer"]

DEFAULT_RING = 10_000
"""Lines a log screen keeps by default (with :data:`~backends.kube.logs.LINE_MAX` characters
at most each)."""


class LogBuffer:
    """A ring of at most ``maxlen`` :class:`~backends.kube.logs.LogLine` (see the module doc)."""

    def __init__(self, maxlen: int = DEFAULT_RING) -> None:
        if maxlen < 1:
            raise ValueError("a log buffer holds at least one line")
        self.maxlen = maxlen
        self._lines: deque[LogLine] = deque(maxlen=maxlen)
        self.total = 0
        """Lines ever added: the absolute number the next line will get."""
        self.version = 0
        """Changes on every add or clear (views repaint when it moved)."""

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def first(self) -> int:
        """Absolute number of the oldest line held (== :attr:`total` when empty)."""
        return self.total - len(self._lines)

    @property
    def dropped(self) -> int:
        """Lines that fell out of the ring since the last :meth:`clear`."""
        return self.first

    def extend(self, lines: Iterable[LogLine]) -> int:
        """Add lines at the end; returns how many were added."""
        before = self.total
        for line in lines:
            self._lines.append(line)
            self.total += 1
        if self.total != before:
            self.version += 1
        return self.total - before

    def clear(self) -> None:
        """Forget every line (a new container, a new tail or since)."""
        self._lines.clear()
        self.total = 0
        self.version += 1

    def line(self, number: int) -> LogLine:
        """The line with absolute number ``number`` (IndexError when not held)."""
        index = number - self.first
        if not 0 <= index < len(self._lines):
            raise IndexError(f"line {number} is not held (held: {self.first}..{self.total - 1})")
        return self._lines[index]

    def lines(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, LogLine]]:
        """(absolute number, line) from ``start`` up to ``stop`` (both absolute; clipped)."""
        first = self.first
        lo = max(start, first) - first
        hi = len(self._lines) if stop is None else max(lo, min(stop, self.total) - first)
        for offset, line in enumerate(islice(self._lines, lo, hi)):
            yield first + lo + offset, line

    def find(self, needle: str, start: int, *, forward: bool = True) -> int | None:
        """The absolute number of the next line (``forward``) or previous line containing
        ``needle`` (case-insensitive), starting AT ``start``; None when there is none."""
        folded = needle.casefold()
        if not folded or not self._lines:
            return None
        first = self.first
        if forward:
            for number, line in self.lines(max(start, first)):
                if folded in line.text.casefold():
                    return number
            return None
        index = min(start, self.total - 1) - first
        if index < 0:
            return None
        skip = len(self._lines) - 1 - index
        for back, line in enumerate(islice(reversed(self._lines), skip, None)):
            if folded in line.text.casefold():
                return first + index - back
        return None

    def count(self, needle: str) -> int:
        """How many held lines contain ``needle`` (case-insensitive)."""
        folded = needle.casefold()
        if not folded:
            return 0
        return sum(1 for line in self._lines if folded in line.text.casefold())
