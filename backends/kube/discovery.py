"""Which of our kinds the cluster serves, and at which path and version.

Why discover instead of hard-coding paths: a platform cluster may lack Argo CD, the Gateway API
or AGC (a dev cluster, a half-installed one), may serve the Gateway API only as ``v1beta1``
(before v1.0), and ``metrics.k8s.io`` may come as ``v1`` where advertised (operations.md section
7). A kind that is not served is a health state ("not installed"), not an error to retry every
second. Discovery also picks the version our decoders understand: a group that serves only a
version we do not list (say ``v1alpha2`` routes) counts as not installed.

Requests: ``/api/v1`` and ``/apis`` once, then one ``/apis/<group>/<version>`` per group
version we consider. The ``/apis`` group list already names each group's versions, so the
per-group ``/apis/<group>`` documents are not needed. A group version that fails with 503 (an
aggregated API such as metrics-server that is down) is reported in
:attr:`Discovery.errors`, not as "not installed": its sources should retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import msgspec

from backends.kube.errors import KubeApiError, KubeError
from backends.kube.wire import KubeTransport, namespaced_path

__all__ = [
    "WANTED",
    "ApiResource",
    "Discovery",
    "Wanted",
    "default_resource",
    "discover",
    "resolve",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wanted:
    """What we look for: a group, a plural and the versions our decoders read, best first."""

    group: str
    plural: str
    versions: tuple[str, ...]
    namespaced: bool
    verbs: frozenset[str] = frozenset({"list", "watch"})


WANTED: dict[str, Wanted] = {
    "nodes": Wanted("", "nodes", ("v1",), False),
    "pods": Wanted("", "pods", ("v1",), True),
    "events": Wanted("", "events", ("v1",), True),
    "deployments": Wanted("apps", "deployments", ("v1",), True),
    "replicasets": Wanted("apps", "replicasets", ("v1",), True),
    "applications": Wanted("argoproj.io", "applications", ("v1alpha1",), True),
    "gateways": Wanted("gateway.networking.k8s.io", "gateways", ("v1", "v1beta1"), True),
    "httproutes": Wanted("gateway.networking.k8s.io", "httproutes", ("v1", "v1beta1"), True),
    "applicationloadbalancers": Wanted(
        "alb.networking.azure.io", "applicationloadbalancers", ("v1",), True
    ),
    # metrics-server serves get/list only (no watch): it is polled.
    "nodemetrics": Wanted("metrics.k8s.io", "nodes", ("v1", "v1beta1"), False,
                          frozenset({"list"})),
    "podmetrics": Wanted("metrics.k8s.io", "pods", ("v1", "v1beta1"), True,
                         frozenset({"list"})),
}


@dataclass(frozen=True)
class ApiResource:
    """A served resource: where to list and watch one of our kinds."""

    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool

    @property
    def group_version(self) -> str:
        """``v1`` for core, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None) -> str:
        """The collection path, across all namespaces or in one (namespaced kinds only)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        path = f"{base}/{self.plural}"
        return namespaced_path(path, namespace) if self.namespaced else path


@dataclass
class Discovery:
    """The outcome of discovery for our kinds.

    A kind is in exactly one of: ``resources`` (served), ``missing`` (the cluster does not
    serve it: "not installed"), ``errors`` (discovery of its group failed, e.g. an aggregated
    API answered 503: unknown, retry).
    """

    resources: dict[str, ApiResource] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)


def default_resource(kind: str) -> ApiResource:
    """Our preferred version's resource, assumed when discovery itself cannot be done
    (the sources then learn the truth from the list answer: 404 means not installed)."""
    wanted = WANTED[kind]
    return ApiResource(kind, wanted.group, wanted.versions[0], wanted.plural, wanted.namespaced)


class _ResourceIn(msgspec.Struct, frozen=True):
    name: str
    namespaced: bool = False
    verbs: list[str] = msgspec.field(default_factory=list)


class _ResourceListIn(msgspec.Struct, frozen=True):
    resources: list[_ResourceIn] = msgspec.field(default_factory=list)


class _VersionIn(msgspec.Struct, frozen=True):
    version: str = ""


class _GroupIn(msgspec.Struct, frozen=True):
    name: str = ""
    versions: list[_VersionIn] = msgspec.field(default_factory=list)


class _GroupListIn(msgspec.Struct, frozen=True):
    groups: list[_GroupIn] = msgspec.field(default_factory=list)


_RESOURCE_LIST = msgspec.json.Decoder(_ResourceListIn)
_GROUP_LIST = msgspec.json.Decoder(_GroupListIn)
_GROUP = msgspec.json.Decoder(_GroupIn)


class _Lookup:
    """One discovery pass: caches each group version's resource list."""

    def __init__(self, conn: KubeTransport) -> None:
        self._conn = conn
        self._lists: dict[str, dict[str, _ResourceIn] | KubeError] = {}
        self.group_versions: dict[str, list[str]] | None = None

    async def load_groups(self) -> None:
        """All named groups and their versions from ``/apis`` (raises :class:`KubeError`)."""
        raw = await self._conn.get_raw("/apis")
        try:
            groups = _GROUP_LIST.decode(raw).groups
        except msgspec.DecodeError as exc:
            raise KubeApiError(500, "InvalidDiscovery", f"/apis: {exc}") from exc
        self.group_versions = {g.name: [v.version for v in g.versions] for g in groups}

    async def load_group(self, group: str) -> list[str]:
        """One group's versions (``/apis/<group>``); empty when the group is not served."""
        try:
            raw = await self._conn.get_raw(f"/apis/{group}")
        except KubeApiError as exc:
            if exc.status == 404:
                return []
            raise
        try:
            return [v.version for v in _GROUP.decode(raw).versions]
        except msgspec.DecodeError as exc:
            raise KubeApiError(500, "InvalidDiscovery", f"/apis/{group}: {exc}") from exc

    async def resources(self, group: str, version: str) -> dict[str, _ResourceIn] | KubeError:
        gv = f"{group}/{version}" if group else version
        cached = self._lists.get(gv)
        if cached is not None:
            return cached
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        result: dict[str, _ResourceIn] | KubeError
        try:
            raw = await self._conn.get_raw(path)
            result = {r.name: r for r in _RESOURCE_LIST.decode(raw).resources}
        except KubeApiError as exc:
            result = {} if exc.status == 404 else exc
        except KubeError as exc:
            result = exc
        except msgspec.DecodeError as exc:
            result = KubeApiError(500, "InvalidDiscovery", f"{path}: {exc}")
        self._lists[gv] = result
        return result

    async def find(self, kind: str, versions: list[str]) -> ApiResource | None | KubeError:
        """The first wanted version that serves the kind with the verbs we need."""
        wanted = WANTED[kind]
        failure: KubeError | None = None
        for version in wanted.versions:
            if wanted.group and version not in versions:
                continue
            listed = await self.resources(wanted.group, version)
            if isinstance(listed, KubeError):
                failure = failure or listed
                continue
            entry = listed.get(wanted.plural)
            if entry is not None and wanted.verbs <= set(entry.verbs):
                return ApiResource(kind, wanted.group, version, wanted.plural, entry.namespaced)
        return failure


async def discover(conn: KubeTransport, kinds: tuple[str, ...] | None = None) -> Discovery:
    """Find where each of ``kinds`` (default: all of :data:`WANTED`) is served.

    Raises :class:`KubeError` only when the cluster cannot be asked at all (``/api/v1`` or
    ``/apis`` fail); a failing group version lands in :attr:`Discovery.errors`.
    """
    lookup = _Lookup(conn)
    wanted_kinds = kinds if kinds is not None else tuple(WANTED)
    core = await lookup.resources("", "v1")
    if isinstance(core, KubeError):
        raise core
    if any(WANTED[k].group for k in wanted_kinds):
        await lookup.load_groups()
    groups = lookup.group_versions or {}
    result = Discovery()
    for kind in wanted_kinds:
        group = WANTED[kind].group
        found = await lookup.find(kind, groups.get(group, []) if group else ["v1"])
        if isinstance(found, ApiResource):
            result.resources[kind] = found
        elif isinstance(found, KubeError):
            result.errors[kind] = str(found)
        else:
            result.missing.add(kind)
    log.debug("discovery: served %s, missing %s, errors %s",
              sorted(result.resources), sorted(result.missing), result.errors)
    return result


async def resolve(conn: KubeTransport, kind: str) -> ApiResource | None:
    """Re-check one kind (a source that found it not installed asks again, rarely).

    Returns None when not served; raises :class:`KubeError` when the answer is unknown.
    """
    lookup = _Lookup(conn)
    wanted = WANTED[kind]
    versions = await lookup.load_group(wanted.group) if wanted.group else ["v1"]
    found = await lookup.find(kind, versions)
    if isinstance(found, KubeError):
        raise found
    return found
