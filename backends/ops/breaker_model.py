"""The circuit breaker's vocabulary: phases, the annotation, and the plan as a value.

Why a module of its own: the plan (:class:`BreakerPlan`, its :class:`BreakerTarget` values and
the checks recomputed from what the operator includes) is what everyone shares: the planner
that fills it (:mod:`backends.ops.breaker_plan`), the breaker that runs it
(:mod:`backends.ops.breaker`), the plan screen that edits it. It holds no I/O and imports no
action module, so any of them can import it without pulling in the others.

Targets are plain values with an ``include`` flag: the UI toggles them and the checks
(:attr:`BreakerPlan.refusals`) are recomputed from what is included. A target RBAC forbids is
listed by name in :attr:`BreakerPlan.blocked`, and the breaker refuses to engage until the
operator excludes it: a breaker that stops halfway at a 403 is worse than a smaller one that
holds.

The routes behind the targets travel with the plan (:attr:`BreakerPlan.routes`), so the
capacity of each route before and after (:mod:`backends.ops.breaker_capacity`) is also
recomputed from what is included: a plan that would leave a route that served with no ready
backend is refused (:attr:`BreakerPlan.dark`) unless the operator typed that route as an
accepted loss (:attr:`BreakerPlan.allow_no_backend`, ``--allow-no-backend``). A target the
planner held back for that reason (:attr:`BreakerTarget.held`) is listed, unchecked, with why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from backends.ops.breaker_capacity import RouteCapacity, RouteTraffic, capacity
from backends.sanitize import clean

if TYPE_CHECKING:
    from backends.ops.plan import Plan, Poll, Reader

__all__ = [
    "BREAKER_ANNOTATION",
    "MARK_STEP",
    "OPERATION_PREFIX",
    "PHASES",
    "PHASE_KIND",
    "PHASE_STEPS",
    "BreakerPlan",
    "BreakerTarget",
    "Phase",
    "is_breaker_operation",
    "mark_value",
    "parse_mark",
]

BREAKER_ANNOTATION: Final = "controlroom.io/breaker"
"""On every object a breaker changed: ``{"operation", "by", "since"}``, so anyone (kubectl,
another operator's control room) sees why production looks like this and who to ask."""
OPERATION_PREFIX: Final = "breaker-"
"""Journal operation ids of breakers start with this: status and release find them by it."""
MARK_STEP: Final = "breaker-mark"
"""Journal step of a separate annotation write (the ``scale`` subresource cannot carry one)."""

Phase: TypeAlias = Literal["freeze", "pause", "shift", "scale"]
PHASES: Final[tuple[Phase, ...]] = ("freeze", "pause", "shift", "scale")
"""Engage order; release runs it backwards. Freeze first, because selfHeal reverts the rest;
``pause`` (a stalled rollout's ``spec.paused``) next, as early as possible; weights are
shifted before anything they point away from is scaled down."""
PHASE_KIND: Final[dict[Phase, str]] = {"freeze": "Application", "pause": "Deployment",
                                       "shift": "HTTPRoute", "scale": "Deployment"}
PHASE_STEPS: Final[dict[str, Phase]] = {"pause-auto-sync": "freeze", "rollout-pause": "pause",
                                        "shift-traffic": "shift", "scale-down": "scale"}
"""The planners' journal steps that make up a breaker, by phase."""


@dataclass
class BreakerTarget:
    """One object the breaker would change, with its planned writes.

    ``plan`` is the action module's plan (None when it could not be planned: ``error`` says
    why). ``include`` is the operator's choice. ``annotations`` is the object's annotation
    map as read (None: the object has none), needed to add the breaker annotation in the
    same JSON patch. ``managed_by`` is the Argo CD app tracking a Deployment or route
    (``(ns, name)``) and ``managed_auto_sync`` whether its auto-sync was on.
    ``mark_blocked``: why the separate annotation write of a Deployment is skipped (RBAC may
    grant ``deployments/scale`` but not ``deployments``; the journal still records all).
    ``held``: why the planner left it out (a scale-down that would leave ``held_routes``
    with no ready backend); it is planned all the same, so the operator can include it.
    ``protects``: for a target the planner added (a shift moving weight off scale-downs,
    the freeze of an app tracking other targets), the keys of the targets it is there for:
    it is included while one of them is.
    """

    phase: Phase
    namespace: str
    name: str
    why: str
    plan: Plan | None = None
    error: str = ""
    include: bool = True
    annotations: dict[str, str] | None = None
    managed_by: tuple[str, str] | None = None
    managed_auto_sync: bool = False
    weights: dict[str, int] = field(default_factory=dict)
    mark_blocked: str = ""
    held: str = ""
    held_routes: tuple[str, ...] = ()
    protects: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """``scale:checkout/checkout-stable``: stable id for include/exclude and progress."""
        return f"{self.phase}:{self.namespace}/{self.name}"

    @property
    def label(self) -> str:
        """``scale checkout/checkout-stable``: how the operator reads it."""
        return f"{self.phase} {self.namespace}/{self.name}"

    @property
    def kind(self) -> str:
        return PHASE_KIND[self.phase]

    @property
    def empty(self) -> bool:
        """Planned, and already in the emergency state: nothing to write."""
        return self.plan is not None and self.plan.empty and not self.error

    @property
    def blocked(self) -> list[str]:
        """``scale checkout/checkout-stable: forbidden: patch deployments/scale in checkout:
        denied``: one line per access review that said no."""
        if self.plan is None:
            return []
        out = []
        for line in self.plan.blocked:
            step, sep, rest = line.partition(": ")
            out.append(f"{self.label}: forbidden: {rest if sep and step else line}")
        return out

    @property
    def separate_mark(self) -> bool:
        """The annotation needs its own write: the ``scale`` subresource carries no
        metadata, and a JSON patch cannot add a key to an annotation map that does not
        exist without replacing the whole map (Applications are merge-patched: always in
        the same write)."""
        return self.phase == "scale" or (self.phase == "shift" and self.annotations is None)

    @property
    def prior_mark(self) -> str | None:
        """The breaker annotation before this breaker (another, unreleased breaker's)."""
        return (self.annotations or {}).get(BREAKER_ANNOTATION)


@dataclass
class BreakerPlan:
    """Every target of a breaker by phase, editable (``include``), and what stops it.

    ``proposed``: the targets come from the store (no ``[breaker]`` config), so the
    operator should look twice. ``context`` is the context planned on: engaging on another
    one is refused. ``notes`` are plan-wide warnings (another breaker already engaged).
    ``routes``: the HTTPRoutes backed by the targets, as read (the capacity check);
    ``allow_no_backend``: routes (``ns/name``) the operator accepts leaving with no ready
    backend.
    """

    context: str
    targets: list[BreakerTarget] = field(default_factory=list)
    proposed: bool = False
    notes: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    poll: Poll | None = None
    reader: Reader | None = field(default=None, repr=False)
    """The connection planned with: the annotation writes verify through it."""
    routes: list[RouteTraffic] = field(default_factory=list)
    allow_no_backend: set[str] = field(default_factory=set)

    def target(self, key: str) -> BreakerTarget:
        for t in self.targets:
            if t.key == key:
                return t
        raise KeyError(f"no breaker target {key!r}; targets: "
                       + ", ".join(t.key for t in self.targets))

    def include(self, key: str, included: bool = True) -> BreakerTarget:
        """Include (or exclude) a target; returns it. A target the planner added only to
        protect others (the shift that keeps a route serving, the freeze of the app that
        would revert them) follows them: excluded with the last, included with the first."""
        t = self.target(key)
        t.include = included
        self._follow(t)
        return t

    def _follow(self, changed: BreakerTarget) -> None:
        for t in self.targets:
            if changed.key in t.protects:
                wanted = any(self.target(k).include for k in t.protects)
                if t.include != wanted:
                    t.include = wanted
                    self._follow(t)

    def exclude(self, key: str) -> BreakerTarget:
        return self.include(key, False)

    def included(self, phase: Phase | None = None) -> list[BreakerTarget]:
        return [t for t in self.targets if t.include and (phase is None or t.phase == phase)]

    def allow(self, routes: Iterable[str]) -> list[BreakerTarget]:
        """Accept leaving exactly ``routes`` (``ns/name``) with no ready backend; a target
        held for those routes only is included, one held for a route no longer accepted is
        excluded again. Returns the targets whose ``include`` changed."""
        self.allow_no_backend = {r.strip() for r in routes if r.strip()}
        changed = []
        for t in self.targets:
            if t.held_routes:
                wanted = all(r in self.allow_no_backend for r in t.held_routes)
                if t.include != wanted:
                    self.include(t.key, wanted)
                    changed.append(t)
        return changed

    def capacity(self) -> list[RouteCapacity]:
        """Each route backed by a Deployment target or shifted, before and after the
        included targets (scale-downs and weights)."""
        leaving = {f"{t.namespace}/{t.name}" for t in self.included("scale")}
        touched = {f"{t.namespace}/{t.name}" for t in self.targets
                   if t.phase in ("scale", "pause")}
        shifts = {f"{t.namespace}/{t.name}": t.weights for t in self.included("shift")}
        return [capacity(r, leaving, shifts.get(r.key)) for r in self.routes
                if r.key in shifts or r.backed_by(touched)
                or any(t.phase == "shift" and f"{t.namespace}/{t.name}" == r.key
                       for t in self.targets)]

    @property
    def dark(self) -> list[str]:
        """Routes that served and would be left with no ready backend, not accepted: one
        refusal each, naming the scale-downs that empty it and the override."""
        out = []
        scaled = self.included("scale")
        for cap in self.capacity():
            if not cap.dark or cap.route in self.allow_no_backend:
                continue
            route = next(r for r in self.routes if r.key == cap.route)
            who = [t.label for t in scaled if route.backed_by([f"{t.namespace}/{t.name}"])]
            out.append(f"{', '.join(who) or 'the new weights'} would leave {cap.route} with "
                       f"no ready backend ({cap.before} ready pod(s) behind weight now): "
                       f"exclude it, or accept it with --allow-no-backend {cap.route}")
        return out

    @property
    def blocked(self) -> list[str]:
        """RBAC refusals of the included targets, each naming its target."""
        return [line for t in self.included() for line in t.blocked]

    @property
    def errors(self) -> list[str]:
        """Included targets that could not be planned."""
        return [f"{t.label}: {t.error}" for t in self.included() if t.error]

    @property
    def refusals(self) -> list[str]:
        """Why :func:`~backends.ops.breaker.engage` would not start (empty: it would)."""
        out = [*self.blocked, *self.errors, *self.dark]
        if not out and not any(t.plan and t.plan.writes for t in self.included()):
            out.append("nothing to do: no included target needs a change")
        return out

    @property
    def ready(self) -> bool:
        return not self.refusals

    @property
    def warnings(self) -> list[str]:
        """What may make the breaker not hold, for the included targets: the planners'
        warnings (ApplicationSet, parent app-of-apps, HPA), minus the selfHeal warnings the
        freeze phase already answers, plus apps left out of the freeze."""
        frozen = {(t.namespace, t.name) for t in self.included("freeze")}
        out = list(self.notes)
        for t in self.included():
            if t.managed_by is not None and t.managed_auto_sync and t.managed_by not in frozen:
                ns, name = t.managed_by
                out.append(f"{t.label}: Argo CD app {ns}/{name} has auto-sync on and is not "
                           "frozen: it will revert this change (include freeze "
                           f"{ns}/{name})")
            for w in t.plan.warnings if t.plan else ():
                covered = t.managed_by in frozen and w.startswith("Argo CD app ")
                line = f"{t.label}: {w}"
                if not covered and line not in out:
                    out.append(line)
        out += self._emptied_weights()
        out += [f"{cap.route}: accepted to be left with no ready backend "
                "(--allow-no-backend)" for cap in self.capacity()
                if cap.dark and cap.route in self.allow_no_backend]
        return out

    def _emptied_weights(self) -> list[str]:
        """Backends that keep their weight with nothing ready behind them after the
        included scale-downs (their share of requests fails: 503)."""
        leaving = {f"{t.namespace}/{t.name}" for t in self.included("scale")}
        shifts = {f"{t.namespace}/{t.name}": t.weights for t in self.included("shift")}
        out = []
        for r in self.routes:
            if r.key in self.allow_no_backend:
                continue  # said once, as accepted
            for rule in r.rules:
                for b in rule:
                    weight = shifts.get(r.key, {}).get(b.name, b.weight)
                    line = (f"{r.key}: backend {b.name} keeps weight {weight} with no ready "
                            "pod after the scale-down: its share of requests fails (503)")
                    if weight > 0 and b.emptied_by(leaving) and line not in out:
                        out.append(line)
        return out

    def writes(self) -> int:
        """How many writes engaging sends (fallbacks not counted, annotations included)."""
        n = 0
        for t in self.included():
            if t.plan and t.plan.writes:
                n += len(t.plan.writes) + (t.separate_mark and not t.mark_blocked)
        return n

    def as_plan(self) -> Plan:
        """The included writes as one :class:`~backends.ops.plan.Plan` in phase order, for a
        generic plan screen (dry-run preview, warnings, blocked). Preview only: run it with
        :func:`~backends.ops.breaker.engage`, which adds the breaker annotation, runs each
        phase's targets concurrently under one ``breaker-`` operation id, and stops between
        phases; ``execute`` on this flat plan would do none of that."""
        from backends.ops.plan import Plan

        out = Plan(title=f"Circuit breaker on {self.context}: "
                         f"{len(self.included())} target(s), {self.writes()} write(s)",
                   warnings=self.warnings, blocked=[*self.blocked, *self.errors, *self.dark],
                   info=[f"capacity {cap.line()}" for cap in self.capacity()])
        out.info += [f"{t.label}: held, not included: {t.held}" for t in self.targets
                     if t.held and not t.include]
        out.info += self.info
        for t in self.included():
            if t.plan is not None:
                out.writes.extend(t.plan.writes)
                out.info.extend(f"{t.label}: {i}" for i in t.plan.info)
            if t.separate_mark and not t.mark_blocked and t.plan and t.plan.writes:
                out.info.append(f"{t.label}: then annotate it ({BREAKER_ANNOTATION})")
        return out

    def describe(self) -> str:
        """The plan as text (``controlroom breaker plan``, logs): phases, targets, refusals."""
        lines = [f"circuit breaker on {self.context}"
                 + (" (proposed from the live state: no [breaker] config)"
                    if self.proposed else "")]
        for phase in PHASES:
            targets = [t for t in self.targets if t.phase == phase]
            lines.append(f"  {phase}:" + ("" if targets else " nothing"))
            for t in targets:
                box = "[x]" if t.include else "[ ]"
                if t.held and not t.include:
                    state = f"HELD: {t.held}"
                elif t.error:
                    state = f"cannot plan: {t.error}"
                elif t.empty:
                    state = "already in the emergency state"
                elif t.blocked:
                    state = "BLOCKED"
                else:
                    state = "; ".join(w.title for w in t.plan.writes) if t.plan else ""
                lines.append(f"    {box} {t.namespace}/{t.name} ({clean(t.why, 120)}): "
                             f"{clean(state, 300)}")
        caps = self.capacity()
        lines.append("  routes (ready pods behind weight, before -> after):"
                     + ("" if caps else " none backed by the targets"))
        lines += [f"    {cap.line()}" for cap in caps]
        lines += [f"  warning: {clean(w, 400)}" for w in self.warnings]
        lines += [f"  refused: {clean(r, 400)}" for r in self.refusals]
        return "\n".join(lines)


# --------------------------------------------------------------------------- the annotation


def is_breaker_operation(operation_id: str) -> bool:
    """A breaker's own operation (not the separate operation its release writes under)."""
    return operation_id.startswith(OPERATION_PREFIX) and "~" not in operation_id


def mark_value(operation_id: str, by: str, since: str) -> str:
    """The annotation's JSON text (compact, keys in a fixed order)."""
    return json.dumps({"operation": operation_id, "by": by, "since": since},
                      separators=(",", ":"))


def parse_mark(text: str | None) -> Mapping[str, Any] | None:
    """The annotation decoded, or None when absent or not ours."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "operation" in value else None
