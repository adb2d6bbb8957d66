"""Shared fixtures: the drill cluster in-process and as a subprocess, and the kubectl guard."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from backends.kube.connection import KubeConnection, connect
from backends.ops.journal import Journal
from drill.runner import DrillCluster, DrillOptions
from drill.servers import DrillServers, ManagedServer, find_program
from tests.realcluster import NotBuilt, RealCluster, binaries, running
from tests.waiting import StreamReader, wait_until

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# A test run started in the background of a non-interactive shell (``cmd &``, ``nohup``)
# inherits SIGINT ignored, and every command a test starts inherits that too: Ctrl-C (the
# tests send SIGINT) would then be ignored and those tests hang until their limit. Give the
# run the disposition a person at a terminal has; exec resets a handler to the default in
# each child, where "ignored" would have been inherited.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
ROOT = Path(__file__).resolve().parent.parent


def require_program(name: str) -> str:
    """The path of an external program; under CI=true a missing one fails the test."""
    path = shutil.which(name) or find_program(name)  # also /usr/sbin (mosquitto)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required under CI=true but is not on PATH")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true nothing skips: a skip from anywhere (a helper, a fixture, a plugin) fails.

    The explicit guards (``require_program``, the fixture loader) already fail under CI; this
    catches any skip that slips past them, so "zero skips" is a property of the run, not of
    each test's good manners. Expected failures (xfail) are not skips and are left alone."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (nothing may skip in CI): {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """A whole module skipped at collection (``skipif`` marks at module level,
    ``importorskip``) fails under CI=true as well."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"module skipped under CI=true (nothing may skip in CI): {report.longrepr}"


@pytest.fixture
async def calm(sim: DrillCluster) -> DrillCluster:
    """The calm drill with the simulated controllers on a manual clock, two seconds in (the
    breaker and action tests' cluster; the same one ``sim`` and ``conn`` reach)."""
    sim.sim.advance(2)
    return sim


@pytest.fixture
async def drill(tmp_path: Path) -> AsyncIterator[DrillCluster]:
    """A seeded drill cluster served on a free loopback port, on the test's event loop."""
    cluster = DrillCluster(DrillOptions(kubeconfig=tmp_path / "kubeconfig",
                                        bookmark_interval=0.2, simulate=False))
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[DrillCluster]:
    """The action tests' drill: scenario time moves only when a test (or a ``sim_poll``
    verification) advances it, controllers on (tests/ops_support.py ``drill_options``)."""
    from tests.ops_support import drill_options, started

    cluster = await started(drill_options(tmp_path))
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest.fixture
async def rollout(tmp_path: Path) -> AsyncIterator[DrillCluster]:
    """``bad-rollout`` served on the test's loop, moving only when the test advances it
    (the bad commit lands at t+15 s; checkout is Degraded by t+150 s)."""
    cluster = DrillCluster(DrillOptions(kubeconfig=tmp_path / "kubeconfig",
                                        bookmark_interval=0.2, scenario="bad-rollout",
                                        manual_clock=True))
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest.fixture
async def conn(sim: DrillCluster) -> AsyncIterator[KubeConnection]:
    """A connection to ``sim`` through its kubeconfig, as the App and the CLI open one."""
    async with await connect(str(sim.kubeconfig), None) as connection:
        yield connection


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    """The test's own journal file."""
    j = await Journal.open(tmp_path / "journal.sqlite3")
    try:
        yield j
    finally:
        await j.close()


class HeadlessDrill:
    """``controlroom demo --headless`` running as a child process."""

    def __init__(self, proc: subprocess.Popen[str], kubeconfig: Path, url: str,
                 servers: dict[str, str] | None = None) -> None:
        self.proc = proc
        self.kubeconfig = kubeconfig
        self.url = url
        #: ``prometheus``/``alertmanager``/``mqtt`` -> URL, for each real server it started.
        self.servers = servers or {}

    def kubectl(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        exe = require_program("kubectl")
        out = subprocess.run([exe, "--kubeconfig", str(self.kubeconfig), *args],
                             capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({out.returncode}):\n"
                                 f"{out.stdout}\n{out.stderr}")
        return out


@contextlib.contextmanager
def headless_drill(*extra: str, servers: bool = False) -> Iterator[HeadlessDrill]:
    """:func:`start_headless` for a module's fixture (kubectl required, the child stopped
    at the end: terminated, killed if it does not go within 10 s)."""
    require_program("kubectl")
    drill = start_headless(*extra, servers=servers)
    try:
        yield drill
    finally:
        drill.proc.terminate()
        try:
            drill.proc.wait(10)
        except subprocess.TimeoutExpired:
            drill.proc.kill()
            drill.proc.wait(10)


def start_headless(*extra: str, servers: bool = False) -> HeadlessDrill:
    """Start the headless drill cluster and wait for its announced startup block.

    Without ``servers=True`` it runs with ``--no-servers``: most tests need only the API
    server, and a Prometheus scraping every second would only slow a shared machine down."""
    flags = [] if servers else ["--no-servers"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlroom", "demo", "--headless", *flags, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    # Both pipes are drained on threads for the child's whole life (a full stderr pipe would
    # block it), and the startup block is awaited with a generous bound: on a loaded machine
    # importing and seeding take a while, and a child that hangs silently must still fail.
    out = StreamReader(proc.stdout, "headless drill stdout")
    err = StreamReader(proc.stderr, "headless drill stderr")
    try:
        # The startup block: kubeconfig, api, one line per real server started, metrics (last).
        text = out.wait_for("\nmetrics: ", timeout=120)
    except AssertionError as exc:
        proc.kill()
        raise AssertionError(f"headless drill did not start: {exc}\nstderr:\n{err.text}") from None
    kubeconfig = url = None
    servers: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key == "kubeconfig":
            kubeconfig = Path(value.strip())
        elif key == "api":
            url = value.strip()
        elif key in ("prometheus", "alertmanager", "mqtt"):
            servers[key] = value.strip()
        elif key == "metrics":
            break
    if kubeconfig is None or url is None:
        proc.kill()
        raise AssertionError(f"headless drill did not announce kubeconfig and api:\n{text}\n"
                             f"stderr:\n{err.text}")
    return HeadlessDrill(proc, kubeconfig, url, servers)


@pytest.fixture(scope="module")
def headless() -> Iterator[HeadlessDrill]:
    """One headless drill cluster (live, calm scenario) shared by a test module."""
    drill = start_headless("--scenario", "calm")
    try:
        yield drill
    finally:
        drill.proc.terminate()
        try:
            drill.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            drill.proc.kill()


class ThreadedDrill:
    """A drill cluster on its own event loop in a thread, for synchronous clients
    (the ``kubernetes`` package, kubectl) that would block a test's own loop."""

    def __init__(self, tmp: Path, **options: object) -> None:
        import asyncio
        import threading

        self.loop = asyncio.new_event_loop()
        self.cluster = DrillCluster(DrillOptions(kubeconfig=tmp / "kubeconfig",
                                                 **options))  # type: ignore[arg-type]
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.run(self.cluster.start())

    def run(self, coro: object, timeout: float = 30) -> object:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def call(self, fn: object, *args: object, **kw: object) -> object:
        """Run a plain function on the cluster's loop (state is owned by that thread)."""
        async def wrapper() -> object:
            return fn(*args, **kw)  # type: ignore[operator]
        return self.run(wrapper())

    @property
    def kubeconfig(self) -> Path:
        assert self.cluster.kubeconfig is not None
        return self.cluster.kubeconfig

    def close(self) -> None:
        self.run(self.cluster.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@pytest.fixture
def bad_rollout(tmp_path: Path) -> Iterator[ThreadedDrill]:
    """``bad-rollout`` in a thread on a manual clock, for commands run as child processes
    (``tests/test_baseline_drill.py``'s ``advance`` moves it)."""
    drill = ThreadedDrill(tmp_path, scenario="bad-rollout", manual_clock=True,
                          bookmark_interval=0.2)
    try:
        yield drill
    finally:
        drill.close()


@pytest.fixture
def tdrill(tmp_path: Path) -> Iterator[ThreadedDrill]:
    drill = ThreadedDrill(tmp_path, bookmark_interval=0.2, simulate=False)
    try:
        yield drill
    finally:
        drill.close()


# ---------------------------------------------------------------------------------------------
# Real servers of the drill (Prometheus, Alertmanager, Mosquitto): see drill/servers.py.
# The drill and its servers run on an event loop in a thread, so synchronous tests (httpx,
# prometheus-api-client) and Textual Pilot tests (their own loop) can both use them; every
# control method has an async twin (``a...``) that does not block the caller's loop, which a
# Pilot test needs so the app's pollers keep running while a server is down.

T = TypeVar("T")


def _wait_until(check: Callable[[], T | None], what: str, timeout: float) -> T:
    """Poll ``check()`` (returns a truthy value when done) every 0.5 s until ``timeout``."""
    return wait_until(check, what, timeout, interval=0.5)  # type: ignore[arg-type]


class PromStack:
    """The drill cluster running ``bad-rollout`` fast, with Prometheus and Alertmanager.

    ``drill`` is the :class:`ThreadedDrill`; ``servers`` the :class:`DrillServers`;
    ``prometheus`` and ``alertmanager`` the :class:`ManagedServer` handles (restart keeps the
    port and data, so the URLs stay valid).
    """

    SPEED = 10.0

    def __init__(self, tmp: Path) -> None:
        require_program("prometheus")
        require_program("prometheus-alertmanager")
        self.drill = ThreadedDrill(tmp, scenario="bad-rollout", speed=self.SPEED,
                                   bookmark_interval=0.2, servers=True,
                                   server_names=("prometheus", "alertmanager"))
        servers = self.drill.cluster.servers
        assert servers is not None
        if servers.prometheus is None or servers.alertmanager is None:
            self.drill.close()
            raise AssertionError("drill servers did not start: "
                                 + "; ".join(p.line() for p in servers.problems))
        self.servers = servers
        self.prometheus = servers.prometheus
        self.alertmanager = servers.alertmanager
        self.prometheus_url = self.prometheus.url
        self.alertmanager_url = self.alertmanager.url

    @property
    def kubeconfig(self) -> Path:
        return self.drill.kubeconfig

    def _server(self, name: str) -> ManagedServer:
        return {"prometheus": self.prometheus, "alertmanager": self.alertmanager}[name]

    # synchronous control (runs on the drill's loop, blocks the caller until done)
    def stop(self, name: str) -> None:
        self.drill.run(self._server(name).stop())

    def start(self, name: str) -> None:
        self.drill.run(self._server(name).start())

    def restart(self, name: str) -> None:
        self.drill.run(self._server(name).restart())

    # async twins for tests whose own loop must keep running (Pilot)
    async def astop(self, name: str) -> None:
        await self._on_drill_loop(self._server(name).stop())

    async def astart(self, name: str) -> None:
        await self._on_drill_loop(self._server(name).start())

    async def arestart(self, name: str) -> None:
        await self._on_drill_loop(self._server(name).restart())

    async def _on_drill_loop(self, coro: Coroutine[Any, Any, None]) -> None:
        import asyncio

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.drill.loop))

    # what the servers say (httpx, synchronous)
    def prometheus_alerts(self) -> list[dict[str, Any]]:
        """``/api/v1/alerts`` of the drill's Prometheus (pending and firing)."""
        import httpx

        resp = httpx.get(f"{self.prometheus_url}/api/v1/alerts", timeout=5)
        resp.raise_for_status()
        return list(resp.json()["data"]["alerts"])

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        """``/api/v2/alerts`` of the drill's Alertmanager (active, suppressed, unprocessed)."""
        import httpx

        resp = httpx.get(f"{self.alertmanager_url}/api/v2/alerts", timeout=5)
        resp.raise_for_status()
        return list(resp.json())

    def wait_firing(self, *names: str, timeout: float = 60) -> list[dict[str, Any]]:
        """Wait until every named alert fires in Prometheus; returns the firing alerts."""
        def check() -> list[dict[str, Any]] | None:
            firing = [a for a in self.prometheus_alerts() if a.get("state") == "firing"]
            got = {a["labels"]["alertname"] for a in firing}
            return firing if set(names) <= got else None
        return _wait_until(check, f"{names} firing in Prometheus", timeout)

    def wait_active(self, *names: str, timeout: float = 60) -> list[dict[str, Any]]:
        """Wait until every named alert is active in Alertmanager; returns the active alerts."""
        def check() -> list[dict[str, Any]] | None:
            active = [a for a in self.alertmanager_alerts()
                      if a["status"]["state"] == "active"]
            got = {a["labels"]["alertname"] for a in active}
            return active if set(names) <= got else None
        return _wait_until(check, f"{names} active in Alertmanager", timeout)

    def close(self) -> None:
        self.drill.close()


@pytest.fixture
def prom_stack(tmp_path: Path) -> Iterator[PromStack]:
    """bad-rollout at 10x on the drill, scraped by a real Prometheus (1 s scrape/eval, drill
    rules with ``for: 5s``) that sends to a real Alertmanager. PodCrashLooping and
    DeploymentReplicasMismatch fire about 10-20 s after the fixture returns: use
    ``wait_firing``/``wait_active`` rather than sleeping."""
    stack = PromStack(tmp_path)
    try:
        yield stack
    finally:
        stack.close()


class Broker:
    """A real mosquitto on a free loopback port (anonymous, persistence in a temp dir),
    restartable on the same port with the same data: retained and queued messages survive."""

    def __init__(self) -> None:
        import asyncio
        import threading

        require_program("mosquitto")
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.servers = DrillServers(enable=("mqtt",))
        self._run(self.servers.start())
        if self.servers.mosquitto is None:
            self.close()
            raise AssertionError("mosquitto did not start: "
                                 + "; ".join(p.line() for p in self.servers.problems))
        self.server = self.servers.mosquitto
        self.host = "127.0.0.1"
        self.port = self.server.port
        self.url = self.server.url

    def _run(self, coro: Coroutine[Any, Any, None], timeout: float = 30) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _on_loop(self, coro: Coroutine[Any, Any, None]) -> None:
        import asyncio

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        self._run(self.server.stop())

    def start(self) -> None:
        self._run(self.server.start())

    def restart(self) -> None:
        self._run(self.server.restart())

    async def astop(self) -> None:
        await self._on_loop(self.server.stop())

    async def astart(self) -> None:
        await self._on_loop(self.server.start())

    async def arestart(self) -> None:
        await self._on_loop(self.server.restart())

    def close(self) -> None:
        try:
            self._run(self.servers.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)


@pytest.fixture
def mosquitto() -> Iterator[Broker]:
    """A mosquitto broker for one test: ``url`` (mqtt://127.0.0.1:PORT), ``host``, ``port``,
    ``restart()``/``arestart()`` (same port, persistence kept), ``stop()``/``start()``."""
    broker = Broker()
    try:
        yield broker
    finally:
        broker.close()


# The real-cluster tier's control plane lives here, not in one test module: a session
# fixture defined in each module would start one control plane per module.


@pytest.fixture(scope="session")
def real() -> Iterator[RealCluster]:
    """The session's real control plane (binaries from ``make realcluster``)."""
    openssl = require_program("openssl")
    try:
        bin_dir = binaries()
    except NotBuilt as exc:
        if IN_CI:
            pytest.fail(f"under CI=true the real-cluster tests must run: {exc}")
        pytest.skip(str(exc))
    with running(openssl, bin_dir=bin_dir) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def argocd_namespace(real: RealCluster) -> str:
    real.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})
    return "argocd"
