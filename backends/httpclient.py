"""One httpx sender for the HTTP backends that are not the Kubernetes API: Prometheus,
Alertmanager, the Argo CD REST API.

Why one: each of them is a :class:`~backends.ops.gate.Sender` (``request`` answers every HTTP
status and raises only when there is no answer) and a :class:`~backends.ops.plan.Reader`
(``get_raw`` raises for error answers), using the Kubernetes connection's error types
(:mod:`backends.kube.errors`) so the plan machinery and the gate treat every backend alike.
The two copies of this code (signals and Argo CD) had already begun to differ in how they
named a failure; now they cannot.

``httpx`` is imported inside the methods: importing it at module level also imports its
command line (and with it rich) whenever rich is installed, and importing a backend module
must never load UI libraries (tests/test_layering.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Self

from backends.kube.errors import KubeUnreachable, api_error
from backends.kube.wire import Params
from backends.sanitize import clean

if TYPE_CHECKING:
    import httpx

__all__ = ["JsonHttpClient"]


class JsonHttpClient:
    """An httpx client of one JSON HTTP API at ``base_url``; ``name`` says which in errors
    (``Prometheus http://...: connection refused``)."""

    def __init__(self, base_url: str, *, name: str, timeout: float, verify_tls: bool = True,
                 transport: httpx.AsyncBaseTransport | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        import httpx  # lazily: see the module doc

        self.name = name
        self.base_url = base_url
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, verify=verify_tls,
                                       transport=transport,
                                       headers={**(headers or {}), "Accept": "application/json"})

    async def request(self, method: str, path: str, params: Params | None = None,
                      body: bytes | None = None,
                      content_type: str = "application/json") -> tuple[int, bytes]:
        """Send one request; ``(status, body)`` for any answer, :class:`KubeUnreachable`
        when there is none. ``None`` parameters are left out, booleans are lower case."""
        import httpx

        query = {k: str(v).lower() if isinstance(v, bool) else str(v)
                 for k, v in (params or {}).items() if v is not None}
        headers = {"Content-Type": content_type} if body is not None else None
        try:
            resp = await self._http.request(method, path, params=query, content=body,
                                            headers=headers)
        except httpx.HTTPError as exc:
            text = str(exc).strip() or type(exc).__name__
            raise KubeUnreachable(f"{self.name} {self.base_url}: {clean(text, 300)}") from exc
        return resp.status_code, resp.content

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
