"""The breaker's state: from the journal (engaged, by whom, since when, half-done or not),
then checked against the cluster (which targets still are engaged).

Why the journal first: it works after a crash of any process, in the header of another
operator's control room and in ``controlroom breaker status`` alike, without reading the
cluster. :func:`state_of` is pure (tests, CLI, header).

Why the cluster too (:func:`live_state`): the journal is only marked released once EVERY
restore verified, so a release killed halfway (or objects put back by hand) leaves a journal
that says "engaged" while the objects are partly or fully restored. Each target is read once
and judged by :func:`judge` (the field the breaker changed against the journaled prior and
intent, and the ``controlroom.io/breaker`` annotation); release uses the same judgement to
send only the restores still needed.

A breaker the journal does not know (engaged from another state dir, or whose journal is
gone) comes from the marks on the objects: :mod:`backends.ops.breaker.cluster` merges them
into the same :class:`BreakerState` (``source``), with targets whose ``status`` is ``marked``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, TypeAlias

from backends.kube.errors import KubeApiError, KubeError
from backends.ops.breaker.marks import OBJECT_PATHS
from backends.ops.breaker_mark import read_mark
from backends.ops.breaker_model import (
    BREAKER_ANNOTATION,
    MARK_STEP,
    PHASE_KIND,
    PHASE_STEPS,
    PHASES,
    Phase,
    is_breaker_operation,
    parse_mark,
)
from backends.ops.journal import Journal, JournalDB, JournalEntry, OpenOperation
from backends.ops.plan import PlanError, Reader
from backends.sanitize import clean

__all__ = [
    "APPLIED",
    "BreakerState",
    "EngagedTarget",
    "LiveState",
    "LiveTarget",
    "TargetState",
    "breaker_status",
    "breaker_status_db",
    "judge",
    "live_state",
    "read_object",
    "state_of",
    "targets_of",
]

APPLIED: Final = frozenset({"done", "verified", "marked"})
"""Journal statuses of a write that went through (``marked``: a target known from its mark in
the cluster, which is only written with, or before, the change)."""
_KIND_PHASE: Final[dict[str, Phase]] = {k: p for p, k in PHASE_KIND.items() if p != "pause"}
"""The phase of a separate annotation write, by kind: only a scaled Deployment gets one (a
paused one carries the annotation in its own merge patch)."""


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
    source: str = "journal"
    """Where this target is known from: ``journal``, or ``cluster`` (only its mark)."""

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
    source: str = "journal"
    """Where the newest breaker is known from: ``journal``, ``cluster`` (only the marks on
    the objects: another operator's, or a lost journal's) or ``journal+cluster``."""
    notes: tuple[str, ...] = ()
    """What the cluster's marks could not tell: malformed marks, kinds not listed."""

    @property
    def progress(self) -> str:
        """``7/7 write(s)`` from the journal; from the marks alone, how many objects carry
        them of how many the engagement meant to change."""
        if self.source == "cluster":
            return (f"marks on {self.completed} object(s) of {self.planned}, not in this "
                    "journal")
        return f"{self.completed}/{self.planned} write(s)"

    def headline(self) -> str:
        if not self.engaged:
            return "breaker: off"
        when = f" since {self.since:%Y-%m-%d %H:%M:%SZ}" if self.since else ""
        head = "BREAKER HALF-DONE" if self.half_done else "BREAKER ENGAGED"
        more = f", +{len(self.others)} older" if self.others else ""
        return (f"{head} ({self.operation_id}) by {clean(self.by, 60)}{when}: "
                f"{len(self.targets)} target(s), {self.progress}{more}")


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


# --------------------------------------------------------------------------- the cluster's view

TargetState: TypeAlias = Literal["engaged", "restored", "changed", "gone", "unreadable",
                                 "not applied"]
"""One target as the cluster shows it: ``engaged`` (the field is in the emergency state),
``restored`` (back at the journaled prior, without this breaker's annotation), ``changed``
(neither: changed since by someone else), ``gone`` (404), ``unreadable`` (the GET failed),
``not applied`` (the breaker's write to it never went through and the field is untouched)."""

_WORDS: Final[dict[TargetState, str]] = {
    "engaged": "engaged", "restored": "restored",
    "changed": "changed since by someone else", "gone": "gone",
    "unreadable": "could not read", "not applied": "not applied"}


@dataclass(frozen=True)
class LiveTarget:
    """One engaged target, read back from the cluster. ``marked``: it carries this
    breaker's annotation (release still has to remove it). ``detail``: the field as found
    (sanitized), or why it could not be read."""

    target: EngagedTarget
    state: TargetState
    detail: str = ""
    marked: bool = False

    def describe(self) -> str:
        word = _WORDS[self.state]
        if self.state == "unreadable":
            return f"{word}: {self.detail}"
        return f"{word} ({self.detail})" if self.detail else word


@dataclass(frozen=True)
class LiveState:
    """The journal's breaker checked against the cluster (``controlroom breaker status``).
    ``error``: the cluster could not be read at all; everything then is the journal's word
    and the headline says so. ``targets`` is empty then, and when nothing is engaged."""

    state: BreakerState
    targets: tuple[LiveTarget, ...] = ()
    error: str = ""

    def count(self, *states: TargetState) -> int:
        return sum(t.state in states for t in self.targets)

    @property
    def fully_restored(self) -> bool:
        """Every target is back (or gone, or never changed): only the journal lags."""
        return bool(self.targets) and self.count("restored") > 0 and \
            self.count("restored", "gone", "not applied") == len(self.targets)

    def headline(self) -> str:
        """"ENGAGED n/n", "partly released: k of n restored", or "released (journal not yet
        updated)", with the journal's operation, operator and time; the journal's own
        headline when the cluster could not be read."""
        s = self.state
        if not s.engaged:
            return s.headline()
        if self.error:
            return (f"{s.headline()} [journal only: the cluster could not be read: "
                    f"{clean(self.error, 300)}]")
        n, k = len(self.targets), self.count("restored")
        when = f" since {s.since:%Y-%m-%d %H:%M:%SZ}" if s.since else ""
        who = f"({s.operation_id}) by {clean(s.by, 60)}{when}"
        more = f", +{len(s.others)} older" if s.others else ""
        unknown = self.count("unreadable")
        tail = f"; {unknown} could not be read" if unknown else ""
        if self.fully_restored:
            return (f"breaker released (journal not yet updated): {k} of {n} restored {who}"
                    f"{more}; `breaker release` marks it in the journal")
        if k:
            return f"breaker partly released: {k} of {n} restored {who}{more}{tail}"
        head = "BREAKER HALF-DONE" if s.half_done else "BREAKER ENGAGED"
        return f"{head} {self.count('engaged')}/{n} {who}: {s.progress}{more}{tail}"


async def read_object(conn: Reader, t: EngagedTarget) -> dict[str, Any] | None:
    """The live object, None when it is gone (404). PlanError (sanitized) when it cannot
    be read: status reports it, release refuses that target."""
    try:
        raw = await conn.get_raw(OBJECT_PATHS[t.phase](t.namespace, t.name))
    except KubeApiError as exc:
        if exc.status == 404:
            return None
        raise PlanError(f"could not read {t.kind} {t.namespace}/{t.name}: {exc.status} "
                        f"{clean(exc.reason, 64)}: {clean(exc.message, 300)}") from exc
    except KubeError as exc:
        raise PlanError(f"could not read {t.kind} {t.namespace}/{t.name}: "
                        f"{clean(exc, 300)}") from exc
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise PlanError(f"could not read {t.kind} {t.namespace}/{t.name}: the answer is "
                        "not JSON") from exc
    if not isinstance(obj, dict):
        raise PlanError(f"could not read {t.kind} {t.namespace}/{t.name}: the answer is "
                        "not an object")
    return obj


def _short(value: Any) -> str:
    return clean(json.dumps(value, sort_keys=True, separators=(",", ":")), 200)


def _field(t: EngagedTarget, obj: Mapping[str, Any]) -> tuple[bool, bool, str, str, str]:
    """(at the journaled prior, in the emergency state, the field as found, as the breaker
    set it, as it was before) for the one field the breaker's phase changes."""
    prior = t.prior if isinstance(t.prior, dict) else {}
    intent = t.intent if isinstance(t.intent, dict) else {}
    spec = obj.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    if t.phase == "freeze":
        policy = spec.get("syncPolicy")
        auto = policy.get("automated") if isinstance(policy, dict) else None
        paused = auto is None or (isinstance(auto, dict) and auto.get("enabled") is False)
        return (auto == prior.get("automated"), paused, f"automated {_short(auto)}",
                "paused", _short(prior.get("automated")))
    if t.phase == "shift":
        rules = spec.get("rules")
        rules = rules if isinstance(rules, list) else []
        recorded = [r for r in prior.get("rules") or [] if isinstance(r, dict)]

        def refs(i: Any) -> Any:
            ok = isinstance(i, int) and 0 <= i < len(rules) and isinstance(rules[i], dict)
            return rules[i].get("backendRefs") if ok else None

        at_prior = bool(recorded) and all(refs(r.get("index")) == r.get("backendRefs")
                                          for r in recorded)
        asked = intent.get("weights")
        weights: dict[str, Any] = asked if isinstance(asked, dict) else {}
        live = {str(b.get("name")): b.get("weight", 1)
                for r in recorded for b in (refs(r.get("index")) or [])
                if isinstance(b, dict) and b.get("name") in weights}
        shifted = bool(live) and all(w == weights.get(b) for b, w in live.items())
        found = ", ".join(f"{b}={w}" for b, w in sorted(live.items()))
        wanted = ", ".join(f"{b}={w}" for b, w in sorted(weights.items()))
        before = ", ".join(f"{b.get('name')}={b.get('weight', 1)}" for r in recorded
                           for b in r.get("backendRefs") or [] if isinstance(b, dict))
        return (at_prior, shifted, f"weights {clean(found, 200) or 'unknown'}",
                clean(wanted, 200), clean(before, 200))
    if t.phase == "pause":
        held = spec.get("paused")
        return ((held is True) == (prior.get("paused") is True), held is True,
                f"spec.paused {_short(held)}", "true", _short(prior.get("paused")))
    replicas = spec.get("replicas", 1)
    return (replicas == prior.get("replicas"), replicas == intent.get("replicas", 0),
            f"replicas {_short(replicas)}", _short(intent.get("replicas", 0)),
            _short(prior.get("replicas")))


def judge(t: EngagedTarget, obj: Mapping[str, Any] | None, operation_id: str) -> LiveTarget:
    """One target from its live object (None: gone). The changed field decides; the
    annotation only tells who owns it: back at the prior without our annotation is
    restored, and WITH it too (``marked``: release still removes the annotation); neither
    prior nor emergency state is someone else's change."""
    if obj is None:
        return LiveTarget(t, "gone")
    meta = obj.get("metadata")
    notes = (meta or {}).get("annotations") if isinstance(meta, dict) else None
    mark = read_mark(notes.get(BREAKER_ANNOTATION) if isinstance(notes, dict) else None,
                     t.kind)
    marked = mark is not None and mark.operation == operation_id
    at_prior, emergency, found, wanted, before = _field(t, obj)
    if at_prior and not marked:
        return LiveTarget(t, "restored" if t.applied else "not applied", found)
    if at_prior:
        return LiveTarget(t, "restored", f"{found}; the breaker annotation is still on it",
                          marked)
    if emergency:
        return LiveTarget(t, "engaged", found if marked else f"{found}; the breaker "
                          "annotation is gone", marked)
    return LiveTarget(t, "changed", f"{found}; the breaker set {wanted}, before it "
                      f"{before}", marked)


async def _live_target(conn: Reader, t: EngagedTarget, operation_id: str) -> LiveTarget:
    try:
        obj = await read_object(conn, t)
    except PlanError as exc:
        return LiveTarget(t, "unreadable", clean(str(exc).partition(": ")[2] or exc, 300))
    return judge(t, obj, operation_id)


async def live_state(conn: Reader, state: BreakerState) -> LiveState:
    """``state`` (the journal's) checked target by target against the cluster, all GETs
    at once. A target that cannot be read is ``unreadable``, the others still judged; when
    none could be read, ``error`` says why and the headline is the journal's."""
    if not state.engaged:
        return LiveState(state)
    found = await asyncio.gather(*(_live_target(conn, t, state.operation_id)
                                   for t in state.targets))
    if found and all(t.state == "unreadable" for t in found):
        # Nothing could be read (a lost server, say): the journal's word, and why.
        return LiveState(state, tuple(found), error=found[0].detail)
    return LiveState(state, tuple(found))
