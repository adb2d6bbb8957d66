"""The control room's header: where am I, may I write, and how fresh is what I see.

Three lines: the cluster and context (a red production banner when the context is production),
the mode (READ-ONLY, FROZEN, later the breaker), and a source-health strip with each source's
state and data age, so a silent source never passes for a quiet cluster.
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
    if seconds < 0:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


def health_text(health: Mapping[str, SourceHealth], now: float) -> Content:
    """One compact segment per source: ``pods ● 2s`` or ``pods stale since 14:02:11``.

    Built from (text, style) parts: source names and error texts are never parsed as markup.
    """
    parts: list[str | tuple[str, str]] = []
    for name in sorted(health):
        h = health[name]
        if parts:
            parts.append("  ")
        style = _STATE_STYLE.get(h.state, "$foreground-muted")
        parts += [(clean(name), "bold"), " "]
        if h.state == "connected":
            age = now - (h.last_event or h.since)
            parts.append((f"● {_age(age)}", style))
        elif h.state == "stale":
            since = time.strftime("%H:%M:%S", time.localtime(h.since))
            parts.append((f"stale since {since}", style))
        elif h.state == "not_installed":
            parts.append(("not installed", style))
        else:
            parts.append((h.state.replace("_", " "), style))
            if h.error:
                parts.append((f" ({clean(h.error, 60)})", style))
    return Content.assemble(*parts)


class HeaderBar(Vertical):
    """Cluster, context, modes and the per-source health strip."""

    DEFAULT_CSS = """
    HeaderBar { height: auto; background: $panel; }
    HeaderBar > .header--title { padding: 0 1; text-style: bold; }
    HeaderBar.-production > .header--title { background: $error; color: $text; }
    HeaderBar > .header--modes { padding: 0 1; color: $warning; }
    HeaderBar > .header--health { padding: 0 1; height: auto; }
    """

    #: Whether the context is a production one (red banner).
    production: reactive[bool] = reactive(False)

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._title = Static(classes="header--title")
        self._modes = Static(classes="header--modes")
        self._health = Static(classes="header--health")

    def compose(self) -> ComposeResult:
        yield self._title
        yield self._modes
        yield self._health

    def watch_production(self, production: bool) -> None:
        self.set_class(production, "-production")

    def show_target(self, cluster: str, context: str, production: bool) -> None:
        """Set the cluster and context line (both sanitized: they come from a kubeconfig)."""
        self.production = production
        banner: list[str | tuple[str, str]] = [(" PRODUCTION ", "bold reverse"), " "] \
            if production else []
        self._title.update(Content.assemble(
            *banner, "context ", (clean(context), "bold"), "  cluster ", clean(cluster)))

    def show_modes(self, *modes: str) -> None:
        """Mode flags such as READ-ONLY or FROZEN (our own words, never cluster text)."""
        text = "  ".join(m for m in modes if m)
        self._modes.update(Content(text))
        self._modes.display = bool(text)

    def show_health(self, health: Mapping[str, SourceHealth], now: float) -> None:
        strip = health_text(health, now)
        self._health.update(strip if strip.plain else Content.styled("connecting...",
                                                                     "$foreground-muted"))
