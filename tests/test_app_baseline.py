"""The baseline keys in the real App on the drill cluster: ``b`` saves, ``d`` diffs, ``v``
validates, and a hostile or corrupt snapshot file can neither crash the App nor be overwritten.

``bad-rollout`` runs on a manual clock (scenario time moves only through ``sim.advance``): the
baseline is taken while it is calm (the bad commit lands at t+15 s), then 150 scenario seconds
later the checkout pods crash-loop. Waits poll the App's state with a deadline; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import msgspec
from textual.screen import Screen
from textual.widgets import Static

from backends.baseline.diff import diff
from backends.baseline.runbook import AUTO_BASELINE, AUTO_VALIDATION
from backends.config import Settings
from backends.ops.gate import current_operator
from backends.store import Store
from drill.runner import DrillCluster, DrillOptions
from tests.test_app import make_app, until
from tui.app import ControlRoomApp, Session, Target
from tui.baseline_actions import REQUIRED_SECTIONS
from tui.baseline_screens import ChangeIdScreen, DiffScreen, ValidationScreen

HOSTILE_CHANGE = "[bold red]x[/]\x1b[31mRED\x1b[0m"
HOSTILE_WORKLOAD = "[bold red]gone[/]\x1b]8;;http://evil\x07"
HOSTILE_POD = "[/]pod\x1b[2J"


def app_on(drill: DrillCluster, snapshots: Path) -> ControlRoomApp:
    app = make_app(drill)
    app.baselines.snapshot_dir = snapshots
    return app


def messages(app: ControlRoomApp) -> list[str]:
    return [str(n.message) for n in app._notifications]  # noqa: SLF001


async def next_notice(pilot: Any, app: ControlRoomApp, key: str) -> Any:
    """Press ``key`` and return the notification it brings."""
    shown = len(messages(app))
    await pilot.press(key)
    await until(pilot, lambda: len(messages(app)) > shown, f"a notice after {key}")
    return list(app._notifications)[-1]  # noqa: SLF001


def screen_text(screen: Screen[Any]) -> str:
    """What the screen's Statics draw, line by line (the strips sent to the terminal)."""
    lines = []
    for widget in screen.query(Static):
        for y in range(widget.size.height):
            lines.append(widget.render_line(y).text.rstrip())
    return "\n".join(lines)


def evidence(text: str, check: str) -> list[str]:
    """The indented lines under the line starting with ``check``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(check + ":"))
    out = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        out.append(line.strip())
    return out


async def loaded(pilot: Any, app: ControlRoomApp) -> None:
    """Until a capture would hold nodes, workloads and pods (their lists completed)."""
    await until(pilot, lambda: app.session is not None and all(
        app.store.count(kind) for kind in ("nodes", "deployments", "pods"))
        and not set(REQUIRED_SECTIONS) & set(app.baselines.capture_now().missing),
        "the store to hold nodes, workloads and pods")


async def open_screen(pilot: Any, app: ControlRoomApp, key: str, cls: type) -> Any:
    await pilot.press(key)
    return await until(pilot, lambda: isinstance(app.screen, cls) and app.screen,
                       f"{cls.__name__} after {key}")


async def test_b_d_v_catch_the_bad_rollout(rollout: DrillCluster, tmp_path: Path) -> None:
    snapshots = tmp_path / "snapshots"
    app = app_on(rollout, snapshots)
    async with app.run_test(size=(200, 50)) as pilot:
        # declared bindings with ids: footer, help, keymap and command palette
        for key, binding_id in (("b", "baseline"), ("d", "diff"), ("v", "validate")):
            assert app.active_bindings[key].binding.id == binding_id
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Baseline", "Diff", "Validate"} <= set(titles)
        await loaded(pilot, app)
        rollout.sim.advance(5)  # calm: the bad commit lands at t+15 s

        await open_screen(pilot, app, "b", ChangeIdScreen)
        await pilot.press(*"CHG-7", "enter")
        await until(pilot, lambda: app.baselines.baseline_path is not None,
                    "the baseline to be saved")
        path = app.baselines.baseline_path
        assert path is not None and path.parent == snapshots
        assert path.name.startswith("baseline-drill-") and path.exists()
        assert f"baseline saved: {path}" in messages(app)
        record = json.loads(path.read_text())
        assert record["change_id"] == "CHG-7" and record["context"] == "drill"
        assert record["operator"] == current_operator()
        ticked = {i["id"]: i["done"] for i in record["checklist"]["items"]}
        assert ticked[AUTO_BASELINE] is True and ticked[AUTO_VALIDATION] is False
        assert record["checklist"]["change_id"] == "CHG-7"
        change = app.runbook.change
        assert change.change_id == "CHG-7" and change.baseline_operator == current_operator()
        assert app.runbook.change.baseline_taken_at == record["taken_at"]
        assert app.runbook.current_checklist().item(AUTO_BASELINE).done  # type: ignore[union-attr]
        assert not isinstance(app.screen, ChangeIdScreen)

        rollout.sim.advance(150)  # the bad image is synced and crash-loops

        def broken() -> bool:
            assert app.baselines.baseline is not None
            result = diff(app.baselines.baseline, app.baselines.capture_now())
            keys = {(i.key, i.what) for i in result.worse}
            return ("checkout/checkout-stable", "replica mismatch") in keys and any(
                "CrashLoopBackOff" in i.what for i in result.worse)

        await until(pilot, broken, "the crash loop to reach the store")

        shown = await open_screen(pilot, app, "d", DiffScreen)
        text = screen_text(shown)
        assert "CHG-7" in text and current_operator() in text  # the baseline in the title
        assert "checkout/checkout-stable: replica mismatch: replicas" in text
        crash = [line for line in text.splitlines() if "CrashLoopBackOff" in line]
        assert crash and all("checkout/checkout-stable-" in line for line in crash)
        assert "WORSE" in crash[0]
        # grouped by kind, worst first: the headers follow the backend's order
        kinds = [k for k, _ in shown.result.groups()]
        headers = [line.split(":")[0].strip() for line in text.splitlines()
                   if " worse · " in line and line.strip().split(":")[0] in kinds]
        assert headers == kinds and kinds[0] != "events"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DiffScreen), "the diff closed")

        report = await open_screen(pilot, app, "v", ValidationScreen)
        text = screen_text(report)
        assert text.lstrip().startswith("FAILED")  # the verdict first
        assert evidence(text, "FAIL workloads-ready") == [
            "deployment checkout/checkout-stable: replicas 4/3, ready 3, updated 1, available 3"
            " (ProgressDeadlineExceeded)"]
        crashed = evidence(text, "FAIL no-regression-pods")
        assert crashed and all("checkout/checkout-stable-" in line and "CrashLoopBackOff"
                               in line for line in crashed)
        assert evidence(text, "PASS nodes-ready") == []
        assert app.runbook.change.validation_passed is False
        assert "workloads-ready" in app.runbook.change.validation_summary
        item = app.runbook.current_checklist().item(AUTO_VALIDATION)
        assert item is not None and not item.done and "validation failed" in item.evidence
        await pilot.press("escape")
        assert app.is_running


def hostile_snapshot(app: ControlRoomApp, snapshots: Path) -> Path:
    """A real capture of the store, with markup, escape sequences and a huge string planted
    where the diff screen shows them (title, a gone workload, a recovered pod)."""
    doc = msgspec.to_builtins(app.baselines.capture_now())
    doc["taken_at"] -= 600
    doc["change_id"] = HOSTILE_CHANGE
    doc["operator"] = "[b]op[/b]" + "A" * 100_000
    doc["workloads"].append({"kind": "Deployment", "namespace": "evil",
                             "name": HOSTILE_WORKLOAD, "desired": 1, "current": 1,
                             "ready": 1, "updated": 1, "available": 1})
    doc["problem_pods"].append({"namespace": "evil", "name": HOSTILE_POD, "phase": "Pending",
                                "status": "[blink]Pending[/blink]", "ready": "0/1"})
    snapshots.mkdir(parents=True, exist_ok=True)
    path = snapshots / "baseline-drill-20200101T000000Z.json"
    path.write_bytes(msgspec.json.encode(doc))
    return path


async def test_hostile_snapshot_renders_literally(drill: DrillCluster, tmp_path: Path) -> None:
    snapshots = tmp_path / "snapshots"
    app = app_on(drill, snapshots)
    async with app.run_test(size=(200, 50)) as pilot:
        await loaded(pilot, app)
        path = hostile_snapshot(app, snapshots)
        before = path.read_bytes()
        shown = await open_screen(pilot, app, "d", DiffScreen)
        text = screen_text(shown)
        assert "\x1b" not in text and "\x07" not in text
        assert "[bold red]x[/]RED" in text  # the change id, literally, in the title
        assert "[b]op[/b]AAAA" in text
        assert "evil/[bold red]gone[/]: Deployment gone" in text
        assert "evil/[/]pod: recovered or gone: [blink]Pending[/blink]" in text
        assert str(path) in text  # where the baseline came from
        assert shown.query_one("#diff-title", Static).size.height <= 4  # the huge one cut
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DiffScreen), "the diff closed")
        report = await open_screen(pilot, app, "v", ValidationScreen)
        text = screen_text(report)
        assert "evil/[bold red]gone[/]" in text  # a regression: evidence, literally
        assert "\x1b" not in text
        assert path.read_bytes() == before


async def test_no_or_corrupt_baseline_is_reported_and_never_overwritten(
        drill: DrillCluster, tmp_path: Path) -> None:
    snapshots = tmp_path / "snapshots"
    app = app_on(drill, snapshots)
    async with app.run_test(size=(200, 50)) as pilot:
        await loaded(pilot, app)
        await pilot.press("d")
        await until(pilot, lambda: any(m.startswith("no baseline: press b first")
                                       for m in messages(app)), "the no-baseline notice")
        assert not isinstance(app.screen, DiffScreen)

        snapshots.mkdir()
        older = snapshots / "baseline-drill-20200101T000000Z.json"
        older.write_text('{"schema_version": 1, "context": "drill"}')
        corrupt = snapshots / "baseline-drill-20990101T000000Z.json"  # the newest
        corrupt.write_bytes(b'{"schema_version": 1, "context": "drill", "nodes": [{"na')
        os.utime(corrupt, (1_000_000_000, 1_000_000_000))
        stamp = (corrupt.stat().st_ino, corrupt.stat().st_size, corrupt.stat().st_mtime_ns)
        for key in ("d", "v"):
            last = await next_notice(pilot, app, key)
            notice = str(last.message)
            assert str(corrupt) in notice and "truncated" in notice, notice
            assert last.severity == "error"
            assert isinstance(app.screen, Screen) and not app.screen.is_modal
        # a broken baseline never turns into a pass
        assert app.runbook.change.validation_passed is None

        # b still works and writes a new file next to it, never over it
        await open_screen(pilot, app, "b", ChangeIdScreen)
        await pilot.press("escape")  # cancel first: nothing is taken
        await until(pilot, lambda: not isinstance(app.screen, ChangeIdScreen), "cancelled")
        assert app.baselines.baseline is None
        await open_screen(pilot, app, "b", ChangeIdScreen)
        await pilot.press("enter")
        await until(pilot, lambda: app.baselines.baseline_path is not None, "the baseline saved")
        assert app.baselines.baseline_path not in (corrupt, older)
        assert corrupt.read_bytes().endswith(b'[{"na') and stamp == (
            corrupt.stat().st_ino, corrupt.stat().st_size, corrupt.stat().st_mtime_ns)
        assert app.is_running


async def test_keys_wait_for_the_sources(tmp_path: Path) -> None:
    """Before the sources are up an empty store would look like a complete, empty cluster:
    no baseline, diff or validation is made of it."""
    started = asyncio.Event()

    async def never(store: Store) -> Session:
        started.set()
        await asyncio.Event().wait()  # the cluster never answers
        raise AssertionError("unreachable")

    app = ControlRoomApp(Settings(), None, Target(cluster="drill", context="drill"), never,
                         journal_path=tmp_path / "journal.sqlite3")
    app.baselines.snapshot_dir = tmp_path / "snapshots"
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, started.is_set, "the sources to be starting")
        for key, what in (("b", "baseline"), ("d", "diff"), ("v", "validate")):
            notice = await next_notice(pilot, app, key)
            assert str(notice.message).startswith(f"{what}: not connected yet")
            assert not app.screen.is_modal
        assert app.baselines.baseline is None and app.runbook.change.validation_passed is None
        assert not app.baselines.snapshot_dir.exists()


# --------------------------------------------------------------------------- issue 13


async def test_b_refuses_a_baseline_without_pods_and_d_cannot_compare(tmp_path: Path) -> None:
    """Issue 13 point 3: ``b`` while pods could not be read saved a file with the section
    missing, which became the context's newest baseline. Now it is refused with the reason,
    nothing is written, the previous baseline stays the newest; ``d`` against an incomplete
    file says "cannot compare" instead of "nothing changed"."""
    from backends.baseline.io import latest_snapshot, write_baseline
    from drill.policy import Policy, Rule
    from tests.test_baseline_validate import healthy

    policy = Policy([Rule(verbs=frozenset({"list", "watch"}), groups=frozenset({""}),
                          resources=frozenset({"pods"}), allow=False)])
    cluster = DrillCluster(DrillOptions(kubeconfig=tmp_path / "kubeconfig", policy=policy))
    await cluster.start()
    snapshots = tmp_path / "snapshots"
    previous = write_baseline(msgspec.structs.replace(healthy(), taken_at=1000.0),
                              directory=snapshots)
    try:
        app = app_on(cluster, snapshots)
        async with app.run_test(size=(200, 50)) as pilot:
            await until(pilot, lambda: app.session is not None and app.store.count("nodes")
                        and (h := app.store.health("pods")) is not None
                        and h.state == "forbidden", "pods forbidden", timeout=10)
            await open_screen(pilot, app, "b", ChangeIdScreen)
            shown = len(messages(app))
            await pilot.press("enter")
            await until(pilot, lambda: len(messages(app)) > shown, "the refusal")
            notice = list(app._notifications)[-1]  # noqa: SLF001
            assert notice.severity == "error"
            assert str(notice.message).startswith("baseline refused, nothing was saved")
            assert "pods: pods: forbidden" in str(notice.message)
            assert app.baselines.baseline is None
            assert sorted(snapshots.iterdir()) == [previous]
            assert latest_snapshot("drill", snapshots) == previous

            incomplete = msgspec.structs.replace(
                healthy(), taken_at=2000.0, pods=[],
                missing={"pods": "pods: forbidden: no list"})
            write_baseline(incomplete, directory=snapshots)  # another tool wrote it
            last = await next_notice(pilot, app, "d")
            assert str(last.message).startswith("cannot compare: the baseline (file ")
            assert "pods: pods: forbidden: no list" in str(last.message)
            assert last.severity == "error" and not isinstance(app.screen, DiffScreen)

            # Against the complete one, v cannot check what it could not read: not PASSED.
            next(p for p in snapshots.iterdir() if p != previous).unlink()
            report = await open_screen(pilot, app, "v", ValidationScreen)
            text = screen_text(report)
            # (FAILED too: the hand-made baseline differs; a known failure outranks unknown)
            assert "could not be checked: data-complete" in text, text
            assert "???? data-complete" in text and "PASS data-complete" not in text
            assert "pods: pods: forbidden" in text
            assert app.runbook.change.validation_passed is False
    finally:
        await cluster.stop()


async def test_v_fails_while_a_teammates_breaker_is_engaged(tmp_path: Path) -> None:
    """Issue 13 point 4: an update validated while a breaker holds workloads at 0 is not
    finished. The App's ``v`` reads the journal afresh, so a breaker a teammate engaged a
    moment ago (their own session, the same journal) fails ``breaker-released``, as
    ``controlroom validate`` does."""
    from backends.breaker_scope import BreakerConfig
    from backends.kube.connection import connect
    from backends.ops.journal import Journal
    from backends.usecases import breaker
    from tests.ops_support import CONFIRM, REASON, drill_options, sim_poll, started
    from tests.usecase_support import workspace

    cluster = await started(drill_options(tmp_path))
    try:
        app = app_on(cluster, tmp_path / "snapshots")
        journal_path = Path(str(cluster.kubeconfig)).parent / "journal.sqlite3"  # make_app's
        async with app.run_test(size=(200, 50)) as pilot:
            await loaded(pilot, app)
            report = await open_screen(pilot, app, "v", ValidationScreen)
            assert "circuit breaker engaged" not in screen_text(report)
            assert "breaker-released" in screen_text(report)
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, ValidationScreen),
                        "the report closed")

            journal = await Journal.open(journal_path)
            try:
                async with await connect(str(cluster.kubeconfig), None) as conn:
                    ws, _rec = workspace(conn, journal)
                    action = await breaker.plan_engage(
                        ws, BreakerConfig(deployments=["checkout/checkout-canary"]),
                        poll=sim_poll(cluster))
                    engaged = await breaker.engage(ws, action, reason=REASON, confirm=CONFIRM)
                    assert engaged.ok, engaged.summary()
            finally:
                await journal.close()

            report = await open_screen(pilot, app, "v", ValidationScreen)
            text = screen_text(report)
            assert "circuit breaker engaged" in text
            assert "FAILED" in text or "FAIL" in text
    finally:
        await cluster.stop()
