"""The circuit breaker's plan: which objects it touches, in which phase, and what blocks it.

Why a separate module: :mod:`backends.ops.breaker` runs, releases and watches a breaker; this
module only decides *what* a breaker would do, without writing anything, so the plan screen
can show it and the operator can edit it before a single byte is sent. The plan itself is a
value (:mod:`backends.ops.breaker_model`, re-exported here under the names this module has
always had); this module fills it.

Scope, and why each rule:

- From the config (``[breaker]``, :class:`BreakerConfig`) when there is one: an incident
  runbook decided in calm times beats a guess made during the incident.
- Without a config, a *proposal* from the store: Applications whose health is Degraded and
  Deployments that crash-loop or have fewer ready replicas than desired. A Deployment in the
  middle of a rollout whose old ReplicaSet still serves is proposed for a rollout *pause*
  (``spec.paused``), not a scale to 0: scaling it would take away the pods that still serve
  (:func:`~backends.ops.breaker_traffic.stalled_rollout`).
- Traffic-aware, config or not: every HTTPRoute backed by a Deployment to scale down is read
  live down to its ready pods (:mod:`backends.ops.breaker_traffic`). Before a scale-down
  empties a weighted backend, the weight moves to a healthy backend of the same rule (a
  shift target, verified by the route's status, engaged before the scale phase); where none
  exists and the scale would take away serving pods, that Deployment is held back, unchecked,
  with why ("would leave checkout/checkout with no ready backend"), unless the route is
  accepted as a loss (``allow_no_backend``: the config, ``--allow-no-backend``, the plan
  screen). Routes the config shifts keep the config's weights. The plan carries the routes,
  so the capacity before/after and the refusal of a dark route follow every edit
  (:mod:`backends.ops.breaker_model`).
- Every Argo CD app that tracks a Deployment to scale or a route to shift, and has auto-sync
  on, is added to the freeze phase even when nobody listed it: with selfHeal on, a scale-down
  without the pause is reverted within seconds (operations.md section 1), which is the trap
  the breaker exists to avoid. The operator may still exclude it; the plan then warns.

A target RBAC forbids (:meth:`~backends.ops.gate.WriteGate.can`, via each planner's
``check_access``) is listed by name in :attr:`BreakerPlan.blocked`, and the breaker refuses to
engage until the operator excludes it.

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
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from backends.breaker_scope import (
    DEFAULT_APP_NAMESPACE,
    BreakerConfig,
    RouteShift,
)
from backends.kube.errors import KubeError
from backends.model import AppRow, DeploymentRow
from backends.ops.breaker_capacity import protect
from backends.ops.breaker_model import (
    BREAKER_ANNOTATION,
    MARK_STEP,
    OPERATION_PREFIX,
    PHASE_KIND,
    PHASE_STEPS,
    PHASES,
    BreakerPlan,
    BreakerTarget,
    Phase,
    is_breaker_operation,
    mark_value,
    parse_mark,
)
from backends.ops.journal import JournalError
from backends.podproblem import is_crashing
from backends.sanitize import clean
from backends.store import Store

if TYPE_CHECKING:
    from backends.ops.argocd import ArgoOptions
    from backends.ops.gate import WriteGate
    from backends.ops.plan import Poll, Reader

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
    "is_breaker_operation",
    "mark_value",
    "parse_mark",
    "plan_engage",
    "propose",
]

_PARALLEL: Final = 16
"""Planning reads at most this many objects at once: fast, without hammering the API server
in the middle of an incident."""

T = TypeVar("T")


# --------------------------------------------------------------------------- proposal


def _crash_looping(store: Store) -> dict[str, str]:
    """Deployment key -> why, for Deployments with failing pods (CrashLoopBackOff, Error,
    restarts rising since the store first saw them)."""
    out: dict[str, str] = {}
    for pod_key, reason in sorted(store.problem_pods().items()):
        if not is_crashing(reason):
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

    path = {"freeze": app_path, "pause": deploy_path, "shift": route_path,
            "scale": deploy_path}[target.phase](target.namespace, target.name)
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
    from backends.ops.rollout_pause import plan_pause_rollout
    from backends.ops.traffic import plan_shift
    from backends.ops.workloads import plan_scale

    try:
        if target.phase == "freeze":
            target.plan = await plan_pause(conn, gate, target.namespace, target.name,
                                           options=options)
        elif target.phase == "pause":
            target.plan = await plan_pause_rollout(
                conn, gate, target.namespace, target.name,
                title=f"Pause the rollout of {target.namespace}/{target.name}")
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
    allow_no_backend: Iterable[tuple[str, str]] = (),
) -> BreakerPlan:
    """Plan a circuit breaker (module doc): read every target live, plan each write with
    the action modules' planners (concurrently), check RBAC. Never writes.

    ``poll`` paces the route verifications (tests on a manual clock pass one that advances
    scenario time); ``shift_timeout`` bounds each route's wait for its new
    ``observedGeneration`` to be Accepted and ResolvedRefs. ``allow_no_backend``: routes the
    operator accepts leaving with no ready backend (with the config's own).
    """
    from backends.ops.argocd import DEFAULTS, list_applications

    options = options or DEFAULTS
    allowed = {f"{ns}/{n}" for ns, n in allow_no_backend}
    if config is not None:
        allowed |= {f"{ns}/{n}" for ns, n in config.allowed_dark_routes()}
    plan = BreakerPlan(context=gate.policy.context, proposed=config is None, poll=poll,
                       reader=conn, allow_no_backend=allowed)
    targets: list[BreakerTarget] = []
    if config is None:
        if store is None:
            plan.info.append("no [breaker] config and no live state: nothing to propose")
        else:
            apps, deployments = propose(store)
            targets += [BreakerTarget("freeze", ns, n, why) for ns, n, why in apps]
            targets += [BreakerTarget("scale", ns, n, why) for ns, n, why in deployments]
            plan.info.append("targets proposed from the live state (Degraded apps, "
                             "crash-looping or mismatched Deployments; a stalled rollout "
                             "whose old ReplicaSet serves is paused, not scaled)")
    else:
        targets += [BreakerTarget("freeze", ns, n, "configured") for ns, n in config.app_refs()]
        for shift in config.routes:
            ns, n = shift.ref
            targets.append(BreakerTarget("shift", ns, n, "configured",
                                         weights=dict(shift.weights)))
        targets += [BreakerTarget("scale", ns, n, "configured")
                    for ns, n in config.deployment_refs()]

    objs = await _gather([_read(conn, t) for t in targets])
    if config is None:
        await _gather([_pause_stalled(conn, t, obj) for t, obj in zip(targets, objs, strict=True)
                       if t.phase == "scale" and obj is not None])
    added = await _keep_routes_serving(conn, plan, targets, config)
    targets += added
    objs += await _gather([_read(conn, t) for t in added])
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
    auto-sync on into the freeze phase (before its first scale or shift target). Such an
    app follows the targets it was added for (:attr:`BreakerTarget.protects`): one added
    only for targets that are held back starts excluded, and is included with them."""
    from backends.ops.argocd import auto_sync_state, find_tracking_app

    frozen = {(t.namespace, t.name) for t in targets if t.phase == "freeze"}
    added: dict[tuple[str, str], BreakerTarget] = {}
    for t, obj in zip(list(targets), objs, strict=True):
        if obj is None or t.phase == "freeze":
            continue
        group, kind = (("gateway.networking.k8s.io", "HTTPRoute") if t.phase == "shift"
                       else ("apps", "Deployment"))
        app, how = find_tracking_app(apps, obj, group, kind)
        if app is None:
            continue
        meta = app.get("metadata") or {}
        ref = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        t.managed_by = ref
        t.managed_auto_sync = auto_sync_state(app) == "on"
        if t.managed_auto_sync and ref in added:
            added[ref].include = added[ref].include or t.include
            added[ref].protects += (t.key,)
        elif t.managed_auto_sync and ref not in frozen:
            frozen.add(ref)
            added[ref] = BreakerTarget(
                "freeze", *ref, f"tracks {kind} {t.namespace}/{t.name} ({how}) with auto-sync "
                "on: it would revert the change", include=t.include, protects=(t.key,))
    targets[:0] = list(added.values())


async def _pause_stalled(conn: Reader, target: BreakerTarget, deploy: dict[str, Any]) -> None:
    """A proposed scale-down of a Deployment whose rollout stalled while its old
    ReplicaSet still serves becomes a rollout pause (module doc)."""
    from backends.ops.breaker_traffic import stalled_rollout
    from backends.ops.plan import PlanError
    from backends.ops.workloads import _owned_replicasets

    try:
        why = stalled_rollout(deploy, await _owned_replicasets(conn, deploy))
    except (PlanError, KubeError) as exc:
        target.why += f" (its ReplicaSets could not be read: {clean(exc, 200)})"
        return
    if why:
        target.phase = "pause"
        target.why = f"{why}; {target.why}"


async def _keep_routes_serving(conn: Reader, plan: BreakerPlan, targets: list[BreakerTarget],
                               config: BreakerConfig | None) -> list[BreakerTarget]:
    """Read the routes behind the Deployment targets into the plan, hold back the
    scale-downs that would leave a route dark, and return the shift targets that move
    weight off the backends the others empty (module doc)."""
    from backends.ops.breaker_traffic import read_routes

    deployments = [t for t in targets if t.phase in ("scale", "pause") and not t.error]
    namespaces = {t.namespace for t in deployments}
    fixed = {f"{t.namespace}/{t.name}": t.weights for t in targets if t.phase == "shift"}
    namespaces |= {route.partition("/")[0] for route in fixed}
    plan.routes, notes = await read_routes(conn, namespaces)
    plan.info += notes
    scale = [f"{t.namespace}/{t.name}" for t in deployments if t.phase == "scale"]
    answer = protect(plan.routes, scale, allowed=plan.allow_no_backend, fixed=fixed)
    plan.info += answer.notes
    for t in deployments:
        held = answer.held.get(f"{t.namespace}/{t.name}")
        if held is not None and t.phase == "scale":
            t.held, t.held_routes = held[0], held[1]
            t.include = False
    added = []
    for route, weights in answer.shifts.items():
        ns, _, name = route.partition("/")
        backing = next(r for r in plan.routes if r.key == route)
        protects = tuple(t.key for t in deployments if t.phase == "scale"
                         and backing.backed_by([f"{t.namespace}/{t.name}"]))
        added.append(BreakerTarget("shift", ns, name, answer.why[route], weights=weights,
                                   protects=protects,
                                   include=any(t.include for t in deployments
                                               if t.key in protects)))
    return added


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
