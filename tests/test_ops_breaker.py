"""The circuit breaker on the drill cluster with the real Argo CD simulation (selfHeal reverts
hand edits): engage/release restores exactly, the engaged state holds past the selfHeal delay
(and a control scale without the pause does not), crash safety with SIGKILL, read-only mode,
RBAC, the no-config proposal, stop at the first failure, drift."""

from __future__ import annotations

import asyncio
import copy
import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from backends.config import Settings
from backends.kube.connection import KubeConnection, connect
from backends.ops.argocd import plan_rollback
from backends.ops.breaker import (
    BREAKER_ANNOTATION,
    BreakerConfig,
    BreakerEvent,
    BreakerPlan,
    Drift,
    RouteShift,
    breaker_status,
    breaker_status_db,
    detect_drift,
    engage,
    live_state,
    plan_engage,
    plan_release,
    release,
    watch_drift,
)
from backends.ops.breaker.run import run_phases
from backends.ops.gate import Confirmation, GatePolicy, WriteGate
from backends.ops.journal import Journal, JournalDB
from backends.ops.plan import Poll, execute
from backends.ops.workloads import plan_scale
from backends.usecases.baseline import list_cluster
from drill.policy import Policy, Rule
from drill.runner import DrillCluster, DrillOptions
from tests.conftest import ThreadedDrill
from tests.ops_support import (
    APPS,
    CONFIRM,
    CTX,
    DEPLOY,
    REASON,
    ROUTES,
    drill_options,
    gate_for,
    replicas,
    sim_poll,
    started,
    writes_seen,
)

ROOT = Path(__file__).resolve().parent.parent
SHIFT = RouteShift(route="checkout/checkout",
                   weights={"checkout-stable": 100, "checkout-canary": 0})
CONFIG = BreakerConfig(apps=["payments"],
                       deployments=["checkout/checkout-canary", "payments/payments"],
                       routes=[SHIFT], allow_no_backend=["payments/payments"])
"""Freeze payments (checkout is added: it tracks the route and the canary), shift checkout's
traffic to stable, scale the canary and payments to 0 (payments is the only backend of its
route: the runbook accepts leaving it dark, else the breaker would hold it back)."""
APP_NAMES = ("checkout", "payments")
SCALED = (("checkout", "checkout-canary"), ("payments", "payments"))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
async def bad(tmp_path: Path) -> AsyncIterator[DrillCluster]:
    """bad-rollout, advanced until checkout is Degraded and checkout-stable crash-loops."""
    cluster = await started(DrillOptions(kubeconfig=tmp_path / "kubeconfig",
                                         scenario="bad-rollout", manual_clock=True,
                                         bookmark_interval=0.2))
    cluster.sim.advance(150)
    try:
        yield cluster
    finally:
        await cluster.stop()


async def _conn(cluster: DrillCluster) -> KubeConnection:
    return await connect(str(cluster.kubeconfig), None)


def snapshot(cluster: DrillCluster) -> dict[str, Any]:
    """Every field the breaker touches, and the Applications' whole spec."""
    return copy.deepcopy({
        "apps": {a: cluster.state.get(APPS, "argocd", a)["spec"] for a in APP_NAMES},
        "replicas": {f"{ns}/{n}": replicas(cluster, ns, n) for ns, n in SCALED},
        "route": [r["backendRefs"] for r in
                  cluster.state.get(ROUTES, "checkout", "checkout")["spec"]["rules"]],
    })


def annotations_of(cluster: DrillCluster, rt: Any, ns: str, name: str) -> dict[str, str]:
    return dict(cluster.state.get(rt, ns, name)["metadata"].get("annotations") or {})


def auto_sync(cluster: DrillCluster, app: str) -> Any:
    return cluster.state.get(APPS, "argocd", app)["spec"]["syncPolicy"].get("automated")


def assert_restored(cluster: DrillCluster, before: dict[str, Any]) -> None:
    """Field by field, then the annotations are gone."""
    after = snapshot(cluster)
    for app in APP_NAMES:
        assert after["apps"][app]["syncPolicy"]["automated"] == \
            before["apps"][app]["syncPolicy"]["automated"], app
        assert after["apps"][app] == before["apps"][app], app
        assert BREAKER_ANNOTATION not in annotations_of(cluster, APPS, "argocd", app)
    assert after["replicas"] == before["replicas"]
    assert after["route"] == before["route"]
    for ns, name in SCALED:
        assert BREAKER_ANNOTATION not in annotations_of(cluster, DEPLOY, ns, name)
    assert BREAKER_ANNOTATION not in annotations_of(cluster, ROUTES, "checkout", "checkout")


# --------------------------------------------------------------------------- config


def test_config_struct_validates_like_the_rest_of_the_config() -> None:
    text = """
        apps = ["checkout", "argocd/payments"]
        deployments = ["checkout/checkout-stable"]
        [[routes]]
        route = "checkout/checkout"
        weights = { checkout-stable = 100, checkout-canary = 0 }
    """
    cfg = msgspec.toml.decode(textwrap.dedent(text), type=BreakerConfig)
    assert cfg.app_refs() == [("argocd", "checkout"), ("argocd", "payments")]
    assert cfg.routes[0].ref == ("checkout", "checkout")
    for bad_text, where in (('deployments = ["checkout-stable"]', "namespace/name"),
                            ('appz = ["x"]', "unknown field"),
                            ('[[routes]]\nroute = "x"\nweights = {a = 1}', "namespace/name"),
                            ('[[routes]]\nroute = "a/b"\nweights = {a = 1}\n'
                             '[[routes]]\nroute = "a/b"\nweights = {a = 0}', "more than once")):
        with pytest.raises(msgspec.ValidationError, match=where):
            msgspec.toml.decode(bad_text, type=BreakerConfig)


# --------------------------------------------------------------------------- engage / release


async def test_engage_then_release_restores_every_object_exactly(
        calm: DrillCluster, journal: Journal) -> None:
    before = snapshot(calm)
    async with await _conn(calm) as conn:
        gate = gate_for(conn, journal)
        poll = sim_poll(calm)
        plan = await plan_engage(conn, gate, None, CONFIG, poll=poll)
        assert [t.key for t in plan.targets] == [
            "freeze:argocd/checkout", "freeze:argocd/payments", "shift:checkout/checkout",
            "scale:checkout/checkout-canary", "scale:payments/payments"]
        assert "tracks" in plan.target("freeze:argocd/checkout").why  # added: pause first
        assert plan.ready and plan.blocked == [] and plan.writes() == 7
        flat = plan.as_plan()  # what a generic plan screen shows (dry-run, warnings)
        assert [w.step for w in flat.writes] == ["pause-auto-sync"] * 2 + ["shift-traffic"] + \
            ["scale-down"] * 2
        assert flat.blocked == [] and sum("then annotate" in i for i in flat.info) == 2
        events: list[BreakerEvent] = []
        result = await engage(gate, plan, reason=REASON, confirm=CONFIRM, operator="alice",
                              on_progress=events.append)
        assert result.ok, result.summary()
        assert [o.state for o in result.outcomes] == ["done"] * 5
        op = result.operation_id

        # The emergency state, with the annotation on every object.
        assert all(auto_sync(calm, a)["enabled"] is False for a in APP_NAMES)
        assert all(replicas(calm, ns, n) == 0 for ns, n in SCALED)
        refs = calm.state.get(ROUTES, "checkout", "checkout")["spec"]["rules"][0]["backendRefs"]
        assert {r["name"]: r["weight"] for r in refs} == SHIFT.weights
        for rt, ns, name in [(APPS, "argocd", "checkout"), (APPS, "argocd", "payments"),
                             (ROUTES, "checkout", "checkout"),
                             (DEPLOY, "checkout", "checkout-canary"),
                             (DEPLOY, "payments", "payments")]:
            mark = json.loads(annotations_of(calm, rt, ns, name)[BREAKER_ANNOTATION])
            assert mark["operation"] == op and mark["by"] == "alice" and mark["since"]

        # One operation, phases strictly in order, every write verified.
        entries = await journal.entries(operation_id=op)
        order = {"pause-auto-sync": 0, "shift-traffic": 1, "scale-down": 2, "breaker-mark": 2}
        assert [order[e.step] for e in entries] == sorted(order[e.step] for e in entries)
        assert {e.status for e in entries} == {"verified"}
        phase_events = [(e.phase, e.state) for e in events if not e.target]
        assert phase_events == [("freeze", "started"), ("freeze", "done"), ("shift", "started"),
                                ("shift", "done"), ("scale", "started"), ("scale", "done")]

        state = await breaker_status(journal, CTX)
        assert state.engaged and not state.half_done and state.operation_id == op
        assert state.by == "alice" and (state.completed, state.planned) == (7, 7)
        assert len(state.targets) == 5

        calm.server.record_requests = True
        # The engaged state HOLDS well past the selfHeal delay (sync was paused first).
        calm.sim.advance(10 * calm.config.self_heal_delay + 30)
        assert all(replicas(calm, ns, n) == 0 for ns, n in SCALED)
        assert all(auto_sync(calm, a)["enabled"] is False for a in APP_NAMES)
        store, notes = await list_cluster(conn, Settings(), probe=False)
        assert notes == []
        assert detect_drift(store, state) == []

        preview = await plan_release(conn, gate, journal, CTX, poll=poll)
        assert preview.refusals == []
        # The marks come off after the restore verified: the object keeps its prior state
        # (for any operator to release) until it is back.
        assert [w.step for w in preview.as_plan().writes] == [
            "scale-restore", "breaker-mark", "scale-restore", "breaker-mark",
            "restore-traffic", "restore-auto-sync", "restore-auto-sync"]
        assert writes_seen(calm) == []  # a preview sends nothing
        done = await release(gate, journal, conn, CTX, reason=REASON, confirm=CONFIRM,
                             poll=poll)
        assert done.ok and done.released, done.summary()
        assert [o.phase for o in done.outcomes] == ["scale", "scale", "shift", "freeze",
                                                    "freeze"]  # reverse order
    assert_restored(calm, before)
    assert not (await breaker_status(journal, CTX)).engaged
    assert await journal.open_operations(CTX) == []


async def test_control_scaling_without_the_pause_is_reverted_by_selfheal(
        calm: DrillCluster, journal: Journal) -> None:
    async with await _conn(calm) as conn:
        gate = gate_for(conn, journal)
        plan = await plan_scale(conn, gate, "payments", "payments", 0)
        assert any("selfHeal will revert this" in w for w in plan.warnings)
        assert (await execute(gate, plan, reason=REASON, confirm=CONFIRM)).ok
        assert replicas(calm, "payments", "payments") == 0
        calm.sim.advance(10 * calm.config.self_heal_delay + 30)
        assert replicas(calm, "payments", "payments") == 2  # Git's value: reverted


async def test_no_config_proposes_the_degraded_app_and_pauses_the_stalled_rollout(
        bad: DrillCluster, journal: Journal) -> None:
    """checkout-stable crash-loops in the middle of a rollout whose old ReplicaSet still
    serves: the proposal pauses the rollout (it used to scale it to 0, the 90 % backend of
    checkout/checkout), and release puts spec.paused back exactly (absent)."""
    spec = bad.state.get(DEPLOY, "checkout", "checkout-stable")["spec"]
    assert "paused" not in spec
    async with await _conn(bad) as conn:
        store, notes = await list_cluster(conn, Settings(), probe=False)
        assert notes == []
        gate = gate_for(conn, journal)
        plan = await plan_engage(conn, gate, store, None, poll=sim_poll(bad))
        assert plan.proposed
        assert [t.key for t in plan.targets] == ["freeze:argocd/checkout",
                                                 "pause:checkout/checkout-stable"]
        assert "Degraded" in plan.targets[0].why and "CrashLoopBackOff" in plan.targets[1].why
        assert "still serves" in plan.targets[1].why
        assert "pause sync first" not in " ".join(plan.warnings)  # the freeze covers it
        assert "checkout/checkout: 4 ready pod(s) behind weight -> 4" in plan.describe()
        result = await engage(gate, plan, reason=REASON, confirm=CONFIRM)
        assert result.ok, result.summary()
        bad.sim.advance(120)
        stable = bad.state.get(DEPLOY, "checkout", "checkout-stable")
        assert stable["spec"]["paused"] is True and replicas(bad, "checkout",
                                                              "checkout-stable") == 3
        assert stable["status"]["readyReplicas"] == 3  # the old ReplicaSet still serves
        assert auto_sync(bad, "checkout") == {"prune": True, "selfHeal": True,
                                              "enabled": False}
        done = await release(gate, journal, conn, CTX, reason=REASON, confirm=CONFIRM)
        assert done.ok and done.released, done.summary()
        # Git's revision is the crash-looping release: its auto-sync stays paused, said so
        assert "auto-sync of argocd/checkout kept paused" in done.summary()
    assert auto_sync(bad, "checkout") == {"prune": True, "selfHeal": True, "enabled": False}
    assert BREAKER_ANNOTATION not in annotations_of(bad, APPS, "argocd", "checkout")
    stable = bad.state.get(DEPLOY, "checkout", "checkout-stable")
    assert "paused" not in stable["spec"] and replicas(bad, "checkout", "checkout-stable") == 3
    assert BREAKER_ANNOTATION not in (stable["metadata"].get("annotations") or {})


async def test_release_after_an_argo_rollback_keeps_the_bad_head_paused_unless_chosen(
        bad: DrillCluster, journal: Journal) -> None:
    """The breaker froze checkout mid-incident, then the engineer rolled it back through
    Argo CD: Git still holds the crash-looping commit. Release keeps checkout's auto-sync
    paused (held, not refused: the rest of the release goes out); restoring it anyway is an
    explicit choice (``restore_bad``), which then restores exactly."""
    async with await _conn(bad) as conn:
        gate = gate_for(conn, journal)
        plan = await plan_engage(conn, gate, None, BreakerConfig(apps=["checkout"]))
        assert (await engage(gate, plan, reason=REASON, confirm=CONFIRM)).ok
        history = bad.state.get(APPS, "argocd", "checkout")["status"]["history"]
        bad_commit = history[-1]["revision"]
        back = await plan_rollback(conn, gate, ("argocd", "checkout"), history[-2]["id"])
        assert (await execute(gate, back, reason=REASON, confirm=CONFIRM)).ok
        bad.sim.advance(120)
        assert bad.state.get(APPS, "argocd", "checkout")["status"]["health"][
            "status"] == "Healthy"

        held = await plan_release(conn, gate, journal, CTX)
        shown = held.as_plan()
        [line] = shown.held
        assert line.startswith(f"auto-sync of argocd/checkout kept paused: restoring it would "
                               f"sync {bad_commit[:12]}")
        assert "restore-auto-sync" not in [w.step for w in shown.writes]
        assert not shown.blocked  # held back, not refused

        chosen = await plan_release(conn, gate, journal, CTX, restore_bad=True)
        assert chosen.held == [] and "restore-auto-sync" in [w.step for w in
                                                             chosen.as_plan().writes]
        assert any("anyway, as chosen" in w for w in chosen.warnings)
        done = await release(gate, journal, conn, CTX, reason=REASON, confirm=CONFIRM,
                             restore_bad=True)
        assert done.ok and done.released and not done.held, done.summary()
    assert auto_sync(bad, "checkout") == {"prune": True, "selfHeal": True}
    assert BREAKER_ANNOTATION not in annotations_of(bad, APPS, "argocd", "checkout")


async def test_excluding_a_managing_app_warns_that_selfheal_will_revert(
        calm: DrillCluster, journal: Journal) -> None:
    async with await _conn(calm) as conn:
        gate = gate_for(conn, journal)
        plan = await plan_engage(conn, gate, None,
                                 BreakerConfig(deployments=["payments/payments"],
                                               allow_no_backend=["payments/payments"]))
        assert [t.key for t in plan.targets] == ["freeze:argocd/payments",
                                                 "scale:payments/payments"]
        assert plan.warnings == ["payments/payments: accepted to be left with no ready "
                                 "backend (--allow-no-backend)"]
        plan.exclude("freeze:argocd/payments")
        assert any("argocd/payments has auto-sync on and is not frozen" in w
                   for w in plan.warnings)
        assert "[ ] argocd/payments" in plan.describe()


# --------------------------------------------------------------------------- killed release


async def test_status_reads_the_cluster_after_a_release_killed_after_its_scale_phase(
        calm: DrillCluster, journal: Journal) -> None:
    """A release that got through its scale phase and died: the journal still says engaged
    (it is marked released only when every restore verified). Status reads the objects and
    says "partly released: 2 of 5 restored", naming them; a colleague then scales payments
    by hand, which status names and the next release leaves alone; that release sends
    only the route's and the apps' restores (the server's request log)."""
    before = snapshot(calm)
    async with await _conn(calm) as conn:
        gate = gate_for(conn, journal)
        poll = sim_poll(calm)
        plan = await plan_engage(conn, gate, None, CONFIG, poll=poll)
        engaged = await engage(gate, plan, reason=REASON, confirm=CONFIRM)
        assert engaged.ok, engaged.summary()
        live = await live_state(conn, await breaker_status(journal, CTX))
        assert [t.state for t in live.targets] == ["engaged"] * 5
        assert live.headline().startswith("BREAKER ENGAGED 5/5 (")

        # The release, killed once its scale phase verified (what release runs first).
        preview = await plan_release(conn, gate, journal, CTX, poll=poll)
        op, restores = preview.operations[0]
        scale = [(r.target.key, r.target.label, r.writes) for r in restores
                 if r.target.phase == "scale"]
        _outcomes, error = await run_phases(gate, [("scale", scale)], reason=REASON,
                                            confirm=CONFIRM, cancel=None, on_progress=None,
                                            operation_id=f"{op.operation_id}~release-killed")
        assert not error
        assert all(replicas(calm, ns, n) == before["replicas"][f"{ns}/{n}"] for ns, n in SCALED)

        state = await breaker_status(journal, CTX)
        assert state.engaged  # the journal alone cannot know
        live = await live_state(conn, state)
        assert live.headline().startswith(
            f"breaker partly released: 2 of 5 restored ({op.operation_id}) by ")
        assert {t.target.key: t.state for t in live.targets} == {
            "freeze:argocd/checkout": "engaged", "freeze:argocd/payments": "engaged",
            "shift:checkout/checkout": "engaged", "scale:checkout/checkout-canary": "restored",
            "scale:payments/payments": "restored"}

        def by_hand(deploy: dict[str, Any]) -> dict[str, Any]:
            deploy["spec"]["replicas"] = 5
            return deploy

        calm.state.mutate(DEPLOY, "payments", "payments", by_hand)
        live = await live_state(conn, state)
        assert live.headline().startswith("breaker partly released: 1 of 5 restored")
        changed = {t.target.key: t for t in live.targets}["scale:payments/payments"]
        assert changed.state == "changed"
        assert changed.describe() == ("changed since by someone else (replicas 5; the breaker "
                                      "set 0, before it 2)")

        calm.server.record_requests = True
        done = await release(gate, journal, conn, CTX, reason=REASON, confirm=CONFIRM,
                             poll=poll)
        assert done.ok and done.released, done.summary()
        sent = writes_seen(calm)
        assert sent and not any("/deployments/" in path for _m, path, *_ in sent), sent
        quiet = {o.key: o.detail for o in done.outcomes if o.state == "nothing-to-do"}
        assert quiet["scale:checkout/checkout-canary"].startswith("already restored")
        assert "left as it is" in quiet["scale:payments/payments"]
    assert replicas(calm, "payments", "payments") == 5  # the colleague's change stands
    after = snapshot(calm)
    assert after["apps"] == before["apps"] and after["route"] == before["route"]
    assert not (await breaker_status(journal, CTX)).engaged


async def test_status_says_released_when_every_object_is_back_and_the_journal_lags(
        calm: DrillCluster, journal: Journal) -> None:
    """Objects put back by hand (restore and annotation removed), the journal untouched:
    "released (journal not yet updated)"; release then sends nothing and marks the
    journal. A target that cannot be read is named, the others still judged."""
    async with await _conn(calm) as conn:
        gate = gate_for(conn, journal)
        config = BreakerConfig(deployments=["payments/payments"],
                               allow_no_backend=["payments/payments"])
        plan = await plan_engage(conn, gate, None, config, poll=sim_poll(calm))
        plan.exclude("freeze:argocd/payments")
        assert (await engage(gate, plan, reason=REASON, confirm=CONFIRM)).ok

        def put_back(deploy: dict[str, Any]) -> dict[str, Any]:
            deploy["spec"]["replicas"] = 2
            deploy["metadata"]["annotations"].pop(BREAKER_ANNOTATION)
            return deploy

        calm.state.mutate(DEPLOY, "payments", "payments", put_back)
        state = await breaker_status(journal, CTX)
        live = await live_state(conn, state)
        assert live.headline().startswith("breaker released (journal not yet updated): "
                                          "1 of 1 restored")

        class Broken:
            async def get_raw(self, path: str, params: Any = None) -> bytes:
                from backends.kube.errors import KubeUnreachable
                raise KubeUnreachable("connection refused\x1b]52;c;x\x07")

        lost = await live_state(Broken(), state)
        assert lost.error and "\x1b" not in lost.headline()
        assert lost.headline().startswith("BREAKER ENGAGED (")  # the journal's word
        assert "journal only: the cluster could not be read" in lost.headline()

        calm.server.record_requests = True
        done = await release(gate, journal, conn, CTX, reason=REASON, confirm=CONFIRM)
        assert done.ok and done.released, done.summary()
        assert writes_seen(calm) == []
    assert replicas(calm, "payments", "payments") == 2


# --------------------------------------------------------------------------- stop, read-only, RBAC


async def test_a_failed_step_stops_the_breaker_and_says_what_was_done(
        calm: DrillCluster, journal: Journal) -> None:
    before = snapshot(calm)
    async with await _conn(calm) as conn:
        gate = gate_for(conn, journal)
        plan = await plan_engage(conn, gate, None, CONFIG, poll=sim_poll(calm))

        def edited(route: dict[str, Any]) -> dict[str, Any]:  # someone edits it meanwhile
            route["spec"]["rules"][0]["backendRefs"][1]["weight"] = 20
            return route

        calm.state.mutate(ROUTES, "checkout", "checkout", edited)
        result = await engage(gate, plan, reason=REASON, confirm=CONFIRM)
        assert not result.ok
        states = {o.key: o.state for o in result.outcomes}
        assert states == {"freeze:argocd/checkout": "done", "freeze:argocd/payments": "done",
                          "shift:checkout/checkout": "failed",
                          "scale:checkout/checkout-canary": "not-started",
                          "scale:payments/payments": "not-started"}
        assert "shift checkout/checkout" in result.error
        assert "STOPPED" in result.summary() and "not-started: scale" in result.summary()
        assert all(replicas(calm, ns, n) == before["replicas"][f"{ns}/{n}"] for ns, n in SCALED)

        state = await breaker_status(journal, CTX)
        assert state.engaged and state.half_done
        assert [t.key for t in state.targets] == ["freeze:argocd/checkout",
                                                  "freeze:argocd/payments"]
        done = await release(gate, journal, conn, CTX, reason=REASON, confirm=CONFIRM)
        assert done.ok, done.summary()
    assert all(auto_sync(calm, a) == before["apps"][a]["syncPolicy"]["automated"]
               for a in APP_NAMES)
    assert not (await breaker_status(journal, CTX)).engaged


async def test_read_only_engage_sends_no_write(calm: DrillCluster, journal: Journal) -> None:
    async with await _conn(calm) as conn:
        gate = gate_for(conn, journal, read_only=True)
        calm.server.record_requests = True
        plan = await plan_engage(conn, gate, None, CONFIG, poll=sim_poll(calm))
        assert plan.ready  # planning only reads (and asks access reviews)
        rv = calm.state.rv
        result = await engage(gate, plan, reason=REASON, confirm=Confirmation(CTX, True))
        assert not result.ok and "read-only mode" in result.error
        assert {o.state for o in result.outcomes} == {"failed", "not-started"}
        assert writes_seen(calm) == []
        assert calm.state.rv == rv
        assert {e.status for e in await journal.entries()} == {"refused"}
        assert not (await breaker_status(journal, CTX)).engaged


@pytest.fixture
async def denying(tmp_path: Path) -> AsyncIterator[DrillCluster]:
    policy = Policy([Rule(verbs=frozenset({"patch"}), groups=frozenset({"apps"}),
                          resources=frozenset({"deployments/scale"}), allow=False)])
    cluster = await started(drill_options(tmp_path, policy=policy))
    try:
        yield cluster
    finally:
        await cluster.stop()


async def test_rbac_blocked_step_is_named_and_refused_until_excluded(
        denying: DrillCluster, journal: Journal) -> None:
    async with await _conn(denying) as conn:
        gate = gate_for(conn, journal)
        plan = await plan_engage(conn, gate, None, BreakerConfig(
            apps=["checkout"], deployments=["checkout/checkout-stable"]))
        assert plan.blocked == ["scale checkout/checkout-stable: forbidden: patch "
                                "deployments/scale in checkout: denied by drill policy"]
        assert not plan.ready
        denying.server.record_requests = True
        refused = await engage(gate, plan, reason=REASON, confirm=CONFIRM)
        assert not refused.started and "scale checkout/checkout-stable" in refused.error
        assert writes_seen(denying) == [] and await journal.entries() == []

        plan.exclude("scale:checkout/checkout-stable")
        # The shift added to keep checkout/checkout serving follows the scale it protects.
        assert not plan.target("shift:checkout/checkout").include
        assert plan.ready and plan.blocked == []
        result = await engage(gate, plan, reason=REASON, confirm=CONFIRM)
        assert result.ok and [o.state for o in result.outcomes] == ["done", "excluded",
                                                                    "excluded"]
        assert auto_sync(denying, "checkout")["enabled"] is False


# --------------------------------------------------------------------------- drift


async def test_drift_when_something_reverts_the_emergency_state(
        calm: DrillCluster, journal: Journal) -> None:
    async with await _conn(calm) as conn:
        gate = gate_for(conn, journal)
        plan = await plan_engage(conn, gate, None, CONFIG, poll=sim_poll(calm))
        assert (await engage(gate, plan, reason=REASON, confirm=CONFIRM)).ok
        state = await breaker_status(journal, CTX)

        def resume(app: dict[str, Any]) -> dict[str, Any]:  # a parent app-of-apps, say
            app["spec"]["syncPolicy"]["automated"].pop("enabled")
            return app

        calm.state.mutate(APPS, "argocd", "payments", resume)
        calm.sim.advance(30)  # selfHeal puts payments' replicas back
        store, _notes = await list_cluster(conn, Settings(), probe=False)
        drifts = {d.target: d for d in detect_drift(store, state)}
        assert set(drifts) == {"freeze:argocd/payments", "scale:payments/payments"}
        assert drifts["freeze:argocd/payments"].actual == "auto-sync on"
        scale = drifts["scale:payments/payments"]
        assert (scale.expected, scale.actual) == ("0 replicas", "2 replicas")
        assert "argocd/payments has auto-sync on with selfHeal" in scale.describe()

        reported: list[list[Drift]] = []
        ticks = iter([None])

        async def one_tick(_: float) -> None:  # the watchdog's second check, then stop
            if next(ticks, "stop") == "stop":
                raise asyncio.CancelledError

        with pytest.raises(asyncio.CancelledError):
            await watch_drift(store, lambda: state, reported.append, sleep=one_tick)
        assert [len(r) for r in reported] == [2]  # reported once, not on every tick


# --------------------------------------------------------------------------- crash safety


CRASH_SCRIPT = textwrap.dedent("""
    import asyncio, json, os, signal, sys, time
    from pathlib import Path
    from backends.kube.connection import connect
    from backends.ops.breaker import BreakerConfig, RouteShift, engage, plan_engage
    from backends.ops.gate import Confirmation, GatePolicy, WriteGate
    from backends.ops.journal import Journal
    from backends.ops.plan import Poll

    KUBECONFIG, JOURNAL, WHEN = sys.argv[1:4]

    class KillingJournal(Journal):
        async def append(self, **kw):
            entry_id = await super().append(**kw)
            if WHEN == "mid-scale" and kw.get("step") == "scale-down":
                os.kill(os.getpid(), signal.SIGKILL)  # journaled, maybe not sent
            return entry_id

    def progress(event):
        if WHEN == "after-freeze" and event.phase == "freeze" and not event.target \\
                and event.state == "done":
            print("FROZEN", flush=True)
            time.sleep(600)  # hang the whole process until the test kills it

    async def main():
        journal = KillingJournal((await Journal.open(Path(JOURNAL))).db)
        async with await connect(KUBECONFIG, None) as conn:
            gate = WriteGate(GatePolicy("drill", False, False, "crash-tester"), conn, journal)
            config = BreakerConfig(
                apps=["payments"], deployments=["checkout/checkout-canary", "payments/payments"],
                routes=[RouteShift(route="checkout/checkout",
                                   weights={"checkout-stable": 100, "checkout-canary": 0})],
                allow_no_backend=["payments/payments"])
            plan = await plan_engage(conn, gate, None, config, poll=Poll(interval=0.05))
            print("PLANNED", plan.writes(), flush=True)
            await engage(gate, plan, reason="INC-9", confirm=Confirmation(),
                         on_progress=progress)
        print("NOT KILLED", flush=True)

    asyncio.run(main())
""")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[ThreadedDrill]:
    """A real-time drill (speed 20) in a thread: the crashing process and the test both
    talk to it over HTTP, and its Argo CD and gateway controllers keep running."""
    drill = ThreadedDrill(tmp_path, scenario="calm", speed=20.0, bookmark_interval=0.2)
    try:
        yield drill
    finally:
        drill.close()


def live_snapshot(drill: ThreadedDrill) -> dict[str, Any]:
    """Read on the drill's own loop (its state belongs to that thread)."""
    out = drill.call(snapshot, drill.cluster)
    assert isinstance(out, dict)
    return out


@pytest.mark.parametrize("when", ["after-freeze", "mid-scale"])
async def test_sigkill_mid_breaker_leaves_a_half_done_breaker_that_release_restores(
        live: ThreadedDrill, tmp_path: Path, when: str) -> None:
    before = live_snapshot(live)
    path = tmp_path / "journal.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, str(live.kubeconfig),
                             str(path), when], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        planned = proc.stdout.readline()
        assert planned.startswith("PLANNED 7"), proc.stderr.read() if proc.stderr else ""
        if when == "after-freeze":
            assert proc.stdout.readline().strip() == "FROZEN"
            proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "NOT KILLED" not in (proc.stdout.read() if proc.stdout else "")

    with JournalDB.open(path) as db:  # what `controlroom breaker status` would read
        state = breaker_status_db(db, CTX)
    assert state.engaged and state.half_done and state.by == "crash-tester"
    keys = [t.key for t in state.targets]
    if when == "after-freeze":
        assert keys == ["freeze:argocd/checkout", "freeze:argocd/payments"]
        assert (state.completed, state.planned) == (2, 7)
    else:
        assert keys[:3] == ["freeze:argocd/checkout", "freeze:argocd/payments",
                            "shift:checkout/checkout"]
        # Both scale-downs run concurrently: one or both rows are journaled, never answered.
        scale = [t for t in state.targets if t.phase == "scale"]
        assert scale and all(t.unsettled for t in scale)
    frozen = live_snapshot(live)
    assert all(frozen["apps"][a]["syncPolicy"]["automated"]["enabled"] is False
               for a in APP_NAMES)

    journal = await Journal.open(path)
    try:
        async with await connect(str(live.kubeconfig), None) as conn:
            gate = WriteGate(GatePolicy(CTX, False, False, "next-oncall"), conn, journal)
            done = await release(gate, journal, conn, CTX, reason="INC-9 recovery",
                                 confirm=CONFIRM, poll=Poll(interval=0.05))
            assert done.ok and done.released, done.summary()
        assert not (await breaker_status(journal, CTX)).engaged
    finally:
        await journal.close()
    after = live_snapshot(live)
    assert after["apps"] == before["apps"]
    assert after["replicas"] == before["replicas"]
    assert after["route"] == before["route"]
    for a in APP_NAMES:
        assert BREAKER_ANNOTATION not in str(live.call(annotations_of, live.cluster, APPS,
                                                       "argocd", a))


def test_plan_is_an_editable_value() -> None:
    plan = BreakerPlan(context=CTX)
    assert plan.refusals == ["nothing to do: no included target needs a change"]
    with pytest.raises(KeyError, match="no breaker target"):
        plan.exclude("scale:x/y")
