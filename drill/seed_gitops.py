"""The GitOps and traffic side of the seed: the in-memory Git history, Argo CD, Gateway API.

:data:`GIT_REVISIONS` is the drill cluster's stand-in for the platform's GitOps repository:
per Argo CD Application, the commits that touched its path (oldest first), each with the
image and replica count of every Deployment it defines and the backend weights of its
HTTPRoutes. The seeded Applications' ``status.history`` is exactly these commits with
increasing ids and the newest one is what runs, so the Argo-like controller can compare
desired (Git) with live state, self-heal hand edits, and roll back to a previous entry.

Traffic follows Azure Application Gateway for Containers: GatewayClass
``azure-alb-external``, an ``ApplicationLoadBalancer`` and ``gateway-01`` in
``azure-alb-system``, one HTTPRoute per application (checkout split 90/10 between stable and
canary), all with the conditions the ALB controller writes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from drill.seed_workloads import Obj, rfc3339, stable_uid

GITOPS_REPO = "https://git.example.com/platform/gitops.git"
ALB_CONTROLLER = "alb.networking.azure.io/alb-controller"
GATEWAY_NAMESPACE = "azure-alb-system"
GATEWAY_NAME = "gateway-01"
TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"

#: Argo CD Applications: project, destination namespace and path in :data:`GITOPS_REPO`.
APPS: dict[str, dict[str, str]] = {
    "argocd": {"project": "platform", "namespace": "argocd", "path": "platform/argocd"},
    "monitoring": {"project": "platform", "namespace": "monitoring",
                   "path": "platform/monitoring"},
    "ai-ml": {"project": "platform", "namespace": "ai-ml", "path": "platform/ai-ml"},
    "frontend": {"project": "default", "namespace": "frontend", "path": "apps/frontend"},
    "checkout": {"project": "default", "namespace": "checkout", "path": "apps/checkout"},
    "payments": {"project": "default", "namespace": "payments", "path": "apps/payments"},
    "catalog": {"project": "default", "namespace": "catalog", "path": "apps/catalog"},
}

#: HTTPRoutes: name -> (namespace, owning app, hostname).
ROUTES: dict[str, tuple[str, str, str]] = {
    "web": ("frontend", "frontend", "www.drill.example.com"),
    "checkout": ("checkout", "checkout", "checkout.drill.example.com"),
    "payments": ("payments", "payments", "payments.drill.example.com"),
    "catalog": ("catalog", "catalog", "catalog.drill.example.com"),
}


def _commit(app: str, n: int, message: str, deployments: dict[str, tuple[str, int]],
            routes: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:
    return {
        "revision": hashlib.sha1(f"{GITOPS_REPO}#{app}#{n}".encode(),
                                 usedforsecurity=False).hexdigest(),
        "message": message,
        "author": "platform-bot <platform-bot@drill.example.com>",
        "deployments": {
            name: {"image": image, "tag": image.rsplit(":", 1)[1], "replicas": replicas}
            for name, (image, replicas) in deployments.items()
        },
        "routes": routes or {},
    }


_ARGO = "quay.io/argoproj/argocd"
_REDIS = "public.ecr.aws/docker/library/redis:7.2.8-alpine"


def _argocd(tag: str) -> dict[str, tuple[str, int]]:
    return {"argocd-server": (f"{_ARGO}:{tag}", 2), "argocd-repo-server": (f"{_ARGO}:{tag}", 2),
            "argocd-application-controller": (f"{_ARGO}:{tag}", 1),
            "argocd-redis": (_REDIS, 1)}


def _monitoring(prometheus: str, grafana: str, grafana_replicas: int) -> dict[str, tuple[str, int]]:
    return {"prometheus-server": (f"quay.io/prometheus/prometheus:{prometheus}", 2),
            "grafana": (f"docker.io/grafana/grafana:{grafana}", grafana_replicas),
            "alertmanager": ("quay.io/prometheus/alertmanager:v0.28.1", 2),
            "kube-state-metrics": (
                "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.16.0", 1)}


def _single(name: str, image: str, replicas: int, route: str) -> dict[str, Any]:
    return {"deployments": {name: (image, replicas)}, "routes": {route: {name: 1}}}


_CHECKOUT = "ghcr.io/drill/checkout"

#: The in-memory Git history per Application, oldest commit first.
GIT_REVISIONS: dict[str, list[dict[str, Any]]] = {
    "argocd": [
        _commit("argocd", 1, "Install Argo CD v3.1.4 with an HA repo-server", _argocd("v3.1.4")),
        _commit("argocd", 2, "Upgrade Argo CD to v3.1.5", _argocd("v3.1.5")),
    ],
    "monitoring": [
        _commit("monitoring", 1, "Add the monitoring stack", _monitoring("v3.4.2", "12.0.2", 1)),
        _commit("monitoring", 2, "Prometheus v3.5.0 and deployment alert rules",
                _monitoring("v3.5.0", "12.0.2", 1)),
        _commit("monitoring", 3, "Grafana 12.1.1 with two replicas",
                _monitoring("v3.5.0", "12.1.1", 2)),
    ],
    "ai-ml": [
        _commit("ai-ml", 1, "Add JupyterHub and MLflow",
                {"jupyterhub": ("quay.io/jupyterhub/k8s-hub:4.2.0", 1),
                 "mlflow": ("ghcr.io/mlflow/mlflow:v3.3.1", 2)}),
        _commit("ai-ml", 2, "MLflow v3.3.2",
                {"jupyterhub": ("quay.io/jupyterhub/k8s-hub:4.2.0", 1),
                 "mlflow": ("ghcr.io/mlflow/mlflow:v3.3.2", 2)}),
    ],
    "frontend": [
        _commit("frontend", 1, "web 2.7.3", **_single("web", "ghcr.io/drill/web:2.7.3", 3, "web")),
        _commit("frontend", 2, "web 2.8.0: new product grid",
                **_single("web", "ghcr.io/drill/web:2.8.0", 3, "web")),
    ],
    "checkout": [
        _commit("checkout", 1, "checkout 1.4.1",
                **_single("checkout-stable", f"{_CHECKOUT}:1.4.1", 3, "checkout")),
        _commit("checkout", 2, "checkout 1.4.2: fix tax rounding",
                **_single("checkout-stable", f"{_CHECKOUT}:1.4.2", 3, "checkout")),
        _commit("checkout", 3, "Canary checkout 1.5.0-rc.1 at 10% of traffic",
                {"checkout-stable": (f"{_CHECKOUT}:1.4.2", 3),
                 "checkout-canary": (f"{_CHECKOUT}:1.5.0-rc.1", 1)},
                {"checkout": {"checkout-stable": 90, "checkout-canary": 10}}),
    ],
    "payments": [
        _commit("payments", 1, "payments 3.2.0",
                **_single("payments", "ghcr.io/drill/payments:3.2.0", 2, "payments")),
        _commit("payments", 2, "payments 3.2.1: idempotency keys on retries",
                **_single("payments", "ghcr.io/drill/payments:3.2.1", 2, "payments")),
    ],
    "catalog": [
        _commit("catalog", 1, "catalog 0.9.3",
                **_single("catalog", "ghcr.io/drill/catalog:0.9.3", 2, "catalog")),
        _commit("catalog", 2, "catalog 0.9.4",
                **_single("catalog", "ghcr.io/drill/catalog:0.9.4", 2, "catalog")),
    ],
}

#: How long ago each app's newest revision was synced; older ones 7 days apart before it.
#: The checkout canary went out 40 minutes ago, so its events are still within the event TTL.
_LAST_SYNC_AGO = {
    "argocd": timedelta(days=3, hours=2), "monitoring": timedelta(hours=26),
    "ai-ml": timedelta(days=5, hours=4), "frontend": timedelta(days=2, hours=1),
    "checkout": timedelta(minutes=40), "payments": timedelta(days=6),
    "catalog": timedelta(days=9, hours=3),
}


def sync_times(app: str, now: datetime) -> list[datetime]:
    """When each of an app's Git revisions was deployed (oldest first)."""
    count = len(GIT_REVISIONS[app])
    last = now - _LAST_SYNC_AGO[app]
    return [last - timedelta(days=7 * (count - 1 - i)) for i in range(count)]


def tracking_annotation(app: str, group: str, kind: str, namespace: str, name: str) -> Obj:
    """Argo CD's annotation-based resource tracking (the default since Argo CD 3.0)."""
    return {TRACKING_ANNOTATION: f"{app}:{group}/{kind}:{namespace}/{name}"}


def _meta(api_version: str, kind: str, name: str, created: datetime, namespace: str = "",
          **extra: Any) -> Obj:
    meta: Obj = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta.update(uid=stable_uid(api_version, kind, namespace, name), generation=1,
                creationTimestamp=rfc3339(created), **extra)
    return meta


def _cond(ctype: str, reason: str, message: str, when: datetime) -> Obj:
    return {"type": ctype, "status": "True", "reason": reason, "message": message,
            "observedGeneration": 1, "lastTransitionTime": rfc3339(when)}


# ---------------------------------------------------------------------------------------------
# Gateway API and AGC


def make_traffic_objects(now: datetime) -> list[Obj]:
    """GatewayClass, ApplicationLoadBalancer, Gateway and the apps' HTTPRoutes."""
    gw_api = "gateway.networking.k8s.io/v1"
    installed = now - timedelta(days=29, hours=23)
    ready = installed + timedelta(minutes=4)
    alb_fqdn = hashlib.sha256(b"alb-drill").hexdigest()[:16] + ".fz12.alb.azure.com"
    parent = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY_NAME,
              "namespace": GATEWAY_NAMESPACE}
    from_all = {"namespaces": {"from": "All"}}
    kinds = [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}]

    def listener_status(name: str) -> Obj:
        return {"name": name, "supportedKinds": kinds, "attachedRoutes": len(ROUTES),
                "conditions": [
                    _cond("ResolvedRefs", "ResolvedRefs", "", ready),
                    _cond("Accepted", "Accepted", "", ready),
                    _cond("Programmed", "Programmed", "", ready),
                    {**_cond("Conflicted", "NoConflicts", "", ready), "status": "False"},
                ]}

    out: list[Obj] = [
        {"apiVersion": gw_api, "kind": "GatewayClass",
         "metadata": _meta(gw_api, "GatewayClass", "azure-alb-external", installed),
         "spec": {"controllerName": ALB_CONTROLLER},
         "status": {"conditions": [_cond("Accepted", "Accepted", "Valid GatewayClass",
                                         installed)]}},
        {"apiVersion": "alb.networking.azure.io/v1", "kind": "ApplicationLoadBalancer",
         "metadata": _meta("alb.networking.azure.io/v1", "ApplicationLoadBalancer", "alb-drill",
                           installed, GATEWAY_NAMESPACE),
         "spec": {"associations": [
             "/subscriptions/8f3e1c2a-5b7d-4e69-a0c4-2d9b6f1e7a35/resourceGroups/rg-drill/"
             "providers/Microsoft.Network/virtualNetworks/vnet-drill/subnets/snet-alb"]},
         "status": {"conditions": [
             _cond("Accepted", "Accepted", "Valid Application Gateway for Containers resource",
                   ready),
             _cond("Deployment", "Ready", "Application Gateway for Containers resource "
                   f"{GATEWAY_NAMESPACE}/alb-drill is up-to-date and ready", ready),
         ]}},
        {"apiVersion": gw_api, "kind": "Gateway",
         "metadata": _meta(gw_api, "Gateway", GATEWAY_NAME, installed, GATEWAY_NAMESPACE,
                           annotations={"alb.networking.azure.io/alb-namespace":
                                        GATEWAY_NAMESPACE,
                                        "alb.networking.azure.io/alb-name": "alb-drill"}),
         "spec": {"gatewayClassName": "azure-alb-external", "listeners": [
             {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": from_all},
             {"name": "https", "port": 443, "protocol": "HTTPS",
              "hostname": "*.drill.example.com", "allowedRoutes": from_all,
              "tls": {"mode": "Terminate", "certificateRefs": [
                  {"group": "", "kind": "Secret", "name": "drill-example-com-tls"}]}},
         ]},
         "status": {
             "addresses": [{"type": "Hostname", "value": alb_fqdn}],
             "conditions": [
                 _cond("Accepted", "Accepted", "Valid Gateway", ready),
                 _cond("Programmed", "Programmed", "Application Gateway for Containers "
                       "resource has been successfully updated.", ready),
             ],
             "listeners": [listener_status("http"), listener_status("https")],
         }},
    ]
    for route, (namespace, app, host) in ROUTES.items():
        created = sync_times(app, now)[0] + timedelta(seconds=5)
        weights = GIT_REVISIONS[app][-1]["routes"][route]
        refs = [{"group": "", "kind": "Service", "name": backend, "port": 80, "weight": weight}
                for backend, weight in weights.items()]
        out.append({
            "apiVersion": gw_api, "kind": "HTTPRoute",
            "metadata": _meta(gw_api, "HTTPRoute", route, created, namespace,
                              labels={"app.kubernetes.io/part-of": app},
                              annotations=tracking_annotation(
                                  app, "gateway.networking.k8s.io", "HTTPRoute", namespace,
                                  route)),
            "spec": {"parentRefs": [dict(parent)], "hostnames": [host], "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": refs}]},
            "status": {"parents": [{
                "parentRef": dict(parent), "controllerName": ALB_CONTROLLER,
                "conditions": [
                    _cond("Accepted", "Accepted", "", created),
                    _cond("ResolvedRefs", "ResolvedRefs",
                          "Resolved all the Object references for the Route", created),
                    _cond("Programmed", "Programmed", "Route is Ready", created),
                ]}]},
        })
    return out


# ---------------------------------------------------------------------------------------------
# Argo CD


def _project(name: str, description: str, destinations: list[Obj], repos: list[str],
             created: datetime) -> Obj:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": _meta("argoproj.io/v1alpha1", "AppProject", name, created, "argocd"),
        "spec": {"description": description, "sourceRepos": repos,
                 "destinations": destinations,
                 "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]},
        "status": {},
    }


def _managed(objs: list[Obj], app: str) -> list[Obj]:
    """Argo CD's resource summaries of what ``app`` tracks, sorted like Argo CD sorts them."""
    out = []
    for obj in objs:
        tracking = ((obj.get("metadata") or {}).get("annotations") or {}).get(
            TRACKING_ANNOTATION, "")
        if not tracking.startswith(f"{app}:"):
            continue
        group, _, version = obj["apiVersion"].rpartition("/")
        entry: Obj = {"version": version, "kind": obj["kind"],
                      "namespace": obj["metadata"]["namespace"],
                      "name": obj["metadata"]["name"], "status": "Synced",
                      "health": {"status": "Healthy"}}
        if group:
            entry = {"group": group, **entry}
        if obj["kind"] == "ConfigMap":
            del entry["health"]  # Argo CD has no health check for ConfigMaps
        out.append(entry)
    return sorted(out, key=lambda e: (e.get("group", ""), e["kind"], e["namespace"], e["name"]))


def _application(app: str, objs: list[Obj], now: datetime) -> Obj:
    spec_info = APPS[app]
    times = sync_times(app, now)
    commits = GIT_REVISIONS[app]
    source = {"repoURL": GITOPS_REPO, "path": spec_info["path"], "targetRevision": "main"}
    destination = {"server": "https://kubernetes.default.svc",
                   "namespace": spec_info["namespace"]}
    sync_options = ["CreateNamespace=true", "RespectIgnoreDifferences=true"]
    head, last = commits[-1], times[-1]
    resources = _managed(objs, app)
    history = [{
        "id": i, "revision": c["revision"], "deployStartedAt": rfc3339(t - timedelta(seconds=4)),
        "deployedAt": rfc3339(t), "source": dict(source), "initiatedBy": {"automated": True},
    } for i, (c, t) in enumerate(zip(commits, times, strict=True))]
    sync_result = [{
        **{k: r[k] for k in ("group", "version", "kind", "namespace", "name") if k in r},
        "status": "Synced", "hookPhase": "Running", "syncPhase": "Sync",
        "message": (f"{r['kind'].lower()}{'.' + r['group'] if r.get('group') else ''}/"
                    f"{r['name']} {'configured' if r['kind'] == 'Deployment' else 'unchanged'}"),
    } for r in resources]
    project = spec_info["project"]
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": _meta(
            "argoproj.io/v1alpha1", "Application", app, times[0] - timedelta(minutes=2),
            "argocd", finalizers=["resources-finalizer.argocd.argoproj.io"],
            labels={"app.kubernetes.io/part-of": "platform" if project == "platform" else "shop",
                    "team": "platform" if project == "platform" else "shop"}),
        "spec": {
            "project": project, "source": source, "destination": destination,
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                           "syncOptions": sync_options},
            "revisionHistoryLimit": 10,
        },
        "status": {
            "sync": {"status": "Synced", "revision": head["revision"],
                     "comparedTo": {"source": dict(source), "destination": dict(destination)}},
            "health": {"status": "Healthy",
                       "lastTransitionTime": rfc3339(last + timedelta(seconds=30))},
            "history": history,
            "operationState": {
                "operation": {"initiatedBy": {"automated": True}, "retry": {"limit": 5},
                              "sync": {"revision": head["revision"], "prune": True,
                                       "syncOptions": sync_options}},
                "phase": "Succeeded", "message": "successfully synced (all tasks run)",
                "startedAt": rfc3339(last - timedelta(seconds=4)), "finishedAt": rfc3339(last),
                "syncResult": {"revision": head["revision"], "source": dict(source),
                               "resources": sync_result},
            },
            "reconciledAt": rfc3339(now - timedelta(seconds=20 + len(app) * 3)),
            "resources": resources,
            "summary": {"images": sorted({d["image"] for d in head["deployments"].values()})},
            "sourceType": "Directory",
            "controllerNamespace": "argocd",
        },
    }


def make_argocd_objects(objs: list[Obj], now: datetime) -> list[Obj]:
    """AppProjects, the ``argocd-cm`` ConfigMap and one Application per entry of :data:`APPS`.

    ``objs`` are the already built objects; an Application's ``status.resources`` lists those
    carrying its tracking annotation.
    """
    installed = sync_times("argocd", now)[0] - timedelta(minutes=5)
    cm = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": _meta("v1", "ConfigMap", "argocd-cm", installed, "argocd",
                          labels={"app.kubernetes.io/name": "argocd-cm",
                                  "app.kubernetes.io/part-of": "argocd"},
                          annotations=tracking_annotation("argocd", "", "ConfigMap", "argocd",
                                                          "argocd-cm")),
        "data": {"url": "https://argocd.drill.example.com", "admin.enabled": "true",
                 "application.resourceTrackingMethod": "annotation",
                 "timeout.reconciliation": "180s", "exec.enabled": "false"},
    }
    platform_dest = [{"server": "https://kubernetes.default.svc", "namespace": ns}
                     for ns in ("argocd", "monitoring", "ai-ml")]
    out: list[Obj] = [
        _project("default", "Applications of the shop", [
            {"server": "*", "namespace": "*"}], ["*"], installed),
        _project("platform", "Platform services: Argo CD, monitoring, AI/ML tools",
                 platform_dest, [GITOPS_REPO], installed),
        cm,
    ]
    everything = objs + [cm]
    out.extend(_application(app, everything, now) for app in APPS)
    return out
