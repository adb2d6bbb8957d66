"""Issue 15, points 1 and 2: columns by priority, names cut in the middle, and the dashboard
at the sizes on-call people use (200x50, 120x35, 80x24), read from what is drawn."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len

from backends.config import ConfigError, Settings, parse
from drill.runner import DrillCluster
from tests.test_app import EVENTS, drawn, make_app, panel, shown
from tests.waiting import pilot_until as until
from tui.app import ControlRoomApp
from widgets.column_fit import fit_columns, shown_labels
from widgets.formatting import middle_cut
from widgets.panels import (
    AlertsPanel,
    AppsPanel,
    EventsPanel,
    NodesPanel,
    PodsPanel,
    RoutesPanel,
    WorkloadsPanel,
)
from widgets.rowmodel import Column

# ---------------------------------------------------------------------- middle_cut


def test_middle_cut_keeps_the_end_where_sibling_names_differ() -> None:
    assert middle_cut("aks-userblue-87654321-vmss000002", 23) == "aks-userblue…vmss000002"
    siblings = [f"aks-userblue-87654321-vmss00000{i}" for i in range(3)]
    cut = [middle_cut(name, 20) for name in siblings]
    assert len(set(cut)) == 3, cut  # an end cut would make all three alike
    assert all(c.endswith(name[-3:]) and "…" in c for c, name in zip(cut, siblings, strict=True))


def test_middle_cut_leaves_what_fits_and_handles_tiny_widths() -> None:
    assert middle_cut("checkout", 8) == "checkout"
    assert middle_cut("checkout", 30) == "checkout"
    assert middle_cut("checkout", 1) == "…"
    assert middle_cut("checkout", 0) == ""
    # a last part longer than half the room: cut by characters, both ends kept
    assert middle_cut("abcdefghijklmnopqrstuvwxyz", 11) == "abcde…vwxyz"


@given(st.text(min_size=0, max_size=60), st.integers(min_value=0, max_value=70))
def test_middle_cut_never_exceeds_the_width(text: str, width: int) -> None:
    cut = middle_cut(text, width)
    assert cell_len(cut) <= max(width, 0) or cut == text and cell_len(text) <= width
    if cell_len(text) <= width:
        assert cut == text


# ---------------------------------------------------------------------- fit_columns

COLUMNS = (
    Column("AGE", priority=7),
    Column("NAME", priority=1, min_width=8, ideal=12),
    Column("STATUS", priority=1, min_width=6),
    Column("MESSAGE", priority=2, min_width=10, ideal=20),
    Column("NODE", priority=8, min_width=6),
)
NATURAL = (3, 30, 16, 80, 20)


def test_fit_shows_everything_whole_when_there_is_room() -> None:
    assert fit_columns(COLUMNS, NATURAL, 1000) == NATURAL
    assert fit_columns(COLUMNS, NATURAL, 0) == NATURAL  # not laid out yet


def test_fit_drops_and_narrows_the_least_important_first() -> None:
    wide = fit_columns(COLUMNS, NATURAL, 120)
    narrow = fit_columns(COLUMNS, NATURAL, 56)
    tiny = fit_columns(COLUMNS, NATURAL, 12)
    at_59 = fit_columns(COLUMNS, NATURAL, 59)  # room for the age (3) after the ideals
    assert shown_labels(COLUMNS, at_59) == ("AGE", "NAME", "STATUS", "MESSAGE")
    assert shown_labels(COLUMNS, wide) == ("AGE", "NAME", "STATUS", "MESSAGE", "NODE")
    assert shown_labels(COLUMNS, narrow) == ("NAME", "STATUS", "MESSAGE")
    assert shown_labels(COLUMNS, tiny) == ("NAME",)
    for widths, room in ((wide, 120), (narrow, 56), (tiny, 12)):
        assert sum(widths) + 2 * sum(1 for w in widths if w) <= room, widths
    # the message reaches its ideal width before the node (less important) grows
    assert wide[3] >= 20 and wide[4] == 6
    # and nothing is narrower than its minimum
    assert all(w == 0 or w >= min(c.min_width or len(c.label), n)
               for c, w, n in zip(COLUMNS, wide, NATURAL, strict=True))


# ---------------------------------------------------------------------- the dashboard


def warning_event(drill: DrillCluster) -> None:
    drill.state.create(EVENTS, {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "crash-1", "namespace": "checkout"},
        "involvedObject": {"kind": "Pod", "name": "checkout-stable-68c555fdc9-9f4f4",
                           "namespace": "checkout"},
        "reason": "BackOff", "type": "Warning", "count": 3,
        "message": "Back-off restarting failed container checkout in pod "
                   "checkout-stable-68c555fdc9-9f4f4_checkout(1234)",
        "lastTimestamp": "2026-11-26T10:00:00Z"})


async def loaded(pilot: Any, app: ControlRoomApp) -> None:
    events = panel(app, EventsPanel)
    await until(pilot, lambda: "checkout/crash-1" in shown(events)
                and len(shown(panel(app, NodesPanel))) >= 3
                and len(shown(panel(app, AppsPanel))) >= 3
                and len(shown(panel(app, RoutesPanel))) >= 3, "the panels loaded")
    await pilot.pause()


def no_sideways_scroll(app: ControlRoomApp) -> None:
    for p in app.panels:
        table = p.table  # type: ignore[attr-defined]
        assert table.virtual_size.width <= table.scrollable_content_region.width, (
            p.TITLE, table.virtual_size.width, table.scrollable_content_region.width)


def columns_of(app: ControlRoomApp, cls: type) -> tuple[str, ...]:
    return tuple(panel(app, cls).table.shown_columns) if hasattr(
        panel(app, cls).table, "shown_columns") else tuple(panel(app, cls).shown_columns)


async def test_at_200x50_every_panel_shows_its_words_without_sideways_scrolling(
        drill: DrillCluster) -> None:
    warning_event(drill)
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await loaded(pilot, app)
        assert app.screen.maximized is None  # the grid
        no_sideways_scroll(app)
        assert {"REASON", "MESSAGE", "OBJECT"} <= set(columns_of(app, EventsPanel))
        assert {"ALERT", "SUMMARY"} <= set(columns_of(app, AlertsPanel))
        assert {"NAME", "STATUS", "BACKENDS"} <= set(columns_of(app, RoutesPanel))
        first_signal = Settings().signals[0].name.upper()
        assert {"NAME", "SYNC", "HEALTH", first_signal} <= set(columns_of(app, AppsPanel))
        assert {"NAME", "STATUS", "PROBLEM"} <= set(columns_of(app, PodsPanel))
        assert {"NAME", "READY", "ROLLOUT"} <= set(columns_of(app, WorkloadsPanel))
        # the event's message is drawn (cut at its end if it must), with its reason
        events = panel(app, EventsPanel)
        line = next(text for text in drawn(events.table) if "BackOff" in text)
        assert "Back-off restarting" in line, line


async def test_at_120x35_status_health_and_alert_names_are_on_screen(
        drill: DrillCluster) -> None:
    warning_event(drill)
    app = make_app(drill)
    async with app.run_test(size=(120, 35)) as pilot:
        await loaded(pilot, app)
        assert app.screen.maximized is None  # still the grid (compact below 100x30)
        no_sideways_scroll(app)
        for cls in (NodesPanel, PodsPanel, RoutesPanel):
            assert "STATUS" in columns_of(app, cls), cls
        assert "HEALTH" in columns_of(app, AppsPanel)
        assert "ALERT" in columns_of(app, AlertsPanel)
        assert {"REASON", "MESSAGE"} <= set(columns_of(app, EventsPanel))
        # the least important columns went first
        assert "AGE" not in columns_of(app, NodesPanel)
        assert "NODE" not in columns_of(app, PodsPanel)
        # node names are cut in the middle: their distinct ends stay visible
        nodes = panel(app, NodesPanel)
        names = [line.split()[0] for line in drawn(nodes.table)[1:] if line.strip()]
        assert len(set(names)) == len(names) == len(shown(nodes)), names


async def test_at_80x24_one_panel_fills_the_screen_with_a_pager_line(
        drill: DrillCluster) -> None:
    warning_event(drill)
    app = make_app(drill)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, app)
        nodes = panel(app, NodesPanel)
        await until(pilot, lambda: app.screen.maximized is nodes, "the focused panel alone")
        assert nodes.table.scrollable_content_region.height - 1 >= 15  # rows, not slivers
        pager = app.query_one("#pager")
        assert pager.display and pager.region.height == 1
        text = pager.render().plain  # type: ignore[union-attr]
        assert all(p.TITLE in text for p in app.panels), text
        # tab pages to the next panel, shift+tab back
        await pilot.press("tab")
        workloads = panel(app, WorkloadsPanel)
        await until(pilot, lambda: app.screen.maximized is workloads, "the next panel")
        assert app.layout.maximized is workloads and workloads.table.has_focus
        await pilot.press("shift+tab")
        await until(pilot, lambda: app.screen.maximized is nodes, "the previous panel")
        # a jump to another panel's row shows that panel (G: the worst row anywhere)
        # (the seeded drill is calm: the BackOff warning event is the only problem row)
        await pilot.press("G")
        events = panel(app, EventsPanel)
        await until(pilot, lambda: app.screen.maximized is events, "the events panel shown")
        assert app.focused_panel() is events and events.selected_key == "checkout/crash-1"
        # z shows the grid here too, and again the one panel
        await pilot.press("z")
        await until(pilot, lambda: app.screen.maximized is None, "z: the grid")
        await pilot.press("z")
        await until(pilot, lambda: app.screen.maximized is not None, "z: one panel")


async def test_z_maximises_at_any_size_and_resizing_switches_live(drill: DrillCluster) -> None:
    warning_event(drill)
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await loaded(pilot, app)
        pods = panel(app, PodsPanel)
        pods.focus()
        await pilot.press("z")
        await until(pilot, lambda: app.screen.maximized is pods, "z: the pods panel alone")
        assert app.query_one("#pager").display
        await pilot.press("escape")  # escape keeps its own meaning; z restores
        assert app.screen.maximized is pods
        await pilot.press("z")
        await until(pilot, lambda: app.screen.maximized is None, "z again: the grid")
        assert not app.query_one("#pager").display
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: app.screen.maximized is pods, "small: one panel")
        await pilot.resize_terminal(200, 50)
        await until(pilot, lambda: app.screen.maximized is None, "large: the grid again")


async def test_the_compact_threshold_is_a_setting(drill: DrillCluster) -> None:
    warning_event(drill)
    settings = parse("compact_width = 0\ncompact_height = 0\n", "t.toml")
    app = make_app(drill, settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, app)
        assert app.screen.maximized is None  # 0: never one panel at a time
    with pytest.raises(ConfigError, match="compact_width"):
        parse("compact_width = -1\n", "t.toml")
