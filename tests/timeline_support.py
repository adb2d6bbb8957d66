"""Helpers of the timeline tests (issue 17): ``controlroom record`` as a child process
against the drill, and the manual clock moved until the recording shows something."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from backends.timeline.entry import TimelineEntry
from backends.timeline.store import TimelineReader, read_entries
from drill.resources import BY_KEY
from tests.conftest import ROOT, ThreadedDrill
from tests.waiting import StreamReader, wait_until

__all__ = ["COMMAND", "DEPLOYMENTS", "Recording", "advance_until", "find", "frames", "killed_at_the_end"]

COMMAND = [sys.executable, "-m", "controlroom"]
DEPLOYMENTS = BY_KEY["deployments.apps"]


class Recording:
    """``controlroom record`` as a child process, with its output read on threads."""

    def __init__(self, kubeconfig: Path, tmp: Path, output: Path, *extra: str,
                 config_text: str = "") -> None:
        config = tmp / "config.toml"
        config.write_text(config_text)
        self.output = output
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLROOM_")}
        self.args = [*COMMAND, "record", "--kubeconfig", str(kubeconfig), "--config",
                     str(config), "--state-dir", str(tmp / "state"), "-o", str(output),
                     *extra]
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=self.env,
                                     stdin=subprocess.DEVNULL)
        self.out = StreamReader(self.proc.stdout, "record stdout")
        self.err = StreamReader(self.proc.stderr, "record stderr")

    def started(self) -> Recording:
        """Wait until it recorded its first keyframe (the first lists are in)."""
        self.out.wait_for("recording: ", timeout=60)
        wait_until(lambda: self.output.exists() and frames(self.output),
                   "the first keyframe", timeout=60, interval=0.2)
        return self

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(30)
        assert self.proc.returncode == 0, self.err.text
        assert "Traceback" not in self.err.text
        return self.out.text

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def frames(path: Path) -> list[float]:
    with TimelineReader(path, check=False) as reader:
        return reader.frame_times()


def killed_at_the_end() -> Iterator[list[Recording]]:
    """The body of a module's ``recordings`` fixture: the recordings a test started, killed
    at its end if they still run."""
    started: list[Recording] = []
    yield started
    for rec in started:
        rec.kill()


def find(path: Path, match: Callable[[TimelineEntry], bool]) -> TimelineEntry | None:
    return next((e for e in read_entries(path, newest_first=False) if match(e)), None)


def advance_until(drill: ThreadedDrill, what: str,
                  found: Callable[[], TimelineEntry | None]) -> TimelineEntry:
    """Move the drill's manual clock forward 10 s at a time until ``found`` finds it (the
    recorder sees each step through its watches and commits within a second)."""
    for _ in range(40):
        hit = found()
        if hit is not None:
            return hit
        drill.call(drill.cluster.sim.advance, 10)
        try:
            return wait_until(found, what, timeout=3, interval=0.2)
        except AssertionError:
            continue
    raise AssertionError(f"never recorded: {what}")


