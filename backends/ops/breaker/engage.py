"""Engage the breaker: freeze reconcilers, shift traffic, scale down, as one journaled operation.

Why it is shaped so: phases strictly in order, freeze (pause auto-sync), shift (emergency
weights), scale (to 0). Freeze comes first because every later change to a Git-tracked field
is reverted by selfHeal while auto-sync is on (operations.md section 1). Every write goes
through the gate under ONE operation id (``breaker-xxxxxxxx``), which is what status and
release group by, and its journal ``intent`` carries ``{"breaker": {"phase", "planned",
"annotation"}}``: ``planned`` (how many writes the breaker meant to send) is how a later
process tells a complete breaker from a half-done one without any other file.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from backends.ops.breaker.marks import annotated, mark_write
from backends.ops.breaker.run import BreakerResult, Job, OnProgress, TargetOutcome, run_phases
from backends.ops.breaker_model import (
    OPERATION_PREFIX,
    PHASES,
    BreakerPlan,
    BreakerTarget,
    Phase,
    mark_value,
)
from backends.ops.gate import CancelToken, Confirmation, WriteGate
from backends.ops.plan import PlanError, PlannedWrite

__all__ = ["engage", "new_breaker_id"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _engage_writes(plan: BreakerPlan, t: BreakerTarget, mark: str,
                   planned: int) -> list[PlannedWrite]:
    """The target's planned writes, tagged for the journal and carrying the annotation."""
    assert t.plan is not None
    tag = {"breaker": {"phase": t.phase, "planned": planned, "annotation": mark}}

    def tagged(pw: PlannedWrite) -> PlannedWrite:
        req = None if t.separate_mark else annotated(pw.request, t.annotations, mark)
        if req is None:
            req, prior = pw.request, dict(pw.prior)
            if not t.separate_mark:
                raise PlanError(f"{t.label}: cannot add the breaker annotation to a "
                                f"{pw.request.content_type} request")
        else:
            prior = {**pw.prior, "breaker_annotation": t.prior_mark}
        fallback = tagged(pw.fallback) if pw.fallback is not None else None
        return replace(pw, request=req, prior=prior, intent={**pw.intent, **tag},
                       fallback=fallback)

    writes = [tagged(pw) for pw in t.plan.writes]
    if t.separate_mark and not t.mark_blocked:
        if plan.reader is None:
            raise PlanError("the breaker plan has no connection to verify its annotations")
        writes.append(mark_write(plan.reader, t.phase, t.namespace, t.name, mark,
                                  t.prior_mark, tag, f"Annotate {t.namespace}/{t.name}"))
    return writes


def new_breaker_id() -> str:
    """A fresh breaker operation id (``breaker-`` and 8 hex digits)."""
    return f"{OPERATION_PREFIX}{uuid.uuid4().hex[:8]}"


async def engage(gate: WriteGate, plan: BreakerPlan, *, reason: str, confirm: Confirmation,
                 operator: str | None = None, on_progress: OnProgress | None = None,
                 cancel: CancelToken | None = None,
                 clock: Callable[[], datetime] = _utcnow) -> BreakerResult:
    """Engage the breaker as planned (module doc). Never raises for refusals, error answers
    or lost connections: they stop it and the result says what was done.

    ``confirm``: on a protected context every write needs the typed context name, and
    without ``emergency=True`` each phase waits out the gate's cancel window (``cancel``
    can call off the first phase during it). ``operator`` is the annotation's ``by``
    (default: the gate's operator, who is also the journal's).
    """
    op = new_breaker_id()
    excluded = tuple(TargetOutcome(t.key, t.label, t.phase, "excluded", "excluded by the "
                                   "operator") for t in plan.targets if not t.include)
    refusals = list(plan.refusals)
    if plan.context != gate.policy.context:
        refusals.insert(0, f"planned on context {plan.context!r}, the gate writes to "
                           f"{gate.policy.context!r}: plan again")
    if refusals:
        return BreakerResult("engage", op, started=False, ok=False,
                             error="; ".join(refusals), outcomes=excluded)
    mark = mark_value(op, operator or gate.policy.operator,
                      clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    planned = plan.writes()
    phases: list[tuple[Phase, list[Job]]] = []
    quiet: list[TargetOutcome] = []
    for phase in PHASES:
        jobs: list[Job] = []
        for t in plan.included(phase):
            if t.plan is None or not t.plan.writes:
                quiet.append(TargetOutcome(t.key, t.label, phase, "nothing-to-do",
                                           "; ".join(t.plan.info if t.plan else [])))
            else:
                try:
                    jobs.append((t.key, t.label, _engage_writes(plan, t, mark, planned)))
                except PlanError as exc:
                    return BreakerResult("engage", op, started=False, ok=False,
                                         error=str(exc), outcomes=excluded)
        phases.append((phase, jobs))
    outcomes, error = await run_phases(gate, phases, reason=reason, confirm=confirm,
                                        operation_id=op, cancel=cancel,
                                        on_progress=on_progress)
    return BreakerResult("engage", op, started=True, ok=not error, error=error,
                         outcomes=(*outcomes, *quiet, *excluded),
                         warnings=tuple(plan.warnings))


def engage_writes(plan: BreakerPlan, operator: str, *,
                  operation_id: str = f"{OPERATION_PREFIX}preview",
                  since: str = "") -> list[tuple[BreakerTarget, list[PlannedWrite]]]:
    """Exactly the writes :func:`engage` would send, per included target with writes, in
    phase order (annotations merged or added, journal tags set), for the dry-run: the
    annotation carries ``operation_id``/``since`` placeholders (engage stamps its own).
    Raises PlanError when a target cannot carry the annotation (engage refuses then)."""
    mark = mark_value(operation_id, operator, since)
    planned = plan.writes()
    return [(t, _engage_writes(plan, t, mark, planned)) for phase in PHASES
            for t in plan.included(phase) if t.plan is not None and t.plan.writes]
