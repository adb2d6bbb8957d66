"""The resource types the drill cluster's API server serves, and their discovery documents.

One table describes every resource once: group, version, plural, kind, scope, verbs, short
names and subresources. Discovery (`/api`, `/apis`, `/apis/<g>/<v>`), routing, list kinds and
Table output are all derived from it, so kubectl's resource mapping and the server's routing
cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list")


@dataclass(frozen=True)
class ResourceType:
    """One served resource (a GroupVersionResource with its kind and scope)."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    #: Spec fields whose change bumps ``metadata.generation`` (all non-metadata top-level
    #: fields except ``status`` when the resource has a status subresource).
    has_status_subresource: bool = field(default=False)

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """A stable identifier: ``plural.group`` (``pods`` for core)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


def _rt(group: str, version: str, plural: str, kind: str, namespaced: bool, **kw: Any) -> ResourceType:
    singular = kw.pop("singular", kind.lower())
    subs = tuple(kw.pop("subresources", ()))
    return ResourceType(
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        subresources=subs,
        has_status_subresource="status" in subs,
        **kw,
    )


RESOURCES: tuple[ResourceType, ...] = (
    _rt("", "v1", "namespaces", "Namespace", False, short_names=("ns",), subresources=("status",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _rt("", "v1", "nodes", "Node", False, short_names=("no",), subresources=("status",)),
    _rt("", "v1", "pods", "Pod", True, short_names=("po",), subresources=("status", "log"),
        categories=("all",)),
    _rt("", "v1", "events", "Event", True, short_names=("ev",)),
    _rt("", "v1", "services", "Service", True, short_names=("svc",), subresources=("status",),
        categories=("all",)),
    _rt("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    _rt("", "v1", "replicationcontrollers", "ReplicationController", True, short_names=("rc",),
        subresources=("status", "scale"), categories=("all",)),
    _rt("apps", "v1", "deployments", "Deployment", True, short_names=("deploy",),
        subresources=("status", "scale"), categories=("all",)),
    _rt("apps", "v1", "replicasets", "ReplicaSet", True, short_names=("rs",),
        subresources=("status", "scale"), categories=("all",)),
    _rt("apps", "v1", "daemonsets", "DaemonSet", True, short_names=("ds",),
        subresources=("status",), categories=("all",)),
    _rt("argoproj.io", "v1alpha1", "applications", "Application", True,
        short_names=("app", "apps"), categories=("argo",)),
    _rt("argoproj.io", "v1alpha1", "appprojects", "AppProject", True,
        short_names=("appproj", "appprojs"), categories=("argo",)),
    _rt("gateway.networking.k8s.io", "v1", "gatewayclasses", "GatewayClass", False,
        short_names=("gc",), subresources=("status",), categories=("gateway-api",)),
    _rt("gateway.networking.k8s.io", "v1", "gateways", "Gateway", True,
        short_names=("gtw",), subresources=("status",), categories=("gateway-api",)),
    _rt("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", True,
        subresources=("status",), categories=("gateway-api",)),
    _rt("alb.networking.azure.io", "v1", "applicationloadbalancers", "ApplicationLoadBalancer",
        True, short_names=("alb",), subresources=("status",)),
    _rt("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False, verbs=READ_VERBS),
    _rt("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True, verbs=READ_VERBS),
    _rt("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
        False, verbs=("create",)),
)

#: Resources that are not stored: the server answers them itself.
VIRTUAL = frozenset({"selfsubjectaccessreviews.authorization.k8s.io"})

BY_KEY: dict[str, ResourceType] = {r.key: r for r in RESOURCES}
BY_GVR: dict[tuple[str, str, str], ResourceType] = {
    (r.group, r.version, r.plural): r for r in RESOURCES
}
BY_KIND: dict[tuple[str, str], ResourceType] = {(r.api_version, r.kind): r for r in RESOURCES}


def by_kind(api_version: str, kind: str) -> ResourceType:
    """The resource type of an object, by its ``apiVersion`` and ``kind``."""
    return BY_KIND[(api_version, kind)]


def groups() -> dict[str, list[str]]:
    """Named groups and their versions, in registry order (preferred version first)."""
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group:
            versions = out.setdefault(r.group, [])
            if r.version not in versions:
                versions.append(r.version)
    return out


def _resource_entries(group: str, version: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for r in RESOURCES:
        if r.group != group or r.version != version:
            continue
        entry: dict[str, Any] = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        entries.append(entry)
        for sub in r.subresources:
            if sub == "scale":
                entries.append({
                    "name": f"{r.plural}/scale", "singularName": "", "namespaced": r.namespaced,
                    "group": "autoscaling", "version": "v1", "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                })
            elif sub == "status":
                entries.append({
                    "name": f"{r.plural}/status", "singularName": "", "namespaced": r.namespaced,
                    "kind": r.kind, "verbs": ["get", "patch", "update"],
                })
            elif sub == "log":
                entries.append({
                    "name": f"{r.plural}/log", "singularName": "", "namespaced": r.namespaced,
                    "kind": r.kind, "verbs": ["get"],
                })
    return entries


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """The APIResourceList for one group version, or None when it is not served."""
    entries = _resource_entries(group, version)
    if not entries:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }


def group_list() -> dict[str, Any]:
    """The APIGroupList served at ``/apis``."""
    out = []
    for name, versions in groups().items():
        gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        out.append({"name": name, "versions": gvs, "preferredVersion": gvs[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def api_group(name: str) -> dict[str, Any] | None:
    """The APIGroup served at ``/apis/<group>``."""
    versions = groups().get(name)
    if not versions:
        return None
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": gvs,
            "preferredVersion": gvs[0]}


def api_versions() -> dict[str, Any]:
    """The APIVersions served at ``/api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }
