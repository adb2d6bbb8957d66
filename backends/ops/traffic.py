"""Traffic: shift HTTPRoute backend weights, verified by the route's own status (section 6).

Patch shape, chosen: ONE JSON patch per route. For each rule whose weights change, a ``test``
op on that rule's whole ``backendRefs`` list (exactly as read), then an ``add`` of each
changed ``weight`` (``add`` replaces an existing member and creates an absent one: the
weight defaults to 1 and may be missing). Why not a merge patch of ``spec.rules``: JSON
merge patch replaces lists whole, and ``rules`` is a list, so it would have to resend every
rule's matches, filters and timeouts and silently undo a concurrent edit of any of them.
The ``test`` makes the patch conditional on exactly what the weights were computed from,
without a ``resourceVersion`` (which the gateway controller's status writes keep moving),
and the whole patch applies atomically or not at all.

Refusals (nothing is planned): a weight for a backend the route does not have (add it in
Git), a rule that would carry no traffic at all, and a target backend (weight > 0) whose
Service does not exist (clients get 500s) or has no ready pods (503s), counted from the pods
the Service selects.

Verification waits (``Poll``, with a deadline) for every parent of the route to report
``Accepted`` and ``ResolvedRefs`` True for the route's new ``observedGeneration``: until then
the data plane may still run the old weights. A condition that is False for the new
generation fails at once (e.g. BackendNotFound). The prior state journaled is the exact
previous ``backendRefs`` of each changed rule; :func:`plan_backends_restore` puts it back.

Removing a backend reference (:func:`plan_remove_backend`): weight 0 still leaves a
reference to a Service that does not exist, and the route then reports ``ResolvedRefs``
False (BackendNotFound) for as long as it is there. The same guarded JSON patch shape: a
``test`` of the rule's whole list, then a ``remove`` of the reference; the prior journaled is
the rule's exact list, so :func:`plan_backends_restore` puts the reference back at its index
with every field it had. Never worse: refused when it would leave a rule without a backend,
or take away the last backend that serves (weight > 0 and ready pods behind it). A restore
of a route that did not resolve before (the prior records ``resolved: false``) is verified
by the list and the route's Accepted condition, not by a ResolvedRefs it never had.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from backends.breaker_scope import MAX_WEIGHT
from backends.ops.argocd import selfheal_notes
from backends.ops.gate import TargetRef, Verify, WriteGate, WriteRequest
from backends.ops.plan import (
    JSON_PATCH,
    Plan,
    PlanError,
    PlannedWrite,
    Poll,
    Reader,
    finish,
    get_json,
)
from backends.ops.workloads import label_selector

__all__ = ["MAX_WEIGHT", "plan_backends_restore", "plan_remove_backend", "plan_shift",
           "ready_pods", "route_path"]

GROUP: Final = "gateway.networking.k8s.io"
"""Gateway API's maximum backend weight."""


def route_path(namespace: str, name: str) -> str:
    return (f"/apis/{GROUP}/v1/namespaces/{quote(namespace, safe='')}/httproutes/"
            f"{quote(name, safe='')}")


def _target(ns: str, name: str) -> TargetRef:
    return TargetRef("HTTPRoute", ns, name, GROUP, "httproutes")


def _is_service(ref: Mapping[str, Any]) -> bool:
    return ref.get("kind", "Service") == "Service" and ref.get("group", "") in ("", "core")


def _split(refs: list[dict[str, Any]]) -> str:
    total = sum(int(r.get("weight", 1)) for r in refs)
    return ", ".join(f"{r.get('name')} {100 * int(r.get('weight', 1)) / total:.0f}%"
                     if total else f"{r.get('name')} 0%" for r in refs)


async def ready_pods(conn: Reader, ns: str, service: str) -> tuple[int, str]:
    """(ready pods selected by the Service, note). Raises :class:`PlanError` when the
    Service does not exist. A Service without a selector (hand-made endpoints) cannot be
    counted here: (-1, why)."""
    svc = await get_json(conn, f"/api/v1/namespaces/{quote(ns, safe='')}/services/"
                         f"{quote(service, safe='')}", f"Service {ns}/{service}")
    selector = (svc.get("spec") or {}).get("selector") or {}
    if not selector:
        return -1, f"Service {ns}/{service} has no selector: ready endpoints not checked"
    pods = await get_json(conn, f"/api/v1/namespaces/{quote(ns, safe='')}/pods",
                          f"pods of Service {ns}/{service}",
                          {"labelSelector": label_selector({"matchLabels": selector})})
    ready = sum(1 for p in pods.get("items") or []
                if not (p.get("metadata") or {}).get("deletionTimestamp")
                and any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (p.get("status") or {}).get("conditions") or []))
    return ready, f"Service {ns}/{service}: {ready} ready pod(s)"


def _route_verify(conn: Reader, ns: str, name: str, wanted: dict[int, list[dict[str, Any]]],
                  timeout: float, poll: Poll | None, *, resolved: bool = True) -> Verify:
    """Wait until the route has ``wanted`` backendRefs (rule index -> list) and every parent
    reports Accepted/ResolvedRefs True for the current generation (``resolved`` False: a
    fresh ResolvedRefs False is accepted too, for a restore of a route that had it)."""
    poller = poll or Poll()

    async def verify() -> tuple[bool, str]:
        start = poller.now()
        seen = "no parent status yet"
        while True:
            route = await get_json(conn, route_path(ns, name), f"HTTPRoute {ns}/{name}")
            rules = (route.get("spec") or {}).get("rules") or []
            for i, refs in wanted.items():
                if i >= len(rules) or rules[i].get("backendRefs") != refs:
                    return False, f"rule {i} does not have the new weights (changed since?)"
            gen = int((route.get("metadata") or {}).get("generation") or 0)
            parents = (route.get("status") or {}).get("parents") or []
            done, seen = _parents_done(parents, gen, resolved=resolved)
            if done is not None:
                return done, seen
            if poller.now() - start >= timeout:
                return False, f"no confirmation for generation {gen} after {timeout:g}s: {seen}"
            await poller.sleep(poller.interval)

    return verify


def _parents_done(parents: list[dict[str, Any]], gen: int, *,
                  resolved: bool = True) -> tuple[bool | None, str]:
    """(True: all confirmed, False: refused for this generation, None: wait; what was seen).
    ``resolved`` False: a fresh ResolvedRefs False confirms too (noted)."""
    if not parents:
        return None, "no parent status yet"
    notes: list[str] = []
    pending = False
    for parent in parents:
        pname = (parent.get("parentRef") or {}).get("name", "?")
        conds = {c.get("type"): c for c in parent.get("conditions") or []}
        for ctype in ("Accepted", "ResolvedRefs"):
            c = conds.get(ctype) or {}
            fresh = int(c.get("observedGeneration") or 0) >= gen
            if fresh and c.get("status") == "False" and ctype == "ResolvedRefs" \
                    and not resolved:
                notes.append(f"parent {pname}: ResolvedRefs False again for generation {gen}, "
                             f"as before: {c.get('reason', '')}")
                continue
            if fresh and c.get("status") == "False":
                return False, (f"parent {pname}: {ctype} False for generation {gen}: "
                               f"{c.get('reason', '')} {c.get('message', '')}".strip())
            if not fresh or c.get("status") != "True":
                pending = True
                notes.append(f"parent {pname}: {ctype} not yet confirmed for generation {gen}")
    if pending:
        return None, "; ".join(notes)
    if notes:
        return True, (f"{len(parents)} parent(s) report Accepted for generation {gen}; "
                      + "; ".join(notes))
    return True, (f"{len(parents)} parent(s) report Accepted and ResolvedRefs for generation "
                  f"{gen}")


async def plan_shift(conn: Reader, gate: WriteGate, route_ns: str, route_name: str,
                     weights: Mapping[str, int], *, timeout: float = 60.0,
                     poll: Poll | None = None) -> Plan:
    """Set backend weights (by backend name, in every rule that has the backend)."""
    for backend, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= MAX_WEIGHT:
            raise PlanError(f"weight of {backend} must be a whole number from 0 to "
                            f"{MAX_WEIGHT}, not {w!r}")
    route = await get_json(conn, route_path(route_ns, route_name),
                           f"HTTPRoute {route_ns}/{route_name}")
    rules = (route.get("spec") or {}).get("rules") or []
    known = {str(r.get("name")) for rule in rules for r in rule.get("backendRefs") or []}
    unknown = sorted(set(weights) - known)
    if unknown:
        raise PlanError(f"not a backend of HTTPRoute {route_ns}/{route_name}: "
                        f"{', '.join(unknown)} (backends: {', '.join(sorted(known))}); "
                        "add it in Git")
    plan = Plan(title=f"Shift traffic of {route_ns}/{route_name}: "
                      + ", ".join(f"{b}={w}" for b, w in weights.items()))
    ops: list[dict[str, Any]] = []
    prior: dict[int, list[dict[str, Any]]] = {}
    wanted: dict[int, list[dict[str, Any]]] = {}
    for i, rule in enumerate(rules):
        refs = rule.get("backendRefs") or []
        new = copy.deepcopy(refs)
        for ref in new:
            if ref.get("name") in weights:
                ref["weight"] = weights[ref["name"]]
        if new == refs:
            continue
        if refs and sum(int(r.get("weight", 1)) for r in new) == 0:
            raise PlanError(f"rule {i} of {route_ns}/{route_name} would carry no traffic "
                            "(every backend weight 0): clients would get errors")
        ops.append({"op": "test", "path": f"/spec/rules/{i}/backendRefs", "value": refs})
        ops.extend({"op": "add", "path": f"/spec/rules/{i}/backendRefs/{j}/weight",
                    "value": ref["weight"]}
                   for j, ref in enumerate(new) if ref.get("weight") != refs[j].get("weight"))
        prior[i], wanted[i] = refs, new
        plan.info.append(f"rule {i}: {_split(refs)} -> {_split(new)}")
    if not ops:
        plan.info.append("the route already has these weights: nothing to do")
        return plan
    checked: set[tuple[str, str]] = set()
    for new in wanted.values():
        for ref in new:
            key = (str(ref.get("namespace") or route_ns), str(ref.get("name")))
            if ref.get("name") not in weights or not ref.get("weight") or key in checked:
                continue
            checked.add(key)
            if not _is_service(ref):
                plan.warnings.append(f"backend {key[1]} is a {ref.get('kind')}: readiness "
                                     "not checked")
                continue
            try:
                ready, note = await ready_pods(conn, *key)
            except PlanError as exc:
                raise PlanError(f"backend {key[1]}: {exc}: traffic to it gets 500s") from exc
            if ready == 0:
                raise PlanError(f"backend {key[1]}: Service {key[0]}/{key[1]} has no ready "
                                "pods: traffic to it gets 503s")
            (plan.warnings if ready < 0 else plan.info).append(note)
    req = WriteRequest(method="PATCH", path=route_path(route_ns, route_name), verb="patch",
                       body=json.dumps(ops).encode(), content_type=JSON_PATCH,
                       target=_target(route_ns, route_name))
    plan.writes.append(PlannedWrite(
        title=plan.title, request=req,
        prior={"rules": [{"index": i, "backendRefs": refs} for i, refs in prior.items()]},
        intent={"weights": dict(weights)},
        verify=_route_verify(conn, route_ns, route_name, wanted, timeout, poll),
        step="shift-traffic"))
    plan.extend(await selfheal_notes(conn, gate, route, GROUP, "HTTPRoute"))
    return await finish(gate, plan)


async def plan_backends_restore(conn: Reader, gate: WriteGate, route_ns: str, route_name: str,
                                prior: Mapping[str, Any], *, timeout: float = 60.0,
                                poll: Poll | None = None) -> Plan:
    """Put back the exact ``backendRefs`` recorded by :func:`plan_shift` (its journal
    ``prior``), replacing each recorded rule's whole list."""
    recorded = [(int(r["index"]), list(r["backendRefs"])) for r in prior.get("rules") or []]
    resolved = prior.get("resolved") is not False
    route = await get_json(conn, route_path(route_ns, route_name),
                           f"HTTPRoute {route_ns}/{route_name}")
    rules = (route.get("spec") or {}).get("rules") or []
    plan = Plan(title=f"Restore the backend weights of {route_ns}/{route_name}")
    ops: list[dict[str, Any]] = []
    current: dict[int, Any] = {}
    for i, refs in recorded:
        if i >= len(rules):
            raise PlanError(f"HTTPRoute {route_ns}/{route_name} no longer has rule {i}")
        if rules[i].get("backendRefs") != refs:
            current[i] = rules[i].get("backendRefs")
            ops.append({"op": "replace", "path": f"/spec/rules/{i}/backendRefs", "value": refs})
            plan.info.append(f"rule {i}: {_split(current[i] or [])} -> {_split(refs)}")
    if not ops:
        plan.info.append("the route already has the recorded weights: nothing to do")
        return plan
    req = WriteRequest(method="PATCH", path=route_path(route_ns, route_name), verb="patch",
                       body=json.dumps(ops).encode(), content_type=JSON_PATCH,
                       target=_target(route_ns, route_name))
    plan.writes.append(PlannedWrite(
        title=plan.title, request=req,
        prior={"rules": [{"index": i, "backendRefs": refs} for i, refs in current.items()]},
        intent={"rules": [{"index": i, "backendRefs": refs} for i, refs in recorded]},
        verify=_route_verify(conn, route_ns, route_name, dict(recorded), timeout, poll,
                             resolved=resolved),
        step="restore-traffic"))
    return await finish(gate, plan)


def _resolved(route: Mapping[str, Any]) -> bool:
    """No parent reports ResolvedRefs False (for any generation): what a restore verifies."""
    return not any(c.get("type") == "ResolvedRefs" and c.get("status") == "False"
                   for p in (route.get("status") or {}).get("parents") or []
                   for c in p.get("conditions") or [])


async def _serving(conn: Reader, route_ns: str, ref: Mapping[str, Any]) -> tuple[bool, str]:
    """(does this reference carry traffic that gets answers: weight > 0 and ready pods
    behind it, what was found). A kind other than Service counts as serving (not checked)."""
    name = str(ref.get("name"))
    if not int(ref.get("weight", 1)):
        return False, f"{name}: weight 0"
    if not _is_service(ref):
        return True, f"{name}: a {ref.get('kind')}, readiness not checked"
    try:
        ready, note = await ready_pods(conn, str(ref.get("namespace") or route_ns), name)
    except PlanError as exc:
        return False, f"{name}: {exc}"
    return ready != 0, note


async def plan_remove_backend(conn: Reader, gate: WriteGate, route_ns: str, route_name: str,
                              backend: str, *, timeout: float = 60.0,
                              poll: Poll | None = None) -> Plan:
    """Remove the backend reference named ``backend`` from every rule of the route that has
    it (module doc: refusals, patch, prior, verification)."""
    route = await get_json(conn, route_path(route_ns, route_name),
                           f"HTTPRoute {route_ns}/{route_name}")
    rules = (route.get("spec") or {}).get("rules") or []
    where = f"HTTPRoute {route_ns}/{route_name}"
    hits = [(i, rule.get("backendRefs") or []) for i, rule in enumerate(rules)
            if any(r.get("name") == backend for r in rule.get("backendRefs") or [])]
    if not hits:
        known = sorted({str(r.get("name")) for rule in rules for r in rule.get("backendRefs") or []})
        raise PlanError(f"not a backend of {where}: {backend} (backends: {', '.join(known)})")
    plan = Plan(title=f"Remove backend {backend} from {where}")
    ops: list[dict[str, Any]] = []
    prior: dict[int, list[dict[str, Any]]] = {}
    wanted: dict[int, list[dict[str, Any]]] = {}
    for i, refs in hits:
        kept = [r for r in refs if r.get("name") != backend]
        if not kept:
            raise PlanError(f"rule {i} of {where} has no other backend: removing {backend} "
                            "would leave it with none (fix it in Git)")
        gone = [r for r in refs if r.get("name") == backend]
        before = [await _serving(conn, route_ns, r) for r in refs]
        after = [await _serving(conn, route_ns, r) for r in kept]
        removed = [seen for r, seen in zip(refs, before, strict=True) if r in gone]
        if any(ok for ok, _ in removed) and not any(ok for ok, _ in after):
            raise PlanError(f"rule {i} of {where}: {backend} is its last serving backend "
                            f"({'; '.join(n for _, n in removed)}): removing it would leave "
                            "no backend with weight > 0 and ready pods")
        plan.info.append(f"rule {i}: {_split(refs)} -> {_split(kept)} "
                         f"({'; '.join(n for _, n in removed)})")
        ops.append({"op": "test", "path": f"/spec/rules/{i}/backendRefs", "value": refs})
        ops.extend({"op": "remove", "path": f"/spec/rules/{i}/backendRefs/{j}"}
                   for j in reversed(range(len(refs))) if refs[j].get("name") == backend)
        prior[i], wanted[i] = refs, kept
    req = WriteRequest(method="PATCH", path=route_path(route_ns, route_name), verb="patch",
                       body=json.dumps(ops).encode(), content_type=JSON_PATCH,
                       target=_target(route_ns, route_name))
    plan.writes.append(PlannedWrite(
        title=plan.title, request=req,
        prior={"rules": [{"index": i, "backendRefs": refs} for i, refs in prior.items()],
               "resolved": _resolved(route)},
        intent={"remove": backend,
                "rules": [{"index": i, "backendRefs": refs} for i, refs in wanted.items()]},
        verify=_route_verify(conn, route_ns, route_name, wanted, timeout, poll),
        step="remove-backend"))
    plan.extend(await selfheal_notes(conn, gate, route, GROUP, "HTTPRoute"))
    return await finish(gate, plan)
