"""Traffic shifts on the drill's AGC-like gateway controller, in scenario time: refuse a
backend that would serve 500s or 503s, send the whole backend list guarded by a ``test`` op,
verify at the route's new observedGeneration, and restore the exact previous backendRefs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backends.kube.connection import KubeConnection, connect
from backends.ops.argocd import plan_pause
from backends.ops.gate import WriteGate
from backends.ops.journal import Journal
from backends.ops.plan import PlanError, execute, preview
from backends.ops.traffic import plan_backends_restore, plan_shift
from backends.usecases import traffic as traffic_uc
from drill.runner import DrillCluster, DrillOptions
from tests.ops_support import (
    CONFIRM,
    REASON,
    ROUTES,
    SERVICES,
    gate_for,
    sim_poll,
    started,
)
from tests.usecase_support import workspace

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


# --------------------------------------------------------------------------- remove a backend


@pytest.fixture
async def misconfig(tmp_path: Path) -> AsyncIterator[DrillCluster]:
    """route-misconfig, advanced until the commit sending 10% of checkout to the mistyped
    ``checkout-cnry`` has synced and the gateway reports ResolvedRefs False."""
    cluster = await started(DrillOptions(kubeconfig=tmp_path / "kubeconfig",
                                         scenario="route-misconfig", manual_clock=True,
                                         bookmark_interval=0.2))
    try:
        for _ in range(120):
            if resolved_refs(cluster)["status"] == "False":
                break
            cluster.sim.advance(1)
        yield cluster
    finally:
        await cluster.stop()


def resolved_refs(sim: DrillCluster) -> dict[str, Any]:
    [parent] = route(sim).get("status", {}).get("parents") or [{"conditions": []}]
    found = [c for c in parent["conditions"] if c["type"] == "ResolvedRefs"]
    return found[0] if found else {"status": "Unknown"}


async def test_removing_a_dangling_backend_resolves_the_route_and_restore_puts_it_back(
        misconfig: DrillCluster, journal: Journal) -> None:
    """Weight 0 would leave ResolvedRefs False; removing the reference makes the drill's
    gateway report it True for the new generation (verified), journaled with the rule's
    exact list; the restore puts the reference back at its index with every field."""
    sim = misconfig
    before = json.loads(json.dumps(route(sim)["spec"]["rules"][0]["backendRefs"]))
    assert [r["name"] for r in before] == ["checkout-stable", "checkout-cnry"]
    assert resolved_refs(sim)["reason"] == "BackendNotFound"
    async with await connect(str(sim.kubeconfig), None) as conn:
        ws, _recorder = workspace(conn, journal)
        gate, poll = ws.gate, sim_poll(sim)
        with pytest.raises(PlanError, match="checkout-stable is its last serving backend"):
            await traffic_uc.plan_remove_backend(ws, "checkout", "checkout", "checkout-stable")
        with pytest.raises(PlanError, match="not a backend of HTTPRoute checkout/checkout: nope"):
            await traffic_uc.plan_remove_backend(ws, "checkout", "checkout", "nope")
        with pytest.raises(traffic_uc.NothingToRestore):
            await traffic_uc.plan_restore_backends(ws, "checkout", "checkout")

        assert (await execute(gate, await plan_pause(conn, gate, "argocd", "checkout"),
                              reason=REASON, confirm=CONFIRM)).ok  # or selfHeal puts it back
        action = await traffic_uc.plan_remove_backend(ws, "checkout", "checkout",
                                                      "checkout-cnry", poll=poll)
        [write] = action.plan.writes
        assert write.step == "remove-backend"
        assert json.loads(write.request.body or b"") == [
            {"op": "test", "path": "/spec/rules/0/backendRefs", "value": before},
            {"op": "remove", "path": "/spec/rules/0/backendRefs/1"}]
        assert write.prior == {"rules": [{"index": 0, "backendRefs": before}],
                               "resolved": False}
        generation = route(sim)["metadata"]["generation"]
        done = await execute(gate, action.plan, reason=REASON, confirm=CONFIRM)
        assert done.ok, done.summary()
        assert f"Accepted and ResolvedRefs for generation {generation + 1}" in \
            done.results[0].detail
        assert route(sim)["spec"]["rules"][0]["backendRefs"] == before[:1]
        assert resolved_refs(sim)["status"] == "True"
        sim.sim.advance(30)
        assert resolved_refs(sim)["status"] == "True"  # paused: Git's typo stays out

        restore = await traffic_uc.plan_restore_backends(ws, "checkout", "checkout",
                                                         poll=poll)
        assert [w.step for w in restore.plan.writes] == ["restore-traffic"]
        again = await execute(gate, restore.plan, reason=REASON, confirm=CONFIRM)
        assert again.ok, again.summary()
        assert "ResolvedRefs False again" in again.results[0].detail
    assert route(sim)["spec"]["rules"][0]["backendRefs"] == before
    assert resolved_refs(sim)["reason"] == "BackendNotFound"
    assert [e.status for e in await journal.entries() if e.kind == "HTTPRoute"] == [
        "verified", "verified"]
