"""Issue 17, points 1 and 5: the App records as it watches; ``controlroom replay`` opens the control room on a recording.

The bad rollout is recorded through the CLI (``controlroom record`` against the drill on its
manual clock), then replayed in the App through Textual's Pilot: the crash-looping pod of
checkout-stable is in the pods panel at the cursor after it crashed and not before; the
cursor keys move the state; nothing can be written (no connection, read-only). A damaged
recording is refused by ``controlroom replay`` with the problem, before any screen opens.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.config import Settings
from backends.kube.source_set import SourceOptions
from backends.timeline.entry import TimelineEntry
from backends.timeline.live import TIMELINE_SOURCE
from drill.resources import BY_KEY
from drill.runner import DrillCluster
from tests.conftest import ROOT, ThreadedDrill
from tests.timeline_support import (
    COMMAND,
    Recording,
    advance_until,
    find,
    frames,
    killed_at_the_end,
)
from tests.waiting import await_until, pilot_until
from tui.app import ControlRoomApp, Target
from tui.replay import ReplayApp, open_replay
from tui.run import _sources
from widgets.pods import PodsPanel

PODS = BY_KEY["pods"]


@pytest.fixture
def recordings() -> Iterator[list[Recording]]:
    yield from killed_at_the_end()


def crash_looping(drill: ThreadedDrill) -> list[str]:
    """Names of the drill's checkout pods waiting in CrashLoopBackOff now."""
    def look() -> list[str]:
        names = []
        for entry in drill.cluster.state.entries(PODS, "checkout"):
            statuses = (entry.obj.get("status") or {}).get("containerStatuses") or []
            if any(((s.get("state") or {}).get("waiting") or {}).get("reason")
                   == "CrashLoopBackOff" for s in statuses):
                names.append(entry.obj["metadata"]["name"])
        return names
    return drill.call(look)  # type: ignore[return-value]


def crash_rows(app: ReplayApp) -> list[str]:
    """The pods panel's rows that show CrashLoopBackOff now."""
    panel = app.query_one(PodsPanel)
    return [key for key in panel.visible_keys() if "CrashLoopBackOff" in panel.cells_of(key)]


async def test_replay_shows_the_crash_looping_pod_at_its_time_and_not_before(
        bad_rollout: ThreadedDrill, tmp_path: Path, recordings: list[Recording]) -> None:
    output = tmp_path / "replay.timeline"
    rec = Recording(bad_rollout.kubeconfig, tmp_path, output)
    recordings.append(rec)
    rec.started()
    assert crash_looping(bad_rollout) == []
    # Move the manual clock until a pod crash-loops; the last step before it is "before".
    before = time.time()
    for _ in range(40):
        before = time.time()
        bad_rollout.call(bad_rollout.cluster.sim.advance, 10)
        if crash_looping(bad_rollout):
            break
    assert crash_looping(bad_rollout), "the bad rollout never crash-looped"
    advance_until(bad_rollout, "the crash loop recorded", lambda: find(
        output, lambda e: e.kind == "pods" and "CrashLoopBackOff" in e.change))
    rec.stop()

    source, cursor = open_replay(output, None)
    assert cursor.start < before < cursor.end
    cursor.seek(before)
    app = ReplayApp(Settings(), None, source, cursor)
    async with app.run_test(size=(180, 50)) as pilot:
        await pilot_until(pilot, lambda: app.session is not None, "the replay session")
        await pilot_until(pilot, lambda: app.store.count("pods") > 0, "pods at the cursor")
        assert crash_rows(app) == []
        assert app.replay_line().startswith("REPLAY ") and "paused" in app.replay_line()
        # Read-only by construction: no connection, the target read-only, no journal.
        assert app.session is not None and app.session.conn is None
        assert app.target.read_only and app.actions.journal is None

        await pilot.press("end")
        rows = await pilot_until(pilot, lambda: crash_rows(app), "the crash-looping pod")
        assert all(key.startswith("checkout/checkout-stable-") for key in rows)
        assert cursor.position == cursor.end

        await pilot.press("home")
        await pilot_until(pilot, lambda: not crash_rows(app), "no crash at the start")
        # Step forward 10 s at a time: the crash appears only once the cursor passes it.
        passed: float | None = None
        for _ in range(200):
            await pilot.press("right_square_bracket")
            if crash_rows(app):
                passed = cursor.position
                break
        assert passed is not None and passed > before

        # Play at 60x (a minute a second): the short recording is over at the first step,
        # and playing stops at its end.
        await pilot.press("home")
        for _ in range(6):
            await pilot.press("greater_than_sign")
        assert cursor.speed == 60
        await pilot.press("space")
        assert cursor.playing and "playing 60x" in app.replay_line()
        await pilot_until(pilot, lambda: cursor.position == cursor.end and not cursor.playing,
                          "played to the end")
        await pilot_until(pilot, lambda: crash_rows(app), "the crash-looping pod, played")


async def test_the_app_records_as_it_watches(drill: DrillCluster, tmp_path: Path) -> None:
    """The control room records its context's timeline while it runs (the same recorder as
    ``controlroom record``), and says so when the file cannot be used."""
    path = tmp_path / "app.timeline"
    starter = _sources(lambda: str(drill.kubeconfig), "drill", None, settings=Settings(),
                       timeline=path, journal=tmp_path / "journal.sqlite3",
                       options=SourceOptions(bookmark_interval=0.2, metrics=False))
    app = ControlRoomApp(Settings(), None, Target(cluster="drill", context="drill"), starter,
                         journal_path=tmp_path / "journal.sqlite3")
    async with app.run_test(size=(180, 50)) as pilot:
        await pilot_until(pilot, lambda: app.session is not None, "the session")
        health = await pilot_until(pilot, lambda: app.store.health(TIMELINE_SOURCE),
                                   "the timeline's health")
        assert health.state == "connected"
        await await_until(lambda: asyncio.to_thread(lambda: path.exists() and frames(path)),
                          "the first keyframe", pause=pilot.pause)

        def scale(d: dict[str, Any]) -> dict[str, Any]:
            d["spec"]["replicas"] = 5
            return d
        drill.state.mutate(BY_KEY["deployments.apps"], "catalog", "catalog", scale)

        def scaled() -> TimelineEntry | None:
            return find(path, lambda e: e.name == "catalog" and "replicas" in e.change
                        and e.after == "5")
        entry = await await_until(lambda: asyncio.to_thread(scaled), "the scale recorded",
                                  pause=pilot.pause)
        assert entry.kind == "spec" and entry.context == "drill"
        # A second recorder of the same file is refused: one writer per file.
        busy = ControlRoomApp(Settings(), None, Target(cluster="drill", context="drill"),
                              _sources(lambda: str(drill.kubeconfig), "drill", None,
                                       timeline=path, options=SourceOptions(metrics=False)))
        assert busy.store.health(TIMELINE_SOURCE) is None
        second = await _sources(lambda: str(drill.kubeconfig), "drill", None, timeline=path,
                                options=SourceOptions(metrics=False))(busy.store)
        try:
            refused = busy.store.health(TIMELINE_SOURCE)
            assert refused is not None and refused.state == "error"
            assert "another process is recording" in refused.error
        finally:
            await second.stop()


def test_replay_refuses_a_damaged_recording(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.timeline"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\x00" * 84 + b"garbage" * 100)
    out = subprocess.run([*COMMAND, "replay", str(damaged), "--config",
                          str(tmp_path / "none.toml")], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"timeline file {damaged}" in out.stderr and "Traceback" not in out.stderr
    assert damaged.read_bytes().endswith(b"garbage" * 100)
