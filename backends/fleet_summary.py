"""One context's state in one line: what the fleet strip shows per watched context and what
each control room or headless recorder publishes on the team bus (issue 18).

Never calm when unsure: a context whose cluster sources do not deliver (unreachable,
forbidden, still connecting, or no data yet) is ``unknown``, never ``ok``, whatever its (empty
or stale) counts say. ``failing`` needs a fact: a node not ready, a failing pod, a degraded
app, a firing critical alert or an engaged breaker.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from backends.model import AppRow, NodeRow, PodRow
from backends.signals.model import AlertRow
from backends.store import Store

Verdict: TypeAlias = Literal["ok", "failing", "unknown"]

#: The cluster sources a verdict rests on (alert sources only add to it).
CORE_SOURCES = ("nodes", "pods")


class ContextSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What is wrong in one context, counted from its own store."""

    context: str
    production: bool = False
    verdict: Verdict = "unknown"
    nodes_not_ready: int = 0
    failing_pods: int = 0
    degraded_apps: int = 0
    critical_alerts: int = 0
    #: ``engaged``, ``off`` or ``unknown`` (journal unreadable).
    breaker: str = "unknown"
    #: Seconds since the newest data of any cluster source (None: none yet).
    data_age: float | None = None
    #: Why the verdict cannot rest on data: ``unreachable``, ``forbidden``, ``connecting``
    #: ("" when the cluster sources deliver).
    problem: str = ""


def _problem(store: Store) -> str:
    health = store.all_health()
    core = {name: h for name, h in health.items() if name.partition("@")[0] in CORE_SOURCES}
    if not core:
        return "connecting"
    states = {h.state for h in core.values()}
    if "forbidden" in states:
        return "forbidden"
    if states & {"error", "stale"}:
        return "unreachable"
    if "connecting" in states:
        return "connecting"
    return ""


def summarize(store: Store, context: str, now: float, *, production: bool = False,
              breaker_engaged: bool | None = None) -> ContextSummary:
    """Count the context's problems in its store; see the module docstring for the verdict."""
    nodes = sum(1 for row in store.rows("nodes").values()
                if isinstance(row, NodeRow) and row.ready != "True")
    pods = sum(1 for row in store.rows("pods").values()
               if isinstance(row, PodRow) and row.problem)
    apps = sum(1 for row in store.rows("applications").values()
               if isinstance(row, AppRow) and row.health_status in ("Degraded", "Missing"))
    alerts = sum(1 for row in store.rows("alerts").values()
                 if isinstance(row, AlertRow) and row.state in ("firing", "active")
                 and row.severity == "critical" and not row.silenced_by)
    events = [h.last_event for name, h in store.all_health().items()
              if name.partition("@")[0] in CORE_SOURCES and h.last_event is not None]
    age = now - max(events) if events else None
    breaker = "unknown" if breaker_engaged is None else ("engaged" if breaker_engaged else "off")
    problem = _problem(store)
    failing = bool(nodes or pods or apps or alerts or breaker_engaged)
    verdict: Verdict = "failing" if failing else ("unknown" if problem else "ok")
    return ContextSummary(context=context, production=production, verdict=verdict,
                          nodes_not_ready=nodes, failing_pods=pods, degraded_apps=apps,
                          critical_alerts=alerts, breaker=breaker, data_age=age,
                          problem=problem)


def summary_line(s: ContextSummary) -> str:
    """``prod  FAILING  nodes 0 not ready  pods 3 failing  apps 1 degraded  alerts 2
    critical  breaker off  data 2s``: plain text (the context name is cleaned by the
    caller that shows it)."""
    from backends.timefmt import duration

    word = {"ok": "healthy", "failing": "FAILING", "unknown": "UNKNOWN"}[s.verdict]
    why = f" ({s.problem})" if s.problem else ""
    age = "-" if s.data_age is None else duration(max(0.0, s.data_age))
    return (f"{word}{why}  nodes {s.nodes_not_ready} not ready  pods {s.failing_pods} failing"
            f"  apps {s.degraded_apps} degraded  alerts {s.critical_alerts} critical"
            f"  breaker {s.breaker}  data {age}")
