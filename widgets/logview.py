"""LogView: the lines of a :class:`~backends.logbuffer.LogBuffer`, literally, on the line API.

Why not Textual's ``Log`` or ``RichLog``: ``Log`` cannot wrap, and ``RichLog`` renders every
line it is given at the width of the moment (a wrap toggle or a new search would mean
rendering the whole ring again). Here only the lines on screen are drawn (``render_line``),
each from a strip cache keyed by line number and look, so a 10,000-line ring costs what a
screenful costs.

- Text is shown literally: a line becomes a ``rich.text.Text`` built from the string (never
  parsed as markup), so ``[bold]`` in a log stays ``[bold]``; escape sequences were removed
  where the line entered (:mod:`backends.kube.logs`).
- Wrap on: each line takes as many screen rows as its width needs (cut by cells, not words:
  logs are not prose); wrap off: one row per line and sideways scrolling.
- Search: every occurrence in the lines on screen is highlighted (``logview--match``), the
  line of the current match more strongly (``logview--current``); :meth:`LogView.next_match`
  moves between matching lines.
- Tail: while the view is at its end it stays there as lines arrive; scrolled up, it stays on
  the same lines even as old ones drop out of the ring.

| Key(s) | Description |
| :- | :- |
| up / down / pageup / pagedown | Scroll (the scroll view's own keys). |
| home / end | The oldest / newest line held (a follow keeps to the newest). |
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from backends.logbuffer import LogBuffer

__all__ = ["LogView"]

_STAMP_WIDTH = 31
"""``2026-11-26T15:00:03.123456789Z `` (the kubelet's fixed form and a space)."""


class LogView(ScrollView, can_focus=True):
    """Lines of a log ring, with wrap, timestamps and search highlights (module docstring)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "logview--match", "logview--current", "logview--stamp",
    }
    DEFAULT_CSS = """
    LogView {
        height: 1fr;
        background: $surface;
        & > .logview--match { background: $warning 45%; color: $text; }
        & > .logview--current { background: $accent; color: $text; text-style: bold; }
        & > .logview--stamp { color: $text-muted; }
    }
    """

    def __init__(self, buffer: LogBuffer, *, wrap: bool = False, timestamps: bool = False,
                 name: str | None = None, id: str | None = None, classes: str | None = None,
                 disabled: bool = False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.buffer = buffer
        self._wrap = wrap
        self._stamps = timestamps
        self._search = ""
        self._pattern: re.Pattern[str] | None = None
        self.current_match: int | None = None
        """Absolute number of the line of the current match (None: none chosen)."""
        self._cache: LRUCache[tuple[int, bool], Strip] = LRUCache(1024)
        self._widest = 0
        self._measured = 0
        """Lines measured for :attr:`_widest` (absolute numbers below it are done)."""
        self._wrapped = _WrappedRows()
        """Wrap on: which screen rows each held line takes."""
        self._seen: tuple[int, int] = (0, 0)
        """(first, total) of the buffer when the view last laid out."""

    # ------------------------------------------------------------------ settings

    @property
    def wrap(self) -> bool:
        return self._wrap

    @wrap.setter
    def wrap(self, value: bool) -> None:
        self._wrap = value
        self.scroll_to(x=0, animate=False)
        self._relayout(keep_end=self.at_end)

    @property
    def timestamps(self) -> bool:
        return self._stamps

    @timestamps.setter
    def timestamps(self, value: bool) -> None:
        self._stamps = value
        self._cache.clear()
        self._relayout(keep_end=self.at_end)

    @property
    def search(self) -> str:
        return self._search

    def set_search(self, text: str) -> int:
        """Highlight ``text`` (case-insensitive); returns how many held lines contain it."""
        self._search = text
        self._pattern = re.compile(re.escape(text), re.IGNORECASE) if text else None
        self.current_match = None
        self._cache.clear()
        self.refresh()
        return self.buffer.count(text)

    def next_match(self, *, forward: bool = True) -> int | None:
        """Move to the next (or previous) line containing the search text, wrapping around
        the ring; returns its absolute number (None: no line matches)."""
        if not self._search:
            return None
        buf = self.buffer
        if self.current_match is None:
            start = self._first_visible() if forward else self._last_visible()
        else:
            start = self.current_match + (1 if forward else -1)
        found = buf.find(self._search, start, forward=forward)
        if found is None:  # wrap around
            found = buf.find(self._search, buf.first if forward else buf.total - 1,
                             forward=forward)
        self.current_match = found
        self._cache.clear()
        if found is not None:
            self.scroll_to(y=self._row_of(found), animate=False)
        self.refresh()
        return found

    # ------------------------------------------------------------------ feeding

    @property
    def at_end(self) -> bool:
        """Scrolled to the last row (or everything fits)."""
        return self.scroll_y >= self.max_scroll_y

    def lines_changed(self) -> None:
        """The buffer got lines (or was cleared): lay out again, follow the end if there."""
        first, total = self._seen
        buf = self.buffer
        keep_end = self.at_end
        if buf.total < total:  # cleared
            self._cache.clear()
            self._widest, self._measured = 0, 0
            self.current_match = None
        dropped = max(0, buf.first - first) if buf.total >= total else 0
        self._relayout(keep_end=keep_end)
        if not keep_end and dropped:  # stay on the same lines as old ones fall out
            self.scroll_to(y=max(0, self.scroll_y - dropped), animate=False)

    def _measure(self) -> None:
        buf = self.buffer
        start = max(self._measured, buf.first)
        widest = self._widest
        for _, line in buf.lines(start):
            text = line.text
            width = len(text) if text.isascii() else cell_len(text)
            widest = max(widest, width)
        self._widest, self._measured = widest, buf.total

    def _line_width(self, text: str) -> int:
        width = len(text) if text.isascii() else cell_len(text)
        return width + (_STAMP_WIDTH if self._stamps else 0)

    def _relayout(self, *, keep_end: bool) -> None:
        buf = self.buffer
        self._seen = (buf.first, buf.total)
        width = max(1, self.scrollable_content_region.width)
        if self._wrap:
            self._wrapped.update(buf, width, self._stamps, self._line_width)
            self.virtual_size = Size(width, self._wrapped.rows)
        else:
            self._measure()
            extra = _STAMP_WIDTH if self._stamps else 0
            self.virtual_size = Size(self._widest + extra, len(buf))
        if keep_end:
            self.scroll_to(y=self.max_scroll_y, animate=False)
            # a horizontal scrollbar that appears with this layout takes a row: once it is
            # there, the end is one row further down
            self.call_after_refresh(self._to_end)
        self.refresh()

    def _to_end(self) -> None:
        self.scroll_to(y=self.max_scroll_y, animate=False)

    def on_resize(self) -> None:
        self._relayout(keep_end=self.at_end)

    def notify_style_update(self) -> None:
        """A theme change: the cached strips hold the old colours."""
        super().notify_style_update()
        self._cache.clear()

    # ------------------------------------------------------------------ drawing

    def _row_of(self, number: int) -> int:
        if self._wrap:
            return self._wrapped.row_of(number)
        return max(0, number - self.buffer.first)

    def _line_at_row(self, row: int) -> tuple[int, int] | None:
        """(absolute line number, piece of it) shown on screen row ``row``."""
        buf = self.buffer
        if self._wrap:
            return self._wrapped.line_at(row)
        if not 0 <= row < len(buf):
            return None
        return buf.first + row, 0

    def _first_visible(self) -> int:
        found = self._line_at_row(int(self.scroll_y))
        return found[0] if found else self.buffer.first

    def _last_visible(self) -> int:
        found = self._line_at_row(int(self.scroll_y) + max(0, self.size.height - 1))
        return found[0] if found else self.buffer.total - 1

    def _strip(self, number: int) -> Strip:
        """The whole line, styled: timestamp, text, search highlights (cached)."""
        current = number == self.current_match
        cached = self._cache.get((number, current))
        if cached is not None:
            return cached
        line = self.buffer.line(number)
        text = Text(no_wrap=True, end="")
        if self._stamps:
            text.append(f"{line.stamp or '-':<{_STAMP_WIDTH - 1}} ",
                        self.get_component_rich_style("logview--stamp", partial=True))
        offset = len(text)
        text.append(line.text)
        if self._pattern is not None:
            style = self.get_component_rich_style(
                "logview--current" if current else "logview--match", partial=True)
            for match in self._pattern.finditer(line.text):
                text.stylize(style, offset + match.start(), offset + match.end())
        strip = Strip(text.render(self.app.console))
        self._cache[(number, current)] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        found = self._line_at_row(scroll_y + y)
        if found is None:
            return Strip.blank(width, base)
        number, piece = found
        try:
            strip = self._strip(number)
        except IndexError:  # dropped from the ring between layout and drawing
            return Strip.blank(width, base)
        if self._wrap:
            return strip.crop_extend(piece * width, (piece + 1) * width, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def rendered_rows(self) -> list[str]:
        """The text of the rows on screen (tests and copy-out)."""
        return [self.render_line(y).text
                for y in range(self.scrollable_content_region.height)]


class _WrappedRows:
    """Where each held line starts, in screen rows, with wrap on, kept up to date as lines
    come and go: appending costs per new line, dropping old lines costs nothing (an offset;
    the list is compacted now and then), so a full 10,000-line ring that gets a batch every
    50 ms is not re-measured each time. A new width, timestamps on or off, or a cleared
    buffer measure everything again."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        """Cumulative row at which line ``first + i - offset`` starts."""
        self.offset = 0
        self.first = 0
        """Absolute number of the line at ``starts[offset]``."""
        self.end = 0
        """Cumulative row just after the last line."""
        self.measured = 0
        """Absolute number of the next line to measure."""
        self.key: tuple[int, bool] = (-1, False)

    @property
    def rows(self) -> int:
        return self.end - self.starts[self.offset] if self.offset < len(self.starts) else 0

    def update(self, buf: LogBuffer, width: int, stamps: bool,
               measure: Callable[[str], int]) -> None:
        if (width, stamps) != self.key or buf.total < self.measured or buf.first < self.first:
            self.starts, self.offset, self.end = [], 0, 0
            self.first = self.measured = buf.first
            self.key = (width, stamps)
        if buf.first > self.first:  # old lines dropped out of the ring
            gone = min(buf.first - self.first, len(self.starts) - self.offset)
            self.offset += gone
            self.first = buf.first
            self.measured = max(self.measured, buf.first)
            if self.offset > 4096 and self.offset * 2 > len(self.starts):
                del self.starts[:self.offset]
                self.offset = 0
        for _, line in buf.lines(self.measured):
            self.starts.append(self.end)
            self.end += max(1, -(-measure(line.text) // width))
        self.measured = buf.total

    def row_of(self, number: int) -> int:
        index = self.offset + max(0, number - self.first)
        if index >= len(self.starts):
            return self.rows
        return self.starts[index] - self.starts[self.offset]

    def line_at(self, row: int) -> tuple[int, int] | None:
        """(absolute line number, piece of it) at screen row ``row``."""
        if not 0 <= row < self.rows:
            return None
        base = self.starts[self.offset]
        index = bisect_right(self.starts, base + row, lo=self.offset) - 1
        return self.first + index - self.offset, base + row - self.starts[index]
