"""Validation of objects written to the drill cluster, worded like apiserver validation.

Only what a client can get wrong and what keeps the simulation consistent is checked: names,
label maps, replica counts, selectors that match their template, containers with names and
images, HTTPRoute weights. A write that fails gets 422 Invalid with one cause per field, so a
client (and an on-call engineer rehearsing on the drill cluster) sees the same refusal a real
cluster would give.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from drill import errors
from drill.resources import ResourceType
from drill.schema import check_types

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

#: Kinds whose names must be DNS-1123 labels rather than subdomains.
_LABEL_NAMED = {"Namespace", "Service"}


def _check_labels(labels: Any, path: str, causes: list[tuple[str, str]]) -> None:
    if labels is None:
        return
    if not isinstance(labels, dict):
        causes.append((path, "Invalid value: must be a map of string to string"))
        return
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix))) or \
                not name or len(name) > 63 or not _LABEL_NAME.match(name):
            causes.append((f"{path}", f'Invalid value: "{key}": name part must consist of '
                           "alphanumeric characters, '-', '_' or '.'"))
        if not isinstance(value, str):
            causes.append((f"{path}.{key}", "Invalid value: must be a string"))
        elif len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append((f"{path}", f'Invalid value: "{value}": a valid label must be an '
                           "empty string or consist of alphanumeric characters, '-', '_' or '.'"))


def _check_int(value: Any, path: str, causes: list[tuple[str, str]], minimum: int = 0) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        causes.append((path, f"Invalid value: {value!r}: must be an integer"))
    elif value < minimum:
        causes.append((path, f"Invalid value: {value}: must be greater than or equal to "
                       f"{minimum}"))


def _check_pod_spec(spec: Any, path: str, causes: list[tuple[str, str]]) -> None:
    if not isinstance(spec, dict):
        causes.append((path, "Required value"))
        return
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append((f"{path}.containers", "Required value"))
        return
    seen: set[str] = set()
    for i, c in enumerate(containers):
        cpath = f"{path}.containers[{i}]"
        if not isinstance(c, dict):
            causes.append((cpath, "Invalid value: must be an object"))
            continue
        name = c.get("name")
        if not isinstance(name, str) or not _DNS1123_LABEL.match(name):
            causes.append((f"{cpath}.name", "Required value"))
        elif name in seen:
            causes.append((f"{cpath}.name", f'Duplicate value: "{name}"'))
        else:
            seen.add(name)
        if not isinstance(c.get("image"), str) or not c["image"].strip():
            causes.append((f"{cpath}.image", "Required value"))


def _selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    match_labels = (selector or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in match_labels.items())


def _set_selector(selector: Any) -> bool:
    """An apps/v1 LabelSelector with something in it."""
    return isinstance(selector, dict) and bool(selector.get("matchLabels")
                                               or selector.get("matchExpressions"))


def _map_matches(selector: Any, labels: dict[str, str]) -> bool:
    """A v1 RC's selector: a plain label map."""
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def _check_replicated(obj: dict[str, Any], causes: list[tuple[str, str]], *,
                      has_selector: Callable[[Any], bool],
                      matches: Callable[[Any, dict[str, str]], bool]) -> None:
    """A workload with replicas, a selector and a pod template: the selector must select the
    template's pods. Deployments, ReplicaSets and friends use a LabelSelector; a v1 RC a plain
    label map (defaulted from the template's labels): the two differ only in
    ``has_selector`` and ``matches``."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        causes.append(("spec", "Required value"))
        return
    _check_int(spec.get("replicas"), "spec.replicas", causes)
    selector = spec.get("selector")
    if not has_selector(selector):
        causes.append(("spec.selector", "Required value"))
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.append(("spec.template", "Required value"))
        return
    tlabels = (template.get("metadata") or {}).get("labels") or {}
    _check_labels(tlabels, "spec.template.metadata.labels", causes)
    if isinstance(selector, dict) and isinstance(tlabels, dict) and \
            not matches(selector, tlabels):
        causes.append(("spec.template.metadata.labels",
                       f"Invalid value: {tlabels!r}: `selector` does not match template `labels`"))
    _check_pod_spec(template.get("spec"), "spec.template.spec", causes)


def _check_httproute(obj: dict[str, Any], causes: list[tuple[str, str]]) -> None:
    for i, rule in enumerate((obj.get("spec") or {}).get("rules") or []):
        if not isinstance(rule, dict):
            causes.append((f"spec.rules[{i}]", "Invalid value: must be an object"))
            continue
        for j, ref in enumerate(rule.get("backendRefs") or []):
            path = f"spec.rules[{i}].backendRefs[{j}]"
            if not isinstance(ref, dict) or not ref.get("name"):
                causes.append((f"{path}.name", "Required value"))
                continue
            weight = ref.get("weight")
            _check_int(weight, f"{path}.weight", causes)
            if isinstance(weight, int) and weight > 1_000_000:
                causes.append((f"{path}.weight", f"Invalid value: {weight}: must be less than "
                               "or equal to 1000000"))


def validate(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Raise 422 Invalid naming every bad field of ``obj`` (``old`` is set on updates).

    The JSON types of typed fields are checked first (:func:`drill.schema.check_types`), as a
    real server decodes before it validates: a wrong type is 400 for a built-in kind and 422
    for a custom resource, and the field checks below may then rely on the types."""
    check_types(rt, obj)
    causes: list[tuple[str, str]] = []
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(meta, dict):
        causes.append(("metadata", "Required value"))
    elif not isinstance(name, str) or not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    else:
        pattern = _DNS1123_LABEL if rt.kind in _LABEL_NAMED else _DNS1123_SUBDOMAIN
        limit = 63 if rt.kind in _LABEL_NAMED else 253
        if len(name) > limit or not pattern.match(name):
            causes.append(("metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 '
                           "name must consist of lower case alphanumeric characters, '-' or '.'"))
        _check_labels(meta.get("labels"), "metadata.labels", causes)
        annotations = meta.get("annotations")
        if annotations is not None and (not isinstance(annotations, dict) or not all(
                isinstance(v, str) for v in annotations.values())):
            causes.append(("metadata.annotations", "Invalid value: must be a map of string to "
                           "string"))
    if rt.kind in ("Deployment", "ReplicaSet", "DaemonSet"):
        _check_replicated(obj, causes, has_selector=_set_selector, matches=_selector_matches)
    elif rt.kind == "ReplicationController":
        _check_replicated(obj, causes, has_selector=bool, matches=_map_matches)
    elif rt.kind == "Pod":
        _check_pod_spec(obj.get("spec"), "spec", causes)
        if old is not None and causes == [] and (obj.get("spec") or {}).get("nodeName") != \
                (old.get("spec") or {}).get("nodeName") and (old.get("spec") or {}).get(
                    "nodeName"):
            causes.append(("spec.nodeName", "Forbidden: pod updates may not change nodeName"))
    elif rt.kind == "HTTPRoute":
        _check_httproute(obj, causes)
    elif rt.kind == "Application":
        spec = obj.get("spec")
        if not isinstance(spec, dict) or not isinstance(spec.get("destination"), dict):
            causes.append(("spec.destination", "Required value"))
    if causes:
        raise errors.invalid(rt.kind, rt.group, str(name or ""), causes)
