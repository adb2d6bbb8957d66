"""A large generated cluster and an event flood, for benchmarks against the drill API server.

``controlroom demo --headless --static --bulk NODES,PODS,DEPLOYMENTS`` serves a cluster of that
size (the default benchmark is 1,000 nodes, 30,000 pods and 3,000 deployments), and
``--flood RATE`` modifies that many pods per second (status flips between Ready and not Ready,
restart counts rising), so watch ingestion can be measured under a steady event stream.
With ``--flood-on-signal`` the flood waits for SIGUSR1 (a benchmark loads the cluster first,
then floods), ``--flood-seconds`` ends it, and the server prints ``flood: N writes in S s``.

Objects are generated as plain dicts with realistic shapes and sizes (a pod is about 3 KB of
JSON, like a real one with a few labels, a container with resources and a full status), but
without the simulated controllers: a benchmark measures the control room, not the simulation.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import datetime
from typing import Any

from drill.resources import BY_KEY
from drill.state import ClusterState, Obj, rfc3339

NODES, PODS = BY_KEY["nodes"], BY_KEY["pods"]
DEPLOYMENTS, NAMESPACES = BY_KEY["deployments.apps"], BY_KEY["namespaces"]


def _node(i: int, ts: str) -> Obj:
    name = f"aks-bulk{i // 100:02d}-{10000000 + i}-vmss{i % 100:06d}"
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "creationTimestamp": ts, "labels": {
            "kubernetes.azure.com/agentpool": f"bulk{i // 100:02d}",
            "kubernetes.azure.com/mode": "user", "kubernetes.io/os": "linux",
            "topology.kubernetes.io/zone": f"westeurope-{i % 3 + 1}"}},
        "spec": {},
        "status": {
            "capacity": {"cpu": "16", "memory": "65842708Ki", "pods": "110"},
            "allocatable": {"cpu": "15820m", "memory": "57221140Ki", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": ts, "lastTransitionTime": ts}],
            "nodeInfo": {"kubeletVersion": "v1.30.6", "osImage": "Ubuntu 22.04.5 LTS",
                         "containerRuntimeVersion": "containerd://1.7.25-1",
                         "kernelVersion": "5.15.0-1079-azure", "architecture": "amd64",
                         "operatingSystem": "linux"},
            "addresses": [{"type": "InternalIP", "address": f"10.{i // 65536}.{i // 256 % 256}."
                           f"{i % 256}"}, {"type": "Hostname", "address": name}],
        },
    }


def _deployment(ns: str, name: str, replicas: int, ts: str) -> Obj:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": ts,
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app",
                                                       "image": f"ghcr.io/bulk/{name}:1.0.0"}]}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                     "maxSurge": "25%", "maxUnavailable": "25%"}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                   "updatedReplicas": replicas, "availableReplicas": replicas,
                   "conditions": [{"type": "Available", "status": "True",
                                   "reason": "MinimumReplicasAvailable"}]},
    }


def _pod(ns: str, deploy: str, i: int, node: str, ts: str, rs_uid: str) -> Obj:
    name = f"{deploy}-7d4b5c9f8d-{i:05d}"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": ts,
                     "uid": str(uuid.uuid4()),
                     "labels": {"app": deploy, "pod-template-hash": "7d4b5c9f8d"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": f"{deploy}-7d4b5c9f8d", "uid": rs_uid,
                                          "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"nodeName": node, "containers": [{
            "name": "app", "image": f"ghcr.io/bulk/{deploy}:1.0.0",
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                          "limits": {"cpu": "500m", "memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                               "periodSeconds": 10}}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
            "serviceAccountName": "default", "schedulerName": "default-scheduler"},
        "status": {
            "phase": "Running", "hostIP": "10.224.0.4", "podIP": f"10.244.{i // 256 % 256}."
            f"{i % 256}", "startTime": ts, "qosClass": "Burstable",
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": ts}
                           for t in ("Initialized", "Ready", "ContainersReady",
                                     "PodScheduled")],
            "containerStatuses": [{
                "name": "app", "ready": True, "started": True, "restartCount": 0,
                "image": f"ghcr.io/bulk/{deploy}:1.0.0",
                "imageID": "ghcr.io/bulk/app@sha256:" + "ab" * 32,
                "containerID": "containerd://" + uuid.uuid4().hex + uuid.uuid4().hex,
                "state": {"running": {"startedAt": ts}}, "lastState": {}}],
        },
    }


def populate(state: ClusterState, nodes: int, pods: int, deployments: int,
             now: datetime) -> None:
    """Fill the state with a cluster of the given size (namespaces of 100 deployments)."""
    ts = rfc3339(now)
    node_names = []
    for i in range(nodes):
        obj = _node(i, ts)
        node_names.append(obj["metadata"]["name"])
        state.create(NODES, obj)
    per = max(1, pods // max(deployments, 1))
    made = 0
    for d in range(deployments):
        ns = f"team-{d // 100:03d}"
        if state.find(NAMESPACES, "", ns) is None:
            state.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": ns}})
        name = f"svc-{d:05d}"
        count = per if d < deployments - 1 else pods - made
        state.create(DEPLOYMENTS, _deployment(ns, name, count, ts))
        rs_uid = str(uuid.uuid4())
        for j in range(count):
            state.create(PODS, _pod(ns, name, j, node_names[(made + j) % len(node_names)],
                                    ts, rs_uid))
        made += count


async def flood(state: ClusterState, rate: float, seconds: float | None = None,
                seed: int = 7) -> int:
    """Modify ``rate`` pods per second (in 20 ms slices) until cancelled or ``seconds`` end.

    Each change flips a pod between Ready and not Ready and bumps its restart count, the kind
    of churn a crash-looping rollout produces. Returns the number of writes made.
    """
    rng = random.Random(seed)
    pods = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in state.objects(PODS)]
    if not pods:
        return 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    done = 0
    slice_ = 0.02
    while seconds is None or loop.time() - start < seconds:
        due = int((loop.time() - start) * rate) - done
        for _ in range(max(0, due)):
            ns, name = pods[rng.randrange(len(pods))]

            def churn(p: dict[str, Any]) -> dict[str, Any]:
                cs = p["status"]["containerStatuses"][0]
                cs["ready"] = not cs["ready"]
                cs["restartCount"] += 0 if cs["ready"] else 1
                for c in p["status"]["conditions"]:
                    if c["type"] in ("Ready", "ContainersReady"):
                        c["status"] = "True" if cs["ready"] else "False"
                return p

            try:
                state.mutate(PODS, ns, name, churn, subresource="status")
            except Exception:  # noqa: BLE001 - a benchmark driver never stops on one pod
                continue
            done += 1
        await asyncio.sleep(slice_)
    return done
