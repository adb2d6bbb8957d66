"""Parts of rows that describe the insides of an object: a pod's containers, an app's resources.

Kept apart from :mod:`backends.model` (which imports and re-exports them) only for size: they
follow the same rules (frozen, ``gc=False``, every string sanitized by the converter).
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["AppResource", "ContainerInfo"]


class _Part(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Base of these parts (as ``backends.model._Part``)."""


class ContainerInfo(_Part, frozen=True):
    """One container as ``kubectl describe pod`` lists it: state now (``reason``: waiting or
    terminated reason; ``since``: started or finished), restarts, the last termination (why
    it crash-loops: ``OOMKilled`` 137, ``Error`` 1). ``state`` "" means no status yet."""

    name: str
    init: bool = False
    image: str = ""
    ready: bool = False
    restarts: int = 0
    state: Literal["running", "waiting", "terminated", ""] = ""
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    since: float | None = None
    last_reason: str = ""
    last_exit_code: int | None = None
    last_signal: int = 0
    last_message: str = ""
    last_started: float | None = None
    last_finished: float | None = None


class AppResource(_Part, frozen=True):
    """An entry of an app's ``status.resources``: a managed object, its sync and health
    (``health_status`` "" when Argo CD has no health check for the kind)."""

    kind: str
    name: str
    namespace: str = ""
    group: str = ""
    version: str = ""
    sync_status: str = ""
    health_status: str = ""
    health_message: str = ""
    requires_pruning: bool = False
