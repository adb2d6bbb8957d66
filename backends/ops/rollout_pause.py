"""Rollout pause and resume: ``spec.paused`` of a Deployment, as ``kubectl rollout pause``
and ``kubectl rollout resume`` set it (operations.md section 3).

Why an action of its own, and why the breaker proposes it: a Deployment in the middle of a
bad rollout still serves from its old ReplicaSet. Scaling it to 0 takes that capacity away
(the outage the breaker exists to prevent); pausing the rollout keeps the old pods serving and
stops the new, failing ones from replacing them. A paused Deployment still scales (``kubectl
scale`` works on it), but a change of its pod template (an Argo CD sync of a new image) does
not roll out, and ``rollout undo`` refuses it until it is resumed: the plan says so.

Shape: ONE merge patch of ``spec.paused`` on the Deployment (kubectl sends the same field as a
strategic merge patch; for a scalar they are the same). The prior value is read from the live
object and journaled as it was: absent (None), ``false`` or ``true``. The restore
(:func:`plan_paused_restore`) sends that exact value back (None as ``null``, which removes
the field), so a Deployment that never had the field does not gain one. Verification reads
the Deployment back; Kubernetes does not distinguish an absent ``paused`` from ``false``
(Go's zero value, omitted), so neither does the check.

Like kubectl, pausing a paused Deployment and resuming one that is not paused change nothing:
the plan is empty and says so (kubectl answers "already paused" / "is not paused").
"""

from __future__ import annotations

import json
from typing import Any

from backends.ops.gate import TargetRef, WriteGate, WriteRequest
from backends.ops.plan import MERGE_PATCH, Plan, PlannedWrite, Reader, finish, get_json
from backends.ops.workloads import deploy_path

__all__ = ["PAUSE_STEP", "RESUME_STEP", "is_paused", "plan_pause_rollout",
           "plan_paused_restore", "plan_resume_rollout"]

PAUSE_STEP = "rollout-pause"
"""Journal step of a pause (the key's, the CLI's and the breaker's)."""
RESUME_STEP = "rollout-resume"
"""Journal step of a resume and of a restore of the recorded value."""


def is_paused(value: Any) -> bool:
    """``spec.paused`` as Kubernetes reads it: only ``true`` pauses."""
    return value is True


async def _plan_paused(conn: Reader, gate: WriteGate, ns: str, name: str, value: bool | None,
                       *, step: str, title: str, nothing: str) -> Plan:
    """Set ``spec.paused`` to ``value`` (None: remove the field), or an empty plan saying
    ``nothing`` when the Deployment already is where ``value`` puts it."""
    deploy = await get_json(conn, deploy_path(ns, name), f"Deployment {ns}/{name}")
    current = (deploy.get("spec") or {}).get("paused")
    plan = Plan(title=title)
    if is_paused(current) == is_paused(value):
        plan.info.append(nothing)
        return plan
    req = WriteRequest(method="PATCH", path=deploy_path(ns, name), content_type=MERGE_PATCH,
                       verb="patch", body=json.dumps({"spec": {"paused": value}}).encode(),
                       target=TargetRef("Deployment", ns, name, "apps", "deployments"))

    async def verify() -> tuple[bool, str]:
        now = await get_json(conn, deploy_path(ns, name), f"Deployment {ns}/{name}")
        got = (now.get("spec") or {}).get("paused")
        return is_paused(got) == is_paused(value), f"spec.paused={json.dumps(got)}"

    plan.writes.append(PlannedWrite(title=title, request=req, prior={"paused": current},
                                    intent={"paused": value}, verify=verify, step=step))
    if is_paused(value):
        plan.warnings.append("while paused, a new pod template (an Argo CD sync of a new "
                             "image, kubectl set image) does not roll out, and rollout undo "
                             "refuses the Deployment until it is resumed; scaling still works")
        plan.info.append("the pods of every ReplicaSet stay as they are: an old ReplicaSet "
                         "that still serves keeps serving")
    else:
        plan.info.append("the rollout continues where it stopped (to the current pod "
                         "template)")
    return await finish(gate, plan)


async def plan_pause_rollout(conn: Reader, gate: WriteGate, ns: str, name: str, *,
                             title: str = "") -> Plan:
    """``kubectl rollout pause deployment/NAME``: ``spec.paused`` true, prior journaled."""
    return await _plan_paused(conn, gate, ns, name, True, step=PAUSE_STEP,
                              title=title or f"Pause the rollout of Deployment {ns}/{name}",
                              nothing=f"Deployment {ns}/{name} is already paused: nothing "
                              "to do")


async def plan_resume_rollout(conn: Reader, gate: WriteGate, ns: str, name: str) -> Plan:
    """``kubectl rollout resume deployment/NAME``: ``spec.paused`` false. A Deployment that
    is not paused is left alone (an empty plan that says so)."""
    return await _plan_paused(conn, gate, ns, name, False, step=RESUME_STEP,
                              title=f"Resume the rollout of Deployment {ns}/{name}",
                              nothing=f"Deployment {ns}/{name} is not paused: nothing to do")


async def plan_paused_restore(conn: Reader, gate: WriteGate, ns: str, name: str,
                              recorded: Any, *, resume: bool = False) -> Plan:
    """Put back the ``spec.paused`` a pause recorded (its journal ``prior``): exactly that
    value, None (the field was absent) as ``null``. ``resume``: it is the resume action
    (its title and its "not paused" say so), not a breaker's release."""
    value = recorded if isinstance(recorded, bool) else None
    shown = json.dumps(value) if value is not None else "absent"
    return await _plan_paused(conn, gate, ns, name, value, step=RESUME_STEP,
                              title=f"Resume the rollout of Deployment {ns}/{name}: "
                              f"spec.paused back to its recorded value ({shown})"
                              if resume else f"Restore spec.paused of Deployment "
                              f"{ns}/{name} to its recorded value ({shown})",
                              nothing=f"Deployment {ns}/{name} is not paused: nothing to do"
                              if resume and not is_paused(value) else
                              f"Deployment {ns}/{name} already has its recorded spec.paused "
                              f"({shown}): nothing to do")
