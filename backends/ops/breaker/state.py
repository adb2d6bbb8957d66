"""The breaker's state, from the journal alone: engaged, by whom, since when, half-done or not.

Why from the journal: it works after a crash of any process, in the header of another
operator's control room and in ``controlroom breaker status`` alike, without reading the
cluster. :func:`state_of` is pure (tests, CLI, header).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from backends.ops.breaker_model import (
    MARK_STEP,
    PHASE_KIND,
    PHASE_STEPS,
    PHASES,
    Phase,
    is_breaker_operation,
    parse_mark,
)
from backends.ops.journal import Journal, JournalDB, JournalEntry, OpenOperation
from backends.sanitize import clean

__all__ = [
    "APPLIED",
    "BreakerState",
    "EngagedTarget",
    "breaker_status",
    "breaker_status_db",
    "state_of",
    "targets_of",
]

APPLIED: Final = frozenset({"done", "verified"})
"""Journal statuses of a write that went through."""
_KIND_PHASE: Final[dict[str, Phase]] = {k: p for p, k in PHASE_KIND.items()}


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
        return self.status in APPLIED


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


def targets_of(entries: Iterable[JournalEntry]) -> list[EngagedTarget]:
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
    done = {(e.step, e.kind, e.namespace, e.name) for e in op.steps if e.status in APPLIED}
    since = op.started
    if mark and isinstance(mark.get("since"), str):
        try:
            since = datetime.fromisoformat(str(mark["since"]).replace("Z", "+00:00"))
        except ValueError:
            pass
    return BreakerState(
        engaged=True, operation_id=op.operation_id,
        by=str((mark or {}).get("by") or op.steps[0].operator), since=since,
        targets=tuple(targets_of(op.steps)),
        half_done=bool(op.unsettled) or len(done) < planned,
        planned=planned, completed=len(done),
        others=tuple(o.operation_id for o in breakers[1:]))


async def breaker_status(journal: Journal, context: str) -> BreakerState:
    """The breaker on ``context`` from the journal (works after a crash of any process)."""
    return state_of(await journal.open_operations(context))


def breaker_status_db(db: JournalDB, context: str) -> BreakerState:
    """:func:`breaker_status` without an event loop (``controlroom breaker status``)."""
    return state_of(db.open_operations(context))
