"""``snapshot``/``diff``/``validate`` when they cannot run: exit 2 with one clear line, no
traceback, nothing written. Run through ``controlroom.launch.main`` in-process (the drill tests run the
same entry point as a child process)."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from backends.baseline.io import encode_baseline, write_baseline
from backends.baseline.model import SCHEMA_VERSION, NodeSnap
from controlroom.launch import main
from tests.test_baseline_io import HOSTILE, doc, fingerprint, sample
from tests.test_baseline_validate import healthy


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}]}))
    return path


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> object:
    config = tmp_path / "config.toml"
    config.write_text("")
    monkeypatch.setenv("CONTROLROOM_CONFIG", str(config))
    monkeypatch.setenv("CONTROLROOM_SNAPSHOT_DIR", str(tmp_path / "snapshots"))

    def run(*args: str) -> Result:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse refusing a flag
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run


def test_cannot_run_is_exit_2_with_the_reason(tmp_path: Path, run: Any) -> None:
    dead = kubeconfig(tmp_path, f"https://127.0.0.1:{closed_port()}")
    out = run("snapshot", "--kubeconfig", str(dead))
    assert out.returncode == 2 and "cannot reach context 'gone'" in out.stderr, out.stderr
    assert not (tmp_path / "snapshots").exists()
    out = run("validate", "--kubeconfig", str(dead), "--format", "junit")
    assert out.returncode == 2 and out.stdout == "", out.stdout
    out = run("--context", "nope", "validate", "--kubeconfig", str(dead))
    assert out.returncode == 2 and "context 'nope' not found" in out.stderr
    out = run("diff", str(tmp_path / "missing.json"), "--kubeconfig", str(dead))
    assert out.returncode == 2 and "missing.json: no such file" in out.stderr
    assert "Traceback" not in out.stderr


def test_snapshot_never_overwrites_and_flags_are_checked(tmp_path: Path, run: Any) -> None:
    target = tmp_path / "taken.json"
    target.write_text("precious")
    out = run("snapshot", "-o", str(target))
    assert out.returncode == 2 and "already exists" in out.stderr
    assert target.read_text() == "precious"
    out = run("snapshot", "--prometheus", "not-a-url")
    assert out.returncode == 2 and "expected http://host:port" in out.stderr
    (tmp_path / "config.toml").write_text("[validate]\nregressions = [\"nodez\"]\n")
    out = run("snapshot")
    assert out.returncode == 2 and "$.validate.regressions[0]" in out.stderr


def test_validate_a_saved_snapshot(tmp_path: Path, run: Any) -> None:
    base = write_baseline(healthy(), tmp_path / "base.json")
    bad = write_baseline(healthy(nodes=[NodeSnap(name="n1", ready="False")]),
                         tmp_path / "bad.json")
    (tmp_path / "config.toml").write_text("[validate]\ncritical_namespaces = [\"argocd\"]\n")
    assert run("validate", "--current", str(base), "--baseline", str(base)).returncode == 0
    report = tmp_path / "junit.xml"
    out = run("validate", "--current", str(bad), "--baseline", str(base), "--format", "junit",
              "-o", str(report))
    assert out.returncode == 1, out.stderr
    assert "FAIL nodes-ready" in out.stdout
    names = [c.attrib["name"].split(":")[0]
             for c in ET.parse(report).getroot().iter("testcase") if c.find("failure")
             is not None]
    assert names == ["nodes-ready", "no-regression-nodes"]
    before = base.read_bytes()
    out = run("validate", "--current", str(bad), "--baseline", str(base), "-o", str(base))
    assert out.returncode == 2 and "refusing to overwrite" in out.stderr
    assert base.read_bytes() == before
    (tmp_path / "broken.toml").write_text("[validate]\nmax_restarts_increase = -1\n")
    out = run("validate", "--current", str(base), "--config", str(tmp_path / "broken.toml"))
    assert out.returncode == 2 and "max_restarts_increase" in out.stderr


def test_bad_baselines_are_exit_2_and_left_alone(tmp_path: Path, run: Any) -> None:
    good = tmp_path / "good.json"
    write_baseline(sample(), good)
    cases = {"newer.json": json.dumps(doc(schema_version=SCHEMA_VERSION + 1)),
             "cut.json": encode_baseline(sample())[:200].decode(),
             "hostile.json": json.dumps(doc(context=HOSTILE))}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_text(content)
        before = fingerprint(path)
        out = run("diff", str(path), str(good))
        assert fingerprint(path) == before
        assert "Traceback" not in out.stderr
        if name == "hostile.json":
            assert out.returncode == 0, out.stderr
            assert "\x1b" not in out.stdout and "[bold red]pwned[/]" in out.stdout
        else:
            assert out.returncode == 2, out.stdout
            assert f"{path}:" in out.stderr
            assert ("newer controlroom" if name == "newer.json" else "truncated") in out.stderr
