"""What serves behind the HTTPRoutes a breaker may touch, read live for the capacity check
(:mod:`backends.ops.breaker_capacity`), and whether a Deployment is mid-rollout.

Why live reads and not the store: the plan's promise ("this route keeps N ready pods") must
hold for the objects as they are now, like every planner's prior state. Why by selector and
owner, not by name: a Service is often not named like its Deployment (``checkout`` in front
of ``checkout-stable`` and ``checkout-canary``), and one Service may select the pods of
several Deployments. So each backend Service is followed to what really serves: its selector
-> the pods it selects (not terminating; Ready, crash-looping) -> each pod's controlling
ReplicaSet -> that ReplicaSet's controlling Deployment (by ownerReference, one GET per
ReplicaSet, cached).

Reads are bounded: the routes are listed once (cluster-wide, else per namespace when RBAC
refuses that), and only routes with a backend in the namespaces of the breaker's targets are
followed. Anything that cannot be read is *unknown* readiness with the reason, never a guess.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final
from urllib.parse import quote

from backends.kube.errors import KubeError
from backends.ops.breaker_capacity import OTHER, Backend, RouteTraffic
from backends.ops.plan import PlanError, Reader, get_json
from backends.ops.workloads import HASH_LABEL, label_selector, semantic
from backends.sanitize import clean

__all__ = ["CRASH_REASONS", "read_routes", "stalled_rollout"]

GROUP: Final = "gateway.networking.k8s.io"
CRASH_REASONS: Final = frozenset({"CrashLoopBackOff", "Error", "RunContainerError",
                                  "CreateContainerError"})
"""Container states of a pod that fails over and over (not one that merely waits)."""


def _controller(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the controlling ownerReference."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return str(ref.get("kind", "")), str(ref.get("name", ""))
    return None


def _ready(pod: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or []
               if isinstance(c, dict))


def _crashing(pod: Mapping[str, Any]) -> bool:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        state = (cs or {}).get("state") or {}
        reason = (state.get("waiting") or {}).get("reason") or \
            (state.get("terminated") or {}).get("reason")
        if reason in CRASH_REASONS:
            return True
    return False


class _Reader:
    """One planning pass's reads, with the ReplicaSet owners cached."""

    def __init__(self, conn: Reader) -> None:
        self.conn = conn
        self._rs_owner: dict[tuple[str, str], str] = {}

    async def deployment_of_rs(self, ns: str, rs: str) -> str:
        """``ns/deployment`` controlling ReplicaSet ``rs``, or :data:`OTHER`."""
        key = (ns, rs)
        if key not in self._rs_owner:
            try:
                obj = await get_json(self.conn, f"/apis/apps/v1/namespaces/{quote(ns, safe='')}"
                                     f"/replicasets/{quote(rs, safe='')}",
                                     f"ReplicaSet {ns}/{rs}")
            except PlanError:
                obj = {}
            owner = _controller(obj)
            self._rs_owner[key] = f"{ns}/{owner[1]}" if owner and owner[0] == "Deployment" \
                else OTHER
        return self._rs_owner[key]

    async def backend(self, ns: str, service: str, weight: int,
                      ref: Mapping[str, Any]) -> Backend:
        """A backendRef followed to the pods that serve it (module doc)."""
        if ref.get("kind", "Service") != "Service" or ref.get("group", "") not in ("", "core"):
            return Backend(ns, service, weight,
                           unknown=f"a {clean(ref.get('kind'), 40)}: readiness not counted")
        try:
            svc = await get_json(self.conn, f"/api/v1/namespaces/{quote(ns, safe='')}/services/"
                                 f"{quote(service, safe='')}", f"Service {ns}/{service}")
        except PlanError as exc:
            if str(exc).endswith("not found"):
                return Backend(ns, service, weight)  # nothing behind it: 0 ready (500s)
            return Backend(ns, service, weight, unknown=clean(exc, 200))
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector:
            return Backend(ns, service, weight, unknown="the Service has no selector: "
                           "ready endpoints not counted")
        try:
            pods = await get_json(self.conn, f"/api/v1/namespaces/{quote(ns, safe='')}/pods",
                                  f"pods of Service {ns}/{service}",
                                  {"labelSelector": label_selector({"matchLabels": selector})})
        except PlanError as exc:
            return Backend(ns, service, weight, unknown=clean(exc, 200))
        ready: dict[str, int] = {}
        crashing: set[str] = set()
        for pod in pods.get("items") or []:
            if not isinstance(pod, dict) or (pod.get("metadata") or {}).get(
                    "deletionTimestamp"):
                continue
            owner = _controller(pod)
            who = await self.deployment_of_rs(ns, owner[1]) \
                if owner and owner[0] == "ReplicaSet" else OTHER
            ready[who] = ready.get(who, 0) + _ready(pod)
            if _crashing(pod):
                crashing.add(who)
        return Backend(ns, service, weight, ready, frozenset(crashing))


async def _list_routes(conn: Reader, namespaces: Collection[str]
                       ) -> tuple[list[dict[str, Any]], list[str]]:
    """Every HTTPRoute (cluster-wide), else those of ``namespaces`` when the cluster-wide
    list is refused; notes say what could not be listed."""
    notes: list[str] = []
    try:
        listed = await get_json(conn, f"/apis/{GROUP}/v1/httproutes", "HTTPRoutes")
        return [r for r in listed.get("items") or [] if isinstance(r, dict)], notes
    except PlanError as exc:
        if str(exc).endswith("not found"):
            return [], ["the cluster serves no Gateway API HTTPRoutes: no route to keep"]
        notes.append(f"{exc}: routes listed per namespace of the targets only (a route in "
                     "another namespace pointing at them is not checked)")
    out: list[dict[str, Any]] = []
    for ns in sorted(namespaces):
        try:
            listed = await get_json(conn, f"/apis/{GROUP}/v1/namespaces/{quote(ns, safe='')}"
                                    "/httproutes", f"HTTPRoutes in {ns}")
        except PlanError as exc:
            notes.append(f"{exc}: the routes of {ns} are not checked")
            continue
        out += [r for r in listed.get("items") or [] if isinstance(r, dict)]
    return out, notes


async def read_routes(conn: Reader, namespaces: Collection[str]
                      ) -> tuple[list[RouteTraffic], list[str]]:
    """The routes with a backend in ``namespaces``, each backend followed to what serves it;
    and notes on what could not be read."""
    if not namespaces:
        return [], []
    try:
        raw, notes = await _list_routes(conn, namespaces)
    except KubeError as exc:
        return [], [f"could not list HTTPRoutes: {clean(exc, 300)}: no route checked"]
    reader = _Reader(conn)
    wanted: list[tuple[str, str, list[list[tuple[str, str, int, Mapping[str, Any]]]]]] = []
    for route in raw:
        meta = route.get("metadata") or {}
        rns, rname = str(meta.get("namespace", "")), str(meta.get("name", ""))
        rules: list[list[tuple[str, str, int, Mapping[str, Any]]]] = []
        for rule in (route.get("spec") or {}).get("rules") or []:
            refs: list[tuple[str, str, int, Mapping[str, Any]]] = []
            for ref in (rule or {}).get("backendRefs") or []:
                if not isinstance(ref, dict):
                    continue
                weight = ref.get("weight", 1)
                weight = weight if isinstance(weight, int) and not isinstance(weight, bool) \
                    else 1
                refs.append((str(ref.get("namespace") or rns), str(ref.get("name", "")),
                             weight, ref))
            rules.append(refs)
        if any(ns in namespaces for refs in rules for ns, *_ in refs):
            wanted.append((rns, rname, rules))
    cache: dict[tuple[str, str], Backend] = {}

    async def one(ns: str, name: str, weight: int, ref: Mapping[str, Any]) -> Backend:
        if (ns, name) not in cache:
            cache[(ns, name)] = await reader.backend(ns, name, 0, ref)
        return replace(cache[(ns, name)], weight=weight)

    try:
        routes = []
        for rns, rname, rules in wanted:
            built: list[tuple[Backend, ...]] = []
            for refs in rules:
                built.append(tuple(await asyncio.gather(*(one(*r) for r in refs))))
            routes.append(RouteTraffic(rns, rname, tuple(built)))
    except KubeError as exc:
        return [], [*notes, f"could not read the routes' backends: {clean(exc, 300)}"]
    return routes, notes


def _without_hash(template: Any) -> Any:
    if not isinstance(template, dict):
        return template
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop(HASH_LABEL, None)
    return {**template, "metadata": {**(template.get("metadata") or {}), "labels": labels}}


def stalled_rollout(deploy: Mapping[str, Any], replicasets: Sequence[Mapping[str, Any]]
                    ) -> str:
    """Why the Deployment is mid-rollout with an old ReplicaSet still serving ("" when it is
    not): the new pods have not replaced the old ones, and old ones are ready. That is a
    rollout to pause (or undo), not a Deployment to scale to 0."""
    spec, status = deploy.get("spec") or {}, deploy.get("status") or {}
    template = semantic(_without_hash(spec.get("template")))
    olds = [rs for rs in replicasets
            if semantic(_without_hash((rs.get("spec") or {}).get("template"))) != template]
    new = [rs for rs in replicasets if rs not in olds]
    serving = [(str((rs.get("metadata") or {}).get("name", "")),
                int((rs.get("status") or {}).get("readyReplicas") or 0)) for rs in olds]
    serving = [(name, n) for name, n in serving if n > 0]
    replicas = spec.get("replicas", 1)
    replicas = replicas if isinstance(replicas, int) else 1
    updated = int(status.get("updatedReplicas") or 0)
    if not serving or not new or updated >= replicas and \
            int(status.get("replicas") or 0) <= updated:
        return ""
    names = ", ".join(f"{clean(n, 80)} ({k} ready)" for n, k in serving)
    rs_name = clean((new[0].get("metadata") or {}).get("name", ""), 80)
    return (f"stalled rollout, old ReplicaSet still serves {sum(k for _, k in serving)} "
            f"ready pod(s): pause it, not scale to 0 (old {names}; new {rs_name}, "
            f"{updated}/{replicas} updated)")
