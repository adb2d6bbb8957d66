"""The nodes and workloads panels (VirtualTable) and the DataTable panels (traffic, Argo CD),
fed through a real Store."""

from __future__ import annotations

from typing import Any

import pytest
from rich.style import Style

from backends.model import Condition
from backends.store import ChangeSet
from tests.test_widgets_rows import (
    HOSTILE,
    NOW,
    Feed,
    PanelApp,
    app_row,
    deployment,
    gateway,
    node,
    node_metrics,
    route,
)
from themes import THEMES
from widgets.apps import AppsPanel
from widgets.formatting import PROBLEM
from widgets.nodes import NodesPanel
from widgets.panel import Panel
from widgets.routes import RoutesPanel
from widgets.table_panel import TablePanel
from widgets.virtual_panel import VirtualPanel
from widgets.workloads import WorkloadsPanel

SIZE = (160, 30)


def cells(panel: Panel) -> list[list[str]]:
    """The text of the rows shown, in display order, as drawn now."""
    if isinstance(panel, VirtualPanel):
        return [panel.cells_of(key) for key in panel.visible_keys()]
    assert isinstance(panel, TablePanel)
    return [panel.cells_of(key, kind) for kind, key in panel.visible_rows()]


def column(panel: Panel, label: str) -> list[str]:
    index = [c.label.strip() for c in panel.COLUMNS].index(label)  # type: ignore[attr-defined]
    return [row[index] for row in cells(panel)]


def drawn_style(panel: VirtualPanel, y: int, text: str) -> Style:
    """The style of the drawn segment holding ``text`` on screen line ``y`` of the table."""
    for segment in panel.table.render_line(y):
        if text in segment.text and segment.style is not None:
            return segment.style
    raise AssertionError(f"{text!r} not drawn on line {y}")


def count_calls(monkeypatch: pytest.MonkeyPatch, obj: Any, name: str) -> list[object]:
    calls: list[object] = []
    original = getattr(obj, name)

    def wrapper(*args: Any, **kw: Any) -> Any:
        calls.append(args)
        return original(*args, **kw)

    monkeypatch.setattr(obj, name, wrapper)
    return calls


async def test_nodes_not_ready_first_highlighted_with_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    feed = Feed().add("nodes", node("aks-a"), node("aks-b", ready="False"), node("aks-c"))
    feed.add("nodemetrics", node_metrics("aks-a", 1000, 8 << 30))
    panel = NodesPanel()
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(panel)
        await pilot.pause()
        assert column(panel, "NAME") == ["aks-b", "aks-a", "aks-c"]
        assert cells(panel)[0][2] == "NotReady"
        assert panel.has_class("-problems") and panel.border_subtitle == "1 failing  3"
        assert cells(panel)[1][3:5] == ["25%", "50%"]
        assert panel.table.get_tone("nodes/aks-b") == "problem"
        problem = panel.table.get_component_rich_style("vtable--problem", partial=True)
        panel.table.move_cursor(2)  # off the bad node: the cursor has its own colours
        assert drawn_style(panel, 1, "aks-b").color == problem.color
        assert drawn_style(panel, 2, "aks-a").color != problem.color

        # A metrics scrape updates two cells in place: no row is added, removed or moved.
        removed = count_calls(monkeypatch, panel.table, "remove_row")
        keys_before = panel.visible_keys()
        version = panel.table.model.version("nodes/aks-a")
        feed.add("nodemetrics", node_metrics("aks-a", 3000, 4 << 30))
        feed.tick(panel)
        assert cells(panel)[1][3:5] == ["75%", "25%"]
        assert panel.visible_keys() == keys_before and panel.table.total_count == 3
        assert panel.table.model.version("nodes/aks-a") == version + 1
        assert removed == []

        # Recovery resorts; a deleted node disappears.
        feed.add("nodes", node("aks-b")).delete("nodes", node("aks-c"))
        feed.tick(panel)
        assert column(panel, "NAME") == ["aks-a", "aks-b"]
        assert panel.border_subtitle == "2"
        assert not panel.has_class("-problems")


async def test_selection_survives_resort_and_enter_activates() -> None:
    feed = Feed().add("nodes", *(node(f"aks-{i}") for i in range(5)))
    panel = NodesPanel()
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(panel)
        panel.focus()
        await pilot.press("down", "down")
        assert panel.selected_key == "aks-2" and panel.selected_kind == "nodes"
        feed.add("nodes", node("aks-4", ready="Unknown"))  # jumps to the top
        feed.tick(panel)
        assert column(panel, "NAME")[0] == "aks-4"
        assert panel.selected_key == "aks-2"
        await pilot.press("enter")
        await pilot.pause()
        assert app.activated == [("nodes", "aks-2")]


@pytest.mark.parametrize("kind", ["virtual", "datatable"])
async def test_an_untouched_cursor_rests_on_the_worst_row_a_moved_one_follows_its_row(
        kind: str) -> None:
    """Issue 14 point 6, on both tables: rows stream in and problem rows sort to the top.
    Before the engineer moves the cursor it rests on the top row (the worst), not on the
    row that arrived first; once moved it follows its object, key by key, as rows reorder.
    ``worst_row`` and ``select_row`` are what the ``g``/``G`` keys use."""
    if kind == "virtual":
        panel: Panel = NodesPanel()
        feed = Feed().add("nodes", *(node(f"aks-{i}") for i in range(5)))
        kind_, first = "nodes", "aks-0"

        def break_(name: str) -> None:
            feed.add("nodes", node(name, ready="False"))
    else:
        panel = AppsPanel()
        feed = Feed().add("applications", *(app_row(f"app-{i}") for i in range(5)))
        kind_, first = "applications", "argocd/app-0"

        def break_(name: str) -> None:
            feed.add("applications", app_row(name.rpartition("/")[2], health="Degraded"))
    keys = [f"aks-{i}" for i in range(5)] if kind == "virtual" else \
        [f"argocd/app-{i}" for i in range(5)]
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(panel)
        await pilot.pause()
        assert panel.selected_key == first
        assert panel.worst_row() == ((kind_, first), 0)  # nothing bad: the top row
        break_(keys[3])
        feed.tick(panel)
        await pilot.pause()
        assert panel.visible_keys()[0] == keys[3]
        assert panel.selected_key == keys[3], "the untouched cursor rests on the worst row"
        assert panel.worst_row() == ((kind_, keys[3]), 2)

        panel.focus()
        await pilot.press("down", "down")
        chosen = panel.selected_key
        assert chosen is not None and chosen != keys[3]
        break_(keys[4])
        feed.tick(panel)
        await pilot.pause()
        assert panel.visible_keys()[0] in (keys[3], keys[4])
        assert panel.selected_key == chosen, "a chosen row is followed"
        assert panel.select_row((kind_, keys[4]))
        await pilot.pause()
        assert panel.selected_key == keys[4]
        assert not panel.select_row((kind_, "no-such-row"))


async def test_filter_narrows_rows_case_insensitively() -> None:
    feed = Feed().add("nodes", node("aks-sys-0", pool="system"), node("aks-user-0"),
                      node("aks-user-1"))
    panel = NodesPanel()
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(panel)
        panel.set_filter("SYSTEM")
        await pilot.pause()
        assert column(panel, "NAME") == ["aks-sys-0"]
        assert panel.filter_text == "system"
        # Rows arriving while filtered obey the filter too.
        feed.add("nodes", node("aks-sys-1", pool="system"), node("aks-user-2"))
        feed.tick(panel)
        assert column(panel, "NAME") == ["aks-sys-0", "aks-sys-1"]
        panel.set_filter("")
        assert len(column(panel, "NAME")) == 5


async def test_fed_before_mount_and_full_change_set() -> None:
    feed = Feed().add("nodes", node("aks-a"), node("aks-b"))
    panel = NodesPanel()
    feed.tick(panel)  # not mounted yet
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert column(panel, "NAME") == ["aks-a", "aks-b"]
        # A consumer that fell behind gets a full set: rows not listed must go.
        feed.store.apply("nodes", [("DELETED", node("aks-a"))])
        full = ChangeSet(version=feed.store.version, full=True,
                         upserted={"nodes": frozenset(feed.store.rows("nodes"))})
        panel.refresh_from(feed.store, full, NOW)
        assert column(panel, "NAME") == ["aks-b"]


async def test_hostile_names_render_literally() -> None:
    feed = Feed().add("nodes", *(node(name, pool=name) for name in HOSTILE))
    feed.add("deployments", *(deployment(name, namespace=name) for name in HOSTILE))
    nodes, workloads = NodesPanel(), WorkloadsPanel()
    app = PanelApp(nodes, workloads)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(nodes, workloads)
        await pilot.pause()
        assert sorted(column(nodes, "NAME")) == sorted(HOSTILE)
        drawn = "\n".join(nodes.table.render_line(y).text for y in range(4))
        for name in HOSTILE:
            assert name in drawn
        assert sorted(column(workloads, "NAMESPACE")) == sorted(HOSTILE)
        assert app.is_running


async def test_workloads_mismatch_and_stalled_rollouts() -> None:
    feed = Feed().add(
        "deployments",
        deployment("api"),
        deployment("cart", ready=2, updated=3, available=2),
        deployment("checkout", ready=1, updated=1, available=1,
                   progressing_reason="ProgressDeadlineExceeded"),
        deployment("idle", desired=0, ready=0, updated=0, available=0),
    )
    panel = WorkloadsPanel()
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(panel)
        await pilot.pause()
        assert column(panel, "NAME") == ["checkout", "cart", "api", "idle"]
        assert column(panel, "ROLLOUT") == ["stalled", "progressing", "", ""]
        assert cells(panel)[1][2:6] == ["3", "2", "3", "2"]
        assert column(panel, "IMAGE")[0] == "checkout:1.0"
        feed.add("deployments", deployment("cart"))  # rollout done
        feed.tick(panel)
        assert column(panel, "NAME") == ["checkout", "api", "cart", "idle"]
        assert column(panel, "ROLLOUT")[2] == ""


async def test_routes_resolved_refs_failures_first_with_weights() -> None:
    feed = Feed().add("gateways", gateway("web"))
    feed.add("httproutes", route("checkout"), route("login", resolved=False,
                                                    backends=(("login", 1),)))
    panel = RoutesPanel()
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(panel)
        await pilot.pause()
        assert column(panel, "NAME") == ["login", "web", "checkout"]
        # issue 13 point 7: the failing condition in words, and whole (the 12-cell column
        # cut it to "ResolvedRefs")
        status = column(panel, "STATUS")[0]
        assert status == "ResolvedRefs: BackendNotFound"
        shown = [c for c in panel.table.columns.values() if str(c.label).strip() == "STATUS"]
        assert shown and shown[0].get_render_width(panel.table) >= len(status) + 2
        assert column(panel, "STATUS")[1:] == ["OK", "OK"]
        assert column(panel, "BACKENDS")[2] == "checkout-stable:90 checkout-canary:10"
        assert column(panel, "ADDRESSES / PARENTS")[1] == "10.0.0.1"
        assert column(panel, "ROUTES")[1] == "2"
        panel.focus()
        await pilot.press("down")
        assert (panel.selected_kind, panel.selected_key) == ("gateways", "shop/web")
        # The canary shifts weight: one cell changes.
        feed.add("httproutes", route("checkout", backends=(("checkout-stable", 0),
                                                            ("checkout-canary", 100))))
        feed.tick(panel)
        assert column(panel, "BACKENDS")[2] == "checkout-stable:0 checkout-canary:100"
        pending = gateway("web", addresses=(),
                          conditions=(Condition(type="Programmed", status="Unknown",
                                                reason="Pending"),))
        feed.add("gateways", pending)
        feed.tick(panel)
        assert column(panel, "ADDRESSES / PARENTS")[1] == "no address"
        assert "Programmed Unknown: Pending" in column(panel, "STATUS")[1]


async def test_apps_sync_health_autosync_revision_operation() -> None:
    feed = Feed().add(
        "applications",
        app_row("shop", sync="OutOfSync", health="Degraded", auto="paused",
                operation_phase="Failed", operation_finished=NOW - 300),
        app_row("infra", self_heal=True),
        app_row("payments", sync="OutOfSync", health="Progressing",
                operation_in_progress=True, operation_phase="Running",
                operation_message="waiting for [bold]hooks"),
    )
    panel = AppsPanel()
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(panel)
        await pilot.pause()
        assert cells(panel) == [
            ["shop", "OutOfSync", "Degraded", "paused", "aaaaaaa", "Failed 5m ago", ""],
            ["payments", "OutOfSync", "Progressing", "on", "aaaaaaa", "",
             "Running: waiting for [bold]hooks"],
            ["infra", "Synced", "Healthy", "on selfHeal", "aaaaaaa", "", ""],
        ]
        # "since" strings move with time alone.
        panel.refresh_ages(NOW + 3600)
        assert column(panel, "LAST SYNC")[0] == "Failed 65m ago"


async def test_theme_switch_restyles_tone_cells() -> None:
    feed = Feed().add("nodes", node("aks-bad", ready="False"))
    panel = NodesPanel()
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        for theme in THEMES:
            app.register_theme(theme)
        app.theme = THEMES[0].name
        feed.add("nodes", node("aks-ok"))
        feed.tick(panel)
        await pilot.pause()
        before = drawn_style(panel, 2, "aks-ok")  # line 1 is the bad node, under the cursor
        bad_before = drawn_style(panel, 1, "aks-bad")
        app.theme = THEMES[1].name
        await pilot.pause()
        await pilot.pause()
        after = drawn_style(panel, 2, "aks-ok")
        assert before.color != after.color and before.bgcolor != after.bgcolor
        assert drawn_style(panel, 1, "aks-bad") != bad_before


async def test_apps_theme_switch_restyles_tone_cells() -> None:
    feed = Feed().add("applications", app_row("shop", health="Degraded"))
    panel = AppsPanel()
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        for theme in THEMES:
            app.register_theme(theme)
        app.theme = THEMES[0].name
        feed.tick(panel)
        await pilot.pause()
        before = panel.table.get_row_at(0)[0].spans[0].style
        app.theme = THEMES[1].name
        await pilot.pause()
        await pilot.pause()
        after = panel.table.get_row_at(0)[0].spans[0].style
        assert before != after
        assert after == panel.get_component_rich_style("panel--problem", partial=True)


async def test_workloads_casualties_stay_in_sight() -> None:
    """Issue 13 point 7: a Deployment the breaker holds at 0, and one with 0 available that
    a route still weights, are problem rows sorted with the problems, not among the 0/0."""
    import json
    import time as _time

    from backends.model import breaker_hold

    since = "2026-11-26T10:00:00Z"
    mark = json.dumps({"operation": "breaker-1", "by": "alice", "since": since})
    held = deployment("canary", desired=0, ready=0, updated=0, available=0, breaker_mark=mark)
    dark = deployment("checkout-canary", desired=0, ready=0, updated=0, available=0)
    feed = Feed().add("deployments", deployment("api"), held, dark,
                      deployment("idle", desired=0, ready=0, updated=0, available=0))
    feed.add("httproutes", route("checkout", backends=(("checkout-stable", 0),
                                                       ("checkout-canary", 100))))
    panel = WorkloadsPanel()
    app = PanelApp(panel)
    async with app.run_test(size=(220, 30)) as pilot:
        feed.tick(panel)
        await pilot.pause()
        hold = breaker_hold(held)
        assert hold is not None and hold.by == "alice"
        clock = _time.strftime("%H:%M:%S", _time.localtime(hold.since))
        assert column(panel, "NAME") == ["canary", "checkout-canary", "api", "idle"]
        assert column(panel, "ROLLOUT")[:2] == [f"held at 0 by breaker since {clock}",
                                                "no ready backends for route checkout"]
        tones = [panel.table.get_tone(panel.table_key(("deployments", k)))
                 for k in ("shop/canary", "shop/checkout-canary", "shop/idle")]
        assert tones == [PROBLEM, PROBLEM, "dim"]
        # the route stops sending it traffic: back among the idle ones
        feed.add("httproutes", route("checkout", backends=(("checkout-stable", 100),
                                                           ("checkout-canary", 0))))
        feed.tick(panel)
        await pilot.pause()
        assert column(panel, "NAME") == ["canary", "api", "checkout-canary", "idle"]
