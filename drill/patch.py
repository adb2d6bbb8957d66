"""PATCH semantics for the drill cluster's API server: merge, JSON and strategic merge patches.

kubectl picks the patch type (``patch``/``set image``/``apply`` send strategic merge patches for
built-in kinds, ``rollout undo`` a JSON patch, ``scale`` a merge patch). A rehearsal is only
worth something if the drill cluster ends up with the object a real API server would produce,
so strategic merge patch is a port of apimachinery's ``strategicpatch``: the same directives
(``$setElementOrder`` ordering included) and a path-aware table of merge keys (``ports`` merges
by ``containerPort`` in a container, by ``port`` in a Service). One deliberate difference: with
no ``$setElementOrder``, new list items are appended. Custom resources refuse it with 415.

Every function returns a new object that shares nothing with its inputs, so stored objects stay
immutable and the caller may freely modify what it gets back (resourceVersion, generation...).

Over 500 lines because it is one port: the three patch types, most of it apimachinery's
``strategicpatch`` kept in the upstream order so it can be compared with the original
function by function.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import jsonpointer

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

_STATUS_CODES = {"BadRequest": 400, "UnsupportedMediaType": 415, "Invalid": 422}


class PatchError(ValueError):
    """A patch the server must refuse; ``reason`` is the Status reason to answer with."""

    def __init__(self, message: str, reason: str = "Invalid") -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def code(self) -> int:
        """The HTTP status matching ``reason`` (422 Invalid, 400 BadRequest, 415)."""
        return _STATUS_CODES.get(self.reason, 422)


class UnsupportedPatch(PatchError):
    """A patch content type this resource (or the drill cluster) does not accept: 415."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "UnsupportedMediaType")


def _clone(value: Any) -> Any:
    """Deep copy of JSON-like data (much cheaper than ``copy.deepcopy``)."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


# --- RFC 7386 merge patch -------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch: null deletes, objects merge, the rest replaces."""
    return _merge_patch_owned(_clone(target), patch)


def _merge_patch_owned(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return _clone(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge_patch_owned(target.get(key), value)
    return target


# --- RFC 6902 JSON patch --------------------------------------------------------------------

_DOC_DUMP = re.compile(r" in [\[{].*\Z", re.DOTALL)
_PY_TYPE = re.compile(r" \(<class '[^']+'>\)")


def _short(exc: BaseException) -> str:
    # jsonpointer appends the whole document to "not found" messages and jsonpatch names Python
    # types in test failures; keep only the problem.
    return _PY_TYPE.sub("", _DOC_DUMP.sub("", str(exc)))[:300]


def json_patch(target: Any, ops: Any) -> Any:
    """Apply an RFC 6902 JSON patch, naming the failing operation in any error.

    Operations are applied one at a time (each one atomically) so a failure can say which one;
    the whole patch still either applies fully or raises, because we work on a private copy.
    """
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a JSON array of operations", "BadRequest")
    for i, op in enumerate(ops):
        if not isinstance(op, dict):
            raise PatchError(f"JSON patch operation {i} is not a JSON object", "BadRequest")
    doc = _clone(target)
    for i, op in enumerate(_clone(ops)):
        where = f"JSON patch operation {i} ({op.get('op')} {op.get('path')})"
        try:
            doc = jsonpatch.JsonPatch([op]).apply(doc, in_place=True)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise PatchError(f"{where}: test failed: {_short(exc)}") from None
        except jsonpatch.InvalidJsonPatch as exc:
            raise PatchError(f"{where}: invalid operation: {_short(exc)}") from None
        except jsonpatch.JsonPatchConflict as exc:
            raise PatchError(f"{where}: {_short(exc)}") from None
        except jsonpointer.JsonPointerException as exc:
            raise PatchError(f"{where}: invalid path: {_short(exc)}") from None
        except (jsonpatch.JsonPatchException, TypeError, ValueError, KeyError, IndexError,
                AttributeError) as exc:
            raise PatchError(f"{where}: {_short(exc) or type(exc).__name__}") from None
    return doc


# --- strategic merge patch: the schema ------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    """Patch metadata of one field (the ``patchStrategy``/``patchMergeKey`` Go struct tags).

    ``strategy`` is "merge" for lists merged item by item (by ``key`` for lists of maps, as a
    set for lists of scalars) or "replace" for maps replaced whole; "" is the default: maps
    merge recursively, lists are replaced. ``schema`` describes the map, or the list's items.
    """

    strategy: str = ""
    key: str = ""
    schema: Mapping[str, _Field] = field(default_factory=dict)


_Schema = Mapping[str, _Field]
_PLAIN = _Field()


def _merge(key: str = "", schema: _Schema | None = None) -> _Field:
    return _Field("merge", key, schema or {})


def _nested(schema: _Schema) -> _Field:
    return _Field(schema=schema)


_OBJECT_META: _Schema = {"ownerReferences": _merge("uid"), "finalizers": _merge()}
_CONTAINER: _Schema = {
    "ports": _merge("containerPort"), "env": _merge("name"),
    "volumeMounts": _merge("mountPath"), "volumeDevices": _merge("devicePath"),
}
_POD_SPEC: _Schema = {
    "containers": _merge("name", _CONTAINER), "initContainers": _merge("name", _CONTAINER),
    "ephemeralContainers": _merge("name", _CONTAINER), "volumes": _merge("name"),
    "imagePullSecrets": _merge("name"), "hostAliases": _merge("ip"),
    "topologySpreadConstraints": _merge("topologyKey"), "schedulingGates": _merge("name"),
    "resourceClaims": _merge("name"),
}
_CONDITIONS: _Schema = {"conditions": _merge("type")}
_POD_TEMPLATE: _Schema = {"metadata": _nested(_OBJECT_META), "spec": _nested(_POD_SPEC)}
_HAS_TEMPLATE: _Schema = {"template": _nested(_POD_TEMPLATE)}


def _kind(**fields: _Schema) -> _Schema:
    return {"metadata": _nested(_OBJECT_META), **{k: _nested(v) for k, v in fields.items()}}


#: Built-in kinds (strategic merge patch allowed) and their patch metadata.
_KINDS: dict[str, _Schema] = {
    "Pod": _kind(spec=_POD_SPEC, status={
        **_CONDITIONS, "podIPs": _merge("ip"), "hostIPs": _merge("ip")}),
    "PodTemplate": _kind(template=_POD_TEMPLATE),
    **{kind: _kind(spec=_HAS_TEMPLATE, status=_CONDITIONS) for kind in (
        "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController")},
    "CronJob": _kind(spec={"jobTemplate": _nested(
        {"metadata": _nested(_OBJECT_META), "spec": _nested(_HAS_TEMPLATE)})}),
    "Node": _kind(spec={"podCIDRs": _merge()},
                  status={**_CONDITIONS, "addresses": _merge("type")}),
    "Namespace": _kind(status=_CONDITIONS),
    "Service": _kind(spec={"ports": _merge("port")}, status=_CONDITIONS),
    **{kind: _kind() for kind in (
        "ConfigMap", "Secret", "Event", "Endpoints", "EndpointSlice", "ServiceAccount", "Scale",
        "PersistentVolume", "PersistentVolumeClaim", "LimitRange", "ResourceQuota", "Lease",
        "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress", "NetworkPolicy", "Role",
        "RoleBinding", "ClusterRole", "ClusterRoleBinding", "SelfSubjectAccessReview")},
}


def supports_strategic(kind: str) -> bool:
    """False for custom resources (Application, Gateway, metrics...): Kubernetes answers 415."""
    return kind in _KINDS


def patch_types(kind: str) -> tuple[str, ...]:
    """The patch content types the drill cluster accepts for ``kind``."""
    if supports_strategic(kind):
        return (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)
    return (JSON_PATCH, MERGE_PATCH)


# --- strategic merge patch: the algorithm ---------------------------------------------------

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder"
_DELETE_FROM = "$deleteFromPrimitiveList"


class _Missing:
    """Stands for an absent merge key; never equal to anything, not even itself."""


_MISSING = _Missing()


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0 (Go decodes both to float64) but True != 1."""
    if isinstance(a, _Missing) or isinstance(b, _Missing):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _index(ids: list[Any], value: Any) -> int:
    return next((i for i, v in enumerate(ids) if _same(v, value)), -1)


def _identity(key: str) -> Callable[[Any], Any]:
    """What identifies a list item: its merge key value, or the scalar itself."""
    if not key:
        return lambda item: item
    return lambda item: item.get(key, _MISSING) if isinstance(item, dict) else _MISSING


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else "string"


def _element_kind(items: list[Any]) -> str:
    kinds = {_kind_of(v) for v in items}
    if "list" in kinds:
        raise PatchError("lists of lists are not supported")
    if len(kinds) > 1:
        raise PatchError(f"list element types are not identical: {sorted(kinds)}")
    return kinds.pop()


def _order(merged: list[Any], patch_order: list[Any], server_order: list[Any],
           key: str) -> list[Any]:
    """apimachinery's ``normalizeElementOrder``, used for ``$setElementOrder``.

    Items named by ``patch_order`` keep that order, the others keep the live order, and the two
    runs are interleaved using the live order where both items have a place in it.
    """
    ident = _identity(key)
    patch_ids = [ident(p) for p in patch_order]
    server_ids = [ident(s) for s in server_order]

    def rank(ids: list[Any]) -> Callable[[Any], int]:
        def position(item: Any) -> int:
            found = _index(ids, ident(item))
            return found if found >= 0 else len(ids)
        return position

    in_patch = [m for m in merged if _index(patch_ids, ident(m)) >= 0]
    server_only = [m for m in merged if _index(patch_ids, ident(m)) < 0]
    right = sorted(in_patch, key=rank(patch_ids))
    left = sorted(server_only, key=rank(server_ids))
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j < len(right) and i < len(left):
            li, ri = _index(server_ids, ident(left[i])), _index(server_ids, ident(right[j]))
            take_left = li >= 0 and ri >= 0 and li < ri
        else:
            take_left = i < len(left)
        if take_left:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    return out


def _new_value(value: Any, meta: _Field) -> Any:
    """A patch value for a key the live object lacks: merged into emptiness, so directives
    and nulls nested inside it are applied rather than stored. None means "delete"."""
    if isinstance(value, dict):
        return _merge_map({}, value, meta.schema)
    if isinstance(value, list):
        return _merge_list([], value, meta)
    return value


def _merge_map(original: dict[str, Any], patch: dict[str, Any],
               schema: _Schema) -> dict[str, Any] | None:
    """Merge ``patch`` into ``original`` (both owned; mutated). None: delete this map."""
    if _DIRECTIVE in patch:
        directive = patch.pop(_DIRECTIVE)
        if directive == "delete":
            return None
        if directive == "replace":
            original = {}
        elif directive != "merge":  # Kubernetes refuses "merge" on maps; it is harmless here.
            raise PatchError(f"unknown patch type: {directive} in map: {patch}", "BadRequest")
    _retain_keys(original, patch)
    _set_element_order(original, patch, schema)
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM):
            _delete_from_primitive_list(original, key, value)
            continue
        if key.startswith("$"):
            continue  # an unknown directive: a typed API server would drop it while decoding
        if value is None:
            original.pop(key, None)
            continue
        meta = schema.get(key, _PLAIN)
        current = original.get(key)
        if isinstance(current, dict) and isinstance(value, dict) and meta.strategy != "replace":
            merged: Any = _merge_map(current, value, meta.schema)
        elif isinstance(current, list) and isinstance(value, list):
            merged = _merge_list(current, value, meta)
        else:
            merged = _new_value(value, meta)
        if merged is None:
            original.pop(key, None)
        else:
            original[key] = merged
    return original


def _merge_list(original: list[Any], patch: list[Any], meta: _Field) -> list[Any]:
    """Merge two lists following the field's strategy (``mergeSlice`` in apimachinery)."""
    if meta.strategy != "merge":
        # Atomic list: the patch replaces it. Directive-only items are dropped.
        out = []
        for item in patch:
            if isinstance(item, dict) and _DIRECTIVE in item:
                if item[_DIRECTIVE] == "delete" or len(item) == 1:
                    continue
            cleaned = _new_value(item, _nested(meta.schema))
            if cleaned is not None or item is None:  # None from a map: it deleted itself
                out.append(cleaned)
        return out
    if not original and not patch:
        return []
    # Ordering follows apimachinery's normalizeElementOrder: the patch's items in patch order,
    # live-only items interleaved by their live position (so a new item goes first).
    if _element_kind(original + patch) != "map":  # a set of scalars (e.g. finalizers)
        union: list[Any] = []
        for value in original + patch:
            if _index(union, value) < 0:
                union.append(value)
        return _order(union, patch, original, "")
    key = meta.key
    if not key:
        raise PatchError("cannot merge lists of maps without a merge key")
    plain, replace, ident = [], False, _identity(key)
    for item in patch:
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == "delete":
            if key not in item:
                raise PatchError(f"map: {item} does not contain declared merge key: {key}")
            original = [o for o in original if not _same(ident(o), item[key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":  # Kubernetes refuses this; treat it as an ordinary item.
            rest = {k: v for k, v in item.items() if k != _DIRECTIVE}
            if rest:
                plain.append(rest)
        else:
            raise PatchError(f"unknown patch type: {directive} in map: {item}", "BadRequest")
    if replace:
        return [_merge_map({}, item, meta.schema) for item in plain]
    merged = list(original)
    for item in plain:
        if key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {key}")
        at = _index([ident(m) for m in merged], item[key])
        if at >= 0:
            merged[at] = _merge_map(merged[at], item, meta.schema)
        else:
            merged.append(_merge_map({}, item, meta.schema))
    return _order(merged, plain, original, key)


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """``$retainKeys``: drop live keys not listed; every patched key must be listed."""
    if _RETAIN_KEYS not in patch:
        return
    keep = patch.pop(_RETAIN_KEYS)
    if not isinstance(keep, list):
        raise PatchError("invalid patch format of retainKeys", "BadRequest")
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_FROM, _SET_ORDER)):
            continue
        if key not in keep:
            raise PatchError(f"patch content doesn't match retainKeys list: {key!r} "
                             f"is not in {keep}")
    for key in [k for k in original if k not in keep]:
        del original[key]


def _directive_target(key: str, prefix: str, what: str) -> str:
    head, sep, name = key.partition("/")
    if head != prefix or not sep or not name:
        raise PatchError(f"invalid patch format of {what}", "BadRequest")
    return name


def _set_element_order(original: dict[str, Any], patch: dict[str, Any], schema: _Schema) -> None:
    """``$setElementOrder/<list>``: merge that list now, then order it as the directive says.

    Lenient where Kubernetes is strict (items without merge keys, an order list that disagrees
    with the patch): ordering is best effort and never fails the request.
    """
    for directive in [k for k in patch if k.startswith(_SET_ORDER)]:
        order = patch.pop(directive)
        name = _directive_target(directive, _SET_ORDER, "setElementOrder list")
        if not isinstance(order, list):
            raise PatchError("invalid patch format of setElementOrder list", "BadRequest")
        meta = schema.get(name, _PLAIN)
        live, incoming = original.get(name), patch.get(name)
        if (name in original and not isinstance(live, list)) or (
                name in patch and not isinstance(incoming, list)):
            continue  # not lists: leave it to the plain merge below
        if isinstance(incoming, list):
            merged = _merge_list(live if isinstance(live, list) else [], incoming, meta)
            del patch[name]
        elif isinstance(live, list):
            merged = live
        else:
            continue
        if meta.key or not any(isinstance(m, dict) for m in merged):
            merged = _order(merged, order, live if isinstance(live, list) else [], meta.key)
        original[name] = merged


def _delete_from_primitive_list(original: dict[str, Any], directive: str, values: Any) -> None:
    """``$deleteFromPrimitiveList/<list>``: remove these scalars (e.g. finalizers)."""
    name = _directive_target(directive, _DELETE_FROM, "primitive list")
    if not isinstance(values, list):
        raise PatchError("invalid patch format of primitive list", "BadRequest")
    live = original.get(name)
    if isinstance(live, list):
        original[name] = [v for v in live if _index(values, v) < 0]


def _group_kind(kind: str, target: Any) -> str:
    api_version = target.get("apiVersion") if isinstance(target, dict) else None
    if isinstance(api_version, str) and "/" in api_version:
        return f"{kind}.{api_version.rsplit('/', 1)[0]}"
    return kind


def _unknown_format(accepted: tuple[str, ...]) -> str:
    return ("the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(accepted))


def _strategic_unsupported(kind: str, target: Any) -> UnsupportedPatch:
    return UnsupportedPatch(
        f"{_unknown_format(patch_types(kind))}; strategic merge patch is not supported for "
        f"{_group_kind(kind, target)}, use merge patch")


def strategic_merge_patch(target: dict[str, Any], patch: dict[str, Any],
                          kind: str) -> dict[str, Any]:
    """Apply a Kubernetes strategic merge patch to an object of a built-in ``kind``.

    Raises UnsupportedPatch for custom resource kinds and PatchError for malformed patches.
    """
    if not supports_strategic(kind):
        raise _strategic_unsupported(kind, target)
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object", "BadRequest")
    result = _merge_map(_clone(target) if isinstance(target, dict) else {}, _clone(patch),
                        _KINDS[kind])
    if result is None:
        raise PatchError("\"$patch: delete\" at the top level would delete the whole object; "
                         "send a DELETE request instead")
    return result


# --- dispatch on content type ---------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _decode(body: bytes) -> Any:
    if not body.strip():
        raise PatchError("the patch body is empty", "BadRequest")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise PatchError(f"the patch body is not valid JSON: {exc}", "BadRequest") from None


def apply_patch(target: dict[str, Any], body: bytes, content_type: str,
                kind: str) -> dict[str, Any]:
    """Apply a PATCH request body to ``target`` according to its Content-Type."""
    try:
        return _apply_patch(target, body, content_type, kind)
    except RecursionError:  # absurdly deep JSON is the client's fault, not a server error
        raise PatchError("the patch body is nested too deeply", "BadRequest") from None


def _apply_patch(target: dict[str, Any], body: bytes, content_type: str,
                 kind: str) -> dict[str, Any]:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == APPLY_PATCH:
        raise UnsupportedPatch(
            "server-side apply (application/apply-patch+yaml) is not supported by the drill "
            "cluster; use client-side `kubectl apply` (without --server-side) or a merge patch")
    if media == STRATEGIC_MERGE_PATCH and not supports_strategic(kind):
        raise _strategic_unsupported(kind, target)
    if media not in patch_types(kind):
        raise UnsupportedPatch(_unknown_format(patch_types(kind)))
    doc = _decode(body)
    if media == JSON_PATCH:
        if not isinstance(doc, list):
            raise PatchError("a JSON patch must be a JSON array of operations", "BadRequest")
        result = json_patch(target, doc)
        if not isinstance(result, dict):
            raise PatchError("the JSON patch did not leave a JSON object")
        return result
    if not isinstance(doc, dict):
        raise PatchError(f"a {media} patch body must be a JSON object", "BadRequest")
    if media == MERGE_PATCH:
        merged: dict[str, Any] = merge_patch(target, doc)
        return merged
    return strategic_merge_patch(target, doc, kind)
