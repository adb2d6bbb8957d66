"""The team bus in the App, with Pilot: a real drill cluster, a real mosquitto, real keys.

The App's sources are started by ``tui.run._sources`` (the production wiring), with the
broker URL from ``[mqtt]`` in the settings. A teammate is a plain :class:`TeamBus` (or raw
MQTT publishes) on the same broker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backends.config import MqttSettings, Settings, parse
from backends.signals.bus_schema import ALERTS, TEAMACTIONS, TEAMBREAKER, TeamActionRow
from backends.signals.mqtt import TeamBus
from backends.store import Store
from drill.runner import DrillCluster
from tests.conftest import Broker
from tests.test_app import until
from tests.test_mqtt_bus import raw_publish
from tui.app import ControlRoomApp, Target
from tui.run import _sources

PREFIX = "controlroom"


def bus_app(drill: DrillCluster, settings: Settings, journal: Path) -> ControlRoomApp:
    return ControlRoomApp(settings, None, Target(cluster="drill", context="drill"),
                          _sources(lambda: str(drill.kubeconfig), None, None,
                                   settings=settings),
                          journal_path=journal)


def text_of(widget: Any) -> str:
    return str(widget.render())


async def test_engage_reaches_the_team_and_a_control_room_started_later(
        drill: DrillCluster, mosquitto: Broker, tmp_path: Path) -> None:
    settings = parse('[breaker]\napps = ["payments"]\ndeployments = ["payments/payments"]\n'
                     'allow_no_backend = ["payments/payments"]\n'
                     f'[mqtt]\nurl = "{mosquitto.url}"\n')
    team_store = Store()
    teammate = TeamBus(team_store, MqttSettings(url=mosquitto.url, client_id="bob-room"))
    teammate.start()
    app = bus_app(drill, settings, tmp_path / "alice.sqlite3")
    try:
        async with app.run_test(size=(200, 50)) as pilot:
            await until(pilot, lambda: app.actions.gate is not None, "the write gate")
            await until(pilot, lambda: app.session.bus.connected, "the App's bus")
            await until(pilot, lambda: app.store.count("applications") > 0, "apps loaded")
            await pilot.press("ctrl+b")
            await until(pilot, lambda: type(app.screen).__name__ == "PlanScreen",
                        "breaker plan")
            await pilot.press(*"INC-9", "enter")
            row = await until(pilot, lambda: (r := team_store.get(TEAMBREAKER, "drill"))
                              is not None and r.engaged and r, "the teammate sees the engage")
            state = app.actions.breaker_state
            assert (row.by, row.targets, row.mine) == (state.by, len(state.targets), False)
            # every journal entry of the breaker went out on <prefix>/actions
            ours = await until(pilot, lambda: [
                r for r in team_store.rows(TEAMACTIONS).values()
                if isinstance(r, TeamActionRow) and r.operation_id == state.operation_id
                and r.status != "pending"], "the breaker's journal entries")
            assert all(r.summary == "INC-9" and r.context == "drill" for r in ours)
            # the App's own header: our breaker in the modes line, no TEAM line for ourselves
            assert "TEAM:" not in text_of(app.header._team)  # noqa: SLF001
    finally:
        await teammate.stop()

    # A second control room on the same context, started later, with its own journal: the
    # retained state tells it who engaged the breaker and since when.
    later = bus_app(drill, settings, tmp_path / "carol.sqlite3")
    async with later.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: f"TEAM: breaker engaged on drill by {state.by}"
                    in text_of(later.header._team), "the team line")  # noqa: SLF001
        since = state.since.astimezone().strftime("%H:%M:%S")
        assert f"since {since}" in text_of(later.header._team)  # noqa: SLF001
        # its journal knows nothing of the breaker; the cluster's marks do (issue 14,
        # point 11), and it must not publish another operator's breaker as its own
        seen = await until(pilot, lambda: (s := later.actions.breaker_state) is not None
                           and s.engaged and s, "the breaker from the cluster's marks")
        assert (seen.source, seen.operation_id, seen.by) == ("cluster", state.operation_id,
                                                             state.by)
        assert later.session.bus.outbox.pending() == []


async def test_team_breaker_pipeline_strip_alerts_and_rejects_are_shown(
        drill: DrillCluster, mosquitto: Broker, tmp_path: Path) -> None:
    breaker = {"v": 1, "type": "breaker", "origin": "alice-room", "context": "aks-prod-weu",
               "engaged": True, "by": "alice[bold]", "since": "2026-11-26T09:30:00Z",
               "targets": 4}
    await raw_publish(mosquitto.url, [(f"{PREFIX}/breaker/aks-prod-weu",
                                       json.dumps(breaker).encode())], retain=True)
    settings = parse(f'[mqtt]\nurl = "{mosquitto.url}"\n')
    app = bus_app(drill, settings, tmp_path / "journal.sqlite3")
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: "TEAM: breaker engaged on aks-prod-weu by alice[bold]"
                    in text_of(app.header._team), "the team breaker")  # noqa: SLF001
        assert not app.pipeline_strip.display or "-empty" in app.pipeline_strip.classes
        events = [
            ("prod", "infrastructure", "succeeded", "abc123", "10:00"),
            ("prod", "applications", "succeeded", "abc123", "10:20"),
            ("staging", "infrastructure", "succeeded", "def456", "09:00"),
            ("staging", "platform-services", "failed", "def456", "09:10"),
        ]
        payloads = [(f"{PREFIX}/pipeline/{env}", json.dumps({
            "v": 1, "type": "pipeline", "phase": phase, "status": status, "environment": env,
            "revision": rev, "time": f"2026-11-26T{hhmm}:00Z"}).encode())
            for env, phase, status, rev, hhmm in events]
        alert = {"v": 1, "type": "alert", "alertname": "PodCrashLooping", "severity": "critical",
                 "labels": {"namespace": "shop"}, "summary": "web crash-loops"}
        await raw_publish(mosquitto.url, [
            *payloads, (f"{PREFIX}/alerts/prod", json.dumps(alert).encode()),
            (f"{PREFIX}/pipeline/prod", b"{not json")])
        await until(pilot, lambda: "prod: applications ✓ rev abc123  ·  staging: "
                    "platform-services ✗ failed" in text_of(app.pipeline_strip),
                    "the pipeline strip")
        assert "-empty" not in app.pipeline_strip.classes
        await until(pilot, lambda: "1 rejected (malformed 1)" in text_of(app.header._team),  # noqa: SLF001
                    "the rejected count in the team line")
        await until(pilot, lambda: "1 rejected" in text_of(app.header._health),  # noqa: SLF001
                    "the rejected count in the health strip")
        alerts = [r for r in app.store.rows(ALERTS).values() if r.key.startswith("mqtt/")]
        assert len(alerts) == 1 and getattr(alerts[0], "source", "") == "mqtt"
        panel = next(p for p in app.panels if ALERTS in p.KINDS)
        await until(pilot, lambda: alerts[0].key in list(panel.visible_keys()),
                    "the forwarded alert in the alerts panel")


async def test_a_breaker_engaged_with_the_cli_shows_in_a_running_app_and_on_the_bus(
        drill: DrillCluster, mosquitto: Broker, tmp_path: Path) -> None:
    """Issue 13 point 6: the CLI (same state dir, ``[mqtt] url`` configured) engages the
    breaker; the running App's header says BREAKER ENGAGED within 2 s of the command's end
    (from the journal, without ctrl+r), and a plain MQTT subscriber sees the CLI's journal
    entries on ``<prefix>/actions`` and its retained breaker state."""
    import asyncio
    import sys
    import time

    import aiomqtt

    from backends.signals.mqtt import parse_url

    state_dir = tmp_path / "state"
    config = tmp_path / "cli.toml"
    config.write_text(f'[mqtt]\nurl = "{mosquitto.url}"\n')
    seen: list[tuple[str, dict[str, Any]]] = []

    async def listen(ready: asyncio.Event) -> None:
        addr = parse_url(mosquitto.url)
        async with aiomqtt.Client(addr.host, addr.port) as client:
            await client.subscribe(f"{PREFIX}/#", qos=1)
            ready.set()
            async for message in client.messages:
                payload = message.payload
                if isinstance(payload, bytes) and payload:
                    seen.append((message.topic.value, json.loads(payload)))

    ready = asyncio.Event()
    listener = asyncio.create_task(listen(ready))
    settings = parse("")  # the App has no bus: the journal alone must tell it
    app = bus_app(drill, settings, state_dir / "journal.sqlite3")
    try:
        await asyncio.wait_for(ready.wait(), 5)
        async with app.run_test(size=(200, 50)) as pilot:
            await until(pilot, lambda: app.actions.journal is not None, "the App's journal")
            assert "BREAKER ENGAGED" not in text_of(app.header._modes)  # noqa: SLF001
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "controlroom", "breaker", "engage",
                "--deployment", "payments/payments", "--allow-no-backend", "payments/payments",
                "--yes", "--reason", "INC-CLI",
                "--kubeconfig", str(drill.kubeconfig), "--config", str(config),
                "--state-dir", str(state_dir), stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, (out.decode(), err.decode())
            assert "team bus" not in err.decode()  # everything acknowledged
            ended = time.monotonic()
            await until(pilot, lambda: "BREAKER ENGAGED" in text_of(
                app.header._modes), "the header to show the CLI's breaker",  # noqa: SLF001
                timeout=2.0)
            assert time.monotonic() - ended <= 2.5
            # The header may first show a read taken while the CLI was still writing
            # (engaged, half-done: true at that moment); the journal's last commit triggers
            # another read. Compare with the bus once the App has the whole engage.
            state = await until(pilot, lambda: (s := app.actions.breaker_state) is not None
                                and s.engaged and not s.half_done and s,
                                "the App to read the finished engage from the journal")
        breakers = [m for t, m in seen if t == f"{PREFIX}/breaker/drill"]
        assert breakers and breakers[-1]["engaged"] is True
        assert breakers[-1]["by"] == state.by and breakers[-1]["targets"] == len(state.targets)
        actions = [m for t, m in seen if t == f"{PREFIX}/actions"]
        ours = [m for m in actions if m.get("operationId") == state.operation_id]
        assert ours and all(m["summary"] == "INC-CLI" and m["context"] == "drill"
                            for m in ours)
        assert {m["status"] for m in ours} - {"pending"}, ours  # the outcomes too
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
