"""Shared by the several-clusters tests (issue 18): the headless drill fleet as a child
process (``controlroom demo --headless --clusters ...``), read like tests/conftest.py's
``start_headless`` reads one cluster."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT, require_program
from tests.waiting import StreamReader


@dataclass
class HeadlessFleet:
    proc: subprocess.Popen[str]
    kubeconfig: Path
    #: context -> API server URL, as announced (``api prod: URL (scenario ...)``).
    apis: dict[str, str] = field(default_factory=dict)
    scenarios: dict[str, str] = field(default_factory=dict)

    def kubectl(self, context: str, *args: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([require_program("kubectl"), "--kubeconfig", str(self.kubeconfig),
                              "--context", context, *args],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, f"kubectl {args} on {context}: {out.stderr}"
        return out


@contextlib.contextmanager
def headless_fleet(clusters: str, *extra: str) -> Iterator[HeadlessFleet]:
    """The drill fleet of ``--clusters`` (no real servers) until the block ends."""
    require_program("kubectl")
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlroom", "demo", "--headless", "--no-servers",
         "--clusters", clusters, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    out = StreamReader(proc.stdout, "fleet stdout")
    err = StreamReader(proc.stderr, "fleet stderr")
    try:
        try:
            text = out.wait_for("\nmetrics: ", timeout=120)
        except AssertionError as exc:
            raise AssertionError(f"fleet did not start: {exc}\nstderr:\n{err.text}") from None
        fleet = HeadlessFleet(proc, Path("/nonexistent"))
        for line in text.splitlines():
            key, _, value = line.partition(": ")
            if key == "kubeconfig":
                fleet.kubeconfig = Path(value.strip())
            elif key.startswith("api "):
                url, _, scenario = value.partition(" (scenario ")
                fleet.apis[key.removeprefix("api ")] = url.strip()
                fleet.scenarios[key.removeprefix("api ")] = scenario.rstrip(")")
        yield fleet
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
