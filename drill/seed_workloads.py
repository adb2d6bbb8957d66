"""Constructors for the drill cluster's nodes, workloads, metrics and events.

These build full Kubernetes JSON objects shaped like the ones AKS and its controllers write
(labels, owner references, conditions, status counters), because the control room and kubectl
read them exactly as they would read a production cluster. They are shared by the seed
(:mod:`drill.seed`) and by the simulated controllers, which is why they take explicit
inputs (``now``, node, index) and never draw randomness: the same inputs give the same object.

Naming follows the real controllers: ReplicaSets are ``<deployment>-<pod-template-hash>``
where the hash is computed the way the deployment controller does it (FNV-1a over the
template, then ``SafeEncodeString``), and pods are ``<replicaset>-<5 chars>``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

Obj = dict[str, Any]

#: uuid5 namespace of every drill-cluster uid, so seeds are reproducible.
UID_NAMESPACE = uuid.UUID("6f0c3c7e-9d1b-4d52-9a51-2f3f0a7d1e01")
#: The alphabet of Kubernetes' ``rand.SafeEncodeString`` (no vowels, no look-alikes).
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

CLUSTER_RESOURCE_GROUP = "MC_rg-drill_aks-drill_westeurope"
SUBSCRIPTION = "8f3e1c2a-5b7d-4e69-a0c4-2d9b6f1e7a35"
REGION = "westeurope"
KUBELET_VERSION = "v1.30.6"

#: (pool, vmss id, node count, mode); pool ``userblue`` is the active half of the user pool's
#: blue/green pair (a ``usergreen`` pool appears only during a node-pool rollout).
NODE_POOLS: tuple[tuple[str, str, int, str], ...] = (
    ("system", "12345678", 2, "system"),
    ("userblue", "87654321", 3, "user"),
)


def node_names(pool: str | None = None) -> list[str]:
    """Names of the seeded nodes (all, or one pool's), in creation order."""
    return [
        f"aks-{name}-{vmss}-vmss{i:06d}"
        for name, vmss, count, _mode in NODE_POOLS if pool in (None, name)
        for i in range(count)
    ]


def pool_nodes(mode: str) -> list[str]:
    """Nodes of every pool in ``system`` or ``user`` mode."""
    return [n for name, _v, _c, m in NODE_POOLS if m == mode for n in node_names(name)]


def _node_index(node: str) -> int:
    names = node_names()
    return names.index(node) if node in names else 32 + _hash_int(node) % 200


def node_internal_ip(node: str) -> str:
    """The InternalIP of a node: seeded nodes get 10.224.0.4 onwards, others a stable one."""
    return f"10.224.{_node_index(node) // 250}.{4 + _node_index(node) % 250}"


# ---------------------------------------------------------------------------------------------
# identity, time and hashing


def stable_uid(*parts: str) -> str:
    """A deterministic uid for an object identified by ``parts``."""
    return str(uuid.uuid5(UID_NAMESPACE, "/".join(parts)))


def rfc3339(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, the form the API server writes for ``metav1.Time``."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_now(now: datetime) -> datetime:
    """UTC, whole seconds: the API only stores seconds, so derived times stay consistent."""
    aware = now if now.tzinfo else now.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0)


def fnv32a(data: bytes) -> int:
    """32-bit FNV-1a, the hash behind the deployment controller's pod-template-hash."""
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def _hash_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def template_hash(template: Obj, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of a pod template, the way the deployment controller makes it.

    FNV-1a over a canonical rendering of the template (JSON with sorted keys here, where Go
    hashes a spew dump: values differ from a real cluster's but are stable and
    template-sensitive), the collision count mixed in when set, then the decimal digits mapped
    through ``SafeEncodeString``. Like the real thing, the result is up to 10 characters
    (usually 9 or 10) from ``bcdfghjklmnpqrstvwxz2456789``. The ``pod-template-hash`` label
    itself is ignored, so a ReplicaSet's template hashes like its Deployment's.
    """
    clean = copy.deepcopy(template)
    labels = (clean.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop("pod-template-hash", None)
    data = json.dumps(clean, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += collision_count.to_bytes(4, "little")
    return "".join(SAFE_ALPHABET[ord(ch) % len(SAFE_ALPHABET)] for ch in str(fnv32a(data)))


def random_suffix(seed: str, length: int = 5) -> str:
    """A stable stand-in for ``rand.String(5)``: the 5 characters after ``<rs>-`` in a pod."""
    n = _hash_int(seed)
    out = []
    for _ in range(length):
        n, digit = divmod(n, len(SAFE_ALPHABET))
        out.append(SAFE_ALPHABET[digit])
    return "".join(out)


def owner_ref(owner: Obj) -> Obj:
    """A controller ownerReference to ``owner``, as the workload controllers set them."""
    return {
        "apiVersion": owner["apiVersion"], "kind": owner["kind"],
        "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
        "controller": True, "blockOwnerDeletion": True,
    }


def _condition(ctype: str, status: str, when: datetime, reason: str = "", message: str = "",
               **extra: Any) -> Obj:
    cond: Obj = {"type": ctype, "status": status, **extra, "lastTransitionTime": rfc3339(when)}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


# ---------------------------------------------------------------------------------------------
# nodes


def make_node(pool: str, mode: str, name: str, index: int, created: datetime,
              now: datetime) -> Obj:
    """An AKS VMSS node as the kubelet and the Azure cloud provider report it."""
    zone = f"{REGION}-{index % 3 + 1}"
    vmss = name.rsplit("-", 1)[0]
    instance = int(name[-6:], 36)
    pod_cidr = f"10.244.{_node_index(name)}.0/24"
    labels = {
        "agentpool": pool, "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": "Standard_D4s_v5", "beta.kubernetes.io/os": "linux",
        "failure-domain.beta.kubernetes.io/region": REGION,
        "failure-domain.beta.kubernetes.io/zone": zone,
        "kubernetes.azure.com/agentpool": pool, "kubernetes.azure.com/cluster":
            CLUSTER_RESOURCE_GROUP, "kubernetes.azure.com/mode": mode,
        "kubernetes.azure.com/node-image-version": "AKSUbuntu-2204gen2containerd-202411.12.0",
        "kubernetes.azure.com/os-sku": "Ubuntu", "kubernetes.azure.com/role": "agent",
        "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
        "kubernetes.io/role": "agent", "node-role.kubernetes.io/agent": "",
        "node.kubernetes.io/instance-type": "Standard_D4s_v5",
        "topology.kubernetes.io/region": REGION, "topology.kubernetes.io/zone": zone,
    }
    heartbeat = rfc3339(now - timedelta(seconds=17 + index * 7))

    def cond(ctype: str, status: str, reason: str, message: str) -> Obj:
        return {"type": ctype, "status": status, "lastHeartbeatTime": heartbeat,
                "lastTransitionTime": rfc3339(created + timedelta(seconds=40)),
                "reason": reason, "message": message}

    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name, "uid": stable_uid("v1", "Node", name), "generation": 1,
            "creationTimestamp": rfc3339(created), "labels": labels,
            "annotations": {
                "csi.volume.kubernetes.io/nodeid": json.dumps(
                    {"disk.csi.azure.com": name, "file.csi.azure.com": name},
                    separators=(",", ":")),
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {
            "podCIDR": pod_cidr, "podCIDRs": [pod_cidr],
            "providerID": (
                f"azure:///subscriptions/{SUBSCRIPTION}/resourceGroups/"
                f"{CLUSTER_RESOURCE_GROUP.lower()}/providers/Microsoft.Compute/"
                f"virtualMachineScaleSets/{vmss}/virtualMachines/{instance}"),
        },
        "status": {
            "addresses": [{"type": "InternalIP", "address": node_internal_ip(name)},
                          {"type": "Hostname", "address": name}],
            "allocatable": {"cpu": "3860m", "ephemeral-storage": "119703055367",
                            "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "12880184Ki",
                            "pods": "110"},
            "capacity": {"cpu": "4", "ephemeral-storage": "129886128Ki", "hugepages-1Gi": "0",
                         "hugepages-2Mi": "0", "memory": "16374584Ki", "pods": "110"},
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory",
                     "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure",
                     "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID",
                     "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64", "bootID": stable_uid("boot", name),
                "containerRuntimeVersion": "containerd://1.7.23-1",
                "kernelVersion": "5.15.0-1074-azure", "kubeProxyVersion": KUBELET_VERSION,
                "kubeletVersion": KUBELET_VERSION,
                "machineID": hashlib.md5(name.encode(), usedforsecurity=False).hexdigest(),
                "operatingSystem": "linux", "osImage": "Ubuntu 22.04.5 LTS",
                "systemUUID": stable_uid("system", name),
            },
        },
    }


# ---------------------------------------------------------------------------------------------
# deployments, replica sets, pods


def make_deployment(name: str, namespace: str, template: Obj, replicas: int, revision: int,
                    created: datetime, rs_name: str, *, labels: Obj | None = None,
                    annotations: Obj | None = None) -> Obj:
    """A Deployment in steady state: every replica updated, ready and available."""
    meta_annotations = {"deployment.kubernetes.io/revision": str(revision), **(annotations or {})}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": name, "namespace": namespace,
            "uid": stable_uid("apps/v1", "Deployment", namespace, name), "generation": 1,
            "creationTimestamp": rfc3339(created), "labels": dict(labels or {"app": name}),
            "annotations": meta_annotations,
        },
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": copy.deepcopy(template),
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [
                _condition("Available", "True", created + timedelta(seconds=20),
                           "MinimumReplicasAvailable", "Deployment has minimum availability.",
                           lastUpdateTime=rfc3339(created + timedelta(seconds=20))),
                _condition("Progressing", "True", created, "NewReplicaSetAvailable",
                           f'ReplicaSet "{rs_name}" has successfully progressed.',
                           lastUpdateTime=rfc3339(created + timedelta(seconds=20))),
            ],
        },
    }


def make_replicaset(deploy: Obj, revision: int, now: datetime, *,
                    replicas: int | None = None) -> Obj:
    """The ReplicaSet the deployment controller creates for ``deploy``'s current template.

    Named ``<deployment>-<pod-template-hash>``, labelled and selected by that hash, owned by the
    Deployment, annotated with its revision and the desired/max replica counts the controller
    writes. ``replicas`` defaults to the Deployment's; status reports them all ready (0 for an
    old, scaled-down ReplicaSet). ``now`` becomes its creationTimestamp.
    """
    now = normalize_now(now)
    dmeta, dspec = deploy["metadata"], deploy["spec"]
    template = copy.deepcopy(dspec["template"])
    pth = template_hash(template)
    template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pth
    name = f"{dmeta['name']}-{pth}"
    desired = int(dspec.get("replicas", 1))
    count = desired if replicas is None else replicas
    selector = copy.deepcopy(dspec["selector"])
    selector.setdefault("matchLabels", {})["pod-template-hash"] = pth
    ns = dmeta["namespace"]
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": name, "namespace": ns,
            "uid": stable_uid("apps/v1", "ReplicaSet", ns, name, rfc3339(now)), "generation": 1,
            "creationTimestamp": rfc3339(now),
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": str(desired),
                "deployment.kubernetes.io/max-replicas": str(desired + math.ceil(desired / 4)),
                "deployment.kubernetes.io/revision": str(revision),
            },
            "ownerReferences": [owner_ref(deploy)],
        },
        "spec": {"replicas": count, "selector": selector, "template": template},
        "status": {"replicas": count, "fullyLabeledReplicas": count, "readyReplicas": count,
                   "availableReplicas": count, "observedGeneration": 1},
    }


def _qos_class(containers: list[Obj]) -> str:
    """The QoS class the API server derives from requests and limits."""
    requests = [c.get("resources", {}).get("requests") or {} for c in containers]
    limits = [c.get("resources", {}).get("limits") or {} for c in containers]
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(
        lim.get(r) and (req.get(r, lim.get(r)) == lim.get(r))
        for req, lim in zip(requests, limits, strict=True) for r in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def image_digest(image: str) -> str:
    """A stable ``repo@sha256:...`` imageID for an image reference."""
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def make_pod(rs: Obj, node: str, index: int, now: datetime, *, pod_ip: str | None = None,
             running: bool = True) -> Obj:
    """A pod of ``rs`` bound to ``node``, created at ``now``.

    ``running=True`` gives the steady state (Running, every container started and ready,
    started a few seconds after creation); ``running=False`` a pod the kubelet is still
    starting (Pending, ``ContainerCreating``, no pod IP), for controllers that then move it on.
    The name is ``<rs>-<5 chars>``: the ReplicaSet's name (``<deployment>-<pod-template-hash>``,
    a hash of the pod template as the deployment controller makes it) and ``index`` give the
    5 characters. The real apiserver draws them at random (``generateName``); here they are
    the same on every run, whatever the start time or the wall clock, so a drill's screens,
    snapshots and the names in a runbook are reproducible.
    """
    now = normalize_now(now)
    rmeta = rs["metadata"]
    ns = rmeta["namespace"]
    template = copy.deepcopy(rs["spec"]["template"])
    seed = f"{rmeta['name']}/{index}"
    name = f"{rmeta['name']}-{random_suffix(seed)}"
    spec = template.get("spec") or {}
    spec.setdefault("serviceAccountName", "default")
    spec["serviceAccount"] = spec["serviceAccountName"]
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("tolerations", [
        {"effect": "NoExecute", "key": f"node.kubernetes.io/{key}", "operator": "Exists",
         "tolerationSeconds": 300} for key in ("not-ready", "unreachable")])
    spec["nodeName"] = node
    started = now + timedelta(seconds=3)
    ready_at = now + timedelta(seconds=9)
    host_ip = node_internal_ip(node)
    status: Obj = {"hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                   "qosClass": _qos_class(spec["containers"]), "startTime": rfc3339(now)}
    statuses = []
    for c in spec["containers"]:
        cs: Obj = {"name": c["name"], "image": c["image"], "imageID": "", "lastState": {},
                   "restartCount": 0, "ready": running, "started": running}
        if running:
            cs["imageID"] = image_digest(c["image"])
            cs["containerID"] = "containerd://" + hashlib.sha256(
                f"{name}/{c['name']}".encode()).hexdigest()
            cs["state"] = {"running": {"startedAt": rfc3339(started)}}
        else:
            cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
        statuses.append(cs)
    status["containerStatuses"] = statuses
    if running:
        ip = pod_ip or f"10.244.{_node_index(node)}.{2 + _hash_int(name) % 250}"
        status.update(phase="Running", podIP=ip, podIPs=[{"ip": ip}])
        status["conditions"] = [
            _condition("PodReadyToStartContainers", "True", started, lastProbeTime=None),
            _condition("Initialized", "True", now, lastProbeTime=None),
            _condition("Ready", "True", ready_at, lastProbeTime=None),
            _condition("ContainersReady", "True", ready_at, lastProbeTime=None),
            _condition("PodScheduled", "True", now, lastProbeTime=None),
        ]
    else:
        waiting = f"containers with unready status: [{' '.join(c['name'] for c in statuses)}]"
        status["phase"] = "Pending"
        status["conditions"] = [
            _condition("PodReadyToStartContainers", "False", now, lastProbeTime=None),
            _condition("Initialized", "True", now, lastProbeTime=None),
            _condition("Ready", "False", now, "ContainersNotReady", waiting, lastProbeTime=None),
            _condition("ContainersReady", "False", now, "ContainersNotReady", waiting,
                       lastProbeTime=None),
            _condition("PodScheduled", "True", now, lastProbeTime=None),
        ]
    tmeta = template.get("metadata") or {}
    meta: Obj = {
        "name": name, "namespace": ns, "uid": stable_uid("v1", "Pod", ns, name),
        "generation": 1, "creationTimestamp": rfc3339(now),
        "labels": dict(tmeta.get("labels") or {}),
    }
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    meta["ownerReferences"] = [owner_ref(rs)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


# ---------------------------------------------------------------------------------------------
# metrics and events


def _usage_fraction(key: str, low: float, high: float) -> float:
    """A stable pseudo-random share in [low, high) (fine-grained, like measured usage)."""
    return low + (high - low) * (_hash_int(key) % 1_000_003) / 1_000_003


def _quantity_value(text: str) -> float:
    """Rough numeric value of the few quantity shapes the seed writes (not a parser)."""
    units = {"m": 1e-3, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "": 1}
    for suffix in ("Ki", "Mi", "Gi", "m"):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * units[suffix]
    return float(text)


def make_pod_metrics(pod: Obj, now: datetime) -> Obj:
    """metrics-server's PodMetrics for a running pod: usage a stable share of its requests."""
    meta = pod["metadata"]
    containers = []
    for c in pod["spec"]["containers"]:
        req = (c.get("resources") or {}).get("requests") or {}
        cpu = _quantity_value(req.get("cpu", "50m")) * _usage_fraction(meta["name"] + "c", .1, .6)
        mem = _quantity_value(req.get("memory", "64Mi")) * _usage_fraction(
            meta["name"] + "m", .4, .9)
        containers.append({"name": c["name"], "usage": {
            "cpu": f"{max(1, round(cpu * 1e9))}n", "memory": f"{max(1, round(mem / 1024))}Ki"}})
    return {
        "apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                     "uid": stable_uid("metrics.k8s.io/v1beta1", "PodMetrics", meta["namespace"],
                                       meta["name"]),
                     "generation": 1, "creationTimestamp": rfc3339(now),
                     "labels": dict(meta.get("labels") or {})},
        "timestamp": rfc3339(now - timedelta(seconds=12)), "window": "30s",
        "containers": containers,
    }


def make_node_metrics(node: Obj, pod_metrics: list[Obj], now: datetime) -> Obj:
    """NodeMetrics: the node's pods plus system daemons (kubelet, containerd, kube-proxy)."""
    name = node["metadata"]["name"]
    cpu = 0.18 + _usage_fraction(name + "c", 0, .12)
    mem = 1.6 * 1024**3 + _usage_fraction(name + "m", 0, 1) * 512 * 1024**2
    for pm in pod_metrics:
        for c in pm["containers"]:
            cpu += _quantity_value(c["usage"]["cpu"].rstrip("n")) / 1e9
            mem += _quantity_value(c["usage"]["memory"])
    return {
        "apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
        "metadata": {"name": name, "uid": stable_uid("metrics.k8s.io/v1beta1", "NodeMetrics",
                                                     name),
                     "generation": 1, "creationTimestamp": rfc3339(now),
                     "labels": dict(node["metadata"].get("labels") or {})},
        "timestamp": rfc3339(now - timedelta(seconds=9)), "window": "30s",
        "usage": {"cpu": f"{round(cpu * 1e9)}n", "memory": f"{round(mem / 1024)}Ki"},
    }


def make_event(involved: Obj, reason: str, message: str, component: str, when: datetime, *,
               host: str = "", field_path: str = "", event_type: str = "Normal") -> Obj:
    """A core/v1 Event as a component's event recorder writes it (count 1, legacy fields)."""
    meta = involved["metadata"]
    ns = meta.get("namespace", "default")
    name = f"{meta['name']}.{int(when.timestamp() * 1e9) + _hash_int(reason) % 1000:x}"
    ref: Obj = {"apiVersion": involved["apiVersion"], "kind": involved["kind"],
                "name": meta["name"], "namespace": ns, "uid": meta["uid"]}
    if field_path:
        ref["fieldPath"] = field_path
    source: Obj = {"component": component}
    if host:
        source["host"] = host
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns, "uid": stable_uid("v1", "Event", ns, name),
                     "generation": 1, "creationTimestamp": rfc3339(when)},
        "involvedObject": ref, "reason": reason, "message": message, "source": source,
        "firstTimestamp": rfc3339(when), "lastTimestamp": rfc3339(when), "count": 1,
        "type": event_type, "eventTime": None, "reportingComponent": component,
        "reportingInstance": host,
    }
