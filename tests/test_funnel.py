"""The failure funnel (issue 13, points 1, 2, 10 and 12): every source failure, at start or
later, is shown where the data would be, in one readable line, with "since T".

One test per cause, each on the real App through the real start-up path
(:func:`tui.run._sources`: connect, start every source), against the drill cluster or a small
server standing in for a broken one: refused connection, TLS failure, exec-plugin failure,
401 expiry mid-session, API server restart, forbidden kind, an API that answers nothing
useful. Then the staleness rules of the watch sources: the backoff resets after a healthy
period, and a watch that delivers neither events nor bookmarks turns stale and is restarted.

Waits poll the App's state with a deadline (``until``); nothing sleeps blindly.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from backends.backoff import Backoff
from backends.config import Settings
from backends.kube.errors import KubeUnreachable
from backends.kube.source import WatchSource
from backends.store import SourceHealth, Store
from drill.policy import Policy
from drill.resources import BY_KEY
from drill.runner import DrillCluster, DrillOptions
from tests.test_app import panel, shown, until
from tests.test_kube_connection import exec_plugin, pki, tls_url, write_kubeconfig
from tui.app import ControlRoomApp, Session, Target
from tui.run import _sources
from tui.screens import help_rows
from widgets.header import health_text
from widgets.panels import NodesPanel, PodsPanel, RoutesPanel, WorkloadsPanel

__all__ = ["pki", "tls_url"]  # fixtures, imported for the TLS test

PODS = BY_KEY["pods"]


def funnel_app(kubeconfig: Path | str) -> ControlRoomApp:
    """The App on the real start-up path (connect, discovery, every source)."""
    starter = _sources(lambda: str(kubeconfig), None, None, settings=Settings())
    return ControlRoomApp(Settings(), None, Target(cluster="c", context="c"), starter,
                          journal_path=Path(str(kubeconfig)).parent / "journal.sqlite3")


def problems(app: ControlRoomApp) -> str:
    """The header's problem lines (plain text)."""
    return str(getattr(app.header, "problems_plain", ""))


def status(app: ControlRoomApp, cls: type) -> str:
    """What a panel's status line says about its sources."""
    return str(getattr(panel(app, cls), "status_text", ""))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------- causes at start


async def test_refused_connection_is_said_once_in_words_in_header_and_panels(
        tmp_path: Path) -> None:
    port = free_port()
    config = write_kubeconfig(tmp_path / "config", f"http://127.0.0.1:{port}", {"token": "t"})
    app = funnel_app(config)
    why = f"api server unreachable: connection refused (127.0.0.1:{port})"
    async with app.run_test(size=(200, 50)) as pilot:
        # one line for every source that lost the server, naming them and since when
        await until(pilot, lambda: problems(app).startswith(f"✖ cluster (11 sources): {why}"),
                    "the header to say why", timeout=10)
        lines = problems(app).splitlines()
        assert len(lines) == 1
        assert " since " in lines[0] and "aiohttp" not in lines[0].lower()
        await until(pilot, lambda: status(app, PodsPanel).startswith(f"no data: {why} (since "),
                    "the pods panel to say no data")
        for cls in (NodesPanel, WorkloadsPanel, RoutesPanel):
            assert status(app, cls).startswith("no data: api server unreachable"), cls
            assert panel(app, cls).has_class("-source-down")
        assert "●" not in str(health_text(app.store.all_health(), app.store.health(
            "pods").since))  # type: ignore[union-attr]


async def test_tls_failure_is_said_in_words(tls_url: str, tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "config", tls_url, {"token": "t"})  # no cluster CA
    app = funnel_app(config)
    port = tls_url.rsplit(":", 1)[1]
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: "api server TLS failure: certificate verify failed" in
                    problems(app), "the header to name the TLS failure", timeout=10)
        assert f"(127.0.0.1:{port})" in problems(app)
        # The header names the first source that failed; the pods source may fail a turn later.
        await until(pilot, lambda: status(app, PodsPanel).startswith(
            "no data: api server TLS failure: certificate verify failed"),
            "the pods panel to name the TLS failure", timeout=10)


async def test_exec_plugin_failure_is_shown_notified_and_retried_with_the_key(
        drill: DrillCluster, tmp_path: Path) -> None:
    """An expired kubelogin: the App does not sit silent and empty; it says why, where the
    data would be, tells once, and `R` connects at once after the login is fixed."""
    user, runs = exec_plugin(tmp_path, ["x"], fail="token expired: run kubelogin")
    config = write_kubeconfig(tmp_path / "config", drill.url, user)
    app = funnel_app(config)
    async with app.run_test(size=(200, 50)) as pilot:
        why = "credentials failed: exec plugin:"
        await until(pilot, lambda: why in problems(app), "the header to name the plugin")
        assert "token expired: run kubelogin" in problems(app)
        await until(pilot, lambda: status(app, PodsPanel).startswith(f"no data: {why}"),
                    "the pods panel to say no data")
        assert any("cannot connect to the cluster" in str(n.message)
                   for n in app._notifications)  # noqa: SLF001
        assert app.session is None
        # the engineer logs in again (the plugin now hands out a good token) and presses R
        (tmp_path / "good").mkdir()
        good, _ = exec_plugin(tmp_path / "good", [drill.server.token])
        write_kubeconfig(tmp_path / "config", drill.url, good)
        before = int(runs.read_text())
        await pilot.press("R")
        await until(pilot, lambda: app.session is not None, "the sources to start", timeout=5)
        await until(pilot, lambda: len(shown(panel(app, NodesPanel))) ==
                    drill.state.count(BY_KEY["nodes"]), "the nodes to show")
        await until(pilot, lambda: not problems(app) and not status(app, PodsPanel),
                    "the problem lines to go")
        assert int(runs.read_text()) == before  # the failing plugin was not run again


# ------------------------------------------------------------------------- causes later


async def test_expired_credentials_mid_session_keep_rows_dimmed_and_say_why(
        drill: DrillCluster, tmp_path: Path) -> None:
    # a token on the wire: the kubeconfig allows it over the drill's plain http
    app = funnel_app(write_kubeconfig(tmp_path / "config", drill.url,
                                      {"token": drill.server.token}))
    async with app.run_test(size=(200, 50)) as pilot:
        nodes = panel(app, NodesPanel)
        count = drill.state.count(BY_KEY["nodes"])
        await until(pilot, lambda: len(shown(nodes)) == count, "the nodes", timeout=10)
        drill.server.token = "rotated"  # the token in the kubeconfig has expired
        port = int(drill.url.rsplit(":", 1)[1])
        await drill.server.stop()  # the open watches break and must reconnect
        await drill.server.start("127.0.0.1", port)
        why = "unauthorized: the API server rejected the credentials (expired? log in again)"
        await until(pilot, lambda: why in problems(app), "the header to say unauthorized",
                    timeout=15)
        await until(pilot, lambda: status(app, NodesPanel).startswith("stale since ")
                    and why in status(app, NodesPanel), "the nodes panel to say stale")
        assert nodes.has_class("-stale")  # the last known rows stay, dimmed
        assert len(shown(nodes)) == count


async def test_api_server_restart_goes_stale_then_recovers(drill: DrillCluster) -> None:
    assert drill.kubeconfig is not None
    app = funnel_app(drill.kubeconfig)
    async with app.run_test(size=(200, 50)) as pilot:
        pods = panel(app, PodsPanel)
        pods.toggle_all()
        await until(pilot, lambda: len(shown(pods)) == drill.state.count(PODS), "all pods",
                    timeout=10)
        port = int(drill.url.rsplit(":", 1)[1])
        await drill.server.stop()
        why = f"api server unreachable: connection refused (127.0.0.1:{port})"
        await until(pilot, lambda: status(app, PodsPanel).startswith("stale since ")
                    and why in status(app, PodsPanel), "the pods panel to go stale",
                    timeout=10)
        assert pods.has_class("-stale") and len(shown(pods)) == drill.state.count(PODS)
        assert why in problems(app)
        await drill.server.start("127.0.0.1", port)
        await until(pilot, lambda: not status(app, PodsPanel) and not problems(app),
                    "everything connected again", timeout=20)
        assert not pods.has_class("-stale") and not pods.has_class("-source-down")


async def test_forbidden_routes_are_said_in_the_traffic_panel(tmp_path: Path) -> None:
    policy = Policy.from_dict({"rules": [{"verbs": ["list", "watch"],
                                          "resources": ["httproutes"], "allow": False}]})
    cluster = DrillCluster(DrillOptions(kubeconfig=tmp_path / "kubeconfig", policy=policy,
                                        bookmark_interval=0.2, simulate=False))
    await cluster.start()
    try:
        app = funnel_app(tmp_path / "kubeconfig")
        why = "forbidden: list httproutes.gateway.networking.k8s.io for drill-operator"
        async with app.run_test(size=(200, 50)) as pilot:
            await until(pilot, lambda: why in status(app, RoutesPanel),
                        "the traffic panel to say forbidden", timeout=10)
            traffic = panel(app, RoutesPanel)
            assert traffic.has_class("-source-down") and not traffic.has_class("-stale")
            assert why in problems(app) and "httproutes" in problems(app)
            assert not status(app, PodsPanel)  # the others are fine
            await until(pilot, lambda: app.actions.gate is not None, "the session armed")
            # The breaker's marks on routes cannot be listed either: the header does not
            # look calm about the breaker, it says what it could not read and since when.
            modes = app.header._modes  # noqa: SLF001
            await until(pilot, lambda: "breaker marks unreadable" in str(modes.render()),
                        "the header to say the breaker's marks are unreadable", timeout=10)
            said = str(modes.render())
            assert "httproutes" in said.lower() and " since " in said, said
    finally:
        await cluster.stop()


# ------------------------------------------------------------------------- point 10


@pytest.fixture
async def not_kubernetes() -> AsyncIterator[Callable[[Any], str]]:
    """A server that is not a Kubernetes API: give it what to answer to discovery."""
    runners: list[web.AppRunner] = []

    async def start(core: Any) -> str:
        async def handle(request: web.Request) -> web.Response:
            if request.path == "/api/v1" and core is not None:
                return web.json_response(core)
            if request.path == "/apis" and core is not None:
                return web.json_response({"kind": "APIGroupList", "groups": []})
            return web.Response(status=404, text="404 page not found")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start  # type: ignore[misc]
    for runner in runners:
        await runner.cleanup()


@pytest.mark.parametrize("core", [None, {"kind": "APIResourceList", "resources": []}],
                         ids=["404-everywhere", "empty-discovery"])
async def test_an_api_that_answers_nothing_useful_is_not_an_empty_cluster(
        not_kubernetes: Any, core: Any, tmp_path: Path) -> None:
    url = await not_kubernetes(core)
    config = write_kubeconfig(tmp_path / "config", url, {"token": "t"})
    app = funnel_app(config)
    why = ("not a Kubernetes API server (or the wrong URL): it does not serve nodes, pods or "
           "deployments")
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: why in problems(app), "the header to say so", timeout=10)
        assert len(problems(app).splitlines()) == 1
        for cls in (NodesPanel, PodsPanel, WorkloadsPanel):
            await until(pilot, lambda cls=cls: status(app, cls).startswith(f"no data: {why}"),
                        f"{cls.__name__} to say no data")
        # (the session did start: let it finish arming before the App closes)
        await until(pilot, lambda: app.actions.gate is not None, "the session armed")


# ------------------------------------------------------------------------- point 12


def test_backoff_starts_again_after_a_healthy_period() -> None:
    now = [0.0]
    backoff = Backoff(1.0, 30.0, random.Random(1), jitter=(1.0, 1.0), reset_after=120.0,
                      clock=lambda: now[0])
    delays = []
    for _ in range(4):
        delays.append(backoff.next())
        now[0] += 20.0  # failures 20 s apart: no healthy period, keep growing
    assert delays == [1.0, 2.0, 4.0, 8.0]
    now[0] += 120.0  # two healthy minutes (client-go's reflector rule)
    assert backoff.next() == 1.0


class DroppingApi:
    """Lists fine; every watch delivers one bookmark, then the link breaks."""

    def __init__(self) -> None:
        self.watches = 0

    async def get_raw(self, path: str, params: Any = None) -> bytes:
        return json.dumps({"kind": "PodList", "metadata": {"resourceVersion": "5"},
                           "items": []}).encode()

    async def open_stream(self, path: str, params: Any = None) -> Any:
        self.watches += 1
        return DroppingStream()


class DroppingStream:
    def __init__(self) -> None:
        self.sent = False

    async def read_batch(self, *, max_lines: int = 1000, window: float = 0.05) -> list[bytes]:
        if not self.sent:
            self.sent = True
            return [b'{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "6"}}}']
        raise KubeUnreachable("the stream broke: ServerDisconnectedError")

    async def __aenter__(self) -> DroppingStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_watch_reconnect_delays_reset_after_two_healthy_minutes() -> None:
    """Counted with a fake clock and sleep: drops close together back off more and more; a
    drop after two healthy minutes waits the initial delay again, not the grown one."""
    now = [0.0]
    delays: list[float] = []
    gaps = iter([20.0] * 5 + [130.0] + [20.0] * 100)

    async def sleep(delay: float) -> None:
        delays.append(delay)
        now[0] += delay + next(gaps)  # the next watch runs this long before it drops
        if len(delays) >= 8:
            await asyncio.Event().wait()

    store = Store()
    source = WatchSource(DroppingApi(), store, "pods", "/api/v1/pods", backoff_initial=1.0,
                         backoff_cap=30.0, rng=random.Random(3), clock=lambda: now[0],
                         sleep=sleep)
    task = asyncio.create_task(source.run())
    try:
        for _ in range(500):
            if len(delays) >= 8:
                break
            await asyncio.sleep(0.005)
        assert len(delays) >= 8
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # jitter in [d/2, d]: growing 1, 2, 4, 8, 16, 30 ... then back to 1 after 130 s healthy
    assert all(d <= cap for d, cap in zip(delays, [1, 2, 4, 8, 16, 30], strict=False))
    assert delays[5] > 8.0, delays  # grown: the drops were 20 s apart
    assert delays[6] <= 1.0, delays  # reset: the link had been healthy for two minutes


class SilentApi:
    """Lists fine; watches open and then say nothing at all (no events, no bookmarks)."""

    def __init__(self) -> None:
        self.watches = 0

    async def get_raw(self, path: str, params: Any = None) -> bytes:
        return json.dumps({"kind": "PodList", "metadata": {"resourceVersion": "5"},
                           "items": [{"metadata": {"name": "a", "namespace": "ns",
                                                   "resourceVersion": "5"}}]}).encode()

    async def open_stream(self, path: str, params: Any = None) -> Any:
        self.watches += 1
        return SilentStream()


class SilentStream:
    async def read_batch(self, *, max_lines: int = 1000, window: float = 0.05) -> list[bytes]:
        await asyncio.Event().wait()
        return []

    async def __aenter__(self) -> SilentStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_a_stalled_watch_turns_stale_and_is_restarted() -> None:
    """Bookmarks expected every 0.1 s: a watch silent for 0.2 s is stalled. It never shows a
    green age; it is stale ("watch stalled ...") and a new watch is opened."""
    api = SilentApi()
    store = Store()
    source = WatchSource(api, store, "pods", "/api/v1/pods", backoff_initial=0.01,
                         backoff_cap=0.05, rng=random.Random(1), bookmark_interval=0.1)
    task = asyncio.create_task(source.run())
    try:
        for _ in range(500):
            health = store.health("pods")
            if api.watches >= 2 and health is not None and health.state == "stale":
                break
            await asyncio.sleep(0.01)
        health = store.health("pods")
        assert isinstance(health, SourceHealth) and health.state == "stale", health
        assert health.error == "watch stalled: no event or bookmark for 0.2s (expected every 0.1s)"
        assert api.watches >= 2  # restarted
        assert set(store.rows("pods")) == {"ns/a"}  # the rows stay (dimmed by the panel)
        strip = health_text(store.all_health(), health.since + 30).plain
        assert "●" not in strip and "stale since" in strip
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_drill_watch_without_bookmarks_goes_stale(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """End to end on the drill: its server stops sending bookmarks and events (a stalled
    link); with bookmarks expected every 0.2 s the pods source turns stale within a second
    and reconnects, and a green "● 30s" is never what the strip says."""
    from backends.kube.connection import connect
    from backends.kube.source_set import SourceOptions, SourceSet

    cluster = DrillCluster(DrillOptions(kubeconfig=tmp_path / "kubeconfig",
                                        bookmark_interval=0.2, simulate=False))
    await cluster.start()
    store = Store()
    sources = SourceSet(await connect(str(cluster.kubeconfig), None), store,
                        kinds={"pods"}, options=SourceOptions(
                            backoff_initial=0.05, backoff_cap=0.2, bookmark_interval=0.2,
                            metrics=False))
    try:
        await sources.start()
        for _ in range(500):
            h = store.health("pods")
            if h is not None and h.state == "connected":
                break
            await asyncio.sleep(0.01)
        cluster.server.bookmark_interval = 3600.0  # the server falls silent
        cluster.server.record_requests = True
        for _ in range(500):
            h = store.health("pods")
            if h is not None and h.state == "stale":
                break
            await asyncio.sleep(0.01)
        h = store.health("pods")
        assert h is not None and h.state == "stale" and h.error.startswith("watch stalled")
        assert "●" not in health_text(store.all_health(), h.since + 30).plain
        for _ in range(500):
            if any("watch=" in q for _, p, q in cluster.server.requests if p == "/api/v1/pods"):
                break
            await asyncio.sleep(0.01)
        assert any("watch=" in q for _, p, q in cluster.server.requests
                   if p == "/api/v1/pods"), "restarted"
    finally:
        await sources.stop()
        await cluster.stop()



class RefusingApi:
    """Nobody answers: every request fails as a refused connection would."""

    def __init__(self) -> None:
        self.asked = 0

    async def get_raw(self, path: str, params: Any = None) -> bytes:
        self.asked += 1
        raise KubeUnreachable("GET /api/v1/pods: ClientConnectorError: refused")

    async def open_stream(self, path: str, params: Any = None) -> Any:
        raise AssertionError("never listed, never watched")


async def test_retry_now_ends_a_long_backoff_wait() -> None:
    api = RefusingApi()
    source = WatchSource(api, Store(), "pods", "/api/v1/pods", backoff_initial=600.0,
                         backoff_cap=600.0, rng=random.Random(1))
    task = asyncio.create_task(source.run())
    try:
        for _ in range(200):
            if api.asked:
                break
            await asyncio.sleep(0.01)
        assert api.asked == 1  # now waiting 300-600 s
        source.retry_now()
        for _ in range(200):
            if api.asked == 2:
                break
            await asyncio.sleep(0.01)
        assert api.asked == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_retry_key_reaches_the_running_sources(tmp_path: Path) -> None:
    retried: list[bool] = []

    async def start(store: Store) -> Session:
        async def stop() -> None:
            return None

        return Session(stop, None, retry=lambda: retried.append(True))

    app = ControlRoomApp(Settings(), None, Target(cluster="c", context="c"), start,
                         journal_path=tmp_path / "journal.sqlite3")
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.session is not None, "the session")
        await pilot.press("R")
        await until(pilot, lambda: retried, "the sources told to retry now")
        assert any(row[1] == "Retry" for row in help_rows(app))  # the help lists it


async def test_a_failed_start_leaves_no_calm_alerts_panel(tmp_path: Path) -> None:
    """The alert pollers start with the session: when the cluster connection fails, a
    configured Prometheus must not leave the alerts panel saying "no alert source
    configured" (calm, and wrong): the panel says alerts are UNKNOWN and why."""
    from backends.config import parse
    from tests.test_alerts_panel import rows
    from widgets.alerts import AlertsPanel

    user, _runs = exec_plugin(tmp_path, ["x"], fail="token expired: run kubelogin")
    config = write_kubeconfig(tmp_path / "config", f"http://127.0.0.1:{free_port()}", user)
    settings = parse(f'[prometheus]\nurl = "http://127.0.0.1:{free_port()}"\n')
    starter = _sources(lambda: str(config), None, None, settings=settings)
    app = ControlRoomApp(settings, None, Target(cluster="c", context="c"), starter,
                         journal_path=tmp_path / "journal.sqlite3")
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: "credentials failed: exec plugin:" in problems(app),
                    "the start to fail on the credentials")
        assert app.session is None
        alerts = panel(app, AlertsPanel)

        def note() -> str:
            shown_rows = rows(alerts)
            return " ".join(shown_rows[0][2]) if len(shown_rows) == 1 else ""

        await until(pilot, lambda: "alerts UNKNOWN" in note(), "alerts said to be unknown")
        assert "prometheus failing since" in note()
        assert "no alert source configured" not in note()
