"""The circuit breaker: freeze reconcilers, shift traffic, scale down; release exactly.

update-strategy.md's emergency procedure is three kubectl commands; done by hand under
pressure they go wrong in known ways: scaling before pausing (selfHeal scales back up within
seconds), restoring a hard-coded sync policy instead of the one that was there, forgetting
half of what was changed when the terminal died. This module runs the same procedure as one
journaled operation and undoes it from the journal alone.

Engage (:func:`engage`), and why it is shaped so:

- phases strictly in order: freeze (pause auto-sync), shift (emergency weights), scale (to
  0). Freeze comes first because every later change to a Git-tracked field is reverted by
  selfHeal while auto-sync is on (operations.md section 1);
- within a phase the targets are independent, so their writes go out concurrently (20
  pauses cost one round trip, not twenty); each target's own writes stay in order;
- every write goes through the gate via :func:`~backends.ops.plan.execute` (journal before
  send, verified read-back), all under ONE operation id (``breaker-xxxxxxxx``), which is what
  status and release group by;
- a failed step stops the breaker: the phase's other in-flight writes finish (cancelling a
  sent write would only make its outcome unknown), no later phase starts, and the result
  lists per target what was done, what failed and what was never attempted;
- each changed object carries :data:`~backends.ops.breaker_plan.BREAKER_ANNOTATION`
  (``{"operation", "by", "since"}``), in the same patch where the patch allows it (the
  Application's merge patch, the route's JSON patch when the object already has
  annotations) and otherwise as a separate journaled write (the ``scale`` subresource has
  no metadata). Every write's journal ``intent`` also carries ``{"breaker": {"phase",
  "planned", "annotation"}}``: ``planned`` (how many writes the breaker meant to send) is
  how a later process tells a complete breaker from a half-done one without any other file.

Release (:func:`release`) reads the journal, not the cluster's current opinion: for every
target it takes the prior state recorded by the breaker's FIRST write to it (prior
``automated`` block, replicas, ``backendRefs``), plans the action modules' own restores
(:func:`~backends.ops.argocd.plan_restore`, :func:`~backends.ops.workloads.plan_scale_restore`,
:func:`~backends.ops.traffic.plan_backends_restore`), and runs the phases in reverse (scale,
shift, freeze: auto-sync comes back last, when the objects already match what it will
enforce). Writes whose outcome is unknown (a crash between journal and answer) are restored
too: the restore planners compare with the live object and skip what never happened. The
restore writes use their own operation id (``<breaker>~release-xxxxxx``) so a failed release
never mixes with the breaker's own steps; only when every restore verified are both marked
released in the journal.

Drift (:func:`detect_drift`, :func:`watch_drift`): while engaged, something may undo the
emergency state (an ApplicationSet rewriting syncPolicy, a parent app-of-apps, a colleague,
an HPA). Detection is a pure function of the store and the journal's state, so the header
can run it on every refresh tick at no I/O cost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias

from backends.kube.errors import KubeApiError, KubeError
from backends.model import AppRow, DeploymentRow, RouteRow
from backends.ops.argocd import app_path, plan_restore
from backends.ops.breaker_plan import (
    BREAKER_ANNOTATION,
    MARK_STEP,
    OPERATION_PREFIX,
    PHASE_KIND,
    PHASE_STEPS,
    PHASES,
    BreakerConfig,
    BreakerPlan,
    BreakerTarget,
    Phase,
    RouteShift,
    fill_store,
    is_breaker_operation,
    mark_value,
    parse_mark,
    plan_engage,
    propose,
)
from backends.ops.gate import CancelToken, Confirmation, TargetRef, WriteGate, WriteRequest
from backends.ops.journal import Journal, JournalDB, JournalEntry, JournalError, OpenOperation
from backends.ops.plan import (
    JSON_PATCH,
    MERGE_PATCH,
    Plan,
    PlanError,
    PlannedWrite,
    Poll,
    Reader,
    StepResult,
    execute,
    get_json,
)
from backends.ops.traffic import plan_backends_restore, route_path
from backends.ops.workloads import deploy_path, plan_scale_restore
from backends.sanitize import clean
from backends.store import Store

__all__ = [
    "BREAKER_ANNOTATION",
    "PHASES",
    "BreakerConfig",
    "BreakerEvent",
    "BreakerPlan",
    "BreakerResult",
    "BreakerState",
    "BreakerTarget",
    "Drift",
    "EngagedTarget",
    "Phase",
    "ReleasePlan",
    "Restore",
    "RouteShift",
    "TargetOutcome",
    "breaker_status",
    "breaker_status_db",
    "detect_drift",
    "engage",
    "fill_store",
    "plan_engage",
    "plan_release",
    "propose",
    "release",
    "state_of",
    "watch_drift",
]

log = logging.getLogger(__name__)

_APPLIED: Final = frozenset({"done", "verified"})
_GROUPS: Final[dict[Phase, tuple[str, str]]] = {
    "freeze": ("argoproj.io", "applications"), "shift": ("gateway.networking.k8s.io", "httproutes"),
    "scale": ("apps", "deployments")}
_PATHS: Final[dict[Phase, Callable[[str, str], str]]] = {
    "freeze": app_path, "shift": route_path, "scale": deploy_path}
_KIND_PHASE: Final[dict[str, Phase]] = {k: p for p, k in PHASE_KIND.items()}

EventState: TypeAlias = Literal["started", "progress", "done", "failed"]
OutcomeState: TypeAlias = Literal["done", "failed", "nothing-to-do", "not-started", "excluded",
                                  "gone"]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class BreakerEvent:
    """Live progress for the UI: a phase (``target == ""``) or one target's step."""

    phase: Phase
    target: str
    label: str
    state: EventState
    text: str


OnProgress: TypeAlias = Callable[[BreakerEvent], None]


@dataclass(frozen=True)
class TargetOutcome:
    """What happened to one target: every write sent for it and one line for the operator."""

    key: str
    label: str
    phase: Phase
    state: OutcomeState
    detail: str
    steps: tuple[StepResult, ...] = ()


@dataclass(frozen=True)
class BreakerResult:
    """The outcome of :func:`engage` or :func:`release`. ``started`` False: nothing was
    sent (``error`` says why). ``released``: the journal marks the operation released."""

    action: Literal["engage", "release"]
    operation_id: str
    started: bool
    ok: bool
    error: str = ""
    outcomes: tuple[TargetOutcome, ...] = ()
    warnings: tuple[str, ...] = ()
    released: bool = False

    def by_state(self, state: OutcomeState) -> list[TargetOutcome]:
        return [o for o in self.outcomes if o.state == state]

    def summary(self) -> str:
        """What was done, where it stopped, what was never attempted."""
        if not self.started:
            return f"{self.action}: not started: {self.error}" if self.error else \
                f"{self.action}: nothing to do"
        parts = [f"{self.action} {self.operation_id}: " + ("done" if self.ok else "STOPPED")]
        for state in ("done", "failed", "not-started", "nothing-to-do", "gone"):
            labels = [o.label for o in self.outcomes if o.state == state]
            if labels:
                parts.append(f"{state}: {', '.join(labels)}")
        if self.error:
            parts.append(f"error: {self.error}")
        return "; ".join(parts)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _emit(on_progress: OnProgress | None, event: BreakerEvent) -> None:
    if on_progress is None:
        return
    try:
        on_progress(event)
    except Exception:  # noqa: BLE001 - a UI callback must not break a half-done breaker
        log.exception("breaker progress callback failed")


# --------------------------------------------------------------------------- annotation writes


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _annotated(req: WriteRequest, annotations: Mapping[str, str] | None,
               value: str | None) -> WriteRequest | None:
    """``req`` with the breaker annotation set to ``value`` (None: removed) in the same
    patch, or None when that cannot be done safely: a JSON patch on an object without an
    annotation map would have to add the whole map, wiping any added meanwhile."""
    if req.body is None:
        return None
    body = json.loads(req.body)
    if req.content_type == MERGE_PATCH and isinstance(body, dict):
        meta = body.setdefault("metadata", {})
        meta.setdefault("annotations", {})[BREAKER_ANNOTATION] = value
    elif req.content_type == JSON_PATCH and isinstance(body, list) and annotations is not None:
        path = "/metadata/annotations/" + _escape(BREAKER_ANNOTATION)
        if value is not None:
            body.append({"op": "add", "path": path, "value": value})
        elif BREAKER_ANNOTATION in annotations:
            body.append({"op": "remove", "path": path})
    else:
        return None
    return replace(req, body=json.dumps(body).encode())


def _mark_write(reader: Reader, phase: Phase, ns: str, name: str, value: str | None,
                prior: str | None, intent: Mapping[str, Any], title: str) -> PlannedWrite:
    """A separate merge patch setting (or removing) the breaker annotation, verified."""
    group, resource = _GROUPS[phase]
    path = _PATHS[phase](ns, name)
    body = {"metadata": {"annotations": {BREAKER_ANNOTATION: value}}}
    req = WriteRequest(method="PATCH", path=path, body=json.dumps(body).encode(),
                       content_type=MERGE_PATCH, verb="patch",
                       target=TargetRef(PHASE_KIND[phase], ns, name, group, resource))

    async def verify() -> tuple[bool, str]:
        live = await get_json(reader, path, f"{PHASE_KIND[phase]} {ns}/{name}")
        got = ((live.get("metadata") or {}).get("annotations") or {}).get(BREAKER_ANNOTATION)
        return got == value, f"{BREAKER_ANNOTATION}={got}"

    return PlannedWrite(title=title, request=req, prior={"annotation": prior},
                        intent={"annotation": value, **intent}, verify=verify, step=MARK_STEP)


def _engage_writes(plan: BreakerPlan, t: BreakerTarget, mark: str,
                   planned: int) -> list[PlannedWrite]:
    """The target's planned writes, tagged for the journal and carrying the annotation."""
    assert t.plan is not None
    tag = {"breaker": {"phase": t.phase, "planned": planned, "annotation": mark}}

    def tagged(pw: PlannedWrite) -> PlannedWrite:
        req = None if t.separate_mark else _annotated(pw.request, t.annotations, mark)
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
        writes.append(_mark_write(plan.reader, t.phase, t.namespace, t.name, mark,
                                  t.prior_mark, tag, f"Annotate {t.namespace}/{t.name}"))
    return writes


# --------------------------------------------------------------------------- running phases


async def _run_target(gate: WriteGate, key: str, label: str, phase: Phase,
                      writes: list[PlannedWrite], *, reason: str, confirm: Confirmation,
                      operation_id: str, cancel: CancelToken | None,
                      on_progress: OnProgress | None) -> TargetOutcome:
    def progress(index: int, text: str) -> None:
        _emit(on_progress, BreakerEvent(phase, key, label, "progress", text))

    done = await execute(gate, Plan(title=label, writes=writes), reason=reason,
                         confirm=confirm, operation_id=operation_id, cancel=cancel,
                         on_progress=progress)
    detail = done.summary() if done.ok else done.error
    _emit(on_progress, BreakerEvent(phase, key, label, "done" if done.ok else "failed", detail))
    return TargetOutcome(key, label, phase, "done" if done.ok else "failed", detail,
                         tuple(done.results))


Job: TypeAlias = tuple[str, str, list[PlannedWrite]]
"""(target key, label, writes) of one target within a phase."""


async def _run_phases(gate: WriteGate, phases: Sequence[tuple[Phase, list[Job]]], *,
                      reason: str, confirm: Confirmation, operation_id: str,
                      cancel: CancelToken | None,
                      on_progress: OnProgress | None) -> tuple[list[TargetOutcome], str]:
    """Phases in order, targets of a phase concurrently; stop after a phase with a failure.
    Returns the outcomes and the error ("" when all went through)."""
    outcomes: list[TargetOutcome] = []
    error = ""
    first = True
    for phase, jobs in phases:
        if not jobs:
            continue
        if error:
            outcomes += [TargetOutcome(k, label, phase, "not-started",
                                       "not attempted: an earlier phase failed")
                         for k, label, _ in jobs]
            continue
        _emit(on_progress, BreakerEvent(phase, "", phase, "started", f"{len(jobs)} target(s)"))
        results = await asyncio.gather(*(
            _run_target(gate, k, label, phase, writes, reason=reason, confirm=confirm,
                        operation_id=operation_id, cancel=cancel if first else None,
                        on_progress=on_progress) for k, label, writes in jobs))
        first = False
        outcomes += results
        failed = [r for r in results if r.state == "failed"]
        if failed:
            error = "; ".join(f"{r.label}: {r.detail}" for r in failed)
            _emit(on_progress, BreakerEvent(phase, "", phase, "failed", error))
        else:
            _emit(on_progress, BreakerEvent(phase, "", phase, "done", f"{len(jobs)} target(s)"))
    return outcomes, error


def new_breaker_id() -> str:
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
    outcomes, error = await _run_phases(gate, phases, reason=reason, confirm=confirm,
                                        operation_id=op, cancel=cancel,
                                        on_progress=on_progress)
    return BreakerResult("engage", op, started=True, ok=not error, error=error,
                         outcomes=(*outcomes, *quiet, *excluded),
                         warnings=tuple(plan.warnings))


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class EngagedTarget:
    """One object a breaker (may have) changed, from the journal. ``prior`` is what the
    breaker's first write recorded (what release puts back); ``intent`` the emergency state
    (what drift is measured against); ``status`` the newest write's journal status."""

    phase: Phase
    kind: str
    namespace: str
    name: str
    status: str
    prior: Any
    intent: Any
    unsettled: bool = False
    marked: bool = False
    """A separate annotation write may have applied (release removes it)."""
    mark_prior: str | None = None

    @property
    def key(self) -> str:
        return f"{self.phase}:{self.namespace}/{self.name}"

    @property
    def label(self) -> str:
        return f"{self.phase} {self.namespace}/{self.name}"

    @property
    def applied(self) -> bool:
        return self.status in _APPLIED


@dataclass(frozen=True)
class BreakerState:
    """The breaker for the header and ``controlroom breaker status``. ``half_done``: a
    write's outcome is unknown, or fewer writes went through than were planned (a crash or a
    stop mid-breaker): the platform is in neither the normal nor the emergency state."""

    engaged: bool
    operation_id: str = ""
    by: str = ""
    since: datetime | None = None
    targets: tuple[EngagedTarget, ...] = ()
    half_done: bool = False
    planned: int = 0
    completed: int = 0
    others: tuple[str, ...] = ()
    """Other engaged breakers on the context (older), released together by default."""

    def headline(self) -> str:
        if not self.engaged:
            return "breaker: off"
        when = f" since {self.since:%Y-%m-%d %H:%M:%SZ}" if self.since else ""
        head = "BREAKER HALF-DONE" if self.half_done else "BREAKER ENGAGED"
        more = f", +{len(self.others)} older" if self.others else ""
        return (f"{head} ({self.operation_id}) by {clean(self.by, 60)}{when}: "
                f"{len(self.targets)} target(s), {self.completed}/{self.planned} write(s)"
                f"{more}")


def _targets(entries: Iterable[JournalEntry]) -> list[EngagedTarget]:
    """Entries grouped per object, in first-write order: the first write's prior (the
    state before the breaker), the newest write's status and intent."""
    grouped: dict[tuple[Phase, str, str], list[JournalEntry]] = {}
    marks: dict[tuple[Phase, str, str], list[JournalEntry]] = {}
    for e in entries:
        if not e.may_have_applied:
            continue
        phase = PHASE_STEPS.get(e.step)
        if phase is not None:
            grouped.setdefault((phase, e.namespace, e.name), []).append(e)
        elif e.step == MARK_STEP and e.kind in _KIND_PHASE:
            marks.setdefault((_KIND_PHASE[e.kind], e.namespace, e.name), []).append(e)
    out = []
    for (where, ns, name), steps in grouped.items():
        first, last = steps[0], steps[-1]
        mark = marks.get((where, ns, name))
        mark_prior = (mark[0].prior or {}).get("annotation") if mark else (
            (first.prior or {}).get("breaker_annotation") if isinstance(first.prior, dict)
            else None)
        out.append(EngagedTarget(where, first.kind, ns, name, last.status, first.prior,
                                 last.intent, any(s.outcome_unknown for s in steps),
                                 bool(mark), mark_prior))
    order = {p: i for i, p in enumerate(PHASES)}
    return sorted(out, key=lambda t: order[t.phase])


def _meta(entries: Sequence[JournalEntry]) -> tuple[int, Mapping[str, Any] | None]:
    planned, mark = 0, None
    for e in entries:
        info = (e.intent or {}).get("breaker") if isinstance(e.intent, dict) else None
        if isinstance(info, dict):
            planned = max(planned, int(info.get("planned") or 0))
            mark = mark or parse_mark(info.get("annotation"))
    return planned, mark


def state_of(operations: Sequence[OpenOperation]) -> BreakerState:
    """The breaker state from the context's open operations (pure: tests, CLI, header)."""
    breakers = sorted((o for o in operations if is_breaker_operation(o.operation_id)),
                      key=lambda o: o.started, reverse=True)
    if not breakers:
        return BreakerState(engaged=False)
    op = breakers[0]
    planned, mark = _meta(op.steps)
    done = {(e.step, e.kind, e.namespace, e.name) for e in op.steps if e.status in _APPLIED}
    since = op.started
    if mark and isinstance(mark.get("since"), str):
        try:
            since = datetime.fromisoformat(str(mark["since"]).replace("Z", "+00:00"))
        except ValueError:
            pass
    return BreakerState(
        engaged=True, operation_id=op.operation_id,
        by=str((mark or {}).get("by") or op.steps[0].operator), since=since,
        targets=tuple(_targets(op.steps)),
        half_done=bool(op.unsettled) or len(done) < planned,
        planned=planned, completed=len(done),
        others=tuple(o.operation_id for o in breakers[1:]))


async def breaker_status(journal: Journal, context: str) -> BreakerState:
    """The breaker on ``context`` from the journal (works after a crash of any process)."""
    return state_of(await journal.open_operations(context))


def breaker_status_db(db: JournalDB, context: str) -> BreakerState:
    """:func:`breaker_status` without an event loop (``controlroom breaker status``)."""
    return state_of(db.open_operations(context))


# --------------------------------------------------------------------------- release


async def _read_live(conn: Reader, t: EngagedTarget) -> dict[str, Any] | None:
    """The live object, None when it is gone (404): nothing left to restore."""
    try:
        raw = await conn.get_raw(_PATHS[t.phase](t.namespace, t.name))
    except KubeApiError as exc:
        if exc.status == 404:
            return None
        raise PlanError(f"could not read {t.kind} {t.namespace}/{t.name}: {exc.status} "
                        f"{exc.reason}: {exc.message}") from exc
    except KubeError as exc:
        raise PlanError(f"could not read {t.kind} {t.namespace}/{t.name}: "
                        f"{clean(exc, 300)}") from exc
    obj: dict[str, Any] = json.loads(raw)
    return obj


async def _restore_plan(conn: Reader, gate: WriteGate, t: EngagedTarget,
                        poll: Poll | None) -> Plan:
    prior = t.prior if isinstance(t.prior, dict) else {}
    if t.phase == "freeze":
        automated = prior.get("automated")
        return await plan_restore(conn, gate, (t.namespace, t.name),
                                  automated if isinstance(automated, dict) else None)
    if t.phase == "shift":
        return await plan_backends_restore(conn, gate, t.namespace, t.name, prior, poll=poll)
    if "replicas" not in prior:
        raise PlanError(f"no recorded replicas for {t.namespace}/{t.name} in the journal")
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
    error: str = ""
    gone: bool = False


async def _plan_restore(conn: Reader, gate: WriteGate, op_id: str, t: EngagedTarget,
                        poll: Poll | None) -> Restore:
    """The writes that put one target back, with the annotation removed (or set back to
    what it was) in the same patch where possible."""
    out = Restore(t)
    try:
        live = await _read_live(conn, t)
        if live is None:
            out.gone = True
            return out
        plan = await _restore_plan(conn, gate, t, poll)
    except PlanError as exc:
        out.error = str(exc)
        return out
    annotations = (live.get("metadata") or {}).get("annotations")
    annotations = annotations if isinstance(annotations, dict) else None
    ours = (parse_mark((annotations or {}).get(BREAKER_ANNOTATION)) or {}).get("operation")
    writes = list(plan.writes)
    if ours == op_id:
        merged = _annotated(writes[-1].request, annotations, t.mark_prior) \
            if writes and t.phase != "scale" else None
        if merged is not None:
            writes[-1] = replace(writes[-1], request=merged)
        else:  # first: the reverse of engage, where the annotation came last
            writes.insert(0, _mark_write(conn, t.phase, t.namespace, t.name, t.mark_prior,
                                         (annotations or {}).get(BREAKER_ANNOTATION), {},
                                         f"Remove the breaker annotation of "
                                         f"{t.namespace}/{t.name}"))
    out.writes = writes
    out.blocked = [f"{t.label}: forbidden: {b.partition(': ')[2] or b}" for b in plan.blocked]
    out.warnings = [f"{t.label}: {w}" for w in plan.warnings]
    out.info = [f"{t.label}: {i}" for i in plan.info]
    return out


@dataclass
class ReleasePlan:
    """What releasing would write, per engaged breaker (newest first), for the confirm
    screen. :func:`release` plans again right before each breaker's writes (a stacked
    older breaker must be planned against the state the newer one's release leaves)."""

    context: str
    operations: list[tuple[OpenOperation, list[Restore]]] = field(default_factory=list)

    @property
    def refusals(self) -> list[str]:
        return [line for _, rs in self.operations for r in rs
                for line in [*r.blocked, *([f"{r.target.label}: {r.error}"] if r.error
                                           else [])]]

    @property
    def warnings(self) -> list[str]:
        return [w for _, rs in self.operations for r in rs for w in r.warnings]

    def as_plan(self) -> Plan:
        """The writes as one :class:`~backends.ops.plan.Plan` in release order, for a
        generic plan screen. Preview only: run it with :func:`release`, which restores
        phase by phase and marks the journal."""
        out = Plan(title=f"Release the circuit breaker on {self.context}",
                   warnings=self.warnings, blocked=self.refusals)
        for op, restores in self.operations:
            out.info.append(f"{op.operation_id}: {len(restores)} target(s)")
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


async def _engaged(journal: Journal, context: str,
                   operation_id: str | None) -> tuple[list[OpenOperation], list[OpenOperation]]:
    """(the breakers to release, newest first; every open operation of the context)."""
    ops = await journal.open_operations(context)
    breakers = sorted((o for o in ops if is_breaker_operation(o.operation_id)),
                      key=lambda o: o.started, reverse=True)
    if operation_id is not None:
        breakers = [o for o in breakers if o.operation_id == operation_id]
    return breakers, ops


async def _plan_operation(conn: Reader, gate: WriteGate, op: OpenOperation,
                          poll: Poll | None) -> list[Restore]:
    return list(await asyncio.gather(*(_plan_restore(conn, gate, op.operation_id, t, poll)
                                       for t in _targets(op.steps))))


async def plan_release(conn: Reader, gate: WriteGate, journal: Journal, context: str,
                       operation_id: str | None = None, *,
                       poll: Poll | None = None) -> ReleasePlan:
    """Preview :func:`release`: every restore write, what blocks it. Never writes."""
    breakers, _ = await _engaged(journal, context, operation_id)
    plan = ReleasePlan(context)
    for op in breakers:
        plan.operations.append((op, await _plan_operation(conn, gate, op, poll)))
    return plan


async def _release_one(gate: WriteGate, journal: Journal, op: OpenOperation,
                       restores: list[Restore], stale: Sequence[str], *, reason: str,
                       confirm: Confirmation, on_progress: OnProgress | None) -> BreakerResult:
    op_id = op.operation_id
    preview = ReleasePlan(op.context, [(op, restores)])
    warnings = tuple(preview.warnings)
    if preview.refusals:
        return BreakerResult("release", op_id, started=False, ok=False,
                             error="; ".join(preview.refusals), warnings=warnings)
    quiet = [TargetOutcome(r.target.key, r.target.label, r.target.phase,
                           "gone" if r.gone else "nothing-to-do",
                           "the object no longer exists" if r.gone
                           else "already in its recorded state")
             for r in restores if r.gone or not r.writes]
    phases = [(phase, [(r.target.key, r.target.label, r.writes) for r in restores
                       if r.target.phase == phase and r.writes])
              for phase in reversed(PHASES)]
    release_id = f"{op_id}~release-{uuid.uuid4().hex[:6]}"
    outcomes, error = await _run_phases(gate, phases, reason=reason, confirm=confirm,
                                        operation_id=release_id, cancel=None,
                                        on_progress=on_progress)
    released = False
    if not error:
        try:
            for done_id in (op_id, release_id, *stale):
                await journal.release(done_id, context=op.context,
                                      operator=gate.policy.operator, reason=reason)
            released = True
        except JournalError as exc:
            error = f"restored, but the journal could not mark it released: {exc}"
    return BreakerResult("release", op_id, started=True, ok=not error, error=error,
                         outcomes=(*outcomes, *quiet), warnings=warnings, released=released)


async def release(gate: WriteGate, journal: Journal, conn: Reader, context: str,
                  operation_id: str | None = None, *, reason: str, confirm: Confirmation,
                  on_progress: OnProgress | None = None,
                  poll: Poll | None = None) -> BreakerResult:
    """Restore everything a breaker changed, in reverse, from the journal (module doc),
    including a half-done breaker left by a crash. ``operation_id`` None: every engaged
    breaker on ``context``, newest first (each one's prior state is the previous one's
    emergency state, so that order ends at the state before the first). Nothing of a
    breaker is sent when any of its restores is forbidden or cannot be planned: the result
    names each."""
    if gate.policy.context != context:
        return BreakerResult("release", operation_id or "", started=False, ok=False,
                             error=f"the gate writes to {gate.policy.context!r}, not "
                                   f"{context!r}")
    breakers, ops = await _engaged(journal, context, operation_id)
    if not breakers:
        what = f"breaker {operation_id} is" if operation_id else "no breaker is"
        return BreakerResult("release", operation_id or "", started=False, ok=True,
                             error=f"{what} not engaged on {context}")
    newer = [o.operation_id for o in ops if is_breaker_operation(o.operation_id)
             and o.started > breakers[0].started]
    results = []
    for op in breakers:
        stale = [o.operation_id for o in ops if o.operation_id.startswith(op.operation_id + "~")]
        restores = await _plan_operation(conn, gate, op, poll)
        result = await _release_one(gate, journal, op, restores, stale, reason=reason,
                                    confirm=confirm, on_progress=on_progress)
        results.append(result)
        if not result.ok:
            break
    if newer:
        note = (f"breaker(s) {', '.join(newer)} engaged after {breakers[0].operation_id} are "
                "still engaged: their release puts back the emergency state this one undid")
        results[0] = replace(results[0], warnings=(*results[0].warnings, note))
    if len(results) == 1:
        return results[0]
    return BreakerResult(
        "release", ",".join(r.operation_id for r in results),
        started=any(r.started for r in results), ok=all(r.ok for r in results),
        error="; ".join(f"{r.operation_id}: {r.error}" for r in results if r.error),
        outcomes=tuple(o for r in results for o in r.outcomes),
        warnings=tuple(w for r in results for w in r.warnings),
        released=all(r.released for r in results))


# --------------------------------------------------------------------------- drift


@dataclass(frozen=True)
class Drift:
    """Something reverted an emergency change while the breaker is engaged."""

    target: str
    label: str
    expected: str
    actual: str
    cause: str

    def describe(self) -> str:
        return f"{self.label}: expected {self.expected}, now {self.actual}: {self.cause}"


def _app_by_name(store: Store, name: str) -> AppRow | None:
    for row in store.rows("applications").values():
        if isinstance(row, AppRow) and row.name == name:
            return row
    return None


def _drift_of(store: Store, t: EngagedTarget) -> Drift | None:
    key = f"{t.namespace}/{t.name}"
    kind = {"freeze": "applications", "shift": "httproutes", "scale": "deployments"}[t.phase]
    row = store.get(kind, key)
    intent = t.intent if isinstance(t.intent, dict) else {}
    if row is None:
        if store.count(kind):
            return Drift(t.key, t.label, "the object", "gone", "deleted while engaged")
        return None
    if isinstance(row, AppRow):
        if row.auto_sync != "on":
            return None
        cause = (f"its ApplicationSet {row.owner_name} rewrote spec.syncPolicy"
                 if row.owner_kind == "ApplicationSet" else
                 "re-enabled by a parent app-of-apps (selfHeal) or by hand")
        return Drift(t.key, t.label, "auto-sync paused", "auto-sync on", cause)
    if isinstance(row, DeploymentRow):
        want = intent.get("replicas", 0)
        if row.desired == want:
            return None
        app = _app_by_name(store, row.argocd_app) if row.argocd_app else None
        cause = (f"Argo CD app {app.namespace}/{app.name} has auto-sync on"
                 + (" with selfHeal" if app.self_heal else "") + ": it synced replicas from Git"
                 if app is not None and app.auto_sync == "on"
                 else "scaled back by an HPA, KEDA or a person")
        return Drift(t.key, t.label, f"{want} replicas", f"{row.desired} replicas", cause)
    if isinstance(row, RouteRow):
        weights = intent.get("weights") or {}
        live = {b.name: b.weight for rule in row.rules for b in rule.backends
                if b.name in weights}
        wrong = {b: w for b, w in live.items() if w != weights.get(b)}
        if not wrong:
            return None
        return Drift(t.key, t.label,
                     ", ".join(f"{b}={w}" for b, w in sorted(weights.items())),
                     ", ".join(f"{b}={w}" for b, w in sorted(live.items())),
                     "weights changed back (Argo CD selfHeal of the route's app, or by hand)")
    return None


def detect_drift(store: Store, state: BreakerState) -> list[Drift]:
    """Emergency changes that no longer hold, judged from the store (no I/O). Targets whose
    write did not apply (failed, unknown) are not judged: there is nothing to hold."""
    if not state.engaged:
        return []
    out = []
    for t in state.targets:
        if t.applied:
            drift = _drift_of(store, t)
            if drift is not None:
                out.append(drift)
    return out


async def watch_drift(store: Store, state: BreakerState | Callable[[], BreakerState],
                      on_drift: Callable[[list[Drift]], None], *, interval: float = 2.0,
                      sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Check for drift every ``interval`` seconds and call ``on_drift`` when the set of
    drifts changes (an empty list: everything holds again). Runs until cancelled; pass a
    callable ``state`` to follow engage/release."""
    last: list[Drift] | None = None
    while True:
        current = detect_drift(store, state() if callable(state) else state)
        if current != last and (current or last):
            try:
                on_drift(current)
            except Exception:  # noqa: BLE001 - the watchdog must outlive a UI bug
                log.exception("drift callback failed")
        last = current
        await sleep(interval)
