"""Where the keys act and where the typing goes, driven with Pilot on the drill (issue 14,
points 6 and 7).

- The cursor a panel was not moved in rests on its top row, the worst (problem rows sort
  first): Enter on the red row the eye is on opens that row, not the healthy one that happened
  to arrive first. A cursor the engineer moved follows its object as rows reorder.
- ``g`` puts the cursor on the focused panel's worst row, ``G`` on the worst row anywhere.
- Every plan names its target by kind, namespace and name on its first line.
- The breaker dialog: the reason field has the focus first; a key typed while the target
  list has the focus goes to the reason and toggles nothing.
- The reason is remembered for the session's incident and prefilled on every later plan.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Static

from backends.config import parse
from drill.resources import BY_KEY
from drill.runner import DrillCluster
from tests.test_app import _select, make_app, panel, shown
from tests.waiting import pilot_until as until
from tui.plan_screen import PlanScreen
from widgets.apps import AppsPanel
from widgets.nodes import NodesPanel
from widgets.workloads import WorkloadsPanel

APPS = BY_KEY["applications.argoproj.io"]
NODES = BY_KEY["nodes"]


def not_ready(drill: DrillCluster, name: str) -> None:
    """The node stops reporting Ready (the kubelet is gone)."""
    def change(node: dict[str, Any]) -> dict[str, Any]:
        status = dict(node["status"])
        status["conditions"] = [
            {**c, "status": "Unknown", "reason": "NodeStatusUnknown"} if c["type"] == "Ready"
            else c for c in status["conditions"]]
        return {**node, "status": status}
    drill.state.mutate(NODES, "", name, change, subresource="status")


def degraded(drill: DrillCluster, name: str) -> None:
    drill.state.mutate(APPS, "argocd", name, lambda a: {
        **a, "status": {**a["status"], "health": {**a["status"]["health"],
                                                  "status": "Degraded"}}})


def screen_name(app: Any) -> str:
    return type(app.screen).__name__


async def test_the_untouched_cursor_rests_on_the_worst_row(drill: DrillCluster) -> None:
    """The nodes panel has the focus from the start and nobody moved its cursor: a node
    that goes NotReady jumps to the top, and Enter opens that node (before: the healthy
    node that had arrived first)."""
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        nodes = panel(app, NodesPanel)
        await until(pilot, lambda: len(shown(nodes)) == drill.state.count(NODES), "all nodes")
        first = shown(nodes)[0]
        victim = shown(nodes)[-1]
        assert nodes.selected_key == first
        not_ready(drill, victim)
        await until(pilot, lambda: shown(nodes)[0] == victim, "the NotReady node on top")
        assert nodes.selected_key == victim
        await pilot.press("enter")
        detail = await until(pilot, lambda: screen_name(app) == "DetailScreen" and app.screen,
                             "the detail view")
        assert detail._key == victim  # noqa: SLF001


async def test_a_chosen_row_is_followed_when_rows_reorder(drill: DrillCluster) -> None:
    """Once the engineer moved the cursor onto an app, it stays on that app while another
    one turns degraded and takes the top row."""
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        apps = await _select(pilot, app, AppsPanel, "argocd/payments")
        other = next(k for k in shown(apps) if k != "argocd/payments")
        degraded(drill, other.partition("/")[2])
        await until(pilot, lambda: shown(apps)[0] == other, "the degraded app on top")
        assert apps.selected_key == "argocd/payments"


async def test_g_and_shift_g_jump_to_the_worst_row(drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        apps = await _select(pilot, app, AppsPanel, "argocd/payments")
        degraded(drill, "checkout")
        await until(pilot, lambda: shown(apps)[0] == "argocd/checkout", "checkout on top")
        assert apps.selected_key == "argocd/payments"  # chosen: it followed payments
        await pilot.press("g")
        await until(pilot, lambda: apps.selected_key == "argocd/checkout",
                    "the cursor on the degraded app")
        await pilot.press("p")
        plan = await until(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen,
                           "the plan")
        assert "Application argocd/checkout" in str(plan.query_one("#plan-target").render())
        await pilot.press("escape")

        # G: the worst row anywhere, in whichever panel holds it
        nodes = panel(app, NodesPanel)
        victim = shown(nodes)[-1]
        not_ready(drill, victim)
        await until(pilot, lambda: shown(nodes)[0] == victim, "the NotReady node on top")
        workloads = panel(app, WorkloadsPanel)
        workloads.focus()
        await pilot.press("G")
        await until(pilot, lambda: app.focused is nodes.table and nodes.selected_key == victim,
                    "the focus and the cursor on the NotReady node")


async def test_every_plan_names_its_target_by_kind_namespace_and_name(
        drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        for cls, key, press, target in (
                (AppsPanel, "argocd/payments", "p", "Application argocd/payments"),
                (WorkloadsPanel, "payments/payments", "s", "Deployment payments/payments")):
            await _select(pilot, app, cls, key)
            await pilot.press(press)
            plan = await until(pilot, lambda: isinstance(app.screen, PlanScreen)
                               and app.screen, f"the plan of {press}")
            line = str(plan.query_one("#plan-target", Static).render())
            assert line == f"target: {target}", line
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, PlanScreen), "closed")


async def test_the_breaker_dialog_types_where_the_operator_looks(drill: DrillCluster) -> None:
    """The reason field has the focus first; typing "INC 42" while the target list has the
    focus types into the reason (spaces included) and toggles no target."""
    settings = parse('[breaker]\napps = ["payments"]\n'
                     'deployments = ["payments/payments", "payments/no-such-thing"]\n')
    app = make_app(drill, settings)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await until(pilot, lambda: app.store.count("applications") > 0, "apps loaded")
        await pilot.press("ctrl+b")
        screen = await until(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen,
                             "the breaker dialog")
        reason = screen.query_one("#plan-reason", Input)
        assert app.focused is reason  # even with a blocked target
        targets = screen.query_one("#breaker-targets")
        included = [t.include for t in targets.bplan.targets]
        targets.focus()
        await until(pilot, lambda: app.focused is targets, "the list focused")
        await pilot.press(*"INC 42")
        await until(pilot, lambda: reason.value == "INC 42", "the reason typed")
        assert app.focused is reason
        assert [t.include for t in targets.bplan.targets] == included, "nothing toggled"
        assert list(targets.selected) == [t.key for t in targets.bplan.targets if t.include]
        await pilot.press("escape")


async def test_the_reason_is_remembered_for_the_incident(drill: DrillCluster) -> None:
    """The reason confirmed on one plan is prefilled on the next ones (the same incident),
    and a plan cancelled does not change it."""
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await _select(pilot, app, AppsPanel, "argocd/payments")
        await pilot.press("p")
        plan = await until(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen,
                           "the pause plan")
        assert plan.query_one("#plan-reason", Input).value == ""
        await pilot.press(*"INC-77 checkout", "enter")
        await until(pilot, lambda: (row := app.store.get("applications", "argocd/payments"))
                    and row.auto_sync == "paused", "the pause")
        await app.workers.wait_for_complete()
        await _select(pilot, app, WorkloadsPanel, "payments/payments")
        await pilot.press("s")
        plan = await until(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen,
                           "the scale plan")
        assert plan.query_one("#plan-reason", Input).value == "INC-77 checkout"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PlanScreen), "closed")
        await _select(pilot, app, AppsPanel, "argocd/payments")
        await pilot.press("p")  # the restore: the same incident, the same reason
        plan = await until(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen,
                           "the restore plan")
        assert plan.query_one("#plan-reason", Input).value == "INC-77 checkout"
        await pilot.press("enter")
        await until(pilot, lambda: (row := app.store.get("applications", "argocd/payments"))
                    and row.auto_sync == "on", "the restore")
