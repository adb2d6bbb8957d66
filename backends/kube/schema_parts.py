"""Small mirrors used by :mod:`backends.kube.schema` for what the incident timeline reads
(issue 17): who wrote an object (``managedFields``) and what started an Argo CD operation.
A module of their own only to keep the schema module under its size limit; the same rules
apply (lenient, every field defaulted, ``rename="camel"``, never tracked by the collector).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import msgspec

__all__ = [
    "HasManagedFields",
    "HistoryIn",
    "InitiatedByIn",
    "ManagedFieldIn",
    "OperationIn",
    "OperationStateIn",
    "OperationSyncIn",
    "SyncResultIn",
]


class _In(msgspec.Struct, rename="camel", gc=False):
    """Base of these mirrors (as ``backends.kube.schema._In``)."""


class ManagedFieldIn(_In):
    """One ``metadata.managedFields`` entry: who wrote, and (raw) which fields."""

    manager: str = ""
    operation: str = ""
    time: datetime | None = None
    subresource: str = ""
    fields_v1: msgspec.Raw = msgspec.Raw(b"null")
    """Kept raw: only "does it own ``f:spec``" is asked (a byte search, no decoding)."""


class InitiatedByIn(_In):
    username: str = ""
    automated: bool = False


class OperationSyncIn(_In):
    revision: str = ""
    revisions: list[str] | None = None


class OperationIn(_In):
    """``operation`` / ``status.operationState.operation``: what started a sync, and what."""

    initiated_by: InitiatedByIn | None = None
    sync: OperationSyncIn | None = None


class SyncResultIn(_In):
    revision: str = ""
    revisions: list[str] | None = None


class HasManagedFields(Protocol):
    """Metadata that carries ``managedFields`` (``schema.TrackedMetaIn``)."""

    @property
    def managed_fields(self) -> list[ManagedFieldIn] | None: ...


class HistoryIn(_In):
    id: int = 0
    revision: str = ""
    revisions: list[str] | None = None
    deployed_at: datetime | None = None


class OperationStateIn(_In):
    phase: str = ""
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    operation: OperationIn | None = None
    sync_result: SyncResultIn | None = None
