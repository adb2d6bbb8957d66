"""The timeline screen (``i``) in the App on the drill, driven with Pilot.

The recording is written through the store's own writer (backends/timeline/store.py) at the
path this context's recording lives at, as ``controlroom record`` or the App would write it;
the screen reads it back off the event loop. The entries are constructed so each test knows
exactly which change an alert followed.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from pathlib import Path
from typing import Any

from textual.widgets import Input, Static

from backends.config import Settings
from backends.store import Store
from backends.timeline.entry import TimelineEntry
from backends.timeline.live import record_in_background
from backends.timeline.store import TimelineFileError, TimelineReader, default_path, read_entries
from drill.resources import BY_KEY
from drill.runner import DrillCluster
from tests.test_app import make_app, panel, shown, starter, until
from tests.timeline_entries import CRASH_WORDS, recording, write
from tests.waiting import await_until
from tui.app import ControlRoomApp, Session, Target
from tui.replay import ReplayApp, open_replay
from tui.timeline_screen import TimelineScreen
from widgets.panels import WorkloadsPanel
from widgets.vtable import VirtualTable


def write_recording(drill: DrillCluster, entries: list[TimelineEntry]) -> Path:
    """Write ``entries`` where the App (journal beside the kubeconfig) reads context drill's
    recording."""
    return write(default_path(Path(str(drill.kubeconfig)).parent, "drill"), entries)


def table_of(screen: TimelineScreen) -> VirtualTable:
    return screen.query_one("#timeline-table", VirtualTable)


def rows(screen: TimelineScreen) -> list[tuple[str, ...]]:
    return screen.shown_cells()


async def open_timeline(pilot: Any, app: Any, count: int) -> TimelineScreen:
    await pilot.press("i")
    await until(pilot, lambda: isinstance(app.screen, TimelineScreen), "the timeline screen")
    screen = app.screen
    assert isinstance(screen, TimelineScreen)
    await until(pilot, lambda: table_of(screen).row_count == count,
                f"{count} rows in the timeline")
    return screen


async def test_newest_first_with_each_alert_tied_to_the_change_it_followed(
        drill: DrillCluster) -> None:
    t0 = time.time() - 600
    write_recording(drill, recording(t0))
    app = make_app(drill)
    async with app.run_test(size=(220, 50)) as pilot:
        screen = await open_timeline(pilot, app, 5)
        table = rows(screen)
        assert [r[1] for r in table] == ["spec", "journal", "alert", "spec", "sync"]
        assert table[2][3] == CRASH_WORDS
        assert table[0][3] == "replicas 2 -> 4 [bold red]x[/]"  # as text, never markup
        assert table[1][4] == "controlroom: alice"
        title = str(screen.query_one("#timeline-title", Static).render())
        assert "5 of 5 entries" in title
        assert "Timeline" in [c.title for c in app.get_system_commands(app.screen)]


async def test_the_filter_narrows_by_app_namespace_object_or_actor(drill: DrillCluster) -> None:
    write_recording(drill, recording(time.time() - 600))
    app = make_app(drill)
    async with app.run_test(size=(220, 50)) as pilot:
        screen = await open_timeline(pilot, app, 5)
        box = screen.query_one("#timeline-filter", Input)

        async def filtered(text: str) -> list[str]:
            box.value = text
            await until(pilot, lambda: screen.filter_text == text, f"filter {text!r} applied")
            return [r[1] + " " + r[2] for r in rows(screen)]

        assert await filtered("actor:alice") == ["journal Deployment payments/payments"]
        assert await filtered("app:payments") == ["spec Deployment payments/payments"]
        assert len(await filtered("ns:payments")) == 2
        assert len(await filtered("ns:checkout")) == 2  # the sync lives in argocd
        assert await filtered("object:checkout-stable") == [
            "alert Alert checkout/PodCrashLooping (Deployment/checkout-stable)",
            "spec Deployment checkout/checkout-stable"]
        assert len(await filtered("argocd")) == 2  # any field: the sync's actor, its ns
        assert len(await filtered("app:checkout actor:kubectl")) == 0
        assert len(await filtered("")) == 5
        await pilot.press("slash")
        assert screen.focused is box


async def test_enter_on_an_alert_jumps_to_its_workload_row(drill: DrillCluster) -> None:
    write_recording(drill, recording(time.time() - 600))
    app = make_app(drill)
    async with app.run_test(size=(220, 50)) as pilot:
        workloads = panel(app, WorkloadsPanel)
        await until(pilot, lambda: "checkout/checkout-stable" in shown(workloads),
                    "checkout-stable in the workloads panel")
        screen = await open_timeline(pilot, app, 5)
        table = table_of(screen)
        table.focus()
        table.move_cursor(2)  # the alert
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, TimelineScreen),
                    "the timeline screen closed")
        await until(pilot, lambda: workloads.selected_row == ("deployments",
                                                              "checkout/checkout-stable"),
                    "the cursor on checkout-stable")
        assert app.focused_panel() is workloads


async def test_a_damaged_or_missing_recording_is_said_not_shown_empty(
        drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(220, 50)) as pilot:
        screen = await open_timeline(pilot, app, 0)
        title = screen.query_one("#timeline-title", Static)
        await until(pilot, lambda: "no recording yet" in str(title.render()),
                    "the missing recording said")
        assert title.has_class("-error")
        await pilot.press("escape")
        path = default_path(Path(str(drill.kubeconfig)).parent, "drill")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"SQLite format 3\x00" + b"\x10\x00" + b"\x00" * 200)
        screen = await open_timeline(pilot, app, 0)
        title = screen.query_one("#timeline-title", Static)
        await until(pilot, lambda: "timeline file" in str(title.render()),
                    "the damage named")
        assert title.has_class("-error")
        assert path.read_bytes().startswith(b"SQLite format 3")  # left as it was


async def test_the_live_app_shows_its_own_recording_as_it_records(drill: DrillCluster) -> None:
    """The App records as it watches (backends/timeline/live.py, as tui/run.py starts it);
    a change made on the cluster while the screen is open appears in it, newest first."""
    state_dir = Path(str(drill.kubeconfig)).parent
    watch = starter(drill)

    async def start(store: Store) -> Session:
        session = await watch(store)
        stop_recording = await record_in_background(
            store, default_path(state_dir, "drill"), "drill",
            journal_path=state_dir / "journal.sqlite3")

        async def stop() -> None:
            await stop_recording()
            await session.stop()

        return Session(stop, session.conn)

    app = ControlRoomApp(Settings(), None, Target(cluster="drill", context="drill"), start,
                         journal_path=state_dir / "journal.sqlite3")
    async with app.run_test(size=(220, 50)) as pilot:
        workloads = panel(app, WorkloadsPanel)
        await until(pilot, lambda: "payments/payments" in shown(workloads), "payments row")
        health = await until(pilot, lambda: app.store.health("timeline"), "the recording")
        assert health is not None and health.state == "connected", health
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, TimelineScreen), "the screen")
        screen = app.screen
        assert isinstance(screen, TimelineScreen)
        drill.state.mutate(BY_KEY["deployments.apps"], "payments", "payments",
                           lambda d: {**d, "spec": {**d["spec"], "replicas": 7}})
        await until(pilot, lambda: any(r[1] == "spec" and "payments/payments" in r[2]
                                       and "replicas" in r[3] for r in rows(screen)[:5]),
                    "the replicas change of payments in the timeline", timeout=60)


async def test_in_a_replay_the_timeline_shows_nothing_after_the_cursor(
        drill: DrillCluster) -> None:
    """``i`` in ``controlroom replay`` reads the replayed file, up to the cursor: a change
    recorded after it appears only once the cursor has passed it."""
    state_dir = Path(str(drill.kubeconfig)).parent
    path = state_dir / "replayed.timeline"
    store = Store()
    session = await starter(drill)(store)
    stop_recording = await record_in_background(store, path, "drill", journal_path=None)
    try:
        def first_frame() -> bool:
            try:
                with TimelineReader(path, check=False) as reader:
                    return reader.first_keyframe_at() is not None
            except TimelineFileError:
                return False

        framed: bool = await await_until(partial(asyncio.to_thread, first_frame),
                                         "the first keyframe")
        assert framed
        drill.state.mutate(BY_KEY["deployments.apps"], "payments", "payments",
                           lambda d: {**d, "spec": {**d["spec"], "replicas": 9}})

        def recorded() -> bool:
            return any("replicas" in e.change and e.name == "payments"
                       for e in read_entries(path, kinds=["spec"]))

        seen: bool = await await_until(partial(asyncio.to_thread, recorded),
                                       "the replicas change recorded")
        assert seen
    finally:
        await stop_recording()
        await session.stop()
    source, cursor = open_replay(path, None)
    app = ReplayApp(Settings(), None, source, cursor)
    async with app.run_test(size=(220, 50)) as pilot:
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, TimelineScreen), "the screen")
        screen = app.screen
        assert isinstance(screen, TimelineScreen)
        title = screen.query_one("#timeline-title", Static)
        await until(pilot, lambda: str(path) in str(title.render()), "the replayed file read")

        def change_shown() -> bool:
            return any(r[1] == "spec" and "payments/payments" in r[2] and "replicas" in r[3]
                       for r in rows(screen))

        assert not change_shown()  # the cursor is at the start: not recorded yet
        await app.seek(cursor.end)
        await until(pilot, change_shown, "the change shown once the cursor passed it")
