"""Rollout pause and resume of a Deployment (:mod:`backends.ops.rollout_pause`), for the App's
key and ``controlroom rollout pause|resume`` alike.

Resume puts back what the pause took away, with ONE rule (:func:`recorded_paused`): when the
journal records a pause of this Deployment whose write may have applied, and no resume
since, the resume sends that pause's prior ``spec.paused`` exactly (absent stays absent);
otherwise it sends ``false``, as ``kubectl rollout resume`` does. Either way a Deployment
that is not paused is left alone, and the plan says so.
"""

from __future__ import annotations

from typing import Any, Final

from backends.ops import rollout_pause
from backends.ops.journal import Journal
from backends.usecases.workspace import Action, Workspace

__all__ = ["NOT_RECORDED", "plan_pause_rollout", "plan_resume_rollout", "recorded_paused"]

NOT_RECORDED: Final = object()
"""What :func:`recorded_paused` answers when the journal has no pause to undo."""


async def recorded_paused(journal: Journal, context: str, ns: str, name: str) -> Any:
    """The ``spec.paused`` recorded before the newest pause of Deployment ``ns/name`` on
    ``context`` that may have applied (None: the field was absent), or
    :data:`NOT_RECORDED` when there is none, or a resume came after it."""
    for entry in reversed(await journal.entries(context=context)):
        if (entry.kind, entry.namespace, entry.name) != ("Deployment", ns, name) \
                or not entry.may_have_applied:
            continue
        if entry.step == rollout_pause.RESUME_STEP:
            return NOT_RECORDED
        if entry.step == rollout_pause.PAUSE_STEP and isinstance(entry.prior, dict) \
                and "paused" in entry.prior:
            return entry.prior["paused"]
    return NOT_RECORDED


async def plan_pause_rollout(ws: Workspace, ns: str, name: str) -> Action:
    """Pause the rollout of Deployment ``ns/name`` (journal step ``rollout-pause``)."""
    return Action(await rollout_pause.plan_pause_rollout(ws.conn, ws.gate, ns, name), ws.gate)


async def plan_resume_rollout(ws: Workspace, ns: str, name: str) -> Action:
    """Resume the rollout of Deployment ``ns/name``: the journaled prior of the last pause
    when there is one, else ``false`` (module doc)."""
    recorded: Any = NOT_RECORDED
    if ws.journal is not None:
        recorded = await recorded_paused(ws.journal, ws.context, ns, name)
    if recorded is NOT_RECORDED or rollout_pause.is_paused(recorded):
        plan = await rollout_pause.plan_resume_rollout(ws.conn, ws.gate, ns, name)
    else:
        plan = await rollout_pause.plan_paused_restore(ws.conn, ws.gate, ns, name, recorded,
                                                       resume=True)
        plan.info.append("the journal records the spec.paused from before the last pause: "
                         "that value is put back")
    return Action(plan, ws.gate)
