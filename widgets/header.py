"""The control room's header: where am I, may I write, and how fresh is what I see.

Three lines: the cluster and context (a red production banner when the context is production),
the mode (READ-ONLY, FROZEN, later the breaker), and a source-health strip with each source's
state and data age, so a silent source never passes for a quiet cluster.
A fourth line, the team line, appears when the MQTT team bus has something to say (another
control room's engaged breaker, messages queued or rejected).

The problem lines (the failure funnel, :mod:`widgets.sourcestate`) appear when a source does
not deliver: one line per distinct reason, naming the sources and since when, so eleven
sources that lost the same API server say it once, in words, instead of eleven raw errors
squeezed into the strip. The strip then only says each source's state.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from backends.sanitize import clean
from backends.store import SourceHealth
from backends.timefmt import duration
from widgets.sourcestate import FAILING_STATES, problem_lines

#: Theme variables per source state (resolved by Textual at render time).
_STATE_STYLE = {
    "connected": "$text-success",
    "connecting": "$text-warning",
    "stale": "$text-warning",
    "error": "$text-error",
    "forbidden": "$text-error",
    "not_installed": "$foreground-muted",
}


def _age(seconds: float) -> str:
    """The data age in the health strip (``-`` for a clock that ran backwards)."""
    return "-" if seconds < 0 else duration(seconds)


#: The alert sources, whose segment names the context they belong to (issue 18): each
#: context has its own Prometheus and Alertmanager, and an alert must never pass for another
#: cluster's.
ALERT_SOURCES = frozenset({"prometheus", "alertmanager"})


def health_text(health: Mapping[str, SourceHealth], now: float, context: str = "") -> Content:
    """One compact segment per source: ``pods ● 2s`` or ``pods stale since 14:02:11``; with
    ``context``, an alert source says whose it is: ``prometheus (prod) ● 2s``.

    Built from (text, style) parts: source names and error texts are never parsed as markup.
    """
    parts: list[str | tuple[str, str]] = []
    for name in sorted(health):
        h = health[name]
        if parts:
            parts.append("  ")
        style = _STATE_STYLE.get(h.state, "$foreground-muted")
        parts += [(clean(name), "bold"), " "]
        if context and name in ALERT_SOURCES:
            parts += [(f"({clean(context, 80)})", "bold"), " "]
        if h.state == "connected":
            age = now - (h.last_event or h.since)
            parts.append((f"● {_age(age)}", style))
            if h.error:  # a connected source with a note, e.g. the team bus's "3 rejected"
                parts.append((f" ({clean(h.error, 60)})", "$text-warning"))
            if h.undecodable:  # named on a problem line of its own (widgets.sourcestate)
                parts.append((f" ({h.undecodable} unreadable)", "$text-warning"))
        elif h.state in ("stale", "error") and h.error.lower().startswith("unreachable"):
            # Polled sources (Prometheus, Alertmanager, the team bus) say why in these words.
            since = time.strftime("%H:%M:%S", time.localtime(h.since))
            parts.append((f"unreachable since {since}", style))
        elif h.state == "stale":
            since = time.strftime("%H:%M:%S", time.localtime(h.since))
            parts.append((f"stale since {since}", style))
        elif h.state == "not_installed":
            parts.append(("not installed", style))
        else:
            parts.append((h.state.replace("_", " "), style))
            if h.error and h.state not in FAILING_STATES:  # those say why on a line of their own
                parts.append((f" ({clean(h.error, 60)})", style))
    return Content.assemble(*parts)


def problems_text(health: Mapping[str, SourceHealth]) -> Content:
    """The problem lines: ``cluster (9 sources): api server unreachable: connection refused
    (127.0.0.1:6443) since 14:02:11``, one per distinct reason (empty when all deliver).
    Source names and reasons are untrusted text: assembled as parts, never markup."""
    parts: list[str | tuple[str, str]] = []
    for who, what in problem_lines(health):
        if parts:
            parts.append("\n")
        parts += [("✖ ", "$text-error"), (who, "bold $text-error"), ": ", (what, "$text-error")]
    return Content.assemble(*parts)


def target_text(cluster: str, context: str, production: bool) -> Content:
    """``PRODUCTION context aks-prod-weu  cluster ...``: the line that says where a write
    would go, on the header and on every modal screen (:class:`TargetBanner`). The names
    come from a kubeconfig: cleaned, assembled as plain parts."""
    banner: list[str | tuple[str, str]] = [(" PRODUCTION ", "bold reverse"), " "] \
        if production else []
    return Content.assemble(*banner, "context ", (clean(context), "bold"),
                            "  cluster ", clean(cluster))


class TargetBanner(Static):
    """The target line alone, docked at the top of a modal screen: a plan, a picker or the
    journal covers the header, and the operator must still see which context (and whether
    production) the keys they press act on. Red on a production context, as the header."""

    DEFAULT_CSS = """
    TargetBanner { dock: top; width: 100%; height: 1; padding: 0 1; text-style: bold;
                   background: $panel; }
    TargetBanner.-production { background: $error; color: $text; }
    """

    def __init__(self, cluster: str, context: str, production: bool, *,
                 read_only: bool = False, id: str | None = None) -> None:  # noqa: A002
        text = target_text(cluster, context, production)
        if read_only:
            text = Content.assemble(text, ("  READ-ONLY", "bold"))
        super().__init__(text, id=id, classes="-production" if production else None)


class HeaderBar(Vertical):
    """Cluster, context, modes and the per-source health strip."""

    DEFAULT_CSS = """
    HeaderBar { height: auto; background: $panel; }
    HeaderBar > .header--title { padding: 0 1; text-style: bold; }
    HeaderBar.-production > .header--title { background: $error; color: $text; }
    HeaderBar > .header--modes { padding: 0 1; color: $warning; }
    HeaderBar > .header--health { padding: 0 1; height: auto; }
    HeaderBar > .header--team { padding: 0 1; height: auto; }
    HeaderBar > .header--problems { padding: 0 1; height: auto; }
    """

    #: Whether the context is a production one (red banner).
    production: reactive[bool] = reactive(False)

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._title = Static(classes="header--title")
        self._modes = Static(classes="header--modes")
        self._health = Static(classes="header--health")
        self._team = Static(classes="header--team")
        self._team.display = False
        self._problems = Static(classes="header--problems")
        self._problems.display = False
        self._problems_plain = ""
        self._team_plain = ""
        self._modes_plain: str | None = None
        self._health_shown: tuple[str, tuple[object, ...]] | None = None
        self._alert_context = ""

    def compose(self) -> ComposeResult:
        yield self._title
        yield self._modes
        yield self._problems
        yield self._team
        yield self._health

    def watch_production(self, production: bool) -> None:
        self.set_class(production, "-production")

    def show_target(self, cluster: str, context: str, production: bool) -> None:
        """Set the cluster and context line (both sanitized: they come from a kubeconfig)."""
        self.production = production
        self._alert_context = context
        self._title.update(target_text(cluster, context, production))

    def show_modes(self, *modes: str) -> None:
        """Mode flags such as READ-ONLY or FROZEN and what the breaker could not read (our words
        around sanitized error text; a Content, never parsed as markup)."""
        text = "  ".join(m for m in modes if m)
        # Called every second: update only on change (an update lays out the whole screen
        # and repaints every panel; bench/bench_live.py, frames while loading).
        if text != self._modes_plain:
            self._modes_plain = text
            self._modes.update(Content(text))
        self._modes.display = bool(text)

    def show_team(self, text: Content) -> None:
        """The team bus line (other control rooms' breakers, the bus's queue and rejects),
        built by :func:`widgets.pipeline.team_text`; hidden when empty."""
        if text.plain != self._team_plain:  # called every second: repaint only on change
            self._team_plain = text.plain
            self._team.update(text)
        self._team.display = bool(text.plain)

    @property
    def problems_plain(self) -> str:
        """The problem lines as plain text ("" when every source delivers)."""
        return self._problems_plain

    def show_health(self, health: Mapping[str, SourceHealth], now: float) -> None:
        problems = problems_text(health)
        if problems.plain != self._problems_plain:  # called every tick: repaint on change
            self._problems_plain = problems.plain
            self._problems.update(problems)
            self._problems.display = bool(problems.plain)
        strip = health_text(health, now, self._alert_context)
        shown = strip if strip.plain else Content.styled("connecting...", "$foreground-muted")
        # Called every refresh tick: update only on change (the ages in it move once a
        # second). Content's == compares the text alone.
        key = (shown.plain, tuple(shown.spans))
        if key != self._health_shown:
            self._health_shown = key
            # Nor a layout of the screen (and a repaint of every panel) when the strip keeps
            # its height, which is nearly always.
            width = self._health.content_region.width
            same = width > 0 and len(shown.wrap(width)) == self._health.content_region.height
            self._health.update(shown, layout=not same)
