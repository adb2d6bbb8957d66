"""The fleet strip: one line per watched context (issue 18), above the panels.

``1 staging  healthy  nodes 0 not ready  pods 0 failing ...`` with the context the panels
show marked ``▶``. A failing context is red, one whose cluster sources do not deliver
(unreachable, forbidden, connecting) is amber and says so: never calm when unsure. Context
names come from a kubeconfig: cleaned and assembled as plain parts, never markup.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from backends.fleet_summary import ContextSummary, summary_line
from backends.sanitize import clean

_STYLE = {"ok": "$text-success", "failing": "bold $text-error", "unknown": "$text-warning"}


def fleet_text(summaries: list[ContextSummary], active: str) -> Content:
    """The strip's lines; the key that switches to each context is its position (1-9)."""
    parts: list[str | tuple[str, str]] = []
    width = max((len(clean(s.context, 40)) for s in summaries), default=0)
    for index, s in enumerate(summaries, start=1):
        if parts:
            parts.append("\n")
        mark = "▶" if s.context == active else " "
        key = str(index) if index <= 9 else " "
        name = clean(s.context, 40).ljust(width)
        parts += [f"{mark}{key} ", (name, "bold reverse" if s.production else "bold"), "  ",
                  (summary_line(s), _STYLE[s.verdict])]
    return Content.assemble(*parts)


class FleetStrip(Static):
    """Shown only when more than one context is watched."""

    DEFAULT_CSS = """
    FleetStrip { height: auto; padding: 0 1; background: $panel; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._plain = ""

    @property
    def plain(self) -> str:
        return self._plain

    def show(self, summaries: list[ContextSummary], active: str) -> None:
        text = fleet_text(summaries, active)
        if text.plain != self._plain:  # called every second: repaint on change only
            self._plain = text.plain
            self.update(text)
