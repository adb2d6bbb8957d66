"""Running a breaker's phases, and what comes of it: events, per-target outcomes, the result.

Engage and release share this: phases strictly in order, the targets of a phase concurrently
(20 pauses cost one round trip, not twenty; each target's own writes stay in order), every
write through the gate via :func:`~backends.ops.plan.execute`, and a failed step stops the
run after its phase: the phase's other in-flight writes finish (cancelling a sent write would
only make its outcome unknown), no later phase starts, and the outcomes list per target what
was done, what failed and what was never attempted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from backends.ops.breaker_model import Phase
from backends.ops.gate import CancelToken, Confirmation, WriteGate
from backends.ops.plan import Plan, PlannedWrite, StepResult, execute

__all__ = [
    "BreakerEvent",
    "BreakerResult",
    "EventState",
    "Job",
    "OnProgress",
    "OutcomeState",
    "TargetOutcome",
    "emit",
    "run_phases",
]

log = logging.getLogger(__name__)

EventState: TypeAlias = Literal["started", "progress", "done", "failed"]
OutcomeState: TypeAlias = Literal["done", "failed", "nothing-to-do", "not-started", "excluded",
                                  "gone"]


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
    held: tuple[str, ...] = ()
    """What release left undone on purpose (auto-sync kept paused, and why)."""

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
        parts.extend(self.held)
        return "; ".join(parts)


def emit(on_progress: OnProgress | None, event: BreakerEvent) -> None:
    """Hand ``event`` to the UI; a failing callback is logged, never raised."""
    if on_progress is None:
        return
    try:
        on_progress(event)
    except Exception:  # noqa: BLE001 - a UI callback must not break a half-done breaker
        log.exception("breaker progress callback failed")


async def _run_target(gate: WriteGate, key: str, label: str, phase: Phase,
                      writes: list[PlannedWrite], *, reason: str, confirm: Confirmation,
                      operation_id: str, cancel: CancelToken | None,
                      on_progress: OnProgress | None) -> TargetOutcome:
    def progress(index: int, text: str) -> None:
        emit(on_progress, BreakerEvent(phase, key, label, "progress", text))

    done = await execute(gate, Plan(title=label, writes=writes), reason=reason,
                         confirm=confirm, operation_id=operation_id, cancel=cancel,
                         on_progress=progress)
    detail = done.summary() if done.ok else done.error
    emit(on_progress, BreakerEvent(phase, key, label, "done" if done.ok else "failed", detail))
    return TargetOutcome(key, label, phase, "done" if done.ok else "failed", detail,
                         tuple(done.results))


Job: TypeAlias = tuple[str, str, list[PlannedWrite]]
"""(target key, label, writes) of one target within a phase."""


async def run_phases(gate: WriteGate, phases: Sequence[tuple[Phase, list[Job]]], *,
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
        emit(on_progress, BreakerEvent(phase, "", phase, "started", f"{len(jobs)} target(s)"))
        results = await asyncio.gather(*(
            _run_target(gate, k, label, phase, writes, reason=reason, confirm=confirm,
                        operation_id=operation_id, cancel=cancel if first else None,
                        on_progress=on_progress) for k, label, writes in jobs))
        first = False
        outcomes += results
        failed = [r for r in results if r.state == "failed"]
        if failed:
            error = "; ".join(f"{r.label}: {r.detail}" for r in failed)
            emit(on_progress, BreakerEvent(phase, "", phase, "failed", error))
        else:
            emit(on_progress, BreakerEvent(phase, "", phase, "done", f"{len(jobs)} target(s)"))
    return outcomes, error
