"""Rollout pause and resume as use cases (issue 14, point 2), on the drill: journaled, and
resume puts back exactly the ``spec.paused`` recorded before the pause, ``false`` and absent
alike; pausing a paused Deployment and resuming one that is not paused send nothing."""

from __future__ import annotations

import json

from backends.kube.connection import KubeConnection
from backends.ops.journal import Journal
from backends.usecases import rollout
from backends.usecases.run import run
from drill.runner import DrillCluster
from tests.ops_support import CONFIRM, DEPLOY, REASON
from tests.usecase_support import workspace


def spec(cluster: DrillCluster) -> dict[str, object]:
    value: dict[str, object] = cluster.state.get(DEPLOY, "catalog", "catalog")["spec"]
    return value


async def test_resume_puts_back_the_recorded_value_and_no_ops_say_so(
        sim: DrillCluster, conn: KubeConnection, journal: Journal) -> None:
    ws, recorder = workspace(conn, journal)
    for before in (False, None):  # an explicit false, then the field absent
        sim.state.mutate(DEPLOY, "catalog", "catalog", lambda d, b=before: {
            **d, "spec": {**{k: v for k, v in d["spec"].items() if k != "paused"},
                          **({} if b is None else {"paused": b})}})
        pause = await rollout.plan_pause_rollout(ws, "catalog", "catalog")
        assert [(w.step, w.prior, w.intent) for w in pause.plan.writes] == [
            ("rollout-pause", {"paused": before}, {"paused": True})]
        assert (await run(pause, reason=REASON, confirm=CONFIRM)).ok
        assert spec(sim)["paused"] is True

        again = await rollout.plan_pause_rollout(ws, "catalog", "catalog")
        assert again.plan.writes == [] and again.plan.info == [
            "Deployment catalog/catalog is already paused: nothing to do"]

        resume = await rollout.plan_resume_rollout(ws, "catalog", "catalog")
        recorder.take()
        assert (await run(resume, reason=REASON, confirm=CONFIRM)).ok
        _, sent = recorder.take()
        assert [json.loads(body or b"") for _, _, body in sent] == [
            {"spec": {"paused": before}}]
        assert spec(sim).get("paused", "absent") == (before if before is not None
                                                      else "absent")
        idle = await rollout.plan_resume_rollout(ws, "catalog", "catalog")
        assert idle.plan.writes == [] and idle.plan.info == [
            "Deployment catalog/catalog is not paused: nothing to do"]
    steps = [(e.step, e.status) for e in await journal.entries()]
    assert steps == [("rollout-pause", "verified"), ("rollout-resume", "verified")] * 2
