"""KeyList: the help screen's list of keys, one light widget drawn from cached lines.

The help screen is opened under load (issue 16, point 5: key to paint while 1,000 pod events
a second arrive), so opening it must cost little. A ``DataTable`` of sixty rows rendered every
cell through Rich on each open (about half of the open's time, measured with cProfile), and a
Rich ``Table`` costs as much again to lay out. The list's shape is simple (key, action, what it
does), so this widget lays it out itself: the first two columns padded to their widest cell,
the description wrapped into what is left of the width with a hanging indent, and the lines
built once per width (the help screen is reused between opens, so a second open draws nothing
new unless the keys or the width changed).

Cells are plain strings shown as they are (descriptions and key names are ours, never markup).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from rich.cells import cell_len
from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

__all__ = ["HEADER", "KeyList"]

HEADER = ("key", "action", "what it does")
_GAP = "  "
_MIN_DESCRIPTION = 20
"""Below this many cells left for the description, it goes on its own indented line."""


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cell_len(text))


class KeyList(Widget):
    """Rows of (key, action, what it does) under a bold header, the description wrapped."""

    DEFAULT_CSS = """
    KeyList { height: auto; width: 1fr; }
    """

    def __init__(self, rows: Sequence[tuple[str, str, str]] = (), *, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(name=name, id=id, classes=classes)
        self._rows: tuple[tuple[str, str, str], ...] = tuple(rows)
        self._cache: dict[int, tuple[Content, int]] = {}
        """width -> (content, line count): Textual asks for the height at the container's
        width and renders at the content width, so both are kept."""

    @property
    def rows(self) -> tuple[tuple[str, str, str], ...]:
        """The rows shown, in order."""
        return self._rows

    def set_rows(self, rows: Sequence[tuple[str, str, str]]) -> bool:
        """Show ``rows``; False (and nothing redrawn) when they are the ones shown."""
        new = tuple(rows)
        if new == self._rows:
            return False
        self._rows = new
        self._cache.clear()
        self.refresh(layout=True)
        return True

    def lines(self, width: int) -> list[str]:
        """The plain text lines at ``width`` cells (what the screen shows, unstyled)."""
        return self._layout(width)[0].plain.split("\n")

    def _layout(self, width: int) -> tuple[Content, int]:
        cached = self._cache.get(width)
        if cached is not None:
            return cached
        table = [HEADER, *self._rows]
        key_w = max(cell_len(r[0]) for r in table)
        action_w = max(cell_len(r[1]) for r in table)
        indent = key_w + action_w + 2 * len(_GAP)
        room = width - indent
        parts: list[Content] = []
        for n, (key, action, what) in enumerate(table):
            key_cell = _pad(key, key_w)
            left = key_cell + _GAP + _pad(action, action_w) + _GAP
            if room >= _MIN_DESCRIPTION:
                wrapped = textwrap.wrap(what, room) or [""]
                text = left + wrapped[0] + "".join(
                    "\n" + " " * indent + more for more in wrapped[1:])
            else:  # too narrow for three columns: the description under its key
                wrapped = textwrap.wrap(what, max(1, width - 4))
                text = left.rstrip() + "".join("\n    " + more for more in wrapped)
            if n == 0:
                parts.append(Content.styled(text, "bold"))
            else:
                parts.append(Content.assemble((key_cell, "bold"), text[len(key_cell):]))
        content = Content("\n").join(parts)
        if len(self._cache) > 4:  # resized many times: keep the memory bounded
            self._cache.clear()
        self._cache[width] = (content, content.plain.count("\n") + 1)
        return self._cache[width]

    def render(self) -> Content:
        return self._layout(self.content_region.width or self.size.width)[0]

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._layout(width)[1]
