"""Converters for custom resources: Argo CD Applications, Gateway API, AGC load balancers.

Split from :mod:`backends.kube.convert` (which holds the shared helpers) to keep each file
readable. The same rule applies: every string copied into a row is sanitized here, once.
"""

from __future__ import annotations

import msgspec

from backends import model as m
from backends.kube import schema as s
from backends.kube.convert import (
    MSG_MAX,
    controller_ref,
    created_at,
    epoch,
    make_conditions,
)
from backends.kube.managed import last_manager
from backends.sanitize import clean

__all__ = ["alb_row", "app_row", "gateway_row", "route_row"]

# ---------------------------------------------------------------- Argo CD

_AUTOMATED_DECODER = msgspec.json.Decoder(s.AutomatedIn)


def _initiated_by(op_state: s.OperationStateIn | None) -> str:
    """``automated`` or the user who started the last operation ("" when unknown)."""
    operation = op_state.operation if op_state else None
    who = operation.initiated_by if operation else None
    if who is None:
        return ""
    if who.automated:
        return "automated"
    return clean(who.username, 160) or "unknown user"


def _operation_revision(op_state: s.OperationStateIn | None) -> str:
    """The revision the last operation synced (its result), or asked for."""
    if op_state is None:
        return ""
    result = op_state.sync_result
    if result is not None and (result.revision or result.revisions):
        return clean(result.revision or ",".join(result.revisions or ()), 200)
    sync = op_state.operation.sync if op_state.operation else None
    if sync is not None:
        return clean(sync.revision or ",".join(sync.revisions or ()), 200)
    return ""


def app_row(app: s.AppIn) -> m.AppRow:
    """An Application; the auto-sync state follows operations.md section 1 to the letter."""
    meta, spec, status = app.metadata, app.spec, app.status
    raw = bytes(spec.sync_policy.automated) if spec.sync_policy else b"null"
    automated_json: str | None = None
    auto_sync: m.AutoSync = "off"
    self_heal = prune = False
    if raw != b"null":
        automated = _AUTOMATED_DECODER.decode(raw)
        automated_json = raw.decode()
        auto_sync = "paused" if automated.enabled is False else "on"
        self_heal, prune = automated.self_heal, automated.prune
    op_state = status.operation_state
    op_pending = bytes(app.operation) != b"null"
    sources = spec.sources or ([spec.source] if spec.source else [])
    revision = status.sync.revision or ",".join(status.sync.revisions or ())
    owner = controller_ref(meta.owner_references)
    namespace, name = clean(meta.namespace), clean(meta.name)
    dest = spec.destination
    return m.AppRow(
        key=m.make_key(namespace, name),
        namespace=namespace,
        name=name,
        uid=clean(meta.uid),
        project=clean(spec.project),
        sync_status=clean(status.sync.status),
        health_status=clean(status.health.status),
        health_message=clean(status.health.message, MSG_MAX),
        revision=clean(revision),
        target_revision=clean(",".join(src.target_revision for src in sources)),
        repo_url=clean(",".join(src.repo_url for src in sources)),
        multi_source=bool(spec.sources),
        auto_sync=auto_sync,
        automated_json=automated_json,
        self_heal=self_heal,
        prune=prune,
        operation_pending=op_pending,
        operation_in_progress=op_pending or (op_state is not None and op_state.phase == "Running"),
        operation_phase=clean(op_state.phase) if op_state else "",
        operation_message=clean(op_state.message, MSG_MAX) if op_state else "",
        operation_finished=epoch(op_state.finished_at) if op_state else None,
        operation_started=epoch(op_state.started_at) if op_state else None,
        initiated_by=_initiated_by(op_state),
        operation_revision=_operation_revision(op_state),
        history=tuple(
            m.HistoryEntry(
                id=h.id,
                revision=clean(h.revision or ",".join(h.revisions or ())),
                deployed_at=epoch(h.deployed_at),
            )
            for h in status.history or ()
        ),
        conditions=tuple(
            m.Condition(
                type=clean(c.type),
                status="True",
                message=clean(c.message, MSG_MAX),
                last_transition=epoch(c.last_transition_time),
            )
            for c in status.conditions or ()
        ),
        owner_kind=clean(owner.kind) if owner else "",
        owner_name=clean(owner.name) if owner else "",
        destination_namespace=clean(dest.namespace),
        destination=clean(dest.name or dest.server),
        images=tuple(clean(i) for i in status.summary.images or ()) if status.summary else (),
        created=created_at(meta),
        resources=tuple(_resource(r) for r in status.resources or ()),
    )


def _resource(r: s.AppResourceIn) -> m.AppResource:
    health = r.health
    return m.AppResource(
        kind=clean(r.kind), name=clean(r.name), namespace=clean(r.namespace),
        group=clean(r.group), version=clean(r.version), sync_status=clean(r.status),
        health_status=clean(health.status) if health else "",
        health_message=clean(health.message, MSG_MAX) if health else "",
        requires_pruning=r.requires_pruning)


# ---------------------------------------------------------------- traffic


def gateway_row(gw: s.GatewayIn) -> m.GatewayRow:
    """A Gateway, joining each spec listener (port, protocol) with its status by name."""
    meta, spec, status = gw.metadata, gw.spec, gw.status
    by_name = {ls.name: ls for ls in status.listeners or ()}
    listeners: list[m.Listener] = []
    for ls in spec.listeners or ():
        st = by_name.pop(ls.name, None)
        listeners.append(
            m.Listener(
                name=clean(ls.name),
                port=ls.port,
                protocol=clean(ls.protocol),
                hostname=clean(ls.hostname),
                attached_routes=st.attached_routes if st else 0,
                conditions=make_conditions(st.conditions) if st else (),
            )
        )
    # Status for listeners no longer in spec still tells the on-call something: keep it.
    for st in by_name.values():
        listeners.append(
            m.Listener(
                name=clean(st.name),
                attached_routes=st.attached_routes,
                conditions=make_conditions(st.conditions),
            )
        )
    namespace, name = clean(meta.namespace), clean(meta.name)
    return m.GatewayRow(
        key=m.make_key(namespace, name),
        namespace=namespace,
        name=name,
        uid=clean(meta.uid),
        generation=meta.generation,
        gateway_class=clean(spec.gateway_class_name),
        addresses=tuple(clean(a.value) for a in status.addresses or ()),
        conditions=make_conditions(status.conditions),
        listeners=tuple(listeners),
        created=created_at(meta),
    )


def _parent_ref(ref: s.ParentRefIn, namespace: str) -> m.ParentRef:
    return m.ParentRef(
        namespace=clean(ref.namespace) if ref.namespace else namespace,
        name=clean(ref.name),
        section_name=clean(ref.section_name),
        port=ref.port or 0,
        kind=clean(ref.kind) if ref.kind else "Gateway",
    )


def _match_summary(match: s.RouteMatchIn) -> str:
    parts: list[str] = []
    if match.method:
        parts.append(match.method)
    if match.path is not None:
        parts.append(f"{match.path.type or 'PathPrefix'} {match.path.value or '/'}")
    return clean(" ".join(parts))


def route_row(route: s.RouteIn) -> m.RouteRow:
    """An HTTPRoute with API defaults applied (namespaces, weight 1, kind Service)."""
    meta, spec, status = route.metadata, route.spec, route.status
    namespace, name = clean(meta.namespace), clean(meta.name)
    rules = tuple(
        m.RouteRule(
            name=clean(rule.name),
            matches=tuple(_match_summary(x) for x in rule.matches or ()),
            backends=tuple(
                m.BackendRef(
                    name=clean(b.name),
                    namespace=clean(b.namespace) if b.namespace else namespace,
                    port=b.port or 0,
                    weight=1 if b.weight is None else b.weight,
                    kind=clean(b.kind) if b.kind else "Service",
                    group=clean(b.group),
                )
                for b in rule.backend_refs or ()
            ),
        )
        for rule in spec.rules or ()
    )
    return m.RouteRow(
        key=m.make_key(namespace, name),
        namespace=namespace,
        name=name,
        uid=clean(meta.uid),
        generation=meta.generation,
        last_manager=last_manager(meta),
        hostnames=tuple(clean(h) for h in spec.hostnames or ()),
        parent_refs=tuple(_parent_ref(p, namespace) for p in spec.parent_refs or ()),
        parents=tuple(
            m.RouteParent(
                ref=_parent_ref(p.parent_ref, namespace),
                controller=clean(p.controller_name),
                conditions=make_conditions(p.conditions),
            )
            for p in status.parents or ()
        ),
        rules=rules,
        created=created_at(meta),
    )


def alb_row(alb: s.AlbIn) -> m.AlbRow:
    """An AGC ApplicationLoadBalancer: only its conditions matter to the on-call."""
    meta = alb.metadata
    namespace, name = clean(meta.namespace), clean(meta.name)
    return m.AlbRow(
        key=m.make_key(namespace, name),
        namespace=namespace,
        name=name,
        uid=clean(meta.uid),
        generation=meta.generation,
        conditions=make_conditions(alb.status.conditions),
        created=created_at(meta),
    )
