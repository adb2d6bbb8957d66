"""Snapshot tests of the bad-rollout drill at the three sizes on-call people use (issue 15).

The drill runs ``bad-rollout`` on a manual clock from a fixed start, moved to a fixed scenario
time at which checkout's new pods crash-loop, the Deployment has passed its progress deadline,
the Argo CD app is Degraded and the alerts fire. Everything the drill names is a function of
its inputs (ReplicaSets by the pod template's hash, pods by ReplicaSet, index and scenario
time), so the same run gives the same screen. The App's clock is frozen a little after that
scenario time, so every age is fixed too.

The alerts are Alertmanager's answer for that moment, decoded by the App's own decoder and
handed to its store: the real servers evaluate on wall-clock time, which no snapshot can
freeze (tests/test_app_alerts.py runs the real ones).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from backends.config import Settings
from backends.signals.alertmanager import decode_alerts
from backends.signals.model import ALERTS
from drill.resources import BY_KEY
from tests.conftest import ThreadedDrill
from tests.test_app import starter
from tests.test_snapshots import START, loaded, settled
from tests.waiting import pilot_until
from tui.app import ControlRoomApp, Target

#: Scenario seconds after the start: the bad commit lands at 15 s, the progress deadline is
#: 90 s, so by 240 s the rollout has stalled and the pods have restarted several times.
AT = 240.0
NOW = START.timestamp() + AT + 30
PODS = BY_KEY["pods"]


@pytest.fixture
def rollout_drill(tmp_path: Path) -> Iterator[ThreadedDrill]:
    drill = ThreadedDrill(tmp_path, scenario="bad-rollout", manual_clock=True, start=START,
                          bookmark_interval=60.0)
    try:
        drill.call(drill.cluster.sim.advance, AT)
        yield drill
    finally:
        drill.close()


def crashing_pods(drill: ThreadedDrill) -> list[str]:
    """The checkout pods the drill has crash-looping at :data:`AT`, by name."""
    def names() -> list[str]:
        out = []
        for pod in drill.cluster.state.readable(PODS):
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            if any(((s.get("state") or {}).get("waiting") or {}).get("reason")
                   == "CrashLoopBackOff" or s.get("restartCount", 0) for s in statuses):
                out.append(pod["metadata"]["name"])
        return sorted(out)
    return drill.call(names)  # type: ignore[return-value]


def alertmanager_answer(pods: list[str]) -> bytes:
    """``GET /api/v2/alerts`` as the drill's Alertmanager answers it at :data:`AT` (the rules
    of drill/rules/platform.yml for the crash-looping pods, the stalled Deployment and the
    app's error ratio)."""
    def at(seconds: float) -> str:
        return (START + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

    def alert(labels: dict[str, str], summary: str, since: float) -> dict[str, Any]:
        labels = {"namespace": "checkout", **labels}
        digest = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()
        return {"labels": labels, "annotations": {"summary": summary},
                "startsAt": at(since), "endsAt": at(AT + 240),
                "fingerprint": digest[:16],
                "receivers": [{"name": "on-call"}], "status": {"state": "active"},
                "generatorURL": ""}

    alerts = [alert({"alertname": "PodCrashLooping", "severity": "critical", "pod": pod,
                     "container": "checkout"}, "Pod is crash looping", 120) for pod in pods]
    alerts.append(alert({"alertname": "DeploymentReplicasMismatch", "severity": "warning",
                         "deployment": "checkout-stable"},
                        "Deployment has mismatched replicas", 150))
    alerts.append(alert({"alertname": "AppHighErrorRatio", "severity": "critical",
                         "app": "checkout"}, "App answers more than 5% errors", 90))
    return json.dumps(alerts).encode()


def rollout_dashboard(drill: ThreadedDrill) -> ControlRoomApp:
    target = Target(cluster="drill", context="drill", production=False, read_only=False)
    return ControlRoomApp(Settings(), None, target, starter(drill.cluster),
                          theme="controlroom-dark", clock=lambda: NOW,
                          journal_path=drill.kubeconfig.parent / "journal.sqlite3")


def broken(drill: ThreadedDrill) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Wait for every panel loaded (see tests/test_snapshots.py) with Alertmanager's answer in
    the store and the crash loop, the stalled rollout and the Degraded app on screen."""
    pods = crashing_pods(drill)
    assert pods, "the drill has no crash-looping pod at the snapshot's scenario time"
    rows = decode_alerts(alertmanager_answer(pods)).rows[ALERTS]

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, ControlRoomApp)
        app.store.set_health("alertmanager", "connected")
        app.store.apply(ALERTS, [("MODIFIED", row) for row in rows])
        await loaded(pilot)
        await pilot_until(pilot, lambda: broken_on_screen(app), "the crash loop, the stalled "
                          "rollout, the Degraded app and the alerts on screen", timeout=60)
        await settled(pilot)

    return run_before


def broken_on_screen(app: ControlRoomApp) -> bool:
    """The trouble line (redrawn every second, so it can land after the panels) names the
    crash loop, the stalled rollout, the Degraded app and every firing alert, and the pods
    panel has the crash-looping pod."""
    trouble = app.trouble.line.plain
    words = ("CrashLoopBackOff", "stalled", "app Degraded", "AppHighErrorRatio firing",
             "PodCrashLooping firing", "DeploymentReplicasMismatch firing")
    return all(word in trouble for word in words) and "CrashLoopBackOff" in str(
        app.export_screenshot())


def test_bad_rollout_200x50(snap_compare: Any, rollout_drill: ThreadedDrill) -> None:
    """The grid at 200x50: the trouble line names checkout's crash loop, the Degraded app and
    the firing alerts; pods shows CrashLoopBackOff with restarts, workloads the stalled
    rollout, Argo CD checkout Synced/Degraded, alerts their names and summaries, events
    their reasons and messages."""
    assert snap_compare(rollout_dashboard(rollout_drill), terminal_size=(200, 50),
                        run_before=broken(rollout_drill))


def test_bad_rollout_120x35(snap_compare: Any, rollout_drill: ThreadedDrill) -> None:
    """A laptop's terminal: still the grid, with each panel's STATUS and HEALTH columns and
    the alert names kept."""
    assert snap_compare(rollout_dashboard(rollout_drill), terminal_size=(120, 35),
                        run_before=broken(rollout_drill))


def test_bad_rollout_80x24(snap_compare: Any, rollout_drill: ThreadedDrill) -> None:
    """A small terminal: one panel at a time with the pager line and the trouble line."""
    assert snap_compare(rollout_dashboard(rollout_drill), terminal_size=(80, 24),
                        run_before=broken(rollout_drill))


def test_bad_rollout_names_its_pods_the_same_whatever_the_start(tmp_path: Path) -> None:
    """The snapshots above hold because the drill's pod names are a function of the pod
    template (the ReplicaSet's hash) and an index, not of the clock: two drills started hours
    apart name the crash-looping pods of the bad rollout alike."""
    names = []
    for n, start in enumerate((START, START + timedelta(hours=3, seconds=17))):
        drill = ThreadedDrill(tmp_path / str(n), scenario="bad-rollout", manual_clock=True,
                              start=start, bookmark_interval=60.0)
        try:
            drill.call(drill.cluster.sim.advance, AT)
            names.append(crashing_pods(drill))
        finally:
            drill.close()
    assert names[0], "no crash-looping pod"
    assert names[0] == names[1]
