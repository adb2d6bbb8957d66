"""The Argo CD REST API as a second, gated transport for rollback.

Why a second transport: some platforms give on-call engineers an Argo CD token (SSO, RBAC in
``argocd-rbac-cm``) but no write access to Applications through the Kubernetes API. Then
``POST /api/v1/applications/{name}/rollback`` (operations.md section 2) is the way, and the
Argo CD API server performs the auto-sync/in-flight/history checks itself; we still perform
them first, so the plan screen can say why before anything is sent.

The write still passes a :class:`~backends.ops.gate.WriteGate`: :class:`ArgoRestClient` is a
``Sender`` (httpx, bearer token from the config or ``$ARGOCD_AUTH_TOKEN``), and its gate is
built like the Alertmanager one, ``WriteGate(policy, client, journal, dry_run=False,
access_reviews=False)``, with the same policy and journal as the cluster's gate: read-only
mode, protected contexts and the journal cover it exactly like a Kubernetes write.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from backends.cleartext import decide
from backends.httpclient import JsonHttpClient
from backends.ops.argocd import (
    REDEPLOY_WARNING,
    ROLLBACK_STEP,
    AppLike,
    ArgoOptions,
    app_ref,
    app_status,
    app_target,
    rollback_entry,
    same_sync,
)
from backends.ops.gate import WriteGate, WriteRequest
from backends.ops.plan import Plan, PlannedWrite, Reader, finish, get_json

if TYPE_CHECKING:
    import httpx

__all__ = ["ENV_TOKEN", "ArgoRestClient", "plan_rollback_rest", "read_app_rest"]

ENV_TOKEN: Final = "ARGOCD_AUTH_TOKEN"


class ArgoRestClient(JsonHttpClient):
    """The Argo CD REST API over httpx with a bearer token: a :class:`~backends.ops.gate.
    Sender` (give it its own gate: ``dry_run=False, access_reviews=False``) and a
    :class:`~backends.ops.plan.Reader`, through the shared
    :class:`~backends.httpclient.JsonHttpClient`. Errors use the connection's types (an error
    answer is a ``KubeApiError`` from ``api_error``, which reads Argo CD's ``message``; no
    answer is ``KubeUnreachable``) so planners and the gate treat both APIs alike."""

    def __init__(self, server_url: str, token: str | None = None, *, verify_tls: bool = True,
                 timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None,
                 allow_http_credentials: bool = False) -> None:
        token = token or os.environ.get(ENV_TOKEN, "")
        if not server_url or not token:
            raise ValueError(f"the Argo CD API needs a server URL and a token (config, or "
                             f"${ENV_TOKEN})")
        cleartext = decide("the Argo CD token", server_url, has_credential=True,
                           allowed_by="[argocd] allow_http_credentials"
                           if allow_http_credentials else "")
        if not cleartext.send:
            raise ValueError(cleartext.warning)
        self.warnings = (cleartext.warning,) if cleartext.warning else ()
        self.server_url = server_url.rstrip("/")
        super().__init__(self.server_url, name="Argo CD API", timeout=timeout,
                         verify_tls=verify_tls, transport=transport,
                         headers={"Authorization": f"Bearer {token}"})

    @classmethod
    def from_options(cls, options: ArgoOptions) -> ArgoRestClient:
        return cls(options.server_url, options.token, verify_tls=options.verify_tls,
                   allow_http_credentials=options.allow_http_credentials)


async def read_app_rest(client: Reader, ns: str, name: str) -> dict[str, Any]:
    """The Application as the Argo CD API serves it (the same object as in Kubernetes)."""
    path = f"/api/v1/applications/{quote(name, safe='')}"
    app: dict[str, Any] = await get_json(client, path, f"Application {ns}/{name}",
                                         {"appNamespace": ns} if ns else None)
    return app


async def plan_rollback_rest(client: ArgoRestClient, gate: WriteGate, app: AppLike,
                             to_id: int | None = None, *, prune: bool = False) -> Plan:
    """Roll back through ``POST /api/v1/applications/{name}/rollback``. The server checks
    too; we check first so the plan screen can say why before anything is sent."""
    ns, name = app_ref(app)
    path = f"/api/v1/applications/{quote(name, safe='')}"
    params = {"appNamespace": ns} if ns else None
    live = await get_json(client, path, f"Application {ns}/{name}", params)
    entry = rollback_entry(live, to_id)
    body = {"name": name, "id": entry.get("id"), "dryRun": False, "prune": prune,
            "appNamespace": ns}
    req = WriteRequest(method="POST", path=f"{path}/rollback", body=json.dumps(body).encode(),
                       verb="rollback", target=app_target(ns, name))
    wanted = {"sync": {"revision": entry.get("revision"), "revisions": entry.get("revisions")}}

    async def verify() -> tuple[bool, str]:
        now = await get_json(client, path, f"Application {ns}/{name}", params)
        state = app_status(now).get("operationState") or {}
        if same_sync(now.get("operation"), wanted) or same_sync(state.get("operation"),
                                                                  wanted):
            return True, f"rollback operation on the Application: {state.get('phase') or 'Pending'}"
        return False, "the rollback operation is not on the Application"

    rev = str(entry.get("revision") or "")
    plan = Plan(title=f"Roll back {ns}/{name} to history {entry.get('id')} ({rev[:12]}) "
                      "via the Argo CD API")
    plan.warnings.append(f"after a rollback the app is OutOfSync with Git: {REDEPLOY_WARNING} "
                         "before restoring auto-sync")
    plan.writes.append(PlannedWrite(
        title=plan.title, request=req, prior={"history": app_status(live).get("history", [])[-1:]},
        intent={"rollback": body}, verify=verify, step=ROLLBACK_STEP))
    return await finish(gate, plan)
