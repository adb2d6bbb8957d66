"""Shared fixtures: the drill cluster in-process and as a subprocess, and the kubectl guard."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from backends.demo.runner import DrillCluster, DrillOptions

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parent.parent


def require_program(name: str) -> str:
    """The path of an external program; under CI=true a missing one fails the test."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required under CI=true but is not on PATH")
        pytest.skip(f"{name} is not installed")
    return path


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


class HeadlessDrill:
    """``controlroom demo --headless`` running as a child process."""

    def __init__(self, proc: subprocess.Popen[str], kubeconfig: Path, url: str) -> None:
        self.proc = proc
        self.kubeconfig = kubeconfig
        self.url = url

    def kubectl(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        exe = require_program("kubectl")
        out = subprocess.run([exe, "--kubeconfig", str(self.kubeconfig), *args],
                             capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({out.returncode}):\n"
                                 f"{out.stdout}\n{out.stderr}")
        return out


def start_headless(*extra: str) -> HeadlessDrill:
    """Start the headless drill cluster and wait for its announced kubeconfig line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "demo", "--headless", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    kubeconfig = url = None
    deadline = time.monotonic() + 20
    assert proc.stdout is not None
    while time.monotonic() < deadline and (kubeconfig is None or url is None):
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("kubeconfig: "):
            kubeconfig = Path(line.split(": ", 1)[1].strip())
        elif line.startswith("api: "):
            url = line.split(": ", 1)[1].strip()
    if kubeconfig is None or url is None:
        proc.kill()
        raise AssertionError(f"headless drill did not start: {proc.stderr.read() if proc.stderr else ''}")
    return HeadlessDrill(proc, kubeconfig, url)


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
def tdrill(tmp_path: Path) -> Iterator[ThreadedDrill]:
    drill = ThreadedDrill(tmp_path, bookmark_interval=0.2, simulate=False)
    try:
        yield drill
    finally:
        drill.close()
