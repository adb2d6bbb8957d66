"""One connection to one cluster: kubernetes.aio's session and auth, raw bytes out.

What we take from ``kubernetes.aio`` (bundled with ``kubernetes`` >= 37), and why: everything
that is hard to get right about *reaching* a cluster. Its kubeconfig loader (read through
:mod:`backends.kube.kubeconfig`, credentials in :mod:`backends.kube.auth`) resolves
``certificate-authority(-data)``, ``insecure-skip-tls-verify``, ``tls-server-name`` and
``proxy-url``; its ``RESTClientObject`` turns that into an ``ssl.SSLContext`` and an
``aiohttp.ClientSession`` (connection pool, ``trust_env`` proxies, large read buffer). We use
that very session, so TLS and proxies behave exactly as for its generated clients.

What we do NOT take: the generated API methods and models. They deserialize every object into
Python model instances (36 s and 3.1 GB for 30,000 pods, ARCHITECTURE.md); we need the raw
JSON bytes for msgspec. So requests go out on kubernetes.aio's session directly, with the auth
header it computes (``Configuration.auth_settings()``), and with ``auto_decompress=False`` per
request (the session default stays on, so the generated clients keep working on it): the
bytes are inflated and counted by :mod:`backends.kube.wire`.

On a 401 the credentials are reloaded once and the request retried
(:meth:`~backends.kube.auth.Credentials.refresh_after_401`).

Credentials (token, basic auth, exec or provider tokens) are not sent to a plain ``http://``
server unless the kubeconfig's cluster or the config allows it (:mod:`backends.cleartext`):
kubectl sends none there either. :attr:`KubeConnection.warnings` says which way it went.

Blocking: reading and validating the kubeconfig and building the ssl context (the system CA
bundle) run in a worker thread. Exec plugins run as asyncio subprocesses. What remains on the
loop is kubernetes.aio writing embedded ``*-data`` certificates to small temp files.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import aiohttp
from yarl import URL

from backends.cleartext import Cleartext, decide
from backends.kube.auth import EXEC_TIMEOUT, Credentials, load_credentials
from backends.kube.errors import (
    TRANSPORT_ERRORS,
    KubeApiError,
    KubeconfigError,
    KubeError,
    KubeUnreachable,
    api_error,
    describe_failure,
)
from backends.kube.kubeconfig import Selected, kubeconfig_paths, select
from backends.kube.kubernetes_aio import ApiClient, Configuration
from backends.kube.wire import LineStream, Params, TransferStats, inflate_body, query_string

__all__ = [
    "STREAM_GRACE",
    "USER_AGENT",
    "KubeConnection",
    "connect",
]

USER_AGENT = "controlroom/0.1 (kubernetes.aio)"
_CREDENTIAL_KEYS = frozenset({"token", "tokenFile", "username", "password", "exec",
                              "auth-provider"})
"""kubeconfig user fields that put a secret in the Authorization header."""
STREAM_GRACE = 15.0
"""Seconds a watch may run past its ``timeoutSeconds`` before we call the server dead: the
server closes the stream at ``timeoutSeconds``, so waiting longer only hides a dead link."""


class KubeConnection:
    """An authenticated connection to one cluster context. Build it with :func:`connect`."""

    def __init__(
        self,
        *,
        selected: Selected,
        configuration: Configuration,
        api_client: ApiClient,
        credentials: Credentials,
        request_timeout: float,
        connect_timeout: float,
        cleartext: Cleartext | None = None,
    ) -> None:
        self.context = selected.context
        """The kubeconfig context name (the header shows it; production ones in red)."""
        self.cluster = selected.server
        """The API server URL."""
        self.cluster_name = selected.cluster_name
        self.namespace = selected.namespace
        """The context's default namespace ("default" when unset)."""
        self.user = selected.user_name
        self.kubeconfig_paths = selected.paths
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.stats = TransferStats()
        self._configuration = configuration
        self._api_client = api_client
        self._credentials = credentials
        self._cleartext = cleartext or Cleartext(send=True, warning="")
        self._closed = False
        self._extra: dict[str, Any] = {}
        if configuration.tls_server_name:
            self._extra["server_hostname"] = configuration.tls_server_name
        if configuration.proxy:
            self._extra["proxy"] = configuration.proxy
            if configuration.proxy_headers:
                self._extra["proxy_headers"] = configuration.proxy_headers

    def __repr__(self) -> str:
        return f"KubeConnection(context={self.context!r}, cluster={self.cluster!r})"

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the engineer must be told about this connection (credentials withheld from,
        or sent in the clear to, a plain ``http://`` server); the CLI prints them, the App
        shows them."""
        return (self._cleartext.warning,) if self._cleartext.warning else ()

    @property
    def credentials_withheld(self) -> bool:
        """True when the context has credentials that are not sent (plain ``http://``)."""
        return not self._cleartext.send

    # ------------------------------------------------------------------ public API

    async def get_raw(
        self, path: str, params: Params | None = None, *, timeout: float | None = None
    ) -> bytes:
        """GET ``path`` and return the body (inflated). For lists, gets and discovery.

        Raises :class:`KubeApiError` for an error answer, :class:`KubeUnreachable` when
        there is none.
        """
        status, body = await self._exchange("GET", path, params, None, None, timeout)
        if status >= 300:
            raise api_error(status, body)
        return body

    async def request(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
        *,
        timeout: float | None = None,
    ) -> tuple[int, bytes]:
        """Any request, for the write gate: returns ``(status, body)`` and does NOT raise for
        error statuses (a 409 Conflict or a 422 Invalid is an answer the caller acts on;
        :func:`api_error` turns it into a :class:`KubeApiError` when wanted). Raises
        :class:`KubeUnreachable` when there is no answer.
        """
        return await self._exchange(method.upper(), path, params, body, content_type, timeout)

    async def open_stream(self, path: str, params: Params | None = None) -> LineStream:
        """Start a streaming GET (``watch=true``) and return its :class:`LineStream`.

        The read timeout is ``timeoutSeconds`` (when given) plus :data:`STREAM_GRACE`: the
        server ends a healthy stream at ``timeoutSeconds``, so a stream still silent after
        that is dead. Error answers raise :class:`KubeApiError` before any line is read.
        """
        limit: float | None = None
        if params is not None and params.get("timeoutSeconds") is not None:
            limit = float(str(params["timeoutSeconds"])) + STREAM_GRACE
        timeout = aiohttp.ClientTimeout(
            total=limit, connect=self.connect_timeout, sock_read=limit
        )
        response = await self._send("GET", path, params, None, None, timeout)
        if response.status >= 300:
            status, body = await self._finish_body(response)
            raise api_error(status, body)
        self.stats.responses += 1
        return LineStream(response, self.stats)

    async def stream_lines(self, path: str, params: Params | None = None) -> AsyncIterator[bytes]:
        """The lines of a streaming GET, one by one (newline-delimited JSON for a watch).

        A convenience over :meth:`open_stream` for consumers that want single lines; the
        watch sources read batches from the :class:`LineStream` instead.
        """
        async with await self.open_stream(path, params) as stream:
            while batch := await stream.read_batch(window=0.0):
                for line in batch:
                    yield line

    async def close(self) -> None:
        """Close the session and its pooled connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self._api_client.close()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    async def __aenter__(self) -> KubeConnection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ plumbing

    def _session(self) -> aiohttp.ClientSession:
        """kubernetes.aio's own session (its connector carries the context's ssl context).

        ``_create_pool_manager`` is the factory kubernetes.aio documents as its override
        point; we call it the way its ``request`` does, once, and keep the session where
        ``ApiClient.close()`` closes it.
        """
        rest = self._api_client.rest_client
        if rest.pool_manager is None:
            rest.pool_manager = rest._create_pool_manager()
        return rest.pool_manager

    async def _auth_headers(self) -> dict[str, str]:
        if not self._cleartext.send:
            return {}
        try:
            settings = await self._configuration.auth_settings()
        except KubeconfigError as exc:  # the refresh hook could not renew the credentials
            raise KubeApiError(401, "Unauthorized", f"could not refresh credentials: {exc}") \
                from exc
        headers: dict[str, str] = {}
        bearer = settings.get("BearerToken")  # kubeconfig tokens, Basic auth, exec, providers
        if bearer is not None and bearer["in"] == "header" and bearer["value"]:
            headers[bearer["key"]] = str(bearer["value"])
        return headers

    async def _send(
        self,
        method: str,
        path: str,
        params: Params | None,
        body: bytes | None,
        content_type: str | None,
        timeout: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        if self._closed:
            raise KubeUnreachable("the connection is closed")
        query = query_string(params)
        url = URL(self.cluster + path + (f"?{query}" if query else ""), encoded=True)
        generation = self._credentials.generation
        response = await self._send_once(method, url, body, content_type, timeout)
        if response.status == 401 and self._credentials.refreshable and self._cleartext.send:
            response.release()
            try:
                await self._credentials.refresh_after_401(generation)
            except KubeconfigError as exc:
                raise KubeApiError(401, "Unauthorized", f"could not refresh credentials: {exc}") \
                    from exc
            response = await self._send_once(method, url, body, content_type, timeout)
        return response

    async def _send_once(
        self,
        method: str,
        url: URL,
        body: bytes | None,
        content_type: str | None,
        timeout: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        headers = await self._auth_headers()
        headers["User-Agent"] = USER_AGENT
        headers["Accept"] = "application/json"
        headers["Accept-Encoding"] = "gzip"
        if body is not None and content_type:
            headers["Content-Type"] = content_type
        self.stats.requests += 1
        session = self._session()
        if session.closed:
            # A read that outlived its session (the App stopping the sources while a breaker
            # scan was on its way): aiohttp would fail an assertion, not a request error.
            raise KubeError(f"the connection to {self.cluster} is closed")
        try:
            return await session.request(
                method,
                url,
                headers=headers,
                data=body,
                timeout=timeout,
                allow_redirects=False,
                auto_decompress=False,
                **self._extra,
            )
        except TRANSPORT_ERRORS as exc:
            raise KubeUnreachable(
                f"{method} {self.cluster}{url.path}: {describe_failure(exc)}"
            ) from exc
        except AssertionError as exc:
            # The session closed between the check above and aiohttp's connect (an await in
            # between): aiohttp asserts on its connector instead of raising a request error.
            if session.closed or self._closed:
                raise KubeError(f"the connection to {self.cluster} is closed") from exc
            raise

    async def _exchange(
        self,
        method: str,
        path: str,
        params: Params | None,
        body: bytes | None,
        content_type: str | None,
        timeout: float | None,
    ) -> tuple[int, bytes]:
        client_timeout = aiohttp.ClientTimeout(
            total=timeout if timeout is not None else self.request_timeout,
            connect=self.connect_timeout,
        )
        response = await self._send(method, path, params, body, content_type, client_timeout)
        return await self._finish_body(response)

    async def _finish_body(self, response: aiohttp.ClientResponse) -> tuple[int, bytes]:
        """Read the whole body and inflate it (large bodies in a thread)."""
        try:
            raw = await response.read()
        except TRANSPORT_ERRORS as exc:
            raise KubeUnreachable(f"reading the answer failed: {describe_failure(exc)}") from exc
        finally:
            response.release()
        body = await inflate_body(raw, response.headers.get("Content-Encoding", ""), self.stats)
        return response.status, body


async def connect(
    kubeconfig: str | None,
    context: str | None,
    *,
    request_timeout: float = 60.0,
    connect_timeout: float = 10.0,
    trace_configs: list[aiohttp.TraceConfig] | None = None,
    exec_timeout: float = EXEC_TIMEOUT,
    allow_http_credentials: bool = False,
) -> KubeConnection:
    """Open a connection for ``context`` (None: the current context) of ``kubeconfig`` (None:
    ``$KUBECONFIG`` or ``~/.kube/config``).

    Nothing is requested from the cluster yet (an unreachable cluster is a source health
    state, not a start-up failure); credentials are loaded, so an exec plugin runs now.
    Raises :class:`KubeconfigError` naming the problem. ``trace_configs`` are handed to the
    aiohttp session (tests use them to see headers on the wire). ``allow_http_credentials``
    is the config's allowance (``[contexts."<name>"]``) to send credentials to a plain
    ``http://`` server; the kubeconfig's cluster extension allows it as well.
    """
    selected = await asyncio.to_thread(select, kubeconfig_paths(kubeconfig), context)
    configuration = Configuration(trace_configs=trace_configs)
    credentials = await load_credentials(selected, configuration, exec_timeout=exec_timeout)
    try:
        api_client = await asyncio.to_thread(ApiClient, configuration)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise KubeconfigError(
            f"context {selected.context!r}: cannot set up TLS for {selected.server}: {exc}"
        ) from exc
    api_client.user_agent = USER_AGENT
    allowed_by = ("the kubeconfig's cluster extension" if selected.allow_http_credentials
                  else "the config" if allow_http_credentials else "")
    cleartext = decide(f"the credentials of user {selected.user_name!r}", selected.server,
                       has_credential=bool(_CREDENTIAL_KEYS & set(selected.user)),
                       allowed_by=allowed_by)
    return KubeConnection(
        selected=selected,
        configuration=configuration,
        api_client=api_client,
        credentials=credentials,
        request_timeout=request_timeout,
        connect_timeout=connect_timeout,
        cleartext=cleartext,
    )
