"""One connection to one cluster: kubeconfig and auth from ``kubernetes.aio``, raw bytes out.

What we take from ``kubernetes.aio`` (bundled with ``kubernetes`` >= 37), and why: everything
that is hard to get right about *reaching* a cluster. Its kubeconfig loader merges
``KUBECONFIG`` lists, resolves contexts, reads ``token``/``tokenFile``, client certificates,
``exec`` credential plugins (kubelogin, ``aws eks get-token``), the OIDC and GCP auth
providers, ``certificate-authority(-data)``, ``insecure-skip-tls-verify``, ``tls-server-name``
and ``proxy-url``. Its ``RESTClientObject`` turns that into an ``ssl.SSLContext`` and an
``aiohttp.ClientSession`` (connection pool, ``trust_env`` proxies, large read buffer). We use
that very session, so TLS and proxies behave exactly as for its generated clients.

What we do NOT take: the generated API methods and models. They deserialize every object into
Python model instances (36 s and 3.1 GB for 30,000 pods, ARCHITECTURE.md); we need the raw
JSON bytes for msgspec. So requests go out on kubernetes.aio's session directly, with the auth
header it computes (``Configuration.auth_settings()``), and with ``auto_decompress=False`` per
request (the session default stays on, so the generated clients keep working on it):

- we send ``Accept-Encoding: gzip`` explicitly and read the compressed bytes ourselves. That
  lets :class:`TransferStats` count what really crossed the wire (the test suite asserts
  that it was compressed) and lets us inflate large bodies in a worker thread (zlib releases
  the GIL), so a 20 MB gzipped list never stalls the event loop;
- watch streams are inflated incrementally and split into lines here, so a watch event of any
  size works (no ``readline`` buffer limit), and :meth:`LineStream.read_batch` can hand the
  source "everything that arrived within ~50 ms" in one go.

Credential refresh: ``kubernetes.aio`` only offers a polling loop (``refresh_token``). We
install ``Configuration.refresh_api_key_hook`` instead, which re-runs an ``exec`` plugin when
its ``expirationTimestamp`` is less than five minutes away, and on a 401 we reload the
credentials once (exec plugin, ``tokenFile``, auth provider) and retry, as client-go does for
plugins without an expiry. A client certificate delivered by an exec plugin is read when
connecting; its rotation needs a reconnect (kubernetes.aio builds the ssl context once).

Blocking: reading and validating the kubeconfig and building the ssl context (the system CA
bundle) run in a worker thread. Exec plugins run as asyncio subprocesses. What remains on the
loop is kubernetes.aio writing embedded ``*-data`` certificates to small temp files.
Interactive exec logins (a device-code prompt) cannot work inside the TUI: log in first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeAlias
from urllib.parse import quote, urlencode

import aiohttp
import msgspec
import yaml
from kubernetes.aio.client import ApiClient, Configuration
from kubernetes.aio.config.config_exception import ConfigException
from kubernetes.aio.config.kube_config import KubeConfigLoader, KubeConfigMerger
from yarl import URL

from backends.kube.schema import StatusIn
from backends.sanitize import clean

__all__ = [
    "KubeApiError",
    "KubeConnection",
    "KubeError",
    "KubeTransport",
    "KubeUnreachable",
    "KubeconfigError",
    "LineStream",
    "Params",
    "TransferStats",
    "connect",
    "list_contexts",
    "namespaced_path",
]

log = logging.getLogger(__name__)

Params: TypeAlias = Mapping[str, str | int | bool | None]
"""Query parameters; ``None`` values are left out, booleans become ``true``/``false``."""

USER_AGENT = "controlroom/0.1 (kubernetes.aio)"
STREAM_GRACE = 15.0
"""Seconds a watch may run past its ``timeoutSeconds`` before we call the server dead: the
server closes the stream at ``timeoutSeconds``, so waiting longer only hides a dead link."""
THREAD_INFLATE_BYTES = 256 * 1024
"""Compressed bodies at least this large are inflated in a worker thread."""
_EXPIRY_SKEW = timedelta(minutes=5)
_KUBE_CONFIG_LOGGER = "kubernetes.aio.config.kube_config"


# --------------------------------------------------------------------------- errors


class KubeError(Exception):
    """Base of the errors a cluster request can end in."""


class KubeApiError(KubeError):
    """The API server answered with an error ``Status`` (403 Forbidden, 404 NotFound, 410
    Expired...). ``reason`` and ``message`` come from the Status body when there is one
    (sanitized: the text is the server's), else from the HTTP status."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class KubeUnreachable(KubeError):
    """No answer: connection refused or reset, DNS, TLS handshake, timeout, a broken stream."""


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used; the message names the file, context or field at fault."""


_STATUS_DECODER = msgspec.json.Decoder(StatusIn)
_REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def api_error(status: int, body: bytes) -> KubeApiError:
    """Build the error for an HTTP error answer, preferring the Kubernetes ``Status`` body
    (a proxy in front of the API server may answer with HTML: then the HTTP status speaks)."""
    reason = _REASONS.get(status, "")
    if not reason:
        try:
            reason = HTTPStatus(status).phrase.replace(" ", "")
        except ValueError:
            reason = "Unknown"
    message = ""
    try:
        st = _STATUS_DECODER.decode(body)
    except msgspec.DecodeError:
        st = None
    if st is not None:
        reason = st.reason or reason
        message = st.message
    if not message:
        message = body[:300].decode("utf-8", "replace").strip() or reason
    return KubeApiError(status, clean(reason, 64), clean(message, 1000))


def _describe(exc: BaseException) -> str:
    """A one-line reason for a transport failure (some aiohttp errors have empty str())."""
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


_TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, zlib.error)


# --------------------------------------------------------------------------- bytes


@dataclass
class TransferStats:
    """Counters of what crossed the wire: proof that gzip works, and data for a debug view."""

    requests: int = 0
    responses: int = 0
    gzip_responses: int = 0
    wire_bytes: int = 0
    """Body bytes as received (compressed when the server gzipped them)."""
    body_bytes: int = 0
    """Body bytes after inflating."""


def _decompressor(encoding: str) -> Any:
    """A zlib decompressor for a ``Content-Encoding``, or None for an identity body."""
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return None
    if enc in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if enc == "deflate":
        return zlib.decompressobj()
    raise KubeUnreachable(f"the server sent an unsupported Content-Encoding {encoding!r}")


def _inflate_all(decompressor: Any, raw: bytes) -> bytes:
    try:
        data: bytes = decompressor.decompress(raw) + decompressor.flush()
    except zlib.error as exc:
        raise KubeUnreachable(f"corrupt compressed body: {exc}") from exc
    return data


class LineStream:
    """An open streaming response (a watch): inflated, split into lines, read in batches.

    Use as an async context manager; leaving it closes the response. Not safe for two
    concurrent readers (nobody needs that: one source owns one stream).
    """

    def __init__(self, response: aiohttp.ClientResponse, stats: TransferStats) -> None:
        self._response = response
        self._content = response.content
        self._stats = stats
        self.content_encoding = response.headers.get("Content-Encoding", "")
        """What the server did with our ``Accept-Encoding: gzip`` (tests assert "gzip")."""
        self._inflate = _decompressor(self.content_encoding)
        if self._inflate is not None:
            stats.gzip_responses += 1
        self._buffer = bytearray()
        self._lines: deque[bytes] = deque()
        self._eof = False
        self._closed = False

    @property
    def status(self) -> int:
        """The HTTP status (always 2xx: error answers raise before a stream is made)."""
        return self._response.status

    @property
    def at_eof(self) -> bool:
        """True once the server ended the stream and every line was handed out."""
        return self._eof and not self._lines

    async def read_batch(self, *, max_lines: int = 1000, window: float = 0.05) -> list[bytes]:
        """Wait for at least one line, then gather whatever else arrives within ``window``
        seconds (at most ``max_lines``). An empty list means the server ended the stream.

        Why a window: at 1,000 events/s, applying each event on its own costs a store call,
        a version bump and a health update per event; gathered, it is one call per batch,
        and the UI refreshes every 100-200 ms anyway, so 50 ms of added latency is invisible.
        Raises :class:`KubeUnreachable` when the stream breaks or times out.
        """
        while not self._lines and not self._eof:
            await self._read_chunk(None)
        if window > 0 and len(self._lines) < max_lines and not self._eof:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + window
            while len(self._lines) < max_lines and not self._eof:
                remaining = deadline - loop.time()
                if remaining <= 0 or not await self._read_chunk(remaining):
                    break
        count = min(max_lines, len(self._lines))
        return [self._lines.popleft() for _ in range(count)]

    async def _read_chunk(self, timeout: float | None) -> bool:
        """Read what the network has; False when ``timeout`` passed with nothing new."""
        try:
            if timeout is None:
                chunk = await self._content.readany()
            else:
                window = asyncio.timeout(timeout)
                try:
                    async with window:
                        chunk = await self._content.readany()
                except TimeoutError:
                    if window.expired():
                        return False
                    raise  # aiohttp's own read timeout: the link is dead
        except _TRANSPORT_ERRORS as exc:
            raise KubeUnreachable(f"the stream broke: {_describe(exc)}") from exc
        if chunk:
            self._feed(chunk)
        else:
            self._finish()
        return True

    def _feed(self, chunk: bytes) -> None:
        self._stats.wire_bytes += len(chunk)
        data = chunk
        if self._inflate is not None:
            try:
                data = self._inflate.decompress(chunk)
            except zlib.error as exc:
                raise KubeUnreachable(f"corrupt compressed stream: {exc}") from exc
        self._stats.body_bytes += len(data)
        if data:
            self._split(data)

    def _split(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        start = 0
        while (end := buf.find(b"\n", start)) >= 0:
            if end > start:
                self._lines.append(bytes(buf[start:end]))
            start = end + 1
        if start:
            del buf[:start]

    def _finish(self) -> None:
        if self._inflate is not None:
            with contextlib.suppress(zlib.error):
                rest = self._inflate.flush()
                self._stats.body_bytes += len(rest)
                if rest:
                    self._split(rest)
        tail = bytes(self._buffer).strip()
        self._buffer.clear()
        if tail:
            self._lines.append(tail)
        self._eof = True

    def close(self) -> None:
        """Let go of the response; an unfinished stream's connection is closed, not reused."""
        if self._closed:
            return
        self._closed = True
        if self._eof:
            self._response.release()
        else:
            self._response.close()

    async def __aenter__(self) -> LineStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class KubeTransport(Protocol):
    """What the sources need from a connection (a fake can stand in for tests)."""

    async def get_raw(self, path: str, params: Params | None = None) -> bytes: ...

    async def open_stream(self, path: str, params: Params | None = None) -> LineStream: ...


def namespaced_path(path: str, namespace: str | None) -> str:
    """``/api/v1/pods`` -> ``/api/v1/namespaces/<ns>/pods`` (``/apis/g/v/...`` alike)."""
    if not namespace:
        return path
    head, _, plural = path.rstrip("/").rpartition("/")
    return f"{head}/namespaces/{quote(namespace, safe='')}/{plural}"


def _query(params: Params | None) -> str:
    if not params:
        return ""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))
    return urlencode(pairs)


# --------------------------------------------------------------------------- kubeconfig


@dataclass(frozen=True)
class _Selected:
    """The validated kubeconfig: which files, which context, cluster and user."""

    paths: tuple[Path, ...]
    context: str
    cluster_name: str
    server: str
    user_name: str
    user: Mapping[str, Any]
    namespace: str
    merger: KubeConfigMerger = field(compare=False)


def _kubeconfig_paths(kubeconfig: str | None) -> list[str]:
    """``--kubeconfig``, else ``$KUBECONFIG`` (a path list), else ``~/.kube/config``."""
    if kubeconfig:
        return [kubeconfig]
    env = os.environ.get("KUBECONFIG", "")
    paths = [p for p in env.split(os.pathsep) if p]
    return paths or [str(Path("~/.kube/config"))]


def _read_kubeconfigs(paths: list[str]) -> list[tuple[Path, dict[str, Any]]]:
    """Read and check each existing file; missing files in a list are skipped (as kubectl)."""
    found: list[tuple[Path, dict[str, Any]]] = []
    for entry in paths:
        path = Path(entry).expanduser()
        if not path.exists():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KubeconfigError(f"kubeconfig {path}: cannot read it: {exc}") from exc
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = ""
            mark = getattr(exc, "problem_mark", None)
            if mark is not None:
                where = f" at line {mark.line + 1}, column {mark.column + 1}"
            problem = getattr(exc, "problem", None) or str(exc)
            raise KubeconfigError(
                f"kubeconfig {path} is not valid YAML{where}: {problem}"
            ) from exc
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise KubeconfigError(
                f"kubeconfig {path}: expected a mapping with clusters, contexts and users, "
                f"found a {type(doc).__name__}"
            )
        for section in ("clusters", "contexts", "users"):
            _check_section(path, doc, section)
        found.append((path, doc))
    if not found:
        raise KubeconfigError(f"no kubeconfig file found (looked for {', '.join(paths)})")
    return found


def _check_section(path: Path, doc: Mapping[str, Any], section: str) -> None:
    items = doc.get(section)
    if items is None:
        return
    if not isinstance(items, list):
        raise KubeconfigError(
            f"kubeconfig {path}: '{section}' must be a list, found a {type(items).__name__}"
        )
    inner = section[:-1]
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise KubeconfigError(f"kubeconfig {path}: {section}[{index}] has no name")
        if not isinstance(item.get(inner), dict):
            raise KubeconfigError(
                f"kubeconfig {path}: {section}[{index}] ({item['name']}) has no '{inner}' mapping"
            )


def _merge(docs: list[tuple[Path, dict[str, Any]]]) -> tuple[dict[str, dict[str, Any]], ...]:
    """Entries by name per section; the first file that defines a name wins (as kubectl)."""
    merged: tuple[dict[str, dict[str, Any]], ...] = ({}, {}, {})
    for _, doc in docs:
        for table, section in zip(merged, ("clusters", "contexts", "users"), strict=True):
            for item in doc.get(section) or ():
                table.setdefault(item["name"], item[section[:-1]])
    return merged


def _current_context(docs: list[tuple[Path, dict[str, Any]]]) -> str:
    current = ""
    for _, doc in docs:  # the last file that sets it wins, as in kubernetes.aio's merger
        if "current-context" in doc:
            current = str(doc.get("current-context") or "")
    return current


def list_contexts(kubeconfig: str | None = None) -> tuple[list[str], str | None]:
    """Context names in file order and the current context (None when unset), for the CLI.

    Synchronous (the CLI calls it before the event loop starts); raises
    :class:`KubeconfigError` for a missing or malformed file.
    """
    docs = _read_kubeconfigs(_kubeconfig_paths(kubeconfig))
    _, contexts, _ = _merge(docs)
    return list(contexts), _current_context(docs) or None


def _select(paths: list[str], context: str | None) -> _Selected:
    """Validate the kubeconfig and the chosen context (runs in a worker thread)."""
    docs = _read_kubeconfigs(paths)
    clusters, contexts, users = _merge(docs)
    where = ", ".join(str(p) for p, _ in docs)
    names = ", ".join(contexts) or "none"
    chosen = context or _current_context(docs)
    if not chosen:
        raise KubeconfigError(
            f"kubeconfig {where} sets no current-context and none was given; "
            f"available contexts: {names}"
        )
    ctx = contexts.get(chosen)
    if ctx is None:
        raise KubeconfigError(
            f"context {chosen!r} is not defined in kubeconfig {where}; available contexts: {names}"
        )
    cluster_name = ctx.get("cluster")
    if not isinstance(cluster_name, str) or not cluster_name:
        raise KubeconfigError(f"context {chosen!r} in {where} names no cluster")
    cluster = clusters.get(cluster_name)
    if cluster is None:
        raise KubeconfigError(
            f"context {chosen!r} refers to cluster {cluster_name!r}, which is not defined in {where}"
        )
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise KubeconfigError(
            f"cluster {cluster_name!r} in {where} has no usable server URL (got {server!r})"
        )
    user_name = ctx.get("user") or ""
    user: Mapping[str, Any] = {}
    if user_name:
        found = users.get(user_name)
        if found is None:
            raise KubeconfigError(
                f"context {chosen!r} refers to user {user_name!r}, which is not defined in {where}"
            )
        user = found
    namespace = ctx.get("namespace") or "default"
    try:
        merger = KubeConfigMerger(os.pathsep.join(str(p) for p, _ in docs))
    except (OSError, yaml.YAMLError, ConfigException) as exc:
        raise KubeconfigError(f"kubeconfig {where}: {exc}") from exc
    return _Selected(
        paths=tuple(p for p, _ in docs),
        context=chosen,
        cluster_name=cluster_name,
        server=server.rstrip("/"),
        user_name=str(user_name),
        user=user,
        namespace=str(namespace),
        merger=merger,
    )


class _ErrorLog(logging.Handler):
    """Collects kubernetes.aio's error log lines: it logs (and swallows) exec plugin failures
    instead of raising, and we want them in the error the user sees."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _kube_config_errors() -> Iterator[list[str]]:
    logger = logging.getLogger(_KUBE_CONFIG_LOGGER)
    handler = _ErrorLog()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


class _Credentials:
    """Loads and refreshes the context's credentials into the kubernetes.aio Configuration."""

    def __init__(self, loader: KubeConfigLoader, configuration: Configuration,
                 selected: _Selected) -> None:
        self._loader = loader
        self._configuration = configuration
        self._context = selected.context
        user = selected.user
        self._exec = "exec" in user
        self.refreshable = self._exec or "auth-provider" in user or "tokenFile" in user
        self.generation = 0
        """Bumped by every reload, so concurrent 401s trigger one refresh, not one each."""
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """(Re)load credentials; raises :class:`KubeconfigError` with the plugin's complaint."""
        with _kube_config_errors() as problems:
            try:
                await self._loader.load_and_set(self._configuration)
            except (ConfigException, ValueError, KeyError, OSError) as exc:
                raise KubeconfigError(f"context {self._context!r}: {exc}") from exc
        if self._exec and problems:
            raise KubeconfigError(
                f"context {self._context!r}: the exec credential plugin failed: "
                + "; ".join(problems)
            )
        self.generation += 1

    async def before_request(self, _configuration: Configuration) -> None:
        """The Configuration's refresh hook: re-run an exec plugin shortly before expiry."""
        if self._exec and self._expiring():
            async with self._lock:
                if self._expiring():
                    await self.load()

    def _expiring(self) -> bool:
        expiry = getattr(self._loader, "exec_plugin_expiry", None)
        return isinstance(expiry, datetime) and expiry - _EXPIRY_SKEW <= datetime.now(UTC)

    async def refresh_after_401(self, seen_generation: int) -> None:
        """Reload once for a rejected request (unless another request already did)."""
        async with self._lock:
            if self.generation != seen_generation:
                return
            if hasattr(self._loader, "exec_plugin_expiry"):
                # kubernetes.aio skips the plugin while this says the token is still valid.
                delattr(self._loader, "exec_plugin_expiry")
            await self.load()


# --------------------------------------------------------------------------- connection


class KubeConnection:
    """An authenticated connection to one cluster context. Build it with :func:`connect`."""

    def __init__(
        self,
        *,
        selected: _Selected,
        configuration: Configuration,
        api_client: ApiClient,
        credentials: _Credentials,
        request_timeout: float,
        connect_timeout: float,
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
        query = _query(params)
        url = URL(self.cluster + path + (f"?{query}" if query else ""), encoded=True)
        generation = self._credentials.generation
        response = await self._send_once(method, url, body, content_type, timeout)
        if response.status == 401 and self._credentials.refreshable:
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
        try:
            return await self._session().request(
                method,
                url,
                headers=headers,
                data=body,
                timeout=timeout,
                allow_redirects=False,
                auto_decompress=False,
                **self._extra,
            )
        except _TRANSPORT_ERRORS as exc:
            raise KubeUnreachable(
                f"{method} {self.cluster}{url.path}: {_describe(exc)}"
            ) from exc

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
        except _TRANSPORT_ERRORS as exc:
            raise KubeUnreachable(f"reading the answer failed: {_describe(exc)}") from exc
        finally:
            response.release()
        encoding = response.headers.get("Content-Encoding", "")
        inflate = _decompressor(encoding)
        stats = self.stats
        stats.responses += 1
        stats.wire_bytes += len(raw)
        if inflate is None:
            body = raw
        else:
            stats.gzip_responses += 1
            if len(raw) >= THREAD_INFLATE_BYTES:
                body = await asyncio.to_thread(_inflate_all, inflate, raw)
            else:
                body = _inflate_all(inflate, raw)
        stats.body_bytes += len(body)
        return response.status, body


async def connect(
    kubeconfig: str | None,
    context: str | None,
    *,
    request_timeout: float = 60.0,
    connect_timeout: float = 10.0,
    trace_configs: list[aiohttp.TraceConfig] | None = None,
) -> KubeConnection:
    """Open a connection for ``context`` (None: the current context) of ``kubeconfig`` (None:
    ``$KUBECONFIG`` or ``~/.kube/config``).

    Nothing is requested from the cluster yet (an unreachable cluster is a source health
    state, not a start-up failure); credentials are loaded, so an exec plugin runs now.
    Raises :class:`KubeconfigError` naming the problem. ``trace_configs`` are handed to the
    aiohttp session (tests use them to see headers on the wire).
    """
    selected = await asyncio.to_thread(_select, _kubeconfig_paths(kubeconfig), context)
    configuration = Configuration(trace_configs=trace_configs)
    try:
        loader = KubeConfigLoader(
            config_dict=selected.merger.config,
            active_context=selected.context,
            config_base_path=None,
        )
    except (ConfigException, ValueError, KeyError) as exc:
        raise KubeconfigError(f"context {selected.context!r}: {exc}") from exc
    credentials = _Credentials(loader, configuration, selected)
    await credentials.load()
    hook: Callable[[Configuration], Awaitable[None]] = credentials.before_request
    # Typed as None in kubernetes.aio although it is documented as the refresh hook.
    setattr(configuration, "refresh_api_key_hook", hook)  # noqa: B010
    try:
        api_client = await asyncio.to_thread(ApiClient, configuration)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise KubeconfigError(
            f"context {selected.context!r}: cannot set up TLS for {selected.server}: {exc}"
        ) from exc
    api_client.user_agent = USER_AGENT
    return KubeConnection(
        selected=selected,
        configuration=configuration,
        api_client=api_client,
        credentials=credentials,
        request_timeout=request_timeout,
        connect_timeout=connect_timeout,
    )
