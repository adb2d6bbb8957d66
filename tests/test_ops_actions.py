"""Plans and their executor: read-only mode sends no write for ANY action, RBAC-blocked steps
are named and not started, execution stops at the first failure and says what was done."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backends.config import Settings
from backends.kube.connection import KubeConnection, connect
from backends.ops.argocd import plan_pause, plan_restore, plan_rollback
from backends.ops.gate import CancelToken, Confirmation, WriteGate
from backends.ops.journal import Journal
from backends.ops.plan import Plan, execute, preview
from backends.ops.traffic import plan_shift
from backends.ops.workloads import plan_rollout_undo, plan_scale
from drill.policy import Policy, Rule
from drill.runner import DrillCluster
from tests.ops_support import (
    APPS,
    CONFIRM,
    CTX,
    DEPLOY,
    REASON,
    drill_options,
    gate_for,
    replicas,
    started,
    writes_seen,
)


@pytest.fixture
async def static(tmp_path: Path) -> AsyncIterator[DrillCluster]:
    cluster = await started(drill_options(tmp_path, simulate=False))
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest.fixture
async def conn(static: DrillCluster) -> AsyncIterator[KubeConnection]:
    async with await connect(str(static.kubeconfig), None) as connection:
        yield connection


async def every_plan(static: DrillCluster, conn: KubeConnection, gate: WriteGate) -> list[Plan]:
    """One plan of each action, built against the live drill."""
    def paused(a: dict[str, Any]) -> dict[str, Any]:
        a["spec"]["syncPolicy"]["automated"]["enabled"] = False
        a["metadata"].setdefault("annotations", {})["controlroom.io/paused-automated"] = (
            json.dumps({"prune": True, "selfHeal": True}))
        return a

    static.state.mutate(APPS, "argocd", "frontend", paused)
    return [
        await plan_pause(conn, gate, "argocd", "payments"),
        await plan_restore(conn, gate, ("argocd", "frontend")),
        await plan_rollback(conn, gate, ("argocd", "frontend")),
        await plan_scale(conn, gate, "payments", "payments", 0),
        await plan_rollout_undo(conn, gate, "frontend", "web"),
        await plan_shift(conn, gate, "checkout", "checkout",
                         {"checkout-stable": 100, "checkout-canary": 0}),
    ]


async def test_read_only_mode_sends_no_write_for_any_plan(
        static: DrillCluster, conn: KubeConnection, journal: Journal) -> None:
    gate = gate_for(conn, journal, read_only=True)
    static.server.record_requests = True
    plans = await every_plan(static, conn, gate)  # planning reads (and asks SSARs) only
    assert all(len(p.writes) == 1 and not p.blocked for p in plans), [p.title for p in plans]
    before = static.state.rv
    for plan in plans:
        results = await preview(gate, plan)
        assert [r.performed for r in results] == [False]
        assert "read-only mode" in results[0].message
        done = await execute(gate, plan, reason=REASON, confirm=Confirmation(CTX, True))
        assert done.stopped_at == 0 and "read-only mode" in done.error, plan.title
        assert done.results[0].writes == ()
    assert writes_seen(static) == []
    entries = await journal.entries()
    assert len(entries) == len(plans) and {e.status for e in entries} == {"refused"}
    assert static.state.rv == before  # not one object changed


@pytest.fixture
async def denying(tmp_path: Path) -> AsyncIterator[DrillCluster]:
    policy = Policy([Rule(verbs=frozenset({"patch"}), groups=frozenset({"apps"}),
                          resources=frozenset({"deployments/scale"}), allow=False)])
    cluster = await started(drill_options(tmp_path, simulate=False, policy=policy))
    try:
        yield cluster
    finally:
        await cluster.stop()


async def test_rbac_denied_step_is_named_and_the_plan_is_not_started(
        denying: DrillCluster, journal: Journal) -> None:
    async with await connect(str(denying.kubeconfig), None) as conn:
        gate = gate_for(conn, journal)
        plan = await plan_scale(conn, gate, "payments", "payments", 0)
        assert plan.blocked == [
            "scale-down: patch deployments/scale in payments: denied by drill policy"]
        denying.server.record_requests = True
        done = await execute(gate, plan, reason=REASON, confirm=CONFIRM)
        assert done.stopped_at == 0 and "access review forbids" in done.error
        assert done.results == [] and writes_seen(denying) == []
        assert await journal.entries() == []
        # Steps the policy allows are not blocked.
        assert (await plan_pause(conn, gate, "argocd", "payments")).blocked == []


async def test_execution_stops_at_the_first_failure_and_says_what_was_done(
        static: DrillCluster, conn: KubeConnection, journal: Journal) -> None:
    gate = gate_for(conn, journal)
    plan = await plan_scale(conn, gate, "payments", "payments", 1)
    plan.extend(await plan_scale(conn, gate, "catalog", "catalog", 1))
    plan.extend(await plan_scale(conn, gate, "frontend", "web", 1))
    assert len(plan.writes) == 3
    static.state.delete(DEPLOY, "catalog", "catalog")  # gone between planning and running
    progress: list[tuple[int, str]] = []
    static.server.record_requests = True
    done = await execute(gate, plan, reason=REASON, confirm=CONFIRM, operation_id="op-7",
                         on_progress=lambda i, text: progress.append((i, text)))
    assert done.stopped_at == 1 and "404 NotFound" in done.error
    assert [r.ok for r in done.results] == [True, False]
    assert "done 1 step(s)" in done.summary() and "Stopped at step 2" in done.summary()
    assert replicas(static, "payments", "payments") == 1
    assert replicas(static, "frontend", "web") == 3  # never attempted
    assert [p[0] for p in writes_seen(static)] == ["PATCH", "PATCH"]
    assert progress[0] == (0, f"sending: {plan.writes[0].title}")
    assert progress[1][0] == 0 and progress[1][1].startswith("verified: spec.replicas=1")
    assert progress[-1][0] == 1 and progress[-1][1].startswith("failed: 404")
    entries = await journal.entries(operation_id="op-7")
    assert [(e.step, e.status) for e in entries] == [("scale-down", "verified"),
                                                    ("scale-down", "failed")]


async def test_cancel_before_the_first_write_sends_nothing(
        static: DrillCluster, conn: KubeConnection, journal: Journal) -> None:
    gate = gate_for(conn, journal, settings=Settings(production_patterns=[CTX]))
    plan = await plan_scale(conn, gate, "payments", "payments", 0)
    token = CancelToken()
    token.cancel()
    static.server.record_requests = True
    done = await execute(gate, plan, reason=REASON, confirm=Confirmation(CTX), cancel=token)
    assert done.stopped_at == 0 and "cancelled by the operator" in done.error
    assert writes_seen(static) == [] and replicas(static, "payments", "payments") == 2

    tokens: list[CancelToken] = []

    def per_step(index: int) -> CancelToken:
        tokens.append(CancelToken())
        return tokens[-1]

    emergency = await execute(gate, plan, reason=REASON,
                              confirm=Confirmation(CTX, emergency=True), cancel=per_step)
    assert emergency.ok and len(tokens) == 1 and not tokens[0].window_opened.is_set()
    assert replicas(static, "payments", "payments") == 0


async def test_empty_plan_executes_as_nothing_to_do(conn: KubeConnection,
                                                    journal: Journal) -> None:
    gate = gate_for(conn, journal)
    plan = await plan_scale(conn, gate, "payments", "payments", 2)
    assert plan.empty and "already has 2 replicas" in plan.info[0]
    done = await execute(gate, plan, reason=REASON, confirm=CONFIRM)
    assert done.ok and done.summary() == "nothing to do"
