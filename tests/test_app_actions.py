"""The action keys that ask a question first, driven with Pilot on the drill cluster.

Rollback pickers (rollout revision, Argo CD history entry, then the operation followed to its
end), offers on the plan screen, the traffic weights screen, pausing every app shown, the
``[argocd]`` settings and the Helm key's refusal for Argo CD-rendered apps. Static drill
unless a controller must answer (the rollback's operation, the route's status): then the
simulated drill runs, fast, on the test's loop.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backends.config import parse
from backends.usecases import traffic as traffic_uc
from drill.resources import BY_KEY
from drill.runner import DrillCluster, DrillOptions
from tests.test_app import _select, make_app, panel, shown, until
from tui.app import ControlRoomApp
from widgets.apps import AppsPanel
from widgets.routes import RoutesPanel
from widgets.workloads import WorkloadsPanel

DEPLOY = BY_KEY["deployments.apps"]
APPS = BY_KEY["applications.argoproj.io"]
ROUTES = BY_KEY["httproutes.gateway.networking.k8s.io"]


@pytest.fixture
async def live_drill(tmp_path: Path) -> AsyncIterator[DrillCluster]:
    """The drill with its simulated controllers (calm scenario, 20x) on the test's loop."""
    cluster = DrillCluster(DrillOptions(kubeconfig=tmp_path / "kubeconfig",
                                        bookmark_interval=0.2, simulate=True,
                                        scenario="calm", speed=20))
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


def screen_name(app: ControlRoomApp) -> str:
    return type(app.screen).__name__


def auto_sync_off(drill: DrillCluster, app_name: str) -> None:
    drill.state.mutate(APPS, "argocd", app_name, lambda a: {
        **a, "spec": {**a["spec"], "syncPolicy": {**a["spec"]["syncPolicy"],
                                                  "automated": None}}})


def image_of(drill: DrillCluster, ns: str, name: str) -> str:
    spec = drill.state.get(DEPLOY, ns, name)["spec"]["template"]["spec"]
    return str(spec["containers"][0]["image"])


def notes(app: ControlRoomApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)  # noqa: SLF001


async def test_deployment_rollback_picks_a_revision_last_known_good_by_default(
        drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await _select(pilot, app, WorkloadsPanel, "payments/payments")
        assert image_of(drill, "payments", "payments").endswith(":3.2.1")
        await pilot.press("r")
        await until(pilot, lambda: screen_name(app) == "PickerScreen", "the revision picker")
        picker: Any = app.screen
        # payments is healthy: its current revision is the last known good, preselected
        assert picker.highlighted == "2"
        assert picker.note.startswith("revision 2: current, last known good (all ")
        await pilot.press("down")
        await until(pilot, lambda: picker.highlighted == "1", "revision 1")
        assert picker.note == "revision 1: nothing recorded about it"
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the plan")
        plan = app.screen.plan  # type: ignore[attr-defined]
        assert plan.writes[0].intent["to_revision"] == 1
        await pilot.press("tab")  # past the offer (payments has selfHeal on) to the reason
        await pilot.press(*"INC-11", "enter")
        await until(pilot, lambda: image_of(drill, "payments", "payments").endswith(":3.2.0"),
                    "the template of revision 1")


async def test_deployment_rollback_picker_escape_plans_nothing(drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await _select(pilot, app, WorkloadsPanel, "payments/payments")
        drill.server.record_requests = True
        await pilot.press("r")
        await until(pilot, lambda: screen_name(app) == "PickerScreen", "the revision picker")
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(app) != "PickerScreen", "the picker to close")
        await app.workers.wait_for_complete()
        assert not [m for m, _, _ in drill.server.requests if m in ("PUT", "PATCH")]


async def test_argo_rollback_picks_history_and_follows_the_operation(
        live_drill: DrillCluster) -> None:
    auto_sync_off(live_drill, "payments")
    history = live_drill.state.get(APPS, "argocd", "payments")["status"]["history"]
    app = make_app(live_drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await until(pilot, lambda: (row := app.store.get("applications", "argocd/payments"))
                    and row.auto_sync == "off", "auto-sync off in the store")
        await _select(pilot, app, AppsPanel, "argocd/payments")
        await pilot.press("r")
        await until(pilot, lambda: screen_name(app) == "PickerScreen", "the history picker")
        picker: Any = app.screen
        # payments is Healthy: the entry deployed now is the last known good, preselected
        assert picker.highlighted == str(history[-1]["id"])
        await pilot.press("down")
        await until(pilot, lambda: picker.highlighted == str(history[-2]["id"]),
                    "the previous entry")
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the plan")
        assert app.screen.plan.writes[0].step == "rollback"  # type: ignore[attr-defined]
        await pilot.press(*"INC-12", "enter")
        await until(pilot, lambda: "rollback of argocd/payments: Succeeded" in notes(app),
                    "the followed operation to succeed", timeout=30)
        state = live_drill.state.get(APPS, "argocd", "payments")["status"]["operationState"]
        assert state["phase"] == "Succeeded"
        assert state["operation"]["sync"]["revision"] == history[-2]["revision"]


async def test_offer_on_a_scale_plans_the_pause_instead(drill: DrillCluster) -> None:
    """payments has auto-sync and selfHeal on: the scale plan offers the pause; key 1
    plans and sends that instead, and the scale can then be pressed again, offer-free."""
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await _select(pilot, app, WorkloadsPanel, "payments/payments")
        replicas = drill.state.get(DEPLOY, "payments", "payments")["spec"]["replicas"]
        await pilot.press("s")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the scale plan")
        offers = app.screen.query_one("#plan-offers")
        assert "Pause auto-sync of argocd/payments" in str(offers.get_option_at_index(0).prompt)  # type: ignore[attr-defined]
        await pilot.press("1")
        await until(pilot, lambda: screen_name(app) == "PlanScreen" and app.screen.plan.title  # type: ignore[attr-defined]
                    .startswith("Pause auto-sync"), "the offered pause plan")
        await pilot.press(*"INC-13", "enter")
        await until(pilot, lambda: drill.state.get(APPS, "argocd", "payments")["spec"][
            "syncPolicy"]["automated"].get("enabled") is False, "the pause")
        assert drill.state.get(DEPLOY, "payments", "payments")["spec"]["replicas"] == replicas
        await app.workers.wait_for_complete()
        await _select(pilot, app, WorkloadsPanel, "payments/payments")
        await pilot.press("s")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the scale plan again")
        assert not app.screen.query("#plan-offers")
        await pilot.press(*"INC-13", "enter")
        await until(pilot, lambda: drill.state.get(DEPLOY, "payments", "payments")["spec"][
            "replicas"] == 0, "the scale-down")


async def _select_route(pilot: Any, app: ControlRoomApp, key: str) -> Any:
    routes = panel(app, RoutesPanel)
    await until(pilot, lambda: key in shown(routes), f"{key} in the traffic panel")
    routes.focus()
    # select the object, not a row index: rows reorder as the route turns into a problem
    await until(pilot, lambda: routes.select_row(("httproutes", key)) and (
        routes.selected_kind, routes.selected_key) == ("httproutes", key),
        f"{key} selected")
    return routes


async def test_weights_key_shifts_traffic_verified(live_drill: DrillCluster) -> None:
    auto_sync_off(live_drill, "checkout")  # no selfHeal to revert the shift
    app = make_app(live_drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await _select_route(pilot, app, "checkout/checkout")
        await pilot.press("w")
        await until(pilot, lambda: screen_name(app) == "PickerScreen", "what to change")
        assert app.screen.highlighted == "weights"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "WeightsScreen", "the weights screen")
        boxes = list(app.screen.query("Input"))
        assert [b.value for b in boxes] == ["90", "10"]  # type: ignore[attr-defined]
        boxes[0].value = "100"  # type: ignore[attr-defined]
        boxes[1].value = "0"  # type: ignore[attr-defined]
        await pilot.press("enter", "enter")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the shift plan")
        write = app.screen.plan.writes[0]  # type: ignore[attr-defined]
        assert write.request.path.endswith("/namespaces/checkout/httproutes/checkout")
        assert write.intent == {"weights": {"checkout-stable": 100, "checkout-canary": 0}}
        await pilot.press(*"INC-14", "enter")
        await until(pilot, lambda: [r.get("weight") for r in live_drill.state.get(
            ROUTES, "checkout", "checkout")["spec"]["rules"][0]["backendRefs"]] == [100, 0],
            "the new weights")
        await until(pilot, lambda: "done: 1 step(s)" in notes(app),
                    "the shift verified by the route's status", timeout=30)


@pytest.fixture
async def misconfig_drill(tmp_path: Path) -> AsyncIterator[DrillCluster]:
    """route-misconfig (20x): a commit sends 10% of checkout to ``checkout-cnry``, a Service
    that does not exist."""
    cluster = DrillCluster(DrillOptions(kubeconfig=tmp_path / "kubeconfig",
                                        bookmark_interval=0.2, simulate=True,
                                        scenario="route-misconfig", speed=20))
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


def backend_refs(drill: DrillCluster) -> list[dict[str, Any]]:
    refs: list[dict[str, Any]] = drill.state.get(ROUTES, "checkout", "checkout")["spec"][
        "rules"][0]["backendRefs"]
    return refs


def resolved_refs(drill: DrillCluster) -> str:
    parents = drill.state.get(ROUTES, "checkout", "checkout").get("status", {}).get(
        "parents") or [{"conditions": []}]
    return next((c["status"] for c in parents[0]["conditions"]
                 if c["type"] == "ResolvedRefs"), "Unknown")


async def test_weights_key_removes_a_dangling_backend_and_restores_it(
        misconfig_drill: DrillCluster) -> None:
    """``w`` offers removing each backend; removing the mistyped one resolves the route
    (verified), and ``w`` then offers the restore, which puts it back exactly."""
    drill = misconfig_drill
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: [r["name"] for r in backend_refs(drill)] == [
            "checkout-stable", "checkout-cnry"] and resolved_refs(drill) == "False",
            "the mistyped backend committed and synced", timeout=30)
        before = json.loads(json.dumps(backend_refs(drill)))
        auto_sync_off(drill, "checkout")  # or selfHeal puts the typo back
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await until(pilot, lambda: "BackendNotFound" in traffic_uc.unresolved(
            app.actions.ws, "checkout", "checkout"), "the route's status in the store")
        await _select_route(pilot, app, "checkout/checkout")  # once it sorts as a problem
        await pilot.press("w")
        await until(pilot, lambda: screen_name(app) == "PickerScreen", "what to change")
        assert "ResolvedRefs False" in str(app.screen.query_one("#picker-title").render())
        await pilot.press("down", "down")
        assert app.screen.highlighted == "remove:1"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the removal plan")
        write = app.screen.plan.writes[0]  # type: ignore[attr-defined]
        assert write.step == "remove-backend" and write.intent["remove"] == "checkout-cnry"
        await pilot.press(*"INC-14", "enter")
        await until(pilot, lambda: [r["name"] for r in backend_refs(drill)] == [
            "checkout-stable"] and resolved_refs(drill) == "True", "the route resolved")
        await until(pilot, lambda: "done: 1 step(s)" in notes(app), "the removal verified",
                    timeout=30)

        await until(pilot, lambda: screen_name(app) != "PlanScreen", "back on the dashboard")
        await until(pilot, lambda: list(traffic_uc.current_weights(
            app.actions.ws, "checkout", "checkout")) == ["checkout-stable"], "the store")
        await pilot.press("w")
        await until(pilot, lambda: screen_name(app) == "PickerScreen", "what to change")
        assert "HTTPRoute checkout/checkout" in str(
            app.screen.query_one("#picker-title").render())
        await pilot.press("down", "down")  # weights, remove checkout-stable, restore
        assert app.screen.highlighted == "restore"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the restore plan")
        await pilot.press(*"INC-14", "enter")
        await until(pilot, lambda: backend_refs(drill) == before, "the backend put back")
        await until(pilot, lambda: notes(app).count("done: 1 step(s)") == 2,
                    "the restore verified", timeout=30)


async def test_pause_all_shown_respects_the_filter(drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        apps = panel(app, AppsPanel)
        await until(pilot, lambda: "argocd/payments" in shown(apps), "the apps")
        apps.focus()
        await pilot.press("slash", *"pay", "enter")
        await until(pilot, lambda: shown(apps) == ["argocd/payments"], "the filter")
        await pilot.press("P")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the scope plan")
        plan = app.screen.plan  # type: ignore[attr-defined]
        assert plan.title == "Pause auto-sync of 1 app(s)" and len(plan.writes) == 1
        await pilot.press(*"INC-15", "enter")
        await until(pilot, lambda: drill.state.get(APPS, "argocd", "payments")["spec"][
            "syncPolicy"]["automated"].get("enabled") is False, "the pause")
        assert drill.state.get(APPS, "argocd", "checkout")["spec"]["syncPolicy"][
            "automated"].get("enabled") is not False


async def test_helm_key_explains_argo_rendered_apps(drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await until(pilot, lambda: app.store.get("applications", "argocd/payments"),
                    "the apps")
        await _select(pilot, app, WorkloadsPanel, "payments/payments")
        await pilot.press("H")
        await until(pilot, lambda: screen_name(app) == "ExplainScreen", "the explanation")
        assert "argocd/payments is rendered by Argo CD" in app.screen.text  # type: ignore[attr-defined]
        await pilot.press("escape")


def test_argocd_settings_parse() -> None:
    assert parse("").argocd.server == ""
    s = parse('[argocd]\nserver = "https://argocd.example"\ninsecure = true\n')
    assert (s.argocd.server, s.argocd.token_env, s.argocd.insecure) == (
        "https://argocd.example", "ARGOCD_AUTH_TOKEN", True)


async def test_argo_rollback_over_rest_without_token_is_refused_before_sending(
        drill: DrillCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    auto_sync_off(drill, "payments")
    settings = parse('[argocd]\nserver = "https://argocd.invalid"\ntoken_env = '
                     '"NO_SUCH_TOKEN"\n')
    app = make_app(drill, settings)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await until(pilot, lambda: (row := app.store.get("applications", "argocd/payments"))
                    and row.auto_sync == "off", "auto-sync off in the store")
        await _select(pilot, app, AppsPanel, "argocd/payments")
        await pilot.press("r")
        # the history is read through the Argo CD API too: refused before the picker
        await until(pilot, lambda: "NO_SUCH_TOKEN" in notes(app), "the refusal")
        assert screen_name(app) not in ("PickerScreen", "PlanScreen")


async def test_breaker_targets_toggle_and_blocked_ones_must_be_excluded(
        drill: DrillCluster) -> None:
    """A configured deployment that does not exist cannot be planned: the breaker refuses
    to send until it is excluded (Enter in the target list); the rest then engages."""
    settings = parse('[breaker]\napps = ["payments"]\n'
                     'deployments = ["payments/payments", "payments/no-such-thing"]\n'
                     'allow_no_backend = ["payments/payments"]\n')
    app = make_app(drill, settings)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await until(pilot, lambda: app.store.count("applications") > 0, "apps loaded")
        await pilot.press("ctrl+b")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "breaker plan")
        screen: Any = app.screen
        targets = screen.query_one("#breaker-targets")
        assert app.focused is screen.query_one("#plan-reason")  # the reason first, always
        assert any("no-such-thing" in b for b in screen.plan.blocked)
        keys = [t.key for t in targets.bplan.targets]
        bad = keys.index("scale:payments/no-such-thing")
        await pilot.press(*"INC-16", "enter")  # refused while blocked
        await until(pilot, lambda: "must be excluded" in str(
            screen.query_one("#plan-error").render()), "the refusal")
        assert drill.state.get(DEPLOY, "payments", "payments")["spec"]["replicas"] > 0
        targets.focus()
        targets.highlighted = bad
        await pilot.press("enter")
        await until(pilot, lambda: not screen.plan.blocked, "the plan without the blocked one")
        assert not targets.bplan.target("scale:payments/no-such-thing").include
        assert "no-such-thing" not in str(screen.query_one("#plan-body").render())
        # and a toggle can take a good target out and put it back
        good = keys.index("scale:payments/payments")
        targets.focus()
        targets.highlighted = good
        await pilot.press("enter")
        await until(pilot, lambda: not targets.bplan.target("scale:payments/payments").include,
                    "excluded")
        await pilot.press("enter")
        await until(pilot, lambda: targets.bplan.target("scale:payments/payments").include,
                    "included again")
        screen.query_one("#plan-reason").focus()
        await pilot.press("enter")
        await until(pilot, lambda: drill.state.get(DEPLOY, "payments", "payments")["spec"][
            "replicas"] == 0, "the scale-down")
