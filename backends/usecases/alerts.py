"""Alertmanager use cases: silence the selected alerts, expire the silences we made.

The writes go through a gate on the session's Alertmanager client with the session's policy
and journal: read-only mode refuses a silence exactly like a scale, production asks for the
typed context name, and the journal keeps the prior alert status and the ``silenceID``. The
reason given to :func:`~backends.usecases.run.run` becomes the silence's ``comment``.
"""

from __future__ import annotations

from collections.abc import Sequence

from backends.ops import silence
from backends.ops.plan import PlanError
from backends.signals.alertmanager import AlertmanagerClient
from backends.signals.model import AlertRow
from backends.usecases.workspace import Action, Workspace

__all__ = ["plan_expire", "plan_silence"]


def _client(ws: Workspace) -> AlertmanagerClient:
    if ws.alertmanager is None:
        raise PlanError("no Alertmanager configured ([alertmanager] url)")
    return ws.alertmanager


async def plan_silence(ws: Workspace, alerts: Sequence[AlertRow], *, hours: float) -> Action:
    """One silence per distinct selected alert, scoped to it and ending ``hours`` after it
    is sent (the face offers durations; ``settings.alertmanager.silence_hours`` is the
    default)."""
    client = _client(ws)
    gate = ws.gate_on(client)
    return Action(await silence.plan_silence(client, gate, alerts, hours=hours), gate)


async def plan_expire(ws: Workspace, alerts: Sequence[AlertRow]) -> Action:
    """Expire the active silences the control room made for ``alerts`` (found through the
    journal); an empty plan says there is nothing to expire."""
    client = _client(ws)
    gate = ws.gate_on(client)
    return Action(await silence.plan_expire(client, gate, ws.journal, alerts), gate)
