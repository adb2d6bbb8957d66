"""Deployment use cases: scale (down, to N, back), rollout history and rollout undo.

Rollout undo knows the bad revision (:mod:`backends.ops.revisions`): without a revision it
takes the last known good, not kubectl's "previous" (after an Argo CD rollback that is the
bad release), and a revision recorded as bad gets a warning on the plan. Keys and CLI share
:func:`rollout_choices` and :func:`plan_rollout_undo`.

``scale --restore`` and the App's "restore scale" key read the replicas to put back with ONE
rule, :func:`recorded_replicas` (they had two): the prior replicas of the newest scale of the
Deployment (a ``scale-down`` of the key or the breaker's, or a ``scale`` of the CLI) whose
write *may have applied*. A refused or failed scale changed nothing, so restoring its prior
would put back a count that was never taken away.
"""

from __future__ import annotations

from typing import Final

from backends.ops import workloads
from backends.ops.journal import Journal
from backends.ops.plan import PlanError
from backends.ops.revisions import Knowledge, annotate
from backends.ops.rollout_revisions import rollout_knowledge
from backends.ops.workloads import Revision
from backends.usecases.workspace import Action, Workspace

__all__ = [
    "SCALE_STEPS",
    "NothingToRestore",
    "plan_rollout_undo",
    "plan_scale",
    "plan_scale_down",
    "plan_scale_restore",
    "recorded_replicas",
    "rollout_choices",
    "rollout_history",
]

SCALE_STEPS: Final = ("scale-down", "scale")
"""Journal steps of a scale whose prior a restore puts back."""


class NothingToRestore(PlanError):
    """The journal records no scale of the Deployment that may have applied."""


async def recorded_replicas(journal: Journal, context: str, ns: str, name: str) -> int | None:
    """The replicas recorded before the newest scale of Deployment ``ns/name`` on
    ``context`` that may have applied, or None (module doc)."""
    for entry in reversed(await journal.entries(context=context)):
        if (entry.kind, entry.namespace, entry.name) != ("Deployment", ns, name):
            continue
        if entry.step not in SCALE_STEPS or not entry.may_have_applied:
            continue
        prior = entry.prior.get("replicas") if isinstance(entry.prior, dict) else None
        if isinstance(prior, int) and not isinstance(prior, bool):
            return prior
    return None


async def plan_scale_down(ws: Workspace, ns: str, name: str) -> Action:
    """Scale Deployment ``ns/name`` to 0 through its scale subresource (journal step
    ``scale-down``). The plan warns about an HPA or selfHeal that would scale it back."""
    return Action(await workloads.plan_scale(ws.conn, ws.gate, ns, name, 0), ws.gate)


async def plan_scale(ws: Workspace, ns: str, name: str, replicas: int) -> Action:
    """Set Deployment ``ns/name`` to ``replicas`` (journal step ``scale``)."""
    return Action(await workloads.plan_scale(ws.conn, ws.gate, ns, name, replicas,
                                             step="scale"), ws.gate)


async def plan_scale_restore(ws: Workspace, ns: str, name: str) -> Action:
    """Set Deployment ``ns/name`` back to :func:`recorded_replicas`. Raises
    :class:`NothingToRestore` when the journal has none (or no journal is open)."""
    recorded = None
    if ws.journal is not None:
        recorded = await recorded_replicas(ws.journal, ws.context, ns, name)
    if recorded is None:
        raise NothingToRestore(f"Deployment {ns}/{name}: the journal records no scale to "
                               "restore")
    return Action(await workloads.plan_scale_restore(ws.conn, ws.gate, ns, name, recorded),
                  ws.gate)


async def rollout_history(ws: Workspace, ns: str, name: str) -> list[Revision]:
    """The Deployment's revisions, oldest first (the face offers them to pick from; the
    last is the current one). Raises PlanError/KubeError when they cannot be read."""
    return await workloads.rollout_history(ws.conn, ns, name)


async def rollout_choices(ws: Workspace, ns: str, name: str) -> tuple[list[Revision], Knowledge]:
    """The Deployment's revisions, oldest first, and what is known about each (current,
    incident, last known good, and why): what the revision picker shows and preselects."""
    return await rollout_knowledge(ws.conn, ns, name, ws.journal, ws.context)


async def plan_rollout_undo(ws: Workspace, ns: str, name: str,
                            to_revision: int | None = None) -> Action:
    """``kubectl rollout undo`` of Deployment ``ns/name`` to ``to_revision``: the revision's
    pod template, conditional on the object as read. None takes the last known good (module
    doc; the plan says which and why); the current one plans nothing. A revision recorded
    as bad is planned, with a warning first."""
    revisions, knowledge = await rollout_choices(ws, ns, name)
    chosen = to_revision
    if chosen is None and revisions:
        chosen = int(knowledge.default)
    plan = await workloads.plan_rollout_undo(ws.conn, ws.gate, ns, name, chosen)
    if revisions and chosen is not None:
        annotate(plan, knowledge, str(chosen), defaulted=to_revision is None)
    return Action(plan, ws.gate)
