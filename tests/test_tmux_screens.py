"""The on-call screen at the three sizes people really use, read off a real terminal (issue 15).

One headless ``bad-rollout`` drill (ten times faster, with its real Prometheus and
Alertmanager) and the control room started on it by its command line, exactly as an engineer
would, inside detached tmux sessions of 200x50, 120x35 and 80x24. Each screen is read back
with ``tmux capture-pane -p`` until the words the engineer needs are on it: the test fails
naming the missing words and showing the last screen. The sessions run in parallel, each on
its own tmux server socket, killed at the end whatever happens.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, HeadlessDrill, headless_drill, require_program
from tests.waiting import wait_until

pytestmark = pytest.mark.tmux

#: Words that must be on screen at each size once the rollout has gone bad.
WORDS: dict[tuple[int, int], tuple[str, ...]] = {
    # The grid with room: the event's reason and message, the alert's name and summary, the
    # route's weights, the app's sync and health, the trouble line.
    (200, 50): ("BackOff", "Back-off restarting failed container", "PodCrashLooping",
                "Pod is crash looping", "App answers more than 5% errors",
                "checkout-stable:90 checkout-canary:10", "Synced",
                "Degraded", "CrashLoopBackOff", "checkout: "),
    # A laptop: node, pod and route STATUS, Argo CD HEALTH, alert names.
    (120, 35): ("STATUS", "Ready", "CrashLoopBackOff", "OK", "HEALTH", "Degraded",
                "PodCrashLooping", "AppHighErrorRatio"),
    # A small terminal: one panel's rows (the worst trouble's: the crash-looping pod, not the
    # calm nodes), the pager line naming the others, the trouble line.
    (80, 24): ("checkout-stable-", "CrashLoopBackOff", "Nodes", "Workloads", "Argo CD", "Alerts",
               "checkout: "),
}


@pytest.fixture(scope="module")
def drill() -> Iterator[HeadlessDrill]:
    require_program("prometheus")
    require_program("prometheus-alertmanager")
    with headless_drill("--scenario", "bad-rollout", "--speed", "10", servers=True) as d:
        yield d


def config_for(drill: HeadlessDrill, tmp: Path) -> Path:
    """The control room's configuration: the drill's own Prometheus and Alertmanager."""
    path = tmp / "controlroom.toml"
    path.write_text(f"""
[prometheus]
url = "{drill.servers['prometheus']}"
interval = 1
[alertmanager]
url = "{drill.servers['alertmanager']}"
interval = 1
""")
    return path


def capture(tmux: str, socket: str) -> str:
    out = subprocess.run([tmux, "-L", socket, "capture-pane", "-p", "-t", "cr"],
                         capture_output=True, text=True, timeout=10)
    return out.stdout


def test_words_on_screen_at_each_size(drill: HeadlessDrill, tmp_path: Path) -> None:
    tmux = require_program("tmux")
    assert {"prometheus", "alertmanager"} <= set(drill.servers), drill.servers
    config = config_for(drill, tmp_path)
    sockets = {size: f"controlroom-test-{uuid.uuid4().hex[:8]}" for size in WORDS}
    # A new tmux server hands its environment to the program; COLUMNS and LINES there (as a
    # test runner may set) would override the terminal's real size.
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
    try:
        for (width, height), socket in sockets.items():
            state = tmp_path / f"state-{width}x{height}"
            subprocess.run(
                [tmux, "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "cr",
                 "-x", str(width), "-y", str(height), "-c", str(ROOT),
                 sys.executable, "-m", "controlroom", "--config", str(config),
                 "--kubeconfig", str(drill.kubeconfig), "--state-dir", str(state)],
                check=True, timeout=10, env=env)
        for (width, height), socket in sockets.items():
            words = WORDS[(width, height)]
            missing: list[str] = []

            def all_there(socket: str = socket, words: tuple[str, ...] = words,
                          missing: list[str] = missing) -> bool:
                screen = capture(tmux, socket)
                missing[:] = [w for w in words if w not in screen]
                return not missing

            try:
                wait_until(all_there, f"{words} on the {width}x{height} screen", timeout=120,
                           interval=0.5)
            except AssertionError:
                raise AssertionError(
                    f"at {width}x{height} missing {missing}; the screen:\n"
                    + capture(tmux, socket)) from None
    finally:
        for socket in sockets.values():
            subprocess.run([tmux, "-L", socket, "kill-server"], capture_output=True,
                           timeout=10)
