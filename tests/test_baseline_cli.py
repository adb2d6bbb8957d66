"""``snapshot``/``diff``/``validate`` when they cannot run: exit 2 with one clear line, no
traceback, nothing written. Run through ``controlroom.launch.main`` in-process (the drill tests run the
same entry point as a child process)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
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


def kubeconfig(tmp_path: Path, server: str, context: str = "gone") -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "gone", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": context, "context": {"cluster": "gone", "user": "u"}}]}))
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
    monkeypatch.setenv("CONTROLROOM_STATE_DIR", str(tmp_path / "state"))  # never the user's

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


# --------------------------------------------------------------------------- issue 13

OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"
"""A context name that sets the clipboard when printed raw (an OSC 52 sequence)."""


@contextmanager
def fake_api(mode: str) -> Iterator[str]:
    """A tiny HTTP server on loopback, in its own thread (the commands run their own loop):
    ``404`` answers 404 to everything (a wrong URL, a proxy); ``empty`` is an API server with
    an empty discovery (``/version`` answers, nothing is served)."""
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        documents: dict[str, Any] = {
            "/version": {"major": "1", "minor": "30", "gitVersion": "v1.30.0"},
            "/api": {"kind": "APIVersions", "versions": ["v1"]},
            "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
            "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
        }
        if mode == "empty" and request.path in documents:
            return web.json_response(documents[request.path])
        return web.Response(status=404, text="404 page not found")

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        return runner, int(server.sockets[0].getsockname()[1])

    runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def previous_baseline(tmp_path: Path, context: str) -> Path:
    """A good baseline already in the snapshots dir: a refused snapshot must leave it the
    newest, byte for byte."""
    return write_baseline(healthy(context=context),
                          directory=tmp_path / "snapshots")


@pytest.mark.parametrize("mode", ["404", "empty", "unknown"])
def test_an_api_that_answers_nothing_useful_is_not_an_empty_cluster(
        tmp_path: Path, run: Any, mode: str) -> None:
    """Issue 13 point 10: against a server answering 404 to everything, `snapshot` wrote "0
    nodes, 0 deployments, 0 pods" and exited 0, and `validate` passed. Now every command
    exits 2 naming the problem, and nothing is written; the context name is sanitized."""
    with contextlib.ExitStack() as stack:
        server = ("https://no-such-cluster.invalid:6443" if mode == "unknown"
                  else stack.enter_context(fake_api(mode)))
        config = kubeconfig(tmp_path, server, context=f"ctx{OSC52}")
        before = previous_baseline(tmp_path, f"ctx{OSC52}")
        saved = fingerprint(before)
        flags = ("--kubeconfig", str(config), "--timeout", "20")
        results = {"snapshot": run("snapshot", *flags),
                   "diff": run("diff", str(before), *flags),
                   "validate": run("validate", *flags)}
    expected = {"404": "the server could not find the requested resource (GET /version: 404)",
                "empty": "nodes: not served by the API server",
                "unknown": "cannot reach context"}[mode]
    for command, out in results.items():
        assert out.returncode == 2, (command, out)
        assert expected in out.stderr + out.stdout, (command, out)
        assert "\x1b" not in out.stderr + out.stdout and "\x07" not in out.stderr + out.stdout
        assert "Traceback" not in out.stderr
    if mode == "empty":
        assert "refusing to write an incomplete baseline" in results["snapshot"].stderr
        assert "cannot compare" in results["diff"].stderr
        assert "???? data-complete" in results["validate"].stdout
        for check in ("data-complete", "nodes-ready", "workloads-ready", "apps-healthy"):
            assert f"PASS {check}" not in results["validate"].stdout
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == [before.name]
    assert fingerprint(before) == saved


def test_diff_and_validate_against_an_incomplete_baseline_cannot_compare(
        tmp_path: Path, run: Any) -> None:
    """Issue 13 point 3: a baseline with every section missing said "nothing changed" (exit
    0) and validation PASSED. Now both exit 2, "cannot compare", naming what is missing."""
    good = write_baseline(healthy(), tmp_path / "good.json")
    empty = write_baseline(healthy(nodes=[], workloads=[], pods=[], missing={
        "nodes": "nodes: not listed yet (connecting: connection refused)",
        "workloads": "deployments: not listed yet (connecting: connection refused)",
        "pods": "pods: not listed yet (connecting: connection refused)"}),
        tmp_path / "empty.json")
    for args in (("diff", str(empty), str(good)), ("diff", str(good), str(empty)),
                 ("validate", "--baseline", str(empty), "--current", str(good))):
        out = run(*args)
        assert out.returncode == 2 and out.stdout == "", (args, out)
        assert "cannot compare" in out.stderr and "nodes: nodes: not listed yet" in out.stderr
        assert out.stderr.count("\n") == 1
    out = run("validate", "--current", str(empty))
    assert out.returncode == 2 and "CANNOT CHECK" in out.stdout, out


def test_validate_fails_while_a_breaker_is_engaged(tmp_path: Path, run: Any) -> None:
    """Issue 13 point 4: an update validated while the breaker holds workloads at 0 is not
    finished. The breaker is what the journal says (here one verified scale-down)."""
    from backends.ops.journal import JournalDB

    good = write_baseline(healthy(), tmp_path / "good.json")
    assert run("validate", "--current", str(good), "--baseline", str(good)).returncode == 0
    with JournalDB.open(tmp_path / "state" / "journal.sqlite3") as db:
        db.append(operator="alice", context="drill", action="patch scale",
                  operation_id="breaker-inc-7", step="scale-down", kind="Deployment",
                  namespace="shop", name="web", prior={"replicas": 2},
                  intent={"replicas": 0, "breaker": {"planned": 1}}, reason="INC-7",
                  status="verified")
    out = run("validate", "--current", str(good), "--baseline", str(good))
    assert out.returncode == 1, out
    assert "FAIL breaker-released" in out.stdout
    assert "circuit breaker engaged: BREAKER ENGAGED (breaker-inc-7) by alice" in out.stdout
