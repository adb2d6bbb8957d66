"""k9s habits on the dashboard (issue 15, point 4), driven with Pilot on the drill: ``:`` jumps
to a panel by name, one filter for every panel, Escape clears filters, Home/End/PgUp/PgDn move
the selection in every table, and ``?`` lists Enter and the keys of the screen it is asked on.
"""

from __future__ import annotations

import time
from typing import Any

from backends.signals.health import ENDPOINTS, EndpointRow
from drill.runner import DrillCluster
from tests.test_app import make_app, panel, shown
from tests.waiting import pilot_until as until
from tui.app import ControlRoomApp
from tui.journal_screen import JournalScreen
from tui.screens import HelpScreen
from widgets.commands import resolve
from widgets.keylist import KeyList
from widgets.panels import (
    AppsPanel,
    EndpointsPanel,
    NodesPanel,
    PodsPanel,
    RoutesPanel,
    TablePanel,
    WorkloadsPanel,
)


def messages(app: ControlRoomApp) -> list[str]:
    return [str(n.message) for n in app._notifications]  # noqa: SLF001


def test_names_aliases_and_prefixes_resolve_to_one_panel() -> None:
    for line, panel_id in (("pods", "pods"), ("po", "pods"), (":no", "nodes"),
                           ("ev", "events"), ("deploy", "workloads"), ("dp", "workloads"),
                           ("apps", "apps"), ("routes", "traffic"), ("alerts", "alerts"),
                           ("events", "events"), ("nodes", "nodes"), ("nod", "nodes"),
                           ("al", "alerts"), ("ALERTS", "alerts"), ("endp", "endpoints")):
        assert resolve(line).panel == panel_id, line
    assert "ambiguous" in resolve("e").error and "events" in resolve("e").error \
        and "endpoints" in resolve("e").error
    unknown = resolve("zzz")
    assert unknown.panel == "" and "no panel called 'zzz'" in unknown.error
    assert "pods" in unknown.error
    assert resolve("filter checkout").filter == "checkout"
    assert resolve("/web").filter == "web"
    assert resolve("filter").filter == ""


async def _command(pilot: Any, line: str) -> None:
    await pilot.press("colon")
    await until(pilot, lambda: pilot.app.commands.line.has_focus, "the command line")
    await pilot.press(*line, "enter")


async def test_colon_jumps_to_panels_and_survives_nonsense(drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: len(shown(panel(app, NodesPanel))) > 0, "nodes")
        for line, cls in (("po", PodsPanel), ("no", NodesPanel), ("deploy", WorkloadsPanel),
                          ("routes", RoutesPanel), ("apps", AppsPanel),
                          ("endpoints", EndpointsPanel)):
            await _command(pilot, line)
            await until(pilot, lambda c=cls: isinstance(app.focused_panel(), c),
                        f":{line} to focus {cls.__name__}")
            assert not app.commands.line.display
        await _command(pilot, "zzz")
        await until(pilot, lambda: any("no panel called 'zzz'" in m for m in messages(app)),
                    "the error for an unknown panel")
        assert app.is_running and isinstance(app.focused_panel(), EndpointsPanel)
        # Escape leaves the line without running anything
        await pilot.press("colon", "p", "o", "escape")
        assert not app.commands.line.display
        assert isinstance(app.focused_panel(), EndpointsPanel)
        # while a panel is maximised the line is on screen and the jump maximises its panel
        nodes = panel(app, NodesPanel)
        nodes.focus()
        app.screen.maximized = nodes
        await pilot.press("colon")
        await until(pilot, lambda: app.commands.line.has_focus
                    and app.commands.line.region.height > 0, "the line over a maximised panel")
        await pilot.press("p", "o", "enter")
        pods = panel(app, PodsPanel)
        await until(pilot, lambda: app.screen.maximized is pods
                    and app.focused_panel() is pods, ":po to maximise and focus the pods")


async def test_one_filter_for_every_panel_and_escape_clears(drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        workloads = panel(app, WorkloadsPanel)
        apps = panel(app, AppsPanel)
        await until(pilot, lambda: len(shown(workloads)) > 5 and len(shown(apps)) > 2,
                    "workloads and apps")
        workloads.focus()
        await pilot.press("F", *"checkout")
        await until(pilot, lambda: all(p.filter_text == "checkout" for p in app.panels),
                    "the filter on every panel")
        assert shown(workloads) and all("checkout" in k for k in shown(workloads))
        assert shown(apps) == ["argocd/checkout"]
        await pilot.press("enter")  # Enter keeps it
        assert all(p.filter_text == "checkout" for p in app.panels)
        await pilot.press("escape")  # Escape on the dashboard clears it everywhere
        await until(pilot, lambda: all(p.filter_text == "" for p in app.panels),
                    "Escape to clear every panel's filter")
        assert len(shown(apps)) > 2
        # :filter sets it as well, Escape clears it again
        await _command(pilot, "filter payments")
        await until(pilot, lambda: all(p.filter_text == "payments" for p in app.panels),
                    ":filter on every panel")
        await pilot.press("escape")
        await until(pilot, lambda: all(p.filter_text == "" for p in app.panels),
                    "Escape after :filter")
        # a per-panel filter: Escape in the box clears it; Enter keeps it, Escape clears it
        workloads.focus()
        await pilot.press("slash", *"payments")
        await until(pilot, lambda: workloads.filter_text == "payments", "the panel filter")
        await pilot.press("escape")
        await until(pilot, lambda: workloads.filter_text == "", "Esc in the box to clear it")
        await pilot.press("slash", *"payments", "enter")
        assert workloads.filter_text == "payments" and apps.filter_text == ""
        await pilot.press("escape")
        await until(pilot, lambda: workloads.filter_text == "", "Esc on the panel to clear it")


async def test_home_end_and_pages_select_rows_in_every_table(drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        panel(app, PodsPanel).toggle_all()
        app.store.apply(ENDPOINTS, [("ADDED", EndpointRow(
            key=f"probe-{i}", name=f"probe-{i}", url=f"http://probe-{i}.invalid/healthz",
            ok=True, status=200, latency_ms=3.0, checked_at=time.time())) for i in range(3)])
        tables = [p for p in app.panels if isinstance(p, (TablePanel, NodesPanel,
                                                          WorkloadsPanel, PodsPanel))]
        assert {type(p) for p in tables} >= {AppsPanel, RoutesPanel, EndpointsPanel}
        for p in tables:
            await until(pilot, lambda p=p: len(p.visible_rows()) > 1,
                        f"two rows in {p.TITLE}")
            p.focus()
            await pilot.press("end")
            await until(pilot, lambda p=p: p.selected_row == p.visible_rows()[-1],
                        f"End to select the last row of {p.TITLE}")
            await pilot.press("home")
            await until(pilot, lambda p=p: p.selected_row == p.visible_rows()[0],
                        f"Home to select the first row of {p.TITLE}")
            await pilot.press("pagedown")
            await until(pilot, lambda p=p: p.selected_row != p.visible_rows()[0],
                        f"PgDn to move the selection in {p.TITLE}")
            await pilot.press("pageup")
            await until(pilot, lambda p=p: p.selected_row == p.visible_rows()[0],
                        f"PgUp to move it back in {p.TITLE}")
            if isinstance(p, TablePanel):
                assert p.table.scroll_x == 0  # no sideways scroll instead


def _help_keys(app: ControlRoomApp) -> dict[str, str]:
    """key -> action of the help screen on top, each checked to be drawn on a line of it."""
    keys = app.screen.query_one("#help-keys", KeyList)
    lines = keys.lines(keys.size.width)
    for key, action, _ in keys.rows:
        assert any(line.startswith(key) and action in line for line in lines), (key, lines)
    return {key: action for key, action, _ in keys.rows}


async def test_help_is_opaque_and_kept_between_opens(drill: DrillCluster) -> None:
    """Issue 16, point 5 (key to paint under a flood): the help screen hides the dashboard
    (opaque, so the panels below are neither laid out again when it opens nor redrawn under
    it as events arrive), and one open's screen is the next one's with its keys replaced; a
    theme change builds a new one (a screen off the stack is not restyled)."""
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: len(shown(panel(app, NodesPanel))) > 0, "nodes")
        await pilot.press("question_mark")
        first = await until(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen,
                            "help")
        assert first.styles.background.a == 1
        dashboard_keys = _help_keys(app)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen), "help closed")
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen), "the journal")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help over the journal")
        assert app.screen is first
        journal_keys = _help_keys(app)
        assert journal_keys != dashboard_keys and journal_keys.get("j") == "Close"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen), "back to the journal")
        await pilot.press("j")
        await until(pilot, lambda: not isinstance(app.screen, JournalScreen), "the dashboard")
        theme = app.theme
        await pilot.press("t")
        await until(pilot, lambda: app.theme != theme, "another theme")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help again")
        assert app.screen is not first and _help_keys(app) == dashboard_keys
        await until(pilot, lambda: not first.is_attached, "the old help screen removed")


async def test_help_lists_enter_and_the_keys_of_the_screen_on_top(drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: len(shown(panel(app, NodesPanel))) > 0, "nodes")
        app.screen.set_focus(None)  # no table focused: Enter is listed all the same
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        keys = _help_keys(app)
        assert keys.get("⏎") == "Open" and ":" in keys and "F" in keys and "n" in keys
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen), "help closed")
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen), "the journal")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help over the journal")
        keys = _help_keys(app)
        assert keys.get("j") == "Close" and "p" not in keys  # the journal's, not the dashboard's
        assert keys.get("home") == "First" and keys.get("⏎") == "Open"
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen), "back to the journal")
