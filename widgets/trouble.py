"""What is broken, in one line: the worst thing now per area (issue 15, point 3).

``checkout: 2 pods CrashLoopBackOff, app Degraded, AppHighErrorRatio firing 3m · node
aks-userblue-vmss000002 NotReady``: one summary the engineer reads before any panel, grouped
by area (the namespace, which is the app in this platform's layout; cluster-wide things such
as nodes and health endpoints have no area prefix). Each :class:`Part` names the panel and row
it comes from, so the line is a set of jumps (:mod:`tui.trouble_actions`).

What counts, judged as the panels judge it (the same helpers, so the line and the red rows
agree): problem pods (:meth:`backends.store.Store.problem_pods`) counted per reason;
Deployments stalled or with nothing available; Argo CD apps Degraded or Missing, or whose
last sync failed; HTTPRoutes with a failing condition (:func:`widgets.routes.route_trouble`);
nodes not Ready; health endpoints failing; alerts firing and not silenced, once per label set
whichever sources report them, per alertname.

Never calm when unsure (ARCHITECTURE.md): a source that is stale, in error, forbidden or still
loading, or that holds objects it could not decode, is said first ("pods unreadable since
20:01:07"), and "all clear" is said only when there is nothing to report AND every source
delivers. With no alert source configured the calm line says alerts are not watched.

Pure: a function of the store and the clock, no widget, so it is tested without the App.
Every string shown was sanitized where it entered the store; the widget shows them as plain
text, never markup (:mod:`widgets.trouble_line`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from backends.model import AppRow, DeploymentRow, NodeRow, RouteRow
from backends.signals.health import ENDPOINTS, EndpointRow
from backends.signals.model import ALERT_SOURCES, ALERTS, STATE_RANK, AlertRow, alert_identity
from backends.store import SourceHealth, Store
from backends.timefmt import duration
from widgets.alert_cells import group_key
from widgets.alerts import GROUPS
from widgets.formatting import PROBLEM
from widgets.routes import route_trouble
from widgets.sourcestate import clock_time
from widgets.workloads import rollout_state

__all__ = ["MAX_AREAS", "Part", "Summary", "summarise"]

PROBLEM_RANK = 2
MAX_AREAS = 12
"""Areas listed on the line (worst first); a line rarely shows more, and a storm of a hundred
namespaces would cost time to lay out for nothing: the rest are counted."""
WARNING_RANK = 1
_BAD_HEALTH = frozenset({"Degraded", "Missing"})
_BAD_PHASES = frozenset({"Failed", "Error"})
_FIRING = frozenset({"firing", "active"})
_ORDER = {"pods": 0, "workloads": 1, "apps": 2, "traffic": 3, "alerts": 4, "nodes": 5,
          "endpoints": 6}
"""Within an area: pods, then Deployments, app, routes, alerts (the issue's reading order)."""
_STATE_WORDS = {"stale": "stale since", "error": "unreadable since", "forbidden": "forbidden",
                "connecting": "loading since"}
_PANEL_OF_SOURCE = {"nodes": "nodes", "pods": "pods", "deployments": "workloads",
                    "replicasets": "workloads", "events": "events", "applications": "apps",
                    "gateways": "traffic", "httproutes": "traffic",
                    "applicationloadbalancers": "traffic", "prometheus": "alerts",
                    "alertmanager": "alerts", "mqtt": "alerts", ENDPOINTS: "endpoints"}


@dataclass(frozen=True)
class Part:
    """One thing said on the line, and where it leads."""

    text: str
    panel: str
    """The id of the panel holding its row (:func:`widgets.panels.dashboard_panels`)."""
    row: tuple[str, str] | None
    """``(kind, key)`` of the row to select; None: the panel only (a source's state)."""
    rank: int = PROBLEM_RANK
    area: str = ""
    """The namespace it belongs to ("" for cluster-wide things and for what is unknown)."""


@dataclass(frozen=True)
class Summary:
    """The line: what is unknown first, then the areas worst first, or the calm words."""

    unknown: tuple[Part, ...] = ()
    areas: tuple[tuple[str, tuple[Part, ...]], ...] = ()
    more: int = 0
    """Areas in trouble beyond the :data:`MAX_AREAS` worst (counted, not listed)."""
    calm: str = ""
    """Set only when there is nothing to report and every source delivers."""
    notes: tuple[str, ...] = field(default=())
    """Said after the calm words (alerts not watched)."""

    @property
    def parts(self) -> tuple[Part, ...]:
        """Every part in the order shown (the jump key cycles through them)."""
        return self.unknown + tuple(p for _, parts in self.areas for p in parts)


def summarise(store: Store, now: float) -> Summary:
    """The summary line of the store as it is at ``now`` (see the module docstring)."""
    health = store.all_health()
    unknown = _unknown(health)
    found: list[Part] = []
    found += _pods(store, now)
    found += _deployments(store)
    found += _apps(store)
    found += _routes(store)
    found += _alerts(store, now)
    found += _nodes(store)
    found += _endpoints(store)
    areas = _by_area(found)
    more = max(0, len(areas) - MAX_AREAS)
    areas = areas[:MAX_AREAS]
    notes = () if any(s in health for s in ALERT_SOURCES) else \
        ("alerts not watched (no [prometheus] or [alertmanager] url)",)
    if unknown or areas:
        return Summary(tuple(unknown), areas, more, "", notes)
    if not health:
        waiting = Part("waiting for the sources to report", "nodes", None, WARNING_RANK)
        return Summary((waiting,), (), 0, "", notes)
    delivering = sum(1 for h in health.values() if h.state == "connected")
    return Summary((), (), 0, f"all clear: {delivering} sources deliver; no problem pod, node, "
                           "app, route or firing alert", notes)


def _kind_of(source: str) -> str:
    return source.partition("@")[0]


def _unknown(health: Mapping[str, SourceHealth]) -> list[Part]:
    """What cannot be known now, one part per kind of source (``pods@a`` and ``pods@b``
    are one "pods")."""
    worst: dict[tuple[str, str], SourceHealth] = {}
    undecodable: dict[str, int] = defaultdict(int)
    for name, h in sorted(health.items()):
        kind = _kind_of(name)
        if h.undecodable:
            undecodable[kind] += h.undecodable
        if h.state not in _STATE_WORDS:
            continue
        key = (kind, h.state)
        if key not in worst or h.since < worst[key].since:
            worst[key] = h
    parts = []
    for (kind, state), h in sorted(worst.items(), key=lambda item: item[1].since):
        words = _STATE_WORDS[state]
        when = "" if state == "forbidden" else f" {clock_time(h.since)}"
        what = f"{kind} {words}{when}"
        if kind in ALERT_SOURCES:
            what += " (alerts unknown)"
        rank = WARNING_RANK if state == "connecting" else PROBLEM_RANK
        parts.append(Part(what, _PANEL_OF_SOURCE.get(kind, "nodes"), None, rank))
    for kind, count in sorted(undecodable.items()):
        parts.append(Part(f"{kind}: {count} object{'' if count == 1 else 's'} unreadable",
                          _PANEL_OF_SOURCE.get(kind, "nodes"), None, WARNING_RANK))
    return parts


def _word(reason: str) -> str:
    """The reason a pod fails in one word: ``CrashLoopBackOff`` of ``CrashLoopBackOff,
    restarts +3``; ``Pending`` of ``Pending 6m``; ``restarting`` of ``restarts +2``."""
    first = reason.split(",")[0].split(" ")[0] or "failing"
    return "restarting" if first == "restarts" else first


def _pods(store: Store, now: float) -> Iterable[Part]:
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, reason in store.problem_pods(now=now).items():
        groups[(key.partition("/")[0], _word(reason))].append(key)
    for (namespace, word), keys in groups.items():
        count = len(keys)
        text = f"{count} pod{'' if count == 1 else 's'} {word}"
        yield Part(text, "pods", ("pods", min(keys)), PROBLEM_RANK, namespace)


def _deployments(store: Store) -> Iterable[Part]:
    for key, row in store.held("deployments").items():
        if not isinstance(row, DeploymentRow) or (  # the common case, without a call
                row.available and row.progressing_reason != "ProgressDeadlineExceeded"):
            continue
        if rollout_state(row) == "stalled":
            text = f"deploy {row.name} stalled"
        elif row.desired > 0 and row.available == 0:
            text = f"deploy {row.name} 0/{row.desired} available"
        else:
            continue
        yield Part(text, "workloads", ("deployments", key), PROBLEM_RANK, row.namespace)


def _apps(store: Store) -> Iterable[Part]:
    for key, row in store.held("applications").items():
        if not isinstance(row, AppRow):
            continue
        area = row.destination_namespace or row.name
        who = "app" if row.name == area else f"app {row.name}"
        if row.health_status in _BAD_HEALTH:
            yield Part(f"{who} {row.health_status}", "apps", ("applications", key),
                       PROBLEM_RANK, area)
        elif row.operation_phase in _BAD_PHASES:
            yield Part(f"{who} sync {row.operation_phase}", "apps", ("applications", key),
                       PROBLEM_RANK, area)


def _routes(store: Store) -> Iterable[Part]:
    for key, row in store.held("httproutes").items():
        if isinstance(row, RouteRow):
            status, tone = route_trouble(row)
            if tone == PROBLEM:
                yield Part(f"route {row.name} {status}", "traffic", ("httproutes", key),
                           PROBLEM_RANK, row.namespace)


def _alerts(store: Store, now: float) -> Iterable[Part]:
    """Firing, unsilenced alerts, once per label set, per (namespace, alertname)."""
    seen: set[tuple[tuple[str, str], ...]] = set()
    groups: dict[tuple[str, str], list[AlertRow]] = defaultdict(list)
    for row in store.held(ALERTS).values():
        if not isinstance(row, AlertRow) or row.stale or row.state not in _FIRING \
                or row.silenced_by or row.inhibited_by:
            continue
        identity = alert_identity(row)
        if identity in seen:
            continue
        seen.add(identity)
        namespace = next((value for label, value in identity if label == "namespace"), "")
        groups[(namespace, row.alertname)].append(row)
    for (namespace, name), rows in groups.items():
        oldest = min((r.since for r in rows if r.since), default=None)
        worst = max(rows, key=lambda r: (r.severity.lower() == "critical",
                                         STATE_RANK.get(r.state, 0)))
        count = f" ×{len(rows)}" if len(rows) > 1 else ""
        since = f" {duration(now - oldest)}" if oldest is not None else ""
        rank = PROBLEM_RANK if worst.severity.lower() == "critical" else WARNING_RANK
        yield Part(f"{name}{count} firing{since}", "alerts", (GROUPS, group_key(worst)),
                   rank, namespace)


def _nodes(store: Store) -> Iterable[Part]:
    down = [row for row in store.held("nodes").values()
            if isinstance(row, NodeRow) and row.ready != "True"]
    for row in sorted(down, key=lambda r: r.key):
        state = "NotReady" if row.ready == "False" else f"Ready {row.ready}"
        yield Part(f"node {row.name} {state}", "nodes", ("nodes", row.key), PROBLEM_RANK)


def _endpoints(store: Store) -> Iterable[Part]:
    for key, row in sorted(store.held(ENDPOINTS).items()):
        if isinstance(row, EndpointRow) and not row.ok and not row.stale:
            yield Part(f"endpoint {row.name} failing", "endpoints", (ENDPOINTS, key),
                       PROBLEM_RANK)


def _by_area(parts: list[Part]) -> tuple[tuple[str, tuple[Part, ...]], ...]:
    """Areas worst first (rank, then how much is wrong), cluster-wide things last among
    equals; parts in the reading order of the issue."""
    areas: dict[str, list[Part]] = defaultdict(list)
    for part in parts:
        areas[part.area].append(part)
    ordered = sorted(areas.items(), key=lambda item: (
        -max(p.rank for p in item[1]), item[0] == "", -len(item[1]), item[0]))
    return tuple((area, tuple(sorted(found, key=lambda p: (_ORDER.get(p.panel, 9), -p.rank,
                                                           p.text))))
                 for area, found in ordered)
