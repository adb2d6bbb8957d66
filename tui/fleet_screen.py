"""The fleet screen (``W``, issue 18): every context known on the team bus, from the
retained summaries each control room and recorder publishes (backends/signals/bus_summary.py),
with the age of each. One older than :data:`STALE_AFTER_S` is dimmed and says "stale": its
publisher stopped, and its last word is no evidence that the cluster is calm.

Context names and problems come from the bus: cleaned by the schema, assembled as plain
parts here, never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from backends.fleet_summary import summary_line
from backends.signals.bus_summary import STALE_AFTER_S, TEAMSUMMARY, TeamSummaryRow
from backends.store import Store
from backends.timefmt import duration
from tui.modal import ContextModal

_STYLE = {"ok": "$text-success", "failing": "bold $text-error", "unknown": "$text-warning"}


def known_summaries(stores: Iterable[Store]) -> list[TeamSummaryRow]:
    """The newest summary per context across the stores (each watched context's bus feeds
    its own store), sorted by context name."""
    newest: dict[str, TeamSummaryRow] = {}
    for store in stores:
        for row in store.rows(TEAMSUMMARY).values():
            if isinstance(row, TeamSummaryRow):
                held = newest.get(row.context)
                if held is None or row.time > held.time:
                    newest[row.context] = row
    return [newest[name] for name in sorted(newest)]


def fleet_screen_text(rows: list[TeamSummaryRow], now: float) -> Content:
    if not rows:
        return Content.styled("no context summary on the team bus yet (is [mqtt] url set?)",
                              "$text-warning")
    width = min(40, max(len(r.context) for r in rows))
    parts: list[str | tuple[str, str]] = [
        f"{len(rows)} context(s) on the team bus; stale after {STALE_AFTER_S:g} s\n"]
    for row in rows:
        age = row.age(now)
        stale = age > STALE_AFTER_S
        style = "dim" if stale else _STYLE[row.summary.verdict]
        name = row.context[:40].ljust(width)
        parts += ["\n", (name, "dim bold" if stale else "bold"), "  ",
                  (summary_line(row.summary), style),
                  (f"  age {duration(age)}" + ("  STALE: its publisher is silent" if stale
                                                else ""), "dim" if stale else "")]
    return Content.assemble(*parts)


class FleetScreen(ContextModal[None]):
    """Every context on the team bus, refreshed every second."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,W", "dismiss", "Close")]
    DEFAULT_CSS = """
    FleetScreen { background: $background 60%; }
    FleetScreen > VerticalScroll { margin: 1 2; border: round $primary; background: $panel; }
    """

    def __init__(self, stores: Callable[[], Iterable[Store]], clock: Callable[[], float]) -> None:
        super().__init__()
        self._stores = stores
        self._clock = clock
        self.body = Static(id="fleet-body")
        self.plain = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield self.body

    def on_mount(self) -> None:
        self.show()
        self.set_interval(1.0, self.show)

    def show(self) -> None:
        text = fleet_screen_text(known_summaries(self._stores()), self._clock())
        if text.plain != self.plain:
            self.plain = text.plain
            self.body.update(text)
