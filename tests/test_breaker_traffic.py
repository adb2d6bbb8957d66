"""The traffic-aware breaker on the drill (issue 14, point 1): engaging the breaker proposed
from the live state never leaves a route that served without ready backends behind its
weights, and release puts every field back exactly.

The cluster is judged from its objects, not from the planner's own arithmetic: each route's
weights, each backend Service's selector, the pods it selects and their Ready condition
(:func:`serving`), so a Service named unlike its Deployment counts the same way. Scenario
time moves only when a test (or a verification's ``sim_poll``) advances it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from backends.config import Settings
from backends.kube.connection import connect
from backends.ops.breaker import (
    BREAKER_ANNOTATION,
    BreakerConfig,
    detect_drift,
    engage,
    plan_engage,
    release,
)
from backends.ops.journal import Journal
from backends.usecases import breaker as usecase
from backends.usecases.baseline import list_cluster
from drill.runner import DrillCluster, DrillOptions
from tests.ops_support import (
    APPS,
    CONFIRM,
    CTX,
    DEPLOY,
    PODS,
    REASON,
    ROUTES,
    SERVICES,
    drill_options,
    gate_for,
    replicas,
    sim_poll,
    started,
    writes_seen,
)
from tests.usecase_support import workspace

SCENARIOS = [("bad-rollout", 60.0), ("route-misconfig", 60.0), ("node-loss", 60.0)]
"""Each scenario at the moment an on-call engineer presses ctrl+b: checkout-stable
crash-looping mid-rollout (its old ReplicaSet serving), a mistyped backend answering 500s, a
user node lost with its pods on the way elsewhere."""


async def _at(tmp: Path, scenario: str, seconds: float) -> DrillCluster:
    cluster = await started(DrillOptions(kubeconfig=tmp / "kubeconfig", scenario=scenario,
                                         manual_clock=True, bookmark_interval=0.2))
    cluster.sim.advance(seconds)
    return cluster


# --------------------------------------------------------------------------- the cluster's view


def _ready(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or [])


def serving(cluster: DrillCluster) -> dict[tuple[str, int], dict[str, tuple[int, int]]]:
    """(route, rule) -> backend -> (weight, ready pods the backend's Service selects)."""
    out: dict[tuple[str, int], dict[str, tuple[int, int]]] = {}
    for route in cluster.state.readable(ROUTES):
        meta = route["metadata"]
        for i, rule in enumerate(route["spec"].get("rules") or []):
            row = out.setdefault((f"{meta['namespace']}/{meta['name']}", i), {})
            for ref in rule.get("backendRefs") or []:
                ns = ref.get("namespace", meta["namespace"])
                svc = cluster.state.find_readable(SERVICES, ns, ref["name"])
                ready = 0
                selector = (svc or {}).get("spec", {}).get("selector") or {}
                if selector:
                    ready = sum(1 for p in cluster.state.readable(PODS)
                                if p["metadata"]["namespace"] == ns and _ready(p)
                                and all((p["metadata"].get("labels") or {}).get(k) == v
                                        for k, v in selector.items()))
                row[ref["name"]] = (int(ref.get("weight", 1)), ready)
    return out


def assert_still_serving(before: dict[tuple[str, int], dict[str, tuple[int, int]]],
                         after: dict[tuple[str, int], dict[str, tuple[int, int]]]) -> None:
    """Every rule that had ready pods behind weight > 0 still has; and no backend that
    served is left with weight and nothing ready (its share would fail: 503)."""
    for key, backends in before.items():
        if not any(w > 0 and n > 0 for w, n in backends.values()):
            continue
        now = after[key]
        assert any(w > 0 and n > 0 for w, n in now.values()), (key, backends, now)
        for name, (w, n) in now.items():
            if w > 0 and backends[name][1] > 0:
                assert n > 0, f"{key}: {name} served {backends[name]} and now {(w, n)}"


def fields(cluster: DrillCluster) -> dict[str, Any]:
    """What a breaker may change, everywhere: replicas and spec.paused of every Deployment,
    auto-sync of every app, the backends of every route, and where the annotation is."""
    return copy.deepcopy({
        "deploy": {f"{d['metadata']['namespace']}/{d['metadata']['name']}":
                   (d["spec"].get("replicas"), d["spec"].get("paused", "absent"))
                   for d in cluster.state.readable(DEPLOY)},
        "apps": {a["metadata"]["name"]: a["spec"].get("syncPolicy")
                 for a in cluster.state.readable(APPS)},
        "routes": {f"{r['metadata']['namespace']}/{r['metadata']['name']}":
                   [rule.get("backendRefs") for rule in r["spec"].get("rules") or []]
                   for r in cluster.state.readable(ROUTES)},
        "marked": sorted(f"{o['metadata'].get('namespace')}/{o['metadata']['name']}"
                         for rt in (DEPLOY, APPS, ROUTES) for o in cluster.state.readable(rt)
                         if BREAKER_ANNOTATION in (o["metadata"].get("annotations") or {})),
    })


# --------------------------------------------------------------------------- the scenarios


@pytest.mark.parametrize(("scenario", "at"), SCENARIOS, ids=[s for s, _ in SCENARIOS])
async def test_the_proposed_breaker_keeps_every_serving_route_serving(
        tmp_path: Path, journal: Journal, scenario: str, at: float) -> None:
    """No [breaker] config: engage what the breaker proposes, let the platform run, and
    read the routes back from the cluster; then release and compare every field."""
    cluster = await _at(tmp_path, scenario, at)
    try:
        before = serving(cluster)
        prior = fields(cluster)
        assert prior["marked"] == []
        async with await connect(str(cluster.kubeconfig), None) as conn:
            ws, _ = workspace(conn, journal)
            poll = sim_poll(cluster)
            action = await usecase.plan_engage(ws, poll=poll)
            plan = action.plan
            text = plan.describe()
            if plan.ready:
                result = await usecase.engage(ws, action, reason=REASON, confirm=CONFIRM)
                assert result.ok, result.summary()
            else:
                assert plan.refusals == ["nothing to do: no included target needs a change"]
            cluster.sim.advance(30)
            assert_still_serving(before, serving(cluster))

            # What the plan said: the capacity per route, and why.
            assert plan.proposed and "routes (ready pods behind weight, before -> after)" \
                in text, text
            for cap in plan.capacity():
                assert not cap.dark, cap.line()
            if scenario == "bad-rollout":
                # The concrete failing case: checkout-stable, 90 % of checkout/checkout, is
                # paused (its old ReplicaSet keeps serving), never scaled to 0.
                assert [t.key for t in plan.included()] == [
                    "freeze:argocd/checkout", "pause:checkout/checkout-stable"], text
                assert "checkout/checkout: 4 ready pod(s) behind weight -> 4" in text, text
            if scenario == "node-loss":
                held = {t.key: t.held for t in plan.targets if t.held}
                assert held["scale:frontend/web"] == \
                    "would leave frontend/web with no ready backend", text
                assert "scale:checkout/checkout-stable" in held, text

            default = await usecase.plan_release(ws, poll=poll)
            if scenario == "bad-rollout":  # Git's head is the crash-looping release
                assert [h.split(":")[0] for h in default.plan.held] == [
                    "auto-sync of argocd/checkout kept paused"], default.plan.held
            # restoring it anyway is the explicit choice that makes the release exact
            done = await usecase.release(
                ws, await usecase.plan_release(ws, poll=poll, restore_bad=True),
                reason=REASON, confirm=CONFIRM, poll=poll)
            assert done.ok or "no breaker is engaged" in done.error, done.summary()
        after = fields(cluster)
        assert after == prior
    finally:
        await cluster.stop()


async def test_a_paused_rollout_resumed_behind_the_breakers_back_is_drift(
        tmp_path: Path, journal: Journal) -> None:
    cluster = await _at(tmp_path, "bad-rollout", 60)
    try:
        async with await connect(str(cluster.kubeconfig), None) as conn:
            ws, _ = workspace(conn, journal)
            action = await usecase.plan_engage(ws, poll=sim_poll(cluster))
            assert (await usecase.engage(ws, action, reason=REASON, confirm=CONFIRM)).ok
            state = await usecase.status(ws)
            store, _ = await list_cluster(conn, Settings(), probe=False)
            assert detect_drift(store, state) == []
            cluster.state.mutate(DEPLOY, "checkout", "checkout-stable", lambda d: {
                **d, "spec": {**d["spec"], "paused": False}})  # kubectl rollout resume
            store, _ = await list_cluster(conn, Settings(), probe=False)
        drifts = detect_drift(store, state)
        assert [(d.label, d.expected, d.actual) for d in drifts] == [
            ("pause checkout/checkout-stable", "rollout paused", "rollout resumed")]
    finally:
        await cluster.stop()


# --------------------------------------------------------------------------- held, and the override


async def test_a_scale_down_that_would_leave_a_route_dark_is_held_until_typed_allowed(
        calm: DrillCluster, journal: Journal) -> None:
    """payments/payments is the only backend of its route: the breaker holds the scale-down
    back and says why; including it anyway is refused, naming the route and the override;
    the typed override engages it, and release restores the replicas."""
    async with await connect(str(calm.kubeconfig), None) as conn:
        gate = gate_for(conn, journal)
        poll = sim_poll(calm)
        config = BreakerConfig(apps=["payments"], deployments=["payments/payments"])
        plan = await plan_engage(conn, gate, None, config, poll=poll)
        target = plan.target("scale:payments/payments")
        assert not target.include and target.held == \
            "would leave payments/payments with no ready backend"
        assert "HELD: would leave payments/payments with no ready backend" in plan.describe()
        assert "payments/payments: 2 ready pod(s) behind weight -> 2" in plan.describe()

        plan.include(target.key)  # by hand, without the override
        assert plan.dark == ["scale payments/payments would leave payments/payments with no "
                             "ready backend (2 ready pod(s) behind weight now): exclude it, "
                             "or accept it with --allow-no-backend payments/payments"]
        calm.server.record_requests = True
        refused = await engage(gate, plan, reason=REASON, confirm=CONFIRM)
        assert not refused.started and "--allow-no-backend payments/payments" in refused.error
        assert writes_seen(calm) == []

        plan.exclude(target.key)
        assert plan.allow(["payments/payments"]) == [target] and target.include
        assert plan.ready and plan.dark == []
        assert "payments/payments: accepted to be left with no ready backend " \
               "(--allow-no-backend)" in plan.warnings
        result = await engage(gate, plan, reason=REASON, confirm=CONFIRM)
        assert result.ok, result.summary()
        assert replicas(calm, "payments", "payments") == 0
        done = await release(gate, journal, conn, CTX, reason=REASON, confirm=CONFIRM,
                             poll=poll)
        assert done.ok, done.summary()
    assert replicas(calm, "payments", "payments") == 2


async def test_the_override_given_when_planning_is_not_held(
        calm: DrillCluster, journal: Journal) -> None:
    async with await connect(str(calm.kubeconfig), None) as conn:
        plan = await plan_engage(conn, gate_for(conn, journal), None,
                                 BreakerConfig(deployments=["payments/payments"]),
                                 allow_no_backend=[("payments", "payments")])
    target = plan.target("scale:payments/payments")
    assert target.include and not target.held and plan.ready


def _storefront(cluster: DrillCluster) -> None:
    """A Service named unlike any Deployment, selecting the pods of checkout-stable AND
    checkout-canary, behind a route of its own."""
    cluster.state.create(SERVICES, {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "storefront", "namespace": "checkout"},
        "spec": {"selector": {"app.kubernetes.io/part-of": "checkout"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    route = copy.deepcopy(cluster.state.get(ROUTES, "checkout", "checkout"))
    route["metadata"] = {"name": "storefront", "namespace": "checkout"}
    route["spec"]["rules"] = [{"backendRefs": [{"name": "storefront", "port": 80}]}]
    route.pop("status", None)
    cluster.state.create(ROUTES, route)


async def test_backends_are_followed_by_selector_and_owner_not_by_name(
        calm: DrillCluster, journal: Journal) -> None:
    _storefront(calm)
    async with await connect(str(calm.kubeconfig), None) as conn:
        gate = gate_for(conn, journal)
        plan = await plan_engage(conn, gate, None,
                                 BreakerConfig(deployments=["checkout/checkout-stable"]))
        text = plan.describe()
        # storefront keeps the canary's pod; checkout/checkout's 90 % moves to the canary.
        assert "checkout/storefront: 4 ready pod(s) behind weight -> 1" in text, text
        assert plan.target("shift:checkout/checkout").weights == {
            "checkout-stable": 0, "checkout-canary": 100}
        assert plan.target("scale:checkout/checkout-stable").include and plan.ready

        both = await plan_engage(conn, gate, None, BreakerConfig(
            deployments=["checkout/checkout-stable", "checkout/checkout-canary"]))
    # Both would empty storefront: the larger one is held, the canary's weight moves to it.
    stable = both.target("scale:checkout/checkout-stable")
    assert not stable.include and "with no ready backend" in stable.held, both.describe()
    assert both.target("scale:checkout/checkout-canary").include
    assert both.target("shift:checkout/checkout").weights == {
        "checkout-canary": 0, "checkout-stable": 100}
    lines = {cap.route: (cap.before, cap.after) for cap in both.capacity()}
    assert lines == {"checkout/checkout": (4, 3), "checkout/storefront": (4, 3)}
    # Excluding the canary takes the shift that protected it along.
    both.exclude("scale:checkout/checkout-canary")
    assert not both.target("shift:checkout/checkout").include


async def test_a_route_that_cannot_verify_the_shift_stops_before_the_scale(
        tmp_path: Path, journal: Journal) -> None:
    """The shift is verified by the route's own status: on a drill whose gateway controller
    never answers (static), the breaker stops after the shift phase and scales nothing."""
    cluster = await started(drill_options(tmp_path, simulate=False))
    try:
        async with await connect(str(cluster.kubeconfig), None) as conn:
            gate = gate_for(conn, journal)
            plan = await plan_engage(conn, gate, None,
                                     BreakerConfig(deployments=["checkout/checkout-stable"]),
                                     shift_timeout=0.0)
            plan.exclude("freeze:argocd/checkout")
            result = await engage(gate, plan, reason=REASON, confirm=CONFIRM)
        assert not result.ok and [o.state for o in result.outcomes][:2] == [
            "failed", "not-started"], result.summary()
        assert replicas(cluster, "checkout", "checkout-stable") == 3
    finally:
        await cluster.stop()


# --------------------------------------------------------------------------- the arithmetic


def test_unknown_readiness_is_reported_never_judged_dark() -> None:
    """A backend that is not a Service cannot be counted: it is not capacity, a rule whose
    only survivor it is is reported (not refused on a guess), and the planner does not bet
    the route on it: the scale-down is held, saying why."""
    from backends.ops.breaker_capacity import Backend, RouteTraffic, capacity, protect

    route = RouteTraffic("shop", "web", ((
        Backend("shop", "web", 1, {"shop/web": 2}),
        Backend("shop", "bucket", 1, unknown="a StorageBucket: readiness not counted")),))
    cap = capacity(route, {"shop/web"})
    assert (cap.before, cap.after, cap.dark) == (2, 0, ())
    assert "bucket: a StorageBucket: readiness not counted" in cap.line()
    answer = protect([route], ["shop/web"])
    assert answer.held == {"shop/web": (
        "no backend of shop/web known to be ready can take its weight (bucket: readiness "
        "not counted)", ("shop/web",))}
    assert answer.shifts == {}
    assert protect([route], ["shop/web"], allowed=["shop/web"]).held == {}
