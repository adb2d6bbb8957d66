"""Row pairs to timeline entries: what changed between the old and the new slim row of one
object, in compact words, with its actor (issue 17, point 1).

Pure functions, one per kind, so each rule is testable without a store, a file or a loop.
What counts as meaningful, and why:

- Deployments and ReplicaSets: image, replicas and paused (spec) with the newest writer from
  managedFields; rollout progress (updated / ready / available and the Progressing reason)
  from the controllers. ReplicaSets only say their replica count: their images never change.
- Argo CD Applications: an operation (sync) starting and ending, with ``initiatedBy``
  (automated or the user) and the revision; sync and health status; auto-sync on / paused.
- HTTPRoutes: backend weights and the parents' conditions; Gateways and nodes: conditions
  (nodes: Ready and the pressures, and cordon).
- Warning events: a new one, or its count rising.
Pods are not here: they are aggregated per workload (:mod:`backends.timeline.podagg`).
Alerts, the journal and the bus are in :mod:`backends.timeline.signals`.

Every string comes from rows that were sanitized where they entered; nothing here parses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from backends import model as m
from backends.timeline.entry import ActorKind, EntryKind, TimelineEntry

__all__ = ["DIFFERS", "Differ", "actor_of_manager", "diff_row"]

Differ = Callable[[m.Row | None, m.Row | None, float, str], list[TimelineEntry]]


def actor_of_manager(manager: str) -> tuple[str, ActorKind]:
    """The actor words of a ``manager (operation)`` string."""
    return (manager, "field-manager") if manager else ("", "unknown")


def _images(images: Iterable[str]) -> str:
    return ", ".join(images) or "-"


def _entry(kind: EntryKind, row: m.Row, object_kind: str, now: float, context: str,
           **fields: object) -> TimelineEntry:
    namespace = str(getattr(row, "namespace", ""))
    name = str(getattr(row, "name", row.key))
    return TimelineEntry(at=float(fields.pop("at", now) or now),  # type: ignore[arg-type]
                         seen=now, context=context, kind=kind, namespace=namespace, name=name,
                         object_kind=object_kind, **fields)  # type: ignore[arg-type]


def _created_or_deleted(old: m.Row | None, new: m.Row | None, object_kind: str,
                        kind: EntryKind, now: float, context: str,
                        **fields: object) -> list[TimelineEntry]:
    row = new if new is not None else old
    assert row is not None
    word = "created" if new is not None else "deleted"
    return [_entry(kind, row, object_kind, now, context, change=word, **fields)]


def _deployment(old: m.Row | None, new: m.Row | None, now: float,
                context: str) -> list[TimelineEntry]:
    row = new if new is not None else old
    if not isinstance(row, m.DeploymentRow):
        return []
    base = {"app": row.argocd_app, "workload": f"Deployment/{row.name}"}
    if not isinstance(old, m.DeploymentRow) or not isinstance(new, m.DeploymentRow):
        actor, actor_kind = actor_of_manager(row.last_manager)
        return _created_or_deleted(old, new, "Deployment", "spec", now, context, actor=actor,
                                   actor_kind=actor_kind, after=_images(row.images), **base)
    out: list[TimelineEntry] = []
    spec: list[tuple[str, str, str]] = []
    if old.images != new.images:
        spec.append(("image", _images(old.images), _images(new.images)))
    if old.desired != new.desired:
        spec.append(("replicas", str(old.desired), str(new.desired)))
    if old.paused != new.paused:
        spec.append(("paused", str(old.paused).lower(), str(new.paused).lower()))
    if old.breaker_mark != new.breaker_mark:
        spec.append(("breaker mark", "set" if old.breaker_mark else "none",
                     "set" if new.breaker_mark else "none"))
    if spec:
        actor, actor_kind = actor_of_manager(new.last_manager)
        out.append(_entry(
            "spec", new, "Deployment", now, context,
            change="; ".join(f"{what} {a} -> {b}" for what, a, b in spec),
            before="; ".join(a for _, a, _ in spec), after="; ".join(b for _, _, b in spec),
            actor=actor, actor_kind=actor_kind, **base))
    before = (old.updated, old.ready, old.available, old.progressing_reason)
    after = (new.updated, new.ready, new.available, new.progressing_reason)
    if before != after:
        words = (f"{new.ready}/{new.desired} ready, {new.updated} updated, "
                 f"{new.available} available")
        if new.progressing_reason and new.progressing_reason != old.progressing_reason:
            words += f", {old.progressing_reason or '-'} -> {new.progressing_reason}"
        out.append(_entry(
            "rollout", new, "Deployment", now, context, change=words,
            before=f"{old.ready}/{old.desired} ready, {old.updated} updated",
            after=f"{new.ready}/{new.desired} ready, {new.updated} updated",
            actor="kube-controller-manager", actor_kind="system",
            severity="Warning" if new.progressing_reason == "ProgressDeadlineExceeded" else "",
            **base))
    return out


def _replicaset(old: m.Row | None, new: m.Row | None, now: float,
                context: str) -> list[TimelineEntry]:
    row = new if new is not None else old
    if not isinstance(row, m.ReplicaSetRow):
        return []
    base = {"workload": f"Deployment/{row.deployment}" if row.deployment else "",
            "actor": row.last_manager, "actor_kind": actor_of_manager(row.last_manager)[1]}
    if not isinstance(old, m.ReplicaSetRow) or not isinstance(new, m.ReplicaSetRow):
        return _created_or_deleted(old, new, "ReplicaSet", "spec", now, context,
                                   after=_images(row.images), **base)
    if old.desired == new.desired:
        return []
    return [_entry("spec", new, "ReplicaSet", now, context,
                   change=f"replicas {old.desired} -> {new.desired}", before=str(old.desired),
                   after=str(new.desired), **base)]


def _initiator(app: m.AppRow) -> str:
    who = app.initiated_by
    if not who:
        return "argocd"
    return "argocd (automated)" if who == "automated" else f"argocd: {who}"


def _application(old: m.Row | None, new: m.Row | None, now: float,
                 context: str) -> list[TimelineEntry]:
    row = new if new is not None else old
    if not isinstance(row, m.AppRow):
        return []
    base = {"app": row.name}
    if not isinstance(old, m.AppRow) or not isinstance(new, m.AppRow):
        return _created_or_deleted(old, new, "Application", "app", now, context,
                                   revision=row.revision, **base)
    out: list[TimelineEntry] = []
    started = new.operation_started != old.operation_started and new.operation_started
    if started or new.operation_phase != old.operation_phase:
        revision = new.operation_revision or new.revision
        words = f"sync {new.operation_phase or 'requested'}"
        if revision:
            words += f" rev {revision[:12]}"
        if new.images and new.images != old.images:
            words += f" images {_images(new.images)}"
        at = (new.operation_finished if new.operation_phase in ("Succeeded", "Failed", "Error")
              else new.operation_started) or now
        out.append(_entry("sync", new, "Application", now, context, at=at, change=words,
                          before=old.operation_phase, after=new.operation_phase,
                          actor=_initiator(new), actor_kind="argocd", revision=revision,
                          detail=new.operation_message,
                          severity="Warning" if new.operation_phase in ("Failed", "Error")
                          else "", **base))
    pairs = [("sync", old.sync_status, new.sync_status),
             ("health", old.health_status, new.health_status),
             ("auto-sync", old.auto_sync, new.auto_sync)]
    changed = [(what, a, b) for what, a, b in pairs if a != b]
    if old.revision != new.revision:
        changed.append(("revision", old.revision[:12] or "-", new.revision[:12] or "-"))
    if changed:
        out.append(_entry(
            "app", new, "Application", now, context,
            change="; ".join(f"{what} {a or '-'} -> {b or '-'}" for what, a, b in changed),
            before="; ".join(a for _, a, _ in changed), after="; ".join(b for _, _, b in changed),
            actor="argocd", actor_kind="system", revision=new.revision,
            detail=new.health_message,
            severity="Warning" if new.health_status in ("Degraded", "Missing") else "",
            **base))
    return out


def _weights(route: m.RouteRow) -> str:
    parts = [f"{b.name}={b.weight}" for rule in route.rules for b in rule.backends]
    return " ".join(parts) or "-"


def _conditions(conditions: Iterable[m.Condition]) -> str:
    return " ".join(f"{c.type}={c.status}" + (f"({c.reason})" if c.reason and c.status != "True"
                                                else "") for c in conditions) or "-"


def _route(old: m.Row | None, new: m.Row | None, now: float,
           context: str) -> list[TimelineEntry]:
    row = new if new is not None else old
    if not isinstance(row, m.RouteRow):
        return []
    actor, actor_kind = actor_of_manager(row.last_manager)
    if not isinstance(old, m.RouteRow) or not isinstance(new, m.RouteRow):
        return _created_or_deleted(old, new, "HTTPRoute", "route", now, context,
                                   after=_weights(row), actor=actor, actor_kind=actor_kind)
    out: list[TimelineEntry] = []
    if _weights(old) != _weights(new):
        out.append(_entry("route", new, "HTTPRoute", now, context,
                          change=f"weights {_weights(old)} -> {_weights(new)}",
                          before=_weights(old), after=_weights(new), actor=actor,
                          actor_kind=actor_kind))
    was = _conditions(c for p in old.parents for c in p.conditions)
    now_c = _conditions(c for p in new.parents for c in p.conditions)
    if was != now_c:
        bad = any(c.status != "True" for p in new.parents for c in p.conditions)
        out.append(_entry("route", new, "HTTPRoute", now, context,
                          change=f"conditions {was} -> {now_c}", before=was, after=now_c,
                          actor="gateway controller", actor_kind="system",
                          severity="Warning" if bad else ""))
    return out


def _gateway(old: m.Row | None, new: m.Row | None, now: float,
             context: str) -> list[TimelineEntry]:
    row = new if new is not None else old
    if not isinstance(row, m.GatewayRow):
        return []
    if not isinstance(old, m.GatewayRow) or not isinstance(new, m.GatewayRow):
        return _created_or_deleted(old, new, "Gateway", "gateway", now, context)
    was, is_ = _conditions(old.conditions), _conditions(new.conditions)
    if was == is_:
        return []
    return [_entry("gateway", new, "Gateway", now, context, change=f"conditions {was} -> {is_}",
                   before=was, after=is_, actor="gateway controller", actor_kind="system",
                   severity="Warning" if any(c.status != "True" for c in new.conditions)
                   else "")]


_NODE_WATCHED = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure",
                 "NetworkUnavailable")


def _node_state(node: m.NodeRow) -> str:
    parts = [f"Ready={node.ready}"]
    parts += [f"{c.type}={c.status}" for c in node.conditions
              if c.type in _NODE_WATCHED[1:] and c.status == "True"]
    if node.unschedulable:
        parts.append("cordoned")
    return " ".join(parts)


def _node(old: m.Row | None, new: m.Row | None, now: float,
          context: str) -> list[TimelineEntry]:
    row = new if new is not None else old
    if not isinstance(row, m.NodeRow):
        return []
    if not isinstance(old, m.NodeRow) or not isinstance(new, m.NodeRow):
        return _created_or_deleted(old, new, "Node", "node", now, context,
                                   after=_node_state(row))
    was, is_ = _node_state(old), _node_state(new)
    if was == is_:
        return []
    return [_entry("node", new, "Node", now, context, change=f"{was} -> {is_}", before=was,
                   after=is_, actor="kubelet / node controller", actor_kind="system",
                   severity="Warning" if new.ready != "True" else "")]


def _event(old: m.Row | None, new: m.Row | None, now: float,
           context: str) -> list[TimelineEntry]:
    if not isinstance(new, m.EventRow) or new.type != "Warning":
        return []
    if isinstance(old, m.EventRow) and old.count >= new.count:
        return []
    count = f" (x{new.count})" if new.count > 1 else ""
    return [TimelineEntry(
        at=new.last_seen or new.first_seen or now, seen=now, context=context, kind="event",
        namespace=new.object_namespace or new.namespace, name=new.object_name,
        object_kind=new.object_kind, change=f"{new.reason}{count}", detail=new.message,
        actor=new.source, actor_kind="system" if new.source else "unknown",
        severity="Warning")]


DIFFERS: dict[str, Differ] = {
    "deployments": _deployment,
    "replicasets": _replicaset,
    "applications": _application,
    "httproutes": _route,
    "gateways": _gateway,
    "nodes": _node,
    "events": _event,
}
"""The differ of each kind recorded row by row."""


def diff_row(kind: str, old: m.Row | None, new: m.Row | None, now: float,
             context: str) -> list[TimelineEntry]:
    """The entries for one object going from ``old`` to ``new`` (None: absent)."""
    differ = DIFFERS.get(kind)
    if differ is None or (old is None and new is None):
        return []
    return differ(old, new, now, context)
