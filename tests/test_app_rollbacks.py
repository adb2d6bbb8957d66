"""The App after the bad rollout was rolled back through Argo CD (issue 14, points 3 and 4),
driven with Pilot on ``bad-rollout`` moved by hand (the ``rollout`` fixture).

A teammate paused checkout's auto-sync (recording the prior policy on the app, as the control
room does) and rolled it back to the entry before the bad commit. Then: the ``r`` pickers
preselect the last known good and show a revision recorded as bad as a warning before it is
picked; ``p`` (restore auto-sync) and ``ctrl+r`` (release the breaker) hold auto-sync back in
red, because Git's head is still the bad commit, and restore it only when the offer is taken.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backends.kube.connection import connect
from backends.ops.argocd import PAUSE_ANNOTATION, plan_rollback
from backends.ops.breaker import BreakerConfig, engage, plan_engage
from backends.ops.journal import Journal
from backends.ops.plan import execute
from drill.runner import DrillCluster
from tests.ops_support import APPS, CONFIRM, REASON, gate_for
from tests.test_app import _select, make_app, until
from tests.test_app_actions import screen_name
from tui.app import ControlRoomApp
from tui.plan_screen import plan_content
from widgets.apps import AppsPanel
from widgets.workloads import WorkloadsPanel

RESTORED = {"prune": True, "selfHeal": True}
"""checkout's auto-sync policy in Git, what a restore puts back."""


def auto_sync(cluster: DrillCluster) -> Any:
    return cluster.state.get(APPS, "argocd", "checkout")["spec"]["syncPolicy"].get("automated")


def rolled_back_by_a_teammate(cluster: DrillCluster) -> str:
    """Pause (with the control room's record of the prior policy) and an Argo CD rollback
    to the entry before the bad one, by someone else; returns the bad commit."""
    history = cluster.state.get(APPS, "argocd", "checkout")["status"]["history"]
    previous = history[-2]

    def rollback(a: dict[str, Any]) -> dict[str, Any]:
        prior = a["spec"]["syncPolicy"]["automated"]
        a["metadata"].setdefault("annotations", {})[PAUSE_ANNOTATION] = json.dumps(prior)
        a["spec"]["syncPolicy"]["automated"] = {**prior, "enabled": False}
        a["operation"] = {"initiatedBy": {"username": "teammate"},
                          "sync": {"revision": previous["revision"],
                                   "source": previous.get("source"),
                                   "syncStrategy": {"apply": {}}, "prune": False}}
        return a

    cluster.state.mutate(APPS, "argocd", "checkout", rollback)
    cluster.sim.advance(120)
    return str(history[-1]["revision"])


def held_style(app: ControlRoomApp) -> str:
    """The style the plan screen gives its "held back" line."""
    plan = app.screen.plan  # type: ignore[attr-defined]
    content = plan_content(plan, None)
    start = content.plain.index("held back: ")
    return " ".join(str(s.style) for s in content.spans if s.start <= start < s.end)


async def test_pickers_preselect_the_last_known_good_and_warn_on_the_incident(
        rollout: DrillCluster) -> None:
    rollout.sim.advance(150)
    rolled_back_by_a_teammate(rollout)
    app = make_app(rollout)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await _select(pilot, app, WorkloadsPanel, "checkout/checkout-stable")
        await pilot.press("r")
        await until(pilot, lambda: screen_name(app) == "PickerScreen", "the revision picker")
        picker: Any = app.screen
        # kubectl's "previous" is revision 3, the crash-looping 1.5.0: not preselected
        assert picker.highlighted == "4"
        assert picker.note.startswith("revision 4: current, last known good (all 3 replicas")
        table = picker.query_one("#picker-table")
        assert str(table.get_row("3")[1]) == "incident (bad)"
        await pilot.press("down")
        await until(pilot, lambda: picker.highlighted == "3", "revision 3")
        assert picker.note.startswith("! revision 3 is recorded as bad: BackOff x")
        assert picker.query_one("#picker-note").has_class("picker--warning")
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the plan")
        plan = app.screen.plan  # type: ignore[attr-defined]
        assert plan.writes and plan.warnings[0].startswith("revision 3 is recorded as bad")
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(app) != "PlanScreen", "the plan to close")

        await _select(pilot, app, AppsPanel, "argocd/checkout")
        await pilot.press("r")
        await until(pilot, lambda: screen_name(app) == "PickerScreen", "the history picker")
        picker = app.screen
        history = rollout.state.get(APPS, "argocd", "checkout")["status"]["history"]
        assert picker.highlighted == str(history[-1]["id"])
        assert "current, last known good" in picker.note
        await pilot.press("down")
        await until(pilot, lambda: picker.highlighted == str(history[-2]["id"]), "the bad one")
        assert picker.note.startswith(f"! history {history[-2]['id']} is recorded as bad: "
                                      "history ")
        await pilot.press("escape")


async def test_restore_key_keeps_a_bad_head_paused_in_red_until_the_offer_is_taken(
        rollout: DrillCluster) -> None:
    rollout.sim.advance(150)
    bad = rolled_back_by_a_teammate(rollout)
    app = make_app(rollout)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await until(pilot, lambda: (row := app.store.get("applications", "argocd/checkout"))
                    and row.auto_sync == "paused", "checkout paused in the store")
        await _select(pilot, app, AppsPanel, "argocd/checkout")
        await pilot.press("p")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the restore plan")
        plan = app.screen.plan  # type: ignore[attr-defined]
        assert plan.writes == []
        assert plan.held[0].startswith(f"auto-sync of argocd/checkout kept paused: restoring "
                                       f"it would sync {bad[:12]}")
        assert "text-error" in held_style(app)
        await pilot.press("1")  # restore it anyway: the explicit choice
        await until(pilot, lambda: screen_name(app) == "PlanScreen"
                    and app.screen.plan.writes, "the restore-anyway plan")  # type: ignore[attr-defined]
        chosen = app.screen.plan  # type: ignore[attr-defined]
        assert [w.step for w in chosen.writes] == ["restore-auto-sync"]
        assert any("anyway, as chosen" in w for w in chosen.warnings)
        assert auto_sync(rollout) == {**RESTORED, "enabled": False}  # nothing sent yet
        await pilot.press(*"INC-21", "enter")
        await until(pilot, lambda: auto_sync(rollout) == RESTORED, "auto-sync restored")


async def test_release_holds_a_bad_head_back_in_red_and_offers_restoring_it_anyway(
        rollout: DrillCluster) -> None:
    rollout.sim.advance(150)
    journal_path = Path(str(rollout.kubeconfig)).parent / "journal.sqlite3"  # the App's
    journal = await Journal.open(journal_path)
    async with await connect(str(rollout.kubeconfig), None) as conn:
        gate = gate_for(conn, journal)
        plan = await plan_engage(conn, gate, None, BreakerConfig(apps=["checkout"]))
        assert (await engage(gate, plan, reason=REASON, confirm=CONFIRM)).ok
        history = rollout.state.get(APPS, "argocd", "checkout")["status"]["history"]
        back = await plan_rollback(conn, gate, ("argocd", "checkout"), history[-2]["id"])
        assert (await execute(gate, back, reason=REASON, confirm=CONFIRM)).ok
    await journal.close()
    rollout.sim.advance(120)
    app = make_app(rollout)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the release plan")
        held = app.screen.plan  # type: ignore[attr-defined]
        assert held.held[0].startswith("auto-sync of argocd/checkout kept paused")
        assert "restore-auto-sync" not in [w.step for w in held.writes]
        assert "text-error" in held_style(app)
        assert held.offers[0].title.startswith("Release and restore auto-sync anyway")
        await pilot.press("1")
        await until(pilot, lambda: screen_name(app) == "PlanScreen"
                    and not app.screen.plan.held, "the release plan restoring anyway")  # type: ignore[attr-defined]
        chosen = app.screen.plan  # type: ignore[attr-defined]
        assert "restore-auto-sync" in [w.step for w in chosen.writes]
        await pilot.press(*"INC-22", "enter")
        await until(pilot, lambda: auto_sync(rollout) == RESTORED, "auto-sync restored")
