"""The alerts panel and the silence keys in the real App, against REAL servers.

The drill cluster runs ``bad-rollout`` (10x) scraped by a real Prometheus with the shipped
rules (``for: 5s``), sending to a real Alertmanager (tests/conftest.py ``PromStack``). The App
is wired exactly as ``controlroom`` wires it (:func:`tui.run._sources` with ``[prometheus]``
and ``[alertmanager]`` URLs) and driven with Pilot. Every claim about the servers is checked
with their own APIs.

One stack serves the module (the alerts take ~15 s to fire; a fresh stack per test would
triple that); each test leaves it as it found it (silences expired, Prometheus running).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backends.config import Settings, parse
from backends.ops.gate import Confirmation
from backends.signals.model import AlertRow
from backends.usecases.alerts import plan_silence
from backends.usecases.run import run
from tests.conftest import PromStack
from tests.waiting import pilot_until
from tui.app import ControlRoomApp, Target
from tui.pickers import PickerScreen
from tui.plan_screen import PlanScreen
from tui.run import _sources
from widgets.alerts import GROUPS, AlertsPanel
from widgets.header import health_text

CRASH = "PodCrashLooping"
MISMATCH = "DeploymentReplicasMismatch"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromStack]:
    s = PromStack(tmp_path_factory.mktemp("promstack"))
    try:
        s.wait_firing(CRASH, MISMATCH, timeout=90)
        s.wait_active(CRASH, MISMATCH, timeout=60)
        yield s
    finally:
        s.close()


def settings_for(stack: PromStack) -> Settings:
    return parse(f"""
[prometheus]
url = "{stack.prometheus_url}"
interval = 0.5
timeout = 2
[alertmanager]
url = "{stack.alertmanager_url}"
interval = 0.5
timeout = 2
silence_hours = 1
""")


def make_app(stack: PromStack, tmp_path: Path, *, read_only: bool = False) -> ControlRoomApp:
    settings = settings_for(stack)
    starter = _sources(lambda: str(stack.kubeconfig), None, None, settings=settings)
    return ControlRoomApp(settings, None, Target(cluster="drill", context="drill",
                                                 read_only=read_only),
                          starter, journal_path=tmp_path / "journal.sqlite3")


async def until(pilot: Any, check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    return await pilot_until(pilot, check, what, timeout, interval=0.1)


async def until_async(pilot: Any, check: Callable[[], Any], what: str,
                      timeout: float = 60.0) -> Any:
    """Like :func:`until` for a blocking ``check`` (httpx to the servers), run in a thread
    so the App's pollers keep running."""
    return await pilot_until(pilot, lambda: asyncio.to_thread(check), what, timeout,
                             interval=0.2)


def alerts_panel(app: ControlRoomApp) -> AlertsPanel:
    return next(p for p in app.panels if isinstance(p, AlertsPanel))


def group_of(panel: AlertsPanel, alertname: str) -> str | None:
    return next((g for g in panel.groups() if g.split("\x1f")[0] == alertname), None)


def members(panel: AlertsPanel, alertname: str) -> list[AlertRow]:
    """The alerts of the panel's group of that name ([] when there is none)."""
    group = group_of(panel, alertname)
    return panel.alerts_of((GROUPS, group)) if group is not None else []


def sources_in(panel: AlertsPanel, alertname: str) -> set[str]:
    return {s for a in members(panel, alertname) for s in a.seen_by}


async def shows_both(pilot: Any, panel: AlertsPanel) -> None:
    for name in (CRASH, MISMATCH):
        await until(pilot, lambda n=name: sources_in(panel, n) >= {  # type: ignore[misc]
            "prometheus", "alertmanager"}, f"{name} from Prometheus and Alertmanager")


def select_group(app: ControlRoomApp, panel: AlertsPanel, alertname: str) -> list[AlertRow]:
    group = group_of(panel, alertname)
    assert group is not None
    panel.focus()
    assert panel.table.select_key(panel.table_key((GROUPS, group)))
    assert panel.selected_row == (GROUPS, group)
    return panel.selected_alerts()


def silences(stack: PromStack) -> list[dict[str, Any]]:
    resp = httpx.get(f"{stack.alertmanager_url}/api/v2/silences", timeout=5)
    resp.raise_for_status()
    return list(resp.json())


def matched(alert: dict[str, Any], silence: dict[str, Any]) -> bool:
    return all(alert["labels"].get(m["name"]) == m["value"] for m in silence["matchers"])


async def test_bad_rollout_alerts_shown_and_read_only_sends_no_silence(
        stack: PromStack, tmp_path: Path) -> None:
    app = make_app(stack, tmp_path, read_only=True)
    async with app.run_test(size=(200, 50)) as pilot:
        panel = alerts_panel(app)
        await shows_both(pilot, panel)
        # issue 13 point 5: each alert once, from both sources, in Alertmanager's state
        crash = members(panel, CRASH)
        assert all(a.seen_by == ("prometheus", "alertmanager") for a in crash), crash
        assert {a.state for a in crash} == {"active"}
        firing = {tuple(sorted(a["labels"].items())) for a in stack.alertmanager_alerts()
                  if a["labels"]["alertname"] == CRASH}
        assert len(crash) == len(firing)  # distinct alerts, not one row per source
        drawn = [panel.cells_of(k, GROUPS) for k in panel.groups()]
        assert [f"{CRASH} ({len(firing)})"] == [c[3] for c in drawn
                                                if c[3].startswith(f"{CRASH} (")]
        for a in crash:
            assert panel.cells_of(a.key, "alerts")[5] == "prometheus+alertmanager"
        assert "alerts · " in str(panel.border_subtitle)
        assert "failing" not in str(panel.border_subtitle)
        assert "prometheus ●" in health_text(app.store.all_health(), time.time()).plain
        commands = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Silence", "Expire silence"} <= commands  # in the command palette
        # read-only: the key is dimmed and, pressed, says why (issue 14 point 8): no picker,
        # no plan, nothing to confirm
        await until(pilot, lambda: app.actions.gate is not None, "the session's gate")
        alerts = select_group(app, panel, CRASH)
        assert app.check_action("silence", ()) is None
        shown_before = len(app._notifications)  # noqa: SLF001
        await pilot.press("m")
        await until(pilot, lambda: len(app._notifications) > shown_before,  # noqa: SLF001
                    "the notice")
        assert "read-only" in str(list(app._notifications)[-1].message)  # noqa: SLF001
        assert not isinstance(app.screen, (PlanScreen, PickerScreen))
        # and the gate itself refuses, whatever a caller does
        ws = app.actions.ws
        assert ws is not None and ws.alertmanager is not None
        action = await plan_silence(ws, alerts, hours=1)
        result = await run(action, reason="CHG-ro", confirm=Confirmation())
        assert not result.ok and "read-only" in result.error
        assert await asyncio.to_thread(silences, stack) == []  # Alertmanager's own list


async def test_silence_from_the_control_room_and_expire(stack: PromStack,
                                                        tmp_path: Path) -> None:
    app = make_app(stack, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        panel = alerts_panel(app)
        await shows_both(pilot, panel)
        await until(pilot, lambda: app.actions.gate is not None and app.check_action("silence", ())
                    is True, "the silence key armed")
        for name in (CRASH, MISMATCH):
            select_group(app, panel, name)
            await pilot.press("m")
            picker = await until(pilot, lambda: isinstance(app.screen, PickerScreen),
                                 "the duration picker")
            assert picker
            await pilot.press("enter")  # the configured default: 1 hour
            await until(pilot, lambda: isinstance(app.screen, PlanScreen), "the plan screen")
            await pilot.press(*f"CHG-{name[:4]}", "enter")
            await until(pilot, lambda: not isinstance(app.screen, PlanScreen),
                        "the plan screen to close")

        def suppressed() -> list[dict[str, Any]] | None:
            active = [s for s in silences(stack) if s["status"]["state"] == "active"]
            alerts = stack.alertmanager_alerts()
            ours = [a for a in alerts if any(matched(a, s) for s in active)]
            names = {a["labels"]["alertname"] for a in ours}
            ok = {CRASH, MISMATCH} <= names and all(
                a["status"]["state"] == "suppressed" for a in ours)
            return active if ok else None

        active = await until_async(pilot, suppressed, "the silenced alerts suppressed")
        gate = app.actions.gate
        assert gate is not None
        assert {s["createdBy"] for s in active} == {gate.policy.operator}
        assert {s["comment"] for s in active} == {"CHG-PodC", "CHG-Depl"}
        for s in active:
            names = [m["name"] for m in s["matchers"]]
            assert names[0] == "alertname" and len(names) > 1  # scoped, never name alone
            assert all(m["isEqual"] and not m["isRegex"] for m in s["matchers"])
        # the panel follows: Alertmanager's rows of both groups say suppressed
        for name in (CRASH, MISMATCH):
            await until(pilot, lambda n=name: any(  # type: ignore[misc]
                a.source == "alertmanager" and a.state == "suppressed" and a.silenced_by
                for a in members(panel, n)), f"{name} suppressed in the panel")
            silenced = [a for a in members(panel, name) if a.silenced_by]
            assert all(panel.cells_of(a.key, "alerts")[0] == "silenced" for a in silenced)
        # the journal recorded each silence with the prior status and the silenceID
        assert app.actions.journal is not None
        entries = [e for e in await app.actions.journal.entries(context="drill")
                   if e.step == "silence-create"]
        assert {e.result["response"]["silenceID"] for e in entries} == {s["id"] for s in active}
        assert all(e.prior["alert"]["state"] == "active" for e in entries)

        for name in (CRASH, MISMATCH):
            select_group(app, panel, name)
            await pilot.press("M")
            screen = await until(pilot, lambda: isinstance(app.screen, PlanScreen)
                                 and app.screen, "the expire plan")
            assert screen.plan.writes and all(w.request.method == "DELETE"
                                              for w in screen.plan.writes)
            await pilot.press(*"done", "enter")
            await until(pilot, lambda: not isinstance(app.screen, PlanScreen),
                        "the plan screen to close")

        def restored() -> bool:
            if any(s["status"]["state"] == "active" for s in silences(stack)):
                return False
            states = {a["labels"]["alertname"]: a["status"]["state"]
                      for a in stack.alertmanager_alerts()}
            return states.get(CRASH) == "active" and states.get(MISMATCH) == "active"

        await until_async(pilot, restored, "both alerts active again, no active silence")


async def test_prometheus_down_keeps_alerts_dimmed_then_recovers(stack: PromStack,
                                                                 tmp_path: Path) -> None:
    app = make_app(stack, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        panel = alerts_panel(app)
        await shows_both(pilot, panel)

        def prometheus_rows() -> list[AlertRow]:
            """The alerts Prometheus reports (one row each, merged with Alertmanager's)."""
            return [a for g in panel.groups() for a in panel.alerts_of((GROUPS, g))
                    if "prometheus" in a.seen_by]

        before = {a.key for a in prometheus_rows()}
        await stack.astop("prometheus")
        try:
            await until(pilot, lambda: any("prometheus unreachable since" in p
                                           for p in panel.source_status),
                        "the panel to say Prometheus is unreachable")
            assert "prometheus unreachable since" in str(panel.border_title)
            assert panel.has_class("-source-down")
            await until(pilot, lambda: all("prometheus" in a.stale_sources
                                           for a in prometheus_rows()),
                        "Prometheus's part of each alert marked stale", timeout=10)
            kept = prometheus_rows()
            assert {a.key for a in kept} == before  # the last alerts stay
            for a in kept:
                # Alertmanager still vouches for them: not dimmed, but the source says stale
                assert panel.cells_of(a.key, "alerts")[5] == \
                    "prometheus (stale)+alertmanager"
            health = health_text(app.store.all_health(), time.time()).plain
            assert "prometheus unreachable since" in health
        finally:
            await stack.astart("prometheus")
        await until(pilot, lambda: not panel.source_status and not panel.has_class(
            "-source-down"), "Prometheus healthy again", timeout=30)
        await until(pilot, lambda: any(not a.stale_sources and a.alertname == CRASH
                                       for a in prometheus_rows()),
                    "fresh Prometheus alerts without restarting the app", timeout=40)
        assert str(panel.border_title) == "Alerts"
