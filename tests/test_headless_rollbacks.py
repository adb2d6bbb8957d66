"""The headless rollbacks on ``bad-rollout``, end to end (issue 14, points 3 and 4): the real
``controlroom`` as a child process against the drill in a thread on a manual clock (the
``bad_rollout`` fixture), the journal shared by the commands (one state dir).

The engineer rolls checkout back through Argo CD (``--to previous``: the last known good
entry), then ``rollback deployment`` without a revision: kubectl's "previous" would now be
the crash-looping 1.5.0 (the old ReplicaSet came back as the newest revision); the command
takes the last known good (the current one: nothing to do) and says so. Asking for the bad
revision warns. Restoring auto-sync would sync Git's head, the bad commit: ``restore-sync``
keeps it paused and exits 1 unless ``--restore-bad-sync``; ``breaker release`` keeps it
paused and says so, in the plan and in its result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drill.controllers.scenarios import BAD_CHECKOUT_IMAGE
from tests.conftest import ThreadedDrill
from tests.ops_support import APPS, DEPLOY
from tests.test_baseline_drill import advance, runner

REASON = "INC-14 bad rollout"
WRITE = ("--reason", REASON, "--yes")
GOOD_IMAGE = "ghcr.io/drill/checkout:1.4.2"


def state(drill: ThreadedDrill, rt: Any, ns: str, name: str) -> Any:
    return drill.call(drill.cluster.state.get, rt, ns, name)


def image(drill: ThreadedDrill) -> str:
    d = state(drill, DEPLOY, "checkout", "checkout-stable")
    return str(d["spec"]["template"]["spec"]["containers"][0]["image"])


def auto_sync(drill: ThreadedDrill) -> Any:
    return state(drill, APPS, "argocd", "checkout")["spec"]["syncPolicy"].get("automated")


def test_rollbacks_take_the_last_known_good_and_restore_keeps_the_bad_head_paused(
        bad_rollout: ThreadedDrill, tmp_path: Path) -> None:
    run = runner(tmp_path, bad_rollout.kubeconfig)
    advance(bad_rollout, 150)  # 1.5.0 crash-loops; checkout is Degraded

    early = run("rollback", "deployment", "checkout/checkout-stable", "--dry-run", *WRITE)
    assert early.returncode == 0, early.stderr
    assert "no revision given: took revision 2, the last known good (all 3 replicas " \
           "available)" in early.stdout

    assert run("pause-sync", "checkout", *WRITE).returncode == 0
    history = state(bad_rollout, APPS, "argocd", "checkout")["status"]["history"]
    back = run("rollback", "app", "checkout", "--to", "previous", "--no-wait", *WRITE)
    assert back.returncode == 0, back.stderr
    assert f"no history given: took history {history[-2]['id']}, the last known good" \
        in back.stdout
    advance(bad_rollout, 120)
    assert image(bad_rollout) == GOOD_IMAGE

    undo = run("rollback", "deployment", "checkout/checkout-stable", *WRITE)
    assert undo.returncode == 0, undo.stderr
    assert "no revision given: took revision 4, the last known good" in undo.stdout
    assert "skipped rollback (current template already matches revision 4)" in undo.stdout
    assert image(bad_rollout) == GOOD_IMAGE  # not the previous revision, 1.5.0

    asked = run("rollback", "deployment", "checkout/checkout-stable", "--to", "3",
                "--dry-run", *WRITE)
    assert asked.returncode == 0, asked.stderr
    assert "! revision 3 is recorded as bad: BackOff x" in asked.stdout
    assert image(bad_rollout) == GOOD_IMAGE

    kept = run("restore-sync", "checkout", *WRITE)
    assert kept.returncode == 1
    assert "HELD BACK (not done, on purpose):" in kept.stdout
    assert f"would sync {history[-1]['revision'][:12]}" in kept.stdout
    assert "--restore-bad-sync restores it anyway" in kept.stderr
    assert auto_sync(bad_rollout)["enabled"] is False

    forced = run("restore-sync", "checkout", "--restore-bad-sync", *WRITE)
    assert forced.returncode == 0, forced.stderr
    assert auto_sync(bad_rollout) == {"prune": True, "selfHeal": True}
    advance(bad_rollout, 30)
    assert image(bad_rollout) == BAD_CHECKOUT_IMAGE  # what was chosen: Git's head again


def test_breaker_release_keeps_the_bad_head_paused_and_says_so(
        bad_rollout: ThreadedDrill, tmp_path: Path) -> None:
    run = runner(tmp_path, bad_rollout.kubeconfig)
    advance(bad_rollout, 150)
    engaged = run("breaker", "engage", "--app", "checkout", *WRITE)
    assert engaged.returncode == 0, engaged.stderr
    assert run("rollback", "app", "checkout", "--no-wait", *WRITE).returncode == 0
    advance(bad_rollout, 120)

    released = run("breaker", "release", *WRITE)
    assert released.returncode == 0, released.stderr
    lines = released.stdout.splitlines()
    held = lines.index("HELD BACK (not done, on purpose):")  # in the plan, before sending
    assert lines[held + 1].startswith("  x auto-sync of argocd/checkout kept paused")
    assert "  (--restore-bad-sync restores auto-sync anyway)" in lines
    assert lines[-1].startswith("release breaker-")
    assert "auto-sync of argocd/checkout kept paused" in lines[-1]  # and in the result
    assert auto_sync(bad_rollout)["enabled"] is False
    annotations = state(bad_rollout, APPS, "argocd", "checkout")["metadata"]["annotations"]
    assert "controlroom.io/breaker" not in annotations  # released: only the pause is left
    assert "controlroom.io/paused-automated" in annotations  # restore-sync can restore it
