"""Who last wrote an object's spec, from ``metadata.managedFields`` (issue 17: the actor of
a change in the incident timeline)."""

from __future__ import annotations

from datetime import UTC, datetime

from backends.kube import schema_parts as s
from backends.sanitize import clean

__all__ = ["last_manager"]


def _epoch(value: datetime | None) -> float:
    if value is None:
        return 0.0
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def last_manager(meta: s.HasManagedFields) -> str:
    """Who last wrote the object's spec: ``manager (operation)`` of the newest
    ``managedFields`` entry that owns ``f:spec`` (an Update moves ownership of what it
    changed to its writer), else of the newest entry at all. Status writes are skipped (the
    controllers' bookkeeping), and so is the deployment controller's revision annotation,
    which owns no spec: without that, the controller that follows every change would be
    named as its author. Later entries win a tie (the time has second precision). "" when
    the server keeps none."""
    best: s.ManagedFieldIn | None = None
    best_rank = (False, float("-inf"))
    for entry in meta.managed_fields or ():
        if entry.subresource == "status":
            continue
        rank = (b'"f:spec"' in bytes(entry.fields_v1), _epoch(entry.time))
        if rank >= best_rank:
            best, best_rank = entry, rank
    if best is None or not best.manager:
        return ""
    return clean(f"{best.manager} ({best.operation})" if best.operation else best.manager, 160)
