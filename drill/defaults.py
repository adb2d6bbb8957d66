"""Server-side defaulting and allocation of built-in kinds, as the kube-apiserver does it.

A real API server fills fields a client left out before it validates and stores an object
(the generated defaulters of ``k8s.io/kubernetes/pkg/apis/*/v1``, and the Service REST
storage's IP and node-port allocators). Clients judge the drill by what comes back from a
create, so the drill fills the same fields: a Service gets a cluster IP from the service CIDR,
its ports a protocol and target port, ``status.loadBalancer: {}``; a ReplicationController its
replicas and selector; a DaemonSet its update strategy and template generation; a Deployment
its strategy, revision limit and progress deadline; a Gateway or GatewayClass the status its
CRD's schema defaults. Kinds not listed here are stored as
sent (see the closing note of issue 16 for what is still left out, e.g. pod template defaults).

Pure functions over plain dicts: the state hands in what is already allocated.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterable
from typing import Any

from drill import errors

Obj = dict[str, Any]

SERVICE_CIDR = ipaddress.IPv4Network("10.0.0.0/16")
"""The drill cluster's ``--service-cluster-ip-range`` (the first address is the ``kubernetes``
Service's, reserved like the real allocator reserves it)."""
NODE_PORTS = range(30000, 32768)
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
NO_GENERATION = frozenset({"Service", "Endpoints", "Event", "Namespace", "Node", "ConfigMap",
                           "Secret", "ServiceAccount"})
"""Kinds the real server gives no ``metadata.generation`` (their storage does not count spec
changes)."""
"""``--service-node-port-range``'s default, 30000-32767."""


def service_allocations(services: Iterable[Obj]) -> tuple[set[str], set[int]]:
    """Cluster IPs and node ports held by ``services``."""
    ips: set[str] = set()
    ports: set[int] = set()
    for svc in services:
        spec = svc.get("spec") or {}
        for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
            if isinstance(ip, str) and ip and ip != "None":
                ips.add(ip)
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and isinstance(port.get("nodePort"), int):
                ports.add(port["nodePort"])
    return ips, ports


def default_service(svc: Obj, old: Obj | None, used_ips: set[str],
                    used_ports: set[int]) -> None:
    """Default and allocate a Service in place (``old``: the stored version on updates).

    On create the status is reset to ``{loadBalancer: {}}`` (the REST storage's
    PrepareForCreate); on update an omitted cluster IP or node port keeps the allocated one
    (``patchAllocatedValues``) and a changed cluster IP is refused, as it is immutable."""
    name = str((svc.get("metadata") or {}).get("name", ""))
    spec = svc.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    if old is None:
        svc["status"] = {"loadBalancer": {}}
    typ = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if typ == "ExternalName":
        _default_ports(spec, typ, old_spec, used_ports, name)
        return
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if typ in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if typ == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    _default_cluster_ip(spec, old_spec, used_ips, name)
    _default_ports(spec, typ, old_spec, used_ports, name)


def _default_cluster_ip(spec: Obj, old_spec: Obj, used_ips: set[str], name: str) -> None:
    old_ip = old_spec.get("clusterIP")
    wanted = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
    if not wanted and old_ip:
        wanted = old_ip
    if old_ip and wanted != old_ip:
        raise errors.invalid("Service", "", name, [(
            "spec.clusterIPs[0]", f'Invalid value: "{wanted}": may not change once set')])
    if wanted == "None":
        spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
        spec.setdefault("ipFamilies", ["IPv4"])
        # A headless Service without a selector may take every family the cluster has.
        spec.setdefault("ipFamilyPolicy",
                        "SingleStack" if spec.get("selector") else "RequireDualStack")
        return
    if not wanted:
        wanted = _allocate_ip(used_ips, name)
    elif wanted != old_ip:
        _check_requested_ip(str(wanted), used_ips, name)
    spec["clusterIP"], spec["clusterIPs"] = wanted, [wanted]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")


def _allocate_ip(used: set[str], name: str) -> str:
    """The lowest free address of the CIDR past the reserved first one (the real allocator
    picks at random; a deterministic pick keeps the drill's scenarios reproducible)."""
    for host in SERVICE_CIDR.hosts():
        ip = str(host)
        if ip != str(SERVICE_CIDR.network_address + 1) and ip not in used:
            return ip
    raise errors.ApiError(500, "InternalError", f"Internal error occurred: failed to allocate "
                          f"a serviceIP: range is full (Service {name})")


def _check_requested_ip(ip: str, used: set[str], name: str) -> None:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise errors.invalid("Service", "", name, [(
            "spec.clusterIPs[0]", f'Invalid value: "{ip}": must be a valid IP address, '
            '(e.g. 10.9.8.7 or 2001:db8::ffff)')]) from None
    if addr not in SERVICE_CIDR:
        raise errors.invalid("Service", "", name, [(
            "spec.clusterIPs", f'Invalid value: []string{{"{ip}"}}: failed to allocate IP '
            f"{ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs "
            f"is {SERVICE_CIDR}")])
    if ip in used:
        raise errors.invalid("Service", "", name, [(
            "spec.clusterIPs", f'Invalid value: []string{{"{ip}"}}: failed to allocate IP '
            f"{ip}: provided IP is already allocated")])


def _default_ports(spec: Obj, typ: str, old_spec: Obj, used_ports: set[int], name: str) -> None:
    old_node_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                      for p in old_spec.get("ports") or [] if isinstance(p, dict)}
    for port in spec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        port.setdefault("protocol", "TCP")
        if "targetPort" not in port and isinstance(port.get("port"), int):
            port["targetPort"] = port["port"]
        if typ not in ("NodePort", "LoadBalancer") or isinstance(port.get("nodePort"), int):
            continue
        kept = old_node_ports.get((port.get("port"), port["protocol"]))
        if isinstance(kept, int):
            port["nodePort"] = kept
            continue
        free = next((p for p in NODE_PORTS if p not in used_ports), None)
        if free is None:
            raise errors.ApiError(500, "InternalError", f"Internal error occurred: failed to "
                                  f"allocate a nodePort: range is full (Service {name})")
        port["nodePort"] = free
        used_ports.add(free)


def default_replication_controller(rc: Obj, old: Obj | None) -> None:
    """ReplicationController (v1 ``SetDefaults_ReplicationController``): the selector and the
    object's labels default to the template's labels, replicas to 1; a new one's status is
    ``{replicas: 0}`` (``replicas`` has no omitempty)."""
    spec = rc.setdefault("spec", {})
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if isinstance(labels, dict) and labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = rc.setdefault("metadata", {})
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    spec.setdefault("replicas", 1)
    # minReadySeconds is not defaulted: 0 is omitted by the real server (omitempty).
    if old is None:
        rc["status"] = {"replicas": 0}


def default_daemon_set(ds: Obj, old: Obj | None) -> None:
    """DaemonSet (apps/v1 ``SetDefaults_DaemonSet``): a RollingUpdate strategy of one
    unavailable and no surge, ten revisions kept; a new one's status holds the four counts
    without omitempty."""
    spec = ds.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxUnavailable", 1)
                rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    # The registry's template generation, shown in apps/v1 as this annotation: 1 on create,
    # one more each time the pod template changes.
    annotations = ds.setdefault("metadata", {}).setdefault("annotations", {})
    if isinstance(annotations, dict):
        old_meta = (old or {}).get("metadata") or {}
        previous = (old_meta.get("annotations") or {}).get(TEMPLATE_GENERATION)
        changed = old is not None and spec.get("template") != (old.get("spec") or {}).get(
            "template")
        generation = int(str(previous)) if str(previous or "").isdigit() else 1
        annotations[TEMPLATE_GENERATION] = str(generation + 1 if changed else generation)
    if old is None:
        ds["status"] = {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                        "desiredNumberScheduled": 0, "numberReady": 0}


def default_deployment(deploy: Obj) -> None:
    """Deployment (apps/v1 ``SetDefaults_Deployment``): one replica, a RollingUpdate
    strategy of 25% surge and 25% unavailable, ten revisions kept, a 600 s progress
    deadline."""
    spec = deploy.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxUnavailable", "25%")
                rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


GATEWAY_PENDING = {"lastTransitionTime": "1970-01-01T00:00:00Z",
                   "message": "Waiting for controller", "reason": "Pending",
                   "status": "Unknown"}
"""The condition the Gateway API v1.6.1 CRDs' schemas default a new status to."""


def default_gateway_status(obj: Obj, types: tuple[str, ...]) -> None:
    """Gateway and GatewayClass: the CRD's structural schema defaults an absent ``status``
    to these conditions ("Waiting for controller"), as the real server applies it."""
    if "status" not in obj:
        obj["status"] = {"conditions": [{**GATEWAY_PENDING, "type": t} for t in types]}


def apply(kind: str, obj: Obj, old: Obj | None, services: Iterable[Obj]) -> Obj:
    """``obj`` with its kind's defaults (a copy when anything is defaulted; ``services``: the
    other stored Services, whose allocations a Service must not reuse)."""
    if kind == "Service":
        obj = copy.deepcopy(obj)
        default_service(obj, old, *service_allocations(services))
    elif kind == "ReplicationController":
        obj = copy.deepcopy(obj)
        default_replication_controller(obj, old)
    elif kind == "DaemonSet":
        obj = copy.deepcopy(obj)
        default_daemon_set(obj, old)
    elif kind == "Deployment":
        obj = copy.deepcopy(obj)
        default_deployment(obj)
    elif kind == "Gateway" and old is None:
        obj = copy.deepcopy(obj)
        default_gateway_status(obj, ("Accepted", "Programmed"))
    elif kind == "GatewayClass" and old is None:
        obj = copy.deepcopy(obj)
        default_gateway_status(obj, ("Accepted",))
    return obj
