"""The control room App on the drill cluster, driven with Pilot like an engineer would.

Each test starts a drill API server on the test's loop and the App on top of it, connected
through the drill's kubeconfig exactly like a real cluster. Waits poll the App's own state under a
generous outer limit (``until``, from tests/waiting.py); nothing sleeps blindly and no wall-clock
duration is asserted (latency is measured in bench/).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from backends.config import Settings, parse
from backends.kube.connection import connect
from backends.kube.source_set import start_all
from backends.store import Store
from drill.resources import BY_KEY
from drill.runner import DrillCluster
from tests.waiting import await_until
from tests.waiting import pilot_until as until
from tui.app import ControlRoomApp, Session, Target
from widgets.panels import AppsPanel, EventsPanel, NodesPanel, PodsPanel, WorkloadsPanel

PODS = BY_KEY["pods"]
DEPLOY = BY_KEY["deployments.apps"]
APPS = BY_KEY["applications.argoproj.io"]
EVENTS = BY_KEY["events"]


def starter(drill: DrillCluster) -> Callable[[Store], Awaitable[Session]]:
    async def start(store: Store) -> Session:
        conn = await connect(str(drill.kubeconfig), None)
        sources = await start_all(conn, store, None)

        async def stop() -> None:
            await sources.stop()

        return Session(stop, conn)

    return start


def make_app(drill: DrillCluster, settings: Settings | None = None,
             settings_path: Path | None = None, *, journal: Path | None = None,
             read_only: bool = False) -> ControlRoomApp:
    journal = journal or Path(str(drill.kubeconfig)).parent / "journal.sqlite3"
    return ControlRoomApp(settings or Settings(), settings_path,
                          Target(cluster="drill", context="drill", read_only=read_only),
                          starter(drill), journal_path=journal)


def panel(app: ControlRoomApp, cls: type) -> Any:
    return next(p for p in app.panels if isinstance(p, cls))


def drawn(widget: Any) -> list[str]:
    """The lines a widget draws (the strips sent to the terminal), as text."""
    return [widget.render_line(y).text.rstrip() for y in range(widget.size.height)]


def shown(p: Any) -> list[str]:
    """The keys of the rows a panel shows, in display order."""
    return list(p.visible_keys())


async def test_panels_show_the_seeded_platform(drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        nodes = panel(app, NodesPanel)
        await until(pilot, lambda: len(shown(nodes)) == drill.state.count(BY_KEY["nodes"]),
                    "every node in the nodes panel")
        workloads = panel(app, WorkloadsPanel)
        await until(pilot, lambda: "checkout/checkout-stable" in shown(workloads),
                    "checkout-stable in the workloads panel")
        apps = panel(app, AppsPanel)
        await until(pilot, lambda: len(shown(apps)) == drill.state.count(APPS), "every app")


async def test_changes_through_the_api_appear_on_screen(drill: DrillCluster) -> None:
    """A change, a deletion and an Argo CD policy change made through the API reach the panels
    by the watch alone (no refresh key). How fast is a number for bench/, not a pass/fail
    here: the waits only have a generous outer limit."""
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        workloads = panel(app, WorkloadsPanel)
        await until(pilot, lambda: "payments/payments" in shown(workloads), "payments row")
        assert "7" not in workloads.cells_of("payments/payments")
        drill.state.mutate(DEPLOY, "payments", "payments",
                           lambda d: {**d, "spec": {**d["spec"], "replicas": 7}})
        await until(pilot, lambda: "7" in workloads.cells_of("payments/payments"),
                    "the new desired count in the payments row")
        pods = panel(app, PodsPanel)
        pods.toggle_all()
        app.refresh_tick()
        victim = drill.state.objects(PODS, "catalog")[0]["metadata"]["name"]
        await until(pilot, lambda: f"catalog/{victim}" in shown(pods), "the catalog pod")
        drill.state.delete(PODS, "catalog", victim)
        await until(pilot, lambda: f"catalog/{victim}" not in shown(pods),
                    "the deleted pod to vanish")
        apps = panel(app, AppsPanel)
        await until(pilot, lambda: "argocd/payments" in shown(apps), "the payments app row")
        assert "off" not in " ".join(apps.cells_of("argocd/payments"))
        drill.state.mutate(APPS, "argocd", "payments", lambda a: {
            **a, "spec": {**a["spec"], "syncPolicy": {**a["spec"]["syncPolicy"],
                                                      "automated": None}}})
        await until(pilot, lambda: "off" in " ".join(apps.cells_of("argocd/payments")),
                    "auto-sync off on the payments app")


async def test_filter_freeze_detail_help_and_theme(drill: DrillCluster, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("# mine\n")
    app = make_app(drill, parse(cfg.read_text()), cfg)
    async with app.run_test(size=(200, 50)) as pilot:
        workloads = panel(app, WorkloadsPanel)
        await until(pilot, lambda: len(shown(workloads)) > 5, "workloads")
        workloads.focus()
        await pilot.press("slash")
        await pilot.press(*"checkout")
        await until(pilot, lambda: shown(workloads) and all(
            "checkout" in k for k in shown(workloads)), "the filter to narrow the panel")
        await pilot.press("escape")
        assert app.focused is not None

        # freeze: data keeps flowing into the store, the panel does not move
        await pilot.press("space")
        assert app.frozen
        before = list(workloads.cells_of("checkout/checkout-canary"))
        drill.state.mutate(DEPLOY, "checkout", "checkout-canary",
                           lambda d: {**d, "spec": {**d["spec"], "replicas": 9}})
        await until(pilot, lambda: (row := app.store.get("deployments",
                                                         "checkout/checkout-canary"))
                    and row.desired == 9, "the store to get the change")
        app.refresh_tick()  # a tick that would hand the change over if it were not frozen
        await pilot.pause()
        assert workloads.cells_of("checkout/checkout-canary") == before
        await pilot.press("space")
        await until(pilot, lambda: "9" in workloads.cells_of("checkout/checkout-canary"),
                    "the frozen change to show after resuming")

        # detail view of the selected row
        workloads.focus()
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "DetailScreen", "detail")
        await pilot.press("escape")
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen", "help")
        await pilot.press("escape")

        first = app.theme
        await pilot.press("t")
        assert app.theme != first
        assert f'theme = "{app.theme}"' in cfg.read_text() and "# mine" in cfg.read_text()


async def test_quit_closes_every_watch(drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.store.count("pods") > 0, "pods")
        drill.server.record_requests = True
        await pilot.press("q")
        await await_until(lambda: not app.is_running, "q to stop the App")
    # The server notices closed connections asynchronously; on a loaded machine that takes
    # more than a moment. A watch left open by the app stays open and still fails here.
    await await_until(lambda: not [t for t in drill.server._watches  # noqa: SLF001
                                   if not t.done()], "every watch on the server to close")


HOSTILE = [
    "[bold red]boom[/]",
    "[@click=app.quit]click me[/]",
    "[link=https://evil.example]x[/link]",
    "\x1b[31mred\x1b[0m\x1b]52;c;ZXZpbA==\x07",
    "\x9b31mC1\u202eevil",
]


async def test_hostile_text_renders_literally_and_harmlessly(drill: DrillCluster) -> None:
    for i, text in enumerate(HOSTILE):
        drill.state.create(EVENTS, {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"hostile-{i}", "namespace": "default",
                         "labels": {"x": "y"}},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "BackOff", "type": "Warning", "message": text, "count": 1,
            "lastTimestamp": "2026-11-26T10:00:00Z"})
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        events = panel(app, EventsPanel)
        await until(pilot, lambda: len([k for k in shown(events) if "hostile" in k]) == 5,
                    "the hostile events")
        cells = " ".join(" ".join(events.cells_of(k)) for k in shown(events) if "hostile" in k)
        assert "[bold red]boom[/]" in cells and "[@click=app.quit]" in cells
        assert "\x1b" not in cells and "\x9b" not in cells and "\u202e" not in cells
        # What is drawn, not only the cells: each message column shows the start of the text
        # as typed (markup brackets included; the column is narrow), escapes stripped.
        lines = await until(pilot, lambda: (ls := drawn(events.table)) and sum(
            "BackOff" in line for line in ls) == 5 and ls, "the five hostile events drawn")
        at = lines[0].index("MESSAGE")
        messages = sorted(line[at:].strip() for line in lines if "BackOff" in line)
        sanitized = sorted(["[bold red]boom[/]", "[@click=app.quit]click me[/]",
                            "[link=https://evil.example]x[/link]", "red", "C1evil"])
        assert all(len(m) >= 3 and full.startswith(m) for m, full in zip(messages, sanitized,
                                                                         strict=True)), messages
        screen = "\n".join(lines)
        assert not any(c in screen for c in ("\x1b", "\x07", "\x9b", "\u202e")), repr(screen)
        assert app.is_running  # [@click=app.quit] did nothing


@pytest.mark.parametrize("size", [(200, 50)])
async def test_untrusted_pod_names_in_all_panels(drill: DrillCluster,
                                                 size: tuple[int, int]) -> None:
    drill.state.create(BY_KEY["namespaces"], {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "evil"}})
    pod = drill.state.objects(PODS, "catalog")[0]
    evil = {**pod, "metadata": {**pod["metadata"], "name": "evil-pod", "namespace": "evil",
                                "uid": "u-evil", "annotations": {"note": "[b]x"}},
            "status": {**pod["status"], "phase": "Pending", "reason": "[@click=app.quit]",
                       "message": "\x1b]8;;http://x\x07link\x1b]8;;\x07"}}
    evil["metadata"].pop("resourceVersion", None)
    drill.state.create(PODS, evil)
    app = make_app(drill)
    async with app.run_test(size=size) as pilot:
        pods = panel(app, PodsPanel)
        # Pending with a reason: a problem pod, so the default (problems only) view shows it.
        await until(pilot, lambda: "evil/evil-pod" in shown(pods), "the evil pod")
        # The pods panel: kubectl's STATUS column and the problem column show the reason as
        # typed, brackets and all (read as markup it would vanish or become a click action).
        row = await until(pilot, lambda: next(
            (line for line in drawn(pods.table) if "evil-pod" in line), None),
            "the evil pod's row drawn in the pods panel")
        assert row.count("[@click=app.quit]") == 2, row
        assert pods.cells_of("evil/evil-pod")[3] == "[@click=app.quit]"
        # The detail view of the row: the reason literally, the OSC 8 hyperlink stripped to
        # its visible text, no escape or control character anywhere on the screen.
        await _select(pilot, app, PodsPanel, "evil/evil-pod")
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "DetailScreen", "the detail")
        def detail_text() -> str:
            return "\n".join(line for w in app.screen.query(Static) for line in drawn(w))

        detail = await until(pilot, lambda: "message:" in (text := detail_text()) and text,
                             "the detail view drawn")
        assert "Pod evil/evil-pod" in detail
        assert "status: [@click=app.quit]" in detail, detail
        assert "message: link" in detail, detail
        assert "http://x" not in detail and "8;;" not in detail
        assert not any(c in detail for c in ("\x1b", "\x07", "\x9b", "\x9d")), repr(detail)
        assert all(not any(c in line for c in ("\x1b", "\x07")) for line in drawn(pods.table))
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ != "DetailScreen",
                    "the detail to close")
        assert app.is_running  # no markup action ran while drawing all of this


async def test_panels_converge_after_an_outage_and_an_expired_version(
        drill: DrillCluster) -> None:
    """Watch contract seen on screen: while the API server is down the header says stale and
    the rows stay; changes made meanwhile (with the history compacted, so the resume gets 410)
    show up after the restart with no ghosts and no duplicates."""
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        pods = panel(app, PodsPanel)
        pods.toggle_all()
        await until(pilot, lambda: len(shown(pods)) == drill.state.count(PODS), "all pods")
        host, port = "127.0.0.1", int(drill.url.rsplit(":", 1)[1])
        await drill.server.stop()
        await until(pilot, lambda: (h := app.store.health("pods")) and h.state == "stale",
                    "pods source to go stale")
        health_line = app.query_one("HeaderBar")._health  # noqa: SLF001
        await until(pilot, lambda: "pods stale since" in str(health_line.render()),
                    "the header to say stale")
        gone = [p["metadata"]["name"] for p in drill.state.objects(PODS, "catalog")]
        for name in gone:
            drill.state.delete(PODS, "catalog", name)
        pod = drill.state.objects(PODS, "payments")[0]
        fresh = {**pod, "metadata": {k: v for k, v in pod["metadata"].items()
                                     if k not in ("resourceVersion", "uid")}}
        fresh["metadata"]["name"] = "payments-brand-new"
        drill.state.create(PODS, fresh)
        drill.state.compact()  # the version the source resumes from is now too old: 410
        await drill.server.start(host, port)
        want = {f"{p['metadata']['namespace']}/{p['metadata']['name']}"
                for p in drill.state.objects(PODS)}
        await until(pilot, lambda: set(shown(pods)) == want, "the panel to converge")
        assert len(shown(pods)) == len(want)  # no duplicates
        assert not any(f"catalog/{n}" in shown(pods) for n in gone)  # no ghosts
        await until(pilot, lambda: app.store.health("pods").state == "connected",
                    "pods source connected again")


async def test_keys_are_remappable_and_every_action_is_in_the_palette(
        drill: DrillCluster) -> None:
    app = make_app(drill, parse('[keys]\nfreeze = "f"\ncycle_theme = "ctrl+t"\n'))
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("f")
        assert app.frozen
        await pilot.press("space")  # no longer bound to freeze
        assert app.frozen
        first = app.theme
        await pilot.press("ctrl+t")
        assert app.theme != first
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for binding in ControlRoomApp.BINDINGS:
            assert binding.description in titles  # type: ignore[union-attr]
        assert "Detail" in titles


async def _select(pilot: Any, app: ControlRoomApp, cls: type, key: str) -> Any:
    target = panel(app, cls)
    await until(pilot, lambda: key in shown(target), f"{key} in the panel")
    target.focus()
    for _ in range(len(shown(target)) + 1):
        if target.selected_key == key:
            return target
        await pilot.press("down")
    raise AssertionError(f"could not select {key}")


async def test_pause_key_plans_confirms_and_writes_through_the_gate(
        drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await _select(pilot, app, AppsPanel, "argocd/payments")
        prior = drill.state.get(APPS, "argocd", "payments")["spec"]["syncPolicy"]["automated"]
        await pilot.press("p")
        await until(pilot, lambda: type(app.screen).__name__ == "PlanScreen", "the plan")
        await pilot.press(*"INC-7")
        await pilot.press("enter")
        await until(pilot, lambda: drill.state.get(APPS, "argocd", "payments")["spec"][
            "syncPolicy"]["automated"].get("enabled") is False, "the pause")
        assert app.actions.journal is not None
        entries = await app.actions.journal.entries(context="drill")
        assert entries and entries[-1].reason == "INC-7"
        assert entries[0].prior  # the exact prior state was journaled
        await until(pilot, lambda: (row := app.store.get("applications", "argocd/payments"))
                    and row.auto_sync == "paused", "the panel to show paused")
        # restore puts back exactly what was there
        await pilot.press("p")
        await until(pilot, lambda: type(app.screen).__name__ == "PlanScreen", "restore plan")
        await pilot.press(*"INC-7")
        await pilot.press("enter")
        await until(pilot, lambda: drill.state.get(APPS, "argocd", "payments")["spec"][
            "syncPolicy"].get("automated") == prior, "the exact prior block")
        await pilot.press("j")
        await until(pilot, lambda: type(app.screen).__name__ == "JournalScreen", "journal")


async def test_read_only_dims_every_write_key_and_a_pressed_one_says_why(
        drill: DrillCluster) -> None:
    """Issue 14 point 8: in read-only mode the key bar dims every key that writes (as the
    README says disabled keys are), the looking keys stay lit, and a write key pressed
    anyway says why (read-only, and how to change that) and plans nothing: not one write
    verb, not even a dry-run, reaches the server."""
    from tui.actions import ACTION_BINDINGS
    from tui.alert_actions import ALERT_BINDINGS
    from tui.enabled import NEEDS, Need
    from widgets.footer import KeyFooter

    app = make_app(drill, read_only=True)
    async with app.run_test(size=(240, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await _select(pilot, app, AppsPanel, "argocd/payments")
        footer = app.query_one(KeyFooter)
        writes = {b.key for b in (*ACTION_BINDINGS, *ALERT_BINDINGS)
                  if NEEDS[b.action] is not Need.NOTHING}
        shown_writes = writes & set(footer.keys_shown)
        assert shown_writes >= {"p", "s", "r", "w", "ctrl+b", "m"}, footer.keys_shown
        await until(pilot, lambda: shown_writes <= set(footer.keys_dimmed),
                    "every write key on the bar dimmed")
        assert not {"j", "q", "question_mark", "slash"} & set(footer.keys_dimmed)
        for action in {b.action for b in (*ACTION_BINDINGS, *ALERT_BINDINGS)}:
            expected = True if NEEDS[action] is Need.NOTHING else None
            assert app.check_action(action, ()) is expected, action

        drill.server.record_requests = True
        for key in sorted(writes):
            shown_before = len(app._notifications)  # noqa: SLF001
            await pilot.press(key)
            await until(pilot, lambda n=shown_before: len(app._notifications) > n,  # noqa: SLF001
                        f"the notice for {key}")
            said = str(list(app._notifications)[-1].message)  # noqa: SLF001
            assert "read-only" in said and "--read-only" in said and "drill" in said, said
            assert type(app.screen).__name__ == "Screen", (key, app.screen)  # nothing opened
        await app.workers.wait_for_complete()
    sent = [(m, p, q) for m, p, q in drill.server.requests
            if m in ("PUT", "PATCH", "DELETE") or (
                m == "POST" and "selfsubjectaccessreviews" not in p)]
    assert sent == []


async def test_breaker_key_engages_shows_state_and_release_restores(
        drill: DrillCluster) -> None:
    settings = parse('[breaker]\napps = ["payments"]\ndeployments = ["payments/payments"]\n'
                     'allow_no_backend = ["payments/payments"]\n')
    app = make_app(drill, settings)
    before_app = drill.state.get(APPS, "argocd", "payments")["spec"]["syncPolicy"]
    before_replicas = drill.state.get(DEPLOY, "payments", "payments")["spec"]["replicas"]
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate")
        await until(pilot, lambda: app.store.count("applications") > 0, "apps loaded")
        await pilot.press("ctrl+b")
        await until(pilot, lambda: type(app.screen).__name__ == "PlanScreen", "breaker plan")
        await pilot.press(*"INC-9", "enter")
        await until(pilot, lambda: drill.state.get(DEPLOY, "payments", "payments")["spec"][
            "replicas"] == 0, "the scale-down")
        # The drill keeps ``automated.enabled`` (Argo CD >= 3.1), so the breaker pauses with
        # the flag and the rest of the block (prune, selfHeal) stays as it was.
        paused = drill.state.get(APPS, "argocd", "payments")["spec"]["syncPolicy"]
        assert paused["automated"] == {**before_app["automated"], "enabled": False}, paused
        await until(pilot, lambda: (row := app.store.get("applications", "argocd/payments"))
                    and row.auto_sync == "paused", "the apps panel's row to say paused")
        await until(pilot, lambda: "BREAKER ENGAGED" in str(app.header._modes.render()),  # noqa: SLF001
                    "the header to show the breaker")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: type(app.screen).__name__ == "PlanScreen", "release plan")
        await pilot.press(*"INC-9", "enter")
        await until(pilot, lambda: drill.state.get(DEPLOY, "payments", "payments")["spec"][
            "replicas"] == before_replicas, "the restore")
        await until(pilot, lambda: drill.state.get(APPS, "argocd", "payments")["spec"][
            "syncPolicy"] == before_app, "sync restored exactly")
        await until(pilot, lambda: "BREAKER" not in str(app.header._modes.render()),  # noqa: SLF001
                    "the header to clear")
