"""DetailView (one object, its conditions, pods and events), the dashboard set, and the themes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.containers import Grid

import widgets
from backends.model import Condition
from tests.test_widgets_rows import (
    HOSTILE,
    NOW,
    Feed,
    PanelApp,
    app_row,
    deployment,
    event,
    node,
    pod,
    route,
)
from themes import CSS_PATH, THEMES, THEMES_BY_NAME
from widgets.detail import DetailView
from widgets.panel import Panel
from widgets.panels import dashboard_panels

SIZE = (160, 40)


async def test_detail_of_a_pod_with_hostile_text_and_its_events() -> None:
    name = HOSTILE[1]
    feed = Feed().add("pods", pod(name, status="CrashLoopBackOff", ready=0, restarts=2,
                                  message="[bold red]x back-off"))
    feed.add("events", event("e1", obj=name, message=HOSTILE[2], count=4),
             event("e2", obj="someone-else"))
    view = DetailView(feed.store, "pods", f"shop/{name}", now=NOW)
    app = PanelApp(view)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = view.content.plain
        assert f"Pod shop/{name}" in text
        assert "status: CrashLoopBackOff" in text
        assert "message: [bold red]x back-off" in text
        assert "Events (1)" in text and HOSTILE[2] in text and "x4" in text
        assert "someone-else" not in text
        assert view.selected_kind == "pods" and view.selected_key == f"shop/{name}"
        assert app.is_running

        # A new event about the pod re-renders it; the restart rise is called out.
        feed.add("events", event("e3", obj=name, reason="Killing", last_seen=NOW))
        feed.add("pods", pod(name, status="CrashLoopBackOff", ready=0, restarts=6))
        changes = feed.store.changes_since(feed.seen)
        view.refresh_from(feed.store, changes, NOW)
        text = view.content.plain
        assert "Events (2)" in text and "Killing" in text
        assert "restarts rising: 6 now, 2 when first seen" in text

        view.set_filter("killing")
        assert view.content.plain.strip().endswith("m")  # only the matching line is left
        assert "status:" not in view.content.plain


async def test_detail_of_deployment_node_route_app() -> None:
    feed = Feed().add("deployments", deployment("checkout",
                                                conditions=(Condition(
                                                    type="Progressing", status="False",
                                                    reason="ProgressDeadlineExceeded",
                                                    message="too slow"),)))
    feed.add("nodes", node("aks-a", ready="False"))
    feed.add("events", event("n1", kind="Node", obj="aks-a", namespace="default",
                             reason="NodeNotReady", message="Node aks-a status is now: NotReady"))
    feed.add("pods", pod("crash", status="CrashLoopBackOff", ready=0, node="aks-a"))
    feed.add("httproutes", route("web", resolved=False))
    feed.add("applications", app_row("shop", automated_json='{"selfHeal": true}'))
    view = DetailView()
    app = PanelApp(view)
    async with app.run_test(size=SIZE):
        view.show(feed.store, "deployments", "shop/checkout", NOW)
        text = view.content.plain
        assert "Progressing=False (ProgressDeadlineExceeded)" in text and "too slow" in text
        view.show(feed.store, "nodes", "aks-a", NOW)
        assert "ready: False" in view.content.plain and "Node aks-a" in view.content.plain
        assert "memory allocatable: 16.0Gi" in view.content.plain
        assert "Pods (1, 1 with problems)" in view.content.plain
        assert "Events (1)" in view.content.plain and "NodeNotReady" in view.content.plain
        view.show(feed.store, "httproutes", "shop/web", NOW)
        text = view.content.plain
        assert "ResolvedRefs=False (BackendNotFound)" in text
        assert "checkout-stable:90 checkout-canary:10" in text
        view.show(feed.store, "applications", "argocd/shop", NOW)
        assert '{"selfHeal"' not in view.content.plain  # raw, unsanitized JSON never shown
        view.show(feed.store, "pods", "shop/gone", NOW)
        assert "no longer exists" in view.content.plain


async def test_dashboard_panels_mount_with_the_app_stylesheet_in_every_theme() -> None:
    class Dashboard(App[None]):
        CSS_PATH = str(CSS_PATH)

        def compose(self) -> ComposeResult:
            self.panels = dashboard_panels()
            with Grid(id="dashboard"):
                yield from self.panels

    feed = Feed().add("nodes", node("aks-a", ready="False")).add("pods", pod("p", ready=0))
    app = Dashboard()
    async with app.run_test(size=SIZE) as pilot:
        for theme in THEMES:
            app.register_theme(theme)
        for theme in THEMES:
            app.theme = theme.name
            feed.tick(*app.panels)
            await pilot.pause()
        ids = [panel.id for panel in app.panels]
        assert ids == ["nodes", "workloads", "pods", "traffic", "endpoints", "apps", "alerts",
                       "events"]
        for panel in app.panels:
            assert isinstance(panel, Panel) and panel.KINDS and panel.TITLE
            assert panel.region.height >= 5  # placed by the grid
        assert app.panels[0].selected_key == "aks-a"


def test_themes_and_stylesheet_use_theme_variables_only() -> None:
    names = [theme.name for theme in THEMES]
    assert names == ["controlroom-dark", "controlroom-light", "controlroom-high-contrast"]
    assert THEMES_BY_NAME["controlroom-light"].dark is False
    css = CSS_PATH.read_text()
    hex_colour = re.compile(r"#[0-9a-fA-F]{3,8}\b")
    assert hex_colour.findall(css) == []
    for module in Path(widgets.__file__).parent.glob("*.py"):
        assert hex_colour.findall(module.read_text()) == [], module.name
    for needed in ("-production", "-read-only", "-stale", "-dim", "$error"):
        assert needed in css


async def test_health_strip_repaints_only_on_change_and_lays_out_only_for_a_new_height(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The App hands the header the health of every source on each refresh tick; an update
    with a layout repaints every panel, so it happens only when the strip's height changes."""
    from backends.store import SourceHealth
    from widgets.header import HeaderBar

    header = HeaderBar()
    app = PanelApp(header)
    async with app.run_test(size=(60, 12)) as pilot:
        strip = header._health  # noqa: SLF001 - the strip under test
        updates: list[bool] = []
        original = strip.update

        def counting(content: object = "", *, layout: bool = True) -> None:
            updates.append(layout)
            original(content, layout=layout)  # type: ignore[arg-type]

        monkeypatch.setattr(strip, "update", counting)

        def health(*names: str, age: float = 1.0) -> dict[str, SourceHealth]:
            return {n: SourceHealth(state="connected", since=NOW - 60, last_event=NOW - age)
                    for n in names}

        header.show_health(health("pods"), NOW)
        await pilot.pause()
        assert strip.size.height == 1
        updates.clear()
        header.show_health(health("pods"), NOW)  # the same text: nothing to do
        header.show_health(health("pods", age=2), NOW)  # "2s": same height, no layout
        await pilot.pause()
        assert updates == [False] and "2s" in strip.render().plain  # type: ignore[union-attr]
        many = [f"source-{i}" for i in range(12)]
        header.show_health(health(*many), NOW)  # wraps: the strip must grow
        await pilot.pause()
        assert updates[-1] is True and strip.size.height > 1
        header.show_health(health("pods"), NOW)
        await pilot.pause()
        assert strip.size.height == 1
