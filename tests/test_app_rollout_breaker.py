"""Issue 14 points 1 and 2 in the App, driven with Pilot on the drill: the rollout pause key
(``u``, and its command palette entry) pauses and resumes exactly; the breaker's plan screen
holds back a scale-down that would leave a route with no ready backend, refuses it when it
is checked by hand, and engages it once the route is typed into "allow no backend"."""

from __future__ import annotations

from typing import Any

from backends.config import parse
from drill.resources import BY_KEY
from drill.runner import DrillCluster
from tests.test_app import _select, make_app, until
from tui.app import ControlRoomApp
from widgets.workloads import WorkloadsPanel

DEPLOY = BY_KEY["deployments.apps"]


def screen_name(app: ControlRoomApp) -> str:
    return type(app.screen).__name__


def catalog_spec(drill: DrillCluster) -> dict[str, Any]:
    spec: dict[str, Any] = drill.state.get(DEPLOY, "catalog", "catalog")["spec"]
    return spec


async def test_u_pauses_the_rollout_and_again_resumes_it_exactly(drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Pause/resume rollout" in titles
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await _select(pilot, app, WorkloadsPanel, "catalog/catalog")
        assert "paused" not in catalog_spec(drill)
        await pilot.press("u")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the pause plan")
        plan: Any = app.screen.plan  # type: ignore[attr-defined]
        assert plan.title == "Pause the rollout of Deployment catalog/catalog"
        assert [w.step for w in plan.writes] == ["rollout-pause"]
        await pilot.press(*"INC-14", "enter")
        await until(pilot, lambda: catalog_spec(drill).get("paused") is True, "paused")
        await until(pilot, lambda: (row := app.store.get("deployments", "catalog/catalog"))
                    is not None and getattr(row, "paused", False), "the row to say paused")

        await _select(pilot, app, WorkloadsPanel, "catalog/catalog")
        await pilot.press("u")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the resume plan")
        plan = app.screen.plan  # type: ignore[attr-defined]
        assert plan.title.startswith("Resume the rollout of Deployment catalog/catalog")
        assert [w.prior for w in plan.writes] == [{"paused": True}]
        await pilot.press(*"INC-14", "enter")
        # The journal recorded the field absent before the pause: absent it is again.
        await until(pilot, lambda: "paused" not in catalog_spec(drill), "resumed exactly")


async def test_breaker_dialog_holds_a_dark_route_until_it_is_typed(drill: DrillCluster) -> None:
    settings = parse('[breaker]\ndeployments = ["payments/payments"]\n')
    app = make_app(drill, settings)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await until(pilot, lambda: app.store.count("applications") > 0, "apps loaded")
        await pilot.press("ctrl+b")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "breaker plan",
                    timeout=10)
        screen: Any = app.screen
        targets = screen.query_one("#breaker-targets")
        bplan = targets.bplan
        held = bplan.target("scale:payments/payments")
        assert not held.include and held.key not in targets.selected
        assert held.held == "would leave payments/payments with no ready backend"
        assert any("HELD: would leave payments/payments" in str(
            targets.get_option_at_index(i).prompt) for i in range(targets.option_count))
        body = str(screen.query_one("#plan-body").render())
        assert "capacity payments/payments: 2 ready pod(s) behind weight -> 2" in body, body

        # Checked by hand: refused, naming the route and the override.
        targets.focus()
        targets.highlighted = [t.key for t in bplan.targets].index(held.key)
        await pilot.press("enter")  # Enter toggles in the list (typing goes to the reason)
        await until(pilot, lambda: any("would leave payments/payments with no ready backend"
                                       in b for b in screen.plan.blocked), "the refusal")
        screen.query_one("#plan-reason").focus()
        await pilot.press(*"INC-15", "enter")
        await until(pilot, lambda: "must be excluded" in str(
            screen.query_one("#plan-error").render()), "Enter refused")
        assert drill.state.get(DEPLOY, "payments", "payments")["spec"]["replicas"] == 2

        # The engineer who knows better types the route: the plan engages.
        screen.query_one("#breaker-allow").focus()
        await pilot.press(*"payments/payments")
        await until(pilot, lambda: not screen.plan.blocked, "the plan without the refusal")
        assert bplan.allow_no_backend == {"payments/payments"}
        assert bplan.target("freeze:argocd/payments").include  # follows the scale-down
        await pilot.press("enter")  # back to the reason, nothing sent
        assert screen_name(app) == "PlanScreen"
        await pilot.press("enter")
        await until(pilot, lambda: drill.state.get(DEPLOY, "payments", "payments")["spec"][
            "replicas"] == 0, "the scale-down")
