"""Reading an Argo CD Application's status, and the journal's names for our steps on it.

Shared by the actions (:mod:`backends.ops.argocd`) and the knowledge about revisions
(:mod:`backends.ops.argo_revisions`), which the actions consult before restoring auto-sync:
kept apart so that neither imports the other's module to read a field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["PAUSE_STEP", "RESTORE_STEP", "ROLLBACK_STEP", "app_status", "entry_revision",
           "running"]

PAUSE_STEP: Final = "pause-auto-sync"
RESTORE_STEP: Final = "restore-auto-sync"
ROLLBACK_STEP: Final = "rollback"


def app_status(app: Mapping[str, Any]) -> dict[str, Any]:
    status = app.get("status")
    return status if isinstance(status, dict) else {}


def entry_revision(entry: Mapping[str, Any]) -> str:
    """The Git revision of a history entry (multi-source: the revisions, comma-joined)."""
    return str(entry.get("revision") or ",".join(entry.get("revisions") or []))


def running(app: Mapping[str, Any]) -> tuple[str, str]:
    """(the revision deployed now, the app's health now): the newest ``status.history``
    entry and ``status.health``, "" where unknown. Every pause journals them (and the sync
    status), so a revision an app ran sick when it was frozen is known as bad later
    (:mod:`backends.ops.argo_revisions`)."""
    status = app_status(app)
    history = [h for h in status.get("history") or [] if isinstance(h, dict)]
    health = str((status.get("health") or {}).get("status") or "")
    return (entry_revision(history[-1]) if history else ""), health
