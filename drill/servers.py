"""The drill's real servers: Prometheus, Alertmanager and Mosquitto as child processes.

When their Debian binaries exist, the drill cluster brings the same servers the platform runs,
so the alert and team-bus code is exercised against the real thing, not a fake: each on a free
127.0.0.1 port, with a config and data dir in one temp dir, started as an asyncio subprocess
from an argument list, awaited until ready (``/-/ready``, or a TCP connect for the broker) and
stopped with SIGTERM (then SIGKILL after a timeout). A missing binary is recorded with the
install hint and never fails the drill: the demo must run with nothing installed but the
project. :meth:`ManagedServer.restart` keeps the port and data dir, which is what the tests of
"source unreachable, then recovered" and "broker restart loses nothing" need.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from drill import server_configs as cfg
from drill.alert_rules import DRILL_FOR, write_drill_rules

HOST = "127.0.0.1"
#: Where Debian puts daemons; often not on a non-root user's PATH.
FALLBACK_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
PROGRAMS = {"prometheus": "prometheus", "alertmanager": "prometheus-alertmanager",
            "mqtt": "mosquitto"}

#: pids of servers still running, killed at interpreter exit if nobody stopped them (a crashed
#: test run must not leave Prometheus busy on a shared machine).
_LIVE: set[int] = set()


@atexit.register
def _kill_leftovers() -> None:
    for pid in list(_LIVE):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the child when the thread that started it
    dies (PR_SET_PDEATHSIG): a drill killed with SIGKILL leaves no orphaned servers behind.
    The call is prepared here, before fork, so the child only makes one system call."""
    if not os.uname().sysname == "Linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)

    def preexec() -> None:
        prctl(pr_set_pdeathsig, sigterm)
    return preexec


_PREEXEC = _die_with_parent()


def find_program(name: str) -> str | None:
    """The program on PATH, else in the sbin directories daemons are installed in."""
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(FALLBACK_DIRS))


def free_port(host: str = HOST) -> int:
    """A port nobody listens on right now (the server binds it a moment later; a lost race
    shows up as an early exit, and the first start then retries on another port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServerError(RuntimeError):
    """A server binary exists but did not start (the message carries its log's tail)."""


async def http_ready(url: str) -> bool:
    import aiohttp

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            async with session.get(url) as resp:
                return resp.status == 200
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False


async def tcp_ready(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


#: Writes the server's config for a port into its dir and returns its argument list.
Configure = Callable[[int], list[str]]


class ManagedServer:
    """One server process on a loopback port that stays the same across restarts."""

    def __init__(self, name: str, workdir: Path, configure: Configure, *,
                 scheme: str = "http", ready_path: str | None = "/-/ready",
                 start_timeout: float = 30.0, stop_timeout: float = 10.0) -> None:
        self.name = name
        self.workdir = workdir
        self.scheme = scheme
        self.port = 0
        self.log_path = workdir / f"{name}.log"
        self._configure = configure
        self._ready_path = ready_path
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        """Start on a free port (the first time) or on the port it had, and wait until ready."""
        attempts = 3 if self.port == 0 else 1
        for attempt in range(attempts):
            if attempts > 1:
                self.port = free_port()
            try:
                await self._spawn_and_wait()
                return
            except ServerError:
                if attempt == attempts - 1:
                    raise

    async def _spawn_and_wait(self) -> None:
        argv = await asyncio.to_thread(self._configure, self.port)
        log: IO[bytes] = await asyncio.to_thread(open, self.log_path, "ab")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log,
                stderr=asyncio.subprocess.STDOUT, cwd=self.workdir, preexec_fn=_PREEXEC)
        except OSError as exc:
            raise ServerError(f"{self.name}: cannot run {argv[0]}: {exc}") from exc
        finally:
            log.close()
        _LIVE.add(self._proc.pid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._start_timeout
        while loop.time() < deadline:
            if self._proc.returncode is not None:
                break
            if await self._ready():
                return
            await asyncio.sleep(0.1)
        code = self._proc.returncode
        await self.stop()
        why = f"exited with {code}" if code is not None else \
            f"not ready after {self._start_timeout:.0f} s"
        raise ServerError(f"{self.name} on port {self.port} {why}: {await self.log_tail()}")

    async def _ready(self) -> bool:
        if self._ready_path is None:
            return await tcp_ready(HOST, self.port)
        return await http_ready(f"http://{HOST}:{self.port}{self._ready_path}")

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within the stop timeout."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self._stop_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        _LIVE.discard(proc.pid)

    async def restart(self) -> None:
        """Stop and start again on the same port with the same data dir."""
        await self.stop()
        await self.start()

    async def log_tail(self, lines: int = 8) -> str:
        def read() -> str:
            try:
                text = self.log_path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                return "(no log)"
            return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"
        return await asyncio.to_thread(read)


@dataclass(frozen=True)
class ServerProblem:
    """A server the drill could not bring: its program is missing or did not start."""

    name: str
    program: str
    message: str

    def line(self) -> str:
        return f"{self.name}: {self.message}"


class DrillServers:
    """Prometheus, Alertmanager and Mosquitto for one drill cluster, in one temp dir."""

    def __init__(self, metrics_url: str | None = None, *, intervals: cfg.Intervals | None = None,
                 rules_for: str = DRILL_FOR, enable: tuple[str, ...] = tuple(PROGRAMS),
                 finder: Callable[[str], str | None] = find_program) -> None:
        unknown = set(enable) - set(PROGRAMS)
        if unknown:
            raise ValueError(f"unknown servers {sorted(unknown)}; choose from {list(PROGRAMS)}")
        if "prometheus" in enable and not metrics_url:
            raise ValueError("Prometheus needs the drill cluster's metrics URL to scrape")
        self.metrics_url = metrics_url
        self.intervals = intervals or cfg.Intervals()
        self.rules_for = rules_for
        self.enable = enable
        self.finder = finder
        self.root: Path | None = None
        self.prometheus: ManagedServer | None = None
        self.alertmanager: ManagedServer | None = None
        self.mosquitto: ManagedServer | None = None
        self.problems: list[ServerProblem] = []

    @property
    def prometheus_url(self) -> str | None:
        return self.prometheus.url if self.prometheus else None

    @property
    def alertmanager_url(self) -> str | None:
        return self.alertmanager.url if self.alertmanager else None

    @property
    def mqtt_url(self) -> str | None:
        return self.mosquitto.url if self.mosquitto else None

    def announce(self) -> list[str]:
        """``name: url`` per started server, in the order the CLI prints them."""
        urls = (("prometheus", self.prometheus_url), ("alertmanager", self.alertmanager_url),
                ("mqtt", self.mqtt_url))
        return [f"{name}: {url}" for name, url in urls if url]

    def missing_programs(self) -> list[str]:
        return [p.program for p in self.problems if p.message.startswith("not found")]

    async def start(self) -> None:
        """Start what is installed; record the rest. Never raises for a missing server."""
        self.root = Path(await asyncio.to_thread(tempfile.mkdtemp,
                                                 prefix="controlroom-servers-"))
        exes: dict[str, str] = {}
        for name in self.enable:
            exe = self.finder(PROGRAMS[name])
            if exe is None:
                self.problems.append(ServerProblem(
                    name, PROGRAMS[name], f"not found ({PROGRAMS[name]}); install with: "
                    f"{cfg.INSTALL_HINT}"))
            else:
                exes[name] = exe
        first = []
        if "alertmanager" in exes:
            self.alertmanager = self._alertmanager(exes["alertmanager"])
            first.append(self._launch("alertmanager"))
        if "mqtt" in exes:
            self.mosquitto = self._mosquitto(exes["mqtt"])
            first.append(self._launch("mosquitto"))
        await asyncio.gather(*first)
        if "prometheus" in exes:  # after Alertmanager: its config names Alertmanager's port
            self.prometheus = self._prometheus(exes["prometheus"])
            await self._launch("prometheus")

    async def _launch(self, attr: str) -> None:
        server: ManagedServer | None = getattr(self, attr)
        assert server is not None
        try:
            await server.start()
        except ServerError as exc:
            self.problems.append(ServerProblem(server.name, PROGRAMS[server.name], str(exc)))
            setattr(self, attr, None)

    def _dir(self, name: str) -> Path:
        assert self.root is not None
        path = self.root / name
        (path / "data").mkdir(parents=True, exist_ok=True)
        return path

    def _prometheus(self, exe: str) -> ManagedServer:
        work = self._dir("prometheus")
        am = self.alertmanager_url
        assert self.metrics_url is not None
        metrics = self.metrics_url

        def configure(port: int) -> list[str]:
            rules = write_drill_rules(work / "drill-rules.yml", self.rules_for)
            conf = cfg.dump_yaml(work / "prometheus.yml", cfg.prometheus_config(
                metrics, [str(rules)], am, self.intervals))
            return cfg.prometheus_args(exe, conf, work / "data", port, self.intervals)
        return ManagedServer("prometheus", work, configure)

    def _alertmanager(self, exe: str) -> ManagedServer:
        work = self._dir("alertmanager")

        def configure(port: int) -> list[str]:
            conf = cfg.dump_yaml(work / "alertmanager.yml",
                                 cfg.alertmanager_config(self.intervals))
            return cfg.alertmanager_args(exe, conf, work / "data", port)
        return ManagedServer("alertmanager", work, configure)

    def _mosquitto(self, exe: str) -> ManagedServer:
        work = self._dir("mqtt")

        def configure(port: int) -> list[str]:
            conf = work / "mosquitto.conf"
            conf.write_text(cfg.mosquitto_config(port, work / "data"), encoding="utf-8")
            return cfg.mosquitto_args(exe, conf)
        return ManagedServer("mqtt", work, configure, scheme="mqtt", ready_path=None)

    async def stop(self) -> None:
        """Stop every server (Prometheus first, it talks to Alertmanager), remove the dir."""
        if self.prometheus is not None:
            await self.prometheus.stop()
        await asyncio.gather(*(s.stop() for s in (self.alertmanager, self.mosquitto) if s))
        if self.root is not None:
            await asyncio.to_thread(shutil.rmtree, self.root, True)
            self.root = None
