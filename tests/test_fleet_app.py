"""Issue 18 points 2 and 7 in the App, on two drill clusters (staging calm, prod in
bad-rollout), wired as ``controlroom --context staging --context prod``: the fleet strip
shows prod failing and staging healthy; the number keys switch the panels; a breaker plan on
prod names prod, asks for prod's production confirmation, writes to prod and sends nothing
at all to staging (the drill servers' request logs); the journal names prod."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input

from backends.config import parse
from drill.fleet import DrillFleet
from tests.fleet_support import drill_fleet, fleet_app
from tests.test_contexts_config import proms  # noqa: F401 - the fixture
from tests.waiting import pilot_until
from tui.ctx_command import ctx_command
from tui.plan_screen import PlanScreen
from widgets.header import TargetBanner

WRITES = ("POST", "PUT", "PATCH", "DELETE")


async def until(pilot: Any, check: Any, what: str, timeout: float = 60.0) -> Any:
    return await pilot_until(pilot, check, what, timeout, interval=0.1)


def writes(fleet: DrillFleet, name: str) -> list[tuple[str, str, str]]:
    return [r for r in fleet.clusters[name].server.requests if r[0] in WRITES
            and "selfsubjectaccessreviews" not in r[1]]


def trouble_rows(app: Any) -> list[tuple[str, Any]]:
    """What the trouble line on screen points at: (panel, row) per part."""
    return [(p.panel, p.row) for p in app.trouble.line.summary.parts]


def summary_rows(app: Any) -> list[tuple[str, Any]]:
    """The same, computed afresh from the store of the context on screen."""
    from widgets.trouble import summarise
    return [(p.panel, p.row) for p in summarise(app.store, app._clock()).parts]  # noqa: SLF001


def line(app: Any, context: str) -> str:
    return next((text for text in app.fleet_strip.plain.splitlines()
                 if text[3:].startswith(context + " ")), "")


async def test_fleet_strip_switch_and_a_breaker_on_prod_touching_nothing_on_staging(
        tmp_path: Path) -> None:
    async with drill_fleet(tmp_path) as fleet:
        fleet.clusters["staging"].sim.advance(2)
        fleet.clusters["prod"].sim.advance(200)  # checkout is Degraded by t+150 s
        app: Any = fleet_app(fleet, '[breaker]\napps = ["checkout"]\n',
                             tmp_path / "journal.sqlite3")
        async with app.run_test(size=(200, 60)) as pilot:
            await until(pilot, lambda: "FAILING" in line(app, "prod")
                        and "healthy" in line(app, "staging"),
                        "prod failing and staging healthy on the fleet strip")
            assert "▶1 staging" in app.fleet_strip.plain
            prod_line = line(app, "prod")
            assert "apps 0 degraded" not in prod_line or "pods 0 failing" not in prod_line
            assert app.target.context == "staging" and not app.target.production

            await pilot.press("2")
            await until(pilot, lambda: app.target.context == "prod", "the switch to prod")
            assert app.target.production and "▶2 prod" in app.fleet_strip.plain
            assert "context prod" in str(app.header.query_one(".header--title").render())
            await until(pilot, lambda: app.actions.gate is not None, "prod's write gate")
            await until(pilot, lambda: app.store.count("applications") > 0, "prod's apps")
            for cluster in fleet.clusters.values():
                cluster.server.requests.clear()
                cluster.server.record_requests = True

            await pilot.press("ctrl+b")
            screen = await until(pilot, lambda: isinstance(app.screen, PlanScreen)
                                 and app.screen, "the breaker plan")
            await until(pilot, lambda: screen.query(TargetBanner), "its target line")
            shown = str(screen.query_one(TargetBanner).render())
            assert "PRODUCTION" in shown and "context prod" in shown
            assert app.actions.ws.context == "prod"  # the workspace (gate) it is planned in
            screen.query_one("#plan-reason", Input).focus()
            await pilot.press(*"INC-18", "enter")
            confirm = screen.query_one("#plan-confirm", Input)
            await until(pilot, lambda: app.focused is confirm, "prod's typed confirmation")
            await pilot.press(*"prod", "enter")
            await until(pilot, lambda: any("dryRun" not in r[2] for r in writes(fleet, "prod")),
                        "the breaker's writes on prod", timeout=60)
            await app.workers.wait_for_complete()
            assert writes(fleet, "staging") == []
            entries = await app.actions.journal.entries(context="prod")
            assert entries and all(e.context == "prod" for e in entries)
            staging_actions = app.fleet.members[0].owned["actions"]
            assert staging_actions.journal is None or not await \
                staging_actions.journal.entries(context="staging")

            await pilot.press("1")
            await until(pilot, lambda: app.target.context == "staging", "back to staging")
            assert not app.target.production
            # The trouble line follows the context on screen (it is mounted once for all).
            await until(pilot, lambda: trouble_rows(app) == summary_rows(app),
                        "the trouble line to be staging's")
            staging_rows = trouble_rows(app)
            # :ctx NAME, for the command line (tui/ctx_command.py)
            assert ctx_command(app.fleet, "pods") is None
            assert ctx_command(app.fleet, ":ctx nope") == \
                "no watched context 'nope' (watched: staging, prod)"
            await pilot.press("colon", *"ctx prod", "enter")
            await until(pilot, lambda: app.target.context == "prod", ":ctx prod typed")
            await until(pilot, lambda: trouble_rows(app) == summary_rows(app)
                        and trouble_rows(app) != staging_rows, "the trouble line to be prod's")


async def test_demo_clusters_opens_the_room_on_every_drill_cluster(tmp_path: Path) -> None:
    """``controlroom demo --clusters staging,prod`` as tui/run_fleet.py wires it: the drill
    fleet starts with the first member's sources, every context connects, and it stops once
    every member has stopped."""
    from cli.main import build_parser
    from tui.app import ControlRoomApp
    from tui.run_fleet import demo_members

    args = build_parser().parse_args(["demo", "--clusters", "staging,prod", "--no-servers",
                                      "--kubeconfig-out", str(tmp_path / "kubeconfig")])
    members = demo_members(args, parse("signals = []\n"))
    first, *others = members
    app = ControlRoomApp(first.settings, None, first.target, first.starter,
                         journal_path=tmp_path / "journal.sqlite3", watch=others)
    async with app.run_test(size=(200, 60)) as pilot:
        await until(pilot, lambda: all(line(app, name) and "UNKNOWN" not in line(app, name)
                                       for name in ("staging", "prod")),
                    "both drill contexts delivering on the strip")
        assert [m.target.production for m in members] == [False, True]


async def test_per_context_alert_sources_never_mix(tmp_path: Path,
                                                   proms: dict[str, str]  # noqa: F811
                                                   ) -> None:
    """Each watched context polls its own Prometheus into its own store; the header names
    the context of the alert source it shows."""
    async with drill_fleet(tmp_path, "staging=calm,prod=calm") as fleet:
        app: Any = fleet_app(fleet, f"""
signals = []
[prometheus]
url = "{proms['Global']}"
interval = 0.5
[contexts."staging".prometheus]
url = "{proms['Staging']}"
interval = 0.5
[contexts."prod".prometheus]
url = "{proms['Prod']}"
interval = 0.5
""", tmp_path / "journal.sqlite3")
        async with app.run_test(size=(200, 60)) as pilot:
            stores = {m.context: m for m in app.fleet.members}

            def names(context: str) -> set[str]:
                store = stores[context].store
                return set() if store is None else {
                    getattr(r, "alertname", "") for r in store.rows("alerts").values()}

            await until(pilot, lambda: names("staging") and names("prod"), "both alerts")
            assert names("staging") == {"StagingOnly"} and names("prod") == {"ProdOnly"}
            await until(pilot, lambda: "prometheus (staging)" in str(
                app.header.query_one(".header--health").render()), "staging's source named")
            await pilot.press("2")
            await until(pilot, lambda: "prometheus (prod)" in str(
                app.header.query_one(".header--health").render()), "prod's source named")
            assert {getattr(r, "alertname", "") for r in app.store.rows("alerts").values()} \
                == {"ProdOnly"}
