"""The breaker annotation on the objects it changes: in the same patch, or as its own write.

Each changed object carries :data:`~backends.ops.breaker_model.BREAKER_ANNOTATION`
(``{"operation", "by", "since", "phase", "targets", "prior", "intent"}``, the schema in
:mod:`backends.ops.breaker_mark`), so anyone (kubectl, another operator's control room) sees
why production looks like this and can put it back. It goes into the same patch where the
patch allows it (the Application's merge patch, the route's JSON patch when the object
already has annotations) and otherwise into a separate journaled write (the ``scale``
subresource has no metadata), sent BEFORE the change: the object carries its prior state
before it changes. Engage sets it, release removes it after the restore verified (or sets
back an older breaker's).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

from backends.ops.argocd import app_path
from backends.ops.breaker_model import BREAKER_ANNOTATION, MARK_STEP, PHASE_KIND, Phase
from backends.ops.gate import TargetRef, WriteRequest
from backends.ops.plan import JSON_PATCH, MERGE_PATCH, PlannedWrite, Reader, get_json
from backends.ops.traffic import route_path
from backends.ops.workloads import deploy_path

__all__ = ["OBJECT_GROUPS", "OBJECT_PATHS", "annotated", "mark_write"]

OBJECT_GROUPS: Final[dict[Phase, tuple[str, str]]] = {
    "freeze": ("argoproj.io", "applications"), "shift": ("gateway.networking.k8s.io", "httproutes"),
    "scale": ("apps", "deployments"), "pause": ("apps", "deployments")}
"""(API group, resource) of each phase's objects."""
OBJECT_PATHS: Final[dict[Phase, Callable[[str, str], str]]] = {
    "freeze": app_path, "shift": route_path, "scale": deploy_path, "pause": deploy_path}
"""The API path of a phase's object, from namespace and name."""


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def annotated(req: WriteRequest, annotations: Mapping[str, str] | None,
               value: str | None) -> WriteRequest | None:
    """``req`` with the breaker annotation set to ``value`` (None: removed) in the same
    patch, or None when that cannot be done safely: a JSON patch on an object without an
    annotation map would have to add the whole map, wiping any added meanwhile."""
    if req.body is None:
        return None
    body = json.loads(req.body)
    if req.content_type == MERGE_PATCH and isinstance(body, dict):
        meta = body.setdefault("metadata", {})
        meta.setdefault("annotations", {})[BREAKER_ANNOTATION] = value
    elif req.content_type == JSON_PATCH and isinstance(body, list) and annotations is not None:
        path = "/metadata/annotations/" + _escape(BREAKER_ANNOTATION)
        if value is not None:
            body.append({"op": "add", "path": path, "value": value})
        elif BREAKER_ANNOTATION in annotations:
            body.append({"op": "remove", "path": path})
    else:
        return None
    return replace(req, body=json.dumps(body).encode())


def mark_write(reader: Reader, phase: Phase, ns: str, name: str, value: str | None,
                prior: str | None, intent: Mapping[str, Any], title: str) -> PlannedWrite:
    """A separate merge patch setting (or removing) the breaker annotation, verified."""
    group, resource = OBJECT_GROUPS[phase]
    path = OBJECT_PATHS[phase](ns, name)
    body = {"metadata": {"annotations": {BREAKER_ANNOTATION: value}}}
    req = WriteRequest(method="PATCH", path=path, body=json.dumps(body).encode(),
                       content_type=MERGE_PATCH, verb="patch",
                       target=TargetRef(PHASE_KIND[phase], ns, name, group, resource))

    async def verify() -> tuple[bool, str]:
        live = await get_json(reader, path, f"{PHASE_KIND[phase]} {ns}/{name}")
        got = ((live.get("metadata") or {}).get("annotations") or {}).get(BREAKER_ANNOTATION)
        return got == value, f"{BREAKER_ANNOTATION}={got}"

    return PlannedWrite(title=title, request=req, prior={"annotation": prior},
                        intent={"annotation": value, **intent}, verify=verify, step=MARK_STEP)
