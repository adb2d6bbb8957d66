"""The drill cluster's seed platform: a small AKS GitOps platform in steady state.

It mirrors the platform the update strategy describes (reference/update-strategy.md): an AKS
cluster with a ``system`` node pool and a blue/green user pool (``userblue`` active), platform
services deployed by Argo CD (Argo CD itself, monitoring, AI/ML tools), four applications
(frontend, checkout with a 90/10 canary, payments, catalog), traffic through Azure Application
Gateway for Containers (Gateway API), and metrics-server data. Every object is a full API
object (the store only adds resourceVersions) and everything agrees with everything else:
pods belong to the ReplicaSets that select them, ReplicaSets to their Deployments, Services
and HTTPRoutes point at what exists, Argo CD's history matches the in-memory Git
(:data:`GIT_REVISIONS`), metrics exist for every node and pod. Output is a pure function of
``now``, so tests and drills are reproducible.

Older Git revisions that changed an image left scaled-down ReplicaSets behind, exactly as on a
real cluster, so ``kubectl rollout undo`` and Argo CD rollback have something to go back to.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from drill.seed_gitops import (
    APPS,
    GIT_REVISIONS,
    GITOPS_REPO,
    make_argocd_objects,
    make_traffic_objects,
    sync_times,
    tracking_annotation,
)
from drill.seed_workloads import (
    NODE_POOLS,
    Obj,
    make_deployment,
    make_event,
    make_node,
    make_node_metrics,
    make_pod,
    make_pod_metrics,
    make_replicaset,
    node_names,
    normalize_now,
    pool_nodes,
    rfc3339,
    stable_uid,
    template_hash,
)

__all__ = [
    "APPS",
    "GITOPS_REPO",
    "GIT_REVISIONS",
    "SEED_NAMESPACES",
    "WORKLOADS",
    "Workload",
    "make_pod",
    "make_replicaset",
    "seed_objects",
    "sync_times",
    "template_hash",
]

#: Namespaces of the seed, in creation order.
SEED_NAMESPACES: tuple[str, ...] = (
    "default", "kube-system", "azure-alb-system", "argocd", "monitoring", "ai-ml", "frontend",
    "checkout", "payments", "catalog",
)


@dataclass(frozen=True)
class Workload:
    """One Deployment of the platform and how it is built.

    Image and replica count of Argo CD-managed workloads come from the newest entry of
    :data:`GIT_REVISIONS` for their ``app``; the others (AKS add-ons, the Helm-installed ALB
    controller) carry them here.
    """

    name: str
    namespace: str
    app: str | None
    port: tuple[str, int]
    probe: str
    requests: tuple[str, str]
    memory_limit: str
    image: str = ""
    replicas: int = 1
    service: str | None = ""  # "" = same name as the Deployment, None = no Service

    @property
    def mode(self) -> str:
        """Node pool mode: platform components on ``system``, applications on ``user``."""
        return "user" if self.app in ("frontend", "checkout", "payments", "catalog") else "system"


_MCR = "mcr.microsoft.com"
WORKLOADS: tuple[Workload, ...] = (
    Workload("coredns", "kube-system", None, ("dns-tcp", 53), "/ready", ("100m", "70Mi"),
             "500Mi", f"{_MCR}/oss/kubernetes/coredns:v1.11.3-2", 2, service="kube-dns"),
    Workload("metrics-server", "kube-system", None, ("https", 4443), "/readyz",
             ("50m", "80Mi"), "400Mi", f"{_MCR}/oss/kubernetes/metrics-server:v0.7.2", 2),
    Workload("konnectivity-agent", "kube-system", None, ("health", 8082), "/readyz",
             ("20m", "20Mi"), "1Gi",
             f"{_MCR}/oss/kubernetes/apiserver-network-proxy/agent:v0.30.3-hotfix.20240819", 2,
             service=None),
    Workload("alb-controller", "azure-alb-system", None, ("http", 8000), "/healthz",
             ("50m", "64Mi"), "512Mi", f"{_MCR}/application-lb/images/alb-controller:1.7.9", 2),
    Workload("argocd-server", "argocd", "argocd", ("server", 8080), "/healthz",
             ("100m", "128Mi"), "512Mi"),
    Workload("argocd-repo-server", "argocd", "argocd", ("server", 8081), "/healthz",
             ("100m", "256Mi"), "1Gi"),
    Workload("argocd-application-controller", "argocd", "argocd", ("metrics", 8082),
             "/healthz", ("250m", "512Mi"), "2Gi"),
    Workload("argocd-redis", "argocd", "argocd", ("tcp-redis", 6379), "/", ("100m", "64Mi"),
             "256Mi"),
    Workload("prometheus-server", "monitoring", "monitoring", ("web", 9090), "/-/ready",
             ("500m", "2Gi"), "4Gi"),
    Workload("grafana", "monitoring", "monitoring", ("grafana", 3000), "/api/health",
             ("100m", "256Mi"), "512Mi"),
    Workload("alertmanager", "monitoring", "monitoring", ("http", 9093), "/-/ready",
             ("50m", "64Mi"), "256Mi"),
    Workload("kube-state-metrics", "monitoring", "monitoring", ("http", 8080), "/readyz",
             ("50m", "128Mi"), "256Mi"),
    Workload("jupyterhub", "ai-ml", "ai-ml", ("http", 8081), "/hub/health", ("200m", "512Mi"),
             "1Gi"),
    Workload("mlflow", "ai-ml", "ai-ml", ("http", 5000), "/health", ("250m", "512Mi"), "1Gi"),
    Workload("web", "frontend", "frontend", ("http", 8080), "/healthz", ("100m", "128Mi"),
             "256Mi"),
    Workload("checkout-stable", "checkout", "checkout", ("http", 8080), "/healthz",
             ("200m", "256Mi"), "512Mi"),
    Workload("checkout-canary", "checkout", "checkout", ("http", 8080), "/healthz",
             ("200m", "256Mi"), "512Mi"),
    Workload("payments", "payments", "payments", ("http", 8080), "/healthz", ("200m", "256Mi"),
             "512Mi"),
    Workload("catalog", "catalog", "catalog", ("http", 8080), "/healthz", ("100m", "192Mi"),
             "384Mi"),
)

_CLUSTER_AGE = timedelta(days=30)
_BLUE_POOL_AGE = timedelta(days=12)


def _pod_template(w: Workload, image: str) -> Obj:
    """The pod template Git defines for a workload at one image."""
    labels = {"app": w.name, "app.kubernetes.io/name": w.name,
              "app.kubernetes.io/part-of": w.app or w.namespace}
    port_name, port = w.port
    return {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [{
                "name": w.name.removesuffix("-stable").removesuffix("-canary"),
                "image": image, "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": w.requests[0], "memory": w.requests[1]},
                              "limits": {"memory": w.memory_limit}},
                "readinessProbe": {
                    "httpGet": {"path": w.probe, "port": port_name, "scheme": "HTTP"},
                    "initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 1,
                    "successThreshold": 1, "failureThreshold": 3,
                },
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }],
            "nodeSelector": {"kubernetes.azure.com/mode": w.mode},
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
            "securityContext": {},
        },
    }


def _image_history(w: Workload, now: datetime) -> list[tuple[datetime, str, int]]:
    """(deployed at, image, replicas) per revision that contains the workload."""
    if w.app is None:
        created = now - _CLUSTER_AGE + timedelta(minutes=6 if w.namespace == "kube-system" else 50)
        return [(created, w.image, w.replicas)]
    out = []
    for when, commit in zip(sync_times(w.app, now), GIT_REVISIONS[w.app], strict=True):
        spec = commit["deployments"].get(w.name)
        if spec is not None:
            out.append((when, spec["image"], spec["replicas"]))
    return out


def _workload_objects(w: Workload, now: datetime, pod_ips: dict[str, int]) -> list[Obj]:
    """The Deployment, its ReplicaSets (old ones scaled to 0) and the current pods."""
    history = _image_history(w, now)
    revisions: list[tuple[datetime, str]] = []  # (created, image) per distinct template
    for when, image, _replicas in history:
        if not revisions or revisions[-1][1] != image:
            revisions.append((when, image))
    _, image, replicas = history[-1]
    template = _pod_template(w, image)
    labels = dict(template["metadata"]["labels"])
    annotations: Obj = {}
    if w.app is None and w.namespace == "azure-alb-system":
        labels["app.kubernetes.io/managed-by"] = "Helm"
        annotations = {"meta.helm.sh/release-name": "alb-controller",
                       "meta.helm.sh/release-namespace": w.namespace}
    elif w.app is not None:
        annotations = tracking_annotation(w.app, "apps", "Deployment", w.namespace, w.name)
    current_rs = f"{w.name}-{template_hash(template)}"
    deploy = make_deployment(w.name, w.namespace, template, replicas, len(revisions),
                             history[0][0], current_rs, labels=labels, annotations=annotations)
    out = [deploy]
    for rev, (created, old_image) in enumerate(revisions[:-1], start=1):
        old = copy.deepcopy(deploy)
        old["spec"]["template"] = _pod_template(w, old_image)
        out.append(make_replicaset(old, rev, created, replicas=0))
    rs = make_replicaset(deploy, len(revisions), revisions[-1][0])
    out.append(rs)
    nodes = pool_nodes(w.mode)
    offset = int(hashlib.sha256(w.name.encode()).hexdigest(), 16) % len(nodes)
    started = revisions[-1][0] + timedelta(seconds=1)
    for i in range(replicas):
        node = nodes[(offset + i) % len(nodes)]
        pod_ips[node] = pod_ips.get(node, 9) + 1
        ip = f"10.244.{node_names().index(node)}.{pod_ips[node]}"
        out.append(make_pod(rs, node, i, started, pod_ip=ip))
    return out


def _service(w: Workload, cluster_ip: str, created: str) -> Obj:
    """The ClusterIP Service in front of a workload (port 80, or 53 for kube-dns)."""
    name = w.service or w.name
    port_name = "dns-tcp" if w.name == "coredns" else "http"
    port = 53 if w.name == "coredns" else 80
    annotations = (tracking_annotation(w.app, "", "Service", w.namespace, name)
                   if w.app else {})
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": w.namespace,
                     "uid": stable_uid("v1", "Service", w.namespace, name), "generation": 1,
                     "creationTimestamp": created,
                     "labels": {"app": w.name, "app.kubernetes.io/name": w.name},
                     **({"annotations": annotations} if annotations else {})},
        "spec": {
            "type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
            "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
            "ports": [{"name": port_name, "port": port, "protocol": "TCP",
                       "targetPort": w.port[0]}],
            "selector": {"app": w.name},
        },
        "status": {"loadBalancer": {}},
    }


def _cluster_ip(name: str, used: set[str]) -> str:
    """A stable address in AKS' default service CIDR 10.0.0.0/16."""
    n = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    while True:
        ip = f"10.0.{n % 254 + 1}.{(n >> 8) % 253 + 2}"
        if ip not in used:
            used.add(ip)
            return ip
        n += 1


def _namespaces(now: datetime) -> list[Obj]:
    out = []
    for i, ns in enumerate(SEED_NAMESPACES):
        created = now - _CLUSTER_AGE + timedelta(minutes=0 if i < 2 else 40 + i)
        out.append({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "uid": stable_uid("v1", "Namespace", ns), "generation": 1,
                         "creationTimestamp": rfc3339(created),
                         "labels": {"kubernetes.io/metadata.name": ns}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        })
    return out


def _nodes(now: datetime) -> list[Obj]:
    out = []
    for pool, _vmss, _count, mode in NODE_POOLS:
        base = now - (_CLUSTER_AGE if mode == "system" else _BLUE_POOL_AGE)
        for i, name in enumerate(node_names(pool)):
            out.append(make_node(pool, mode, name, i, base + timedelta(minutes=2 + i), now))
    return out


def _rollout_events(objs: list[Obj], now: datetime) -> list[Obj]:
    """The events of the newest rollout (the checkout canary, 40 minutes ago)."""
    deploy = next(o for o in objs if o["kind"] == "Deployment"
                  and o["metadata"]["name"] == "checkout-canary")
    rs = next(o for o in objs if o["kind"] == "ReplicaSet"
              and o["metadata"]["name"].startswith("checkout-canary-"))
    pod = next(o for o in objs if o["kind"] == "Pod"
               and o["metadata"]["name"].startswith(rs["metadata"]["name"] + "-"))
    when = sync_times("checkout", now)[-1]
    node = pod["spec"]["nodeName"]
    container = pod["spec"]["containers"][0]
    field = f"spec.containers{{{container['name']}}}"
    image = container["image"]
    return [
        make_event(deploy, "ScalingReplicaSet",
                   f"Scaled up replica set {rs['metadata']['name']} from 0 to 1",
                   "deployment-controller", when),
        make_event(pod, "Scheduled",
                   f"Successfully assigned checkout/{pod['metadata']['name']} to {node}",
                   "default-scheduler", when + timedelta(seconds=1)),
        make_event(pod, "Pulling", f'Pulling image "{image}"', "kubelet",
                   when + timedelta(seconds=1), host=node, field_path=field),
        make_event(pod, "Pulled",
                   f'Successfully pulled image "{image}" in 2.318s (2.318s including waiting). '
                   "Image size: 48213576 bytes.", "kubelet", when + timedelta(seconds=3),
                   host=node, field_path=field),
        make_event(pod, "Created", f"Created container {container['name']}", "kubelet",
                   when + timedelta(seconds=3), host=node, field_path=field),
        make_event(pod, "Started", f"Started container {container['name']}", "kubelet",
                   when + timedelta(seconds=4), host=node, field_path=field),
    ]


def seed_objects(now: datetime) -> list[dict[str, Any]]:
    """Every object of the seed platform, namespaces and nodes first.

    Deterministic: the same ``now`` gives the same objects (uids included); timestamps are
    placed relative to ``now`` (the cluster is 30 days old, the blue pool 12 days, the newest
    rollout 40 minutes).
    """
    now = normalize_now(now)
    objs: list[Obj] = _namespaces(now) + _nodes(now)
    pod_ips: dict[str, int] = {}
    used_ips = {"10.0.0.1", "10.0.0.10"}
    default_created = now - _CLUSTER_AGE
    objs.append({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "uid": stable_uid("v1", "Service", "default", "kubernetes"),
                     "generation": 1, "creationTimestamp": rfc3339(default_created),
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"],
                 "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"],
                 "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                            "targetPort": 443}]},
        "status": {"loadBalancer": {}},
    })
    for w in WORKLOADS:
        workload = _workload_objects(w, now, pod_ips)
        objs.extend(workload)
        if w.service is not None:
            ip = "10.0.0.10" if w.name == "coredns" else _cluster_ip(w.name, used_ips)
            objs.append(_service(w, ip, workload[0]["metadata"]["creationTimestamp"]))
    objs.extend(make_traffic_objects(now))
    objs.extend(make_argocd_objects(objs, now))
    pods = [o for o in objs if o["kind"] == "Pod"]
    pod_metrics = [make_pod_metrics(p, now) for p in pods]
    for node in (o for o in objs if o["kind"] == "Node"):
        mine = [pm for pm, p in zip(pod_metrics, pods, strict=True)
                if p["spec"]["nodeName"] == node["metadata"]["name"]]
        objs.append(make_node_metrics(node, mine, now))
    objs.extend(pod_metrics)
    objs.extend(_rollout_events(objs, now))
    return objs
