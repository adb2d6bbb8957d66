"""Minimal OpenAPI v3 documents for the drill cluster.

kubectl (>= 1.27) decides whether a server validates fields itself (``fieldValidation=Strict``)
by looking for that query parameter on each kind's PATCH operation in ``/openapi/v3``; without
it kubectl falls back to client-side validation, which needs the full OpenAPI v2 schema, and
``kubectl create -f`` fails with "failed to download openapi". So we publish, from the resource
table, exactly what that check reads: per group version, every resource's PATCH operation with
its ``x-kubernetes-group-version-kind`` and the write query parameters. Schemas are left out
(``kubectl explain`` is not supported by the drill cluster).
"""

from __future__ import annotations

import hashlib
from typing import Any

from drill.resources import RESOURCES, VIRTUAL

_WRITE_PARAMS = [
    {"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
    for name in ("dryRun", "fieldManager", "fieldValidation", "force")
]


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def gv_document(group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group version, or None when it is not served."""
    paths: dict[str, Any] = {}
    for rt in RESOURCES:
        if rt.group != group or rt.version != version or rt.key in VIRTUAL:
            continue
        if "patch" not in rt.verbs:
            continue
        base = "/" + _gv_path(group, version)
        item = (f"{base}/namespaces/{{namespace}}/{rt.plural}/{{name}}" if rt.namespaced
                else f"{base}/{rt.plural}/{{name}}")
        gvk = {"group": group, "version": version, "kind": rt.kind}
        paths[item] = {"patch": {
            "operationId": f"patch{rt.kind}",
            "parameters": _WRITE_PARAMS,
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
        }}
    if not paths:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (drill cluster)",
                                         "version": "v1.31.5-drill"},
            "paths": paths, "components": {"schemas": {}}}


def root() -> dict[str, Any]:
    """``/openapi/v3``: where each group version's document lives."""
    out: dict[str, Any] = {}
    seen = set()
    for rt in RESOURCES:
        gv = (rt.group, rt.version)
        if gv in seen or gv_document(*gv) is None:
            continue
        seen.add(gv)
        path = _gv_path(*gv)
        digest = hashlib.sha256(path.encode()).hexdigest()[:16].upper()
        out[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": out}
