"""Node health and resource metrics of the drill cluster.

:class:`NodeController` plays two parts that meet at a node's Ready condition: each live
kubelet's status heartbeat, and kube-controller-manager's node lifecycle controller, which
notices a silent kubelet (``config.down_nodes``), marks the node Unknown and tainted, its pods
not ready, and finally evicts them so their ReplicaSets replace them elsewhere. That is the
"node goes NotReady" drill, and the order and timing of its symptoms are what an on-call
engineer must learn to read.

:class:`MetricsController` plays metrics-server: every scrape interval, PodMetrics and
NodeMetrics for everything running, with usage that wanders plausibly (a seeded, mean-reverting
random walk per container) so ``kubectl top`` and the control room's CPU/memory columns move
like a live cluster's and stay reproducible in tests.

Heartbeats are the only writes of a calm cluster besides metrics, and they are rare
(``node_status_interval``): an idle drill must not flood watchers.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from datetime import datetime

from backends.quantity import cpu_millicores, memory_bytes
from drill.controllers.config import SimConfig
from drill.controllers.core import EventRecorder
from drill.controllers.kubelet import (
    NODES,
    PODS,
    get_condition,
    is_terminating,
    seconds_since,
    set_pod_condition,
    tolerate,
)
from drill.resources import BY_KEY, ResourceType
from drill.state import ClusterState, Obj, rfc3339

NODE_METRICS = BY_KEY["nodes.metrics.k8s.io"]
POD_METRICS = BY_KEY["pods.metrics.k8s.io"]

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"

#: Healthy state of the kubelet-reported node conditions: (reason, message).
_HEALTHY = {
    "MemoryPressure": ("False", "KubeletHasSufficientMemory",
                       "kubelet has sufficient memory available"),
    "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
}


class NodeController:
    """Node heartbeats of live kubelets; Unknown, taints and eviction for silent ones."""

    name = "node-controller"

    def __init__(self, state: ClusterState, recorder: EventRecorder, config: SimConfig) -> None:
        self.state = state
        self.recorder = recorder
        self.config = config
        #: Scenario time each node was first seen with a stopped kubelet (the lease stops
        #: being renewed then; the grace period counts from there, not from the last
        #: heartbeat, which live nodes write only every ``node_status_interval``).
        self._down_since: dict[str, float] = {}

    def reconcile(self, now: datetime) -> None:
        down = self.config.down_nodes
        pods_by_node: dict[str, list[Obj]] | None = None
        for node in self.state.readable(NODES):
            name = node["metadata"]["name"]
            with tolerate(self.name, node):
                if name not in down:
                    self._down_since.pop(name, None)
                    self._up(node, now)
                    continue
                if pods_by_node is None:
                    pods_by_node = {}
                    for pod in self.state.readable(PODS):
                        pods_by_node.setdefault(
                            (pod.get("spec") or {}).get("nodeName") or "", []).append(pod)
                self._down(node, pods_by_node.get(name, []), now)
        for name in set(self._down_since) - down:
            del self._down_since[name]

    def _up(self, node: Obj, now: datetime) -> None:
        """A running kubelet: clear what the lifecycle controller set, refresh heartbeats."""
        meta = node["metadata"]
        ts = rfc3339(now)
        taints = (node.get("spec") or {}).get("taints") or []
        if any(t.get("key") in (UNREACHABLE, NOT_READY) for t in taints):
            def untaint(n: Obj) -> Obj:
                kept = [t for t in n["spec"].get("taints") or []
                        if t.get("key") not in (UNREACHABLE, NOT_READY)]
                if kept:
                    n["spec"]["taints"] = kept
                else:
                    n["spec"].pop("taints", None)
                return n
            node = self.state.mutate(NODES, "", meta["name"], untaint)
        ready = get_condition(node, "Ready")
        if ready is None or ready.get("status") != "True":
            def recover(n: Obj) -> Obj:
                conds = n.setdefault("status", {}).setdefault("conditions", [])
                for ctype, (status, reason, message) in _HEALTHY.items():
                    cond = next((c for c in conds if c.get("type") == ctype), None)
                    if cond is None:
                        cond = {"type": ctype}
                        conds.append(cond)
                    if cond.get("status") != status:
                        cond.update(status=status, reason=reason, message=message,
                                    lastTransitionTime=ts)
                    cond["lastHeartbeatTime"] = ts
                return n
            self.state.mutate(NODES, "", meta["name"], recover, subresource="status")
            self.recorder.record(node, "Normal", "NodeReady",
                                 f"Node {meta['name']} status is now: NodeReady", "kubelet")
        elif seconds_since(ready.get("lastHeartbeatTime"), now,
                           default=1e9) >= self.config.node_status_interval:
            def beat(n: Obj) -> Obj:
                for cond in n["status"].get("conditions") or []:
                    cond["lastHeartbeatTime"] = ts
                return n
            self.state.mutate(NODES, "", meta["name"], beat, subresource="status")

    def _down(self, node: Obj, pods: list[Obj], now: datetime) -> None:
        """A silent kubelet: Unknown after the grace period, then tainted, pods not ready,
        and evicted (force-deleted) after the eviction timeout."""
        meta = node["metadata"]
        ts = rfc3339(now)
        since = self._down_since.setdefault(meta["name"], now.timestamp())
        ready = get_condition(node, "Ready")
        if ready is None or ready.get("status") != "Unknown":
            if now.timestamp() - since < self.config.node_grace_seconds:
                return

            def lost(n: Obj) -> Obj:
                for cond in n.setdefault("status", {}).setdefault("conditions", []):
                    cond.update(status="Unknown", reason="NodeStatusUnknown",
                                message="Kubelet stopped posting node status.",
                                lastTransitionTime=ts)
                return n
            node = self.state.mutate(NODES, "", meta["name"], lost, subresource="status")
            self.recorder.record(node, "Normal", "NodeNotReady",
                                 f"Node {meta['name']} status is now: NodeNotReady",
                                 "node-controller")
            ready = get_condition(node, "Ready")
        taints = (node.get("spec") or {}).get("taints") or []
        if not any(t.get("key") == UNREACHABLE for t in taints):
            def taint(n: Obj) -> Obj:
                n.setdefault("spec", {}).setdefault("taints", []).extend([
                    {"key": UNREACHABLE, "effect": "NoSchedule"},
                    {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": ts}])
                return n
            self.state.mutate(NODES, "", meta["name"], taint)
        unknown_for = seconds_since((ready or {}).get("lastTransitionTime"), now)
        for pod in pods:
            with tolerate(self.name, pod):
                self._pod_on_lost_node(pod, unknown_for, now)

    def _pod_on_lost_node(self, pod: Obj, unknown_for: float, now: datetime) -> None:
        pmeta = pod["metadata"]
        if unknown_for >= self.config.eviction_seconds:
            if not is_terminating(pod):
                self.recorder.record(pod, "Normal", "TaintManagerEviction",
                                     f"Marking for deletion Pod {pmeta['namespace']}/"
                                     f"{pmeta['name']}", "taint-eviction-controller")
            # Force: nobody is left on the node to finish a graceful termination.
            self.state.delete(PODS, pmeta["namespace"], pmeta["name"], grace_seconds=0)
            return
        ready = get_condition(pod, "Ready")
        if is_terminating(pod) or (ready is not None and ready.get("status") == "False"):
            return

        def not_ready(p: Obj) -> Obj:
            set_pod_condition(p.setdefault("status", {}).setdefault("conditions", []),
                              "Ready", "False", rfc3339(now))
            return p
        self.state.mutate(PODS, pmeta["namespace"], pmeta["name"], not_ready,
                          subresource="status")
        self.recorder.record(pod, "Warning", "NodeNotReady", "Node is not ready",
                             "node-controller")


# ------------------------------------------------------------------------------ metrics


@dataclass
class _Walk:
    """A mean-reverting random walk of (cpu cores, memory bytes) for one container or node."""

    rng: random.Random
    cpu: float
    mem: float
    cpu_mean: float
    mem_mean: float

    def step(self, cpu_cap: float, mem_cap: float) -> tuple[float, float]:
        self.cpu += 0.3 * (self.cpu_mean - self.cpu) + self.rng.gauss(0, 0.12) * self.cpu_mean
        self.mem += 0.2 * (self.mem_mean - self.mem) + self.rng.gauss(0, 0.02) * self.mem_mean
        self.cpu = min(max(self.cpu, self.cpu_mean * 0.05, 1e-4), cpu_cap)
        self.mem = min(max(self.mem, self.mem_mean * 0.5, 1024.0), mem_cap)
        return self.cpu, self.mem


def _cpu(text: object, default: float) -> float:
    try:
        return cpu_millicores(str(text)) / 1000 if text is not None else default
    except ValueError:
        return default


def _mem(text: object, default: float) -> float:
    try:
        return float(memory_bytes(str(text))) if text is not None else default
    except ValueError:
        return default


def _usage(cpu: float, mem: float) -> Obj:
    return {"cpu": f"{max(1, round(cpu * 1e9))}n", "memory": f"{max(1, round(mem / 1024))}Ki"}


class MetricsController:
    """metrics-server: PodMetrics and NodeMetrics for every running pod and live node."""

    name = "metrics-server"

    def __init__(self, state: ClusterState, recorder: EventRecorder, config: SimConfig) -> None:
        self.state = state
        self.recorder = recorder
        self.config = config
        self._last: float | None = None
        self._walks: dict[tuple[str, ...], _Walk] = {}

    def _walk(self, key: tuple[str, ...], cpu_mean: float, mem_mean: float,
              current: Obj | None) -> _Walk:
        walk = self._walks.get(key)
        if walk is None:
            rng = random.Random("/".join((str(self.config.seed), *key)))
            cpu_mean *= rng.uniform(0.7, 1.3)
            mem_mean *= rng.uniform(0.85, 1.15)
            usage = current or {}
            walk = _Walk(rng, _cpu(usage.get("cpu"), cpu_mean), _mem(usage.get("memory"),
                                                                      mem_mean),
                         cpu_mean, mem_mean)
            self._walks[key] = walk
        return walk

    def reconcile(self, now: datetime) -> None:
        t = now.timestamp()
        if self._last is not None and t - self._last < self.config.metrics_interval:
            return
        self._last = t
        live = {n["metadata"]["name"]: n for n in self.state.readable(NODES)
                if n["metadata"]["name"] not in self.config.down_nodes}
        used: set[tuple[str, ...]] = set()
        per_node: dict[str, tuple[float, float]] = {}
        want: dict[tuple[str, str], tuple[Obj, list[Obj]]] = {}
        old_pm = {(m["metadata"]["namespace"], m["metadata"]["name"]): m
                  for m in self.state.readable(POD_METRICS)}
        for pod in self.state.readable(PODS):
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            status = pod.get("status") or {}
            if node not in live or status.get("phase") != "Running":
                continue
            running = {cs.get("name") for cs in status.get("containerStatuses") or ()
                       if "running" in (cs.get("state") or {})}
            meta = pod["metadata"]
            key = (meta["namespace"], meta["name"])
            before = {c.get("name"): c.get("usage") for c in
                      (old_pm.get(key) or {}).get("containers") or ()}
            containers = []
            for c in (pod.get("spec") or {}).get("containers") or ():
                if c["name"] not in running:
                    continue
                res = c.get("resources") or {}
                req, lim = res.get("requests") or {}, res.get("limits") or {}
                cpu_req = _cpu(req.get("cpu"), 0.05)
                mem_req = _mem(req.get("memory"), 64 * 1024**2)
                wkey: tuple[str, ...] = ("pod", *key, str(c["name"]))
                used.add(wkey)
                walk = self._walk(wkey, cpu_req * 0.35, mem_req * 0.65, before.get(c["name"]))
                cpu, mem = walk.step(_cpu(lim.get("cpu"), cpu_req * 4),
                                     _mem(lim.get("memory"), mem_req * 2))
                containers.append({"name": c["name"], "usage": _usage(cpu, mem)})
                total = per_node.get(node, (0.0, 0.0))
                per_node[node] = (total[0] + cpu, total[1] + mem)
            if containers:
                want[key] = (pod, containers)
        ts = rfc3339(now)
        for key, pm in old_pm.items():
            if key not in want:
                with tolerate(self.name, pm):
                    self.state.delete(POD_METRICS, *key)
        for key, (pod, containers) in want.items():
            with tolerate(self.name, pod):
                self._put(POD_METRICS, key, pod, {"containers": containers}, ts)
        old_nm = {m["metadata"]["name"]: m for m in self.state.readable(NODE_METRICS)}
        for name, nm in old_nm.items():
            if name not in live:
                with tolerate(self.name, nm):
                    self.state.delete(NODE_METRICS, "", name)
        for name, node_obj in live.items():
            alloc = (node_obj.get("status") or {}).get("allocatable") or {}
            cpu_alloc, mem_alloc = _cpu(alloc.get("cpu"), 4.0), _mem(alloc.get("memory"), 16e9)
            wkey = ("node", name)
            used.add(wkey)
            walk = self._walk(wkey, 0.22, 1.8 * 1024**3, None)
            sys_cpu, sys_mem = walk.step(cpu_alloc * 0.2, mem_alloc * 0.3)
            pods_cpu, pods_mem = per_node.get(name, (0.0, 0.0))
            usage = _usage(min(sys_cpu + pods_cpu, cpu_alloc * 0.95),
                           min(sys_mem + pods_mem, mem_alloc * 0.95))
            with tolerate(self.name, node_obj):
                self._put(NODE_METRICS, ("", name), node_obj, {"usage": usage}, ts)
        for wkey in set(self._walks) - used:
            del self._walks[wkey]

    def _put(self, rt: ResourceType, key: tuple[str, str], source: Obj, body: Obj, ts: str) -> None:
        """Create or refresh one metrics object (metrics-server answers with the latest
        scrape; here each scrape is a write, so watchers of the metrics API see it)."""
        ns, name = key
        labels = dict(source["metadata"].get("labels") or {})
        if self.state.find_readable(rt, ns, name) is None:
            meta: Obj = {"name": name, "labels": labels, "creationTimestamp": ts}
            if ns:
                meta["namespace"] = ns
            self.state.create(rt, {"apiVersion": rt.api_version, "kind": rt.kind,
                                   "metadata": meta, "timestamp": ts, "window": "30s", **body})
            return

        def refresh(m: Obj) -> Obj:
            m["metadata"]["labels"] = labels
            m.update(timestamp=ts, window="30s", **copy.deepcopy(body))
            return m
        self.state.mutate(rt, ns, name, refresh)
