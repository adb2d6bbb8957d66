"""Credentials never travel in the clear unless someone said they may (issue 14, point 13).

Judged on the wire: an aiohttp trace records the headers each request really carried to the
plain-http drill, and the drill itself answers 401 to a wrong token only when one arrives.
kubectl is the reference: it sends no bearer token to an ``http://`` server.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pytest
from aiohttp import web

from backends.cleartext import config_warnings
from backends.config import ConfigError, Settings, parse
from backends.kube.connection import connect
from backends.kube.errors import KubeApiError
from backends.ops.argocd_rest import ArgoRestClient
from cli.session import Exit, connected
from drill.runner import DrillCluster
from tests.conftest import ThreadedDrill, require_program
from tests.test_kube_connection import Wire, write_kubeconfig
from tests.waiting import pilot_until
from tui.app import ControlRoomApp, Target
from tui.run import _sources


def auth(headers: dict[str, str]) -> str | None:
    """The Authorization header as sent (header names are case-blind)."""
    return next((v for k, v in headers.items() if k.lower() == "authorization"), None)


async def test_a_token_is_not_sent_to_a_plain_http_server(drill: DrillCluster,
                                                          tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "config", drill.url, {"token": "wrong"},
                            allow_http=False)
    wire = Wire()
    async with await connect(str(path), None, trace_configs=[wire.trace]) as conn:
        # the drill refuses a wrong token; it never saw one, so the read succeeds
        assert await conn.get_raw("/api/v1/nodes")
        assert conn.credentials_withheld
        assert len(conn.warnings) == 1 and "not sending" in conn.warnings[0]
        assert drill.url in conn.warnings[0] and "allow_http_credentials" in conn.warnings[0]
    sent = wire.find("/api/v1/nodes")
    assert sent and all(auth(req) is None for req, _ in sent)


async def test_basic_auth_and_exec_tokens_are_withheld_too(drill: DrillCluster,
                                                           tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "config", drill.url,
                            {"username": "admin", "password": "hunter2"}, allow_http=False)
    wire = Wire()
    async with await connect(str(path), None, trace_configs=[wire.trace]) as conn:
        await conn.get_raw("/api/v1/nodes")
        assert conn.credentials_withheld
    sent = wire.find("/api/v1/nodes")
    assert sent and all(auth(req) is None for req, _ in sent)


@pytest.mark.parametrize("by", ["kubeconfig", "config"])
async def test_an_explicit_allowance_sends_the_token_with_a_warning(
        drill: DrillCluster, tmp_path: Path, by: str) -> None:
    path = write_kubeconfig(tmp_path / "config", drill.url, {"token": "wrong"},
                            allow_http=by == "kubeconfig")
    wire = Wire()
    async with await connect(str(path), None, trace_configs=[wire.trace],
                             allow_http_credentials=by == "config") as conn:
        with pytest.raises(KubeApiError) as info:  # the wrong token reached the drill
            await conn.get_raw("/api/v1/nodes")
        assert info.value.status == 401
        assert not conn.credentials_withheld
        expected = "the kubeconfig's cluster extension" if by == "kubeconfig" else "the config"
        assert conn.warnings == (f"sending the credentials of user 'u' in the clear to "
                                 f"{drill.url} (plain http://, allowed by {expected})",)
    assert [auth(req) for req, _ in wire.find("/api/v1/nodes")] == ["Bearer wrong"]


async def test_tls_servers_and_anonymous_users_need_no_warning(drill: DrillCluster,
                                                               tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "config", drill.url, {}, allow_http=False)
    async with await connect(str(path), None) as conn:
        assert conn.warnings == () and not conn.credentials_withheld


async def test_the_cli_says_why_a_401_follows_withheld_credentials(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain-http server that wants credentials: the CLI warns that they are withheld and
    its exit names the reason, instead of a bare "Unauthorized"."""
    seen: list[str | None] = []

    async def unauthorized(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                  "message": "Unauthorized", "reason": "Unauthorized",
                                  "code": 401}, status=401)

    server = web.Application()
    server.router.add_get("/version", unauthorized)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setenv("CONTROLROOM_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    path = write_kubeconfig(tmp_path / "config", f"http://127.0.0.1:{port}", {"token": "t"},
                            allow_http=False)
    try:
        with pytest.raises(Exit) as info:
            await connected(argparse.Namespace(kubeconfig=str(path), config=None), "drill")
    finally:
        await runner.cleanup()
    assert seen == [None]  # asked once, with no token
    assert info.value.code == 2
    assert "not sent to a plain http:// server" in info.value.message
    assert "warning: not sending the credentials of user 'u'" in capsys.readouterr().err


def test_kubectl_sends_no_token_over_plain_http_either(tdrill: ThreadedDrill,
                                                       tmp_path: Path) -> None:
    """The reference behaviour: kubectl with a wrong token reads the drill (it was not sent)."""
    kubectl = require_program("kubectl")
    path = write_kubeconfig(tmp_path / "config", tdrill.cluster.url, {"token": "wrong"},
                            allow_http=False)
    done = subprocess.run([kubectl, "--kubeconfig", str(path), "get", "nodes", "-o", "name"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("node/")


@pytest.mark.parametrize(("toml", "named"), [
    (b'[[endpoints]]\nname = "grafana"\nurl = "http://grafana/api/health"\n'
     b'headers = { Authorization = "GRAFANA_AUTH" }\n', "headers of endpoint 'grafana'"),
    (b'[mqtt]\nurl = "mqtt://broker:1883"\nusername = "oncall"\n', "mqtt:// broker"),
])
def test_config_credentials_for_cleartext_urls_are_refused(toml: bytes, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(toml)
    assert named in str(info.value) and "allow_http_credentials = true" in str(info.value)


def test_config_allowance_is_accepted_and_warned_about() -> None:
    settings = parse(
        b'[argocd]\nserver = "http://argocd.lab"\nallow_http_credentials = true\n'
        b'[mqtt]\nurl = "mqtt://broker:1883"\nusername = "oncall"\n'
        b'allow_http_credentials = true\n'
        b'[[endpoints]]\nname = "grafana"\nurl = "http://grafana/api/health"\n'
        b'headers = { Authorization = "GRAFANA_AUTH" }\nallow_http_credentials = true\n'
        b'[[endpoints]]\nname = "tls"\nurl = "https://grafana/api/health"\n'
        b'headers = { Authorization = "GRAFANA_AUTH" }\n')
    warnings = config_warnings(settings)
    assert warnings == [
        "sending the Argo CD token in the clear to http://argocd.lab"
        " ([argocd] allow_http_credentials)",
        "sending the MQTT password in the clear to mqtt://broker:1883"
        " ([mqtt] allow_http_credentials)",
        "sending the headers of endpoint 'grafana' in the clear to"
        " http://grafana/api/health (allow_http_credentials)"]


def test_the_argocd_token_is_not_sent_to_plain_http() -> None:
    with pytest.raises(ValueError, match="not sending the Argo CD token to http://argocd.lab"):
        ArgoRestClient("http://argocd.lab", "s3cret")
    allowed = ArgoRestClient("http://argocd.lab", "s3cret", allow_http_credentials=True)
    assert allowed.warnings and "in the clear" in allowed.warnings[0]
    assert ArgoRestClient("https://argocd.lab", "s3cret").warnings == ()


async def test_the_app_says_the_credentials_are_withheld(drill: DrillCluster,
                                                         tmp_path: Path) -> None:
    """The App on the real start-up path: the notification names the server and the way to
    allow it, and the screen works (the drill serves anonymous requests)."""
    path = write_kubeconfig(tmp_path / "config", drill.url, {"token": "t"}, allow_http=False)
    starter = _sources(lambda: str(path), "drill", None, settings=Settings())
    app = ControlRoomApp(Settings(), None, Target(cluster="c", context="drill"), starter,
                         journal_path=tmp_path / "journal.sqlite3")
    async with app.run_test(size=(160, 40)) as pilot:
        said = await pilot_until(pilot, lambda: [
            str(n.message) for n in app._notifications  # noqa: SLF001
            if "not sending the credentials of user 'u'" in str(n.message)],
            "the withheld-credentials notification")
        assert drill.url in said[0] and "allow_http_credentials" in said[0]
