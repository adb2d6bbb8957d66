"""Baseline, diff and validate end to end: the real CLI as a subprocess against the drill.

The drill runs in a thread with a manual clock (:class:`ThreadedDrill`), so the scenario moves
only when the test advances it: the baseline is taken while ``bad-rollout`` is still calm
(the bad commit lands at t+15 s), then 150 scenario seconds pass and the checkout pods
crash-loop. Every command is the installed ``controlroom`` entry point run as a child process
with the drill's kubeconfig, exactly what a pipeline would run.

The alerts test uses the ``prom_stack`` fixture (a real Prometheus and Alertmanager scraping the
drill in real time at 10x), handing their URLs to the commands with ``--prometheus`` and
``--alertmanager``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from controlroom.launch import main
from tests.conftest import ROOT, PromStack, ThreadedDrill

Run = Callable[..., subprocess.CompletedProcess[str]]
REASON = "INC-7 drill rollback"


def runner(tmp_path: Path, kubeconfig: Path) -> Run:
    """``controlroom ARGS --kubeconfig K`` with an empty config and its own dirs."""
    config = tmp_path / "config.toml"
    config.write_text("")
    env = {**os.environ, "CONTROLROOM_CONFIG": str(config),
           "CONTROLROOM_SNAPSHOT_DIR": str(tmp_path / "snapshots"),
           "CONTROLROOM_STATE_DIR": str(tmp_path / "state")}

    def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "controlroom", *args,
                               "--kubeconfig", str(kubeconfig)],
                              cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env=env, stdin=subprocess.DEVNULL)

    return run


def advance(drill: ThreadedDrill, seconds: float) -> None:
    drill.call(drill.cluster.sim.advance, seconds)


def failures(report: str) -> dict[str, str]:
    """JUnit testcase name -> failure text, for the failed ones."""
    root = ET.fromstring(report)
    out = {}
    for case in root.iter("testcase"):
        failure = case.find("failure")
        if failure is not None:
            out[case.attrib["name"].split(":")[0]] = (failure.attrib["message"] + "\n"
                                                      + (failure.text or ""))
    return out


def test_bad_rollout_is_caught_and_a_rollback_passes_validation(
        bad_rollout: ThreadedDrill, tmp_path: Path) -> None:
    run = runner(tmp_path, bad_rollout.kubeconfig)
    advance(bad_rollout, 5)  # calm: the bad commit lands at t+15 s
    base = tmp_path / "base.json"
    out = run("snapshot", "-o", str(base), "--change-id", "CHG-7")
    assert out.returncode == 0, out.stderr
    assert f"snapshot: {base}" in out.stdout
    assert stat.S_IMODE(base.stat().st_mode) == 0o600
    record = json.loads(base.read_text())
    ticked = {i["id"]: i["done"] for i in record["checklist"]["items"]}
    assert ticked["baseline"] is True and ticked["validation"] is False
    assert record["change_id"] == "CHG-7" and record["context"] == "drill"
    calm = run("validate", "--baseline", str(base))
    assert calm.returncode == 0, calm.stdout + calm.stderr

    advance(bad_rollout, 150)
    out = run("diff", str(base))
    assert out.returncode == 1, out.stdout + out.stderr
    text = out.stdout
    assert "checkout/checkout-stable-" in text and "CrashLoopBackOff" in text
    assert "checkout/checkout-stable: replica mismatch" in text
    assert "argocd/checkout: health Degraded" in text
    assert "Deployment/checkout/checkout-stable: restarts +" in text
    # Worst first: the degraded app's group comes before the informative events.
    assert text.index("apps (") < text.index("events (")

    report = tmp_path / "report.xml"
    out = run("validate", "--baseline", str(base), "--format", "junit", "-o", str(report))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAILED" in out.stdout and f"report: {report}" in out.stdout
    failed = failures(report.read_text())
    assert "argocd/checkout" in failed["apps-healthy"]
    assert "checkout/checkout-stable" in failed["workloads-ready"]
    assert "CrashLoopBackOff" in failed["no-regression-pods"]
    assert "checkout/checkout-stable: replica mismatch" in failed["no-regression-workloads"]
    assert "nodes-ready" not in failed and "critical-namespaces-running" not in failed

    # The on-call's rollback: pause auto-sync, roll the app back to the previous revision.
    flags = ("--reason", REASON, "--yes", "--state-dir", str(tmp_path / "state"))
    out = run("pause-sync", "checkout", *flags)
    assert out.returncode == 0, out.stdout + out.stderr
    out = run("rollback", "app", "checkout", "--no-wait", *flags)
    assert out.returncode == 0, out.stdout + out.stderr
    advance(bad_rollout, 180)

    out = run("validate", "--baseline", str(base), "--format", "json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert '"passed": true' in out.stdout
    out = run("diff", str(base))
    assert out.returncode == 0, out.stdout
    assert "auto-sync is paused (expected after a rollback)" in out.stdout
    # The baseline was only read: it still parses to the same calm document.
    assert '"change_id": "CHG-7"' in base.read_text()


def test_snapshot_without_output_goes_to_the_snapshots_dir(
        bad_rollout: ThreadedDrill, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """In-process this time (``controlroom.launch.main``), which is quicker than a child process."""
    (tmp_path / "config.toml").write_text("")
    monkeypatch.setenv("CONTROLROOM_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("CONTROLROOM_SNAPSHOT_DIR", str(tmp_path / "snapshots"))
    kube = ("--kubeconfig", str(bad_rollout.kubeconfig))
    assert main(["snapshot", *kube]) == 0
    assert main(["snapshot", *kube]) == 0
    files = sorted((tmp_path / "snapshots").glob("baseline-drill-*.json"))
    assert len(files) == 2, files  # never the same name twice, even within one second
    assert stat.S_IMODE((tmp_path / "snapshots").stat().st_mode) == 0o700
    assert capsys.readouterr().out.count("snapshot: ") == 2
    assert main(["diff", str(files[0]), str(files[1])]) == 0
    assert "nothing changed" in capsys.readouterr().out


def test_new_alerts_since_the_baseline(prom_stack: PromStack, tmp_path: Path) -> None:
    run = runner(tmp_path, prom_stack.kubeconfig)
    urls = ("--prometheus", prom_stack.prometheus_url,
            "--alertmanager", prom_stack.alertmanager_url)
    base = tmp_path / "base.json"
    out = run("snapshot", "-o", str(base), *urls)
    assert out.returncode == 0, out.stderr
    assert "not captured: alerts" not in out.stdout, out.stdout
    prom_stack.wait_firing("PodCrashLooping", "DeploymentReplicasMismatch")
    prom_stack.wait_active("PodCrashLooping")

    out = run("diff", str(base), *urls)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "new critical alert firing" in out.stdout or "new critical alert active" in out.stdout
    assert "PodCrashLooping" in out.stdout and "DeploymentReplicasMismatch" in out.stdout

    out = run("validate", "--baseline", str(base), "--format", "junit", *urls)
    assert out.returncode == 1, out.stdout + out.stderr
    failed = failures(out.stdout)
    assert "PodCrashLooping" in failed["no-regression-alerts"]
    assert "PodCrashLooping" in failed["alerts-quiet"]


def test_capacity_lost_after_a_pause_is_caught(tmp_path: Path) -> None:
    """Issue 13 point 4, the issue's own steps: take a baseline, pause the app, scale
    monitoring/alertmanager 2 -> 0. `diff` called it "changed: desired replicas 2 -> 0"
    (exit 0) and `validate --baseline` passed; now both exit 1 naming it."""
    drill = ThreadedDrill(tmp_path, scenario="calm", manual_clock=True, bookmark_interval=0.2)
    try:
        run = runner(tmp_path, drill.kubeconfig)
        advance(drill, 5)
        base = tmp_path / "base.json"
        out = run("snapshot", "-o", str(base))
        assert out.returncode == 0, out.stderr
        served = next(w for w in json.loads(base.read_text())["workloads"]
                      if w["name"] == "alertmanager")
        assert served["available"] == 2, served
        flags = ("--reason", REASON, "--yes", "--state-dir", str(tmp_path / "state"))
        out = run("pause-sync", "monitoring", *flags)
        assert out.returncode == 0, out.stdout + out.stderr
        out = run("scale", "monitoring/alertmanager", "0", *flags)
        assert out.returncode == 0, out.stdout + out.stderr
        advance(drill, 60)
        out = run("diff", str(base))
        assert out.returncode == 1, out.stdout + out.stderr
        assert "WORSE   monitoring/alertmanager: serves nothing: 0 available (was 2)" \
            in out.stdout
        out = run("validate", "--baseline", str(base))
        assert out.returncode == 1, out.stdout + out.stderr
        assert "FAIL no-regression-workloads" in out.stdout
        assert "monitoring/alertmanager: serves nothing" in out.stdout
    finally:
        drill.close()


def test_a_node_that_does_not_decode_makes_nodes_cannot_check(tmp_path: Path) -> None:
    """Issue 13 point 11: a Node whose ``conditions`` is not a list was dropped and
    `validate` said "PASS nodes-ready". Now the node is named and the nodes checks cannot
    be made (exit 2); `snapshot` refuses, for the nodes could not all be read."""
    from drill.resources import BY_KEY

    drill = ThreadedDrill(tmp_path, scenario="calm", manual_clock=True, bookmark_interval=0.2)
    try:
        rt = BY_KEY["nodes"]

        def smuggle() -> None:
            node = dict(drill.cluster.state.objects(rt, None)[0])
            node["metadata"] = {"name": "broken-node"}
            node["status"] = {"conditions": "Ready"}
            drill.cluster.state.store_unchecked(rt, node)

        drill.call(smuggle)
        run = runner(tmp_path, drill.kubeconfig)
        out = run("validate")
        assert out.returncode == 2, out.stdout + out.stderr
        assert "PASS nodes-ready" not in out.stdout and "???? nodes-ready" in out.stdout
        assert "broken-node" in out.stdout and "could not be decoded" in out.stdout
        out = run("snapshot")
        assert out.returncode == 2 and "broken-node" in out.stderr, out.stderr
        assert not (tmp_path / "snapshots").exists()
    finally:
        drill.close()
