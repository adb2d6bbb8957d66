"""The VirtualTable panels: problem pods first, warning events newest first."""

from __future__ import annotations

from backends.model import Row
from tests.test_widgets_rows import HOSTILE, NOW, Feed, PanelApp, event, pod
from widgets.events import EventsPanel
from widgets.formatting import plain
from widgets.pods import PodsPanel
from widgets.rowmodel import Cell
from widgets.virtual_panel import VirtualPanel

SIZE = (160, 30)


def names(panel: VirtualPanel, column: int = 1) -> list[str]:
    table = panel.table
    rows = [table.get_cells(key) for key in table.keys()]
    return [plain(row[column]) for row in rows if row is not None]


def row_of(panel: VirtualPanel, key: str) -> list[str]:
    found = panel.table.get_cells(key)
    assert found is not None, key
    return [plain(cell) for cell in found]


async def test_problem_pods_first_in_order_of_badness() -> None:
    feed = Feed().add(
        "pods",
        pod("ok-1"),
        pod("notready", ready=0),
        pod("crash", status="CrashLoopBackOff", ready=0, restarts=7),
        pod("pull", status="ImagePullBackOff", ready=0),
        pod("stuck", status="Pending", ready=0, created=NOW - 900),
        pod("young", status="Pending", ready=0, created=NOW - 10),
        pod("flappy", restarts=2),
        pod("done", status="Completed", ready=0, phase="Succeeded"),
    )
    panel = PodsPanel()
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(panel)
        await pilot.pause()
        # Problems and the merely notable (Pending briefly) only, worst first.
        assert names(panel) == ["crash", "pull", "stuck", "notready", "young"]
        assert row_of(panel, "pods/shop/stuck")[5] == "Pending 15m"
        assert panel.table.get_tone("pods/shop/crash") == "problem"
        assert panel.table.get_tone("pods/shop/young") == "warning"
        assert panel.selected_key == "shop/crash" and panel.selected_kind == "pods"

        # Restarts rising since the store first saw the pod: a problem now.
        feed.add("pods", pod("flappy", restarts=5))
        feed.tick(panel)
        assert names(panel)[4] == "flappy"
        assert row_of(panel, "pods/shop/flappy")[4] == "5 (+3)"
        assert row_of(panel, "pods/shop/flappy")[5] == "restarts +3"

        panel.toggle_all()
        assert panel.show_all
        assert set(names(panel)) == {"crash", "pull", "stuck", "notready", "flappy", "young",
                                     "ok-1", "done"}
        assert names(panel)[-1] == "done"  # finished pods last
        panel.toggle_all()
        assert "ok-1" not in names(panel)


async def test_pending_turns_into_a_problem_with_time_alone() -> None:
    feed = Feed().add("pods", pod("young", status="Pending", ready=0, created=NOW - 10))
    panel = PodsPanel()
    app = PanelApp(panel)
    async with app.run_test(size=SIZE):
        feed.tick(panel)
        assert panel.table.get_tone("pods/shop/young") == "warning"
        feed.now = NOW + 600
        feed.add("pods", pod("other"))  # any change wakes the panel
        feed.tick(panel)
        assert panel.table.get_tone("pods/shop/young") == "problem"
        assert row_of(panel, "pods/shop/young")[5] == "Pending 10m"


async def test_pod_updates_in_place_removals_and_enter() -> None:
    feed = Feed().add("pods", *(pod(f"crash-{i}", status="CrashLoopBackOff", ready=0)
                                for i in range(5)))
    panel = PodsPanel()
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(panel)
        order = panel.table.keys()
        feed.add("pods", pod("crash-2", status="CrashLoopBackOff", ready=0, restarts=4))
        feed.tick(panel)
        assert panel.table.keys() == order
        assert row_of(panel, "pods/shop/crash-2")[4] == "4 (+4)"
        feed.delete("pods", pod("crash-3"))
        feed.tick(panel)
        assert "pods/shop/crash-3" not in panel.table.keys()
        assert not panel.table.has_row("pods/shop/crash-3")
        panel.focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.activated == [("pods", "shop/crash-1")]
        panel.set_filter("CRASH-4")
        assert names(panel) == ["crash-4"]
        assert panel.filter_text == "crash-4"


async def test_30000_pods_render_only_the_visible_lines() -> None:
    feed = Feed().add("pods", *(pod(f"p-{i:05d}", ready=0 if i % 100 == 0 else 1)
                                for i in range(30_000)))
    panel = PodsPanel(show_all=True)
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        panel.table.lines_rendered = panel.table.strips_built = 0
        feed.tick(panel)
        await pilot.pause()
        height = panel.table.size.height
        assert panel.table.row_count == 30_000
        assert names(panel)[0] == "p-00000"  # not ready: first
        assert panel.table.lines_rendered <= 2 * height
        assert panel.table.strips_built <= height


async def test_hostile_pod_names_and_messages_render_literally() -> None:
    feed = Feed().add("pods", *(pod(name, status="CrashLoopBackOff", ready=0)
                                for name in HOSTILE))
    feed.add("events", *(event(f"e{i}", message=text, obj=text, reason=text)
                         for i, text in enumerate(HOSTILE)))
    pods, events = PodsPanel(), EventsPanel()
    app = PanelApp(pods, events)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(pods, events)
        pods.focus()
        await pilot.press("enter")
        await pilot.pause()
        drawn = "\n".join(pods.table.render_line(y).text for y in range(4))
        drawn += "\n".join(events.table.render_line(y).text for y in range(4))
        for text in HOSTILE:
            assert text in drawn
        assert app.is_running and len(app.activated) == 1


async def test_warning_events_newest_first_and_toggle() -> None:
    feed = Feed().add(
        "events",
        event("old", last_seen=NOW - 3600, reason="FailedScheduling"),
        event("new", last_seen=NOW - 5, reason="BackOff", count=3),
        event("info", type_="Normal", reason="Pulled", last_seen=NOW - 1),
        event("mid", last_seen=NOW - 120, reason="Unhealthy", obj="checkout-2"),
    )
    panel = EventsPanel()
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(panel)
        await pilot.pause()
        assert names(panel, 5) == ["BackOff", "Unhealthy", "FailedScheduling"]
        assert row_of(panel, "events/shop/new")[:5] == ["5s", "Warning", "3", "shop",
                                                       "Pod/checkout-1"]
        # The old event fires again: count up, back on top, updated in place.
        feed.add("events", event("old", last_seen=NOW, reason="FailedScheduling", count=9))
        feed.tick(panel)
        assert names(panel, 5)[0] == "FailedScheduling"
        assert row_of(panel, "events/shop/old")[2] == "9"
        panel.toggle_normal()
        assert names(panel, 5) == ["FailedScheduling", "Pulled", "BackOff", "Unhealthy"]
        # Ages move with time alone: drawn from the row and the panel's clock.
        panel.refresh_ages(NOW + 600)
        assert row_of(panel, "events/shop/new")[0] == "10m"
        await pilot.pause()
        assert "10m" in "\n".join(panel.table.render_line(y).text for y in range(1, 5))
        panel.refresh_ages(NOW + 660)
        assert row_of(panel, "events/shop/new")[0] == "11m"


async def test_ages_are_computed_for_the_rows_on_screen_only() -> None:
    """30,000 pods created in the same minute: every age string changes every second, but a
    refresh looks at the rows on screen, not at every row held."""
    feed = Feed().add("pods", *(pod(f"p-{i:05d}", created=NOW - 5) for i in range(30_000)))
    panel = PodsPanel(show_all=True)
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(panel)
        await pilot.pause()
        assert row_of(panel, "pods/shop/p-00000")[7] == "5s"
        looked: list[str] = []
        original = panel.timed_cells

        def counting(kind: str, row: Row, now: float) -> dict[int, Cell]:
            looked.append(row.key)
            return original(kind, row, now)

        panel.timed_cells = counting  # type: ignore[method-assign]
        panel.table.lines_rendered = 0
        panel.refresh_ages(NOW + 95)  # "100s": wider than the column measured from "5s"
        await pilot.pause()
        height = panel.table.size.height
        assert 0 < len(set(looked)) <= height
        assert 0 < panel.table.lines_rendered <= 2 * height
        drawn = [panel.table.render_line(y).text for y in range(1, height)]
        assert all(line.rstrip().endswith("100s") for line in drawn)  # widened, not cut
        assert row_of(panel, "pods/shop/p-29999")[7] == "100s"  # off screen: as of now too
        looked.clear()
        panel.table.lines_rendered = 0
        panel.refresh_ages(NOW + 95.5)  # same strings: nothing to repaint
        await pilot.pause()
        assert len(set(looked)) <= height
        assert panel.table.now == NOW + 95.5 and panel.table.lines_rendered == 0


async def test_panels_fed_before_mount_or_while_hidden() -> None:
    feed = Feed().add("pods", pod("crash", status="CrashLoopBackOff", ready=0), pod("fine"))
    pods = PodsPanel()
    feed.tick(pods)  # before mount: the VirtualTable holds the rows already
    events = EventsPanel()
    events.display = False
    app = PanelApp(pods, events)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert pods.visible_keys() == ["shop/crash"]
        assert pods.cells_of("shop/fine")[3] == "Running"  # held, filtered out
        feed.add("events", event("e1"))
        feed.tick(pods, events)  # hidden: still fed
        events.display = True
        await pilot.pause()
        assert events.visible_keys() == ["shop/e1"]
        assert "BackOff" in "\n".join(events.table.render_line(y).text for y in range(3))
