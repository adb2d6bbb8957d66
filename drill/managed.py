"""``metadata.managedFields`` as a real API server keeps it: who wrote an object, how, when.

Why the drill needs it: the incident timeline (issue 17) names the actor of every change from
the newest managedFields entry (kubectl, argocd-controller, kube-controller-manager, Helm,
controlroom); a simulator that never fills it would let that code pass against nothing.

What a real server does and this mirrors: every committed create, update or patch records an
entry per (manager, operation, subresource) with ``time`` set to the write's time; the manager
is the request's ``fieldManager`` or else the User-Agent's first part (up to the first ``/``,
``kubectl/v1.31.0 (linux/amd64)`` gives ``kubectl``); the operation is ``Apply`` for an
apply patch and ``Update`` otherwise. A write whose body omits ``managedFields`` keeps the
existing entries. ``fieldsV1`` holds the top-level sections each manager owns (``f:spec``,
``f:metadata``...), not every field: enough for the timeline to tell the writer of the spec
(Argo CD's sync) from the deployment controller's annotation update that follows it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

__all__ = ["DEFAULT_MANAGER", "MAX_ENTRIES", "acting", "manager_of_request", "stamp"]


class _Writable(Protocol):
    writer: tuple[str, str] | None

DEFAULT_MANAGER = ("kube-controller-manager", "Update")
"""The in-process controllers (deployment controller, kubelet, node lifecycle) when a write
names nobody."""
MAX_ENTRIES = 16


def manager_of_request(field_manager: str, user_agent: str, content_type: str) -> tuple[str, str]:
    """(manager, operation) of an HTTP write, as the API server derives them."""
    manager = field_manager.strip() or user_agent.split("/", 1)[0].strip() or "unknown"
    operation = "Apply" if "apply-patch" in content_type else "Update"
    return manager[:128], operation


_META_OWNED = ("labels", "annotations", "finalizers", "ownerReferences")
_SERVER_KEYS = frozenset({"apiVersion", "kind", "metadata"})


def _changed_sections(obj: dict[str, Any], prev: dict[str, Any] | None) -> set[str]:
    """The top-level ``f:`` sections a write set: every section a create sends, the ones an
    update changed (metadata only for labels, annotations, finalizers, owners)."""
    old = prev or {}
    sections = {f"f:{key}" for key in set(obj) | set(old)
                if key not in _SERVER_KEYS and obj.get(key) != old.get(key)}
    meta, old_meta = obj.get("metadata") or {}, old.get("metadata") or {}
    if any(meta.get(k) != old_meta.get(k) for k in _META_OWNED):
        sections.add("f:metadata")
    return sections


def stamp(obj: dict[str, Any], prev: dict[str, Any] | None, writer: tuple[str, str],
          when: str, *, api_version: str, subresource: str = "") -> None:
    """Record ``writer`` in ``obj``'s managedFields at ``when`` (RFC 3339), in place.

    Field ownership is kept at the top level (``f:spec``, ``f:metadata``, ``f:status``...),
    enough to tell who set the spec: the sections this write changed move to the writer, as
    an Update moves ownership upstream; a manager left owning nothing is dropped."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return
    manager, operation = writer
    changed = _changed_sections(obj, prev)
    old = meta.get("managedFields")
    entries = [dict(e) for e in old if isinstance(e, dict)] if isinstance(old, list) else []
    mine: dict[str, Any] = {}
    kept: list[dict[str, Any]] = []
    for entry in entries:
        raw = entry.get("fieldsV1")
        fields: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if (entry.get("manager"), entry.get("operation"),
                entry.get("subresource", "")) == (manager, operation, subresource):
            mine = dict(fields)
            continue
        rest = {k: v for k, v in fields.items() if k not in changed}
        if rest or not fields:
            kept.append({**entry, "fieldsV1": rest})
    owned = {**mine, **{section: {} for section in changed}}
    written: dict[str, Any] = {"manager": manager, "operation": operation,
                               "apiVersion": api_version, "time": when,
                               "fieldsType": "FieldsV1", "fieldsV1": owned}
    if subresource:
        written["subresource"] = subresource
    kept.append(written)
    meta["managedFields"] = kept[-MAX_ENTRIES:]


@contextlib.contextmanager
def acting(state: _Writable, writer: tuple[str, str]) -> Iterator[None]:
    """The state's writes inside the block are ``writer``'s (use only around synchronous
    state calls: a write of another controller must not fall inside)."""
    previous = state.writer
    state.writer = writer
    try:
        yield
    finally:
        state.writer = previous
