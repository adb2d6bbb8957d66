"""Health endpoint probes: the update strategy's ``curl -f https://.../health`` as data.

What: every configured endpoint (``[[endpoints]]``: Argo CD ``/api/version``, Grafana
``/api/health``, an application's ``/health``) is requested concurrently; each answer becomes
one :class:`EndpointRow` (store kind ``endpoints``, key = the endpoint's name) with the
status, the latency and, when it failed, why in plain words. The panel shows them, baselines
keep them and validation requires them to answer.

Why it is built this way:

- :func:`probe_all` never raises for an endpoint's failure: a timeout, a refused connection, an
  untrusted certificate or an unexpected status is a row with ``ok=False`` and the error named
  ("timed out after 5 s", "TLS certificate not trusted: ..."). A probe that raised would hide
  every other endpoint's answer exactly when the on-call needs them.
- Each endpoint has its own deadline for the WHOLE probe (httpx's timeouts are per phase, so a
  server dribbling bytes could otherwise hold a probe for ever), and the body is not read
  past a few kilobytes: a health check needs the status, not a hostile gigabyte.
- Header values come from environment variables named in the config and are never put in a
  row, a log line or an error: an error text that happens to contain one has it replaced.
- TLS verification is on unless an endpoint turns it off; httpx verifies per client, so the
  probes share one client per ``verify_tls`` value (connections are reused between polls).
- :class:`HealthPoller` polls without overlap (the next round starts ``interval`` seconds
  after the previous one ended) and reports the source health ``endpoints``. If a round
  cannot run at all (a bug, a broken client), the last rows STAY, flagged ``stale``: an empty
  panel would look like "all clear" exactly when nobody is watching.

``httpx`` is imported inside functions: it pulls in rich, and ``backends`` must not load UI
libraries (see the import-linter contract).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Final

import msgspec

from backends.config import EndpointSettings
from backends.model import Row
from backends.sanitize import clean
from backends.signals.polling import PollLoop
from backends.store import SourceState, Store

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ENDPOINTS",
    "SOURCE",
    "EndpointRow",
    "HealthPoller",
    "Stopper",
    "probe",
    "probe_all",
    "start_health",
]

log = logging.getLogger(__name__)

ENDPOINTS: Final = "endpoints"
"""Store kind of :class:`EndpointRow`."""
SOURCE: Final = "endpoints"
"""Name of the probes' source health (the header strip)."""

_BODY_LIMIT: Final = 4096
"""Bytes of an answer read at most (for the error text of a failed probe)."""
_ERROR_MAX: Final = 300
_CONCURRENCY: Final = 32

Stopper = Callable[[], Awaitable[None]]


class EndpointRow(Row, frozen=True, gc=False, kw_only=True):
    """The last probe of one health endpoint; ``key`` is the endpoint's configured name.

    Frozen and untracked like every row: equal probes compare equal, so an unchanged answer
    does not wake the panel (latency is rounded to whole milliseconds for the same reason).
    """

    name: str
    url: str
    ok: bool = False
    status: int | None = None
    """The HTTP status; None when no answer came (timeout, refused, TLS...)."""
    latency_ms: float | None = None
    """Time to the answer's headers; None when no answer came."""
    error: str = ""
    """Why the probe failed, in plain words; empty when ``ok``."""
    checked_at: float | None = None
    """When the probe started (epoch seconds)."""
    stale: bool = False
    """The probing itself could not run and this is the last known result: the panel dims it."""


# --------------------------------------------------------------------------- probing


def _headers(endpoint: EndpointSettings, env: Mapping[str, str]) -> dict[str, str]:
    """Header name -> value from the environment; KeyError names the missing variable."""
    values: dict[str, str] = {}
    for header, variable in endpoint.headers.items():
        value = env.get(variable)
        if value is None:
            raise KeyError(f"header {header}: environment variable {variable} is not set")
        values[header] = value
    return values


def _redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret value replaced (longest first, so no part survives)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _cause_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(chain) < 10:
        chain.append(current)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return chain


def _describe(exc: BaseException, timeout: float) -> str:
    """Plain words for why no answer came: timeout, refused, TLS, DNS, or the error itself."""
    import httpx

    chain = _cause_chain(exc)
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            reason = item.verify_message or item.reason or str(item)
            return f"TLS certificate not trusted: {reason}"
    for item in chain:
        if isinstance(item, ssl.SSLError):
            return f"TLS handshake failed: {item.reason or item}"
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"timed out after {timeout:g} s"
    for item in chain:
        if isinstance(item, ConnectionRefusedError):
            return "connection refused"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).strip()
        if "Name or service not known" in text or "nodename nor servname" in text \
                or "getaddrinfo" in text:
            return f"host not found: {text}"
        return f"cannot connect: {text or type(exc).__name__}"
    if isinstance(exc, httpx.HTTPError):
        return f"{type(exc).__name__}: {str(exc).strip() or 'no answer'}"
    return f"probe failed: {type(exc).__name__}: {exc}"


def _expected(endpoint: EndpointSettings, status: int) -> bool:
    if endpoint.expect_status:
        return status in endpoint.expect_status
    return 200 <= status < 300


def _expectation(endpoint: EndpointSettings) -> str:
    if not endpoint.expect_status:
        return "2xx"
    return " or ".join(str(code) for code in endpoint.expect_status)


async def probe(endpoint: EndpointSettings, client: httpx.AsyncClient, *,
                env: Mapping[str, str] | None = None,
                clock: Callable[[], float] = time.time) -> EndpointRow:
    """Probe one endpoint with ``client``; every failure is a row with ``ok=False``.

    The whole probe (connect, TLS, headers, the first few KiB of the body) must finish within
    the endpoint's ``timeout``.
    """
    name, url = clean(endpoint.name, 100), clean(endpoint.url, 2000)
    started = clock()
    base = EndpointRow(key=endpoint.name, name=name, url=url, checked_at=started)
    try:
        headers = _headers(endpoint, os.environ if env is None else env)
    except KeyError as exc:
        return msgspec.structs.replace(base, error=clean(exc.args[0], _ERROR_MAX))
    secrets = list(headers.values())
    t0 = time.perf_counter()
    latency: float | None = None
    status: int | None = None
    body = b""
    try:
        async with asyncio.timeout(endpoint.timeout):
            async with client.stream(endpoint.method, endpoint.url, headers=headers,
                                     timeout=endpoint.timeout) as response:
                latency = round((time.perf_counter() - t0) * 1000.0)
                status = response.status_code
                if not _expected(endpoint, status):
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) >= _BODY_LIMIT:
                            break
    except Exception as exc:  # noqa: BLE001 - a probe must survive anything the network does
        if status is not None:
            # The status arrived but the body did not: the status is what counts.
            log.debug("%s: body not read: %s", endpoint.name, exc)
        else:
            why = _redact(_describe(exc, endpoint.timeout), secrets)
            return msgspec.structs.replace(base, error=clean(why, _ERROR_MAX))
    assert status is not None  # no status means the except branch returned
    if _expected(endpoint, status):
        return msgspec.structs.replace(base, ok=True, status=status, latency_ms=latency)
    snippet = body[:_BODY_LIMIT].decode("utf-8", "replace").strip()
    why = f"HTTP {status} (expected {_expectation(endpoint)})"
    if snippet:
        why += f": {snippet}"
    return msgspec.structs.replace(base, status=status, latency_ms=latency,
                                   error=clean(_redact(why, secrets), _ERROR_MAX))


def _new_client(verify_tls: bool) -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(verify=verify_tls, follow_redirects=False,
                             headers={"User-Agent": "controlroom-health-probe"})


async def probe_all(endpoints: Sequence[EndpointSettings], *,
                    client: httpx.AsyncClient | None = None,
                    clients: Mapping[bool, httpx.AsyncClient] | None = None,
                    env: Mapping[str, str] | None = None,
                    clock: Callable[[], float] = time.time) -> list[EndpointRow]:
    """Probe every endpoint concurrently, each within its own timeout; one row per endpoint,
    in the order given. Never raises for an endpoint's failure (see :func:`probe`).

    ``client`` is used for every endpoint (tests; its own TLS setting then applies to all);
    ``clients`` maps ``verify_tls`` to a client (the poller reuses its clients); with neither,
    one client per ``verify_tls`` value is made and closed here (the headless commands).
    ``env`` replaces ``os.environ`` as the source of header values.
    """
    if not endpoints:
        return []
    owned: dict[bool, httpx.AsyncClient] = {}

    def client_for(verify_tls: bool) -> httpx.AsyncClient:
        if client is not None:
            return client
        if clients is not None and verify_tls in clients:
            return clients[verify_tls]
        if verify_tls not in owned:
            owned[verify_tls] = _new_client(verify_tls)
        return owned[verify_tls]

    limit = asyncio.Semaphore(_CONCURRENCY)

    async def one(endpoint: EndpointSettings) -> EndpointRow:
        async with limit:
            return await probe(endpoint, client_for(endpoint.verify_tls), env=env, clock=clock)

    try:
        return list(await asyncio.gather(*(one(endpoint) for endpoint in endpoints)))
    finally:
        for made in owned.values():
            await made.aclose()


# --------------------------------------------------------------------------- polling


Prober = Callable[[Sequence[EndpointSettings]], Awaitable[list[EndpointRow]]]


class HealthPoller(PollLoop):
    """Probes the endpoints without overlap and keeps their rows and health in the store.

    ``prober`` replaces the real probing (tests); ``clock`` stamps the health and ``sleep``
    waits between rounds (tests pass their own to step through rounds deterministically).
    """

    def __init__(self, store: Store, endpoints: Sequence[EndpointSettings], *,
                 interval: float = 10.0, prober: Prober | None = None,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        super().__init__(SOURCE, store, interval=interval, clock=clock, sleep=sleep)
        self.endpoints = tuple(endpoints)
        self._clients: dict[bool, httpx.AsyncClient] = {}
        self._prober = prober or self._probe
        self._ever_ok = False
        self._running = False
        self.rounds = 0
        """Completed rounds, good or bad, counted once the store holds the outcome."""
        self.overlaps = 0
        """Rounds refused because one was still running (stays 0 unless misused)."""

    async def _probe(self, endpoints: Sequence[EndpointSettings]) -> list[EndpointRow]:
        for verify in {endpoint.verify_tls for endpoint in endpoints}:
            if verify not in self._clients:
                self._clients[verify] = _new_client(verify)
        return await probe_all(endpoints, clients=self._clients, clock=self._clock)

    async def poll_once(self) -> bool:
        """One round; True when the probes ran (rows replaced, whatever they found), False
        when probing itself failed (rows kept, flagged stale) or a round is still running."""
        if self._running:
            self.overlaps += 1
            return False
        self._running = True
        store = self._store
        try:
            rows = await self._prober(self.endpoints)
        except Exception as exc:  # noqa: BLE001 - the poller must outlive its own bugs
            log.exception("%s: probing failed", SOURCE)
            now = self._clock()
            changed = [msgspec.structs.replace(row, stale=True)
                       for row in store.rows(ENDPOINTS).values()
                       if isinstance(row, EndpointRow) and not row.stale]
            store.apply(ENDPOINTS, (("MODIFIED", row) for row in changed))
            state: SourceState = "stale" if self._ever_ok else "error"
            store.set_health(SOURCE, state, f"probing failed: {clean(exc, _ERROR_MAX)}", now=now)
            return False
        finally:
            self._running = False
            self.rounds += 1
        now = self._clock()
        store.replace(ENDPOINTS, rows)
        self._ever_ok = True
        failing = [row.name for row in rows if not row.ok]
        # The source works even when endpoints fail: the failures are the data, shown per row.
        store.set_health(SOURCE, "connected",
                         f"{len(failing)} of {len(rows)} failing" if failing else "", now=now)
        store.note_event(SOURCE, now=now)
        return True

    async def close(self) -> None:
        """Close the HTTP clients."""
        clients, self._clients = self._clients, {}
        for made in clients.values():
            await made.aclose()


def start_health(store: Store, endpoints: Sequence[EndpointSettings],
                 interval: float = 10.0) -> Stopper:
    """Start probing ``endpoints`` every ``interval`` seconds on the running loop; returns
    the stopper. Nothing starts (and no source health is shown) without endpoints."""
    if not endpoints:

        async def nothing() -> None:
            return None

        return nothing
    poller = HealthPoller(store, endpoints, interval=interval)
    poller.start()
    return poller.stop
