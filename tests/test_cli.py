"""The ``controlroom`` command line: bad input gets a clear error and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "controlroom", *args], capture_output=True,
                          text=True, timeout=30, cwd=ROOT)


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('theme = "x"\nrefresh_ms = "fast"\n')
    out = run("--config", str(cfg))
    assert out.returncode == 2
    assert "$.refresh_ms" in out.stderr and str(cfg) in out.stderr
    assert "Traceback" not in out.stderr
    out = run("demo", "--config", str(cfg))
    assert out.returncode == 2 and "$.refresh_ms" in out.stderr


def test_bad_kubeconfig_and_context_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "empty.toml"
    cfg.write_text("")
    junk = tmp_path / "kubeconfig"
    junk.write_text("just: [a, list")
    out = run("--config", str(cfg), "--kubeconfig", str(junk))
    assert out.returncode == 2 and "not valid YAML" in out.stderr
    good = tmp_path / "good"
    good.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "
                    "'http://127.0.0.1:1'}}]\nusers: [{name: u, user: {}}]\ncontexts: "
                    "[{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n")
    out = run("--config", str(cfg), "--kubeconfig", str(good), "--context", "nope")
    assert out.returncode == 2 and "context 'nope' not found" in out.stderr
    assert "Traceback" not in out.stderr


def test_without_a_terminal_the_control_room_exits_2_at_once(tmp_path: Path) -> None:
    """Started with no terminal (a pipeline, cron, ``nohup``), the App would spin at a full
    core until killed; it must say why and exit 2 before any screen or drill starts."""
    cfg = tmp_path / "empty.toml"
    cfg.write_text("")
    out = subprocess.run([sys.executable, "-m", "controlroom", "demo", "--no-servers",
                          "--config", str(cfg), "--state-dir", str(tmp_path)],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    assert out.returncode == 2, out.stderr
    assert "needs a terminal" in out.stderr and "standard input is not a terminal" in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_a_missing_config_named_by_the_environment_exits_2(tmp_path: Path) -> None:
    """A typo in ``$CONTROLROOM_CONFIG`` once dropped ``read_only = true`` and a scale write
    went out; now every command stops before contacting anything, naming the path."""
    import os

    missing = tmp_path / "typo.toml"
    env = {**os.environ, "CONTROLROOM_CONFIG": str(missing)}
    for args in (["journal"], ["breaker", "status"], ["scale", "ns/name", "0", "--yes",
                                                      "--reason", "x"]):
        out = subprocess.run([sys.executable, "-m", "controlroom", *args], capture_output=True,
                             text=True, timeout=60, cwd=ROOT, env=env,
                             stdin=subprocess.DEVNULL)
        assert out.returncode == 2, (args, out.stderr)
        assert f"{missing}: no such file" in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
