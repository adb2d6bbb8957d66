"""Turn decoded input mirrors (:mod:`backends.kube.schema`) into rows (:mod:`backends.model`).

Core kinds live here (nodes, pods, workloads, events, metrics) with the helpers every
converter shares; Argo CD and Gateway API kinds are in :mod:`backends.kube.convert_crds`.

This is the one place where cluster strings are sanitized (operations.md section 10), so every
string copied into a row goes through :func:`backends.sanitize.clean` here and nowhere else.
The functions are pure; they raise ``ValueError`` (or ``msgspec.ValidationError``, a subclass)
when an item cannot be made into a row, which the decoder reports per item.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from backends import model as m
from backends.kube import schema as s
from backends.kube.containers import container_infos
from backends.kube.managed import last_manager
from backends.quantity import cpu_millicores, memory_bytes
from backends.sanitize import clean, plain_line

__all__ = [
    "MSG_MAX",
    "controller_ref",
    "created_at",
    "deployment_row",
    "epoch",
    "event_row",
    "make_conditions",
    "node_metrics_row",
    "node_row",
    "pod_metrics_row",
    "pod_row",
    "pod_status",
    "replicaset_row",
]

# One-line messages in tables: long enough for any real condition or event message.
MSG_MAX = 1024

_POOL_LABELS = (
    "kubernetes.azure.com/agentpool",
    "agentpool",
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
)
_TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
_INSTANCE_LABEL = "app.kubernetes.io/instance"
_REVISION_ANNOTATION = "deployment.kubernetes.io/revision"

# Pod statuses that are not a problem by themselves. Waiting states (Pending, Init:0/2,
# ContainerCreating) become problems only when they last too long: the store decides that.
_CALM_STATUSES = frozenset(
    {
        "Running",
        "Completed",
        "Succeeded",
        "Pending",
        "ContainerCreating",
        "PodInitializing",
        "Terminating",
        "SchedulingGated",
    }
)
_TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
_NO_OWNER = s.OwnerRefIn()


def epoch(value: datetime | None) -> float | None:
    """Epoch seconds of a decoded RFC3339 time; naive times are taken as UTC (the API's zone)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def created_at(meta: s.MetaIn) -> float:
    """Creation time, 0.0 when absent (templates and some controller outputs write null)."""
    return epoch(meta.creation_timestamp) or 0.0


def _to_int(text: str | None) -> int:
    """Lenient int for annotations (a garbage revision must not lose the row)."""
    if not text:
        return 0
    try:
        return int(text.strip())
    except ValueError:
        return 0


def make_conditions(items: Iterable[s.ConditionIn] | None) -> tuple[m.Condition, ...]:
    """Status conditions in the API's order (readers look them up by type)."""
    if not items:
        return ()
    return tuple(
        m.Condition(
            type=clean(c.type),
            status=clean(c.status),
            reason=clean(c.reason),
            message=clean(c.message, MSG_MAX),
            observed_generation=c.observed_generation,
            last_transition=epoch(c.last_transition_time),
        )
        for c in items
    )


def controller_ref(refs: list[s.OwnerRefIn] | None) -> s.OwnerRefIn | None:
    """The controlling ownerReference (controller=true), else the first one."""
    if not refs:
        return None
    for ref in refs:
        if ref.controller:
            return ref
    return refs[0]


def _images(containers: list[s.ContainerIn] | None) -> tuple[str, ...]:
    return tuple(clean(c.image) for c in containers) if containers else ()


def _pairs(labels: dict[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((clean(k), clean(v)) for k, v in labels.items())) if labels else ()


# ---------------------------------------------------------------- nodes


def node_row(node: s.NodeIn) -> m.NodeRow:
    """A node; an unparsable allocatable becomes 0 (unknown) rather than losing the node."""
    meta, spec, status = node.metadata, node.spec, node.status
    labels = meta.labels or {}
    pool = next((labels[k] for k in _POOL_LABELS if labels.get(k)), "")
    conditions = make_conditions(status.conditions)
    ready = m.find_condition(conditions, "Ready")
    allocatable = status.allocatable or {}
    try:
        cpu = cpu_millicores(allocatable["cpu"]) if "cpu" in allocatable else 0.0
    except ValueError:
        cpu = 0.0
    try:
        memory = memory_bytes(allocatable["memory"]) if "memory" in allocatable else 0
    except ValueError:
        memory = 0
    taints = tuple(
        clean(f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}")
        for t in spec.taints or ()
    )
    name = clean(meta.name)
    return m.NodeRow(
        key=name,
        name=name,
        pool=clean(pool),
        ready=ready.status if ready is not None and ready.status else "Unknown",
        unschedulable=spec.unschedulable,
        conditions=conditions,
        taints=taints,
        kubelet_version=clean(status.node_info.kubelet_version if status.node_info else ""),
        node_image=clean(labels.get("kubernetes.azure.com/node-image-version", "")),
        zone=clean(labels.get("topology.kubernetes.io/zone", "")),
        instance_type=clean(labels.get("node.kubernetes.io/instance-type", "")),
        cpu_allocatable_m=cpu,
        memory_allocatable=memory,
        created=created_at(meta),
    )


# ---------------------------------------------------------------- pods


def _finished_at(state: s.ContainerStateIn | None) -> float | None:
    if state is None or state.terminated is None:
        return None
    return epoch(state.terminated.finished_at)


def _later(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a >= b else b


def _condition_true(conditions: list[s.ConditionIn] | None, type_: str) -> bool:
    return any(c.type == type_ and c.status == "True" for c in conditions or ())


def pod_status(pod: s.PodIn) -> tuple[str, str, int, int, int, float | None]:
    """kubectl's STATUS, READY and RESTARTS columns for a pod.

    A line-by-line port of ``printPod`` in kubernetes/pkg/printers/internalversion, including
    native sidecars (init containers with ``restartPolicy: Always`` count as containers and
    as ready once started) and the "Completed but a container still runs" correction.
    Returns ``(status, message, ready, total, restarts, last_restart)``.
    """
    spec, st = pod.spec, pod.status
    init_specs = spec.init_containers or []
    sidecars = {c.name for c in init_specs if c.restart_policy == "Always"}
    total = len(spec.containers or ()) + len(sidecars)
    ready = 0
    restarts = 0
    sidecar_restarts = 0
    last_restart: float | None = None
    sidecar_last: float | None = None
    reason = st.reason or st.phase
    message = st.message
    for cond in st.conditions or ():
        if cond.type == "PodScheduled" and cond.reason == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    for index, cs in enumerate(st.init_container_statuses or ()):
        restarts += cs.restart_count
        finished = _finished_at(cs.last_state)
        last_restart = _later(last_restart, finished)
        is_sidecar = cs.name in sidecars
        if is_sidecar:
            sidecar_restarts += cs.restart_count
            sidecar_last = _later(sidecar_last, finished)
        terminated = cs.state.terminated if cs.state else None
        waiting = cs.state.waiting if cs.state else None
        if terminated is not None and terminated.exit_code == 0:
            continue
        if is_sidecar and cs.started:
            if cs.ready:
                ready += 1
            continue
        if terminated is not None:
            if terminated.reason:
                reason = "Init:" + terminated.reason
            elif terminated.signal:
                reason = f"Init:Signal:{terminated.signal}"
            else:
                reason = f"Init:ExitCode:{terminated.exit_code}"
            message = terminated.message or message
        elif waiting is not None and waiting.reason and waiting.reason != "PodInitializing":
            reason = "Init:" + waiting.reason
            message = waiting.message or message
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(st.conditions, "Initialized"):
        restarts = sidecar_restarts
        last_restart = sidecar_last
        has_running = False
        # Reversed, like kubectl: the first container's state ends up in STATUS.
        for cs in reversed(st.container_statuses or ()):
            restarts += cs.restart_count
            last_restart = _later(last_restart, _finished_at(cs.last_state))
            state = cs.state
            waiting = state.waiting if state else None
            terminated = state.terminated if state else None
            if waiting is not None and waiting.reason:
                reason, message = waiting.reason, waiting.message
            elif terminated is not None and terminated.reason:
                reason, message = terminated.reason, terminated.message
            elif terminated is not None:
                if terminated.signal:
                    reason = f"Signal:{terminated.signal}"
                else:
                    reason = f"ExitCode:{terminated.exit_code}"
                message = terminated.message
            elif cs.ready and state is not None and state.running is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(st.conditions, "Ready") else "NotReady"

    if pod.metadata.deletion_timestamp is not None:
        if st.reason == "NodeLost":
            reason = "Unknown"
        elif st.phase not in _TERMINAL_PHASES:
            reason = "Terminating"
    return reason or "Unknown", message, ready, total, restarts, last_restart


def _is_problem(status: str, ready: int, total: int) -> bool:
    if status == "Running":
        return ready < total
    if status in _CALM_STATUSES:
        return False
    # Init:1/3 is progress; Init:CrashLoopBackOff or Init:Error is not.
    if status.startswith("Init:"):
        progress = status[5:].partition("/")
        return not (progress[0].isdigit() and progress[2].isdigit())
    return True


def pod_row(pod: s.PodIn) -> m.PodRow:
    """A pod with kubectl's columns and the time-independent problem flag precomputed."""
    meta, spec = pod.metadata, pod.spec
    status, message, ready, total, restarts, last_restart = pod_status(pod)
    owner = controller_ref(meta.owner_references) or _NO_OWNER
    images = tuple(c.image for c in spec.containers) if spec.containers else ()
    texts = (meta.namespace, meta.name, meta.uid, pod.status.phase, status, message,
             spec.node_name, owner.kind, owner.name, owner.uid, *images)
    if not plain_line("".join(texts), MSG_MAX):
        # Something odd somewhere (rare): clean each string with its own limit.
        texts = (*(clean(t) for t in texts[:5]), clean(message, MSG_MAX),
                 *(clean(t) for t in texts[6:]))
        images = texts[10:]
    namespace, name, uid, phase, status, message, node, owner_kind, owner_name, owner_uid = (
        texts[:10]
    )
    return m.PodRow(
        key=m.make_key(namespace, name),
        namespace=namespace,
        name=name,
        uid=uid,
        phase=phase,
        status=status,
        message=message,
        ready_containers=ready,
        total_containers=total,
        restarts=restarts,
        last_restart=last_restart,
        node=node,
        owner_kind=owner_kind,
        owner_name=owner_name,
        owner_uid=owner_uid,
        images=images,
        created=created_at(meta),
        deleted=epoch(meta.deletion_timestamp),
        problem=_is_problem(status, ready, total),
        containers=container_infos(pod),
    )


# ---------------------------------------------------------------- workloads


_BREAKER_ANNOTATION = "controlroom.io/breaker"
"""backends.ops.breaker_model.BREAKER_ANNOTATION (not imported: kube must not load ops)."""


def _argocd_app(meta: s.LabeledMetaIn) -> str:
    """The managing Argo CD app: tracking-id annotation first, then the instance label.

    The label is also set by Helm charts (to the release name), so treat a label-only match
    as "possibly managed": good enough for a warning, never for a decision.
    """
    tracking = (meta.annotations or {}).get(_TRACKING_ANNOTATION, "")
    if tracking:
        return clean(tracking.partition(":")[0])
    return clean((meta.labels or {}).get(_INSTANCE_LABEL, ""))


def deployment_row(dep: s.WorkloadIn) -> m.DeploymentRow:
    """A Deployment; ``desired`` defaults to 1 like the API server does when unset."""
    meta, spec, status = dep.metadata, dep.spec, dep.status
    conditions = make_conditions(status.conditions)
    progressing = m.find_condition(conditions, "Progressing")
    namespace, name = clean(meta.namespace), clean(meta.name)
    return m.DeploymentRow(
        key=m.make_key(namespace, name),
        namespace=namespace,
        name=name,
        uid=clean(meta.uid),
        generation=meta.generation,
        observed_generation=status.observed_generation,
        desired=1 if spec.replicas is None else spec.replicas,
        current=status.replicas,
        ready=status.ready_replicas,
        updated=status.updated_replicas,
        available=status.available_replicas,
        unavailable=status.unavailable_replicas,
        images=_images(spec.template.spec.containers),
        paused=spec.paused,
        selector=_pairs(spec.selector.match_labels if spec.selector else None),
        conditions=conditions,
        progressing_status=progressing.status if progressing else "",
        progressing_reason=progressing.reason if progressing else "",
        revision=_to_int((meta.annotations or {}).get(_REVISION_ANNOTATION)),
        argocd_app=_argocd_app(meta),
        created=created_at(meta),
        breaker_mark=clean((meta.annotations or {}).get(_BREAKER_ANNOTATION, ""), 512),
        last_manager=last_manager(meta),
    )


def replicaset_row(rs: s.WorkloadIn) -> m.ReplicaSetRow:
    """A ReplicaSet, with its controlling Deployment from ownerReferences (never the name)."""
    meta, spec, status = rs.metadata, rs.spec, rs.status
    owner = controller_ref(meta.owner_references)
    owner_kind = clean(owner.kind) if owner else ""
    owner_name = clean(owner.name) if owner else ""
    namespace, name = clean(meta.namespace), clean(meta.name)
    return m.ReplicaSetRow(
        key=m.make_key(namespace, name),
        namespace=namespace,
        name=name,
        uid=clean(meta.uid),
        owner_kind=owner_kind,
        owner_name=owner_name,
        owner_uid=clean(owner.uid) if owner else "",
        deployment=owner_name if owner_kind == "Deployment" else "",
        revision=_to_int((meta.annotations or {}).get(_REVISION_ANNOTATION)),
        desired=1 if spec.replicas is None else spec.replicas,
        current=status.replicas,
        ready=status.ready_replicas,
        available=status.available_replicas,
        images=_images(spec.template.spec.containers),
        template_hash=clean((meta.labels or {}).get("pod-template-hash", "")),
        created=created_at(meta),
        last_manager=last_manager(meta),
    )


# ---------------------------------------------------------------- events


def event_row(ev: s.EventIn) -> m.EventRow:
    """An Event, reading both the legacy (count, *Timestamp) and the series/eventTime shape.

    Last seen prefers ``series.lastObservedTime`` like ``kubectl events`` does: for a series
    ``eventTime`` is the FIRST occurrence, so preferring it would make a storm look old.
    """
    meta, obj, series = ev.metadata, ev.involved_object, ev.series
    created = epoch(meta.creation_timestamp)
    series_last = epoch(series.last_observed_time) if series else None
    event_time = epoch(ev.event_time)
    first = epoch(ev.first_timestamp) or event_time or created
    last = series_last or epoch(ev.last_timestamp) or event_time or created
    if series is not None and series.count:
        count = series.count
    else:
        count = ev.count if ev.count else 1
    component = (ev.source.component if ev.source else "") or ev.reporting_component
    namespace, name = clean(meta.namespace), clean(meta.name)
    return m.EventRow(
        key=m.make_key(namespace, name),
        namespace=namespace,
        name=name,
        uid=clean(meta.uid),
        type=clean(ev.type),
        reason=clean(ev.reason),
        message=clean(ev.message, MSG_MAX),
        object_kind=clean(obj.kind),
        object_name=clean(obj.name),
        object_namespace=clean(obj.namespace),
        count=count,
        first_seen=first,
        last_seen=last,
        source=clean(component),
        created=created or 0.0,
    )


# ---------------------------------------------------------------- metrics


def node_metrics_row(nm: s.NodeMetricsIn) -> m.NodeMetricsRow:
    """Usage must parse: a wrong number is worse than a missing row, so errors propagate."""
    name = clean(nm.metadata.name)
    return m.NodeMetricsRow(
        key=name,
        name=name,
        cpu_m=cpu_millicores(nm.usage.cpu),
        memory=memory_bytes(nm.usage.memory),
        timestamp=epoch(nm.timestamp),
        window=clean(nm.window),
    )


def pod_metrics_row(pm: s.PodMetricsIn) -> m.PodMetricsRow:
    """Pod usage summed over containers, as ``kubectl top pod`` shows it."""
    containers = pm.containers or ()
    namespace, name = clean(pm.metadata.namespace), clean(pm.metadata.name)
    return m.PodMetricsRow(
        key=m.make_key(namespace, name),
        namespace=namespace,
        name=name,
        cpu_m=sum(cpu_millicores(c.usage.cpu) for c in containers),
        memory=sum(memory_bytes(c.usage.memory) for c in containers),
        timestamp=epoch(pm.timestamp),
        window=clean(pm.window),
    )
