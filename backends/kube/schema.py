"""Lenient msgspec mirrors of the Kubernetes JSON we read: only the fields the rows need.

msgspec skips unknown fields without building them, so declaring only what we use is what
makes decoding 30,000 pods take a fraction of a second: managedFields, volumes, env, probes,
last-applied annotations on pods are never materialised. Every field has a default, because a
field the server omits (``omitempty``) must not fail a decode. Fields that upstream writes as
explicit ``null`` (timestamps in templates and events, ``series``, ``operation``) are
Optional. ``rename="camel"`` maps ``creation_timestamp`` to ``creationTimestamp``.

These structs are transient (decoded, converted to rows, dropped), so ``gc=False`` only saves
the collector some work during a big list; they never form cycles.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

import msgspec

from backends.kube.schema_parts import HistoryIn, ManagedFieldIn, OperationStateIn

T = TypeVar("T")

RAW_NULL = msgspec.Raw(b"null")
"""Default for Raw fields: msgspec cannot express ``Raw | None``, so absent reads as null."""


class _In(msgspec.Struct, rename="camel", gc=False):
    """Base for all input mirrors (config is inherited)."""


# ---------------------------------------------------------------- metadata and lists


class OwnerRefIn(_In):
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None


class MetaIn(_In):
    """Object metadata without labels/annotations (pods and events do not need them)."""

    name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    owner_references: list[OwnerRefIn] | None = None


class LabeledMetaIn(MetaIn):
    """Metadata with labels and annotations, for kinds whose rows use some of them."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class TrackedMetaIn(LabeledMetaIn):
    """Metadata with its writers, for kinds whose changes the timeline names an actor for
    (issue 17): Deployments, ReplicaSets, Applications, HTTPRoutes. Not pods or nodes:
    their writers change every heartbeat and nobody asks who wrote them."""

    managed_fields: list[ManagedFieldIn] | None = None


class ListMetaIn(_In):
    resource_version: str = ""
    # "continue" is a Python keyword.
    continue_: str = msgspec.field(default="", name="continue")


class KList(_In, Generic[T]):
    """Any ``*List`` response: ``{metadata: {resourceVersion, continue}, items: [...]}``."""

    items: list[T] | None = None
    metadata: ListMetaIn = msgspec.field(default_factory=ListMetaIn)


class WatchEventIn(_In):
    """One line of a watch stream. ``object`` is decoded in a second step by event type."""

    type: str = ""
    object: msgspec.Raw = RAW_NULL


class MetaOnlyIn(_In):
    """Just enough of an object to read a BOOKMARK's resourceVersion."""

    metadata: MetaIn = msgspec.field(default_factory=MetaIn)


class StatusIn(msgspec.Struct, rename="camel", frozen=True, gc=False):
    """A ``metav1.Status`` (ERROR watch events, e.g. code 410 reason Expired)."""

    code: int = 0
    reason: str = ""
    message: str = ""
    status: str = ""


class ConditionIn(_In):
    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""
    observed_generation: int = 0
    last_transition_time: datetime | None = None


# ---------------------------------------------------------------- nodes


class TaintIn(_In):
    key: str = ""
    value: str = ""
    effect: str = ""


class NodeSpecIn(_In):
    unschedulable: bool = False
    taints: list[TaintIn] | None = None


class NodeInfoIn(_In):
    kubelet_version: str = ""


class NodeStatusIn(_In):
    allocatable: dict[str, str] | None = None
    conditions: list[ConditionIn] | None = None
    node_info: NodeInfoIn | None = None


class NodeIn(_In):
    metadata: LabeledMetaIn = msgspec.field(default_factory=LabeledMetaIn)
    spec: NodeSpecIn = msgspec.field(default_factory=NodeSpecIn)
    status: NodeStatusIn = msgspec.field(default_factory=NodeStatusIn)


# ---------------------------------------------------------------- pods


class ContainerIn(_In):
    name: str = ""
    image: str = ""
    restart_policy: str = ""


class PodSpecIn(_In):
    node_name: str = ""
    containers: list[ContainerIn] | None = None
    init_containers: list[ContainerIn] | None = None


class WaitingIn(_In):
    reason: str = ""
    message: str = ""


class RunningIn(_In):
    started_at: datetime | None = None


class TerminatedIn(_In):
    reason: str = ""
    message: str = ""
    exit_code: int = 0
    signal: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ContainerStateIn(_In):
    waiting: WaitingIn | None = None
    running: RunningIn | None = None
    terminated: TerminatedIn | None = None


class ContainerStatusIn(_In):
    name: str = ""
    ready: bool = False
    started: bool | None = None
    restart_count: int = 0
    state: ContainerStateIn | None = None
    last_state: ContainerStateIn | None = None


class PodStatusIn(_In):
    phase: str = ""
    reason: str = ""
    message: str = ""
    conditions: list[ConditionIn] | None = None
    container_statuses: list[ContainerStatusIn] | None = None
    init_container_statuses: list[ContainerStatusIn] | None = None


class PodIn(_In):
    metadata: MetaIn = msgspec.field(default_factory=MetaIn)
    spec: PodSpecIn = msgspec.field(default_factory=PodSpecIn)
    status: PodStatusIn = msgspec.field(default_factory=PodStatusIn)


# ---------------------------------------------------------------- workloads


class SelectorIn(_In):
    match_labels: dict[str, str] | None = None


class TemplateSpecIn(_In):
    containers: list[ContainerIn] | None = None


class TemplateMetaIn(_In):
    labels: dict[str, str] | None = None


class TemplateIn(_In):
    metadata: TemplateMetaIn = msgspec.field(default_factory=TemplateMetaIn)
    spec: TemplateSpecIn = msgspec.field(default_factory=TemplateSpecIn)


class WorkloadSpecIn(_In):
    replicas: int | None = None
    paused: bool = False
    selector: SelectorIn | None = None
    template: TemplateIn = msgspec.field(default_factory=TemplateIn)


class WorkloadStatusIn(_In):
    observed_generation: int = 0
    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    available_replicas: int = 0
    unavailable_replicas: int = 0
    conditions: list[ConditionIn] | None = None


class WorkloadIn(_In):
    """Deployments and ReplicaSets share this shape for everything we read."""

    metadata: TrackedMetaIn = msgspec.field(default_factory=TrackedMetaIn)
    spec: WorkloadSpecIn = msgspec.field(default_factory=WorkloadSpecIn)
    status: WorkloadStatusIn = msgspec.field(default_factory=WorkloadStatusIn)


# ---------------------------------------------------------------- events


class ObjectRefIn(_In):
    kind: str = ""
    name: str = ""
    namespace: str = ""


class EventSourceIn(_In):
    component: str = ""


class EventSeriesIn(_In):
    count: int = 0
    last_observed_time: datetime | None = None


class EventIn(_In):
    metadata: MetaIn = msgspec.field(default_factory=MetaIn)
    type: str = ""
    reason: str = ""
    message: str = ""
    involved_object: ObjectRefIn = msgspec.field(default_factory=ObjectRefIn)
    count: int | None = None
    first_timestamp: datetime | None = None
    last_timestamp: datetime | None = None
    event_time: datetime | None = None
    series: EventSeriesIn | None = None
    source: EventSourceIn | None = None
    reporting_component: str = ""


# ---------------------------------------------------------------- Argo CD


class AutomatedIn(_In):
    prune: bool = False
    self_heal: bool = False
    allow_empty: bool = False
    enabled: bool | None = None


class SyncPolicyIn(_In):
    # Raw: restore must write back the exact block, so it is re-encoded from these bytes.
    automated: msgspec.Raw = RAW_NULL


class AppSourceIn(_In):
    repo_url: str = msgspec.field(default="", name="repoURL")
    target_revision: str = ""


class DestinationIn(_In):
    server: str = ""
    name: str = ""
    namespace: str = ""


class AppSpecIn(_In):
    project: str = ""
    source: AppSourceIn | None = None
    sources: list[AppSourceIn] | None = None
    destination: DestinationIn = msgspec.field(default_factory=DestinationIn)
    sync_policy: SyncPolicyIn | None = None


class AppSyncIn(_In):
    status: str = ""
    revision: str = ""
    revisions: list[str] | None = None


class AppHealthIn(_In):
    status: str = ""
    message: str = ""


class AppConditionIn(_In):
    type: str = ""
    message: str = ""
    last_transition_time: datetime | None = None


class AppSummaryIn(_In):
    images: list[str] | None = None


class AppResourceIn(_In):
    group: str = ""
    version: str = ""
    kind: str = ""
    namespace: str = ""
    name: str = ""
    status: str = ""
    health: AppHealthIn | None = None
    requires_pruning: bool = False


class AppStatusIn(_In):
    sync: AppSyncIn = msgspec.field(default_factory=AppSyncIn)
    health: AppHealthIn = msgspec.field(default_factory=AppHealthIn)
    history: list[HistoryIn] | None = None
    operation_state: OperationStateIn | None = None
    conditions: list[AppConditionIn] | None = None
    summary: AppSummaryIn | None = None
    resources: list[AppResourceIn] | None = None


class AppIn(_In):
    metadata: TrackedMetaIn = msgspec.field(default_factory=TrackedMetaIn)
    spec: AppSpecIn = msgspec.field(default_factory=AppSpecIn)
    status: AppStatusIn = msgspec.field(default_factory=AppStatusIn)
    # Only presence matters; Raw avoids decoding its (possibly large) body.
    operation: msgspec.Raw = RAW_NULL


# ---------------------------------------------------------------- Gateway API and AGC


class ListenerSpecIn(_In):
    name: str = ""
    port: int = 0
    protocol: str = ""
    hostname: str | None = None


class GatewaySpecIn(_In):
    gateway_class_name: str = ""
    listeners: list[ListenerSpecIn] | None = None


class AddressIn(_In):
    type: str = ""
    value: str = ""


class ListenerStatusIn(_In):
    name: str = ""
    attached_routes: int = 0
    conditions: list[ConditionIn] | None = None


class GatewayStatusIn(_In):
    addresses: list[AddressIn] | None = None
    conditions: list[ConditionIn] | None = None
    listeners: list[ListenerStatusIn] | None = None


class GatewayIn(_In):
    metadata: MetaIn = msgspec.field(default_factory=MetaIn)
    spec: GatewaySpecIn = msgspec.field(default_factory=GatewaySpecIn)
    status: GatewayStatusIn = msgspec.field(default_factory=GatewayStatusIn)


class ParentRefIn(_In):
    group: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str = ""
    section_name: str | None = None
    port: int | None = None


class BackendRefIn(_In):
    group: str | None = None
    kind: str | None = None
    name: str = ""
    namespace: str | None = None
    port: int | None = None
    weight: int | None = None


class PathMatchIn(_In):
    type: str | None = None
    value: str | None = None


class RouteMatchIn(_In):
    path: PathMatchIn | None = None
    method: str | None = None


class RouteRuleIn(_In):
    name: str | None = None
    matches: list[RouteMatchIn] | None = None
    backend_refs: list[BackendRefIn] | None = None


class RouteSpecIn(_In):
    parent_refs: list[ParentRefIn] | None = None
    hostnames: list[str] | None = None
    rules: list[RouteRuleIn] | None = None


class RouteParentStatusIn(_In):
    parent_ref: ParentRefIn = msgspec.field(default_factory=ParentRefIn)
    controller_name: str = ""
    conditions: list[ConditionIn] | None = None


class RouteStatusIn(_In):
    parents: list[RouteParentStatusIn] | None = None


class RouteIn(_In):
    metadata: TrackedMetaIn = msgspec.field(default_factory=TrackedMetaIn)
    spec: RouteSpecIn = msgspec.field(default_factory=RouteSpecIn)
    status: RouteStatusIn = msgspec.field(default_factory=RouteStatusIn)


class ConditionsStatusIn(_In):
    conditions: list[ConditionIn] | None = None


class AlbIn(_In):
    metadata: MetaIn = msgspec.field(default_factory=MetaIn)
    status: ConditionsStatusIn = msgspec.field(default_factory=ConditionsStatusIn)


# ---------------------------------------------------------------- metrics.k8s.io


class UsageIn(_In):
    cpu: str = "0"
    memory: str = "0"


class NodeMetricsIn(_In):
    metadata: MetaIn = msgspec.field(default_factory=MetaIn)
    timestamp: datetime | None = None
    window: str = ""
    usage: UsageIn = msgspec.field(default_factory=UsageIn)


class ContainerMetricsIn(_In):
    name: str = ""
    usage: UsageIn = msgspec.field(default_factory=UsageIn)


class PodMetricsIn(_In):
    metadata: MetaIn = msgspec.field(default_factory=MetaIn)
    timestamp: datetime | None = None
    window: str = ""
    containers: list[ContainerMetricsIn] | None = None
