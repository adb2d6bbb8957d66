"""The cluster connection against the real drill API server: kubeconfig, auth, gzip, errors.

Every test talks HTTP to a drill cluster on loopback (in-process, on the test's loop). Gzip is
judged twice: by the headers an aiohttp trace saw on the wire and by the connection's own
byte counters (compressed bytes received < bytes after inflating).
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from backends.cleartext import ALLOW_EXTENSION
from backends.kube.connection import KubeConnection, connect
from backends.kube.decode import decode_list
from backends.kube.errors import KubeApiError, KubeconfigError, KubeUnreachable
from backends.kube.kubeconfig import list_contexts
from drill.policy import Policy
from drill.resources import BY_KEY
from drill.runner import DrillCluster, DrillOptions
from tests.conftest import require_program

PODS = BY_KEY["pods"]


class Wire:
    """Records request and response headers of every request, via an aiohttp trace."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_end.append(self._end)

    async def _end(self, _session: Any, _ctx: SimpleNamespace,
                   params: aiohttp.TraceRequestEndParams) -> None:
        self.seen.append((params.method, str(params.url), dict(params.headers),
                          dict(params.response.headers)))

    def find(self, fragment: str) -> list[tuple[dict[str, str], dict[str, str]]]:
        return [(req, resp) for _, url, req, resp in self.seen if fragment in url]


@pytest.fixture
async def conn(drill: DrillCluster) -> AsyncIterator[KubeConnection]:
    connection = await connect(str(drill.kubeconfig), None)
    try:
        yield connection
    finally:
        await connection.close()


def write_kubeconfig(path: Path, server: str, user: dict[str, Any],
                     context: str = "drill", *, allow_http: bool = True) -> Path:
    """A one-context kubeconfig. ``allow_http`` (the default, for the tests that judge what
    credentials do against the plain-http drill) adds the cluster extension that lets them
    travel in the clear; the cleartext tests turn it off."""
    cluster: dict[str, Any] = {"server": server}
    if allow_http:
        cluster["extensions"] = [{"name": ALLOW_EXTENSION, "extension": {"allow": True}}]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u",
                                                  "namespace": "payments"}}],
        "current-context": context,
    }))
    return path


# ------------------------------------------------------------------------- connecting


async def test_connect_reports_context_cluster_namespace_and_user(drill: DrillCluster) -> None:
    async with await connect(str(drill.kubeconfig), None) as conn:
        assert conn.context == "drill"
        assert conn.cluster == drill.url
        assert conn.namespace == "default"
        assert conn.user == "drill-operator"
    assert conn.closed


async def test_list_contexts_names_every_context_and_the_current_one(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "clusters": [{"name": "c", "cluster": {"server": "https://example.invalid"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "c", "user": "u"}},
                     {"name": "staging", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "staging",
    }))
    assert list_contexts(str(path)) == (["prod", "staging"], "staging")


@pytest.mark.parametrize(("content", "expected"), [
    ("clusters: [\n  - name: c\n    cluster: {server: x\n", "is not valid YAML at line"),
    ("- just\n- a list\n", "expected a mapping"),
    ("clusters: {c: 1}\n", "'clusters' must be a list"),
    ("contexts:\n  - context: {cluster: c}\n", "contexts[0] has no name"),
])
async def test_malformed_kubeconfig_is_a_clear_error(tmp_path: Path, content: str,
                                                     expected: str) -> None:
    path = tmp_path / "config"
    path.write_text(content)
    with pytest.raises(KubeconfigError) as info:
        await connect(str(path), None)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


async def test_missing_kubeconfig_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "config"
    with pytest.raises(KubeconfigError, match="no kubeconfig file found") as info:
        await connect(str(missing), None)
    assert str(missing) in str(info.value)


async def test_unknown_context_names_the_available_ones(drill: DrillCluster) -> None:
    with pytest.raises(KubeconfigError) as info:
        await connect(str(drill.kubeconfig), "production")
    message = str(info.value)
    assert "'production' is not defined" in message and "available contexts: drill" in message


async def test_context_pointing_at_an_undefined_cluster_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "clusters": [], "users": [],
        "contexts": [{"name": "x", "context": {"cluster": "gone"}}], "current-context": "x",
    }))
    with pytest.raises(KubeconfigError, match="refers to cluster 'gone'"):
        await connect(str(path), None)


# ------------------------------------------------------------------------- gzip on the wire


async def test_list_asks_for_gzip_and_the_body_travels_compressed(drill: DrillCluster) -> None:
    wire = Wire()
    async with await connect(str(drill.kubeconfig), None, trace_configs=[wire.trace]) as conn:
        body = await conn.get_raw("/api/v1/pods", {"limit": 500})
        stats = conn.stats
    page = decode_list("pods", body)
    assert len(page.rows) == drill.state.count(PODS)
    [(request, response)] = wire.find("/api/v1/pods")
    assert request["Accept-Encoding"] == "gzip"
    assert response["Content-Encoding"] == "gzip"
    assert stats.gzip_responses == 1
    assert stats.body_bytes == len(body)
    assert stats.wire_bytes * 3 < stats.body_bytes, stats  # JSON compresses well


async def test_watch_stream_is_gzipped_and_split_into_lines(drill: DrillCluster) -> None:
    wire = Wire()
    async with await connect(str(drill.kubeconfig), None, trace_configs=[wire.trace]) as conn:
        lines = [line async for line in conn.stream_lines(
            "/api/v1/pods", {"watch": True, "timeoutSeconds": 1, "allowWatchBookmarks": True})]
        stats = conn.stats
    events = [json.loads(line) for line in lines]
    added = [e for e in events if e["type"] == "ADDED"]
    assert len(added) == drill.state.count(PODS)
    assert all(e["type"] in ("ADDED", "BOOKMARK") for e in events)
    [(request, response)] = wire.find("watch=true")
    assert request["Accept-Encoding"] == "gzip"
    assert response["Content-Encoding"] == "gzip"
    assert stats.wire_bytes < stats.body_bytes


async def test_read_batch_gathers_a_burst_into_one_batch(drill: DrillCluster,
                                                         conn: KubeConnection) -> None:
    rv = str(drill.state.rv)
    stream = await conn.open_stream("/api/v1/namespaces/payments/pods",
                                    {"watch": True, "resourceVersion": rv,
                                     "timeoutSeconds": 5})
    async with stream:
        pods = drill.state.objects(PODS, "payments")
        for pod in pods:  # one burst of MODIFIED events, written in one go
            drill.state.mutate(PODS, "payments", pod["metadata"]["name"], _relabel)
        batch = await stream.read_batch(max_lines=1000, window=0.2)
        assert len(batch) == len(pods)
        assert stream.content_encoding == "gzip"


def _relabel(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"].setdefault("labels", {})["touched"] = "yes"
    return obj


# ------------------------------------------------------------------------- errors


async def test_not_found_is_a_kube_api_error_from_the_status_body(conn: KubeConnection) -> None:
    with pytest.raises(KubeApiError) as info:
        await conn.get_raw("/api/v1/namespaces/default/pods/nope")
    assert info.value.status == 404
    assert info.value.reason == "NotFound"
    assert info.value.message == 'pods "nope" not found'


async def test_expired_watch_is_410_expired(drill: DrillCluster, conn: KubeConnection) -> None:
    old = str(drill.state.rv)
    pod = drill.state.objects(PODS)[0]["metadata"]
    drill.state.delete(PODS, pod["namespace"], pod["name"])
    drill.state.compact()
    with pytest.raises(KubeApiError) as info:
        await conn.open_stream("/api/v1/pods", {"watch": True, "resourceVersion": old})
    assert (info.value.status, info.value.reason) == (410, "Expired")
    assert "too old resource version" in info.value.message


async def test_forbidden_carries_the_servers_message(tmp_path: Path) -> None:
    policy = Policy.from_dict({"rules": [{"verbs": ["list", "watch"], "resources": ["pods"],
                                          "allow": False}]})
    cluster = DrillCluster(DrillOptions(kubeconfig=tmp_path / "kubeconfig", policy=policy,
                                        simulate=False))
    await cluster.start()
    try:
        async with await connect(str(cluster.kubeconfig), None) as conn:
            with pytest.raises(KubeApiError) as info:
                await conn.get_raw("/api/v1/pods")
            assert (info.value.status, info.value.reason) == (403, "Forbidden")
            assert 'cannot list resource "pods"' in info.value.message
            assert await conn.get_raw("/api/v1/nodes")  # everything else still works
    finally:
        await cluster.stop()


async def test_nobody_listening_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = write_kubeconfig(tmp_path / "config", f"http://127.0.0.1:{port}", {"token": "t"})
    async with await connect(str(path), None) as conn:
        with pytest.raises(KubeUnreachable, match=f"127.0.0.1:{port}"):
            await conn.get_raw("/api/v1/pods")


async def test_request_returns_error_statuses_instead_of_raising(drill: DrillCluster,
                                                                 conn: KubeConnection) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "gate-test"}, "data": {"a": "1"}}).encode()
    status, created = await conn.request("POST", "/api/v1/namespaces/default/configmaps",
                                         None, body, "application/json")
    assert status == 201 and json.loads(created)["metadata"]["name"] == "gate-test"
    status, patched = await conn.request(
        "PATCH", "/api/v1/namespaces/default/configmaps/gate-test", {"dryRun": "All"},
        b'{"data": {"a": "2"}}', "application/merge-patch+json")
    assert status == 200 and json.loads(patched)["data"]["a"] == "2"
    status, again = await conn.request("POST", "/api/v1/namespaces/default/configmaps",
                                       None, body, "application/json")
    assert status == 409 and json.loads(again)["reason"] == "AlreadyExists"


async def test_a_wrong_static_token_is_unauthorized(drill: DrillCluster, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "config", drill.url, {"token": "wrong"})
    async with await connect(str(path), None) as conn:
        assert conn.namespace == "payments"
        with pytest.raises(KubeApiError) as info:
            await conn.get_raw("/api/v1/pods")
        assert (info.value.status, info.value.reason) == (401, "Unauthorized")


# ------------------------------------------------------------------------- exec plugins


def exec_plugin(tmp_path: Path, tokens: list[str], *, expires_in: int | None = None,
                fail: str = "") -> tuple[dict[str, Any], Path]:
    """A kubectl-style exec credential plugin (think kubelogin) that hands out ``tokens`` in
    turn (the last one forever) and counts its runs in a file."""
    counter = tmp_path / "runs"
    counter.write_text("0")
    script = tmp_path / "plugin.py"
    script.write_text(textwrap.dedent(f"""
        import datetime, json, pathlib, sys
        counter = pathlib.Path({str(counter)!r})
        runs = int(counter.read_text()) + 1
        counter.write_text(str(runs))
        if {fail!r}:
            sys.stderr.write({fail!r})
            sys.exit(1)
        tokens = {tokens!r}
        status = {{"token": tokens[min(runs, len(tokens)) - 1]}}
        if {expires_in!r} is not None:
            at = datetime.datetime.now(datetime.timezone.utc) + \\
                datetime.timedelta(seconds={expires_in!r})
            status["expirationTimestamp"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1",
                          "kind": "ExecCredential", "status": status}}))
    """))
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                     "command": sys.executable, "args": [str(script)],
                     "interactiveMode": "Never"}}
    return user, counter


async def test_exec_plugin_token_is_used_and_renewed_after_a_401(drill: DrillCluster,
                                                                tmp_path: Path) -> None:
    user, runs = exec_plugin(tmp_path, ["stale-token", drill.server.token])
    path = write_kubeconfig(tmp_path / "config", drill.url, user)
    async with await connect(str(path), None) as conn:
        assert runs.read_text() == "1"
        assert await conn.get_raw("/api/v1/nodes")  # 401 -> plugin runs again -> retried
        assert runs.read_text() == "2"
        assert await conn.get_raw("/api/v1/nodes")
        assert runs.read_text() == "2"  # the renewed token is kept


async def test_exec_plugin_is_rerun_when_its_token_is_about_to_expire(
        drill: DrillCluster, tmp_path: Path) -> None:
    user, runs = exec_plugin(tmp_path, [drill.server.token], expires_in=60)
    path = write_kubeconfig(tmp_path / "config", drill.url, user)
    async with await connect(str(path), None) as conn:
        await conn.get_raw("/api/v1/nodes")
        await conn.get_raw("/api/v1/nodes")
    assert int(runs.read_text()) >= 3  # expiring within the 5 minute skew: renewed each time


async def test_failing_exec_plugin_names_its_complaint(drill: DrillCluster,
                                                       tmp_path: Path) -> None:
    user, _ = exec_plugin(tmp_path, ["x"], fail="please run kubelogin convert-kubeconfig")
    path = write_kubeconfig(tmp_path / "config", drill.url, user)
    with pytest.raises(KubeconfigError) as info:
        await connect(str(path), None)
    assert "exec credential plugin failed" in str(info.value)
    assert "please run kubelogin" in str(info.value)


# ------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throwaway CA with a server certificate for 127.0.0.1 and a client certificate."""
    openssl = require_program("openssl")
    root = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=root, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=drill-ca")
    (root / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    (root / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=drill-operator")):
        run("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
            "-extfile", f"{name}.ext")
    return {name: root / name for name in
            ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}


@pytest.fixture
async def tls_url(drill: DrillCluster, pki: dict[str, Path]) -> AsyncIterator[str]:
    """The drill API served over TLS that demands a client certificate from our CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki["ca.crt"]))
    context.load_cert_chain(pki["server.crt"], pki["server.key"])
    context.verify_mode = ssl.CERT_REQUIRED
    runner = web.AppRunner(drill.server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


async def test_client_certificates_and_the_cluster_ca_are_used(
        tls_url: str, pki: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(yaml.safe_dump({
        "clusters": [{"name": "c", "cluster": {
            "server": tls_url, "certificate-authority-data": b64(pki["ca.crt"])}}],
        "users": [{"name": "u", "user": {"client-certificate-data": b64(pki["client.crt"]),
                                         "client-key-data": b64(pki["client.key"])}}],
        "contexts": [{"name": "tls", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "tls",
    }))
    async with await connect(str(config), None) as conn:
        page = decode_list("nodes", await conn.get_raw("/api/v1/nodes"))
        assert len(page.rows) >= 5
        assert conn.stats.gzip_responses == 1


async def test_tls_without_the_cluster_ca_or_a_client_cert_is_unreachable(
        tls_url: str, pki: dict[str, Path], tmp_path: Path) -> None:
    no_ca = write_kubeconfig(tmp_path / "no-ca", tls_url, {"token": "t"})
    async with await connect(str(no_ca), None) as conn:
        with pytest.raises(KubeUnreachable, match="certificate"):
            await conn.get_raw("/api/v1/nodes")
    no_cert = tmp_path / "no-cert"
    no_cert.write_text(yaml.safe_dump({
        "clusters": [{"name": "c", "cluster": {
            "server": tls_url, "certificate-authority-data": b64(pki["ca.crt"])}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "tls", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "tls",
    }))
    async with await connect(str(no_cert), None) as conn:
        with pytest.raises(KubeUnreachable):
            await conn.get_raw("/api/v1/nodes")


async def test_a_hanging_exec_plugin_is_a_clear_error_and_is_stopped(tmp_path: Path) -> None:
    """Issue 14 point 14: a credential plugin that never answers (a device-code login in a
    pipeline) hung every command forever. Now it is an error naming the plugin after the
    timeout, and the plugin process does not live on."""
    import os

    from backends.kube.errors import KubeconfigError

    script = tmp_path / "hang.py"
    script.write_text("import time\ntime.sleep(600)\n")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                     "command": sys.executable, "args": [str(script)],
                     "interactiveMode": "Never"}}
    config = write_kubeconfig(tmp_path / "config", "https://127.0.0.1:1", user)

    def plugins() -> list[str]:
        out = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if str(script).encode() in f.read():
                        out.append(entry)
            except OSError:
                continue
        return out

    with pytest.raises(KubeconfigError) as info:
        await connect(str(config), None, exec_timeout=1.0)
    message = str(info.value)
    assert "exec credential plugin" in message and "within 1 s" in message, message
    assert "it was stopped" in message
    from tests.waiting import await_until

    await await_until(lambda: plugins() == [], "the plugin process to be gone")


async def test_a_read_whose_session_closes_on_the_way_is_a_kube_error(sim: Any) -> None:
    """A read that outlives its connection (the App stopping its sources while the breaker
    watch's scan waits for its credentials) ends in the failure funnel's error, not in
    aiohttp's assertion on a closed session, which escaped the scan's "never raises" and ended
    the App (seen under load in the full suite)."""
    from backends.kube.errors import KubeError
    from backends.ops.breaker.cluster import scan

    connection = await connect(str(sim.kubeconfig), None)
    try:
        await connection.get_raw("/api/v1/namespaces", {"limit": 1})
        session = connection._session()  # noqa: SLF001
        headers = connection._auth_headers  # noqa: SLF001

        async def closing_on_the_way() -> dict[str, str]:
            found = await headers()
            await session.close()  # the App stops the sources right now
            return found

        connection._auth_headers = closing_on_the_way  # type: ignore[method-assign]  # noqa: SLF001
        with pytest.raises(KubeError, match="closed"):
            await connection.get_raw("/api/v1/namespaces", {"limit": 1})
        marks = await scan(connection)  # what failed is in its errors, never raised
        assert marks.errors and all("closed" in e for e in marks.errors), marks
    finally:
        await connection.close()
