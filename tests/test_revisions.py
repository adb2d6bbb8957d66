"""Rollbacks know the bad revision (issue 14, points 3 and 4), judged by the use cases the App
and the CLI share, on ``bad-rollout`` moved by hand (the ``rollout`` fixture).

Before any rollback the Deployment's new ReplicaSet crash-loops while the old one still serves
every replica: the default undo target is that old revision, not merely "the previous one".
After an Argo CD rollback the old ReplicaSet is the newest revision again and kubectl's
"previous" is the crash-looping 1.5.0: it is marked as the incident, never the default, and
picking it warns. Restoring auto-sync would sync Git's head, the commit the rollback moved
away from: it stays paused unless the operator chooses otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from backends.kube.connection import KubeConnection, connect
from backends.ops.journal import Journal
from backends.usecases import argocd, workloads
from backends.usecases.run import run
from drill.controllers.scenarios import BAD_CHECKOUT_IMAGE
from drill.runner import DrillCluster
from tests.ops_support import APPS, CONFIRM, REASON, image
from tests.usecase_support import workspace

GOOD_IMAGE = "ghcr.io/drill/checkout:1.4.2"


@pytest.fixture
async def rollout_conn(rollout: DrillCluster) -> AsyncIterator[KubeConnection]:
    async with await connect(str(rollout.kubeconfig), None) as connection:
        yield connection


async def test_undo_without_a_revision_takes_the_old_replicaset_still_serving(
        rollout: DrillCluster, rollout_conn: KubeConnection, journal: Journal) -> None:
    rollout.sim.advance(150)
    ws, _ = workspace(rollout_conn, journal)
    revisions, known = await workloads.rollout_choices(ws, "checkout", "checkout-stable")
    assert [r.number for r in revisions] == [1, 2, 3]
    assert (known.current, known.incident, known.last_good, known.default) == ("3", "3", "2",
                                                                                "2")
    assert known.label("3") == "current, incident (bad)"
    assert "CrashLoopBackOff" in known.why("3") and "progress deadline" in known.why("3")
    assert known.label("2") == "last known good" and known.why("2") == \
        "all 3 replicas available"
    assert known.label("1") == ""  # scaled to 0 long ago: nothing recorded
    action = await workloads.plan_rollout_undo(ws, "checkout", "checkout-stable")
    [write] = action.plan.writes
    assert write.intent["to_revision"] == 2 and write.intent["images"] == [GOOD_IMAGE]
    assert action.plan.info[0] == ("no revision given: took revision 2, the last known good "
                                   "(all 3 replicas available)")


async def test_after_an_argo_rollback_the_incident_is_marked_never_default_and_not_redeployed(
        rollout: DrillCluster, rollout_conn: KubeConnection, journal: Journal) -> None:
    rollout.sim.advance(150)
    ws, _ = workspace(rollout_conn, journal)
    history = rollout.state.get(APPS, "argocd", "checkout")["status"]["history"]
    bad_commit = history[-1]["revision"]

    # The Argo CD picker: the entry deployed now is the incident, the default is the entry
    # that was Healthy when the bad one was deployed.
    entries, known = await argocd.rollback_choices(ws, "argocd", "checkout")
    assert [e.id for e in entries] == [h["id"] for h in history]
    current, previous = str(history[-1]["id"]), str(history[-2]["id"])
    assert (known.incident, known.default) == (current, previous)
    assert known.why(current) == "deployed now, in sync and Degraded"
    assert known.why(previous).startswith("the app was Healthy when history")

    assert (await run(await argocd.plan_pause_sync(ws, "argocd", "checkout"), reason=REASON,
                      confirm=CONFIRM)).ok
    action = await argocd.plan_rollback_app(ws, "argocd", "checkout", reason=REASON)
    assert action.plan.info[0].startswith(f"no history given: took history {previous}, the "
                                          "last known good")
    assert (await run(action, reason=REASON, confirm=CONFIRM)).ok
    rollout.sim.advance(120)
    assert image(rollout, "checkout", "checkout-stable") == GOOD_IMAGE

    # The Deployment: the old ReplicaSet came back as revision 4; "previous" (3) is 1.5.0.
    revisions, known = await workloads.rollout_choices(ws, "checkout", "checkout-stable")
    assert [r.number for r in revisions] == [1, 3, 4]
    assert revisions[1].images == (BAD_CHECKOUT_IMAGE,)
    assert (known.current, known.incident, known.last_good, known.default) == ("4", "3", "4",
                                                                                "4")
    assert known.label("3") == "incident (bad)" and "BackOff" in known.why("3")
    idle = await workloads.plan_rollout_undo(ws, "checkout", "checkout-stable")
    assert idle.plan.empty and idle.plan.info[0].startswith(
        "no revision given: took revision 4, the last known good")
    picked = await workloads.plan_rollout_undo(ws, "checkout", "checkout-stable", 3)
    assert picked.plan.warnings[0].startswith(
        "revision 3 is recorded as bad: BackOff x")
    assert "(the revision the incident came from): pick the last known good instead " \
           "(revision 4)" in picked.plan.warnings[0]

    # Argo CD: the bad entry is marked (by the history and by our journal); the default,
    # the entry deployed now, plans nothing.
    entries, known = await argocd.rollback_choices(ws, "argocd", "checkout")
    assert known.incident == current and known.default == str(entries[-1].id)
    assert "rolled back from it" in known.why(current)
    assert "rolled back away from it at" in known.why(current)  # the journal's record
    assert (await argocd.plan_rollback_app(ws, "argocd", "checkout")).plan.empty

    # Restoring auto-sync would sync Git's head, the bad commit: held back, offered anyway.
    held = await argocd.plan_restore_sync(ws, "argocd", "checkout")
    assert held.plan.empty and held.plan.held[0].startswith(
        f"auto-sync of argocd/checkout kept paused: restoring it would sync {bad_commit[:12]}")
    [offer] = held.plan.offers
    anyway = await offer.build()
    assert [w.step for w in anyway.writes] == ["restore-auto-sync"]
    chosen = await argocd.plan_restore_sync(ws, "argocd", "checkout", restore_bad=True)
    assert [w.step for w in chosen.plan.writes] == ["restore-auto-sync"]
    assert chosen.plan.warnings[0].startswith("restoring auto-sync of argocd/checkout anyway")
