"""Traffic shifts on the drill's AGC-like gateway controller, in scenario time: refuse a
backend that would serve 500s or 503s, send the whole backend list guarded by a ``test`` op,
verify at the route's new observedGeneration, and restore the exact previous backendRefs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backends.kube.connection import KubeConnection
from backends.ops.argocd import plan_pause
from backends.ops.gate import WriteGate
from backends.ops.journal import Journal
from backends.ops.plan import PlanError, execute, preview
from backends.ops.traffic import plan_backends_restore, plan_shift
from drill.runner import DrillCluster
from tests.ops_support import (
    CONFIRM,
    REASON,
    ROUTES,
    SERVICES,
    gate_for,
    sim_poll,
)

SHIFT = {"checkout-stable": 100, "checkout-canary": 0}


@pytest.fixture
def gate(conn: KubeConnection, journal: Journal) -> WriteGate:
    return gate_for(conn, journal)


def route(sim: DrillCluster) -> dict[str, Any]:
    obj: dict[str, Any] = sim.state.get(ROUTES, "checkout", "checkout")
    return obj


def weights(sim: DrillCluster) -> dict[str, int]:
    return {r["name"]: r.get("weight", 1) for r in route(sim)["spec"]["rules"][0]["backendRefs"]}


async def test_refuses_a_backend_that_does_not_exist(sim: DrillCluster, conn: KubeConnection,
                                                     gate: WriteGate) -> None:
    sim.state.delete(SERVICES, "checkout", "checkout-canary")
    with pytest.raises(PlanError, match="Service checkout/checkout-canary not found.*500s"):
        await plan_shift(conn, gate, "checkout", "checkout",
                         {"checkout-stable": 0, "checkout-canary": 100})
    # Moving traffic AWAY from the missing backend is exactly what is needed: allowed.
    plan = await plan_shift(conn, gate, "checkout", "checkout", SHIFT)
    assert len(plan.writes) == 1


async def test_refuses_a_backend_without_ready_pods(sim: DrillCluster, conn: KubeConnection,
                                                    gate: WriteGate) -> None:
    def select_nothing(svc: dict[str, Any]) -> dict[str, Any]:
        svc["spec"]["selector"] = {"app": "checkout-nothing"}
        return svc

    sim.state.mutate(SERVICES, "checkout", "checkout-canary", select_nothing)
    with pytest.raises(PlanError, match="no ready pods: traffic to it gets 503s"):
        await plan_shift(conn, gate, "checkout", "checkout", {"checkout-canary": 50})


async def test_refuses_unknown_backends_silent_rules_and_bad_weights(
        conn: KubeConnection, gate: WriteGate) -> None:
    with pytest.raises(PlanError, match="not a backend of HTTPRoute checkout/checkout: spare"):
        await plan_shift(conn, gate, "checkout", "checkout", {"spare": 100})
    with pytest.raises(PlanError, match="would carry no traffic"):
        await plan_shift(conn, gate, "checkout", "checkout",
                         {"checkout-stable": 0, "checkout-canary": 0})
    with pytest.raises(PlanError, match="whole number from 0 to 1000000"):
        await plan_shift(conn, gate, "checkout", "checkout", {"checkout-stable": -5})


async def test_shift_verifies_at_the_new_generation_and_restores_exactly(
        sim: DrillCluster, conn: KubeConnection, gate: WriteGate, journal: Journal) -> None:
    before = json.loads(json.dumps(route(sim)["spec"]["rules"][0]["backendRefs"]))
    assert weights(sim) == {"checkout-stable": 90, "checkout-canary": 10}
    plan = await plan_shift(conn, gate, "checkout", "checkout", SHIFT, poll=sim_poll(sim))
    assert any("selfHeal will revert this: pause sync first" in w for w in plan.warnings)
    assert "rule 0: checkout-stable 90%, checkout-canary 10% -> checkout-stable 100%, " \
           "checkout-canary 0%" in plan.info
    [write] = plan.writes
    ops = json.loads(write.request.body or b"")
    assert ops[0] == {"op": "test", "path": "/spec/rules/0/backendRefs", "value": before}
    assert ops[1:] == [{"op": "add", "path": "/spec/rules/0/backendRefs/0/weight", "value": 100},
                       {"op": "add", "path": "/spec/rules/0/backendRefs/1/weight", "value": 0}]
    assert write.prior == {"rules": [{"index": 0, "backendRefs": before}]}
    [dry] = await preview(gate, plan)
    assert dry.ok and dry.object["metadata"]["generation"] == route(sim)["metadata"][
        "generation"] + 1

    pause = await plan_pause(conn, gate, "argocd", "checkout")
    assert (await execute(gate, pause, reason=REASON, confirm=CONFIRM)).ok
    generation = route(sim)["metadata"]["generation"]
    done = await execute(gate, plan, reason=REASON, confirm=CONFIRM)
    assert done.ok, done.summary()
    assert f"for generation {generation + 1}" in done.results[0].detail
    assert weights(sim) == SHIFT
    parent = route(sim)["status"]["parents"][0]
    assert all(c["observedGeneration"] == generation + 1 for c in parent["conditions"])
    sim.sim.advance(30)
    assert weights(sim) == SHIFT  # paused: selfHeal does not put 90/10 back

    [entry] = [e for e in await journal.entries() if e.step == "shift-traffic"]
    assert entry.status == "verified"
    restore = await plan_backends_restore(conn, gate, "checkout", "checkout", entry.prior,
                                          poll=sim_poll(sim))
    assert (await execute(gate, restore, reason=REASON, confirm=CONFIRM)).ok
    assert route(sim)["spec"]["rules"][0]["backendRefs"] == before


async def test_shift_fails_verification_when_the_route_does_not_resolve(
        sim: DrillCluster, conn: KubeConnection, gate: WriteGate) -> None:
    """A backend deleted between planning and sending: the controller reports
    ResolvedRefs False for the new generation and the verification says so at once."""
    plan = await plan_shift(conn, gate, "checkout", "checkout",
                            {"checkout-stable": 50, "checkout-canary": 50}, poll=sim_poll(sim),
                            timeout=30)
    sim.state.delete(SERVICES, "checkout", "checkout-canary")
    done = await execute(gate, plan, reason=REASON, confirm=CONFIRM)
    assert done.stopped_at == 0
    assert "ResolvedRefs False" in done.error and "BackendNotFound" in done.error
