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


@contextlib.asynccontextmanager
async def drill_fleet(tmp: Path, clusters: str = "staging,prod"):  # type: ignore[no-untyped-def]
    """The drill fleet in-process on the test's loop, scenario time moving only when the
    test advances it (prod's bad rollout is failing 200 s in)."""
    from drill.fleet import DrillFleet, parse_clusters
    from drill.runner import DrillOptions

    fleet = DrillFleet(DrillOptions(kubeconfig=tmp / "kubeconfig", bookmark_interval=0.2,
                                    manual_clock=True), parse_clusters(clusters))
    await fleet.start()
    try:
        yield fleet
    finally:
        await fleet.stop()


def fleet_app(fleet: object, settings_text: str, journal: Path) -> object:
    """The control room on every drill cluster of ``fleet``, wired as ``controlroom --context
    staging --context prod`` wires it (tui/run_fleet.py)."""
    from backends.config import parse
    from tui.app import ControlRoomApp
    from tui.run import _sources
    from tui.run_fleet import _member

    settings = parse(settings_text)
    members = [_member(settings, name, f"drill {name}", False, [], {
        "kubeconfig": lambda: str(fleet.kubeconfig), "context": name,  # type: ignore[attr-defined]
        "namespaces": None}) for name in fleet.clusters]  # type: ignore[attr-defined]
    assert all(callable(m.starter) for m in members) and _sources
    first, *others = members
    return ControlRoomApp(first.settings, None, first.target, first.starter,
                          journal_path=journal, watch=others)
