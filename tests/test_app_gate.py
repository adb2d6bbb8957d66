"""The production gate in the App, driven with Pilot on the drill (issue 14, points 5 and 10).

The drill's context is shown to the App as ``AKS-PROD-WEU``: upper case, matched by the default
``production_patterns = ["prod"]`` only because the match ignores case (point 10). On it:

- every write key goes through the protected confirmation (the context name typed on the plan)
  and then a visible countdown (the gate's cancel window) before anything is sent; Escape on
  the countdown calls the write off: the object is unchanged, the journal holds only the
  refused (cancelled) attempt and the drill's server saw no write verb but dry-runs;
- the PRODUCTION banner and the context name are on every modal (plan, picker, weights,
  countdown, journal, help...) and stay visible when a panel is maximised.

The cancel window is the product's 5 s in production; here the App is given a longer one, so
a loaded machine cannot let it pass before the test presses Escape (the test waits on the
countdown screen, never on the clock).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from backends.config import Settings, parse
from backends.ops import gate
from drill.resources import BY_KEY
from drill.runner import DrillCluster
from tests.test_app import _select, panel, starter
from tests.waiting import pilot_until as until
from tui.app import ControlRoomApp, Target
from tui.countdown import CountdownScreen
from tui.plan_screen import PlanScreen
from widgets.apps import AppsPanel
from widgets.header import HeaderBar, TargetBanner
from widgets.routes import RoutesPanel
from widgets.workloads import WorkloadsPanel

PROD = "AKS-PROD-WEU"
DEPLOY = BY_KEY["deployments.apps"]
APPS = BY_KEY["applications.argoproj.io"]
ROUTES = BY_KEY["httproutes.gateway.networking.k8s.io"]
LONG_WINDOW = 120.0
"""The test's cancel window: long enough that only Escape ends it."""


@pytest.fixture(autouse=True)
def long_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tui.actions.policy_for",
                        partial(gate.policy_for, cancel_window=LONG_WINDOW))


def prod_app(drill: DrillCluster, settings: Settings | None = None) -> ControlRoomApp:
    settings = settings or Settings()
    assert settings.is_production(PROD), "the default patterns match the upper-case name"
    return ControlRoomApp(settings, None,
                          Target(cluster="drill", context=PROD, production=True),
                          starter(drill),
                          journal_path=Path(str(drill.kubeconfig)).parent / "journal.sqlite3")


def banner(screen: Any) -> str:
    """The target line a modal screen shows on its top row."""
    return str(screen.query_one(TargetBanner).render())


def cluster_writes(drill: DrillCluster) -> list[tuple[str, str]]:
    """Requests with a write verb the drill's server saw, dry-runs and access reviews aside."""
    return [(m, p) for m, p, q in drill.server.requests
            if m in ("POST", "PUT", "PATCH", "DELETE") and "dryRun" not in q
            and "selfsubjectaccessreviews" not in p]


async def confirm_protected(pilot: Any, app: ControlRoomApp, reason: str = "INC-20") -> None:
    """On the plan screen: the reason, then the context name typed (as an operator must)."""
    screen = await until(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen,
                         "the plan screen")
    await until(pilot, lambda: screen.query(TargetBanner), "the target line on the plan")
    assert "PRODUCTION" in banner(screen) and PROD in banner(screen)
    box = screen.query_one("#plan-reason", Input)
    box.focus()
    await pilot.press(*reason, "enter")
    confirm = screen.query_one("#plan-confirm", Input)
    await until(pilot, lambda: app.focused is confirm, "the context name field")
    await pilot.press(*PROD, "enter")


async def countdown_then_escape(pilot: Any, app: ControlRoomApp, drill: DrillCluster) -> None:
    """The countdown is shown and counts; Escape calls the write off; nothing was sent."""
    screen = await until(pilot, lambda: isinstance(app.screen, CountdownScreen) and app.screen,
                         "the countdown of the cancel window")
    await until(pilot, lambda: screen.query(TargetBanner), "the target line on the countdown")
    assert "PRODUCTION" in banner(screen) and PROD in banner(screen)
    def left() -> str:
        return str(screen.query_one("#countdown-left", Static).render())

    shown = await until(pilot, lambda: left().endswith(" s") and left(), "the seconds left")
    assert 0 < screen.seconds_left <= LONG_WINDOW
    assert PROD in str(screen.query_one("#countdown-what", Static).render())
    await until(pilot, lambda: left() != shown, "the countdown to move")
    await pilot.press("escape")
    await until(pilot, lambda: not isinstance(app.screen, CountdownScreen), "the countdown to go")
    await app.workers.wait_for_complete()
    assert cluster_writes(drill) == []
    assert app.actions.journal is not None
    entries = await app.actions.journal.entries(context=PROD)
    assert entries, "the cancelled attempt is journaled"
    assert {e.status for e in entries} == {"refused"}, [(e.status, e.result) for e in entries]
    assert all(e.result.get("cancelled") for e in entries)


async def test_escape_on_the_countdown_sends_nothing(drill: DrillCluster) -> None:
    """Point 5: scale on production: plan, typed context, a countdown with the banner, and
    Escape: the Deployment keeps its replicas, the journal has only the cancelled attempt."""
    app = prod_app(drill)
    replicas = drill.state.get(DEPLOY, "payments", "payments")["spec"]["replicas"]
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await _select(pilot, app, WorkloadsPanel, "payments/payments")
        drill.server.record_requests = True
        await pilot.press("s")
        await confirm_protected(pilot, app)
        await countdown_then_escape(pilot, app, drill)
        assert "called off" in "\n".join(str(n.message) for n in app._notifications)  # noqa: SLF001
    assert drill.state.get(DEPLOY, "payments", "payments")["spec"]["replicas"] == replicas


def auto_sync_off(drill: DrillCluster, name: str) -> None:
    drill.state.mutate(APPS, "argocd", name, lambda a: {
        **a, "spec": {**a["spec"], "syncPolicy": {**a["spec"]["syncPolicy"],
                                                  "automated": None}}})


@pytest.mark.parametrize("key", ["p", "P", "s", "r-deployment", "r-app", "w"])
async def test_every_write_key_on_an_upper_case_production_context_counts_down(
        drill: DrillCluster, key: str) -> None:
    """Point 10 in the App: on ``AKS-PROD-WEU`` no write key goes straight to the write:
    each asks for the context name and then counts down, and Escape sends nothing.
    (``S`` needs a journaled scale, ``H`` the helm binary, ``m``/``M`` an Alertmanager: the
    same plan flow; the breaker keys are emergencies, see the next test.)"""
    if key == "r-app":
        auto_sync_off(drill, "payments")  # an Argo CD rollback needs auto-sync off
    app = prod_app(drill)
    before = (drill.state.get(DEPLOY, "payments", "payments")["spec"],
              drill.state.get(APPS, "argocd", "payments")["spec"],
              drill.state.get(ROUTES, "checkout", "checkout")["spec"])
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        if key in ("p", "r-app"):
            await _select(pilot, app, AppsPanel, "argocd/payments")
        elif key in ("s", "r-deployment"):
            await _select(pilot, app, WorkloadsPanel, "payments/payments")
        elif key == "w":
            await _select(pilot, app, RoutesPanel, "checkout/checkout")
        else:
            await until(pilot, lambda: len(panel(app, AppsPanel).visible_keys()) > 1, "apps")
        drill.server.record_requests = True
        await pilot.press(key[0])
        if key.startswith("r-"):
            picker = await until(pilot, lambda: type(app.screen).__name__ == "PickerScreen"
                                 and app.screen, "the picker")
            await until(pilot, lambda: picker.query(TargetBanner), "the picker's target line")
            assert PROD in banner(picker) and "PRODUCTION" in banner(picker)
            # the last known good is preselected, here the current revision (nothing to
            # send): take the one below it, so there is a write to count down
            await pilot.press("down", "enter")
        elif key == "w":
            picker = await until(pilot, lambda: type(app.screen).__name__ == "PickerScreen"
                                 and app.screen, "what to change on the route")
            await pilot.press("enter")  # "set weights", preselected
            weights = await until(pilot, lambda: type(app.screen).__name__ == "WeightsScreen"
                                  and app.screen, "the weights screen")
            await until(pilot, lambda: weights.query(TargetBanner), "its target line")
            assert PROD in banner(weights)
            boxes = list(weights.query(Input))
            boxes[-1].value = str(int(boxes[-1].value) + 1)
            boxes[-1].focus()
            await pilot.press("enter")
        await confirm_protected(pilot, app)
        await countdown_then_escape(pilot, app, drill)
    assert (drill.state.get(DEPLOY, "payments", "payments")["spec"],
            drill.state.get(APPS, "argocd", "payments")["spec"],
            drill.state.get(ROUTES, "checkout", "checkout")["spec"]) == before


async def test_the_breaker_on_production_needs_the_exact_context_name(
        drill: DrillCluster) -> None:
    """The breaker is an emergency (no cancel window), never an unconfirmed one: on
    ``AKS-PROD-WEU`` the plan asks for the name, refuses it typed in other case, and
    nothing is sent."""
    settings = parse('[breaker]\napps = ["payments"]\ndeployments = ["payments/payments"]\n')
    app = prod_app(drill, settings)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await until(pilot, lambda: app.store.count("applications") > 0, "apps loaded")
        drill.server.record_requests = True
        await pilot.press("ctrl+b")
        screen = await until(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen,
                             "the breaker plan")
        await until(pilot, lambda: screen.query(TargetBanner), "the breaker's target line")
        assert "PRODUCTION" in banner(screen) and PROD in banner(screen)
        await pilot.press(*"INC-21", "enter")
        confirm = screen.query_one("#plan-confirm", Input)
        await until(pilot, lambda: app.focused is confirm, "the context name field")
        await pilot.press(*PROD.lower(), "enter")
        await until(pilot, lambda: "exactly" in str(screen.query_one("#plan-error").render()),
                    "the refusal of a name typed in the wrong case")
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        assert cluster_writes(drill) == []


async def test_the_target_line_is_on_every_modal_and_a_maximised_panel(
        drill: DrillCluster) -> None:
    """Point 5: the journal, the help screen and the detail view carry the PRODUCTION
    banner and the context name; a maximised panel keeps the header on screen."""
    app = prod_app(drill)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        workloads = await _select(pilot, app, WorkloadsPanel, "payments/payments")
        for key, name in (("j", "JournalScreen"), ("question_mark", "HelpScreen"),
                          ("enter", "DetailScreen")):
            await pilot.press(key)
            screen = await until(pilot, lambda name=name: type(app.screen).__name__ == name
                                 and app.screen, name)
            await until(pilot, lambda screen=screen: screen.query(TargetBanner),
                        f"the target line on {name}")
            assert "PRODUCTION" in banner(screen) and PROD in banner(screen), name
            top = screen.get_widget_at(1, 0)[0]
            assert isinstance(top, TargetBanner), (name, top)  # drawn on the top row
            await pilot.press("escape")
            await until(pilot, lambda name=name: type(app.screen).__name__ != name,
                        f"{name} to close")
        workloads.focus()
        await pilot.pause()
        app.screen.maximize(workloads.table)
        await until(pilot, lambda: app.screen.maximized is not None, "the maximised panel")
        header = app.query_one(HeaderBar)
        await until(pilot, lambda: any(isinstance(w, HeaderBar) or header in w.ancestors
                                       for w in [app.screen.get_widget_at(1, 0)[0]]),
                    "the header on the top row of the maximised view")
        assert PROD in str(header._title.render())  # noqa: SLF001
        assert "PRODUCTION" in str(header._title.render())  # noqa: SLF001
