"""The trouble line under the header: :func:`widgets.trouble.summarise` drawn on one line.

What is unknown comes first (in the warning colour), then each area worst first (``checkout:
2 pods CrashLoopBackOff, app Degraded · node ... NotReady``) in the error colour, or the calm
words in the success colour. Each part is a jump to its row: a click on it hands the
part's index to the collaborator that built the line, which selects the row (and a key walks
the parts, :mod:`tui.trouble_actions`).

The parts are cluster text (names, reasons, alert names): they are assembled as literal
parts of a ``Content``, never parsed as markup. One line, cut with an ellipsis: where each
part starts and ends is kept, so a click maps back to the part under the pointer.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.cells import cell_len
from textual import events
from textual.content import Content
from textual.widgets import Static

from widgets.trouble import PROBLEM_RANK, Summary

__all__ = ["TroubleLine"]

_SEPARATOR = " · "


def _style(rank: int, unknown: bool) -> str:
    if unknown:
        return "bold $text-warning"
    return "bold $text-error" if rank >= PROBLEM_RANK else "$text-warning"


def line_of(summary: Summary) -> tuple[Content, list[tuple[int, int, int]]]:
    """The line and, per part, ``(start, end, index in summary.parts)`` in cells."""
    pieces: list[str | tuple[str, str]] = []
    spans: list[tuple[int, int, int]] = []
    at = 0
    index = 0

    def add(text: str, style: str = "") -> None:
        nonlocal at
        pieces.append((text, style) if style else text)
        at += cell_len(text)

    if summary.unknown:
        add("UNKNOWN ", "bold reverse $text-warning")
        for n, part in enumerate(summary.unknown):
            if n:
                add(", ")
            spans.append((at, at + cell_len(part.text), index))
            add(part.text, _style(part.rank, True))
            index += 1
    for area, parts in summary.areas:
        if pieces:
            add(_SEPARATOR)
        if area:
            add(f"{area}: ", "bold")
        for n, part in enumerate(parts):
            if n:
                add(", ")
            spans.append((at, at + cell_len(part.text), index))
            add(part.text, _style(part.rank, False))
            index += 1
    if summary.more:
        add(_SEPARATOR)
        add(f"+{summary.more} more area{'' if summary.more == 1 else 's'}", "$text-error")
    if summary.calm:
        add("✔ " + summary.calm, "$text-success")
    for note in summary.notes:
        add(_SEPARATOR)
        add(note, "$text-warning")
    return Content.assemble(*pieces), spans


class TroubleLine(Static):
    """One line: the worst thing now per area, each part a jump (see the module docstring)."""

    DEFAULT_CSS = """
    TroubleLine { height: 1; padding: 0 1; background: $panel; text-wrap: nowrap;
                  text-overflow: ellipsis; }
    """

    def __init__(self, jump: Callable[[int], None], *,
                 id: str | None = None) -> None:  # noqa: A002
        super().__init__("", id=id)
        self._jump = jump
        self.summary = Summary()
        self._plain: str | None = None
        self._spans: list[tuple[int, int, int]] = []

    @property
    def plain(self) -> str:
        """The line as text (tests, tools)."""
        return self._plain or ""

    def show(self, summary: Summary) -> None:
        """Draw ``summary`` (repaints only when the words change: called every second)."""
        self.summary = summary
        content, spans = line_of(summary)
        self._spans = spans
        if content.plain != self._plain:
            self._plain = content.plain
            self.update(content)

    def part_at(self, x: int) -> int | None:
        """The index of the part drawn at column ``x`` of the widget (None: none there)."""
        cell = x - self.styles.padding.left
        return next((index for start, end, index in self._spans if start <= cell < end), None)

    def on_click(self, event: events.Click) -> None:
        index = self.part_at(event.x)
        if index is not None:
            event.stop()
            self._jump(index)
