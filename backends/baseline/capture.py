"""Take a baseline from the store: one pure function, shared by the ``b`` key and the CLI.

``capture(store, meta, now)`` reads the store's rows and returns a :class:`Baseline`; it does
no I/O and never awaits, so the control room can call it on the event loop (30,000 pods take
well under a second, see ``bench/bench_baseline.py``) and hand the document to
:func:`backends.baseline.io.write_baseline` in a thread.

How it stays fast and small: one pass over the pods, grouping each under its workload (pod ->
ReplicaSet -> Deployment through a dict built once from the ReplicaSet rows), counting phases,
ready pods and restarts per group; only pods that are not running or not ready are copied out
one by one. Those and the warning events are capped (:class:`CaptureLimits`) so a cluster in
meltdown still yields a file of bounded size; the cut is written into ``notes``.

What is never read: Secrets (no source watches them), environment values and annotations (the
rows do not hold them), ``AppRow.automated_json``. Endpoint URLs lose their user-info and
query string. Every string was sanitized when it entered the store; nothing here adds text
from outside.

Sections that could not be captured are named in ``Baseline.missing`` with the reason, taken
from the sources' health: a kind whose list was forbidden, or never completed, is missing; so
is one whose source is in error now (credentials refused mid-session) or holds objects that
failed to decode: what it holds is not the cluster's truth; and a core kind the server says it
does not serve (404 on nodes or pods is a wrong URL or a broken proxy, never an empty
cluster); alerts are missing when no alert source ever answered; signals when the PromQL
poller never answered; endpoints when none are configured.

Over 500 lines because capture is one pure pass from the store to every section of the
document, and what it reads about each source's health decides which sections are missing.

The header (:func:`make_meta`) is sanitized here: the context and cluster names come from a
kubeconfig, which is as untrusted as any cluster string (an OSC 52 sequence in a context
name reached the terminal through ``snapshot``).
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import msgspec

from backends.baseline.model import (
    NO_ALERT_SOURCE,
    NO_ENDPOINTS,
    NO_SIGNALS,
    SCHEMA_VERSION,
    AlertSnap,
    AppSnap,
    BackendSnap,
    Baseline,
    ConditionSnap,
    EndpointSnap,
    EventSnap,
    GatewaySnap,
    ListenerSnap,
    NodeSnap,
    PodGroup,
    PodSnap,
    RouteParentSnap,
    RouteSnap,
    SignalSnap,
    SourceSnap,
    WorkloadSnap,
)
from backends.baseline.runbook import Checklist, Facts, evaluate, facts_from_store
from backends.kube.problems import not_served_reason
from backends.model import (
    AppRow,
    Condition,
    DeploymentRow,
    EventRow,
    GatewayRow,
    NodeMetricsRow,
    NodeRow,
    PodRow,
    ReplicaSetRow,
    RouteRow,
)
from backends.sanitize import clean
from backends.signals.health import ENDPOINTS, EndpointRow
from backends.signals.health import SOURCE as ENDPOINTS_SOURCE
from backends.signals.model import ALERT_SOURCES, ALERTS, SIGNALS, AlertRow, SignalRow
from backends.signals.promql import SOURCE as SIGNALS_SOURCE
from backends.store import SourceHealth, Store

__all__ = [
    "CaptureLimits",
    "CaptureMeta",
    "capture",
    "make_meta",
    "redact_url",
    "tool_version",
    "with_checklist",
]

_MESSAGE_MAX = 300
"""Condition and event messages are cut here: enough to recognise, small in the file."""


class CaptureMeta(msgspec.Struct, frozen=True, kw_only=True):
    """Who takes the baseline, where and why (the document's header)."""

    context: str
    cluster: str = ""
    change_id: str = ""
    operator: str = ""
    tool_version: str = ""


@dataclass(frozen=True)
class CaptureLimits:
    """Caps that keep a baseline of a cluster in meltdown bounded in size."""

    problem_pods: int = 10_000
    events: int = 1_000
    event_window: float = 3600.0
    """Warning events older than this many seconds (by last seen) are left out."""


def tool_version() -> str:
    """This controlroom's version, as installed ("unknown" when run from a bare checkout)."""
    try:
        return importlib.metadata.version("controlroom")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def make_meta(context: str, cluster: str = "", change_id: str = "",
              operator: str | None = None) -> CaptureMeta:
    """The header for a baseline taken now by this user with this controlroom."""
    from backends.ops.gate import current_operator

    return CaptureMeta(context=clean(context, 253), cluster=clean(cluster, 253),
                       change_id=clean(change_id, 200).strip(),
                       operator=clean(operator if operator is not None else current_operator(),
                                      200),
                       tool_version=clean(tool_version(), 100))


def redact_url(url: str) -> str:
    """``url`` without user-info, query and fragment: where credentials and tokens hide."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0].rpartition("@")[2]
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def with_checklist(baseline: Baseline, checklist: Checklist,
                   store: Store | None = None) -> Baseline:
    """``baseline`` carrying ``checklist``, its automatic items evaluated: "Baseline taken"
    from the document itself, the others from ``store`` (the one the baseline was captured
    from; without it they stay unknown, which never ticks anything)."""
    now = baseline.taken_at
    facts = facts_from_store(store, now=now) if store is not None else Facts(now=now)
    facts = msgspec.structs.replace(facts, baseline_taken_at=now,
                                    baseline_by=baseline.operator)
    return msgspec.structs.replace(baseline, checklist=evaluate(checklist, facts))


# --------------------------------------------------------------------------- capture


def capture(store: Store, meta: CaptureMeta, now: float, *,
            checklist: Checklist | None = None,
            limits: CaptureLimits | None = None) -> Baseline:
    """A baseline of everything ``store`` holds at ``now`` (epoch seconds); pure, no I/O."""
    limits = limits or CaptureLimits()
    notes: list[str] = []
    groups, problems = _pods(store, limits, notes)
    return Baseline(
        schema_version=SCHEMA_VERSION,
        tool_version=meta.tool_version,
        context=meta.context,
        cluster=meta.cluster,
        taken_at=now,
        operator=meta.operator,
        change_id=meta.change_id,
        nodes=_nodes(store),
        workloads=_workloads(store),
        pods=groups,
        problem_pods=problems,
        events=_events(store, now, limits, notes),
        apps=_apps(store),
        gateways=_gateways(store),
        routes=_routes(store),
        alerts=_alerts(store),
        endpoints=_endpoints(store),
        signals=_signals(store),
        sources=[SourceSnap(name=name, state=h.state, error=h.error)
                 for name, h in sorted(store.all_health().items())],
        missing=_missing(store),
        notes=notes + _stale_notes(store),
        checklist=checklist,
    )


def _conditions(conditions: Iterable[Condition]) -> list[ConditionSnap]:
    return [ConditionSnap(type=c.type, status=c.status, reason=c.reason,
                          message=c.message[:_MESSAGE_MAX]) for c in conditions]


def _pct(used: float, total: float) -> float | None:
    return round(used / total * 100.0, 1) if total > 0 else None


def _nodes(store: Store) -> list[NodeSnap]:
    metrics = store.rows("nodemetrics")
    out: list[NodeSnap] = []
    for node in store.rows("nodes").values():
        if not isinstance(node, NodeRow):
            continue
        usage = metrics.get(node.key)
        cpu = mem = cpu_pct = mem_pct = None
        if isinstance(usage, NodeMetricsRow):
            cpu, mem = round(usage.cpu_m, 1), usage.memory
            cpu_pct = _pct(usage.cpu_m, node.cpu_allocatable_m)
            mem_pct = _pct(float(usage.memory), float(node.memory_allocatable))
        out.append(NodeSnap(
            name=node.name, ready=node.ready, unschedulable=node.unschedulable, pool=node.pool,
            kubelet_version=node.kubelet_version, node_image=node.node_image,
            conditions=_conditions(node.conditions), cpu_m=cpu, cpu_pct=cpu_pct,
            memory_bytes=mem, memory_pct=mem_pct))
    out.sort(key=lambda n: n.name)
    return out


def _workloads(store: Store) -> list[WorkloadSnap]:
    out = [
        WorkloadSnap(kind="Deployment", namespace=d.namespace, name=d.name, desired=d.desired,
                     current=d.current, ready=d.ready, updated=d.updated, available=d.available,
                     images=list(d.images), generation=d.generation,
                     observed_generation=d.observed_generation, revision=d.revision,
                     paused=d.paused, progressing_reason=d.progressing_reason,
                     argocd_app=d.argocd_app)
        for d in store.rows("deployments").values() if isinstance(d, DeploymentRow)
    ]
    out.sort(key=lambda w: (w.namespace, w.name))
    return out


def _is_problem(pod: PodRow) -> bool:
    """Not running, or running but not ready (Succeeded pods of Jobs are fine)."""
    if pod.problem:
        return True
    if pod.phase == "Succeeded":
        return False
    if pod.phase != "Running":
        return True
    return pod.total_containers > 0 and pod.ready_containers < pod.total_containers


class _Group:
    """Running totals of one pod group (a plain slotted object: 30,000 updates stay cheap)."""

    __slots__ = ("phases", "ready", "restarts", "total")

    def __init__(self) -> None:
        self.total = 0
        self.ready = 0
        self.restarts = 0
        self.phases: dict[str, int] = {}


def _pods(store: Store, limits: CaptureLimits,
          notes: list[str]) -> tuple[list[PodGroup], list[PodSnap]]:
    """One pass over the pods: per-workload summaries and the problem pods."""
    rs_deployment: dict[str, str] = {}
    for rs in store.rows("replicasets").values():
        if isinstance(rs, ReplicaSetRow) and rs.deployment:
            rs_deployment[rs.key] = rs.deployment
    acc: dict[tuple[str, str, str], _Group] = {}
    problems: list[PodSnap] = []
    dropped = 0
    for pod in store.rows("pods").values():
        if not isinstance(pod, PodRow):
            continue
        ns, owner_kind = pod.namespace, pod.owner_kind
        if owner_kind == "ReplicaSet":
            deployment = rs_deployment.get(f"{ns}/{pod.owner_name}")
            group = (("Deployment", ns, deployment) if deployment
                     else (owner_kind, ns, pod.owner_name))
        elif owner_kind:
            group = (owner_kind, ns, pod.owner_name)
        else:
            group = ("Pod", ns, pod.name)
        entry = acc.get(group)
        if entry is None:
            entry = acc[group] = _Group()
        entry.total += 1
        if pod.total_containers > 0 and pod.ready_containers >= pod.total_containers:
            entry.ready += 1
        entry.restarts += pod.restarts
        phase = pod.phase or "Unknown"
        entry.phases[phase] = entry.phases.get(phase, 0) + 1
        if _is_problem(pod):
            if len(problems) >= limits.problem_pods:
                dropped += 1
                continue
            problems.append(PodSnap(
                namespace=ns, name=pod.name, phase=pod.phase, status=pod.status,
                ready=f"{pod.ready_containers}/{pod.total_containers}",
                restarts=pod.restarts, node=pod.node, workload="/".join(group),
                message=pod.message[:_MESSAGE_MAX]))
    if dropped:
        notes.append(f"{dropped} more pods that are not running or not ready are counted in "
                     f"their workload's summary but not listed (limit {limits.problem_pods})")
    groups = [PodGroup(kind=kind, namespace=ns, name=name, total=e.total, ready=e.ready,
                       restarts=e.restarts, phases=dict(sorted(e.phases.items())))
              for (kind, ns, name), e in acc.items()]
    groups.sort(key=lambda g: (g.namespace, g.kind, g.name))
    problems.sort(key=lambda p: (p.namespace, p.name))
    return groups, problems


def _events(store: Store, now: float, limits: CaptureLimits, notes: list[str]) -> list[EventSnap]:
    since = now - limits.event_window
    recent: list[tuple[float, EventRow]] = []
    for ev in store.rows("events").values():
        if not isinstance(ev, EventRow) or ev.type != "Warning":
            continue
        when = ev.last_seen or ev.first_seen or ev.created or None
        if when is not None and when < since:
            continue
        recent.append((when if when is not None else now, ev))
    recent.sort(key=lambda item: item[0], reverse=True)
    if len(recent) > limits.events:
        notes.append(f"{len(recent) - limits.events} older warning events of the last hour "
                     f"left out (limit {limits.events})")
        del recent[limits.events:]
    return [EventSnap(namespace=ev.object_namespace or ev.namespace,
                      object=f"{ev.object_kind}/{ev.object_name}", reason=ev.reason,
                      message=ev.message[:_MESSAGE_MAX], count=ev.count, last_seen=when)
            for when, ev in recent]


def _apps(store: Store) -> list[AppSnap]:
    out = [
        AppSnap(namespace=a.namespace, name=a.name, project=a.project, sync=a.sync_status,
                health=a.health_status, health_message=a.health_message[:_MESSAGE_MAX],
                revision=a.revision, target_revision=a.target_revision, auto_sync=a.auto_sync,
                self_heal=a.self_heal, operation_phase=a.operation_phase,
                operation_message=a.operation_message[:_MESSAGE_MAX], images=list(a.images))
        for a in store.rows("applications").values() if isinstance(a, AppRow)
    ]
    out.sort(key=lambda a: (a.namespace, a.name))
    return out


def _gateways(store: Store) -> list[GatewaySnap]:
    out = [
        GatewaySnap(namespace=g.namespace, name=g.name, gateway_class=g.gateway_class,
                    addresses=list(g.addresses), conditions=_conditions(g.conditions),
                    listeners=[ListenerSnap(name=lst.name, port=lst.port,
                                            protocol=lst.protocol,
                                            attached_routes=lst.attached_routes,
                                            conditions=_conditions(lst.conditions))
                               for lst in g.listeners])
        for g in store.rows("gateways").values() if isinstance(g, GatewayRow)
    ]
    out.sort(key=lambda g: (g.namespace, g.name))
    return out


def _routes(store: Store) -> list[RouteSnap]:
    out: list[RouteSnap] = []
    for r in store.rows("httproutes").values():
        if not isinstance(r, RouteRow):
            continue
        parents = []
        for p in r.parents:
            gateway = f"{p.ref.namespace}/{p.ref.name}"
            if p.ref.section_name:
                gateway += f"/{p.ref.section_name}"
            parents.append(RouteParentSnap(gateway=gateway,
                                           conditions=_conditions(p.conditions)))
        backends = [BackendSnap(rule=i, name=b.name, namespace=b.namespace, port=b.port,
                                weight=b.weight)
                    for i, rule in enumerate(r.rules) for b in rule.backends]
        out.append(RouteSnap(namespace=r.namespace, name=r.name, hostnames=list(r.hostnames),
                             parents=parents, backends=backends))
    out.sort(key=lambda r: (r.namespace, r.name))
    return out


def _alerts(store: Store) -> list[AlertSnap]:
    out = [AlertSnap(source=a.source, alertname=a.alertname, severity=a.severity,
                     state=a.state, fingerprint=a.fingerprint, labels=dict(a.labels),
                     since=a.since, summary=a.summary[:_MESSAGE_MAX])
           for a in store.rows(ALERTS).values()
           if isinstance(a, AlertRow) and a.state != "resolved"]
    out.sort(key=lambda a: (a.alertname, a.source, a.fingerprint))
    return out


def _endpoints(store: Store) -> list[EndpointSnap]:
    out = [
        EndpointSnap(name=e.name, url=redact_url(e.url), ok=e.ok, status=e.status,
                     latency_ms=e.latency_ms, error=e.error[:_MESSAGE_MAX],
                     checked_at=e.checked_at)
        for e in store.rows(ENDPOINTS).values() if isinstance(e, EndpointRow)
    ]
    out.sort(key=lambda e: e.name)
    return out


def _signals(store: Store) -> list[SignalSnap]:
    out = [
        SignalSnap(signal=s.signal, app=s.app, latest=s.latest, status=s.status, unit=s.unit)
        for s in store.rows(SIGNALS).values() if isinstance(s, SignalRow)
    ]
    out.sort(key=lambda s: (s.signal, s.app))
    return out


# --------------------------------------------------------------------------- coverage

_KUBE_SECTIONS: dict[str, tuple[str, ...]] = {
    "nodes": ("nodes",),
    "workloads": ("deployments",),
    "pods": ("pods", "replicasets"),
    "events": ("events",),
    "apps": ("applications",),
    "gateways": ("gateways",),
    "routes": ("httproutes",),
}
"""Document section -> the store kinds (and so the watch sources) it is made from."""


_CORE_KINDS: Final = frozenset({"nodes", "pods", "deployments", "replicasets", "events"})
"""Kinds every Kubernetes API serves: "not installed" for one of them means the server is not
the Kubernetes API it claims to be (a wrong URL, a proxy answering 404), not an empty kind."""


def _source_problem(health: Mapping[str, SourceHealth], kind: str) -> str:
    """Why ``kind`` was not captured, or "" when it was (or nothing says otherwise)."""
    for name, h in health.items():
        if name != kind and not name.startswith(f"{kind}@"):
            continue
        why = f": {h.error}" if h.error else ""
        if h.state == "forbidden":
            return f"{name}: forbidden{why}"
        # Discovery said so, or the watch source found it not served (an error, then).
        if kind in _CORE_KINDS and (h.state == "not_installed"
                                    or (h.state == "error" and h.error == not_served_reason())):
            return f"{name}: not served by the API server{why}"
        if h.undecodable:  # live, but objects of the kind are missing: not the truth
            return (f"{name}: {h.undecodable} object(s) could not be decoded: "
                    + "; ".join(h.undecodable_objects))
        if h.state == "error":  # after data too: an undecodable list, 401 mid-session
            return (f"{name}: not listed yet (error{why})" if h.last_event is None
                    else f"{name}: error{why}")
        if h.last_event is None and h.state in ("connecting", "stale"):
            return f"{name}: not listed yet ({h.state}{why})"
    return ""


def _stale_notes(store: Store) -> list[str]:
    """Sources that had data but lost their connection: what they hold is the last known."""
    return [f"{name}: last known data, the source is unreachable since "
            + time.strftime("%H:%M:%S UTC", time.gmtime(h.since))
            + (f" ({h.error})" if h.error else "")
            for name, h in sorted(store.all_health().items())
            if h.state == "stale" and h.last_event is not None]


def _missing(store: Store) -> dict[str, str]:
    health = store.all_health()
    missing: dict[str, str] = {}
    for section, kinds in _KUBE_SECTIONS.items():
        for kind in kinds:
            problem = _source_problem(health, kind)
            if problem:
                missing[section] = problem
                break
    unserved = [section for section in ("nodes", "workloads", "pods")
                if "not served by the API server" in missing.get(section, "")]
    if unserved:  # then its "Argo CD not installed" is no more believable than its 0 nodes
        for section in ("apps", "gateways", "routes"):
            missing.setdefault(section, f"not believable: the API server does not serve "
                               f"{', '.join(unserved)} either")
    configured = [s for s in ALERT_SOURCES if s in health]
    silent = [s for s in configured if health[s].last_event is None]
    # A source answering garbage is in "error" after an answer: its alerts are not known.
    broken = [f"{s}: {health[s].error or 'error'}" for s in configured
              if health[s].state == "error" and health[s].last_event is not None]
    if not configured and not store.count(ALERTS):
        missing["alerts"] = NO_ALERT_SOURCE
    elif configured and (len(silent) == len(configured) or broken):
        missing["alerts"] = "; ".join(
            ([f"no answer from {', '.join(silent)}"] if silent else []) + broken)
    signals = health.get(SIGNALS_SOURCE)
    if not store.count(SIGNALS) and (signals is None or signals.last_event is None):
        missing["signals"] = (NO_SIGNALS if signals is None
                              else f"no answer from Prometheus: {signals.error}")
    if not store.count(ENDPOINTS) and ENDPOINTS_SOURCE not in health:
        missing["endpoints"] = NO_ENDPOINTS
    metrics = _source_problem(health, "nodemetrics")
    if metrics or not store.count("nodemetrics"):
        missing["usage"] = metrics or "no node metrics (metrics-server)"
    return missing
