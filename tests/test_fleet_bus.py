"""Issue 18 point 4 against the real mosquitto: every control room publishes each watched
context's summary RETAINED on ``<prefix>/summary/<context>`` every few seconds (schema v1,
documented in the README); the fleet screen (``W``) lists every context known on the bus with
its age, stale ones dimmed and said."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from backends.fleet_summary import ContextSummary
from backends.signals.bus_schema import SummaryMessage, decode, encode
from backends.signals.bus_summary import TEAMSUMMARY, TeamSummaryRow, summary_message
from tests.conftest import Broker, ThreadedDrill
from tests.fleet_support import drill_fleet, fleet_app
from tests.test_mqtt_bus import make_bus, raw_publish
from tests.timeline_support import Recording
from tests.waiting import await_until, pilot_until
from tui.fleet_screen import FleetScreen


def test_a_summary_round_trips_the_schema_and_the_readme_documents_it() -> None:
    summary = ContextSummary(context="prod", production=True, verdict="failing",
                             failing_pods=3, degraded_apps=1, breaker="off", data_age=2.0)
    message = decode(encode(summary_message(summary, "room-a", 1_800_000_000.0)),
                     expect="summary")
    assert isinstance(message, SummaryMessage)
    assert (message.context, message.verdict, message.failing_pods, message.v) == \
        ("prod", "failing", 3, 1)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Team bus (MQTT) message schema")[1]
    assert "<prefix>/summary/<context>" in section
    example = section.split('"type": "summary"')[0].rsplit("```json\n", 1)[1] + \
        '"type": "summary"' + section.split('"type": "summary"')[1].split("```")[0]
    assert isinstance(decode(example.encode()), SummaryMessage)


async def test_each_watched_context_publishes_its_retained_summary(
        tmp_path: Path, mosquitto: Broker) -> None:
    async with drill_fleet(tmp_path) as fleet:
        fleet.clusters["staging"].sim.advance(2)
        fleet.clusters["prod"].sim.advance(200)
        app: Any = fleet_app(fleet, f'[mqtt]\nurl = "{mosquitto.url}"\n',
                             tmp_path / "journal.sqlite3")
        async with app.run_test(size=(200, 60)) as pilot:
            await pilot_until(pilot, lambda: "FAILING" in app.fleet_strip.plain,
                              "prod failing on the strip", 60)

            def echoed() -> set[str]:  # our own retained summaries, back from the broker
                return {r.context for s in app.fleet.stores()
                        for r in s.rows(TEAMSUMMARY).values()
                        if isinstance(r, TeamSummaryRow) and r.summary.verdict != "unknown"}

            await pilot_until(pilot, lambda: echoed() >= {"staging", "prod"},
                              "both summaries published and echoed", 30)
        # A teammate started later: the retained summaries are there at once.
        bus, store = make_bus(mosquitto.url)
        bus.start()
        try:
            rows = await await_until(lambda: {
                r.context: r for r in store.rows(TEAMSUMMARY).values()
                if isinstance(r, TeamSummaryRow)} if store.count(TEAMSUMMARY) >= 2 else None,
                "both contexts' retained summaries", 30)
            assert rows["prod"].summary.verdict == "failing" and rows["prod"].summary.production
            assert rows["staging"].summary.verdict == "ok"
            assert not rows["staging"].summary.production
        finally:
            await bus.stop()


async def test_the_fleet_screen_lists_every_context_on_the_bus_and_says_stale(
        tmp_path: Path, mosquitto: Broker) -> None:
    now = time.time()
    items = []
    for i in range(500):
        old = i % 100 == 0  # 5 publishers that went silent a minute ago
        summary = ContextSummary(context=f"aks-{i:03d}", verdict="failing" if i % 7 == 0
                                 else "ok", failing_pods=1 if i % 7 == 0 else 0,
                                 breaker="off", data_age=1.0)
        items.append((f"controlroom/summary/aks-{i:03d}",
                      encode(summary_message(summary, "room-b", now - 60 if old else now))))
    await raw_publish(mosquitto.url, items, retain=True)
    async with drill_fleet(tmp_path, "staging=calm") as fleet:
        app: Any = fleet_app(fleet, f'[mqtt]\nurl = "{mosquitto.url}"\n',
                             tmp_path / "journal.sqlite3")
        async with app.run_test(size=(200, 60)) as pilot:
            await pilot_until(pilot, lambda: app.store.count(TEAMSUMMARY) >= 500,
                              "the 500 retained summaries", 30)
            await pilot.press("W")
            screen = await pilot_until(pilot, lambda: isinstance(app.screen, FleetScreen)
                                       and app.screen, "the fleet screen", 10)
            await pilot_until(pilot, lambda: "context(s) on the team bus" in screen.plain,
                              "the list", 10)
            lines = screen.plain.splitlines()
            assert any(line.startswith("aks-499 ") for line in lines)
            stale = [line for line in lines if "STALE" in line]
            assert sorted(line.split()[0] for line in stale) == [
                "aks-000", "aks-100", "aks-200", "aks-300", "aks-400"], stale
            assert "FAILING" in next(line for line in lines if line.startswith("aks-007 "))


async def test_a_headless_recorder_publishes_its_context_summary(
        tmp_path: Path, mosquitto: Broker, bad_rollout: ThreadedDrill) -> None:
    """A cluster only ``controlroom record`` watches is on the fleet too: the recorder
    publishes its context's summary retained, and a teammate started later reads it, failing
    once the bad rollout's pod crash-loops, and says the breaker is unknown (the recorder does
    not read it) rather than off."""
    import asyncio

    bad_rollout.call(bad_rollout.cluster.sim.advance, 200)
    rec = Recording(bad_rollout.kubeconfig, tmp_path, tmp_path / "drill.timeline",
                    config_text=f'[mqtt]\nurl = "{mosquitto.url}"\n')
    try:
        await asyncio.to_thread(rec.started)
        bus, store = make_bus(mosquitto.url)
        bus.start()
        try:
            row = await await_until(lambda: next((
                r for r in store.rows(TEAMSUMMARY).values()
                if isinstance(r, TeamSummaryRow) and r.summary.verdict == "failing"), None),
                "the recorder's retained summary saying failing", 30)
            assert row.context == "drill" and row.summary.failing_pods >= 1, row
            assert row.summary.breaker == "unknown", row
        finally:
            await bus.stop()
    finally:
        rec.kill()
