"""Health endpoint probes against real local servers, the poller, the config and the drill.

Every failure mode is a real socket: a 503, a server slower than the timeout, a closed port,
a self-signed HTTPS server (openssl makes the certificate), a server that echoes the secret
header back. Nothing sleeps blindly: the slow server is slower than a short timeout.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from aiohttp import web

from backends.config import ConfigError, EndpointSettings, Settings, parse
from backends.signals.health import (
    ENDPOINTS,
    SOURCE,
    EndpointRow,
    HealthPoller,
    probe_all,
    start_health,
)
from backends.store import Store
from drill.runner import DrillCluster, DrillOptions
from tests.conftest import require_program
from tests.waiting import await_until

SECRET = "s3cr3t-t0ken-value"
HOSTILE_BODY = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J[bold red]down[/] [@click=app.quit]x"


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"status": "UP"})


async def _down(request: web.Request) -> web.Response:
    return web.Response(status=503, text=HOSTILE_BODY)


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(3)
    return web.Response(text="late")


async def _auth(request: web.Request) -> web.Response:
    # A careless server that echoes the credential back in its error: it must not reach us.
    got = request.headers.get("X-Token", "")
    if got != SECRET:
        return web.Response(status=401, text=f"bad token {got!r}")
    return web.Response(status=418, text=f"token {got} accepted but I am a teapot")


class _Pair:
    def __init__(self) -> None:
        self.waiting = 0
        self.both = asyncio.Event()


PAIR = web.AppKey("pair", _Pair)


async def _pair(request: web.Request) -> web.Response:
    """Answers only once two requests are waiting here at the same time: probes sent one
    after the other would each wait until their own timeout."""
    pair = request.app[PAIR]
    pair.waiting += 1
    if pair.waiting >= 2:
        pair.both.set()
    await pair.both.wait()
    return web.json_response({"status": "UP"})


def _app() -> web.Application:
    app = web.Application()
    app[PAIR] = _Pair()
    app.router.add_get("/pair", _pair)
    app.router.add_get("/ok", _ok)
    app.router.add_get("/down", _down)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/auth", _auth)
    return app


async def _serve(ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(_app(), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
    scheme = "https" if ssl_context else "http"
    return runner, f"{scheme}://127.0.0.1:{port}"


@pytest.fixture
async def server() -> AsyncIterator[str]:
    runner, url = await _serve()
    try:
        yield url
    finally:
        await runner.cleanup()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ep(name: str, url: str, **kw: object) -> EndpointSettings:
    return EndpointSettings(name=name, url=url, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- probes


async def test_ok_down_timeout_refused_each_named_and_in_order(server: str) -> None:
    refused = f"http://127.0.0.1:{_free_port()}/health"
    endpoints = [ep("up", f"{server}/ok"), ep("down", f"{server}/down"),
                 ep("slow", f"{server}/slow", timeout=0.3), ep("closed", refused),
                 ep("expected 503", f"{server}/down", expect_status=[503])]
    rows = await probe_all(endpoints)  # the slow one is cut at its timeout (below)
    assert [r.name for r in rows] == ["up", "down", "slow", "closed", "expected 503"]
    up, down, slow, closed, expected = rows
    assert up.ok and up.status == 200 and up.latency_ms is not None and up.error == ""
    assert up.key == "up" and up.checked_at is not None and not up.stale
    assert not down.ok and down.status == 503
    assert down.error.startswith("HTTP 503 (expected 2xx): ")
    assert "\x1b" not in down.error and "\x07" not in down.error  # sanitized once, here
    assert "[bold red]down[/]" in down.error  # markup-like text kept literally
    assert not slow.ok and slow.status is None and slow.error == "timed out after 0.3 s"
    assert not closed.ok and closed.status is None and closed.error == "connection refused"
    assert expected.ok and expected.status == 503


async def test_probes_run_concurrently(server: str) -> None:
    """Two probes of an endpoint that answers only when both are in flight: both succeed."""
    rows = await probe_all([ep("a", f"{server}/pair", timeout=60),
                            ep("b", f"{server}/pair", timeout=60)])
    assert [(r.name, r.ok, r.status) for r in rows] == [("a", True, 200), ("b", True, 200)], rows


async def test_header_value_from_environment_is_sent_and_never_shown(server: str) -> None:
    endpoint = ep("auth", f"{server}/auth", headers={"X-Token": "PROBE_TOKEN"},
                  expect_status=[200], allow_http_credentials=True)  # a plain-http test server
    [row] = await probe_all([endpoint], env={"PROBE_TOKEN": SECRET})
    # the server saw the right value (it answers 418 only then) and echoed it back
    assert row.status == 418 and not row.ok
    assert SECRET not in row.error and "***" in row.error
    assert "expected 200" in row.error

    [wrong] = await probe_all([endpoint], env={"PROBE_TOKEN": "nope"})
    assert wrong.status == 401

    [missing] = await probe_all([endpoint], env={})
    assert not missing.ok and missing.status is None
    assert missing.error == "header X-Token: environment variable PROBE_TOKEN is not set"


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = require_program("openssl")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert, key


async def test_tls_verification_is_on_by_default(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    runner, url = await _serve(context)
    try:
        strict, lax = await probe_all([ep("strict", f"{url}/ok"),
                                       ep("lax", f"{url}/ok", verify_tls=False)])
    finally:
        await runner.cleanup()
    assert not strict.ok and strict.status is None
    assert strict.error.startswith("TLS certificate not trusted: ")
    assert "self" in strict.error.lower()  # "self-signed certificate"
    assert lax.ok and lax.status == 200


async def test_a_broken_client_is_a_failed_row_not_an_exception(server: str) -> None:
    import httpx

    client = httpx.AsyncClient()
    await client.aclose()  # a closed client raises on use
    [row] = await probe_all([ep("up", f"{server}/ok")], client=client)
    assert not row.ok and row.status is None and row.error


# --------------------------------------------------------------------------- config


def test_config_endpoints_are_validated_with_the_key_named() -> None:
    settings = parse(b'[[endpoints]]\nname = "argocd"\nurl = "https://argocd.example/api/version"'
                     b'\nheaders = { Authorization = "ARGOCD_HEALTH_AUTH" }\ntimeout = 2\n')
    [endpoint] = settings.endpoints
    assert endpoint.headers == {"Authorization": "ARGOCD_HEALTH_AUTH"}
    assert endpoint.verify_tls and endpoint.method == "GET" and endpoint.expect_status == []
    bad = {
        b'[[endpoints]]\nname = "x"\nurl = "ftp://host/x"\n': "must look like https://host/path",
        b'[[endpoints]]\nname = "x"\nurl = "http://h"\nheaders = { A = "Bearer abc" }\n':
            "must name an environment variable",
        b'[[endpoints]]\nname = "x"\nurl = "http://h"\ntimeout = 0\n': "timeout of endpoint",
        b'[[endpoints]]\nname = "x"\nurl = "http://h"\nexpect_status = [42]\n': "expect_status",
        b'[[endpoints]]\nname = "x"\nurl = "http://h"\n[[endpoints]]\nname = "x"\n'
        b'url = "http://i"\n': "endpoint names must be unique",
        b'[[endpoints]]\nname = "x"\nurl = "http://h"\nverify = false\n': "unknown field",
        b'[[endpoints]]\nname = "x"\nurl = "https://me:Bearer abc@h/x"\n':
            "must not carry credentials",
    }
    for text, expected in bad.items():
        with pytest.raises(ConfigError, match=expected) as info:
            parse(text)
        assert "Bearer abc" not in str(info.value)  # a pasted secret is not echoed


# --------------------------------------------------------------------------- poller


def row(name: str, ok: bool = True) -> EndpointRow:
    return EndpointRow(key=name, name=name, url=f"http://h/{name}", ok=ok,
                       status=200 if ok else 503, latency_ms=5, checked_at=100.0,
                       error="" if ok else "HTTP 503")


class FakeProber:
    """Rounds scripted one by one: a list of rows, or an exception to raise."""

    def __init__(self, *outcomes: list[EndpointRow] | Exception) -> None:
        self.outcomes = list(outcomes)
        self.running = 0
        self.most = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, endpoints: Sequence[EndpointSettings]) -> list[EndpointRow]:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            outcome = self.outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        finally:
            self.running -= 1


ENDPOINT_SET = [ep("a", "http://h/a"), ep("b", "http://h/b")]


async def test_rows_stay_and_turn_stale_when_probing_cannot_run() -> None:
    store = Store(clock=lambda: 1000.0)
    prober = FakeProber([row("a"), row("b", ok=False)], RuntimeError("client exploded"),
                        [row("a"), row("b")])
    poller = HealthPoller(store, ENDPOINT_SET, prober=prober, clock=lambda: 1000.0)
    assert await poller.poll_once()
    health = store.health(SOURCE)
    assert health is not None and health.state == "connected"
    assert health.error == "1 of 2 failing"
    assert set(store.rows(ENDPOINTS)) == {"a", "b"}

    assert not await poller.poll_once()
    held = store.rows(ENDPOINTS)
    assert set(held) == {"a", "b"} and all(r.stale for r in held.values())  # type: ignore[attr-defined]
    health = store.health(SOURCE)
    assert health is not None and health.state == "stale"
    assert "client exploded" in health.error

    assert await poller.poll_once()
    assert not any(r.stale for r in store.rows(ENDPOINTS).values())  # type: ignore[attr-defined]
    assert store.health(SOURCE).state == "connected"  # type: ignore[union-attr]
    assert poller.rounds == 3


async def test_first_round_failing_is_an_error_not_stale() -> None:
    store = Store()
    poller = HealthPoller(store, ENDPOINT_SET, prober=FakeProber(RuntimeError("boom")))
    assert not await poller.poll_once()
    assert store.health(SOURCE).state == "error"  # type: ignore[union-attr]
    assert store.count(ENDPOINTS) == 0


async def test_rounds_never_overlap() -> None:
    store = Store()
    prober = FakeProber([row("a")], [row("a")])
    prober.gate = asyncio.Event()
    poller = HealthPoller(store, ENDPOINT_SET, prober=prober)
    first = asyncio.create_task(poller.poll_once())
    await asyncio.sleep(0)
    assert prober.running == 1
    assert not await poller.poll_once()  # refused while the first runs
    assert poller.overlaps == 1
    prober.gate.set()
    assert await first
    assert prober.most == 1

    # run(): the next round starts only after the previous ended and the pause elapsed
    sleeps: list[float] = []
    done = asyncio.Event()

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            done.set()
            await asyncio.Event().wait()

    prober2 = FakeProber([row("a")], [row("b")])
    poller2 = HealthPoller(store, ENDPOINT_SET, prober=prober2, interval=7.0, sleep=sleep)
    task = poller2.start()
    await asyncio.wait_for(done.wait(), 30)
    await poller2.stop()
    assert task.done() and sleeps == [7.0, 7.0] and prober2.most == 1
    assert set(store.rows(ENDPOINTS)) == {"b"}


async def test_start_health_probes_into_the_store_and_stops(server: str) -> None:
    store = Store()
    nothing = start_health(store, [])
    await nothing()
    assert store.health(SOURCE) is None  # no endpoints: no source shown

    stop = start_health(store, [ep("up", f"{server}/ok"), ep("down", f"{server}/down")],
                        interval=60)
    try:
        await await_until(lambda: store.count(ENDPOINTS) == 2, "both endpoints in the store")
        rows = store.rows(ENDPOINTS)
        assert rows["up"].ok and not rows["down"].ok  # type: ignore[attr-defined]
        assert store.health(SOURCE).state == "connected"  # type: ignore[union-attr]
    finally:
        await stop()
    await stop()  # idempotent


# --------------------------------------------------------------------------- drill


async def test_drill_checkout_endpoint_goes_503_when_checkout_crash_loops() -> None:
    drill = DrillCluster(DrillOptions(scenario="bad-rollout", manual_clock=True))
    drill.endpoints.slowness = 0.0  # the failing answer's delay is not what is tested here
    drill.sim.step()
    await drill.server.start()
    try:
        endpoints = drill.health_endpoints
        names = [e.name for e in endpoints]
        assert names[:2] == ["argocd", "grafana"] and "app checkout" in names
        before = {r.name: r for r in await probe_all(endpoints)}
        assert all(r.ok for r in before.values()), before
        assert before["argocd"].status == 200

        drill.sim.advance(150)  # the bad release is synced and crash-loops
        after = {r.name: r for r in await probe_all(endpoints)}
        checkout = after["app checkout"]
        assert not checkout.ok and checkout.status == 503
        assert "DOWN" in checkout.error and "checkout" in checkout.error
        assert after["app payments"].ok and after["argocd"].ok and after["grafana"].ok
    finally:
        await drill.server.stop()


async def test_demo_wiring_probes_the_drill_endpoints_when_none_are_configured(
        drill: DrillCluster) -> None:
    from tui.run import _sources

    store = Store()
    starter = _sources(lambda: str(drill.kubeconfig), None, None, settings=Settings(),
                       drill_endpoints=lambda: drill.health_endpoints)
    session = await starter(store)
    try:
        await await_until(lambda: store.count(ENDPOINTS) == len(drill.health_endpoints),
                          "every drill endpoint in the store")
        rows = store.rows(ENDPOINTS)
        assert {"argocd", "grafana", "app checkout"} <= set(rows)
        assert all(r.ok for r in rows.values())  # type: ignore[attr-defined]
    finally:
        await session.stop()

    # configured endpoints win over the drill's
    store = Store()
    configured = Settings(endpoints=[ep("mine", f"{drill.url}/drill/grafana/api/health")])
    session = await _sources(lambda: str(drill.kubeconfig), None, None, settings=configured,
                             drill_endpoints=lambda: drill.health_endpoints)(store)
    try:
        await await_until(lambda: store.count(ENDPOINTS), "the configured endpoint in the store")
        assert set(store.rows(ENDPOINTS)) == {"mine"}
    finally:
        await session.stop()
