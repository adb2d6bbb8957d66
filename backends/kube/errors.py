"""The errors a cluster request can end in, and how an error answer becomes one.

Why a module of its own: every client of the API server (the watch sources, discovery, the
write gate, the action planners) and every HTTP backend that borrows these types (the Argo CD
REST API, Prometheus, Alertmanager) catches them, and none of them should have to import the
connection (aiohttp, kubernetes.aio) to do so.
"""

from __future__ import annotations

import zlib
from http import HTTPStatus

import aiohttp
import msgspec

from backends.kube.schema import StatusIn
from backends.sanitize import clean

__all__ = [
    "TRANSPORT_ERRORS",
    "KubeApiError",
    "KubeError",
    "KubeUnreachable",
    "KubeconfigError",
    "api_error",
    "describe_failure",
]


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


def describe_failure(exc: BaseException) -> str:
    """A one-line reason for a transport failure (some aiohttp errors have empty str())."""
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, zlib.error)
"""What a request or a stream read raises when there is no (whole) answer: each becomes a
:class:`KubeUnreachable`."""
