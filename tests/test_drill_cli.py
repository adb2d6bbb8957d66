"""``controlroom demo --headless`` as a process: announces its kubeconfig, serves, exits cleanly."""

from __future__ import annotations

import signal

import httpx
import pytest
import yaml

from tests.conftest import start_headless


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_headless_serves_until_signalled_and_exits_zero(sig: signal.Signals) -> None:
    drill = start_headless()
    try:
        config = yaml.safe_load(drill.kubeconfig.read_text())
        assert config["current-context"] == "drill"
        server = config["clusters"][0]["cluster"]["server"]
        assert server == drill.url and server.startswith("http://127.0.0.1:")
        assert (drill.kubeconfig.stat().st_mode & 0o077) == 0  # holds a token: owner only
        r = httpx.get(f"{server}/api/v1/namespaces/argocd/pods")
        assert r.status_code == 200 and r.json()["items"]
    finally:
        drill.proc.send_signal(sig)
        code = drill.proc.wait(60)
    assert code == 0
    assert not drill.kubeconfig.exists()  # the temporary kubeconfig is cleaned up


def test_headless_honours_port_flag() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    drill = start_headless("--port", str(port))
    try:
        assert drill.url == f"http://127.0.0.1:{port}"
    finally:
        drill.proc.terminate()
        assert drill.proc.wait(60) == 0


def test_bad_policy_file_is_a_clear_error(tmp_path: object) -> None:
    import subprocess
    import sys
    from pathlib import Path

    bad = Path(str(tmp_path)) / "policy.json"
    bad.write_text('{"rules": [{"verbs": "patch"}]}')
    out = subprocess.run([sys.executable, "-m", "controlroom", "demo", "--headless", "--policy",
                          str(bad)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 2
    assert "rules[0].verbs must be a list of strings" in out.stderr
    assert "Traceback" not in out.stderr
