"""A kube-state-metrics style ``/metrics`` endpoint of the drill cluster, plus app traffic.

Prometheus (started by the drill when its binary exists) scrapes this with the platform's alert
rules, so DeploymentReplicasMismatch and PodCrashLooping fire for the same reasons they fire in
production. Gauges are read from the cluster state at scrape time (nothing is done per write);
the request counters are integrated over scenario time by :meth:`TrafficModel.tick`, a
simulation hook, so ``rate(...)`` behaves like real traffic.

The traffic model: every Deployment behind an HTTPRoute gets its route's request rate times its
backend weight share; platform Deployments get a small internal rate. Requests to a backend
whose Service is missing answer 500, to one with no ready pods 503, and to a crash-looping
workload a share of 5xx in proportion to its not-ready pods, which is what an on-call engineer
sees in the error-ratio graphs during a bad rollout.

Request latency is a histogram (``http_request_duration_seconds``, Prometheus' default buckets)
so ``histogram_quantile(0.99, ...)`` works as it does against a real ingress. Each tick's
requests are spread over the buckets by an exponential distribution whose 99th percentile is
the workload's current p99 (:func:`p99_latency`); the ``controlroom_app_latency_p99_seconds``
gauge reports that same figure for the tick.

Every traffic series carries ``part_of``: the ``app.kubernetes.io/part-of`` label of the
workload (or of the HTTPRoute when its backend does not exist), which in the drill is the
Argo CD Application's name; a real Prometheus gets it by relabelling the pod label. It is what
the control room's signal queries group by, so a signal lines up with its Argo CD app.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from drill.resources import BY_KEY
from drill.state import ClusterState, Obj

DEPLOYMENTS = BY_KEY["deployments.apps"]
PODS = BY_KEY["pods"]
NODES = BY_KEY["nodes"]
SERVICES = BY_KEY["services"]
ROUTES = BY_KEY["httproutes.gateway.networking.k8s.io"]

ROUTE_RPS = 40.0
INTERNAL_RPS = 2.0
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
PART_OF = "app.kubernetes.io/part-of"
#: Upper bounds of the latency histogram's buckets (Prometheus client defaults), then +Inf.
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75,
                                      1.0, 2.5, 5.0, 7.5, 10.0)
_LN_100 = math.log(100.0)


def p99_latency(bad: float, t: float) -> float:
    """The p99 latency of a workload answering a share ``bad`` of failures, at time ``t``.

    A square root, not a straight line: p99 is a tail statistic, so a few percent of requests
    waiting on a crash-looping upstream (connect timeouts, retries) already set it. Healthy:
    about 50 ms with a slow wobble; 10% failing: about 350 ms; all failing: about 1 s.
    """
    return 0.05 + 0.95 * math.sqrt(min(max(bad, 0.0), 1.0)) + 0.01 * math.sin(t / 30.0) ** 2


def latency_shares(p99: float) -> tuple[float, ...]:
    """Cumulative share of requests at or under each bucket bound (then +Inf = 1).

    Latencies follow an exponential distribution with the given 99th percentile:
    ``P(X <= le) = 1 - exp(-le * ln(100) / p99)``.
    """
    rate = _LN_100 / max(p99, 1e-6)
    return (*(1.0 - math.exp(-le * rate) for le in LATENCY_BUCKETS), 1.0)


def _ready_pods(state: ClusterState, deploy: Obj) -> tuple[int, int]:
    """(ready, total) pods of a Deployment, by its selector's matchLabels."""
    ns = deploy["metadata"]["namespace"]
    want = (deploy.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    ready = total = 0
    for pod in state.readable(PODS, ns):
        labels = pod["metadata"].get("labels") or {}
        if not want or any(labels.get(k) != v for k, v in want.items()):
            continue
        if pod["metadata"].get("deletionTimestamp"):
            continue
        total += 1
        conds = (pod.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
            ready += 1
    return ready, total


def _part_of(obj: Obj | None, fallback: str) -> str:
    """The ``app.kubernetes.io/part-of`` label of an object, else ``fallback``."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return str(labels.get(PART_OF) or fallback)


def _service_deployment(state: ClusterState, ns: str, service: str) -> Obj | None:
    """The Deployment a Service selects (the drill's services select ``app=<deploy>``)."""
    svc = state.find_readable(SERVICES, ns, service)
    if svc is None:
        return None
    sel = (svc.get("spec") or {}).get("selector") or {}
    for d in state.readable(DEPLOYMENTS, ns):
        tmpl = ((d.get("spec") or {}).get("template") or {}).get("metadata") or {}
        labels = tmpl.get("labels") or {}
        if sel and all(labels.get(k) == v for k, v in sel.items()):
            return d
    return None


@dataclass
class AppTraffic:
    """Accumulated requests of one workload, by status code class."""

    ok: float = 0.0
    errors: dict[str, float] = field(default_factory=lambda: {"500": 0.0, "503": 0.0})
    rps: float = 0.0
    error_ratio: float = 0.0
    latency_p99: float = 0.05
    part_of: str = ""
    """The Argo CD app (``app.kubernetes.io/part-of``) the workload belongs to."""
    latency_buckets: list[float] = field(
        default_factory=lambda: [0.0] * (len(LATENCY_BUCKETS) + 1))
    """Cumulative request counts per bucket bound of :data:`LATENCY_BUCKETS`, then +Inf."""
    latency_sum: float = 0.0
    """Total seconds spent answering (the histogram's ``_sum``)."""


class TrafficModel:
    """Integrates request counters over scenario time from routes and pod readiness."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.apps: dict[tuple[str, str], AppTraffic] = {}
        self._last: float | None = None

    def _flows(self) -> list[tuple[str, str, float, str, str]]:
        """(namespace, workload, rps, forced error code or '', part_of) for the current
        objects."""
        flows: list[tuple[str, str, float, str, str]] = []
        routed: set[tuple[str, str]] = set()
        for route in self.state.readable(ROUTES):
            ns = route["metadata"]["namespace"]
            for rule in (route.get("spec") or {}).get("rules") or []:
                refs = rule.get("backendRefs") or []
                total = sum(max(0, int(r.get("weight", 1))) for r in refs) or 1
                for ref in refs:
                    share = max(0, int(ref.get("weight", 1))) / total
                    if share <= 0:
                        continue
                    rns = ref.get("namespace", ns)
                    deploy = _service_deployment(self.state, rns, ref.get("name", ""))
                    if deploy is None:
                        flows.append((rns, ref.get("name", ""), ROUTE_RPS * share, "500",
                                      _part_of(route, rns)))
                        continue
                    name = deploy["metadata"]["name"]
                    routed.add((rns, name))
                    flows.append((rns, name, ROUTE_RPS * share, "", _part_of(deploy, rns)))
        for d in self.state.readable(DEPLOYMENTS):
            key = (d["metadata"]["namespace"], d["metadata"]["name"])
            if key not in routed:
                flows.append((key[0], key[1], INTERNAL_RPS, "", _part_of(d, key[0])))
        return flows

    def tick(self, now: datetime) -> None:
        t = now.timestamp()
        dt = 0.0 if self._last is None else max(0.0, t - self._last)
        self._last = t
        seen: set[tuple[str, str]] = set()
        for ns, name, rps, forced, part_of in self._flows():
            app = self.apps.setdefault((ns, name), AppTraffic())
            if (ns, name) not in seen:
                app.rps = 0.0
                seen.add((ns, name))
            app.rps += rps
            app.part_of = part_of
            if forced:
                bad, code = 1.0, forced
            else:
                deploy = self.state.find_readable(DEPLOYMENTS, ns, name)
                ready, total = _ready_pods(self.state, deploy) if deploy else (0, 0)
                if ready == 0:
                    bad, code = 1.0, "503"
                else:
                    # not-ready pods still get a share of connections while endpoints settle
                    bad, code = (total - ready) / max(total, 1) * 0.5, "503"
            app.error_ratio = bad
            app.latency_p99 = p99_latency(bad, t)
            app.ok += rps * (1.0 - bad) * dt
            app.errors[code] = app.errors.get(code, 0.0) + rps * bad * dt
            served = rps * dt
            if served > 0:
                for index, share in enumerate(latency_shares(app.latency_p99)):
                    app.latency_buckets[index] += served * share
                # the exponential's mean is p99 / ln(100)
                app.latency_sum += served * app.latency_p99 / _LN_100
        # A workload that no longer receives traffic (a backend removed from its route, a
        # deleted Deployment) answers nothing, so it fails nothing: its gauges go quiet and
        # its counters stop. Left at their last values, the error ratio of a removed broken
        # backend stayed at 100% and its app's health endpoint at 503 after the right fix.
        for key, idle in self.apps.items():
            if key not in seen:
                idle.rps = idle.error_ratio = 0.0
                idle.latency_p99 = p99_latency(0.0, t)


class StateCollector(Collector):
    """Collects kube-state-metrics style series from the cluster state on every scrape."""

    def __init__(self, state: ClusterState, traffic: TrafficModel) -> None:
        self.state = state
        self.traffic = traffic

    def collect(self) -> Iterator[Metric]:
        yield from self._deployments()
        yield from self._pods()
        yield from self._nodes()
        yield from self._traffic()

    def _deployments(self) -> Iterator[Metric]:
        lab = ["namespace", "deployment"]
        spec = GaugeMetricFamily("kube_deployment_spec_replicas",
                                 "Number of desired pods for a deployment.", labels=lab)
        rep = GaugeMetricFamily("kube_deployment_status_replicas",
                                "The number of replicas per deployment.", labels=lab)
        avail = GaugeMetricFamily("kube_deployment_status_replicas_available",
                                  "The number of available replicas per deployment.",
                                  labels=lab)
        upd = GaugeMetricFamily("kube_deployment_status_replicas_updated",
                                "The number of updated replicas per deployment.", labels=lab)
        for d in self.state.readable(DEPLOYMENTS):
            values = [d["metadata"]["namespace"], d["metadata"]["name"]]
            status: dict[str, Any] = d.get("status") or {}
            spec.add_metric(values, float((d.get("spec") or {}).get("replicas", 1)))
            rep.add_metric(values, float(status.get("replicas", 0)))
            avail.add_metric(values, float(status.get("availableReplicas", 0)))
            upd.add_metric(values, float(status.get("updatedReplicas", 0)))
        yield from (spec, rep, avail, upd)

    def _pods(self) -> Iterator[Metric]:
        restarts = CounterMetricFamily(
            "kube_pod_container_status_restarts_total",
            "The number of container restarts per container.",
            labels=["namespace", "pod", "container"])
        phase = GaugeMetricFamily("kube_pod_status_phase", "The pods current phase.",
                                  labels=["namespace", "pod", "phase"])
        waiting = GaugeMetricFamily(
            "kube_pod_container_status_waiting_reason",
            "Describes the reason the container is currently in waiting state.",
            labels=["namespace", "pod", "container", "reason"])
        for pod in self.state.readable(PODS):
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            status = pod.get("status") or {}
            current = status.get("phase", "Pending")
            for p in PHASES:
                phase.add_metric([ns, name, p], 1.0 if p == current else 0.0)
            for cs in status.get("containerStatuses") or []:
                restarts.add_metric([ns, name, cs.get("name", "")],
                                    float(cs.get("restartCount", 0)))
                reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
                if reason:
                    waiting.add_metric([ns, name, cs.get("name", ""), reason], 1.0)
        yield from (restarts, phase, waiting)

    def _nodes(self) -> Iterator[Metric]:
        cond = GaugeMetricFamily("kube_node_status_condition",
                                 "The condition of a cluster node.",
                                 labels=["node", "condition", "status"])
        for node in self.state.readable(NODES):
            name = node["metadata"]["name"]
            for c in (node.get("status") or {}).get("conditions") or []:
                for s in ("true", "false", "unknown"):
                    cond.add_metric([name, c.get("type", ""), s],
                                    1.0 if str(c.get("status", "")).lower() == s else 0.0)
        yield cond

    def _traffic(self) -> Iterator[Metric]:
        lab = ["namespace", "app", "part_of"]
        total = CounterMetricFamily("http_requests_total",
                                    "HTTP requests served per app, by status code.",
                                    labels=[*lab, "code"])
        ratio = GaugeMetricFamily("controlroom_app_error_ratio",
                                  "Share of 5xx responses per app over the last tick.",
                                  labels=lab)
        p99 = GaugeMetricFamily("controlroom_app_latency_p99_seconds",
                                "p99 request latency per app.", labels=lab)
        duration = HistogramMetricFamily("http_request_duration_seconds",
                                         "HTTP request latency per app.", labels=lab)
        bounds = [*(repr(le) for le in LATENCY_BUCKETS), "+Inf"]
        for (ns, app), tr in sorted(self.traffic.apps.items()):
            values = [ns, app, tr.part_of or ns]
            total.add_metric([*values, "200"], tr.ok)
            for code, value in sorted(tr.errors.items()):
                total.add_metric([*values, code], value)
            ratio.add_metric(values, tr.error_ratio)
            p99.add_metric(values, tr.latency_p99)
            duration.add_metric(values, list(zip(bounds, tr.latency_buckets, strict=True)),
                                tr.latency_sum)
        yield from (total, ratio, p99, duration)


class Exporter:
    """The registry behind ``/metrics``."""

    def __init__(self, state: ClusterState) -> None:
        self.traffic = TrafficModel(state)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StateCollector(state, self.traffic))

    def render(self) -> bytes:
        return generate_latest(self.registry)
