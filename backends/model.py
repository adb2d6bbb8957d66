"""Row types: the slim, immutable records the store holds and the panels render.

Why slim: the generated Kubernetes client models cost 36 s and 3.1 GB for 30,000 pods; these
rows hold only what the panels, the actions and the baselines need, so the same pods fit in a
few tens of MB. Why ``frozen=True``: rows are shared between the store, the panels and the
planners; nobody may mutate one behind the store's back (one-way data flow), and frozen
structs compare by value, which is how the store skips no-op updates (a Node heartbeat that
changes nothing we show does not wake a panel). Why ``gc=False``: 30,000 pods held as
gc-tracked objects cost ~1.6 s pauses in full collections; rows contain only strings,
numbers and tuples of other rows, so they can never form reference cycles and need no
tracking.

Every display string in a row was passed through :mod:`backends.sanitize` by the decoder, once.
Exceptions are documented on the field (``AppRow.automated_json`` is kept byte-exact because
restoring auto-sync must write back exactly what was there).

Conventions:

- ``key`` is ``"namespace/name"`` for namespaced kinds (even when the namespace is empty) and
  ``"name"`` for cluster-scoped kinds; it doubles as the table row key.
- Timestamps are epoch seconds (float). ``created`` is ``0.0`` when unknown; optional moments
  (deletion, last restart, last seen) are ``None`` when absent.
- Label maps and selectors are tuples of ``(key, value)`` pairs: hashable and untracked.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from backends.model_parts import AppResource, ContainerInfo

__all__ = [
    "breaker_hold",
    "AUTO_SYNC_STATES",
    "CLUSTER_SCOPED_KINDS",
    "KINDS",
    "AlbRow",
    "AppResource",
    "AppRow",
    "AutoSync",
    "BackendRef",
    "BreakerHold",
    "Condition",
    "ContainerInfo",
    "DeploymentRow",
    "EventRow",
    "GatewayRow",
    "HistoryEntry",
    "Kind",
    "Listener",
    "NodeMetricsRow",
    "NodeRow",
    "ParentRef",
    "PodMetricsRow",
    "PodRow",
    "ReplicaSetRow",
    "RouteParent",
    "RouteRow",
    "RouteRule",
    "Row",
    "find_condition",
    "make_key",
]

Kind: TypeAlias = Literal[
    "nodes",
    "pods",
    "deployments",
    "replicasets",
    "events",
    "applications",
    "gateways",
    "httproutes",
    "applicationloadbalancers",
    "nodemetrics",
    "podmetrics",
]
KINDS: tuple[Kind, ...] = (
    "nodes",
    "pods",
    "deployments",
    "replicasets",
    "events",
    "applications",
    "gateways",
    "httproutes",
    "applicationloadbalancers",
    "nodemetrics",
    "podmetrics",
)
CLUSTER_SCOPED_KINDS: frozenset[str] = frozenset({"nodes", "nodemetrics"})

AutoSync: TypeAlias = Literal["on", "paused", "off"]
AUTO_SYNC_STATES: tuple[AutoSync, ...] = ("on", "paused", "off")


def make_key(namespace: str, name: str, *, namespaced: bool = True) -> str:
    """The row key: one rule everywhere so store lookups and table keys always agree."""
    return f"{namespace}/{name}" if namespaced else name


class _Part(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Base for the small value types nested inside rows."""


class Row(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Base of every row: ``key`` identifies it within its kind."""

    key: str


# ---------------------------------------------------------------- shared parts


class Condition(_Part, frozen=True):
    """One status condition. ``observed_generation`` is 0 when the writer did not set it."""

    type: str
    status: str
    reason: str = ""
    message: str = ""
    observed_generation: int = 0
    last_transition: float | None = None


def find_condition(conditions: tuple[Condition, ...], type_: str) -> Condition | None:
    """Return the condition of the given type, or None (a linear scan: there are a handful)."""
    for condition in conditions:
        if condition.type == type_:
            return condition
    return None


# ---------------------------------------------------------------- core and apps


class NodeRow(Row, frozen=True):
    """A node as the nodes panel and the drain/cordon planners need it."""

    name: str
    pool: str = ""
    ready: str = "Unknown"
    """Status of the Ready condition: "True", "False" or "Unknown" (also when missing)."""
    unschedulable: bool = False
    conditions: tuple[Condition, ...] = ()
    taints: tuple[str, ...] = ()
    """``key=value:Effect`` strings, e.g. ``node.kubernetes.io/unreachable:NoExecute``."""
    kubelet_version: str = ""
    node_image: str = ""
    """AKS ``kubernetes.azure.com/node-image-version`` label: what a node-image upgrade moves."""
    zone: str = ""
    instance_type: str = ""
    cpu_allocatable_m: float = 0.0
    """Allocatable CPU in millicores; 0 when unknown or unparsable (panels show "?")."""
    memory_allocatable: int = 0
    """Allocatable memory in bytes; 0 when unknown or unparsable."""
    created: float = 0.0


class PodRow(Row, frozen=True):
    """A pod, with kubectl's STATUS column precomputed.

    ``owner_kind``/``owner_name`` are the controller ownerReference as written. The
    Deployment is NOT guessed from the ReplicaSet name (hashes can collide with real names);
    the store resolves Pod -> ReplicaSet -> Deployment through ReplicaSet rows.
    """

    namespace: str
    name: str
    uid: str = ""
    phase: str = ""
    status: str = ""
    """What ``kubectl get pods`` prints in STATUS (CrashLoopBackOff, Init:1/2, Terminating...)."""
    message: str = ""
    """The most telling waiting/terminated message or ``status.message``, one line."""
    ready_containers: int = 0
    total_containers: int = 0
    restarts: int = 0
    last_restart: float | None = None
    node: str = ""
    owner_kind: str = ""
    owner_name: str = ""
    owner_uid: str = ""
    images: tuple[str, ...] = ()
    created: float = 0.0
    deleted: float | None = None
    """``metadata.deletionTimestamp``: the pod is going away (or is stuck doing so)."""
    problem: bool = False
    """Bad regardless of time: failing status, or running but not ready. Pending-too-long
    and restarts-rising depend on time and history, so the store decides those."""
    containers: tuple[ContainerInfo, ...] = ()  # init containers first, each in spec order


class DeploymentRow(Row, frozen=True):
    """A Deployment: the rollout numbers, health conditions, and what undo/scale need."""

    namespace: str
    name: str
    uid: str = ""
    generation: int = 0
    observed_generation: int = 0
    desired: int = 1
    """``spec.replicas`` (the API default is 1 when omitted)."""
    current: int = 0
    ready: int = 0
    updated: int = 0
    available: int = 0
    unavailable: int = 0
    images: tuple[str, ...] = ()
    paused: bool = False
    selector: tuple[tuple[str, str], ...] = ()
    """``spec.selector.matchLabels`` as sorted pairs (matchExpressions are not kept)."""
    conditions: tuple[Condition, ...] = ()
    progressing_status: str = ""
    progressing_reason: str = ""
    """E.g. ``ProgressDeadlineExceeded`` (rollout stuck) or ``NewReplicaSetAvailable``."""
    revision: int = 0
    """``deployment.kubernetes.io/revision``; 0 when absent."""
    argocd_app: str = ""
    """Argo CD app that manages this Deployment (tracking-id annotation or instance label):
    selfHeal there reverts hand-made scaling, so the planners warn."""
    created: float = 0.0
    breaker_mark: str = ""
    """The ``controlroom.io/breaker`` annotation as written (JSON: operation, by, since);
    "" when absent. Read with :func:`breaker_hold`."""
    last_manager: str = ""
    """``manager (operation)`` of the newest managedFields entry (not of a subresource):
    who made the latest spec change, for the timeline (issue 17)."""


class BreakerHold(msgspec.Struct, frozen=True, gc=False):
    """Who holds a Deployment at 0 with the circuit breaker, and since when."""

    by: str = ""
    since: float | None = None


def breaker_hold(row: DeploymentRow) -> BreakerHold | None:
    """The breaker's hold on a Deployment scaled to 0 (None when not held).

    Why on the row: a Deployment the breaker scaled to 0 reads 0/0, which sorts among the
    healthy idle ones; it is a casualty of an emergency and must stay in sight (issue 13).
    The mark's format is :func:`backends.ops.breaker_model.mark_value`'s (kept in sync by
    tests/test_widgets_rows.py); a mark that cannot be read still counts as held.
    """
    if not row.breaker_mark or row.desired != 0:
        return None
    import json
    from datetime import datetime

    try:
        mark = json.loads(row.breaker_mark)
    except ValueError:
        return BreakerHold()
    if not isinstance(mark, dict):
        return BreakerHold()
    since: float | None = None
    text = mark.get("since")
    if isinstance(text, str) and text:
        try:
            since = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            since = None
    by = mark.get("by")
    return BreakerHold(by=by if isinstance(by, str) else "", since=since)


class ReplicaSetRow(Row, frozen=True):
    """A ReplicaSet: the link from pods to their Deployment, and rollout history."""

    namespace: str
    name: str
    uid: str = ""
    owner_kind: str = ""
    owner_name: str = ""
    owner_uid: str = ""
    deployment: str = ""
    """Name of the controlling Deployment ("" when not owned by one)."""
    revision: int = 0
    desired: int = 0
    current: int = 0
    ready: int = 0
    available: int = 0
    images: tuple[str, ...] = ()
    template_hash: str = ""
    created: float = 0.0
    last_manager: str = ""
    """``manager (operation)`` of the newest managedFields entry (see DeploymentRow)."""


class EventRow(Row, frozen=True):
    """A core/v1 Event flattened for the warning-events panel."""

    namespace: str
    name: str
    uid: str = ""
    type: str = ""
    reason: str = ""
    message: str = ""
    """One line: the table shows one line per event."""
    object_kind: str = ""
    object_name: str = ""
    object_namespace: str = ""
    count: int = 1
    first_seen: float | None = None
    last_seen: float | None = None
    source: str = ""
    """``source.component`` or ``reportingComponent``."""
    created: float = 0.0


class HistoryEntry(_Part, frozen=True):
    """One ``status.history`` entry of an Application: the rollback targets."""

    id: int
    revision: str
    deployed_at: float | None = None


class AppRow(Row, frozen=True):
    """An Argo CD Application: sync/health, auto-sync state, and what rollback needs."""

    namespace: str
    name: str
    uid: str = ""
    project: str = ""
    sync_status: str = ""
    health_status: str = ""
    health_message: str = ""
    revision: str = ""
    """Synced revision; comma-joined ``revisions`` for multi-source apps."""
    target_revision: str = ""
    repo_url: str = ""
    multi_source: bool = False
    auto_sync: AutoSync = "off"
    """operations.md section 1: "on" when ``automated`` is present and ``enabled`` is absent
    or true, "paused" when ``automated.enabled`` is false, "off" when ``automated`` is absent."""
    automated_json: str | None = None
    """The ``spec.syncPolicy.automated`` block exactly as the server sent it (JSON text), or
    None when absent. Not sanitized and never displayed: restore writes it back verbatim."""
    self_heal: bool = False
    prune: bool = False
    operation_pending: bool = False
    """``operation`` is set on the object: rollback/sync must not start another."""
    operation_in_progress: bool = False
    """``operation`` is set or ``status.operationState.phase`` is Running."""
    operation_phase: str = ""
    operation_message: str = ""
    operation_finished: float | None = None
    operation_started: float | None = None
    initiated_by: str = ""
    """``operation.initiatedBy`` of the last operation: "automated" or the user's name."""
    operation_revision: str = ""
    """The revision the last operation synced (or was asked to)."""
    history: tuple[HistoryEntry, ...] = ()
    conditions: tuple[Condition, ...] = ()
    owner_kind: str = ""
    """``ApplicationSet`` means its controller rewrites syncPolicy: a pause may not hold."""
    owner_name: str = ""
    destination_namespace: str = ""
    destination: str = ""
    """``destination.name`` or ``destination.server``."""
    images: tuple[str, ...] = ()
    created: float = 0.0
    resources: tuple[AppResource, ...] = ()


# ---------------------------------------------------------------- traffic


class Listener(_Part, frozen=True):
    """A Gateway listener: spec (port, protocol) joined with its status by name."""

    name: str
    port: int = 0
    protocol: str = ""
    hostname: str = ""
    attached_routes: int = 0
    conditions: tuple[Condition, ...] = ()


class GatewayRow(Row, frozen=True):
    """A Gateway API Gateway."""

    namespace: str
    name: str
    uid: str = ""
    generation: int = 0
    gateway_class: str = ""
    addresses: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    listeners: tuple[Listener, ...] = ()
    created: float = 0.0


class ParentRef(_Part, frozen=True):
    """A reference from a route to its Gateway (namespace already defaulted to the route's)."""

    namespace: str
    name: str
    section_name: str = ""
    port: int = 0
    kind: str = "Gateway"


class RouteParent(_Part, frozen=True):
    """Status a controller reported for one parent of a route."""

    ref: ParentRef
    controller: str = ""
    conditions: tuple[Condition, ...] = ()


class BackendRef(_Part, frozen=True):
    """A weighted backend of a route rule (weight defaults to 1, 0 means no traffic)."""

    name: str
    namespace: str
    port: int = 0
    weight: int = 1
    kind: str = "Service"
    group: str = ""


class RouteRule(_Part, frozen=True):
    """One HTTPRoute rule. ``backends`` is an atomic list in the API: patch it whole."""

    name: str = ""
    matches: tuple[str, ...] = ()
    """Short summaries such as ``PathPrefix /login``; for display only."""
    backends: tuple[BackendRef, ...] = ()


class RouteRow(Row, frozen=True):
    """An HTTPRoute: desired parents and weights from spec, per-parent status."""

    namespace: str
    name: str
    uid: str = ""
    generation: int = 0
    last_manager: str = ""
    """``manager (operation)`` of the newest managedFields entry (see DeploymentRow)."""
    hostnames: tuple[str, ...] = ()
    parent_refs: tuple[ParentRef, ...] = ()
    parents: tuple[RouteParent, ...] = ()
    rules: tuple[RouteRule, ...] = ()
    created: float = 0.0


class AlbRow(Row, frozen=True):
    """An AGC ``ApplicationLoadBalancer`` (conditions Accepted, Deployment)."""

    namespace: str
    name: str
    uid: str = ""
    generation: int = 0
    conditions: tuple[Condition, ...] = ()
    created: float = 0.0


# ---------------------------------------------------------------- metrics


class NodeMetricsRow(Row, frozen=True):
    """metrics.k8s.io NodeMetrics usage."""

    name: str
    cpu_m: float = 0.0
    memory: int = 0
    timestamp: float | None = None
    window: str = ""


class PodMetricsRow(Row, frozen=True):
    """metrics.k8s.io PodMetrics usage summed over the pod's containers."""

    namespace: str
    name: str
    cpu_m: float = 0.0
    memory: int = 0
    timestamp: float | None = None
    window: str = ""
