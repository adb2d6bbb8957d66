"""Why a cluster source is not delivering, in one readable line.

The failure funnel (issue 13, ARCHITECTURE.md "Failures are never calm") carries a reason from
where a request failed to the header and the panels fed by the source. What aiohttp, ssl and
the kubeconfig loader say is long, repetitive and addressed to programmers (``GET
https://10.0.0.1:6443/api/v1/pods: ClientConnectorError: Cannot connect to host 10.0.0.1:6443
ssl:default [Connect call failed ('10.0.0.1', 6443)]``, eleven times, once per source); the
on-call engineer needs one line that says what is wrong and where:

- ``api server unreachable: connection refused (10.0.0.1:6443)``
- ``api server TLS failure: certificate verify failed: unable to get local issuer certificate
  (10.0.0.1:6443)``
- ``credentials failed: exec plugin: <what the plugin said>``
- ``unauthorized: the API server rejected the credentials (expired? log in again)``
- ``forbidden: list httproutes.gateway.networking.k8s.io for drill-operator``
- ``watch stalled: no event or bookmark for 10s (expected every 5s)``

Every function returns sanitized text (:func:`backends.sanitize.clean`): the server's words
are untrusted. The full error still goes to the log.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from urllib.parse import urlsplit

import aiohttp

from backends.kube.errors import KubeApiError, KubeconfigError, KubeUnreachable
from backends.sanitize import clean

__all__ = ["forbidden_reason", "not_served_reason", "stall_reason", "summarise"]

_MAX = 160
_USER = re.compile(r'User "([^"]{1,200})"')


def _where(server: str, exc: BaseException | None) -> str:
    """``host:port`` of the failed connection: aiohttp's own, else the server URL's."""
    host = getattr(exc, "host", None)
    port = getattr(exc, "port", None)
    if isinstance(host, str) and host and isinstance(port, int):
        return f"{host}:{port}"
    if server:
        parts = urlsplit(server)
        if parts.hostname:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            return f"{parts.hostname}:{port}"
    return ""


def _with_where(text: str, where: str) -> str:
    return clean(f"{text} ({where})" if where else text, _MAX)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes, outermost first (bounded: a cycle must not hang us)."""
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(out) < 8:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _tls_words(err: BaseException) -> str:
    """The ssl module's reason without its noise: ``certificate verify failed: ...``."""
    if isinstance(err, ssl.SSLCertVerificationError) and err.verify_message:
        return f"certificate verify failed: {err.verify_message}"
    reason = getattr(err, "reason", None)
    if isinstance(reason, str) and reason:
        return reason.replace("_", " ").lower()
    text = str(err)
    match = re.search(r"\[SSL: [A-Z_]+\] ([^(]+)", text)
    return match.group(1).strip() if match else "handshake failed"


def _unreachable(exc: KubeUnreachable, server: str) -> str:
    chain = _chain(exc)
    for err in chain:
        if isinstance(err, ssl.SSLError | aiohttp.ClientSSLError):
            inner = getattr(err, "os_error", None) if isinstance(err, aiohttp.ClientSSLError) \
                else err
            return _with_where(
                f"api server TLS failure: {_tls_words(inner or err)}", _where(server, err))
    connector = next((e for e in chain if isinstance(e, aiohttp.ClientConnectorError)), None)
    where = _where(server, connector)
    for err in chain:
        if isinstance(err, ConnectionRefusedError):
            return _with_where("api server unreachable: connection refused", where)
        if isinstance(err, socket.gaierror):
            return _with_where("api server unreachable: name not resolved", where)
        if isinstance(err, TimeoutError | asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            return _with_where("api server unreachable: timed out", where)
        if isinstance(err, aiohttp.ServerDisconnectedError | ConnectionResetError
                      | aiohttp.ClientPayloadError):
            return _with_where("api server connection lost: the server hung up", where)
    if connector is not None and connector.os_error is not None:
        why = connector.os_error.strerror or type(connector.os_error).__name__
        return _with_where(f"api server unreachable: {why.lower()}", where)
    text = str(exc)
    if "connection is closed" in text:
        return "connection closed"
    return _with_where(f"api server unreachable: {text[:100]}", where)


def summarise(exc: BaseException, server: str = "") -> str:
    """One readable line for a failed request, connection or start (see the module)."""
    if isinstance(exc, KubeUnreachable):
        return _unreachable(exc, server)
    if isinstance(exc, KubeApiError):
        if exc.status == 401:
            return ("unauthorized: the API server rejected the credentials "
                    "(expired? log in again)")
        return clean(f"api server answered {exc.status} {exc.reason}: {exc.message}", _MAX)
    if isinstance(exc, KubeconfigError):
        text = str(exc)
        marker = "exec credential plugin failed:"
        if marker in text:
            said = text.split(marker, 1)[1].strip().splitlines()
            return clean(f"credentials failed: exec plugin: {said[0] if said else '?'}", _MAX)
        if "cannot set up TLS" in text:
            return clean(f"TLS setup failed: {text.split(': ', 2)[-1]}", _MAX)
        return clean(f"kubeconfig: {text}", _MAX)
    for err in _chain(exc):
        if isinstance(err, KubeUnreachable | KubeApiError | KubeconfigError):
            return summarise(err, server)
    text = str(exc).strip()
    return clean(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, _MAX)


def _resource_of(path: str) -> str:
    """``httproutes.gateway.networking.k8s.io`` from ``/apis/gateway.networking.k8s.io/v1/
    httproutes``; ``pods`` from ``/api/v1/pods`` (kubectl's way of naming a resource)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 4 and parts[0] == "apis":
        return f"{parts[-1]}.{parts[1]}"
    return parts[-1] if parts else path


def forbidden_reason(verb: str, path: str, message: str, user: str = "") -> str:
    """``forbidden: list httproutes.gateway.networking.k8s.io for drill-operator``: the
    verb, the resource and the identity the server named (else the kubeconfig user)."""
    found = _USER.search(message)
    who = found.group(1) if found else (user or "these credentials")
    return clean(f"forbidden: {verb} {_resource_of(path)} for {who}", _MAX)


def not_served_reason() -> str:
    """A kind every Kubernetes API serves (nodes, pods...) is not served (404, or missing
    from discovery): a wrong server or URL, never an empty cluster. The same words for every
    such kind, so the header says it once for all of them."""
    return ("not a Kubernetes API server (or the wrong URL): "
            "it does not serve nodes, pods or deployments")


def stall_reason(silent: float, expected: float) -> str:
    """A watch that delivered neither events nor bookmarks for too long."""
    return f"watch stalled: no event or bookmark for {silent:g}s (expected every {expected:g}s)"
