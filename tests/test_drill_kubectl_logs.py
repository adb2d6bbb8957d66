"""``kubectl logs`` against the drill: the real client reads the drill's log subresource.

The bad-rollout drill runs on a manual clock in a thread (:class:`ThreadedDrill`); a test
advances scenario time until a 1.5.0 container has crashed, then runs the real kubectl:
``logs`` and ``logs --previous`` show the traceback, ``--previous`` of a container that never
restarted fails with the kubelet's words, ``-f`` streams new lines as scenario time passes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from drill.controllers.scenarios import BAD_CHECKOUT_IMAGE
from drill.resources import BY_KEY
from tests.conftest import ThreadedDrill, require_program
from tests.ops_support import START
from tests.waiting import StreamReader, wait_until

pytestmark = pytest.mark.kubectl

PODS = BY_KEY["pods"]


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadedDrill, str]]:
    """The bad-rollout drill once a 1.5.0 checkout pod has crashed twice; its name."""
    require_program("kubectl")
    drill = ThreadedDrill(tmp_path_factory.mktemp("kubectl-logs"), scenario="bad-rollout",
                          manual_clock=True, start=START, bookmark_interval=0.2)
    try:
        name = ""
        for _ in range(300):
            name = str(drill.call(_crashed_pod, drill) or "")
            if name:
                break
            drill.call(drill.cluster.sim.advance, 1.0)
        assert name, "no 1.5.0 pod crashed twice within 300 scenario seconds"
        yield drill, name
    finally:
        drill.close()


def _crashed_pod(drill: ThreadedDrill) -> str | None:
    for pod in drill.cluster.state.objects(PODS, "checkout"):
        cs = (pod.get("status", {}).get("containerStatuses") or [{}])[0]
        if cs.get("image") == BAD_CHECKOUT_IMAGE and cs.get("restartCount", 0) >= 2:
            return str(pod["metadata"]["name"])
    return None


def kubectl(drill: ThreadedDrill, *args: str) -> subprocess.CompletedProcess[str]:
    exe = require_program("kubectl")
    return subprocess.run([exe, "--kubeconfig", str(drill.kubeconfig), *args],
                          capture_output=True, text=True, timeout=60)


def healthy_pod(drill: ThreadedDrill) -> str:
    def find() -> str:
        return sorted(p["metadata"]["name"] for p in drill.cluster.state.objects(PODS, "catalog"))[0]
    return str(drill.call(find))


def test_kubectl_logs_and_logs_previous_show_the_crash(crashed: tuple[ThreadedDrill, str]
                                                       ) -> None:
    drill, pod = crashed
    current = kubectl(drill, "logs", "-n", "checkout", pod)
    assert current.returncode == 0, current.stderr
    assert "Traceback (most recent call last):" in current.stdout
    previous = kubectl(drill, "logs", "-n", "checkout", pod, "--previous")
    assert previous.returncode == 0, previous.stderr
    assert previous.stdout.rstrip().endswith(
        "checkout.settings.SettingMissing: required setting TAX_SERVICE_URL is not set "
        "(new in 1.5.0)")
    described = kubectl(drill, "describe", "pod", "-n", "checkout", pod)
    assert "Last State:     Terminated" in described.stdout
    assert "Exit Code:    1" in described.stdout


def test_kubectl_logs_previous_without_a_restart_fails_with_the_kubelets_words(
        crashed: tuple[ThreadedDrill, str]) -> None:
    drill, _ = crashed
    pod = healthy_pod(drill)
    out = kubectl(drill, "logs", "-n", "catalog", pod, "--previous")
    assert out.returncode != 0
    assert (f'Error from server (BadRequest): previous terminated container "catalog" in pod '
            f'"{pod}" not found') in out.stderr


def test_kubectl_logs_tail_timestamps_since_and_limit_bytes(
        crashed: tuple[ThreadedDrill, str]) -> None:
    drill, _ = crashed
    pod = healthy_pod(drill)
    out = kubectl(drill, "logs", "-n", "catalog", pod, "--tail=3", "--timestamps")
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and len(lines) == 3
    assert all(line[:4].isdigit() and line[19:20] == "." and line[29:31] == "Z " for line in lines)
    recent = kubectl(drill, "logs", "-n", "catalog", pod, "--since=20s").stdout.splitlines()
    assert 0 < len(recent) <= 5  # one request line every 5 s
    assert len(kubectl(drill, "logs", "-n", "catalog", pod, "--limit-bytes=30").stdout) == 30
    via_deployment = kubectl(drill, "logs", "-n", "catalog", "deployment/catalog", "--tail=1")
    assert via_deployment.returncode == 0 and len(via_deployment.stdout.splitlines()) == 1


def test_kubectl_logs_follow_streams_what_the_container_writes(
        crashed: tuple[ThreadedDrill, str]) -> None:
    drill, _ = crashed
    pod = healthy_pod(drill)
    exe = require_program("kubectl")
    proc = subprocess.Popen([exe, "--kubeconfig", str(drill.kubeconfig), "logs", "-f", "-n",
                             "catalog", pod, "--tail=1", "--timestamps"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = StreamReader(proc.stdout, "kubectl logs -f")
    err = StreamReader(proc.stderr, "kubectl logs -f stderr")
    try:
        first = out.wait_for("\n")
        assert len(first.splitlines()) == 1, err.text
        start = _scenario_now(drill)
        drill.call(drill.cluster.sim.advance, 10.0)  # two new request lines
        text = _wait_lines(out, 3)
        stamps = [line.split(" ", 1)[0] for line in text.splitlines()]
        assert stamps == sorted(stamps) and stamps[-1] > start
        assert proc.poll() is None, "kubectl -f must keep following a running container"
    finally:
        proc.terminate()
        proc.wait(10)


def _scenario_now(drill: ThreadedDrill) -> str:
    now: Any = drill.call(drill.cluster.clock.now)
    return str(now.strftime("%Y-%m-%dT%H:%M:%S"))


def _wait_lines(reader: StreamReader, count: int) -> str:
    return str(wait_until(lambda: reader.text if len(reader.text.splitlines()) >= count
                          and reader.text.endswith("\n") else "", f"{count} lines"))
