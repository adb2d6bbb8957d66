"""``metadata.managedFields`` as a real API server keeps it: who wrote an object, how, when.

Why the drill needs it: the incident timeline (issue 17) names the actor of every change from
the newest managedFields entry (kubectl, argocd-controller, kube-controller-manager, Helm,
controlroom); a simulator that never fills it would let that code pass against nothing.

What a real server does and this mirrors: every committed create, update or patch records an
entry per (manager, operation, subresource) with ``time`` set to the write's time; the manager
is the request's ``fieldManager`` or else the User-Agent's first part (up to the first ``/``,
``kubectl/v1.31.0 (linux/amd64)`` gives ``kubectl``); the operation is ``Apply`` for an
apply patch and ``Update`` otherwise. A write whose body omits ``managedFields`` keeps the
existing entries. ``fieldsV1`` is kept empty: nobody here reads field ownership.
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


def stamp(obj: dict[str, Any], writer: tuple[str, str], when: str, *,
          api_version: str, subresource: str = "") -> None:
    """Record ``writer`` in ``obj``'s managedFields at ``when`` (RFC 3339), in place."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return
    manager, operation = writer
    old = meta.get("managedFields")
    entries = [dict(e) for e in old if isinstance(e, dict)] if isinstance(old, list) else []
    entries = [e for e in entries if (e.get("manager"), e.get("operation"),
                                      e.get("subresource", "")) != (manager, operation,
                                                                    subresource)]
    entry: dict[str, Any] = {"manager": manager, "operation": operation,
                             "apiVersion": api_version, "time": when,
                             "fieldsType": "FieldsV1", "fieldsV1": {}}
    if subresource:
        entry["subresource"] = subresource
    entries.append(entry)
    meta["managedFields"] = entries[-MAX_ENTRIES:]


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
