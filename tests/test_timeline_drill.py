"""Issue 17, point 7 end to end: the bad-rollout drill recorded by ``controlroom record`` (a
child process, with the drill's real Prometheus as its alert source) and exported by
``controlroom timeline``: the timeline names the image change of checkout-stable, its actor
(the Argo CD sync that applied it) and ties PodCrashLooping to it.

The drill runs on a manual clock moved by the test (so the recorder is watching before the
bad commit lands); Prometheus scrapes and evaluates in real time (1 s, ``for: 5s`` in the
drill's rules), so the test keeps moving the clock until the alert has been recorded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.timeline.store import TimelineFileError, read_entries
from drill.controllers.scenarios import BAD_CHECKOUT_IMAGE
from tests.conftest import ROOT, ThreadedDrill, require_program
from tests.waiting import StreamReader, wait_until

COMMAND = [sys.executable, "-m", "controlroom"]


@pytest.fixture
def prometheus_drill(tmp_path: Path) -> Iterator[ThreadedDrill]:
    """bad-rollout on a manual clock, scraped by a real Prometheus."""
    require_program("prometheus")
    drill = ThreadedDrill(tmp_path, scenario="bad-rollout", manual_clock=True,
                          bookmark_interval=0.2, servers=True, server_names=("prometheus",))
    try:
        servers = drill.cluster.servers
        if servers is None or servers.prometheus is None:
            raise AssertionError("the drill's Prometheus did not start: " + "; ".join(
                p.line() for p in (servers.problems if servers else [])))
        yield drill
    finally:
        drill.close()


def _crash_recorded(path: Path) -> bool:
    try:
        return any(e.name == "PodCrashLooping" and e.after == "firing"
                   for e in read_entries(path, kinds=["alert"]))
    except TimelineFileError:  # not created yet, or mid-creation
        return False


def test_bad_rollout_recorded_then_exported_ties_the_crash_to_the_argo_cd_image_change(
        prometheus_drill: ThreadedDrill, tmp_path: Path) -> None:
    drill = prometheus_drill
    servers = drill.cluster.servers
    assert servers is not None and servers.prometheus is not None
    config = tmp_path / "config.toml"
    config.write_text(f'[prometheus]\nurl = "{servers.prometheus.url}"\ninterval = 1\n')
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLROOM_")}
    flags = ["--kubeconfig", str(drill.kubeconfig), "--config", str(config),
             "--state-dir", str(state)]
    proc = subprocess.Popen([*COMMAND, "record", *flags], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            stdin=subprocess.DEVNULL)
    out = StreamReader(proc.stdout, "record stdout")
    err = StreamReader(proc.stderr, "record stderr")
    try:
        started = out.wait_for("recording: ", timeout=90)
        line = next(x for x in started.splitlines() if x.startswith("recording: "))
        context = line.removeprefix("recording: context ").split(" to ", 1)[0]
        path = Path(line.split(" to ", 1)[1].removesuffix(" (resumed)"))

        def advanced_and_recorded() -> bool:
            if _crash_recorded(path):
                return True
            drill.call(drill.cluster.sim.advance, 10)
            return False

        wait_until(advanced_and_recorded, "PodCrashLooping recorded", timeout=240, interval=1.0)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0, err.text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def export(fmt: str) -> str:
        done = subprocess.run([*COMMAND, "timeline", context, "--format", fmt, *flags],
                              cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        return done.stdout

    doc = json.loads(export("json"))
    crash = [c for c in doc["correlations"]
             if doc["entries"][c["alert"]]["name"] == "PodCrashLooping"]
    assert crash, doc["correlations"]
    first = crash[0]
    change = first["change"]
    assert change is not None, first["words"]
    assert change["kind"] == "spec" and change["object_kind"] == "Deployment"
    assert (change["namespace"], change["name"]) == ("checkout", "checkout-stable")
    assert BAD_CHECKOUT_IMAGE in change["change"]
    assert change["actor"] == "argocd-controller (Update)"
    sync = first["carried_by"]
    assert sync is not None and sync["kind"] == "sync" and sync["app"] == "checkout"
    assert sync["actor"] == "argocd (automated)" and sync["revision"]
    words = first["words"]
    assert words.startswith("PodCrashLooping on checkout-stable ")
    assert f"after image {BAD_CHECKOUT_IMAGE} synced by argocd (automated) at rev " \
        f"{sync['revision'][:12]}" in words
    markdown = export("md")
    fired = markdown.split("## What fired", 1)[1].split("## What we did", 1)[0]
    assert words.replace("_", "\\_") in fired or words in fired
    changed = markdown.split("## What changed", 1)[1].split("## What fired", 1)[0]
    assert BAD_CHECKOUT_IMAGE in changed and "argocd (automated)" in changed
