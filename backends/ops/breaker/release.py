"""Release the breaker: put back exactly what it changed, in reverse, from the journal.

Release reads the journal and the breaker marks on the objects (the cluster carries the
prior state too, :mod:`backends.ops.breaker.cluster`: any operator, with this journal or
none, can release), not the cluster's current opinion: for every target it takes the
prior state recorded by the breaker's FIRST write to it (prior ``automated`` block, replicas,
``backendRefs``; from the object's mark when the journal does not know it), plans the action modules' own restores
(:func:`~backends.ops.argocd.plan_restore`, :func:`~backends.ops.workloads.plan_scale_restore`,
:func:`~backends.ops.traffic.plan_backends_restore`), and runs the phases in reverse (scale,
shift, freeze: auto-sync comes back last, when the objects already match what it will
enforce). Writes whose outcome is unknown (a crash between journal and answer) are restored
too: the restore planners compare with the live object and skip what never happened. A
target the cluster shows already restored (a release killed halfway, or put back by hand) is
not restored again, and one changed since by someone else after an earlier release attempt
restored it (without this breaker's annotation) is left as it is: :func:`~backends.ops.breaker.state.judge`, the same
judgement ``breaker status`` prints. Auto-sync is not restored where it would sync the app to a
revision recorded as bad (the guard of :func:`~backends.ops.argocd.plan_restore`: Git's head is
still the commit a rollback or the breaker moved away from): the app stays paused, its
breaker annotation is removed, and the plan and the result say so; ``restore_bad`` restores
it anyway. The
restore writes use their own operation id (``<breaker>~release-xxxxxx``) so a failed release
never mixes with the breaker's own steps; only when every restore verified are both marked
released in the journal.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from backends.ops.argocd import plan_restore
from backends.ops.breaker.cluster import ClusterMarks, Engaged, engaged, scan
from backends.ops.breaker.marks import annotated, mark_write
from backends.ops.breaker.run import BreakerResult, OnProgress, TargetOutcome, run_phases
from backends.ops.breaker.state import EngagedTarget, judge, read_object
from backends.ops.breaker_mark import read_mark
from backends.ops.breaker_model import BREAKER_ANNOTATION, PHASES
from backends.ops.gate import Confirmation, WriteGate
from backends.ops.journal import Journal, JournalError, OpenOperation
from backends.ops.plan import Plan, PlanError, PlannedWrite, Poll, Reader
from backends.ops.rollout_pause import plan_paused_restore
from backends.ops.traffic import plan_backends_restore
from backends.ops.workloads import plan_scale_restore

__all__ = ["ReleasePlan", "Restore", "plan_release", "release"]


@dataclass(frozen=True)
class _Guard:
    """What the auto-sync guard of :func:`~backends.ops.argocd.plan_restore` reads (the
    journal: our rollbacks and pauses) and whether the operator chose to restore auto-sync
    even onto a revision recorded as bad."""

    journal: Journal | None = None
    context: str = ""
    restore_bad: bool = False


async def _restore_plan(conn: Reader, gate: WriteGate, t: EngagedTarget,
                        poll: Poll | None, guard: _Guard) -> Plan:
    prior = t.prior if isinstance(t.prior, dict) else {}
    if t.phase == "freeze":
        automated = prior.get("automated")
        return await plan_restore(conn, gate, (t.namespace, t.name),
                                  automated if isinstance(automated, dict) else None,
                                  journal=guard.journal, context=guard.context,
                                  restore_bad=guard.restore_bad)
    if t.phase == "shift":
        return await plan_backends_restore(conn, gate, t.namespace, t.name, prior, poll=poll)
    if t.phase == "pause":
        if "paused" not in prior:
            raise PlanError(f"no recorded spec.paused for {t.namespace}/{t.name} in the journal")
        return await plan_paused_restore(conn, gate, t.namespace, t.name, prior["paused"])
    if "replicas" not in prior:
        raise PlanError(f"no recorded replicas for {t.namespace}/{t.name} in the journal "
                        "or on the object (a mark from before priors were recorded: release "
                        "with the journal of the operator who engaged it)")
    return await plan_scale_restore(conn, gate, t.namespace, t.name, int(prior["replicas"]))


@dataclass
class Restore:
    """How one target is put back: the writes (restore, and the annotation removed in the
    same patch or by its own), or why it cannot be (``blocked``, ``error``), or ``gone``."""

    target: EngagedTarget
    writes: list[PlannedWrite] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    """Left undone on purpose: auto-sync kept paused because it would sync the app to a
    revision recorded as bad (only the breaker annotation is removed)."""
    error: str = ""
    gone: bool = False
    settled: str = ""
    """Why nothing is sent although the target is engaged in the journal: the cluster shows
    it restored already, or changed since by someone else after its restore."""


async def _plan_restore(conn: Reader, gate: WriteGate, op_id: str, t: EngagedTarget,
                        poll: Poll | None, touched: frozenset[tuple[str, str, str]],
                        guard: _Guard) -> Restore:
    """The writes that put one target back, with the annotation removed (or set back to
    what it was) in the same patch where possible."""
    out = Restore(t)
    try:
        live = await read_object(conn, t)
        if live is None:
            out.gone = True
            return out
        seen = judge(t, live, op_id)
        if seen.state == "changed" and not seen.marked \
                and (t.kind, t.namespace, t.name) in touched:
            # An earlier release attempt restored it (and removed the annotation), then
            # someone changed it: restoring again would undo their change.
            out.settled = ("changed since by someone else after an earlier release restored "
                           f"it, left as it is ({seen.detail})")
            out.info = [f"{t.label}: {out.settled}: nothing to send"]
            return out
        plan = await _restore_plan(conn, gate, t, poll, guard)
    except PlanError as exc:
        out.error = str(exc)
        return out
    annotations = (live.get("metadata") or {}).get("annotations")
    annotations = annotations if isinstance(annotations, dict) else None
    mark = read_mark((annotations or {}).get(BREAKER_ANNOTATION), t.kind)
    writes = list(plan.writes)
    if mark is not None and mark.operation == op_id:
        merged = annotated(writes[-1].request, annotations, t.mark_prior) \
            if writes and t.phase != "scale" else None
        if merged is not None:
            writes[-1] = replace(writes[-1], request=merged)
        else:  # last: the object keeps its prior state until the restore verified
            writes.append(mark_write(conn, t.phase, t.namespace, t.name, t.mark_prior,
                                         (annotations or {}).get(BREAKER_ANNOTATION), {},
                                         f"Remove the breaker annotation of "
                                         f"{t.namespace}/{t.name}"))
    out.writes = writes
    if not writes and seen.state == "restored":
        out.settled = f"already restored ({seen.detail})"
    out.blocked = [f"{t.label}: forbidden: {b.partition(': ')[2] or b}" for b in plan.blocked]
    out.warnings = [f"{t.label}: {w}" for w in plan.warnings]
    out.info = [f"{t.label}: {i}" for i in plan.info]
    out.held = list(plan.held)
    if out.held and not out.settled:
        out.settled = "auto-sync kept paused: its Git revision is recorded as bad"
    return out


@dataclass
class ReleasePlan:
    """What releasing would write, per engaged breaker (newest first), for the confirm
    screen. :func:`release` plans again right before each breaker's writes (a stacked
    older breaker must be planned against the state the newer one's release leaves).
    ``notes``: what the cluster's marks could not tell (malformed marks: never restored
    from; kinds that could not be listed)."""

    context: str
    operations: list[tuple[Engaged, list[Restore]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    restore_bad: bool = False
    """Auto-sync is restored even where it would sync a revision recorded as bad."""

    @property
    def refusals(self) -> list[str]:
        return [line for _, rs in self.operations for r in rs
                for line in [*r.blocked, *([f"{r.target.label}: {r.error}"] if r.error
                                           else [])]]

    @property
    def warnings(self) -> list[str]:
        return [*self.notes, *(w for _, rs in self.operations for r in rs for w in r.warnings)]

    @property
    def held(self) -> list[str]:
        """Apps whose auto-sync release keeps paused, and why (red on the plan)."""
        return [h for _, rs in self.operations for r in rs for h in r.held]

    def as_plan(self) -> Plan:
        """The writes as one :class:`~backends.ops.plan.Plan` in release order, for a
        generic plan screen. Preview only: run it with :func:`release`, which restores
        phase by phase and marks the journal."""
        out = Plan(title=f"Release the circuit breaker on {self.context}",
                   warnings=self.warnings, blocked=self.refusals, held=self.held)
        for op, restores in self.operations:
            out.info.append(f"{op.operation_id}: {len(restores)} target(s)"
                            + ("" if op.journal is not None else
                               ", known from the marks on the objects (not in this journal)"))
            for phase in reversed(PHASES):
                for r in restores:
                    if r.target.phase == phase:
                        out.writes.extend(r.writes)
                        out.info.extend(r.info)
                        if r.gone:
                            out.info.append(f"{r.target.label}: gone, nothing to restore")
        if not self.operations:
            out.info.append(f"no breaker is engaged on {self.context}")
        return out


async def _engaged(journal: Journal, conn: Reader, context: str, operation_id: str | None
                   ) -> tuple[list[Engaged], list[OpenOperation], ClusterMarks]:
    """(the breakers to release, newest first, from the journal and the cluster's marks;
    every open operation of the journal's context; the marks)."""
    ops, marks = await asyncio.gather(journal.open_operations(context), scan(conn))
    return engaged(ops, marks, operation_id), ops, marks


def _touched(op_id: str, ops: Sequence[OpenOperation]) -> frozenset[tuple[str, str, str]]:
    """(kind, namespace, name) an earlier, unfinished release of ``op_id`` may have
    written."""
    return frozenset((e.kind, e.namespace, e.name) for o in ops
                     if o.operation_id.startswith(op_id + "~")
                     for e in o.steps if e.may_have_applied)


async def _plan_operation(conn: Reader, gate: WriteGate, op: Engaged,
                          poll: Poll | None, ops: Sequence[OpenOperation],
                          guard: _Guard) -> list[Restore]:
    touched = _touched(op.operation_id, ops)
    return list(await asyncio.gather(*(_plan_restore(conn, gate, op.operation_id, t, poll,
                                                     touched, guard)
                                       for t in op.targets)))


async def plan_release(conn: Reader, gate: WriteGate, journal: Journal, context: str,
                       operation_id: str | None = None, *, poll: Poll | None = None,
                       restore_bad: bool = False) -> ReleasePlan:
    """Preview :func:`release`: every restore write, what blocks it, whose auto-sync stays
    paused (``held``; ``restore_bad`` restores it anyway). Never writes."""
    breakers, ops, marks = await _engaged(journal, conn, context, operation_id)
    plan = ReleasePlan(context, notes=list(marks.notes()), restore_bad=restore_bad)
    guard = _Guard(journal, context, restore_bad)
    for op in breakers:
        plan.operations.append((op, await _plan_operation(conn, gate, op, poll, ops, guard)))
    return plan


async def _release_one(gate: WriteGate, journal: Journal, context: str, op: Engaged,
                       restores: list[Restore], stale: Sequence[str], *, reason: str,
                       confirm: Confirmation, on_progress: OnProgress | None) -> BreakerResult:
    op_id = op.operation_id
    preview = ReleasePlan(context, [(op, restores)])
    warnings = tuple(preview.warnings)
    if preview.refusals:
        return BreakerResult("release", op_id, started=False, ok=False,
                             error="; ".join(preview.refusals), warnings=warnings)
    quiet = [TargetOutcome(r.target.key, r.target.label, r.target.phase,
                           "gone" if r.gone else "nothing-to-do",
                           "the object no longer exists" if r.gone
                           else r.settled or "already in its recorded state")
             for r in restores if r.gone or not r.writes]
    phases = [(phase, [(r.target.key, r.target.label, r.writes) for r in restores
                       if r.target.phase == phase and r.writes])
              for phase in reversed(PHASES)]
    release_id = f"{op_id}~release-{uuid.uuid4().hex[:6]}"
    outcomes, error = await run_phases(gate, phases, reason=reason, confirm=confirm,
                                        operation_id=release_id, cancel=None,
                                        on_progress=on_progress)
    released = False
    if not error:
        try:
            for done_id in (op_id, release_id, *stale):
                await journal.release(done_id, context=context,
                                      operator=gate.policy.operator, reason=reason)
            released = True
        except JournalError as exc:
            error = f"restored, but the journal could not mark it released: {exc}"
    return BreakerResult("release", op_id, started=True, ok=not error, error=error,
                         outcomes=(*outcomes, *quiet), warnings=warnings, released=released,
                         held=tuple(preview.held))


async def release(gate: WriteGate, journal: Journal, conn: Reader, context: str,
                  operation_id: str | None = None, *, reason: str, confirm: Confirmation,
                  on_progress: OnProgress | None = None, poll: Poll | None = None,
                  restore_bad: bool = False) -> BreakerResult:
    """Restore everything a breaker changed, in reverse, from the journal and the marks on
    the objects (module doc), including a half-done breaker left by a crash and one
    engaged by another operator. ``operation_id`` None: every engaged breaker on
    ``context``, newest first (each one's prior state is the previous one's emergency
    state, so that order ends at the state before the first). Nothing of a breaker is sent
    when any of its restores is forbidden or cannot be planned: the result names each. An
    app whose auto-sync would sync a revision recorded as bad keeps it paused (only the
    breaker annotation goes; ``result.held`` says why) unless ``restore_bad``."""
    if gate.policy.context != context:
        return BreakerResult("release", operation_id or "", started=False, ok=False,
                             error=f"the gate writes to {gate.policy.context!r}, not "
                                   f"{context!r}")
    breakers, ops, marks = await _engaged(journal, conn, context, operation_id)
    notes = marks.notes()
    if not breakers:
        what = f"breaker {operation_id} is" if operation_id else "no breaker is"
        return BreakerResult("release", operation_id or "", started=False, ok=True,
                             error=f"{what} not engaged on {context}", warnings=notes)
    newer = [e.operation_id for e in engaged(ops, marks)
             if e.started > breakers[0].started]
    results = []
    for op in breakers:
        stale = [o.operation_id for o in ops if o.operation_id.startswith(op.operation_id + "~")]
        restores = await _plan_operation(conn, gate, op, poll, ops,
                                         _Guard(journal, context, restore_bad))
        result = await _release_one(gate, journal, context, op, restores, stale,
                                    reason=reason, confirm=confirm, on_progress=on_progress)
        results.append(result)
        if not result.ok:
            break
    if newer:
        note = (f"breaker(s) {', '.join(newer)} engaged after {breakers[0].operation_id} are "
                "still engaged: their release puts back the emergency state this one undid")
        results[0] = replace(results[0], warnings=(*results[0].warnings, note))
    if notes:
        results[0] = replace(results[0], warnings=(*notes, *results[0].warnings))
    if len(results) == 1:
        return results[0]
    return BreakerResult(
        "release", ",".join(r.operation_id for r in results),
        started=any(r.started for r in results), ok=all(r.ok for r in results),
        error="; ".join(f"{r.operation_id}: {r.error}" for r in results if r.error),
        outcomes=tuple(o for r in results for o in r.outcomes),
        warnings=tuple(w for r in results for w in r.warnings),
        released=all(r.released for r in results),
        held=tuple(h for r in results for h in r.held))
