"""One httpx sender for the HTTP backends that are not the Kubernetes API: Prometheus,
Alertmanager, the Argo CD REST API.

Why one: each of them is a :class:`~backends.ops.gate.Sender` (``request`` answers every HTTP
status and raises only when there is no answer) and a :class:`~backends.ops.plan.Reader`
(``get_raw`` raises for error answers), using the Kubernetes connection's error types
(:mod:`backends.kube.errors`) so the plan machinery and the gate treat every backend alike.
The two copies of this code (signals and Argo CD) had already begun to differ in how they
named a failure; now they cannot.

Bodies are size-limited AFTER decompression (:data:`MAX_BODY`, per client ``max_body``): a
server (or whatever answers at its address) that sends a gzip bomb, 10 MB that inflate to
10 GB, must cost us at most the limit, never the memory of the process. So the body is
streamed raw and inflated here with zlib's ``max_length``, chunk by chunk, and the read stops
with :class:`BodyTooLarge` as soon as the limit is passed; httpx's own decoders would inflate
each chunk in full. Only the encodings we ask for (gzip, deflate, identity) are accepted.

``httpx`` is imported inside the methods: importing it at module level also imports its
command line (and with it rich) whenever rich is installed, and importing a backend module
must never load UI libraries (tests/test_layering.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Self

from backends.kube.errors import KubeUnreachable, api_error
from backends.kube.wire import Params
from backends.sanitize import clean

if TYPE_CHECKING:
    import httpx

__all__ = ["MAX_BODY", "BodyTooLarge", "JsonHttpClient"]

MAX_BODY: Final = 64 * 1024 * 1024
"""The largest body (decompressed) a client reads: far above any real alerts list or Argo CD
application list, far below what would hurt the process."""
_CHUNK: Final = 64 * 1024


class BodyTooLarge(KubeUnreachable):
    """The answer was larger than the limit once decompressed (or used an encoding we did not
    ask for): no usable answer, as if there were none."""


class _Inflater:
    """Decompress one body's chunks with a hard cap on the output."""

    def __init__(self, encoding: str, limit: int, where: str) -> None:
        self.limit = limit
        self.where = where
        self.size = 0
        self.parts: list[bytes] = []
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._z: zlib._Decompress | None = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise BodyTooLarge(f"{where}: answered with content encoding "
                               f"{clean(encoding, 40)!r}, which was not asked for")

    def _keep(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.limit:
            raise BodyTooLarge(f"{self.where}: answer larger than {self.limit:,} bytes "
                               "(after decompression); refused")
        self.parts.append(piece)

    def feed(self, chunk: bytes) -> None:
        if self._z is None:
            self._keep(chunk)
            return
        data = chunk
        try:
            while data:
                self._keep(self._z.decompress(data, self.limit - self.size + 1))
                data = self._z.unconsumed_tail
        except zlib.error as exc:
            raise BodyTooLarge(f"{self.where}: the compressed answer is corrupt: "
                               f"{clean(exc, 100)}") from None

    def body(self) -> bytes:
        if self._z is not None:
            self._keep(self._z.flush(self.limit - self.size + 1))
        return b"".join(self.parts)


class JsonHttpClient:
    """An httpx client of one JSON HTTP API at ``base_url``; ``name`` says which in errors
    (``Prometheus http://...: connection refused``)."""

    def __init__(self, base_url: str, *, name: str, timeout: float, verify_tls: bool = True,
                 transport: httpx.AsyncBaseTransport | None = None,
                 headers: Mapping[str, str] | None = None, max_body: int = MAX_BODY) -> None:
        import httpx  # lazily: see the module doc

        self.name = name
        self.base_url = base_url
        self.max_body = max_body
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, verify=verify_tls,
                                       transport=transport,
                                       headers={**(headers or {}), "Accept": "application/json",
                                                "Accept-Encoding": "gzip, deflate"})

    async def request(self, method: str, path: str, params: Params | None = None,
                      body: bytes | None = None,
                      content_type: str = "application/json") -> tuple[int, bytes]:
        """Send one request; ``(status, body)`` for any answer, :class:`KubeUnreachable`
        when there is none. ``None`` parameters are left out, booleans are lower case."""
        import httpx

        query = {k: str(v).lower() if isinstance(v, bool) else str(v)
                 for k, v in (params or {}).items() if v is not None}
        headers = {"Content-Type": content_type} if body is not None else None
        where = f"{self.name} {self.base_url}"
        request = self._http.build_request(method, path, params=query, content=body,
                                           headers=headers)
        try:
            resp = await self._http.send(request, stream=True)
            try:
                if resp.is_stream_consumed:
                    # An in-process transport (tests, mocks) handed over a body it had
                    # already read and decoded: nothing left to stream, only to measure.
                    inflater = _Inflater("identity", self.max_body, where)
                    inflater.feed(resp.content)
                else:
                    inflater = _Inflater(resp.headers.get("content-encoding", ""),
                                         self.max_body, where)
                    async for chunk in resp.aiter_raw(_CHUNK):
                        inflater.feed(chunk)
                content = inflater.body()
            finally:
                await resp.aclose()
        except httpx.HTTPError as exc:
            text = str(exc).strip() or type(exc).__name__
            raise KubeUnreachable(f"{where}: {clean(text, 300)}") from exc
        return resp.status_code, content

    async def get_raw(self, path: str, params: Params | None = None) -> bytes:
        """GET ``path``; the body of a 2xx answer, else the answer as a ``KubeApiError``."""
        status, body = await self.request("GET", path, params)
        if not 200 <= status < 300:
            raise api_error(status, body)
        return body

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
