"""The breakers the cluster carries: every object with a breaker mark, read back, and the
engaged breakers as the journal and the cluster together know them.

Why: the journal is one operator's file. Another operator, a state dir that is empty, a
journal that was deleted: each would answer "breaker: off" while production stays scaled to
0. Every object a breaker changes carries its mark (:mod:`backends.ops.breaker_mark`: the
prior state, the emergency state, who and when), so :func:`scan` lists the objects the
breaker changes (Applications, HTTPRoutes, Deployments, across namespaces, metadata only)
and :func:`engaged` merges what it finds with the journal's open breakers: a breaker known
only from the cluster is engaged all the same, and a target the journal does not know (a
colleague joined the breaker from another state dir) is added from its mark. The journal's
record wins where both know a target (its first write's prior is the original record).

A mark that fails its schema is listed in :attr:`ClusterMarks.malformed` with why: status
reports it, release never restores from it. A kind that cannot be listed (RBAC, a CRD not
installed) is named in :attr:`ClusterMarks.errors`; the rest still counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

import msgspec

from backends.kube.errors import KubeApiError, KubeError
from backends.kube.problems import summarise
from backends.ops.breaker.marks import OBJECT_PATHS
from backends.ops.breaker.state import BreakerState, EngagedTarget, state_of, targets_of
from backends.ops.breaker_mark import Mark, MarkError, decode_mark
from backends.ops.breaker_model import BREAKER_ANNOTATION, PHASE_KIND, PHASES, Phase
from backends.ops.breaker_model import is_breaker_operation as _is_breaker
from backends.ops.journal import OpenOperation
from backends.ops.plan import Reader
from backends.sanitize import clean

__all__ = ["ClusterMarks", "Engaged", "FoundMark", "combined_state", "engaged", "scan"]

_PAGE: Final = "500"
_KIND_PHASE: Final[dict[str, Phase]] = {}
for _phase in PHASES:  # the first phase of a kind is the one a legacy mark (no phase) had
    _KIND_PHASE.setdefault(PHASE_KIND[_phase], _phase)


class _Meta(msgspec.Struct):
    name: str = ""
    namespace: str = ""
    annotations: dict[str, str] | None = None


class _Item(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class _ListMeta(msgspec.Struct):
    cont: str = msgspec.field(default="", name="continue")


class _List(msgspec.Struct):
    items: list[_Item] | None = None
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)


_DECODER: Final = msgspec.json.Decoder(_List)
"""Only names and annotations are decoded: a cluster's Deployments list is large."""


@dataclass(frozen=True)
class FoundMark:
    """A breaker mark found on an object: ``mark`` when it checks out, else ``problem``."""

    kind: str
    namespace: str
    name: str
    mark: Mark | None = None
    problem: str = ""

    @property
    def where(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    def target(self) -> EngagedTarget:
        """The engaged target this mark describes (its prior is what release puts back)."""
        assert self.mark is not None
        phase: Phase = self.mark.phase if self.mark.phase else _KIND_PHASE[self.kind]  # type: ignore[assignment]
        return EngagedTarget(phase, self.kind, self.namespace, self.name, "marked",
                             self.mark.prior, self.mark.intent or {}, marked=True,
                             source="cluster")


@dataclass(frozen=True)
class ClusterMarks:
    """Every breaker mark in the cluster (module doc)."""

    found: tuple[FoundMark, ...] = ()
    malformed: tuple[FoundMark, ...] = ()
    errors: tuple[str, ...] = ()

    def of(self, operation_id: str) -> list[FoundMark]:
        return [f for f in self.found if f.mark is not None
                and f.mark.operation == operation_id]

    def notes(self) -> tuple[str, ...]:
        """One line per malformed mark and per kind that could not be listed (sanitized)."""
        return (*(f"{clean(f.where, 200)}: breaker annotation not trusted, not restored "
                  f"from: {clean(f.problem, 300)}" for f in self.malformed),
                *(clean(e, 400) for e in self.errors))


def _list_paths() -> list[tuple[str, str]]:
    """(kind, cluster-wide list path) of every kind a breaker phase changes."""
    out: dict[str, str] = {}
    for phase in PHASES:
        one = OBJECT_PATHS[phase]("ns", "name")
        base, _, rest = one.partition("/namespaces/")
        out.setdefault(PHASE_KIND[phase], f"{base}/{rest.split('/')[1]}")
    return list(out.items())


async def _scan_kind(conn: Reader, kind: str, path: str) -> tuple[list[FoundMark], str]:
    """The kind's marks, and why it could not be listed ("" when it could)."""
    found: list[FoundMark] = []
    token = ""
    while True:
        params = {"limit": _PAGE, **({"continue": token} if token else {})}
        try:
            page = _DECODER.decode(await conn.get_raw(path, params))
        except KubeApiError as exc:
            if exc.status == 404:
                return found, ""  # the kind is not served here: nothing of it is marked
            return found, (f"{exc.status} {clean(exc.reason, 64)}: "
                           f"{clean(exc.message, 200)}")
        except KubeError as exc:
            # One line per cause (problems.summarise), not the URL of each kind: with the API
            # server down the three kinds fail alike, and the header said it three times.
            return found, summarise(exc)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return found, f"the list could not be read: {clean(exc, 200)}"
        for item in page.items or ():
            meta = item.metadata
            text = (meta.annotations or {}).get(BREAKER_ANNOTATION)
            if text is None:
                continue
            try:
                mark = decode_mark(text, kind)
            except MarkError as exc:
                found.append(FoundMark(kind, meta.namespace, meta.name, problem=str(exc)))
                continue
            if _is_breaker(mark.operation):
                found.append(FoundMark(kind, meta.namespace, meta.name, mark))
        token = page.metadata.cont
        if not token:
            return found, ""


async def scan(conn: Reader) -> ClusterMarks:
    """Every breaker mark in the cluster: each kind listed across namespaces (paged), all
    kinds at once. Never raises: what could not be listed is in ``errors``."""
    results = await asyncio.gather(*(_scan_kind(conn, kind, path)
                                     for kind, path in _list_paths()))
    marks = [f for found, _ in results for f in found]
    kinds_by_cause: dict[str, list[str]] = {}
    for (kind, _path), (_found, cause) in zip(_list_paths(), results, strict=True):
        if cause:
            kinds_by_cause.setdefault(cause, []).append(f"{kind}s")
    return ClusterMarks(found=tuple(f for f in marks if f.mark is not None),
                        malformed=tuple(f for f in marks if f.mark is None),
                        errors=tuple(f"could not list {', '.join(kinds)} for breaker marks: "
                                     f"{cause}" for cause, kinds in kinds_by_cause.items()))


# --------------------------------------------------------------------------- merged view


@dataclass(frozen=True)
class Engaged:
    """One engaged breaker as the journal, the cluster's marks, or both know it.
    ``targets``: the journal's (first-write prior), then those only the marks know.
    ``journal``: this journal's open operation of it (None: known from the cluster only)."""

    operation_id: str
    started: datetime
    targets: tuple[EngagedTarget, ...]
    journal: OpenOperation | None = None
    marks: tuple[Mark, ...] = ()

    @property
    def source(self) -> str:
        if self.journal is not None and self.marks:
            return "journal+cluster"
        return "journal" if self.journal is not None else "cluster"


def _started(marks: Sequence[Mark]) -> datetime:
    times = [t for t in (m.since_time() for m in marks) if t is not None]
    return min(times) if times else datetime.fromtimestamp(0, UTC)


def engaged(operations: Sequence[OpenOperation], marks: ClusterMarks | None,
            operation_id: str | None = None) -> list[Engaged]:
    """The engaged breakers, newest first (module doc). ``operation_id``: only that one."""
    journal = {o.operation_id: o for o in operations if _is_breaker(o.operation_id)}
    found = marks.found if marks is not None else ()
    ids = set(journal) | {f.mark.operation for f in found if f.mark is not None}
    out = []
    for op_id in ids:
        if operation_id is not None and op_id != operation_id:
            continue
        op = journal.get(op_id)
        known = targets_of(op.steps) if op is not None else []
        have = {(t.kind, t.namespace, t.name) for t in known}
        on_objects = marks.of(op_id) if marks is not None else []
        extra = [f.target() for f in on_objects if (f.kind, f.namespace, f.name) not in have]
        order = {p: i for i, p in enumerate(PHASES)}
        targets = tuple(sorted([*known, *extra], key=lambda t: order[t.phase]))
        mark_list = tuple(f.mark for f in on_objects if f.mark is not None)
        started = op.started if op is not None else _started(mark_list)
        out.append(Engaged(op_id, started, targets, op, mark_list))
    return sorted(out, key=lambda e: e.started, reverse=True)


def combined_state(operations: Sequence[OpenOperation],
                   marks: ClusterMarks | None) -> BreakerState:
    """The breaker state from the journal's open operations and the cluster's marks (pure):
    what ``breaker status`` prints. Without marks (None: not read) it is the journal's."""
    notes = marks.notes() if marks is not None else ()
    found = engaged(operations, marks)
    if not found:
        return BreakerState(engaged=False, notes=notes)
    top, others = found[0], tuple(e.operation_id for e in found[1:])
    if top.journal is not None:
        base = state_of([top.journal])
        return replace(base, targets=top.targets, others=others, source=top.source,
                       notes=notes)
    newest = max(top.marks, key=lambda m: m.since)
    return BreakerState(
        engaged=True, operation_id=top.operation_id, by=newest.by, since=top.started,
        targets=top.targets, planned=max((m.targets for m in top.marks), default=0),
        completed=len(top.marks), others=others, source="cluster", notes=notes)
