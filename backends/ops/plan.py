"""Plans: what an action will write, shown before it is sent, then executed step by step.

Why plans are values: the plan screen must show *every* write before the operator confirms
(its target, the exact prior state that undo will put back, the server's dry-run answer, the
warnings: selfHeal will revert this, an ApplicationSet will undo the pause, RBAC forbids that
step). So each action module (:mod:`backends.ops.argocd`, :mod:`~backends.ops.workloads`,
:mod:`~backends.ops.traffic`, :mod:`~backends.ops.helm`) is a set of *planners*: async
functions that GET the live objects (the store may lag, and the prior state and
``resourceVersion`` must be exact) and return a :class:`Plan`. A planner never writes. The
circuit breaker concatenates plans; the UI renders them; :func:`execute` runs them.

What :func:`execute` guarantees, and why:

- writes go out in order, each through :meth:`WriteGate.write` (read-only mode, protected
  contexts, journal-before-send: the gate is the only door);
- each accepted write is verified by reading back (``PlannedWrite.verify``): "200 OK" is not
  "done" (Argo CD prunes unknown fields silently, a route can be accepted and never resolve);
- a write whose verification fails may carry a ``fallback`` (pause with ``enabled: false`` on
  an old CRD falls back to ``automated: null``), sent and verified in its place;
- execution STOPS at the first failure (refused, cancelled, error answer, no answer,
  verification failed): continuing a circuit breaker after its pause failed would scale down
  a deployment that selfHeal immediately scales back up. :class:`ExecResult` says what was done
  and where it stopped; the journal holds the prior state of everything that was sent;
- all writes of one run share an ``operation_id`` (generated when not given), which is what
  the journal's "release"/undo and crash recovery group by.

A plan whose ``blocked`` list is not empty is not started at all: the access review already
said some step would be refused, and a half-run plan is worse than none.

Preview: :func:`preview` sends every write with ``dryRun=All`` (refused in read-only mode by
the gate: then the results say "not performed" rather than raising, so the plan screen still
shows the plan). Writes are previewed independently against the current state; a write that
only makes sense after an earlier one of the same plan may be refused by the dry-run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

from backends.kube.errors import KubeApiError, KubeError
from backends.kube.wire import Params
from backends.ops.gate import (
    CancelToken,
    Confirmation,
    DryRunResult,
    GateError,
    RefusedError,
    Verify,
    WriteGate,
    WriteRequest,
    WriteResult,
)
from backends.ops.journal import JournalError
from backends.sanitize import clean

__all__ = [
    "ExecResult",
    "Offer",
    "Plan",
    "PlanError",
    "PlannedWrite",
    "Poll",
    "Progress",
    "Reader",
    "StepResult",
    "check_access",
    "execute",
    "finish",
    "get_json",
    "preview",
]

log = logging.getLogger(__name__)

MERGE_PATCH: Final = "application/merge-patch+json"
JSON_PATCH: Final = "application/json-patch+json"

Progress = Callable[[int, str], None]
"""``on_progress(index, status_text)``: live per-step status for the UI (index into
``Plan.writes``)."""


class PlanError(Exception):
    """The action cannot be planned (the server would refuse it, or it would do harm): the
    message says why, for the operator. Nothing was sent."""


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class PlannedWrite:
    """One write of a plan, exactly as it will be sent.

    ``prior`` is what the journal keeps to undo it exactly; ``intent`` the change;
    ``step`` a stable identifier (``pause-auto-sync``, ``scale-down``) that the journal, the
    breaker's release and :attr:`Plan.blocked` use. ``verify`` reads the target back after an
    accepted write. ``fallback`` is sent when this write was accepted but did not verify
    (see the module doc). ``with_reason`` rebuilds the request with the operator's reason
    for requests that carry it in their body (an Argo CD operation's ``info``), since the
    reason is typed on the confirm screen, after planning.
    """

    title: str
    request: WriteRequest
    prior: dict[str, Any]
    intent: dict[str, Any]
    warnings: tuple[str, ...] = ()
    verify: Verify | None = None
    step: str = ""
    fallback: PlannedWrite | None = None
    with_reason: Callable[[str], WriteRequest] | None = None

    def request_for(self, reason: str) -> WriteRequest:
        """The request to send for ``reason``."""
        return self.with_reason(reason) if self.with_reason is not None else self.request


@dataclass(frozen=True)
class Offer:
    """A related plan the UI can offer next to this one (e.g. "pause auto-sync of
    argocd/payments first" next to a scale that selfHeal would revert)."""

    title: str
    build: Callable[[], Awaitable[Plan]]


@dataclass
class Plan:
    """What an action will do. ``warnings`` are shown prominently (the action may not hold,
    or may hurt); ``blocked`` names steps the operator's RBAC forbids (from
    :meth:`WriteGate.can`), and a blocked plan is not executed; ``info`` is context (what was
    checked, what could not be, what is offered); ``held`` what is left undone on purpose."""

    title: str
    writes: list[PlannedWrite] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    """What this plan deliberately does NOT do because doing it would hurt (auto-sync of an
    app whose Git revision is recorded as bad stays paused), shown in the error colour like
    ``blocked`` but not a refusal: the rest of the plan is sent. An offer usually does it
    anyway, as an explicit choice."""

    @property
    def empty(self) -> bool:
        """Nothing to write (already in the wanted state): ``info`` says why."""
        return not self.writes

    def extend(self, other: Plan) -> Plan:
        """Append ``other``'s writes and notes (the breaker chains plans)."""
        self.writes.extend(other.writes)
        for mine, theirs in ((self.warnings, other.warnings), (self.blocked, other.blocked),
                             (self.info, other.info), (self.held, other.held)):
            mine.extend(x for x in theirs if x not in mine)
        self.offers.extend(other.offers)
        return self


@dataclass(frozen=True)
class StepResult:
    """The outcome of one planned write: every request sent for it (the write, and its
    fallback when one was needed), whether the step holds, and one line for the operator."""

    index: int
    title: str
    step: str
    writes: tuple[WriteResult, ...]
    ok: bool
    detail: str

    @property
    def result(self) -> WriteResult | None:
        """The last answer (the fallback's when it was used)."""
        return self.writes[-1] if self.writes else None


@dataclass(frozen=True)
class ExecResult:
    """What :func:`execute` did. ``stopped_at`` is the index of the step that failed (None:
    every step done and verified); ``error`` says why it stopped."""

    results: list[StepResult]
    stopped_at: int | None
    error: str
    operation_id: str

    @property
    def ok(self) -> bool:
        return self.stopped_at is None

    def summary(self) -> str:
        """One paragraph: what was done, where it stopped, what was not attempted."""
        done = [r.title for r in self.results if r.ok]
        if self.stopped_at is None:
            return f"done: {len(done)} step(s): " + "; ".join(done) if done else "nothing to do"
        head = f"done {len(done)} step(s)" + (": " + "; ".join(done) if done else "")
        return f"{head}. Stopped at step {self.stopped_at + 1}: {self.error}"


@dataclass(frozen=True)
class Poll:
    """How verifications and followers wait: ``interval`` between reads, ``sleep`` to wait
    and ``clock`` to measure (seconds). Tests of the drill cluster on a manual clock pass a
    ``sleep`` that advances scenario time and a ``clock`` that reads it, so waiting is
    deterministic and nothing sleeps on the wall clock."""

    interval: float = 1.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] | None = None

    def now(self) -> float:
        return self.clock() if self.clock is not None else asyncio.get_running_loop().time()


# --------------------------------------------------------------------------- reads


class Reader(Protocol):
    """What planners read through: a :class:`~backends.kube.connection.KubeConnection`, or the
    Argo CD REST client (same error types: ``KubeApiError`` for an error answer,
    ``KubeError`` when there is no answer)."""

    async def get_raw(self, path: str, params: Params | None = None) -> bytes: ...


async def get_json(conn: Reader, path: str, what: str, params: Params | None = None) -> Any:
    """GET ``path`` and decode it, turning API errors into a :class:`PlanError` naming
    ``what`` (``Application argocd/web``): planners report, they do not crash."""
    try:
        raw = await conn.get_raw(path, params)
    except KubeApiError as exc:
        if exc.status == 404:
            raise PlanError(f"{what} not found") from exc
        raise PlanError(f"could not read {what}: {exc.status} {exc.reason}: {exc.message}"
                        ) from exc
    except KubeError as exc:
        raise PlanError(f"could not read {what}: {clean(exc, 300)}") from exc
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise PlanError(f"could not read {what}: the answer is not JSON") from exc


# --------------------------------------------------------------------------- access


async def check_access(gate: WriteGate, plan: Plan) -> Plan:
    """Fill ``plan.blocked`` from access reviews, one per distinct (verb, resource,
    namespace) of its writes and fallbacks. "Could not check" goes to ``info``: the server
    will decide, and a guess must not hide an action the operator may need."""
    seen: set[tuple[str, str, str, str, str]] = set()
    for planned in _all_writes(plan.writes):
        req = planned.request
        t = req.target
        key = (req.verb, t.group, t.resource, t.subresource, t.namespace)
        if key in seen or not t.resource:
            continue
        seen.add(key)
        access = await gate.can(req.verb, t.group, t.resource, t.subresource, t.namespace)
        what = f"{req.verb} {t.resource}{'/' + t.subresource if t.subresource else ''}"
        where = f" in {t.namespace}" if t.namespace else ""
        if access.checked and not access.allowed:
            line = f"{planned.step or planned.title}: {what}{where}: {access.reason}"
            if line not in plan.blocked:
                plan.blocked.append(line)
        elif not access.checked and not access.allowed:
            plan.info.append(f"{planned.step or planned.title}: {access.reason}")
    return plan


async def finish(gate: WriteGate, plan: Plan) -> Plan:
    """The last step of every planner: a single-write plan's warnings are also given to its
    write (so they stay with their target when the breaker chains plans), then
    :func:`check_access`."""
    if len(plan.writes) == 1 and plan.warnings and not plan.writes[0].warnings:
        plan.writes[0] = replace(plan.writes[0], warnings=tuple(plan.warnings))
    return await check_access(gate, plan)


def _all_writes(writes: Sequence[PlannedWrite]) -> list[PlannedWrite]:
    out: list[PlannedWrite] = []
    for w in writes:
        current: PlannedWrite | None = w
        while current is not None:
            out.append(current)
            current = current.fallback
    return out


# --------------------------------------------------------------------------- preview


async def preview(gate: WriteGate, plan: Plan) -> list[DryRunResult]:
    """The server's dry-run answer for every write of ``plan`` (fallbacks are not
    previewed: they only run when their write did not stick). In read-only mode nothing is
    sent and each result says so (``performed=False``)."""
    out: list[DryRunResult] = []
    for planned in plan.writes:
        try:
            out.append(await gate.preview(planned.request))
        except RefusedError as exc:
            out.append(DryRunResult(ok=True, status=0, performed=False, message=exc.reason))
        except KubeError as exc:
            out.append(DryRunResult(ok=False, status=0, performed=False,
                                    message=f"no answer: {clean(exc, 300)}"))
    return out


# --------------------------------------------------------------------------- execute


def new_operation_id(title: str) -> str:
    """``pause-auto-sync-argocd-web-3f9c01ab``: readable in the journal, unique."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40]
    return f"{slug or 'op'}-{uuid.uuid4().hex[:8]}"


async def execute(
    gate: WriteGate,
    plan: Plan,
    *,
    reason: str,
    confirm: Confirmation,
    operation_id: str | None = None,
    cancel: CancelToken | Callable[[int], CancelToken] | None = None,
    on_progress: Progress | None = None,
) -> ExecResult:
    """Run ``plan``'s writes in order, verifying each, and stop at the first failure.

    ``cancel``: a token for the cancel window of the FIRST write (the one chance to call the
    whole plan off before anything is sent), or a factory giving a token per step index (the
    UI shows a countdown for each). Never raises for a refusal, an error answer or a lost
    connection: those end the run and are described in the result.
    """
    op = operation_id or new_operation_id(plan.title)
    results: list[StepResult] = []

    def progress(index: int, text: str) -> None:
        if on_progress is not None:
            try:
                on_progress(index, text)
            except Exception:  # noqa: BLE001 - a UI callback must not break a half-done plan
                log.exception("on_progress failed")

    if plan.blocked:
        error = "not started: the access review forbids " + "; ".join(plan.blocked)
        return ExecResult(results, 0 if plan.writes else None, error, op)

    for index, planned in enumerate(plan.writes):
        token: CancelToken | None
        if isinstance(cancel, CancelToken) or cancel is None:
            token = cancel if index == 0 else None
        else:
            token = cancel(index)
        step = await _run_step(gate, index, planned, reason=reason, confirm=confirm,
                               operation_id=op, cancel=token, progress=progress)
        results.append(step)
        if not step.ok:
            return ExecResult(results, index, f"{planned.title}: {step.detail}", op)
    return ExecResult(results, None, "", op)


async def _run_step(gate: WriteGate, index: int, planned: PlannedWrite, *, reason: str,
                    confirm: Confirmation, operation_id: str, cancel: CancelToken | None,
                    progress: Progress) -> StepResult:
    sent: list[WriteResult] = []
    current: PlannedWrite | None = planned
    first = True
    detail = ""
    while current is not None:
        progress(index, ("sending: " if first else "falling back: ") + current.title)
        try:
            result = await gate.write(
                current.request_for(reason), prior=current.prior, intent=current.intent,
                reason=reason, confirm=confirm, operation_id=operation_id,
                step=current.step, verify=current.verify, cancel=cancel if first else None)
        except RefusedError as exc:
            detail = f"refused: {exc.reason}"
            progress(index, detail)
            return StepResult(index, planned.title, planned.step, tuple(sent), False, detail)
        except (GateError, JournalError) as exc:
            detail = f"not sent: {clean(exc, 500)}"
            progress(index, detail)
            return StepResult(index, planned.title, planned.step, tuple(sent), False, detail)
        except Exception as exc:  # noqa: BLE001 - no answer: the journal row says "unknown"
            detail = (f"no answer from the server ({clean(exc, 300)}): it may or may not "
                      "have applied; check the target before retrying")
            progress(index, detail)
            return StepResult(index, planned.title, planned.step, tuple(sent), False, detail)
        sent.append(result)
        if not result.ok:
            detail = f"{result.status} {result.reason}: {result.message}".strip()
            progress(index, f"failed: {detail}")
            return StepResult(index, planned.title, planned.step, tuple(sent), False, detail)
        if result.verified is False:
            detail = f"did not verify: {result.verification}"
            progress(index, detail)
            current = current.fallback
            first = False
            continue
        detail = (f"verified: {result.verification}" if result.verified
                  else f"done ({result.status})")
        progress(index, detail)
        return StepResult(index, planned.title, planned.step, tuple(sent), True, detail)
    return StepResult(index, planned.title, planned.step, tuple(sent), False, detail)
