"""The drill's real servers: Prometheus, Alertmanager and Mosquitto as child processes.

Every test here runs the Debian binaries (skipped locally when missing, failing under CI=true);
the configuration functions are checked without processes in test_alert_rules.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from drill import server_configs
from drill.runner import DrillCluster, DrillOptions
from drill.servers import DrillServers, ManagedServer, find_program
from tests.conftest import ROOT, Broker, PromStack, require_program, start_headless
from tests.waiting import StreamReader


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_servers_start_on_free_ports_and_stop_cleanly(tmp_path: Path) -> None:
    for program in ("prometheus", "prometheus-alertmanager", "mosquitto"):
        require_program(program)
    drill = DrillCluster(DrillOptions(kubeconfig=tmp_path / "kubeconfig", simulate=False,
                                      servers=True))
    await drill.start()
    try:
        servers = drill.servers
        assert servers is not None and servers.problems == []
        prom, am, mqtt = servers.prometheus, servers.alertmanager, servers.mosquitto
        assert prom is not None and am is not None and mqtt is not None
        ports = {prom.port, am.port, mqtt.port}
        assert len(ports) == 3 and int(drill.url.rsplit(":", 1)[1]) not in ports
        assert all(listening(p) for p in ports)
        pids = [h.pid for h in (prom, am, mqtt) if h.pid is not None]
        assert len(pids) == 3 and all(alive(pid) for pid in pids)
        assert servers.announce() == [f"prometheus: http://127.0.0.1:{prom.port}",
                                      f"alertmanager: http://127.0.0.1:{am.port}",
                                      f"mqtt: mqtt://127.0.0.1:{mqtt.port}"]
        async with httpx.AsyncClient(timeout=5) as http:
            status = await http.get(f"{servers.alertmanager_url}/api/v2/status")
            # gossip is off, so two drills (or a system Alertmanager) never clash on 9094
            assert status.json()["cluster"]["status"] == "disabled"
            flags = (await http.get(f"{servers.prometheus_url}/api/v1/status/flags")).json()
            assert flags["data"]["web.listen-address"].startswith("127.0.0.1:")
        root = servers.root
        assert root is not None and root.is_dir()
    finally:
        await drill.stop()
    assert not any(alive(pid) for pid in pids)
    assert not root.exists()
    assert not any(listening(p) for p in ports)


async def test_a_missing_binary_is_reported_with_the_install_hint_and_nothing_fails() -> None:
    servers = DrillServers("http://127.0.0.1:1/metrics", finder=lambda name: None)
    await servers.start()
    try:
        assert servers.announce() == []
        assert servers.prometheus_url is None and servers.mqtt_url is None
        assert sorted(servers.missing_programs()) == sorted(
            ["prometheus", "prometheus-alertmanager", "mosquitto"])
        assert all(server_configs.INSTALL_HINT in p.line() for p in servers.problems)
    finally:
        await servers.stop()


async def test_a_server_that_cannot_start_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """A binary that exits at once (here ``false``) is recorded with its log, never raised."""
    false = require_program("false")
    servers = DrillServers(enable=("mqtt",), finder=lambda name: false)
    await servers.start()
    try:
        assert servers.mqtt_url is None
        [problem] = servers.problems
        assert problem.name == "mqtt" and "exited with 1" in problem.message
    finally:
        await servers.stop()


def test_bad_server_names_are_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown drill servers.*grafana"):
        DrillCluster(DrillOptions(servers=True, server_names=("grafana",)))
    with pytest.raises(ValueError, match="metrics URL"):
        DrillServers(None, enable=("prometheus",))


async def test_stop_kills_a_server_that_ignores_sigterm(tmp_path: Path) -> None:
    """The SIGKILL fallback: a process that traps SIGTERM is still gone after stop()."""
    sh = require_program("sh")
    server = ManagedServer("stubborn", tmp_path, lambda port: [], stop_timeout=0.5)
    # never ready (it listens nowhere), so it is started by hand rather than with start()
    server._proc = await asyncio.create_subprocess_exec(
        sh, "-c", "trap '' TERM; echo trapped; while :; do sleep 0.1; done",
        stdout=asyncio.subprocess.PIPE)
    assert server._proc.stdout is not None  # the trap is set before stop() is called:
    assert await server._proc.stdout.readline() == b"trapped\n"  # else SIGTERM would do
    pid = server.pid
    assert pid is not None and alive(pid)
    proc = server._proc
    await server.stop()
    # Killed, not terminated: the fallback really ran (the trap ignored SIGTERM). No clock:
    # how long stop_timeout takes on a loaded machine is not the property.
    assert not alive(pid) and proc.returncode == -signal.SIGKILL


def test_restart_keeps_the_port_and_the_retained_messages(mosquitto: Broker) -> None:
    from paho.mqtt import publish, subscribe

    publish.single("controlroom/breaker/drill", payload=b'{"v":1}', qos=1, retain=True,
                hostname=mosquitto.host, port=mosquitto.port)
    port, pid = mosquitto.port, mosquitto.server.pid
    mosquitto.restart()
    assert mosquitto.server.port == port and mosquitto.server.pid != pid
    assert pid is not None and not alive(pid)
    msg = subscribe.simple("controlroom/breaker/drill", hostname=mosquitto.host,
                           port=mosquitto.port, retained=True, qos=1)
    assert msg.payload == b'{"v":1}' and msg.retain


def test_bad_rollout_fires_in_prometheus_and_reaches_alertmanager(
        prom_stack: PromStack) -> None:
    """The platform's own rules (drill ``for:`` 5s) against the drill's exporter: the crash
    loop and the stalled rollout fire in Prometheus and arrive active in Alertmanager."""
    started = time.monotonic()
    firing = prom_stack.wait_firing("PodCrashLooping", "DeploymentReplicasMismatch",
                                    timeout=50)
    fired_after = time.monotonic() - started
    crash = [a for a in firing if a["labels"]["alertname"] == "PodCrashLooping"]
    assert {a["labels"]["namespace"] for a in crash} == {"checkout"}
    assert all(a["labels"]["severity"] == "critical" for a in crash)
    assert all(a["labels"]["pod"].startswith("checkout-stable-") for a in crash)
    mismatch = [a for a in firing if a["labels"]["alertname"] == "DeploymentReplicasMismatch"]
    assert "checkout-stable" in {a["labels"]["deployment"] for a in mismatch}
    assert all(a["annotations"]["summary"] == "Deployment has mismatched replicas"
               for a in mismatch)
    rules = httpx.get(f"{prom_stack.prometheus_url}/api/v1/rules", timeout=5).json()
    loaded = {r["name"]: r for g in rules["data"]["groups"] for r in g["rules"]}
    assert set(loaded) == {"DeploymentReplicasMismatch", "PodCrashLooping", "NodeNotReady",
                           "AppHighErrorRatio"}
    assert all(r["health"] == "ok" and r["duration"] == 5 for r in loaded.values())
    active = prom_stack.wait_active("PodCrashLooping", "DeploymentReplicasMismatch")
    assert {a["labels"]["alertname"] for a in active} >= {"PodCrashLooping",
                                                          "DeploymentReplicasMismatch"}
    assert all(a["receivers"][0]["name"] == "drill" for a in active)
    print(f"fired after {fired_after:.1f} s, in Alertmanager after "
          f"{time.monotonic() - started:.1f} s")


def test_restart_of_prometheus_keeps_its_url_and_recovers(prom_stack: PromStack) -> None:
    url = prom_stack.prometheus_url
    prom_stack.stop("prometheus")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/-/ready", timeout=2)
    prom_stack.start("prometheus")
    assert prom_stack.prometheus.url == url
    assert httpx.get(f"{url}/-/ready", timeout=5).status_code == 200


def test_headless_demo_prints_the_server_urls_and_stops_them() -> None:
    for program in ("prometheus", "prometheus-alertmanager", "mosquitto"):
        require_program(program)
    drill = start_headless("--scenario", "calm", servers=True)
    try:
        assert drill.servers.keys() == {"prometheus", "alertmanager", "mqtt"}
        assert drill.servers["mqtt"].startswith("mqtt://127.0.0.1:")
        ready = httpx.get(f"{drill.servers['prometheus']}/-/ready", timeout=5)
        assert ready.status_code == 200
        am = httpx.get(f"{drill.servers['alertmanager']}/api/v2/status", timeout=5)
        assert am.status_code == 200
        ports = [int(url.rsplit(":", 1)[1]) for url in drill.servers.values()]
    finally:
        drill.proc.send_signal(signal.SIGTERM)
        drill.proc.wait(timeout=20)
    assert drill.proc.returncode == 0
    assert not any(listening(p) for p in ports)


def test_headless_demo_without_servers_prints_none(tmp_path: Path) -> None:
    drill = start_headless("--scenario", "calm", "--no-servers", servers=True)
    try:
        assert drill.servers == {}
    finally:
        drill.proc.terminate()
        drill.proc.wait(timeout=20)


def test_headless_demo_says_which_binary_is_missing(tmp_path: Path) -> None:
    """With PATH emptied, prometheus and alertmanager (in /usr/bin) are not found: the drill
    still serves and says how to install them; mosquitto is still found in /usr/sbin, which
    daemons live in and a user's PATH often lacks."""
    env = {**os.environ, "PATH": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "controlroom", "demo", "--headless",
                             "--scenario", "calm"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    out = StreamReader(proc.stdout, "stdout")
    errors = StreamReader(proc.stderr, "stderr")
    try:
        lines = [line.strip() for line in out.wait_for("\nmetrics: ", timeout=120).splitlines()]
    finally:
        proc.terminate()
        proc.wait(60)
    err = errors.finish()
    assert proc.returncode == 0, err
    assert lines[0].startswith("kubeconfig: ")
    for program in ("prometheus", "prometheus-alertmanager"):
        assert f"not found ({program}); install with: {server_configs.INSTALL_HINT}" in err
    assert not any(line.startswith(("prometheus: ", "alertmanager: ")) for line in lines)
    if find_program("mosquitto") is not None:
        assert any(line.startswith("mqtt: mqtt://127.0.0.1:") for line in lines)
    else:
        assert "not found (mosquitto)" in err


@pytest.mark.parametrize(("flags", "servers"), [
    ([], True), (["--no-servers"], False), (["--static", "--bulk", "1,2,3"], False)])
def test_the_demo_brings_servers_unless_told_not_to(flags: list[str], servers: bool) -> None:
    """Servers by default; ``--no-servers`` and benchmarks (``--bulk``) run without them."""
    from cli.main import build_parser
    from drill.runner import options_from_args as drill_options

    args = build_parser().parse_args(["demo", "--headless", *flags])
    assert drill_options(args).servers is servers
