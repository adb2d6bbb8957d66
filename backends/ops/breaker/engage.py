"""Engage the breaker: freeze reconcilers, shift traffic, scale down, as one journaled operation.

Why it is shaped so: phases strictly in order, freeze (pause auto-sync), shift (emergency
weights), scale (to 0). Freeze comes first because every later change to a Git-tracked field
is reverted by selfHeal while auto-sync is on (operations.md section 1). Every write goes
through the gate under ONE operation id (``breaker-xxxxxxxx``), which is what status and
release group by, and its journal ``intent`` carries ``{"breaker": {"phase", "planned",
"annotation"}}``: ``planned`` (how many writes the breaker meant to send) is how a later
process tells a complete breaker from a half-done one without any other file.

The cluster carries the breaker too: each object's mark holds its prior state, the
emergency state, who engaged it and when (:mod:`backends.ops.breaker_mark`), so any operator
sees and releases it without this journal. Right before the first write, engage reads the
cluster's marks (:func:`~backends.ops.breaker.cluster.scan`) and joins a breaker already
engaged there instead of doubling it (:func:`engage`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from backends.ops.breaker.cluster import scan
from backends.ops.breaker.marks import OBJECT_PATHS, annotated, mark_write
from backends.ops.breaker.run import BreakerResult, Job, OnProgress, TargetOutcome, run_phases
from backends.ops.breaker_mark import Mark, mark_value, read_mark
from backends.ops.breaker_model import (
    BREAKER_ANNOTATION,
    OPERATION_PREFIX,
    PHASES,
    BreakerPlan,
    BreakerTarget,
    Phase,
)
from backends.ops.gate import CancelToken, Confirmation, WriteGate
from backends.ops.plan import PlanError, PlannedWrite, Reader, get_json
from backends.sanitize import clean

__all__ = ["engage", "new_breaker_id"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _mark_of(t: BreakerTarget, op: str, by: str, since: str, targets: int) -> str:
    """The target's mark: who and when, and the state before (its first write's prior, what
    the journal records and release puts back) and the emergency state."""
    assert t.plan is not None and t.plan.writes
    first = t.plan.writes[0]
    return mark_value(op, by, since, phase=t.phase, prior=dict(first.prior),
                      intent=dict(first.intent), targets=targets)


def _engage_writes(plan: BreakerPlan, t: BreakerTarget, mark: str,
                   planned: int) -> list[PlannedWrite]:
    """The target's planned writes, tagged for the journal and carrying the annotation. A
    separate annotation write goes FIRST: the object carries its prior state before it
    changes, so a breaker killed in between still shows on the object (status, release)."""
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
        writes.insert(0, mark_write(plan.reader, t.phase, t.namespace, t.name, mark,
                                    t.prior_mark, tag, f"Annotate {t.namespace}/{t.name}"))
    return writes


def _count(targets: list[BreakerTarget]) -> int:
    """Writes engaging ``targets`` sends (as :meth:`BreakerPlan.writes` counts them)."""
    return sum(len(t.plan.writes) + (t.separate_mark and not t.mark_blocked)
               for t in targets if t.plan is not None)


def new_breaker_id() -> str:
    """A fresh breaker operation id (``breaker-`` and 8 hex digits)."""
    return f"{OPERATION_PREFIX}{uuid.uuid4().hex[:8]}"


async def _live_mark(reader: Reader, t: BreakerTarget) -> Mark | None:
    """The breaker mark on the target's object as it is now (None: none, or unreadable:
    the scan and the write's own checks still stand)."""
    try:
        obj = await get_json(reader, OBJECT_PATHS[t.phase](t.namespace, t.name), t.label)
    except PlanError:
        return None
    notes = (obj.get("metadata") or {}).get("annotations") if isinstance(obj, dict) else None
    return read_mark(notes.get(BREAKER_ANNOTATION) if isinstance(notes, dict) else None,
                     t.kind)


async def _engaged_in_cluster(plan: BreakerPlan,
                              targets: list[BreakerTarget]) -> tuple[dict[str, Mark], Mark | None]:
    """(target key -> the other breaker's mark holding it, the newest breaker engaged in the
    cluster), read right before the first write: two operators engaging at once must not
    both capture a "prior" (the second would record the first one's emergency state)."""
    if plan.reader is None:
        return {}, None
    reader = plan.reader
    found, live = await asyncio.gather(
        scan(reader), asyncio.gather(*(_live_mark(reader, t) for t in targets)))
    held = {t.key: m for t, m in zip(targets, live, strict=True) if m is not None}
    for f in found.found:
        for t in targets:
            if (f.kind, f.namespace, f.name) == (t.kind, t.namespace, t.name) and f.mark:
                held.setdefault(t.key, f.mark)
    marks = [f.mark for f in found.found if f.mark is not None] + list(held.values())
    return held, max(marks, key=lambda m: m.since) if marks else None


def _who(mark: Mark) -> str:
    return (f"breaker {clean(mark.operation, 60)} (engaged by {clean(mark.by, 60)} since "
            f"{clean(mark.since, 40)})")


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

    A breaker already engaged in the cluster (its marks on any object) is JOINED: this one's
    writes go under its operation id, so status and release see one breaker, and a target
    that already carries a breaker's mark is left to it (not written, its prior not
    captured again). When every target is held, nothing is sent.
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
    busy = [t for t in plan.included() if t.plan is not None and t.plan.writes]
    held, joined = await _engaged_in_cluster(plan, busy)
    notes = list(plan.warnings)
    if joined is not None:
        op = joined.operation
        notes.append(f"joined {_who(joined)}: one breaker in the cluster, released as one")
    quiet = [TargetOutcome(t.key, t.label, t.phase, "nothing-to-do",
                           f"held by {_who(held[t.key])}: left to it, its prior state not "
                           "captured again") for t in busy if t.key in held]
    active = [t for t in busy if t.key not in held]
    if not active:
        return BreakerResult("engage", op, started=False, ok=True,
                             error="every target is already held by a breaker engaged in "
                                   "the cluster: nothing sent",
                             outcomes=(*quiet, *excluded), warnings=tuple(notes))
    by = operator or gate.policy.operator
    since = clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    planned = _count(active)
    phases: list[tuple[Phase, list[Job]]] = []
    for phase in PHASES:
        jobs: list[Job] = []
        for t in plan.included(phase):
            if t.plan is None or not t.plan.writes:
                quiet.append(TargetOutcome(t.key, t.label, phase, "nothing-to-do",
                                           "; ".join(t.plan.info if t.plan else [])))
            elif t.key not in held:
                mark = _mark_of(t, op, by, since, len(active))
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
                         outcomes=(*outcomes, *quiet, *excluded), warnings=tuple(notes))


def engage_writes(plan: BreakerPlan, operator: str, *,
                  operation_id: str = f"{OPERATION_PREFIX}preview",
                  since: str = "") -> list[tuple[BreakerTarget, list[PlannedWrite]]]:
    """Exactly the writes :func:`engage` would send, per included target with writes, in
    phase order (annotations merged or added, journal tags set), for the dry-run: the
    annotation carries ``operation_id``/``since`` placeholders (engage stamps its own).
    Raises PlanError when a target cannot carry the annotation (engage refuses then)."""
    busy = [t for phase in PHASES for t in plan.included(phase)
            if t.plan is not None and t.plan.writes]
    planned = _count(busy)
    return [(t, _engage_writes(plan, t, _mark_of(t, operation_id, operator, since, len(busy)),
                               planned)) for t in busy]
