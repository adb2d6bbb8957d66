"""The App's keys on the shared use cases (``backends/usecases``), driven with Pilot on the drill.

Each test pins an App path whose meaning changed when the keys stopped assembling planners
and the executor themselves: the App now plans with the very functions the CLI plans with
and executes through :func:`backends.usecases.run.run`, so the rules the CLI already had
(the restore of a ``scale`` step, restore-sync from the journal, the breaker's annotation
writes, a cancel token per step on a protected context) hold for the keys too.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from backends.config import parse
from backends.kube.connection import connect
from backends.ops.gate import Confirmation, WriteGate, policy_for
from backends.ops.journal import Journal
from backends.usecases import workloads
from backends.usecases.run import run
from backends.usecases.workspace import Workspace
from drill.resources import BY_KEY
from drill.runner import DrillCluster
from tests.ops_support import is_write
from tests.test_app import _select, make_app, until
from tests.test_app_actions import auto_sync_off, notes, screen_name
from widgets.apps import AppsPanel
from widgets.workloads import WorkloadsPanel

DEPLOY = BY_KEY["deployments.apps"]
APPS = BY_KEY["applications.argoproj.io"]


def journal_of(drill: DrillCluster) -> Path:
    """The journal file :func:`tests.test_app.make_app` gives the App."""
    return Path(str(drill.kubeconfig)).parent / "journal.sqlite3"


def replicas(drill: DrillCluster, ns: str, name: str) -> int:
    return int(drill.state.get(DEPLOY, ns, name)["spec"]["replicas"])


async def test_scale_restore_puts_back_a_cli_scale(drill: DrillCluster) -> None:
    """``controlroom scale payments/payments 1`` journals a ``scale`` step; the App's
    restore key puts back the replicas it recorded (the App's own rule used to know only
    ``scale-down`` and said there was nothing to restore)."""
    auto_sync_off(drill, "payments")  # no selfHeal offer on the plan screen
    before = replicas(drill, "payments", "payments")
    assert before != 1
    settings = parse("")
    conn = await connect(str(drill.kubeconfig), None)
    journal = await Journal.open(journal_of(drill))
    try:  # what the CLI's scale command does, through the same use case
        gate = WriteGate(policy_for(settings, "drill"), conn, journal)
        ws = Workspace(conn, gate, journal, settings)
        action = await workloads.plan_scale(ws, "payments", "payments", 1)
        result = await run(action, reason="CHG-1", confirm=Confirmation())
        assert result.ok, result.error
    finally:
        await journal.close()
        await conn.close()
    assert replicas(drill, "payments", "payments") == 1

    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await _select(pilot, app, WorkloadsPanel, "payments/payments")
        await pilot.press("S")
        await until(pilot, lambda: screen_name(app) == "PlanScreen" or "restore" in notes(app),
                    "the restore plan")
        assert screen_name(app) == "PlanScreen", notes(app)
        write = app.screen.plan.writes[0]  # type: ignore[attr-defined]
        assert write.prior == {"replicas": 1} and write.intent == {"replicas": before}
        await pilot.press(*"CHG-1", "enter")
        await until(pilot, lambda: replicas(drill, "payments", "payments") == before,
                    "the recorded replicas back", timeout=10)


async def test_restore_sync_uses_the_journaled_prior(drill: DrillCluster) -> None:
    """Someone edits the pause annotation after the App paused the app: the App's restore
    puts back what the journal recorded before the pause (fsynced, not editable with
    ``kubectl annotate``), as the CLI does; it used to trust the annotation."""
    app = make_app(drill)
    prior = drill.state.get(APPS, "argocd", "payments")["spec"]["syncPolicy"]["automated"]
    forged = {"prune": False, "selfHeal": False}
    assert prior != forged
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await _select(pilot, app, AppsPanel, "argocd/payments")
        await pilot.press("p")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the pause plan")
        await pilot.press(*"INC-21", "enter")
        await until(pilot, lambda: (row := app.store.get("applications", "argocd/payments"))
                    and row.auto_sync == "paused", "the panel to show paused", timeout=10)

        def forge(a: dict[str, Any]) -> dict[str, Any]:
            meta = a["metadata"]
            notes_ = {**meta["annotations"],
                      "controlroom.io/paused-automated": json.dumps(forged)}
            return {**a, "metadata": {**meta, "annotations": notes_}}

        drill.state.mutate(APPS, "argocd", "payments", forge)
        await app.workers.wait_for_complete()
        await pilot.press("p")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the restore plan")
        plan = app.screen.plan  # type: ignore[attr-defined]
        assert any("journaled before the last pause" in line for line in plan.info)
        await pilot.press(*"INC-21", "enter")
        await until(pilot, lambda: drill.state.get(APPS, "argocd", "payments")["spec"][
            "syncPolicy"].get("automated") == prior, "the journaled block back", timeout=10)


async def test_breaker_plan_screen_lists_every_write_engage_sends(drill: DrillCluster) -> None:
    """The plan screen of ``ctrl+b`` shows the writes engage sends, the scaled Deployment's
    annotation write included (it used to show the bare planner plans): what the server
    then receives is exactly what was listed."""
    settings = parse('[breaker]\napps = ["payments"]\ndeployments = ["payments/payments"]\n'
                     'allow_no_backend = ["payments/payments"]\n')
    app = make_app(drill, settings)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await until(pilot, lambda: app.store.count("applications") > 0, "apps loaded")
        await pilot.press("ctrl+b")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "breaker plan",
                    timeout=10)
        screen: Any = app.screen
        listed = sorted((w.request.method, w.request.path) for w in screen.plan.writes)
        assert ("PATCH", "/apis/apps/v1/namespaces/payments/deployments/payments") in listed
        await until(pilot, lambda: "dry-run" in str(screen.query_one("#plan-body").render()),
                    "the dry-run answers")
        drill.server.requests.clear()
        drill.server.record_requests = True
        await pilot.press(*"INC-22", "enter")
        await until(pilot, lambda: any(n.title == "circuit breaker"
                                       for n in app._notifications),  # noqa: SLF001
                    "the breaker's summary", timeout=10)
        sent = sorted((m, p) for m, p, q in drill.server.requests
                      if is_write(m, p) and "dryRun" not in q)
        assert sent == listed


async def test_protected_context_run_gets_a_cancel_token_per_step(
        drill: DrillCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a production context the App's run hands every step its own cancel token, kept
    on the controller while the plan runs (the Esc key of a later issue calls ``stop``):
    the first write goes after its window, stopping in the second one's window calls that
    write off and nothing of it is sent. The App used to execute with no token to reach."""
    monkeypatch.setattr("tui.actions.policy_for", partial(policy_for, cancel_window=0.3))
    settings = parse('[contexts.drill]\nproduction = true\n')
    app = make_app(drill, settings)

    def paused(path: str) -> bool:
        name = path.rsplit("/", 1)[1]
        return drill.state.get(APPS, "argocd", name)["spec"]["syncPolicy"]["automated"].get(
            "enabled") is False

    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        assert app.actions.gate is not None and app.actions.gate.policy.protected
        await _select(pilot, app, AppsPanel, "argocd/payments")
        await pilot.press("P")
        await until(pilot, lambda: screen_name(app) == "PlanScreen", "the scope plan")
        paths = [w.request.path for w in app.screen.plan.writes]  # type: ignore[attr-defined]
        assert len(paths) >= 2 and not any(paused(p) for p in paths)
        await pilot.press(*"INC-23", "enter", *"drill", "enter")

        def second_window_open() -> bool:
            cancel = app.actions.step_cancel
            return cancel is not None and len(cancel.tokens) == 2 \
                and cancel.tokens[1].window_opened.is_set()

        await until(pilot, second_window_open, "the second step's cancel window", timeout=10)
        cancel = app.actions.step_cancel
        assert cancel is not None and cancel.tokens[0].window_closed.is_set()
        assert cancel.stop()  # in the window: the second write is called off
        await until(pilot, lambda: app.actions.step_cancel is None, "the run to end")
        await until(pilot, lambda: "cancelled" in notes(app), "the summary")
        assert [paused(p) for p in paths] == [True] + [False] * (len(paths) - 1)
        assert len(cancel.tokens) == 2  # and no later step was attempted
