"""Argo CD use cases: pause and restore auto-sync, roll an Application back, follow it.

Restore has ONE rule for keys and CLI (it had two): the exact ``automated`` block journaled
by the newest pause that may have applied, else the one the pause annotation on the app
records. The journal wins because it was written (and fsynced) before the pause was sent and
cannot be edited by someone with ``kubectl annotate``; the annotation is the fallback for a
pause made from another machine. When both exist and differ, the plan warns.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from backends.ops import argocd
from backends.ops.argocd import OperationState
from backends.ops.plan import Plan, PlanError, Poll
from backends.usecases.workspace import Action, Workspace

__all__ = [
    "follow_rollback",
    "plan_pause_scope",
    "plan_pause_sync",
    "plan_restore_sync",
    "plan_rollback_app",
    "plan_rollback_app_rest",
    "rollback_via_rest",
]


async def plan_pause_sync(ws: Workspace, ns: str, name: str) -> Action:
    """Pause auto-sync of Application ``ns/name``, recording the exact prior ``automated``
    block in the journal and in an annotation on the app. The face renders the plan (its
    warnings: ApplicationSet, parent app-of-apps, selfHeal elsewhere)."""
    return Action(await argocd.plan_pause(ws.conn, ws.gate, ns, name), ws.gate)


async def plan_pause_scope(ws: Workspace, apps: Iterable[tuple[str, str]]) -> Action:
    """Pause auto-sync of every ``(ns, name)`` in ``apps`` in one plan (the App's "pause all
    shown")."""
    return Action(await argocd.plan_pause_scope(ws.conn, ws.gate, list(apps)), ws.gate)


async def plan_restore_sync(ws: Workspace, ns: str, name: str) -> Action:
    """Put back exactly the ``automated`` block the last pause saved (module doc for which
    one). ``plan.info`` says when the journal's record is used; an empty plan means the app
    already has it."""
    prior: dict[str, Any] | None = None
    if ws.journal is not None:
        prior = await argocd.prior_from_journal(ws.journal, ws.context, ns, name)
    plan = await argocd.plan_restore(ws.conn, ws.gate, (ns, name), prior)
    if prior is not None:
        plan.info.insert(0, "restoring the policy journaled before the last pause: "
                         + json.dumps(prior, sort_keys=True, separators=(",", ":")))
    return Action(plan, ws.gate)


async def plan_rollback_app(ws: Workspace, ns: str, name: str, to_id: int | None = None, *,
                            reason: str = "") -> Action:
    """Roll Application ``ns/name`` back to history entry ``to_id`` (None: the previous one)
    through the Kubernetes API. ``reason`` goes into ``operation.info`` when already known
    (the CLI); otherwise the reason given to :func:`~backends.usecases.run.run` replaces it
    when sending. Auto-sync must be paused first (PlanError says so)."""
    plan = await argocd.plan_rollback(ws.conn, ws.gate, (ns, name), to_id, reason=reason)
    return Action(plan, ws.gate)


def rollback_via_rest(ws: Workspace) -> bool:
    """Whether the App rolls Argo CD apps back through the Argo CD REST API (``[argocd]
    server`` is set). The CLI always uses the Kubernetes API."""
    rest = getattr(ws.settings, "argocd", None)
    return bool(rest is not None and rest.server)


async def plan_rollback_app_rest(ws: Workspace, ns: str, name: str,
                                 to_id: int | None = None) -> Action:
    """The rollback through ``POST /api/v1/applications/{name}/rollback`` behind a gate on
    the REST client with this session's policy and journal (no server dry-run, no access
    reviews: Argo CD's RBAC decides). The action holds the client open: the face must
    ``await action.close()`` when done. The token comes from ``$[argocd] token_env``."""
    from backends.ops.argocd_rest import ArgoRestClient, plan_rollback_rest

    cfg = ws.settings.argocd
    try:
        client = ArgoRestClient(cfg.server, os.environ.get(cfg.token_env) or None,
                                verify_tls=not cfg.insecure,
                                allow_http_credentials=cfg.allow_http_credentials)
    except ValueError as exc:
        raise PlanError(f"{exc} (token from ${cfg.token_env})") from exc
    gate = ws.gate_on(client)
    try:
        plan = await plan_rollback_rest(client, gate, (ns, name), to_id)
    except BaseException:
        await client.close()
        raise
    plan.warnings.extend(client.warnings)
    return Action(plan, gate, closer=client.close)


def _expected_operation(plan: Plan) -> Mapping[str, Any] | None:
    intent = plan.writes[0].intent if plan.writes else {}
    op = intent.get("operation")
    return op if isinstance(op, dict) else None


async def follow_rollback(ws: Workspace, ns: str, name: str, action: Action, *,
                          timeout: float = 300.0,
                          poll: Poll | None = None) -> AsyncIterator[OperationState]:
    """Each new state of the rollback operation ``action`` wrote, until Succeeded, Failed or
    Error (the face renders each: phase and message, both sanitized). Raises TimeoutError
    after ``timeout`` seconds, PlanError/KubeError when the app cannot be read."""
    async for state in argocd.follow_operation(ws.conn, (ns, name), timeout, poll=poll,
                                               operation=_expected_operation(action.plan)):
        yield state
