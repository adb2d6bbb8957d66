"""The baseline document: what the cluster looked like, as one versioned JSON file.

A baseline is written before an update (``b`` in the control room, ``controlroom snapshot``)
and read back after it to diff and validate against. It is also the change record: it says
who took it, on which context, for which change, and carries the runbook checklist.

What is in it, and why only that:

- Only the fields listed here, copied from the store's slim rows. No Secret is ever listed
  (the sources do not watch Secrets), no environment value, no annotation, no
  ``automated_json``: a baseline gets attached to tickets and copied around, so it must not
  carry anything that could be a credential. URLs of health endpoints are stored without
  user-info and query string (tokens hide there).
- Healthy pods are summarised per workload (counts by phase, ready, restarts); only pods that
  are not running or not ready are listed one by one. 30,000 healthy pods make a few hundred
  summary lines, not 30,000 records: the file stays small and the diff stays readable.
- Sections that could not be captured (Prometheus not configured, pods forbidden) are named
  in :attr:`Baseline.missing`, so the diff never reports "all alerts are new" against a
  baseline that simply had no alert source.

Versioning: :data:`SCHEMA_VERSION` is bumped on any change an older reader would misread;
adding an optional field with a default is not such a change (unknown fields are ignored on
load). :mod:`.io` refuses a file with a newer schema by name ("written by a newer
controlroom"), never guesses.

Structs are frozen (shared between the diff, the validation and the screens) and use plain
JSON types, so ``msgspec.json`` encodes and validates them without hooks. Times are epoch
seconds, like everywhere in the store.
"""

from __future__ import annotations

from typing import Final

import msgspec

from backends.baseline.runbook import Checklist

__all__ = [
    "NOT_CONFIGURED",
    "REQUIRED_SECTIONS",
    "SCHEMA_VERSION",
    "AlertSnap",
    "AppSnap",
    "Baseline",
    "BackendSnap",
    "ConditionSnap",
    "EndpointSnap",
    "EventSnap",
    "GatewaySnap",
    "ListenerSnap",
    "NodeSnap",
    "PodGroup",
    "PodSnap",
    "RouteParentSnap",
    "RouteSnap",
    "SignalSnap",
    "SourceSnap",
    "WorkloadSnap",
]

SCHEMA_VERSION: Final = 1
"""Version of the document layout this controlroom writes and reads."""

REQUIRED_SECTIONS: Final = ("nodes", "workloads", "pods")
"""Without these a baseline says nothing worth comparing with: ``snapshot`` and ``b`` refuse
to write one that lacks any, and ``diff``/``validate`` refuse to compare against one (exit 2,
"cannot compare"): an empty baseline must never pass."""

NO_ALERT_SOURCE: Final = "no alert source configured (Prometheus or Alertmanager)"
NO_SIGNALS: Final = "no PromQL signals configured"
NO_ENDPOINTS: Final = "no health endpoints configured"
NOT_CONFIGURED: Final = frozenset({NO_ALERT_SOURCE, NO_SIGNALS, NO_ENDPOINTS})
"""The ``missing`` reasons that mean "nobody asked for this" (a check of it is skipped), as
opposed to "it could not be read" (a check of it cannot be made: never a pass)."""


class _Snap(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every part of the document."""


class ConditionSnap(_Snap, frozen=True):
    """A status condition (node, gateway, listener, route parent)."""

    type: str
    status: str
    reason: str = ""
    message: str = ""


class NodeSnap(_Snap, frozen=True):
    """A node: readiness, pool, version and usage (what ``kubectl top nodes`` shows)."""

    name: str
    ready: str
    """Status of the Ready condition: "True", "False" or "Unknown"."""
    unschedulable: bool = False
    pool: str = ""
    kubelet_version: str = ""
    node_image: str = ""
    conditions: list[ConditionSnap] = msgspec.field(default_factory=list)
    cpu_m: float | None = None
    """CPU usage in millicores; None when metrics were not available."""
    cpu_pct: float | None = None
    memory_bytes: int | None = None
    memory_pct: float | None = None


class WorkloadSnap(_Snap, frozen=True):
    """A Deployment's rollout numbers and images."""

    kind: str
    namespace: str
    name: str
    desired: int = 0
    current: int = 0
    """``status.replicas``: pods of every revision (more than desired mid-rollout)."""
    ready: int = 0
    updated: int = 0
    available: int = 0
    images: list[str] = msgspec.field(default_factory=list)
    generation: int = 0
    observed_generation: int = 0
    revision: int = 0
    paused: bool = False
    progressing_reason: str = ""
    argocd_app: str = ""

    @property
    def key(self) -> str:
        """``Kind/namespace/name``: the identity the diff and the pod groups use."""
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def mismatch(self) -> bool:
        """The replica counts disagree with ``desired`` (the DeploymentReplicasMismatch
        alert's condition, plus not ready, not available or not updated)."""
        d = self.desired
        return self.current != d or min(self.ready, self.available, self.updated) < d

    def replicas(self) -> str:
        """``replicas 4/3, ready 3, updated 1, available 3``: the numbers at a glance."""
        return (f"replicas {self.current}/{self.desired}, ready {self.ready}, updated "
                f"{self.updated}, available {self.available}")


class PodGroup(_Snap, frozen=True):
    """Every pod of one workload, summarised: the healthy ones are counted, not listed.

    ``kind`` is ``Deployment`` when the pod's ReplicaSet belongs to one, else the owner's kind
    as written (``StatefulSet``, ``DaemonSet``, ``Job``, ``ReplicaSet``), or ``Pod`` for a pod
    without an owner (then ``name`` is the pod's own name).
    """

    kind: str
    namespace: str
    name: str
    total: int = 0
    ready: int = 0
    """Pods whose containers are all ready."""
    restarts: int = 0
    """Sum of the restart counts of the group's pods."""
    phases: dict[str, int] = msgspec.field(default_factory=dict)

    @property
    def key(self) -> str:
        """``Kind/namespace/name``, as :attr:`WorkloadSnap.key`."""
        return f"{self.kind}/{self.namespace}/{self.name}"


class PodSnap(_Snap, frozen=True):
    """A pod that is not running or not ready (the problem pods), listed by name."""

    namespace: str
    name: str
    phase: str = ""
    status: str = ""
    """What kubectl prints in STATUS: CrashLoopBackOff, Pending, Init:0/1, Terminating..."""
    ready: str = ""
    """``ready/total`` containers, e.g. ``0/1``."""
    restarts: int = 0
    node: str = ""
    workload: str = ""
    """The :attr:`PodGroup.key` of the pod's group."""
    message: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class EventSnap(_Snap, frozen=True):
    """A warning event of the last hour."""

    namespace: str
    object: str
    """``Kind/name`` of the object the event is about."""
    reason: str = ""
    message: str = ""
    count: int = 1
    last_seen: float | None = None


class AppSnap(_Snap, frozen=True):
    """An Argo CD Application: sync, health, revision and auto-sync state."""

    namespace: str
    name: str
    project: str = ""
    sync: str = ""
    health: str = ""
    health_message: str = ""
    revision: str = ""
    target_revision: str = ""
    auto_sync: str = "off"
    """``on``, ``paused`` or ``off`` (operations.md section 1)."""
    self_heal: bool = False
    operation_phase: str = ""
    operation_message: str = ""
    images: list[str] = msgspec.field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class ListenerSnap(_Snap, frozen=True):
    """A Gateway listener and its conditions."""

    name: str
    port: int = 0
    protocol: str = ""
    attached_routes: int = 0
    conditions: list[ConditionSnap] = msgspec.field(default_factory=list)


class GatewaySnap(_Snap, frozen=True):
    """A Gateway API Gateway."""

    namespace: str
    name: str
    gateway_class: str = ""
    addresses: list[str] = msgspec.field(default_factory=list)
    conditions: list[ConditionSnap] = msgspec.field(default_factory=list)
    listeners: list[ListenerSnap] = msgspec.field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class RouteParentSnap(_Snap, frozen=True):
    """What a controller reported for one parent Gateway of a route."""

    gateway: str
    """``namespace/name`` (plus ``/section`` when the route names a listener)."""
    conditions: list[ConditionSnap] = msgspec.field(default_factory=list)


class BackendSnap(_Snap, frozen=True):
    """One weighted backend of one route rule."""

    rule: int
    """Index of the rule in the route (rules are unnamed in most routes)."""
    name: str
    namespace: str = ""
    port: int = 0
    weight: int = 1


class RouteSnap(_Snap, frozen=True):
    """An HTTPRoute: hostnames, per-parent conditions and backend weights."""

    namespace: str
    name: str
    hostnames: list[str] = msgspec.field(default_factory=list)
    parents: list[RouteParentSnap] = msgspec.field(default_factory=list)
    backends: list[BackendSnap] = msgspec.field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class AlertSnap(_Snap, frozen=True):
    """A pending, firing or silenced alert as one source reported it."""

    source: str
    alertname: str
    severity: str = ""
    state: str = ""
    fingerprint: str = ""
    """The source's fingerprint (Alertmanager's, or the label digest Prometheus rows use)."""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    since: float | None = None
    summary: str = ""


class EndpointSnap(_Snap, frozen=True):
    """One health endpoint probe (Argo CD ``/api/version``, Grafana ``/api/health``...)."""

    name: str
    url: str = ""
    """Without user-info and query string."""
    ok: bool = False
    status: int | None = None
    latency_ms: float | None = None
    error: str = ""
    checked_at: float | None = None


class SignalSnap(_Snap, frozen=True):
    """The latest value of one PromQL key signal of one app."""

    signal: str
    app: str
    latest: float | None = None
    status: str = "unknown"
    """``ok``, ``warn``, ``crit`` or ``unknown`` against the signal's thresholds."""
    unit: str = "number"

    @property
    def key(self) -> str:
        return f"{self.signal}/{self.app}"


class SourceSnap(_Snap, frozen=True):
    """How one data source was doing when the baseline was taken."""

    name: str
    state: str
    error: str = ""


class Baseline(_Snap, frozen=True):
    """The whole document. Field order is the order of the JSON file (header first)."""

    schema_version: int
    tool_version: str = ""
    context: str = ""
    cluster: str = ""
    taken_at: float = 0.0
    operator: str = ""
    change_id: str = ""
    nodes: list[NodeSnap] = msgspec.field(default_factory=list)
    workloads: list[WorkloadSnap] = msgspec.field(default_factory=list)
    pods: list[PodGroup] = msgspec.field(default_factory=list)
    problem_pods: list[PodSnap] = msgspec.field(default_factory=list)
    events: list[EventSnap] = msgspec.field(default_factory=list)
    apps: list[AppSnap] = msgspec.field(default_factory=list)
    gateways: list[GatewaySnap] = msgspec.field(default_factory=list)
    routes: list[RouteSnap] = msgspec.field(default_factory=list)
    alerts: list[AlertSnap] = msgspec.field(default_factory=list)
    endpoints: list[EndpointSnap] = msgspec.field(default_factory=list)
    signals: list[SignalSnap] = msgspec.field(default_factory=list)
    sources: list[SourceSnap] = msgspec.field(default_factory=list)
    missing: dict[str, str] = msgspec.field(default_factory=dict)
    """Section name -> why it was not captured (``alerts``: "no alert source configured")."""
    notes: list[str] = msgspec.field(default_factory=list)
    """What the capture left out on purpose (e.g. "1,204 more problem pods not listed")."""
    checklist: Checklist | None = None
    """The runbook (before/during/after checklists) as ticked when the baseline was taken."""

    def has(self, section: str) -> bool:
        """True when ``section`` was captured (the diff compares only what both sides have)."""
        return section not in self.missing

    def unreadable(self, section: str) -> str | None:
        """Why ``section`` could not be read (forbidden, not served, failed to decode...), or
        None when it was captured or simply not configured."""
        why = self.missing.get(section)
        return None if why is None or why in NOT_CONFIGURED else why

    def gaps(self, sections: tuple[str, ...] = REQUIRED_SECTIONS) -> list[str]:
        """``section: why`` for each of ``sections`` not captured (the required ones by
        default): empty for a baseline complete enough to write and compare with."""
        return [f"{section}: {self.missing[section]}" for section in sections
                if section in self.missing]
