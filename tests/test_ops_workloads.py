"""Workload actions on the drill: scale (and Argo CD selfHeal fighting it), restore, rollout
history, and rollout undo judged against what the real kubectl does to an identical cluster."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from backends.kube.connection import KubeConnection, connect
from backends.ops.gate import WriteGate
from backends.ops.journal import Journal
from backends.ops.plan import PlanError, execute
from backends.ops.workloads import (
    ANNOTATIONS_TO_SKIP,
    plan_rollout_undo,
    plan_scale,
    plan_scale_restore,
    rollout_history,
    semantic,
)
from drill.runner import DrillCluster
from tests.conftest import require_program
from tests.ops_support import (
    CONFIRM,
    DEPLOY,
    REASON,
    START,
    drill_options,
    gate_for,
    image,
    replicas,
    started,
    writes_seen,
)


@pytest.fixture
def gate(conn: KubeConnection, journal: Journal) -> WriteGate:
    return gate_for(conn, journal)


# --------------------------------------------------------------------------- scale


async def test_self_heal_reverts_a_scale_until_sync_is_paused_first(
        sim: DrillCluster, conn: KubeConnection, gate: WriteGate, journal: Journal) -> None:
    sim.sim.advance(5)
    plan = await plan_scale(conn, gate, "payments", "payments", 0)
    assert any("selfHeal will revert this: pause sync first" in w for w in plan.warnings)
    assert any("HorizontalPodAutoscalers are not served" in i for i in plan.info)
    assert [o.title for o in plan.offers] == ["Pause auto-sync of argocd/payments"]
    [write] = plan.writes
    assert write.request.path.endswith("/deployments/payments/scale")
    assert write.prior == {"replicas": 2} and write.intent == {"replicas": 0}
    assert write.warnings == tuple(plan.warnings)  # kept with the target when chained

    done = await execute(gate, plan, reason=REASON, confirm=CONFIRM)
    assert done.ok and done.results[0].writes[0].verified
    assert replicas(sim, "payments", "payments") == 0
    sim.sim.advance(sim.config.self_heal_delay + 5)
    assert replicas(sim, "payments", "payments") == 2  # selfHeal put Git's value back

    pause = await plan.offers[0].build()
    assert (await execute(gate, pause, reason=REASON, confirm=CONFIRM)).ok
    again = await plan_scale(conn, gate, "payments", "payments", 0)
    assert not any("selfHeal" in w for w in again.warnings)
    assert any("auto-sync is paused: the change holds" in i for i in again.info)
    assert (await execute(gate, again, reason=REASON, confirm=CONFIRM)).ok
    sim.sim.advance(60)
    assert replicas(sim, "payments", "payments") == 0

    [recorded] = [e.prior["replicas"] for e in await journal.entries()
                  if e.step == "scale-down" and e.status == "verified"][-1:]
    restore = await plan_scale_restore(conn, gate, "payments", "payments", recorded)
    assert restore.writes[0].step == "scale-restore"
    assert (await execute(gate, restore, reason=REASON, confirm=CONFIRM)).ok
    assert replicas(sim, "payments", "payments") == 2
    assert (await plan_scale(conn, gate, "payments", "payments", 2)).empty


async def test_scale_refuses_nonsense_and_unknown_targets(conn: KubeConnection,
                                                          gate: WriteGate) -> None:
    with pytest.raises(PlanError, match="whole number"):
        await plan_scale(conn, gate, "payments", "payments", -1)
    with pytest.raises(PlanError, match="Deployment payments/nope not found"):
        await plan_scale(conn, gate, "payments", "nope", 0)


# --------------------------------------------------------------------------- history/undo


async def test_rollout_history_lists_owned_revisions(conn: KubeConnection) -> None:
    history = await rollout_history(conn, "frontend", "web")
    assert [(r.number, r.images) for r in history] == [
        (1, ("ghcr.io/drill/web:2.7.3",)), (2, ("ghcr.io/drill/web:2.8.0",))]
    assert all(r.rs_name.startswith("web-") and r.created for r in history)


async def test_undo_refuses_paused_skips_current_and_unknown_revisions(
        sim: DrillCluster, conn: KubeConnection, gate: WriteGate) -> None:
    skipped = await plan_rollout_undo(conn, gate, "frontend", "web", 2)
    assert skipped.empty
    assert skipped.info == ["skipped rollback (current template already matches revision 2)"]
    with pytest.raises(PlanError, match="unable to find specified revision 9 in history"):
        await plan_rollout_undo(conn, gate, "frontend", "web", 9)
    with pytest.raises(PlanError, match='no rollout history found for deployment "checkout-can'):
        await plan_rollout_undo(conn, gate, "checkout", "checkout-canary")
    sim.state.mutate(DEPLOY, "frontend", "web",
                     lambda d: {**d, "spec": {**d["spec"], "paused": True}})
    with pytest.raises(PlanError, match="resume it first"):
        await plan_rollout_undo(conn, gate, "frontend", "web")


async def test_undo_is_reverted_by_self_heal_and_warns_about_dropped_annotations(
        sim: DrillCluster, conn: KubeConnection, gate: WriteGate) -> None:
    plan = await plan_rollout_undo(conn, gate, "frontend", "web")
    assert any("argocd.argoproj.io/tracking-id" in w for w in plan.warnings)
    assert any("selfHeal will revert this" in w for w in plan.warnings)
    done = await execute(gate, plan, reason=REASON, confirm=CONFIRM)
    assert done.ok, done.summary()
    assert image(sim, "frontend", "web") == "ghcr.io/drill/web:2.7.3"
    sim.sim.advance(sim.config.self_heal_delay + 5)
    assert image(sim, "frontend", "web") == "ghcr.io/drill/web:2.8.0"


async def _kubectl(kubeconfig: Path, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        require_program("kubectl"), "--kubeconfig", str(kubeconfig), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


@pytest.mark.kubectl
@pytest.mark.parametrize(("ns", "name", "revision"), [
    ("frontend", "web", None), ("frontend", "web", 1), ("checkout", "checkout-stable", None)])
async def test_undo_produces_what_kubectl_rollout_undo_produces(
        tmp_path: Path, journal: Journal, ns: str, name: str, revision: int | None) -> None:
    """Two identical static drills: the real kubectl undoes on one, the plan on the other;
    the resulting Deployments must agree field by field (the pod template, the annotations,
    and nothing else changed). The only difference allowed is Go's ``creationTimestamp:
    null`` in kubectl's template, which a real API server stores for both anyway."""
    require_program("kubectl")
    a = await started(drill_options(tmp_path, simulate=False, name="a.kubeconfig", start=START))
    b = await started(drill_options(tmp_path, simulate=False, name="b.kubeconfig", start=START))
    try:
        assert a.state.get(DEPLOY, ns, name) == b.state.get(DEPLOY, ns, name)
        args = ["rollout", "undo", f"deployment/{name}", "-n", ns]
        if revision is not None:
            args.append(f"--to-revision={revision}")
        assert a.kubeconfig is not None and b.kubeconfig is not None
        assert "rolled back" in await _kubectl(a.kubeconfig, *args)

        async with await connect(str(b.kubeconfig), None) as conn:
            gate = gate_for(conn, journal)
            b.server.record_requests = True
            plan = await plan_rollout_undo(conn, gate, ns, name, revision)
            done = await execute(gate, plan, reason=REASON, confirm=CONFIRM)
            assert done.ok, done.summary()
        [(method, _, query)] = writes_seen(b)
        assert method == "PATCH" and query == ""

        ours, theirs = b.state.get(DEPLOY, ns, name), a.state.get(DEPLOY, ns, name)
        kubectl_template = copy.deepcopy(theirs["spec"]["template"])
        assert kubectl_template["metadata"].pop("creationTimestamp") is None
        assert ours["spec"]["template"] == kubectl_template
        assert ours["metadata"]["annotations"] == theirs["metadata"]["annotations"]
        assert "pod-template-hash" not in ours["spec"]["template"]["metadata"]["labels"]
        for key in ("labels", "generation", "name", "namespace", "uid"):
            assert ours["metadata"].get(key) == theirs["metadata"].get(key), key
        assert {k: v for k, v in ours["spec"].items() if k != "template"} == {
            k: v for k, v in theirs["spec"].items() if k != "template"}
        assert set(ours["metadata"]["annotations"]) >= {"deployment.kubernetes.io/revision"}
        assert ANNOTATIONS_TO_SKIP & set(ours["metadata"]["annotations"]) == {
            "deployment.kubernetes.io/revision"}
    finally:
        await a.stop()
        await b.stop()


def test_semantic_equality_ignores_go_zero_values() -> None:
    go = {"metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
          "spec": {"containers": [{"name": "web", "resources": {}}], "volumes": []}}
    py: dict[str, Any] = {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web"}]}}
    assert semantic(go) == semantic(py)
    assert semantic(go) != semantic({**py, "spec": {"containers": [{"name": "api"}]}})
