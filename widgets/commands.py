"""What a line typed after ``:`` means: a panel to jump to, or a filter for every panel.

k9s habits (issue 15, point 4): ``:pods``, ``:deploy``, ``:apps``, ``:routes``, ``:alerts``,
``:events``, ``:nodes`` focus that panel; k9s's short names work too (``:po``, ``:no``,
``:ev``, ``:dp``...), and so does any prefix of a name that points at one panel only
(``:nod``, ``:al``). A prefix that fits two panels (``:e``: events or endpoints) is an error
that names both, never a guess. ``:filter TEXT`` (or ``:/TEXT``) filters every panel by
``TEXT``; ``:filter`` alone clears that filter.

Pure: no widget, no App, so the table of names is tested on its own and the help screen and
README can list it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PANEL_NAMES", "Command", "resolve", "spelled"]

PANEL_NAMES: dict[str, tuple[str, ...]] = {
    "nodes": ("nodes", "node", "no"),
    "workloads": ("deploy", "deployments", "deployment", "workloads", "dp", "wl"),
    "pods": ("pods", "pod", "po"),
    "traffic": ("routes", "route", "httproutes", "httproute", "traffic", "gateways", "gw"),
    "endpoints": ("endpoints", "endpoint", "ep", "health"),
    "apps": ("apps", "app", "applications", "application", "argocd", "argo"),
    "alerts": ("alerts", "alert"),
    "events": ("events", "event", "ev"),
}
"""Panel id (as in :func:`widgets.panels.dashboard_panels`) -> the names that reach it."""

_FILTER_WORDS = ("filter", "f")


@dataclass(frozen=True)
class Command:
    """One resolved command line: exactly one of the fields says what to do."""

    panel: str = ""
    """The id of the panel to focus."""
    filter: str | None = None
    """Filter every panel by this text ("" clears the global filter)."""
    error: str = ""
    """Why the line means nothing (shown to the engineer; the App keeps running)."""


def spelled() -> str:
    """The panel names in one line for error messages and help: ``pods (po), ...``."""
    return ", ".join(f"{names[0]} ({'/'.join(names[1:3])})" for names in PANEL_NAMES.values())


def resolve(line: str) -> Command:
    """What ``line`` (without its ``:``) asks for; see the module docstring."""
    text = line.strip()
    if text.startswith(":"):
        text = text[1:].strip()
    if text.startswith("/"):
        return Command(filter=text[1:].strip())
    word, _, rest = text.partition(" ")
    word = word.lower()
    if word in _FILTER_WORDS:
        return Command(filter=rest.strip())
    if not word:
        return Command(error=f"type a panel name: {spelled()}; or filter TEXT")
    if rest.strip():
        return Command(error=f"{word!r} takes no argument (only filter does)")
    exact = [panel for panel, names in PANEL_NAMES.items() if word in names]
    if exact:
        return Command(panel=exact[0])
    matches = sorted({panel for panel, names in PANEL_NAMES.items()
                      if any(name.startswith(word) for name in names)})
    if len(matches) == 1:
        return Command(panel=matches[0])
    if matches:
        return Command(error=f"{word!r} is ambiguous: {' or '.join(matches)}")
    return Command(error=f"no panel called {word!r}: {spelled()}; or filter TEXT")
