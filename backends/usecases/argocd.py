"""Argo CD use cases: pause and restore auto-sync, roll an Application back, follow it.

Restore has ONE rule for keys and CLI (it had two): the exact ``automated`` block journaled
by the newest pause that may have applied, else the one the pause annotation on the app
records. The journal wins because it was written (and fsynced) before the pause was sent and
cannot be edited by someone with ``kubectl annotate``; the annotation is the fallback for a
pause made from another machine. When both exist and differ, the plan warns. When auto-sync
would sync the app to a revision recorded as bad, the restore is held back unless asked for
anyway (:func:`backends.ops.argocd.plan_restore`, the check the breaker's release uses too).

Rollback knows the bad revision (:mod:`backends.ops.revisions`): without a history id it
takes the last known good entry, not the previous one; the current entry plans nothing; an
entry whose revision is recorded as bad gets a warning on the plan.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backends.kube.errors import KubeError
from backends.model import HistoryEntry
from backends.ops import argocd
from backends.ops.argo_revisions import app_knowledge
from backends.ops.argocd import OperationState, entry_revision
from backends.ops.plan import Plan, PlanError, Poll, Reader
from backends.ops.revisions import Knowledge, annotate
from backends.sanitize import clean
from backends.usecases.workspace import Action, Workspace

if TYPE_CHECKING:
    from backends.ops.argocd_rest import ArgoRestClient

__all__ = [
    "follow_rollback",
    "plan_pause_scope",
    "plan_pause_sync",
    "plan_restore_sync",
    "plan_rollback_app",
    "plan_rollback_app_rest",
    "rollback_choices",
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


async def plan_restore_sync(ws: Workspace, ns: str, name: str, *,
                            restore_bad: bool = False) -> Action:
    """Put back exactly the ``automated`` block the last pause saved (module doc for which
    one). ``plan.info`` says when the journal's record is used; an empty plan means the app
    already has it, or (``plan.held`` says so, an offer restores anyway) that auto-sync
    would sync it to a revision recorded as bad and ``restore_bad`` was not given."""
    prior: dict[str, Any] | None = None
    if ws.journal is not None:
        prior = await argocd.prior_from_journal(ws.journal, ws.context, ns, name)
    plan = await argocd.plan_restore(ws.conn, ws.gate, (ns, name), prior, journal=ws.journal,
                                     context=ws.context, restore_bad=restore_bad)
    if prior is not None:
        plan.info.insert(0, "restoring the policy journaled before the last pause: "
                         + json.dumps(prior, sort_keys=True, separators=(",", ":")))
    return Action(plan, ws.gate)


async def rollback_choices(ws: Workspace, ns: str, name: str
                           ) -> tuple[list[HistoryEntry], Knowledge]:
    """The app's ``status.history`` entries as read now, oldest first, and what is known
    about each (current, incident, last known good, and why): what the history picker
    shows and preselects. Read through the Argo CD API when rollbacks go that way
    (:func:`rollback_via_rest`), else through the Kubernetes API."""
    if not rollback_via_rest(ws):
        return await _read_choices(ws, ws.conn, ns, name, rest=False)
    client = _rest_client(ws)
    try:
        return await _read_choices(ws, client, ns, name, rest=True)
    finally:
        await client.close()


async def _read_choices(ws: Workspace, reader: Reader, ns: str, name: str, *,
                        rest: bool) -> tuple[list[HistoryEntry], Knowledge]:
    from backends.ops.argocd_rest import read_app_rest

    app = await (read_app_rest(reader, ns, name) if rest else argocd.read_app(reader, ns, name))
    return _entries(app), await app_knowledge(reader, app, ws.journal, ws.context, rest=rest)


def _rest_client(ws: Workspace) -> ArgoRestClient:
    """A client of the Argo CD API from ``[argocd]`` (the token from ``$[argocd] token_env``);
    PlanError when it cannot be made."""
    from backends.ops.argocd_rest import ArgoRestClient

    cfg = ws.settings.argocd
    try:
        return ArgoRestClient(cfg.server, os.environ.get(cfg.token_env) or None,
                              verify_tls=not cfg.insecure,
                              allow_http_credentials=cfg.allow_http_credentials)
    except ValueError as exc:
        raise PlanError(f"{exc} (token from ${cfg.token_env})") from exc


def _entries(app: dict[str, Any]) -> list[HistoryEntry]:
    from backends.kube.decode import parse_time

    out = []
    for h in argocd.app_status(app).get("history") or []:
        if not isinstance(h, dict) or not isinstance(h.get("id"), int):
            continue
        try:
            deployed: float | None = parse_time(str(h.get("deployedAt") or ""))
        except ValueError:
            deployed = None
        out.append(HistoryEntry(id=h["id"], revision=clean(entry_revision(h), 200),
                                deployed_at=deployed))
    return out


@dataclass
class _Choice:
    """The history id a rollback goes to, what is known about it, and the empty plan when
    it is the current entry (nothing to roll back)."""

    to_id: int | None
    defaulted: bool
    knowledge: Knowledge | None = None
    nothing: Plan | None = None
    notes: list[str] = field(default_factory=list)

    def annotate(self, plan: Plan) -> Plan:
        if self.knowledge is not None and self.to_id is not None:
            annotate(plan, self.knowledge, str(self.to_id), defaulted=self.defaulted)
        plan.info.extend(self.notes)
        return plan


async def _choose(ws: Workspace, ns: str, name: str, to_id: int | None,
                  reader: Reader | None = None, *, rest: bool = False) -> _Choice:
    """Judge the history, read through ``reader`` (default: the Kubernetes API); best
    effort: when it cannot be read, an explicit ``to_id`` stands and the plan says what
    is not known; without one the error is raised."""
    try:
        history, knowledge = await _read_choices(ws, reader or ws.conn, ns, name, rest=rest)
    except (PlanError, KubeError) as exc:
        if to_id is None:
            raise
        return _Choice(to_id, False, notes=[f"what is known about the history of {ns}/{name} "
                                            f"could not be read: {clean(exc, 300)}"])
    if not history:
        return _Choice(to_id, to_id is None)
    choice = _Choice(to_id if to_id is not None else int(knowledge.default), to_id is None,
                     knowledge)
    if str(choice.to_id) == knowledge.current:
        plan = Plan(title=f"Roll back {ns}/{name} to history {choice.to_id}: nothing to do")
        plan.info.append(f"history {choice.to_id} is the app's current deployment: nothing to "
                         "roll back; pick an older entry to roll back to it")
        choice.nothing = choice.annotate(plan)
    return choice


async def plan_rollback_app(ws: Workspace, ns: str, name: str, to_id: int | None = None, *,
                            reason: str = "") -> Action:
    """Roll Application ``ns/name`` back to history entry ``to_id`` (None: the last known
    good, module doc) through the Kubernetes API. ``reason`` goes into ``operation.info``
    when already known (the CLI); otherwise the reason given to
    :func:`~backends.usecases.run.run` replaces it when sending. Auto-sync must be paused
    first (PlanError says so)."""
    choice = await _choose(ws, ns, name, to_id)
    if choice.nothing is not None:
        return Action(choice.nothing, ws.gate)
    plan = await argocd.plan_rollback(ws.conn, ws.gate, (ns, name), choice.to_id,
                                      reason=reason)
    return Action(choice.annotate(plan), ws.gate)


def rollback_via_rest(ws: Workspace) -> bool:
    """Whether the App rolls Argo CD apps back through the Argo CD REST API (``[argocd]
    server`` is set). The CLI always uses the Kubernetes API."""
    rest = getattr(ws.settings, "argocd", None)
    return bool(rest is not None and rest.server)


async def plan_rollback_app_rest(ws: Workspace, ns: str, name: str,
                                 to_id: int | None = None) -> Action:
    """The rollback through ``POST /api/v1/applications/{name}/rollback`` behind a gate on
    the REST client with this session's policy and journal (no server dry-run, no access
    reviews: Argo CD's RBAC decides). The entry is chosen and judged as for
    :func:`plan_rollback_app`, from what the Argo CD API says. The action holds the client
    open: the face must ``await action.close()`` when done. The token comes from
    ``$[argocd] token_env``."""
    from backends.ops.argocd_rest import plan_rollback_rest

    client = _rest_client(ws)
    gate = ws.gate_on(client)
    try:
        choice = await _choose(ws, ns, name, to_id, client, rest=True)
        if choice.nothing is not None:
            await client.close()
            return Action(choice.nothing, ws.gate)
        plan = await plan_rollback_rest(client, gate, (ns, name), choice.to_id)
    except BaseException:
        await client.close()
        raise
    plan.warnings.extend(client.warnings)
    return Action(choice.annotate(plan), gate, closer=client.close)


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
