"""The circuit breaker's plan: which objects it touches, in which phase, and what blocks it.

Why a separate module: :mod:`backends.ops.breaker` runs, releases and watches a breaker; this
module only decides *what* a breaker would do, without writing anything, so the plan screen
can show it and the operator can edit it before a single byte is sent.

Scope, and why each rule:

- From the config (``[breaker]``, :class:`BreakerConfig`) when there is one: an incident
  runbook decided in calm times beats a guess made during the incident.
- Without a config, a *proposal* from the store: Applications whose health is Degraded and
  Deployments that crash-loop or have fewer ready replicas than desired. No traffic shift is
  ever proposed: sending traffic somewhere is a decision about capacity that only a human (or
  the runbook) can make.
- Every Argo CD app that tracks a Deployment to scale or a route to shift, and has auto-sync
  on, is added to the freeze phase even when nobody listed it: with selfHeal on, a scale-down
  without the pause is reverted within seconds (operations.md section 1), which is the trap
  the breaker exists to avoid. The operator may still exclude it; the plan then warns.

Targets are plain values with an ``include`` flag: the UI toggles them and the checks
(:attr:`BreakerPlan.refusals`) are recomputed from what is included. A target RBAC forbids
(:meth:`~backends.ops.gate.WriteGate.can`, via each planner's ``check_access``) is listed by
name in :attr:`BreakerPlan.blocked`, and the breaker refuses to engage until the operator
excludes it: a breaker that stops halfway at a 403 is worse than a smaller one that holds.

The planners are the action modules' own (:func:`~backends.ops.argocd.plan_pause`,
:func:`~backends.ops.traffic.plan_shift`, :func:`~backends.ops.workloads.plan_scale`), so
the breaker's writes are exactly the ones the single actions send, with the same
verification and the same prior state in the journal. They are imported where they are
used, not at the top: ``backends.config`` embeds :class:`BreakerConfig` as ``[breaker]``,
and the action modules import the gate, which imports ``backends.config`` (a cycle at
start-up otherwise).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, TypeVar

from backends.breaker_scope import (
    DEFAULT_APP_NAMESPACE,
    BreakerConfig,
    RouteShift,
)
from backends.kube.errors import KubeError
from backends.model import AppRow, DeploymentRow
from backends.ops.journal import JournalError
from backends.sanitize import clean
from backends.store import Store

if TYPE_CHECKING:
    from backends.ops.argocd import ArgoOptions
    from backends.ops.gate import WriteGate
    from backends.ops.plan import Plan, Poll, Reader

__all__ = [
    "BREAKER_ANNOTATION",
    "DEFAULT_APP_NAMESPACE",
    "MARK_STEP",
    "OPERATION_PREFIX",
    "PHASES",
    "PHASE_KIND",
    "PHASE_STEPS",
    "BreakerConfig",
    "BreakerPlan",
    "BreakerTarget",
    "Phase",
    "RouteShift",
    "fill_store",
    "is_breaker_operation",
    "mark_value",
    "parse_mark",
    "plan_engage",
    "propose",
]

BREAKER_ANNOTATION: Final = "controlroom.io/breaker"
"""On every object a breaker changed: ``{"operation", "by", "since"}``, so anyone (kubectl,
another operator's control room) sees why production looks like this and who to ask."""
OPERATION_PREFIX: Final = "breaker-"
"""Journal operation ids of breakers start with this: status and release find them by it."""
MARK_STEP: Final = "breaker-mark"
"""Journal step of a separate annotation write (the ``scale`` subresource cannot carry one)."""

Phase: TypeAlias = Literal["freeze", "shift", "scale"]
PHASES: Final[tuple[Phase, ...]] = ("freeze", "shift", "scale")
"""Engage order; release runs it backwards. Freeze first, because selfHeal reverts the rest."""
PHASE_KIND: Final[dict[Phase, str]] = {"freeze": "Application", "shift": "HTTPRoute",
                                       "scale": "Deployment"}
PHASE_STEPS: Final[dict[str, Phase]] = {"pause-auto-sync": "freeze", "shift-traffic": "shift",
                                        "scale-down": "scale"}
"""The planners' journal steps that make up a breaker, by phase."""

_PARALLEL: Final = 16
"""Planning reads at most this many objects at once: fast, without hammering the API server
in the middle of an incident."""

T = TypeVar("T")


# --------------------------------------------------------------------------- values


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
    """

    context: str
    targets: list[BreakerTarget] = field(default_factory=list)
    proposed: bool = False
    notes: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    poll: Poll | None = None
    reader: Reader | None = field(default=None, repr=False)
    """The connection planned with: the annotation writes verify through it."""

    def target(self, key: str) -> BreakerTarget:
        for t in self.targets:
            if t.key == key:
                return t
        raise KeyError(f"no breaker target {key!r}; targets: "
                       + ", ".join(t.key for t in self.targets))

    def include(self, key: str, included: bool = True) -> BreakerTarget:
        """Include (or exclude) a target; returns it."""
        t = self.target(key)
        t.include = included
        return t

    def exclude(self, key: str) -> BreakerTarget:
        return self.include(key, False)

    def included(self, phase: Phase | None = None) -> list[BreakerTarget]:
        return [t for t in self.targets if t.include and (phase is None or t.phase == phase)]

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
        out = [*self.blocked, *self.errors]
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
                   warnings=self.warnings, blocked=[*self.blocked, *self.errors],
                   info=list(self.info))
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
                if t.error:
                    state = f"cannot plan: {t.error}"
                elif t.empty:
                    state = "already in the emergency state"
                elif t.blocked:
                    state = "BLOCKED"
                else:
                    state = "; ".join(w.title for w in t.plan.writes) if t.plan else ""
                lines.append(f"    {box} {t.namespace}/{t.name} ({clean(t.why, 120)}): "
                             f"{clean(state, 300)}")
        lines += [f"  warning: {clean(w, 400)}" for w in self.warnings]
        lines += [f"  refused: {clean(r, 400)}" for r in self.refusals]
        return "\n".join(lines)


# --------------------------------------------------------------------------- proposal


def _crash_looping(store: Store) -> dict[str, str]:
    """Deployment key -> why, for Deployments with failing pods (CrashLoopBackOff, Error,
    restarts rising since the store first saw them)."""
    out: dict[str, str] = {}
    for pod_key, reason in sorted(store.problem_pods().items()):
        if not any(s in reason for s in ("CrashLoopBackOff", "Error", "restarts +")):
            continue
        deployment = store.deployment_of_pod(pod_key)
        if deployment is not None and deployment not in out:
            out[deployment] = f"pod {pod_key.partition('/')[2]}: {reason}"
    return out


def propose(store: Store) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """Targets for a breaker without a config, from the live state: ``(apps, deployments)``
    as ``(namespace, name, why)``. Apps: health Degraded. Deployments: crash-looping pods, or
    fewer ready replicas than desired (a Deployment already at 0 is left alone)."""
    apps = [(r.namespace, r.name, "health Degraded"
             + (f": {r.health_message}" if r.health_message else ""))
            for r in store.rows("applications").values()
            if isinstance(r, AppRow) and r.health_status == "Degraded"]
    crashing = _crash_looping(store)
    deployments = []
    for key, row in store.rows("deployments").items():
        if not isinstance(row, DeploymentRow) or row.desired <= 0:
            continue
        why = crashing.get(key)
        if why is None and row.ready < row.desired:
            why = f"replica mismatch: {row.ready}/{row.desired} ready"
            if row.progressing_reason == "ProgressDeadlineExceeded":
                why += ", ProgressDeadlineExceeded"
        elif why is not None:
            why = f"crash-looping ({why})"
        if why is not None:
            deployments.append((row.namespace, row.name, why))
    return sorted(apps), sorted(deployments)


_FILL_PATHS: Final[dict[str, str]] = {
    "applications": "/apis/argoproj.io/v1alpha1/applications",
    "deployments": "/apis/apps/v1/deployments",
    "replicasets": "/apis/apps/v1/replicasets",
    "pods": "/api/v1/pods",
    "httproutes": "/apis/gateway.networking.k8s.io/v1/httproutes",
}


async def fill_store(conn: Reader, store: Store) -> list[str]:
    """List what the breaker's proposal and drift watchdog read into ``store`` (one list
    per kind): for the CLI and tests, which run no watch sources. Returns the kinds that
    could not be listed (the proposal then has less to go on; it says so)."""
    from backends.kube.decode import DecodeError, decode_list

    missing: list[str] = []
    for kind, path in _FILL_PATHS.items():
        try:
            page = decode_list(kind, await conn.get_raw(path))
        except (KubeError, DecodeError) as exc:
            missing.append(f"{kind}: {clean(exc, 200)}")
            continue
        store.replace(kind, page.rows, keep=page.failed_keys)
    return missing


# --------------------------------------------------------------------------- planning


async def _gather(jobs: Iterable[Awaitable[T]]) -> list[T]:
    """Await ``jobs`` concurrently, at most :data:`_PARALLEL` at once, results in order."""
    limit = asyncio.Semaphore(_PARALLEL)

    async def one(job: Awaitable[T]) -> T:
        async with limit:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


async def _read(conn: Reader, target: BreakerTarget) -> dict[str, Any] | None:
    """The live object (annotations, tracking); a read failure becomes the target's error."""
    from backends.ops.argocd import app_path
    from backends.ops.plan import PlanError, get_json
    from backends.ops.traffic import route_path
    from backends.ops.workloads import deploy_path

    path = {"freeze": app_path, "shift": route_path, "scale": deploy_path}[target.phase](
        target.namespace, target.name)
    try:
        obj: dict[str, Any] = await get_json(conn, path,
                                             f"{target.kind} {target.namespace}/{target.name}")
    except PlanError as exc:
        target.error = str(exc)
        return None
    annotations = (obj.get("metadata") or {}).get("annotations")
    target.annotations = dict(annotations) if isinstance(annotations, dict) else None
    return obj


async def _plan_one(conn: Reader, gate: WriteGate, target: BreakerTarget, *,
                    options: ArgoOptions, poll: Poll | None, shift_timeout: float) -> None:
    from backends.ops.argocd import plan_pause
    from backends.ops.plan import PlanError
    from backends.ops.traffic import plan_shift
    from backends.ops.workloads import plan_scale

    try:
        if target.phase == "freeze":
            target.plan = await plan_pause(conn, gate, target.namespace, target.name,
                                           options=options)
        elif target.phase == "shift":
            target.plan = await plan_shift(conn, gate, target.namespace, target.name,
                                           target.weights, timeout=shift_timeout, poll=poll)
        else:
            target.plan = await plan_scale(conn, gate, target.namespace, target.name, 0,
                                           title=f"Scale {target.namespace}/{target.name} to 0")
    except PlanError as exc:
        target.error = str(exc)
    except KubeError as exc:
        target.error = f"could not plan: {clean(exc, 300)}"


async def _mark_access(gate: WriteGate, target: BreakerTarget) -> None:
    """A separate annotation write is a plain ``patch`` of the object (for a Deployment:
    ``deployments``, which RBAC may refuse to an on-call allowed ``deployments/scale``):
    when refused, skip the annotation rather than block the breaker on a label."""
    group, resource = (("apps", "deployments") if target.phase == "scale"
                       else ("gateway.networking.k8s.io", "httproutes"))
    access = await gate.can("patch", group, resource, "", target.namespace)
    if access.checked and not access.allowed:
        target.mark_blocked = (f"annotation {BREAKER_ANNOTATION} not written: patch "
                               f"{resource} in {target.namespace}: {access.reason} (the "
                               "journal records the breaker all the same)")


async def plan_engage(
    conn: Reader,
    gate: WriteGate,
    store: Store | None,
    config: BreakerConfig | None,
    *,
    options: ArgoOptions | None = None,
    poll: Poll | None = None,
    shift_timeout: float = 60.0,
) -> BreakerPlan:
    """Plan a circuit breaker (module doc): read every target live, plan each write with
    the action modules' planners (concurrently), check RBAC. Never writes.

    ``poll`` paces the route verifications (tests on a manual clock pass one that advances
    scenario time); ``shift_timeout`` bounds each route's wait for its new
    ``observedGeneration`` to be Accepted and ResolvedRefs.
    """
    from backends.ops.argocd import DEFAULTS, list_applications

    options = options or DEFAULTS
    plan = BreakerPlan(context=gate.policy.context, proposed=config is None, poll=poll,
                       reader=conn)
    targets: list[BreakerTarget] = []
    if config is None:
        if store is None:
            plan.info.append("no [breaker] config and no live state: nothing to propose")
        else:
            apps, deployments = propose(store)
            targets += [BreakerTarget("freeze", ns, n, why) for ns, n, why in apps]
            targets += [BreakerTarget("scale", ns, n, why) for ns, n, why in deployments]
            plan.info.append("targets proposed from the live state (Degraded apps, "
                             "crash-looping or mismatched Deployments); no traffic shift "
                             "without a [breaker] config")
    else:
        targets += [BreakerTarget("freeze", ns, n, "configured") for ns, n in config.app_refs()]
        for shift in config.routes:
            ns, n = shift.ref
            targets.append(BreakerTarget("shift", ns, n, "configured",
                                         weights=dict(shift.weights)))
        targets += [BreakerTarget("scale", ns, n, "configured")
                    for ns, n in config.deployment_refs()]

    objs = await _gather([_read(conn, t) for t in targets])
    listed, why_not = await list_applications(conn)
    if listed is None:
        plan.info.append(f"{why_not}: the apps tracking the targets were not looked up")
    else:
        _add_managing_apps(targets, objs, listed)
    await _gather([_plan_one(conn, gate, t, options=options, poll=poll,
                             shift_timeout=shift_timeout) for t in targets if not t.error])
    await _gather([_mark_access(gate, t)
                   for t in targets if t.separate_mark and t.plan and t.plan.writes])
    for t in targets:
        if t.mark_blocked:
            plan.info.append(f"{t.label}: {t.mark_blocked}")
    order = {p: i for i, p in enumerate(PHASES)}
    plan.targets = sorted(targets, key=lambda t: order[t.phase])
    await _note_engaged(gate, plan)
    return plan


def _add_managing_apps(targets: list[BreakerTarget], objs: list[dict[str, Any] | None],
                       apps: list[dict[str, Any]]) -> None:
    """Record the tracking app of each Deployment and route, and put every such app with
    auto-sync on into the freeze phase (before its first scale or shift target)."""
    from backends.ops.argocd import auto_sync_state, find_tracking_app

    frozen = {(t.namespace, t.name) for t in targets if t.phase == "freeze"}
    added: list[BreakerTarget] = []
    for t, obj in zip(list(targets), objs, strict=True):
        if obj is None or t.phase == "freeze":
            continue
        group, kind = (("apps", "Deployment") if t.phase == "scale"
                       else ("gateway.networking.k8s.io", "HTTPRoute"))
        app, how = find_tracking_app(apps, obj, group, kind)
        if app is None:
            continue
        meta = app.get("metadata") or {}
        ref = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        t.managed_by = ref
        t.managed_auto_sync = auto_sync_state(app) == "on"
        if t.managed_auto_sync and ref not in frozen:
            frozen.add(ref)
            added.append(BreakerTarget(
                "freeze", *ref, f"tracks {kind} {t.namespace}/{t.name} ({how}) with auto-sync "
                "on: it would revert the change"))
    targets[:0] = added


async def _note_engaged(gate: WriteGate, plan: BreakerPlan) -> None:
    """Warn when a breaker is already engaged here: a second one records the first one's
    emergency state as its "prior", so release must run newest first (it does)."""
    journal = gate.journal
    if journal is None:
        return
    try:
        ops = await journal.open_operations(plan.context)
    except JournalError as exc:  # a warning must not stop planning
        plan.info.append(f"could not read the journal for engaged breakers: {clean(exc, 200)}")
        return
    for op in ops:
        if is_breaker_operation(op.operation_id):
            plan.notes.append(f"breaker {op.operation_id} is already engaged on "
                              f"{plan.context} (since {op.started:%Y-%m-%d %H:%M:%SZ}): "
                              "release it first, or release both later (newest first)")


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
