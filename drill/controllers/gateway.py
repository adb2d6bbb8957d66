"""A simulated Application Gateway for Containers (AGC) ALB controller for the drill cluster.

Traffic moves are the circuit breaker's riskiest step: an emergency redirect to a backend that
does not exist serves 500s, and the only way to know a route change took effect is the route's
conditions for its new ``observedGeneration`` (reference/operations.md section 6). So this
controller writes exactly the status the real ALB controller writes, computed from the current
objects on every tick:

- GatewayClasses with controllerName ``alb.networking.azure.io/alb-controller``: Accepted;
- Gateways of those classes: Accepted and Programmed, an ``*.alb.azure.com`` address (kept once
  assigned, as the frontend's FQDN is), per listener ``attachedRoutes`` and its conditions;
- HTTPRoutes: one ``status.parents[]`` entry per parentRef to such a Gateway (or to a Gateway
  that does not exist: NoMatchingParent), with Accepted, ResolvedRefs (BackendNotFound when a
  backend Service is missing) and AGC's Programmed, a Warning event when references break;
- ApplicationLoadBalancers: Accepted and Deployment (Ready).

Conditions carry ``observedGeneration`` and keep ``lastTransitionTime`` unless their status
flips, entries written by other controllers are left alone, and nothing is written when
nothing changed, so an idle drill stays quiet. Every object is reconciled on its own and
:class:`~drill.errors.ApiError` from interference is swallowed: the next tick retries.

Not modelled: ReferenceGrants (cross-namespace backends resolve whenever the Service exists),
TLS certificate references (always resolved), GRPCRoute and other route kinds.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from drill import errors
from drill.controllers.config import SimConfig
from drill.controllers.core import EventRecorder
from drill.resources import BY_KEY, ResourceType
from drill.selectors import selector_from_spec
from drill.state import ClusterState, Obj, rfc3339

log = logging.getLogger(__name__)

GATEWAY_CLASSES = BY_KEY["gatewayclasses.gateway.networking.k8s.io"]
GATEWAYS = BY_KEY["gateways.gateway.networking.k8s.io"]
HTTPROUTES = BY_KEY["httproutes.gateway.networking.k8s.io"]
ALBS = BY_KEY["applicationloadbalancers.alb.networking.azure.io"]
SERVICES = BY_KEY["services"]
NAMESPACES = BY_KEY["namespaces"]
ALB_CONTROLLER = "alb.networking.azure.io/alb-controller"
COMPONENT = "alb-controller"
GROUP = "gateway.networking.k8s.io"
ROUTE_KINDS = [{"group": GROUP, "kind": "HTTPRoute"}]
PROGRAMMED_MESSAGE = "Application Gateway for Containers resource has been successfully updated."
RESOLVED_MESSAGE = "Resolved all the Object references for the Route"

#: (type, status, reason, message) of the conditions one object should carry, in order.
Wanted = list[tuple[str, str, str, str]]


def upsert_conditions(old: Iterable[Obj], wanted: Wanted, generation: int, now: str) -> list[Obj]:
    """Set conditions like apimachinery's ``SetStatusCondition``: order kept, new types
    appended, ``lastTransitionTime`` moved only when the status flips."""
    out = [dict(c) for c in old]
    for ctype, status, reason, message in wanted:
        cond = {"type": ctype, "status": status, "reason": reason, "message": message,
                "observedGeneration": generation}
        i = next((i for i, c in enumerate(out) if c.get("type") == ctype), None)
        if i is None:
            out.append({**cond, "lastTransitionTime": now})
        else:
            same = out[i].get("status") == status and out[i].get("lastTransitionTime")
            out[i] = {**cond, "lastTransitionTime": out[i]["lastTransitionTime"] if same else now}
    return out


def alb_address(namespace: str, name: str) -> str:
    """A stable AGC frontend FQDN for a Gateway: ``<16 hex>.fz<nn>.alb.azure.com``."""
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()
    return f"{digest[:16]}.fz{int(digest[16:20], 16) % 100:02d}.alb.azure.com"


def hostnames_intersect(listener: str | None, route_hosts: list[str]) -> bool:
    """Gateway API hostname matching: a ``*.`` wildcard matches any deeper name."""
    if not listener or not route_hosts:
        return True

    def covers(pattern: str, host: str) -> bool:
        return pattern == host or (pattern.startswith("*.") and host.endswith(pattern[1:]))

    return any(covers(listener, h) or covers(h, listener) for h in route_hosts)


class GatewayController:
    """Writes the status AGC's ALB controller writes on Gateway API and ALB objects."""

    name = "gateway"

    def __init__(self, state: ClusterState, recorder: EventRecorder, config: SimConfig) -> None:
        self.state = state
        self.recorder = recorder
        self.config = config

    def reconcile(self, now: datetime) -> None:
        stamp = rfc3339(now)
        ours = {gc["metadata"]["name"] for gc in self.state.readable(GATEWAY_CLASSES)
                if (gc.get("spec") or {}).get("controllerName") == ALB_CONTROLLER}
        for name in sorted(ours):
            self._guard(GATEWAY_CLASSES, "", name, stamp, self._class_status)
        gateways = {(g["metadata"]["namespace"], g["metadata"]["name"]): g
                    for g in self.state.readable(GATEWAYS)
                    if (g.get("spec") or {}).get("gatewayClassName") in ours}
        attached: Counter[tuple[str, str, str]] = Counter()
        for route in self.state.readable(HTTPROUTES):
            try:
                self._route(route, gateways, attached, stamp)
            except errors.ApiError as exc:
                log.debug("httproute %s: %s", route["metadata"]["name"], exc.message)
        for (ns, name), gw in gateways.items():
            try:
                self._gateway(gw, attached, stamp)
            except errors.ApiError as exc:
                log.debug("gateway %s/%s: %s", ns, name, exc.message)
        for alb in self.state.readable(ALBS):
            meta = alb["metadata"]
            self._guard(ALBS, meta["namespace"], meta["name"], stamp, self._alb_status)

    # ----------------------------------------------------------------------------- writing

    def _guard(self, rt: ResourceType, ns: str, name: str, stamp: str,
               fn: Callable[[Obj, str], Obj]) -> None:
        try:
            obj = self.state.find_readable(rt, ns, name)
            if obj is not None:
                self._write(rt, obj, fn(obj, stamp))
        except errors.ApiError as exc:
            log.debug("%s %s: %s", rt.kind, name, exc.message)

    def _write(self, rt: ResourceType, obj: Obj, status: Obj) -> Obj:
        """Replace the status through the status subresource, only when it differs."""
        if status == obj.get("status"):
            return obj
        meta = obj["metadata"]

        def put(o: Obj) -> Obj:
            o["status"] = status
            return o

        return self.state.mutate(rt, meta.get("namespace", ""), meta["name"], put,
                                 subresource="status")

    def _class_status(self, gc: Obj, stamp: str) -> Obj:
        status = dict(gc.get("status") or {})
        status["conditions"] = upsert_conditions(
            status.get("conditions") or [], [("Accepted", "True", "Accepted", "Valid GatewayClass")],
            gc["metadata"].get("generation", 1), stamp)
        return status

    def _alb_status(self, alb: Obj, stamp: str) -> Obj:
        meta = alb["metadata"]
        status = dict(alb.get("status") or {})
        status["conditions"] = upsert_conditions(status.get("conditions") or [], [
            ("Accepted", "True", "Accepted", "Valid Application Gateway for Containers resource"),
            ("Deployment", "True", "Ready", "Application Gateway for Containers resource "
             f"{meta['namespace']}/{meta['name']} is up-to-date and ready"),
        ], meta.get("generation", 1), stamp)
        return status

    # ----------------------------------------------------------------------------- gateways

    def _gateway(self, gw: Obj, attached: Counter[tuple[str, str, str]], stamp: str) -> None:
        meta = gw["metadata"]
        ns, name, gen = meta["namespace"], meta["name"], meta.get("generation", 1)
        status = dict(gw.get("status") or {})
        if not status.get("addresses"):
            status["addresses"] = [{"type": "Hostname", "value": alb_address(ns, name)}]
        status["conditions"] = upsert_conditions(status.get("conditions") or [], [
            ("Accepted", "True", "Accepted", "Valid Gateway"),
            ("Programmed", "True", "Programmed", PROGRAMMED_MESSAGE),
        ], gen, stamp)
        listeners = (gw.get("spec") or {}).get("listeners") or []
        old = {ls.get("name"): ls for ls in status.get("listeners") or []}
        out = []
        for listener in listeners:
            lname = listener.get("name", "")
            http = listener.get("protocol") in ("HTTP", "HTTPS")
            conflict = _conflict(listener, listeners)
            clash = conflict[1] if conflict else ""
            wanted: Wanted = [
                ("ResolvedRefs", "True", "ResolvedRefs", ""),
                ("Accepted", "True", "Accepted", "") if http else
                ("Accepted", "False", "UnsupportedProtocol",
                 f"protocol {listener.get('protocol')} is not supported"),
                ("Programmed", "True", "Programmed", "") if http and not conflict else
                ("Programmed", "False", "Invalid", clash or "listener is not accepted"),
                ("Conflicted", "True", *conflict) if conflict else
                ("Conflicted", "False", "NoConflicts", ""),
            ]
            out.append({
                "name": lname, "supportedKinds": copy.deepcopy(ROUTE_KINDS) if http else [],
                "attachedRoutes": attached[(ns, name, lname)],
                "conditions": upsert_conditions(
                    (old.get(lname) or {}).get("conditions") or [], wanted, gen, stamp),
            })
        status["listeners"] = out
        self._write(GATEWAYS, gw, status)

    def _listener_rejects(self, gw: Obj, listener: Obj, route: Obj) -> str | None:
        """Why ``listener`` does not take ``route`` (a route Accepted reason), or None."""
        if listener.get("protocol") not in ("HTTP", "HTTPS"):
            return "NotAllowedByListeners"
        allowed = listener.get("allowedRoutes") or {}
        kinds = allowed.get("kinds")
        if kinds and not any(k.get("kind") == "HTTPRoute" and k.get("group", GROUP) == GROUP
                             for k in kinds):
            return "NotAllowedByListeners"
        rns = route["metadata"]["namespace"]
        frm = (allowed.get("namespaces") or {}).get("from", "Same")
        if frm == "Same" and rns != gw["metadata"]["namespace"]:
            return "NotAllowedByListeners"
        if frm == "Selector":
            ns_obj = self.state.find_readable(NAMESPACES, "", rns)
            selector = (allowed.get("namespaces") or {}).get("selector")
            labels = (ns_obj or {}).get("metadata", {}).get("labels") or {}
            try:
                if ns_obj is None or not selector_from_spec(selector).matches(labels):
                    return "NotAllowedByListeners"
            except ValueError:
                return "NotAllowedByListeners"
        if not hostnames_intersect(listener.get("hostname"),
                                   (route.get("spec") or {}).get("hostnames") or []):
            return "NoMatchingListenerHostname"
        return None

    # ----------------------------------------------------------------------------- routes

    def _route(self, route: Obj, gateways: dict[tuple[str, str], Obj],
               attached: Counter[tuple[str, str, str]], stamp: str) -> None:
        meta = route["metadata"]
        rns, gen = meta["namespace"], meta.get("generation", 1)
        status = dict(route.get("status") or {})
        old = status.get("parents") or []
        broken = self._unresolved(route)
        parents = []
        for ref in (route.get("spec") or {}).get("parentRefs") or []:
            if ref.get("group", GROUP) != GROUP or ref.get("kind", "Gateway") != "Gateway":
                continue
            gns, gname = ref.get("namespace") or rns, ref.get("name", "")
            gw = gateways.get((gns, gname))
            if gw is None and self.state.find_readable(GATEWAYS, gns, gname) is not None:
                continue  # a Gateway of another controller's class: not ours to report on
            reason, message = "Accepted", ""
            if gw is None:
                reason, message = "NoMatchingParent", f'Gateway "{gns}/{gname}" not found'
            else:
                candidates = [ls for ls in (gw.get("spec") or {}).get("listeners") or []
                              if ref.get("sectionName") in (None, ls.get("name"))
                              and ref.get("port") in (None, ls.get("port"))]
                verdicts = [(ls, self._listener_rejects(gw, ls, route)) for ls in candidates]
                taken = [ls for ls, why in verdicts if why is None]
                for ls in taken:
                    attached[(gns, gname, ls.get("name", ""))] += 1
                if not candidates:
                    reason, message = "NoMatchingParent", "no listener matches the parentRef"
                elif not taken:
                    reason = next(why for _, why in verdicts if why)
                    message = "the route is not allowed by any listener of the Gateway"
            accepted = reason == "Accepted"
            wanted: Wanted = [
                ("Accepted", "True" if accepted else "False", reason, message),
                ("ResolvedRefs", "False", *broken) if broken else
                ("ResolvedRefs", "True", "ResolvedRefs", RESOLVED_MESSAGE),
                ("Programmed", "True", "Programmed", "Route is Ready") if accepted and not broken
                else ("Programmed", "False", "Invalid" if accepted else "Pending",
                      "Route has unresolved backend references" if accepted
                      else "Route is not accepted by its parent"),
            ]
            prev: Obj = next((p for p in old if p.get("controllerName") == ALB_CONTROLLER
                         and _same_ref(p.get("parentRef") or {}, ref, rns)), {})
            parents.append({"parentRef": copy.deepcopy(ref), "controllerName": ALB_CONTROLLER,
                            "conditions": upsert_conditions(prev.get("conditions") or [],
                                                            wanted, gen, stamp)})
        parents += [p for p in old if p.get("controllerName") != ALB_CONTROLLER]
        if not parents and not old:
            return
        status["parents"] = parents
        was: Obj = next((c for p in old if p.get("controllerName") == ALB_CONTROLLER
                    for c in p.get("conditions") or [] if c.get("type") == "ResolvedRefs"), {})
        out = self._write(HTTPROUTES, route, status)
        if broken and any(p["controllerName"] == ALB_CONTROLLER for p in parents) and (
                was.get("status") != "False" or was.get("message") != broken[1]):
            self.recorder.record(out, "Warning", broken[0], broken[1], COMPONENT)

    def _unresolved(self, route: Obj) -> tuple[str, str] | None:
        """(reason, message) when a backendRef does not resolve, else None."""
        rns = route["metadata"]["namespace"]
        problems: list[str] = []
        reason = "BackendNotFound"
        for rule in (route.get("spec") or {}).get("rules") or []:
            for ref in (rule.get("backendRefs") or []) if isinstance(rule, dict) else []:
                kind, name = ref.get("kind", "Service"), ref.get("name", "")
                if ref.get("group", "") not in ("", "core") or kind != "Service":
                    reason = "InvalidKind"
                    problems.append(f"{kind} {name!r} is not a supported backend kind")
                    continue
                ns = ref.get("namespace") or rns
                if self.state.find_readable(SERVICES, ns, name) is None:
                    where = f"{ns}/{name}" if ns != rns else name
                    problems.append(f'Service "{where}" not found')
        if not problems:
            return None
        return reason, "; ".join(dict.fromkeys(problems))


def _same_ref(a: Obj, b: Obj, route_ns: str) -> bool:
    def norm(r: Obj) -> tuple[Any, ...]:
        return (r.get("group", GROUP), r.get("kind", "Gateway"), r.get("namespace") or route_ns,
                r.get("name"), r.get("sectionName"), r.get("port"))
    return norm(a) == norm(b)


def _conflict(listener: Obj, listeners: list[Obj]) -> tuple[str, str] | None:
    """(reason, message) when another listener on the same port conflicts with this one."""
    port = listener.get("port")
    for other in listeners:
        if other is listener or other.get("port") != port:
            continue
        if other.get("protocol") != listener.get("protocol"):
            return "ProtocolConflict", f"another listener uses port {port} with another protocol"
        if other.get("hostname") == listener.get("hostname"):
            return "HostnameConflict", f"another listener uses port {port} for the same hostname"
    return None
