"""Every use case's dry-run lists exactly what executing it then sends (issue 12, point 1).

For each action, on the drill: plan it with the use case, preview it (the dry-run), execute
it, and compare three witnesses: the writes the plan lists, the writes the drill server
received with ``dryRun=All`` during the preview, and the writes it received without during
the execution (method and path; the request log). Bodies are compared too, where they are
deterministic, through the gate's recording sender (the drill's log keeps no bodies). The
breaker's phases run targets concurrently, so its writes are compared as sorted lists.

Plus the rules that used to differ between the keys and the CLI: which replicas a scale
restore puts back, which policy restore-sync puts back, and the cancel window every step of a
protected context gets.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from backends.kube.connection import KubeConnection
from backends.ops.breaker import BREAKER_ANNOTATION, BreakerConfig, RouteShift
from backends.ops.gate import Confirmation, GatePolicy, WriteGate
from backends.ops.journal import Journal
from backends.ops.plan import ExecResult
from backends.usecases import argocd, breaker, traffic, workloads
from backends.usecases.baseline import compare, live_baseline, validate_now
from backends.usecases.run import StepCancel, cancel_window, preview, run
from backends.usecases.workspace import Action, Workspace
from drill.runner import DrillCluster
from tests.ops_support import (
    APPS,
    ARMED,
    CONFIRM,
    CTX,
    DEPLOY,
    REASON,
    ROUTES,
    replicas,
    sim_poll,
)
from tests.usecase_support import Recorder, listed, server_writes, watch, workspace
from tests.waiting import await_until


@pytest.fixture
def armed(conn: KubeConnection, journal: Journal) -> tuple[Workspace, Recorder]:
    return workspace(conn, journal)


async def dry_then_run(cluster: DrillCluster, recorder: Recorder, action: Action, *,
                       bodies: bool = True) -> ExecResult:
    """Preview, then execute; assert the three witnesses agree (module doc)."""
    assert action.plan.writes, action.plan
    watch(cluster)
    recorder.sent.clear()
    answers = await preview(action)
    assert all(a.performed and a.ok for a in answers), answers
    dry, real = server_writes(cluster)
    assert real == []  # a preview changes nothing
    assert dry == listed(action.plan)
    dry_sent, _ = recorder.take()

    result = await run(action, reason=REASON, confirm=CONFIRM)
    assert result.ok, result.summary()
    again, sent = server_writes(cluster)
    assert again == [] and sent == dry
    _, real_sent = recorder.take()
    if bodies:
        assert real_sent == dry_sent
    return result


def automated(cluster: DrillCluster, name: str) -> Any:
    return cluster.state.get(APPS, "argocd", name)["spec"]["syncPolicy"].get("automated")


# --------------------------------------------------------------------------- Argo CD


async def test_pause_and_restore_sync(sim: DrillCluster,
                                      armed: tuple[Workspace, Recorder]) -> None:
    ws, rec = armed
    before = automated(sim, "payments")
    await dry_then_run(sim, rec, await argocd.plan_pause_sync(ws, "argocd", "payments"))
    assert automated(sim, "payments") != before

    await dry_then_run(sim, rec, await argocd.plan_restore_sync(ws, "argocd", "payments"))
    assert automated(sim, "payments") == before


async def test_restore_sync_has_one_rule_the_journal_first(
        sim: DrillCluster, conn: KubeConnection, journal: Journal) -> None:
    """The App used to restore from the annotation only, the CLI from the journal: now both
    put back what the journal recorded before the pause, and warn when the annotation (which
    anyone can edit) says otherwise. Without a journal entry, the annotation is used."""
    ws, _rec = workspace(conn, journal)
    before = automated(sim, "payments")
    assert (await run(await argocd.plan_pause_sync(ws, "argocd", "payments"), reason=REASON,
                      confirm=CONFIRM)).ok

    def tamper(app: dict[str, Any]) -> dict[str, Any]:
        app["metadata"]["annotations"]["controlroom.io/paused-automated"] = json.dumps(
            {"prune": False, "selfHeal": False})
        return app

    sim.state.mutate(APPS, "argocd", "payments", tamper)
    action = await argocd.plan_restore_sync(ws, "argocd", "payments")
    assert action.plan.writes[0].intent == {"automated": before}
    assert any("journaled before the last pause" in i for i in action.plan.info)
    assert any("different prior policy" in w for w in action.plan.warnings)

    no_journal = Workspace(conn, ws.gate, None, ARMED)  # a pause made elsewhere
    fallback = await argocd.plan_restore_sync(no_journal, "argocd", "payments")
    assert fallback.plan.writes[0].intent == {"automated": {"prune": False,
                                                            "selfHeal": False}}


async def test_argocd_rollback_through_the_kubernetes_api(
        sim: DrillCluster, armed: tuple[Workspace, Recorder]) -> None:
    ws, rec = armed
    history = sim.state.get(APPS, "argocd", "monitoring")["status"]["history"]
    assert len(history) >= 2
    assert (await run(await argocd.plan_pause_sync(ws, "argocd", "monitoring"),
                      reason=REASON, confirm=CONFIRM)).ok
    action = await argocd.plan_rollback_app(ws, "argocd", "monitoring", history[-2]["id"],
                                            reason=REASON)
    await dry_then_run(sim, rec, action)
    sim.sim.advance(5)
    states = [s.phase async for s in argocd.follow_rollback(ws, "argocd", "monitoring", action,
                                                            timeout=120, poll=sim_poll(sim))]
    assert states[-1] == "Succeeded", states


# --------------------------------------------------------------------------- workloads


async def test_scale_down_and_restore(sim: DrillCluster,
                                      armed: tuple[Workspace, Recorder]) -> None:
    ws, rec = armed
    before = replicas(sim, "payments", "payments")
    assert before > 0
    await dry_then_run(sim, rec, await workloads.plan_scale_down(ws, "payments", "payments"))
    assert replicas(sim, "payments", "payments") == 0
    await dry_then_run(sim, rec, await workloads.plan_scale_restore(ws, "payments",
                                                                      "payments"))
    assert replicas(sim, "payments", "payments") == before


async def test_scale_to_n(sim: DrillCluster, armed: tuple[Workspace, Recorder]) -> None:
    ws, rec = armed
    await dry_then_run(sim, rec, await workloads.plan_scale(ws, "payments", "payments", 1))
    assert replicas(sim, "payments", "payments") == 1


async def test_recorded_replicas_has_one_rule(
        sim: DrillCluster, conn: KubeConnection, journal: Journal) -> None:
    """The CLI's rule for keys and CLI alike: a ``scale`` (the CLI's step) counts like a
    ``scale-down``, and a scale that was refused (it changed nothing) does not count. The
    App's old rule (``scale-down`` only, refused or not) answered None, then 1, here."""
    ws, _rec = workspace(conn, journal)
    before = replicas(sim, "payments", "payments")
    assert (await run(await workloads.plan_scale(ws, "payments", "payments", 1),
                      reason=REASON, confirm=CONFIRM)).ok
    assert await workloads.recorded_replicas(journal, CTX, "payments", "payments") == before

    read_only, _ = workspace(conn, journal, read_only=True)
    refused = await run(await workloads.plan_scale_down(read_only, "payments", "payments"),
                        reason=REASON, confirm=CONFIRM)
    assert not refused.ok and "read-only" in refused.error
    assert [e.step for e in await journal.entries()][-1] == "scale-down"  # journaled, refused
    assert await workloads.recorded_replicas(journal, CTX, "payments", "payments") == before
    restore = await workloads.plan_scale_restore(ws, "payments", "payments")
    assert restore.plan.writes[0].intent == {"replicas": before}

    with pytest.raises(workloads.NothingToRestore):
        await workloads.plan_scale_restore(ws, "checkout", "checkout-canary")


async def test_rollout_undo(sim: DrillCluster, armed: tuple[Workspace, Recorder]) -> None:
    ws, rec = armed
    revisions = await workloads.rollout_history(ws, "frontend", "web")
    assert len(revisions) >= 2
    before = sim.state.get(DEPLOY, "frontend", "web")["spec"]["template"]["spec"]
    # web is healthy: its current revision is the last known good, which the default takes
    idle = await workloads.plan_rollout_undo(ws, "frontend", "web")
    assert idle.plan.empty and idle.plan.info[0].startswith(
        f"no revision given: took revision {revisions[-1].number}, the last known good")
    await dry_then_run(sim, rec, await workloads.plan_rollout_undo(
        ws, "frontend", "web", revisions[-2].number))
    assert sim.state.get(DEPLOY, "frontend", "web")["spec"]["template"]["spec"] != before


# --------------------------------------------------------------------------- traffic


async def test_traffic_shift(sim: DrillCluster, armed: tuple[Workspace, Recorder]) -> None:
    ws, rec = armed
    weights = {"checkout-stable": 100, "checkout-canary": 0}
    action = await traffic.plan_shift(ws, "checkout", "checkout", weights,
                                      poll=sim_poll(sim))
    await dry_then_run(sim, rec, action)
    route = sim.state.get(ROUTES, "checkout", "checkout")
    assert {r["name"]: r.get("weight", 1)
            for r in route["spec"]["rules"][0]["backendRefs"]} == weights


# --------------------------------------------------------------------------- breaker

SCOPE = BreakerConfig(deployments=["checkout/checkout-canary"],
                      routes=[RouteShift(route="checkout/checkout",
                                         weights={"checkout-stable": 100,
                                                  "checkout-canary": 0})])


async def test_breaker_engage_previews_what_engage_sends(
        sim: DrillCluster, conn: KubeConnection, journal: Journal) -> None:
    """The dry-run lists engage's own writes: the breaker annotation merged into the patches
    and the separate annotation write of the scaled Deployment (the bare planner plans the
    CLI used to preview had neither)."""
    ws, _rec = workspace(conn, journal)
    action = await breaker.plan_engage(ws, SCOPE, poll=sim_poll(sim))
    assert action.plan.ready, action.plan.refusals
    listed_writes = sorted(p for _label, plan in action.preview_plans() for p in listed(plan))
    assert ("PATCH", "/apis/apps/v1/namespaces/checkout/deployments/checkout-canary") \
        in listed_writes  # the annotation of the scaled Deployment
    assert len(listed_writes) == action.plan.writes()

    watch(sim)
    previews = await breaker.preview_engage(action)
    assert all(a.ok and a.performed for _label, _plan, answers in previews for a in answers)
    dry, real = server_writes(sim)
    assert real == [] and sorted(dry) == listed_writes

    result = await breaker.engage(ws, action, reason=REASON, confirm=CONFIRM)
    assert result.ok, result.summary()
    again, sent = server_writes(sim)
    assert again == [] and sorted(sent) == listed_writes
    canary = sim.state.get(DEPLOY, "checkout", "checkout-canary")
    assert canary["spec"]["replicas"] == 0 and BREAKER_ANNOTATION in canary["metadata"][
        "annotations"]


async def test_breaker_release_dry_run_is_what_release_sends(
        sim: DrillCluster, armed: tuple[Workspace, Recorder]) -> None:
    """Release is previewed with the planner release itself uses: the annotation removals
    are in the dry-run (the CLI's own release planner left them out)."""
    ws, rec = armed
    before = replicas(sim, "checkout", "checkout-canary")
    engaged = await breaker.engage(ws, await breaker.plan_engage(ws, SCOPE, poll=sim_poll(sim)),
                                   reason=REASON, confirm=CONFIRM)
    assert engaged.ok, engaged.summary()

    action = await breaker.plan_release(ws, poll=sim_poll(sim))
    plan = action.preview_plan()
    assert not plan.blocked, plan.blocked
    steps = [w.step for w in plan.writes]
    assert "breaker-mark" in steps  # the canary's annotation comes off in its own write
    expected = sorted(listed(plan))
    watch(sim)
    rec.sent.clear()
    answers = await breaker.preview_release(action)
    assert all(a.ok and a.performed for a in answers), answers
    dry, real = server_writes(sim)
    assert real == [] and sorted(dry) == expected
    dry_sent, _ = rec.take()

    result = await breaker.release(ws, action, reason=REASON, confirm=CONFIRM,
                                   poll=sim_poll(sim))
    assert result.ok and result.released, result.summary()
    again, sent = server_writes(sim)
    assert again == [] and sorted(sent) == expected
    _, real_sent = rec.take()
    assert sorted(real_sent) == sorted(dry_sent)  # bodies too
    canary = sim.state.get(DEPLOY, "checkout", "checkout-canary")
    assert canary["spec"]["replicas"] == before
    assert BREAKER_ANNOTATION not in (canary["metadata"].get("annotations") or {})


async def test_breaker_live_status_names_what_is_restored(
        sim: DrillCluster, armed: tuple[Workspace, Recorder]) -> None:
    """The use case reads the objects: the canary put back behind the journal's back makes
    "partly released: 1 of 3 restored", the header's journal-only status still engaged."""
    ws, _rec = armed
    before = replicas(sim, "checkout", "checkout-canary")
    engaged = await breaker.engage(ws, await breaker.plan_engage(ws, SCOPE, poll=sim_poll(sim)),
                                   reason=REASON, confirm=CONFIRM)
    assert engaged.ok, engaged.summary()

    def put_back(deploy: dict[str, Any]) -> dict[str, Any]:
        deploy["spec"]["replicas"] = before
        deploy["metadata"]["annotations"].pop(BREAKER_ANNOTATION)
        return deploy

    sim.state.mutate(DEPLOY, "checkout", "checkout-canary", put_back)
    live = await breaker.live_status(ws)
    assert live.headline().startswith("breaker partly released: 1 of 3 restored (")
    described = {t.target.key: t.describe() for t in live.targets}
    assert described.pop("freeze:argocd/checkout").startswith("engaged (automated {")
    assert described == {
        "shift:checkout/checkout": "engaged (weights checkout-canary=0, checkout-stable=100)",
        "scale:checkout/checkout-canary": f"restored (replicas {before})"}
    assert (await breaker.status(ws)).engaged


# --------------------------------------------------------------------------- cancel window


async def test_every_step_gets_a_cancel_window_on_a_protected_context(
        sim: DrillCluster, conn: KubeConnection, journal: Journal) -> None:
    """The shared path hands each step a token with the policy's window (the App used to
    call execute without any): the first step goes after its window, the operator's stop
    during the second step's window calls that write off, nothing of it is sent."""
    rec = Recorder(conn)
    policy = GatePolicy(CTX, read_only=False, protected=True, operator="oncall-tester",
                        cancel_window=0.2)
    ws = Workspace(conn, WriteGate(policy, rec, journal), journal, ARMED)
    action = await argocd.plan_pause_scope(ws, [("argocd", "payments"), ("argocd", "catalog")])
    assert len(action.plan.writes) == 2
    confirm = Confirmation(typed_context=CTX)
    assert cancel_window(action, confirm) == pytest.approx(0.2)
    assert cancel_window(action, Confirmation(typed_context="other")) == 0  # refused anyway

    cancel = StepCancel()
    task = asyncio.create_task(run(action, reason=REASON, confirm=confirm,
                                   cancel_token_for=cancel))
    await await_until(lambda: len(cancel.tokens) >= 2, "the second step's cancel token")
    await cancel.tokens[1].window_opened.wait()
    assert cancel.stop()  # in the window: called off
    result = await task
    assert result.stopped_at == 1 and "cancelled" in result.error
    assert [r.ok for r in result.results] == [True, False]
    _, sent = rec.take()
    assert [p for _m, p, _b in sent] == [action.plan.writes[0].request.path]
    assert cancel.tokens[0].window_closed.is_set()


# --------------------------------------------------------------------------- baseline


async def test_baseline_diff_and_validate_send_no_write(sim: DrillCluster,
                                                         conn: KubeConnection) -> None:
    """Their dry-run is the action itself: nothing is written, ever."""
    watch(sim)
    baseline, notes = await live_baseline(conn, ARMED, CTX, "drill", "CHG-1", timeout=30)
    assert baseline.change_id == "CHG-1" and not {"nodes", "workloads", "pods"} & set(
        baseline.missing), (baseline.missing, notes)
    dry, real = server_writes(sim)
    assert dry == [] and real == []
    result, regressed = compare(baseline, baseline, ARMED)
    assert regressed == []
    assert validate_now(baseline, ARMED, baseline).checks
