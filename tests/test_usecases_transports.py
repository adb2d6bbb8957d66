"""The use cases on transports without a server-side dry-run (Argo CD REST API, Helm,
Alertmanager): their dry-run is the plan's list of writes (the preview sends nothing and says
"not performed"), and executing sends exactly those writes, through a gate on that transport
with the session's policy and journal (so read-only mode refuses them like cluster writes).

The witnesses are each transport's own: the fake Argo CD server's call log, the fake helm's
argv log, and for a real Alertmanager every request its client sent.
"""

from __future__ import annotations

import copy
import json
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web

from backends.config import ArgoCDSettings, Settings
from backends.kube.connection import KubeConnection
from backends.kube.wire import Params
from backends.ops.gate import WRITE_METHODS, GatePolicy, WriteGate
from backends.ops.journal import Journal
from backends.signals.alertmanager import AlertmanagerClient
from backends.usecases import alerts, argocd, helm
from backends.usecases.run import preview, run
from backends.usecases.workspace import Workspace
from drill.runner import DrillCluster
from drill.servers import DrillServers
from tests.conftest import require_program
from tests.ops_support import CONFIRM, CTX, REASON, app, drill_options, started
from tests.test_ops_argocd import FakeArgoCD
from tests.test_ops_helm import FAKE_HELM, NS, REL, revision
from tests.test_signals_alertmanager import _states, crashloop, post_alerts, rows_of, wait_for
from tests.usecase_support import listed


class _Conn:
    """Just what the Helm use case reads of a connection (its context and kubeconfig)."""

    context = "drill"
    kubeconfig_paths: list[str] = []


def workspace(journal: Journal, settings: Settings, *, read_only: bool = False,
              **kw: Any) -> Workspace:
    gate = WriteGate(GatePolicy(CTX, read_only, False, "oncall-tester"), cast(Any, None),
                     journal)
    return Workspace(cast(KubeConnection, _Conn()), gate, journal, settings, **kw)


async def test_argocd_rollback_through_the_rest_api(
        tmp_path: Path, journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    sim: DrillCluster = await started(drill_options(tmp_path))
    try:
        frontend = copy.deepcopy(app(sim, "frontend"))
    finally:
        await sim.stop()
    frontend["spec"]["syncPolicy"]["automated"]["enabled"] = False
    fake = FakeArgoCD({"frontend": frontend}, token="s3cret")
    runner = web.AppRunner(fake.web_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", "s3cret")
    settings = Settings(production_patterns=[],
                        argocd=ArgoCDSettings(server=f"http://127.0.0.1:{port}",
                                              allow_http_credentials=True))
    ws = workspace(journal, settings)
    try:
        assert argocd.rollback_via_rest(ws)
        previous = frontend["status"]["history"][-2]["id"]
        action = await argocd.plan_rollback_app_rest(ws, "argocd", "frontend", previous)
        try:
            assert action.gate is not ws.gate  # a gate on the REST client
            assert [a.performed for a in await preview(action)] == [False]
            assert [c for c in fake.calls if c[0] != "GET"] == []
            result = await run(action, reason=REASON, confirm=CONFIRM)
            assert result.ok, result.summary()
        finally:
            await action.close()
        posts = [(m, p, body) for m, p, body in fake.calls if m != "GET"]
        [write] = action.plan.writes
        assert [(m, p) for m, p, _ in posts] == listed(action.plan)
        assert posts[0][2] == json.loads(write.request.body or b"")
    finally:
        await runner.cleanup()


@pytest.fixture
def fake_helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "helm"
    exe.write_text(f"#!{sys.executable}\n{FAKE_HELM}")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    state = tmp_path / "helm-state.json"
    state.write_text(json.dumps({REL: [
        revision(1, "superseded", "alb-controller-1.7.7", "Install complete"),
        revision(2, "deployed", "alb-controller-1.7.8", "Upgrade complete")]}))
    log = tmp_path / "argv.log"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_HELM_LOG", str(log))
    monkeypatch.setenv("FAKE_HELM_STATE", str(state))
    return log


async def test_helm_rollback(fake_helm: Path, journal: Journal) -> None:
    ws = workspace(journal, Settings(production_patterns=[]))
    assert [r.name for r in await helm.releases(ws, NS)] == [REL]
    assert [r.revision for r in await helm.release_history(ws, REL, NS)] == [1, 2]
    action = await helm.plan_helm_rollback(ws, REL, NS, 1)
    assert [a.performed for a in await preview(action)] == [False]

    def rollbacks() -> list[list[str]]:
        return [a for a in (json.loads(line) for line in fake_helm.read_text().splitlines())
                if a[0] == "rollback"]

    assert rollbacks() == []
    refused = await run(await helm.plan_helm_rollback(
        workspace(journal, Settings(production_patterns=[]), read_only=True), REL, NS, 1),
        reason=REASON, confirm=CONFIRM)
    assert not refused.ok and "read-only" in refused.error and rollbacks() == []
    result = await run(action, reason=REASON, confirm=CONFIRM)
    assert result.ok, result.summary()
    [write] = action.plan.writes
    assert write.intent == {"rollback_to": 1}
    assert rollbacks() == [["rollback", REL, "1", "-n", NS, "--wait", "--kube-context",
                            "drill"]]


@pytest.fixture
async def alertmanager() -> AsyncIterator[str]:
    require_program("prometheus-alertmanager")
    servers = DrillServers(enable=("alertmanager",))
    await servers.start()
    try:
        if servers.alertmanager_url is None:
            pytest.fail("; ".join(p.line() for p in servers.problems))
        yield servers.alertmanager_url
    finally:
        await servers.stop()


async def test_silence_and_expire(alertmanager: str, journal: Journal) -> None:
    url = alertmanager
    await post_alerts(url, crashloop("web-1"))
    await wait_for(lambda: _states(url, {"web-1": "active"}), "the alert active")
    client = AlertmanagerClient(url)
    sent: list[tuple[str, str]] = []
    send = client.request

    async def recording(method: str, path: str, params: Params | None = None,
                        body: bytes | None = None,
                        content_type: str = "application/json") -> tuple[int, bytes]:
        if method in WRITE_METHODS:
            sent.append((method, path))
        return await send(method, path, params, body, content_type)

    client.request = recording  # type: ignore[method-assign]
    ws = workspace(journal, Settings(production_patterns=[]), alertmanager=client)
    try:
        rows = await rows_of(url)
        action = await alerts.plan_silence(ws, rows, hours=1)
        assert [a.performed for a in await preview(action)] == [False]
        assert sent == []
        assert (await run(action, reason=REASON, confirm=CONFIRM)).ok
        assert sent == listed(action.plan)
        await wait_for(lambda: _states(url, {"web-1": "suppressed"}), "web-1 suppressed")

        sent.clear()
        expire = await alerts.plan_expire(ws, await rows_of(url))
        assert expire.plan.writes and [a.performed for a in await preview(expire)] == [False]
        assert sent == []
        assert (await run(expire, reason=REASON, confirm=CONFIRM)).ok
        assert sent == listed(expire.plan)
    finally:
        await client.close()

    with pytest.raises(Exception, match="no Alertmanager configured"):
        await alerts.plan_silence(workspace(journal, Settings()), rows, hours=1)
