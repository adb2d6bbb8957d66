"""Serving capacity behind HTTPRoutes, before and after a breaker: what keeps it from turning
a partial outage into a full one.

Why: on ``bad-rollout`` the breaker used to scale ``checkout/checkout-stable`` to 0, the 90 %
backend of ``HTTPRoute checkout/checkout`` whose old pods still served, and the route answered
503 for everyone. A breaker must never leave a route that served with nothing ready behind
its weighted backends. This module is the arithmetic of that rule, with no I/O (the live
reads are :mod:`backends.ops.breaker_traffic`), so the plan can recompute it each time the
operator includes or excludes a target:

- a route is a list of rules, each a list of :class:`Backend` (a ``backendRef`` with its
  weight, and the ready pods behind it by owning Deployment);
- the *capacity* of a rule is the number of ready pods behind its backends of weight > 0;
  :func:`capacity` gives it per route before and after the included scale-downs and weight
  shifts (a route's figure counts each weighted backend once);
- a rule is *dark* when it served before (capacity > 0) and serves nothing after: the plan
  refuses that unless the operator typed the route as an accepted loss (``allow_no_backend``);
- :func:`protect` is the planner's proposal: for each Deployment to scale down, move the
  weight of every backend it empties to a *healthy* backend of the same rule (ready pods, none
  crash-looping, not itself being scaled down); where no such backend exists and the scale
  would take away pods that serve, the Deployment is *held* (not scaled) and the reason names
  the route ("would leave checkout/checkout with no ready backend").

Readiness a planner cannot count (a backend that is not a Service, a Service without a
selector) is *unknown*: it never counts as capacity, and a rule whose only survivor is
unknown is reported, not judged dark (never calm when unsure, never refuse on a guess).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from backends.breaker_scope import MAX_WEIGHT
from backends.sanitize import clean

__all__ = [
    "Backend",
    "Protection",
    "RouteCapacity",
    "RouteTraffic",
    "capacity",
    "protect",
]

OTHER: Final = ""
"""The owner key of ready pods that belong to no Deployment (a StatefulSet, a bare pod)."""


@dataclass(frozen=True)
class Backend:
    """One ``backendRef`` of a route rule. ``ready``: ready pods by owning Deployment
    (``ns/name``; :data:`OTHER` for pods of no Deployment); a Deployment with pods behind
    the Service is listed even with 0 ready. ``crashing``: owners with crash-looping pods.
    ``unknown``: why readiness could not be counted ("" when it was)."""

    namespace: str
    name: str
    weight: int
    ready: Mapping[str, int] = field(default_factory=dict)
    crashing: frozenset[str] = frozenset()
    unknown: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def total(self) -> int:
        return sum(self.ready.values())

    def ready_without(self, leaving: Collection[str]) -> int:
        """Ready pods left when the ``leaving`` Deployments are scaled to 0."""
        return sum(n for owner, n in self.ready.items() if owner not in leaving)

    def emptied_by(self, leaving: Collection[str]) -> bool:
        """Every pod it had belongs to a leaving Deployment: nothing serves after."""
        return bool(self.ready.keys() & set(leaving)) and self.ready_without(leaving) == 0 \
            and not self.unknown

    def healthy_without(self, leaving: Collection[str]) -> bool:
        """A backend the weight can go to: ready pods left, none of them crash-looping."""
        return not self.unknown and self.ready_without(leaving) > 0 \
            and not (self.crashing - set(leaving))


@dataclass(frozen=True)
class RouteTraffic:
    """An HTTPRoute as the capacity check sees it: its rules' backends, as read."""

    namespace: str
    name: str
    rules: tuple[tuple[Backend, ...], ...]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def backed_by(self, deployments: Collection[str]) -> bool:
        """Some backend has pods of one of ``deployments``."""
        return any(b.ready.keys() & set(deployments) for rule in self.rules for b in rule)


@dataclass(frozen=True)
class RouteCapacity:
    """One route before and after: ready pods behind weight > 0, the rules that go dark,
    and each weighted backend as ``name ready@weight -> ready@weight``."""

    route: str
    before: int
    after: int
    dark: tuple[int, ...]
    unknown: tuple[str, ...]
    backends: tuple[str, ...]

    def line(self) -> str:
        """``checkout/checkout: 4 ready pod(s) behind weight -> 1 (checkout-stable 3@90 ->
        0@0, checkout-canary 1@10 -> 1@100)``."""
        text = (f"{self.route}: {self.before} ready pod(s) behind weight -> {self.after}"
                f" ({', '.join(self.backends)})")
        if self.dark:
            text += ": NO READY BACKEND after (rule " + ", ".join(map(str, self.dark)) + ")"
        for why in self.unknown:
            text += f"; {why}"
        return clean(text, 600)


def _weight(b: Backend, weights: Mapping[str, int] | None) -> int:
    return weights.get(b.name, b.weight) if weights is not None else b.weight


def capacity(route: RouteTraffic, leaving: Collection[str],
             weights: Mapping[str, int] | None = None) -> RouteCapacity:
    """``route`` before, and after the ``leaving`` Deployments are scaled to 0 and its
    weights set to ``weights`` (by backend name in every rule, as the shift sends them)."""
    dark: list[int] = []
    unknown: list[str] = []
    before: dict[str, int] = {}
    after: dict[str, int] = {}
    shown: dict[str, str] = {}
    for i, rule in enumerate(route.rules):
        served = left = 0
        maybe = False
        for b in rule:
            new = _weight(b, weights)
            if b.weight > 0:
                served += b.total()
                before[b.key] = b.total()
            if new > 0:
                left += b.ready_without(leaving)
                after[b.key] = b.ready_without(leaving)
                maybe = maybe or bool(b.unknown)
            if b.unknown and (b.weight > 0 or new > 0):
                note = f"{b.name}: {b.unknown}"
                if note not in unknown:
                    unknown.append(note)
            shown.setdefault(b.key, f"{b.name} {b.total()}@{b.weight} -> "
                                    f"{b.ready_without(leaving)}@{new}")
        if served > 0 and left == 0 and not maybe:
            dark.append(i)
    return RouteCapacity(route.key, sum(before.values()), sum(after.values()), tuple(dark),
                         tuple(unknown), tuple(shown.values()))


@dataclass
class Protection:
    """The planner's answer (:func:`protect`): Deployments held back with why, and per
    route the weights to set first (backend name -> weight) with why."""

    held: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    """Deployment ``ns/name`` -> (why, the routes it would have emptied)."""
    shifts: dict[str, dict[str, int]] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _best(candidates: Iterable[Backend], leaving: Collection[str]) -> Backend | None:
    """The backend to take the weight: the most ready pods left, then already weighted,
    then by name (stable)."""
    ranked = sorted(candidates, key=lambda b: (-b.ready_without(leaving), b.weight <= 0,
                                               b.name))
    return ranked[0] if ranked else None


def _hold_one(routes: Iterable[RouteTraffic], leaving: set[str], allowed: Collection[str],
              fixed: Mapping[str, Mapping[str, int]]) -> tuple[str, str, str] | None:
    """The first Deployment that must be held: (deployment, route, why), or None. A rule
    where leaving Deployments take away ready pods and no healthy backend is left gets its
    largest leaving Deployment held (then the others may shift onto it). On a route whose
    weights the runbook sets (``fixed``), what counts is whether those weights leave a rule
    dark."""
    for route in routes:
        if route.key in allowed:
            continue
        weights = fixed.get(route.key)
        dark = capacity(route, leaving, weights).dark if weights is not None else ()
        for i, rule in enumerate(route.rules):
            going = [b for b in rule if b.weight > 0 and b.ready.keys() & leaving]
            lost = {owner: n for b in going for owner, n in b.ready.items()
                    if owner in leaving and n > 0}
            if not lost:
                continue  # nothing that serves goes away here
            if weights is not None:
                if i not in dark:
                    continue  # the runbook's weights keep it serving
            elif any(b.healthy_without(leaving) for b in rule):
                continue  # the weight can move there
            deployment = sorted(lost, key=lambda owner: (-lost[owner], owner))[0]
            serving = any(b.weight > 0 and not b.unknown and b.ready_without(leaving) > 0
                          for b in rule)
            unknown = [b.name for b in rule if b.weight > 0 and b.unknown]
            if serving:
                why = (f"no healthy backend of {route.key} can take its weight (what is left "
                       "crash-loops)")
            elif unknown:
                why = (f"no backend of {route.key} known to be ready can take its weight "
                       f"({', '.join(unknown)}: readiness not counted)")
            else:
                why = f"would leave {route.key} with no ready backend"
            return deployment, route.key, why
    return None


def protect(routes: Collection[RouteTraffic], scale: Collection[str], *,
            allowed: Collection[str] = (),
            fixed: Mapping[str, Mapping[str, int]] | None = None) -> Protection:
    """Which of the ``scale`` Deployments to hold, and which weights to shift first, so
    that no route outside ``allowed`` goes dark (module doc). Routes in ``fixed`` (route
    -> weights) have their weights set by the runbook: never shifted here, and judged with
    those weights."""
    out = Protection()
    fixed = fixed or {}
    leaving = set(scale)
    while (found := _hold_one(routes, leaving, allowed, fixed)) is not None:
        deployment, route_key, why = found
        leaving.discard(deployment)
        prior = out.held.get(deployment)
        out.held[deployment] = (prior[0] if prior else why,
                                (*(prior[1] if prior else ()), route_key))
    for route in routes:
        if route.key in fixed:
            continue
        per_rule: list[dict[str, int]] = []
        moves: list[str] = []
        for rule in route.rules:
            emptied = [b for b in rule if b.weight > 0 and b.emptied_by(leaving)]
            if not emptied:
                continue
            target = _best((b for b in rule if b.healthy_without(leaving)
                            and b not in emptied), leaving)
            if target is None:
                continue  # serves nothing now either (or accepted): nothing to move to
            moved = sum(b.weight for b in emptied)
            new = {b.name: 0 for b in emptied}
            new[target.name] = min(MAX_WEIGHT, target.weight + moved)
            per_rule.append(new)
            moves.append(f"weight {moved} of {', '.join(b.name for b in emptied)} to "
                         f"{target.name} ({target.ready_without(leaving)} ready pod(s))")
        if not per_rule:
            continue
        merged: dict[str, int] = {}
        clash = False
        for new in per_rule:
            for name, w in new.items():
                clash = clash or merged.get(name, w) != w
                merged[name] = w
        if clash:
            out.notes.append(f"HTTPRoute {route.key}: the same backend needs different "
                             "weights in different rules; not shifted (set them with w)")
            continue
        out.shifts[route.key] = merged
        out.why[route.key] = "keeps it serving before the scale-down: " + "; ".join(moves)
    return out
