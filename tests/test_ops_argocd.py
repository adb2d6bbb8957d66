"""Argo CD actions against the drill's simulated Argo CD, in scenario time (no sleeps):
pause verified by read-back (and the old-CRD fallback), exact restore, what undoes a pause,
rollback through the Kubernetes API with the server's checks done client side, following the
operation, and the REST API transport against a small fake Argo CD server."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from aiohttp import web

from backends.kube.connection import KubeConnection
from backends.ops.argocd import (
    AUTO_SYNC_ON_MESSAGE,
    IN_FLIGHT_MESSAGE,
    PAUSE_ANNOTATION,
    REDEPLOY_WARNING,
    ArgoOptions,
    auto_sync_state,
    follow_operation,
    plan_pause,
    plan_pause_scope,
    plan_restore,
    plan_rollback,
    prior_from_journal,
)
from backends.ops.argocd_rest import ArgoRestClient, plan_rollback_rest
from backends.ops.gate import GatePolicy, WriteGate
from backends.ops.journal import Journal
from backends.ops.plan import PlanError, execute, preview
from drill.runner import DrillCluster
from drill.state import ClusterState
from tests.ops_support import (
    APPS,
    CONFIRM,
    CTX,
    REASON,
    app,
    gate_for,
    image,
    sim_poll,
    writes_seen,
)

CUSTOM = {"prune": False, "selfHeal": True, "allowEmpty": True}
"""A non-default prior block: restore must bring back exactly this, not a guess."""


@pytest.fixture
def gate(conn: KubeConnection, journal: Journal) -> WriteGate:
    return gate_for(conn, journal)


def set_automated(cluster: DrillCluster, name: str, block: Any) -> None:
    def put(a: dict[str, Any]) -> dict[str, Any]:
        a["spec"]["syncPolicy"]["automated"] = copy.deepcopy(block)
        return a

    cluster.state.mutate(APPS, "argocd", name, put)


# --------------------------------------------------------------------------- pause/restore


async def test_pause_with_enabled_false_is_verified_and_restore_is_exact(
        sim: DrillCluster, conn: KubeConnection, gate: WriteGate, journal: Journal) -> None:
    set_automated(sim, "payments", CUSTOM)
    plan = await plan_pause(conn, gate, "argocd", "payments")
    assert [w.step for w in plan.writes] == ["pause-auto-sync"] and not plan.blocked
    history = app(sim, "payments")["status"]["history"]
    # the prior keeps what the app ran, and how healthy it was, when it was paused
    assert plan.writes[0].prior == {"automated": CUSTOM, "annotation": None,
                                    "revision": history[-1]["revision"], "health": "Healthy",
                                    "sync": "Synced"}
    assert all(r.ok and r.performed for r in await preview(gate, plan))

    done = await execute(gate, plan, reason=REASON, confirm=CONFIRM)
    assert done.ok, done.summary()
    [step] = done.results
    assert [w.verified for w in step.writes] == [True]  # no fallback needed
    paused = app(sim, "payments")
    assert paused["spec"]["syncPolicy"]["automated"] == {**CUSTOM, "enabled": False}
    assert json.loads(paused["metadata"]["annotations"][PAUSE_ANNOTATION]) == CUSTOM
    assert auto_sync_state(paused) == "paused"
    assert await prior_from_journal(journal, CTX, "argocd", "payments") == CUSTOM

    again = await plan_pause(conn, gate, "argocd", "payments")
    assert again.empty and "already paused" in again.info[0]

    restore = await plan_restore(conn, gate, ("argocd", "payments"),
                                 await prior_from_journal(journal, CTX, "argocd", "payments"))
    assert not restore.warnings  # not rolled back meanwhile
    result = await execute(gate, restore, reason=REASON, confirm=CONFIRM)
    assert result.ok, result.summary()
    restored = app(sim, "payments")
    assert restored["spec"]["syncPolicy"]["automated"] == CUSTOM  # exactly: no "enabled" key
    assert PAUSE_ANNOTATION not in restored["metadata"].get("annotations", {})
    entries = await journal.entries()
    assert [(e.step, e.status) for e in entries] == [("pause-auto-sync", "verified"),
                                                    ("restore-auto-sync", "verified")]
    assert entries[1].intent == {"automated": CUSTOM}


async def test_enabled_flag_pruned_by_an_old_crd_falls_back_to_null(
        sim: DrillCluster, conn: KubeConnection, gate: WriteGate, journal: Journal,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An Application CRD older than Argo CD 3.1 prunes ``automated.enabled`` silently and
    answers 200: the read-back catches it and the fallback removes ``automated``."""
    original = ClusterState._replace

    def pruning(self: ClusterState, rt: Any, ns: str, name: str, new: Any, sub: str,
                dry_run: bool) -> Any:
        automated = ((new.get("spec") or {}).get("syncPolicy") or {}).get("automated")
        if rt is APPS and isinstance(automated, dict):
            automated.pop("enabled", None)
        return original(self, rt, ns, name, new, sub, dry_run)

    monkeypatch.setattr(ClusterState, "_replace", pruning)
    prior = copy.deepcopy(app(sim, "catalog")["spec"]["syncPolicy"]["automated"])
    seen: list[tuple[int, str]] = []
    plan = await plan_pause(conn, gate, "argocd", "catalog")
    done = await execute(gate, plan, reason=REASON, confirm=CONFIRM,
                         on_progress=lambda i, text: seen.append((i, text)))
    assert done.ok, done.summary()
    [step] = done.results
    assert [w.verified for w in step.writes] == [False, True]
    assert "did not stick" in step.writes[0].verification
    assert "automated" not in app(sim, "catalog")["spec"]["syncPolicy"]
    assert auto_sync_state(app(sim, "catalog")) == "off"
    assert any("falling back" in text for _, text in seen)
    entries = await journal.entries()
    assert [e.status for e in entries] == ["verify_failed", "verified"]
    assert all(e.prior["automated"] == prior for e in entries)

    # Any operator can restore from the annotation alone (no journal at hand).
    restore = await plan_restore(conn, gate, ("argocd", "catalog"))
    assert (await execute(gate, restore, reason=REASON, confirm=CONFIRM)).ok
    assert app(sim, "catalog")["spec"]["syncPolicy"]["automated"] == prior


async def test_pause_with_null_when_configured_and_scope(
        sim: DrillCluster, conn: KubeConnection, gate: WriteGate) -> None:
    with pytest.raises(PlanError, match="argocd/nope not found"):
        await plan_pause_scope(conn, gate, [("argocd", "frontend"), ("argocd", "nope")])
    scope = await plan_pause_scope(conn, gate, [("argocd", "frontend"), ("argocd", "payments")],
                                   options=ArgoOptions(prefer_enabled_flag=False))
    assert len(scope.writes) == 2 and all(w.fallback is None for w in scope.writes)
    assert all(w.intent["automated"] is None for w in scope.writes)
    assert (await execute(gate, scope, reason=REASON, confirm=CONFIRM)).ok
    assert auto_sync_state(app(sim, "frontend")) == auto_sync_state(app(sim, "payments")) == "off"


async def test_what_undoes_a_pause_is_warned(sim: DrillCluster, conn: KubeConnection,
                                             gate: WriteGate) -> None:
    def owned_and_tracked(a: dict[str, Any]) -> dict[str, Any]:
        a["metadata"]["ownerReferences"] = [{
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "shop",
            "uid": "0c5d1f8e-1111-4222-8333-944455556666", "controller": True}]
        a["metadata"].setdefault("annotations", {})["argocd.argoproj.io/tracking-id"] = (
            "argocd:argoproj.io/Application:argocd/payments")
        return a

    sim.state.mutate(APPS, "argocd", "payments", owned_and_tracked)
    plan = await plan_pause(conn, gate, "argocd", "payments")
    text = " | ".join(plan.warnings)
    assert "the ApplicationSet controller will undo this pause" in text
    assert "parent app-of-apps argocd/argocd" in text and "selfHeal on" in text
    assert [o.title for o in plan.offers] == ["Pause auto-sync of parent argocd/argocd"]
    parent = await plan.offers[0].build()
    assert parent.writes[0].request.target.name == "argocd"
    assert any("deny sync window" in i for i in plan.info)


# --------------------------------------------------------------------------- rollback


async def test_rollback_refuses_while_auto_sync_is_on_or_an_operation_runs(
        sim: DrillCluster, conn: KubeConnection, gate: WriteGate) -> None:
    sim.server.record_requests = True
    with pytest.raises(PlanError, match=AUTO_SYNC_ON_MESSAGE):
        await plan_rollback(conn, gate, ("argocd", "frontend"))
    set_automated(sim, "frontend", {"prune": True, "selfHeal": True, "enabled": False})

    def in_flight(a: dict[str, Any]) -> dict[str, Any]:
        a["operation"] = {"initiatedBy": {"username": "someone"}, "sync": {"revision": "HEAD"}}
        return a

    sim.state.mutate(APPS, "argocd", "frontend", in_flight)
    with pytest.raises(PlanError, match=IN_FLIGHT_MESSAGE):
        await plan_rollback(conn, gate, ("argocd", "frontend"))
    sim.sim.advance(1.0)  # the controller marks it Running, then finishes it
    sim.sim.advance(1.0)
    assert "operation" not in app(sim, "frontend")
    with pytest.raises(PlanError, match="does not have deployment id '7'"):
        await plan_rollback(conn, gate, ("argocd", "frontend"), 7)
    assert writes_seen(sim) == []


async def test_rollback_brings_back_the_previous_revision(
        sim: DrillCluster, conn: KubeConnection, gate: WriteGate, journal: Journal) -> None:
    history = app(sim, "frontend")["status"]["history"]
    previous = history[-2]
    assert image(sim, "frontend", "web") == "ghcr.io/drill/web:2.8.0"
    pause = await plan_pause(conn, gate, "argocd", "frontend")
    assert (await execute(gate, pause, reason=REASON, confirm=CONFIRM)).ok

    plan = await plan_rollback(conn, gate, ("argocd", "frontend"))
    [write] = plan.writes
    assert write.request.method == "PUT" and write.request.verb == "update"
    sent = json.loads(write.request_for("CHG-9 bad release").body or b"")
    assert sent["metadata"]["resourceVersion"] == app(sim, "frontend")["metadata"][
        "resourceVersion"]
    assert sent["operation"] == {
        "initiatedBy": {"username": "oncall-tester"},
        "info": [{"name": "reason", "value": "CHG-9 bad release"}],
        "sync": {"revision": previous["revision"], "source": previous["source"],
                 "syncStrategy": {"apply": {}}, "prune": False,
                 "syncOptions": ["CreateNamespace=true", "RespectIgnoreDifferences=true"]}}
    assert "operationState" not in sent["status"]
    assert any(REDEPLOY_WARNING in w for w in plan.warnings)

    done = await execute(gate, plan, reason="CHG-9 bad release", confirm=CONFIRM)
    assert done.ok, done.summary()
    operation = app(sim, "frontend")["operation"]
    phases = [s.phase async for s in follow_operation(
        conn, ("argocd", "frontend"), 60, poll=sim_poll(sim), operation=operation)]
    assert phases[0] in ("Pending", "Running") and phases[-1] == "Succeeded"
    a = app(sim, "frontend")
    assert a["status"]["history"][-1]["revision"] == previous["revision"]
    assert a["status"]["operationState"]["operation"]["info"][0]["value"] == "CHG-9 bad release"
    assert image(sim, "frontend", "web") == "ghcr.io/drill/web:2.7.3"

    # Restoring auto-sync now would redeploy the commit the rollback moved away from: the
    # restore is held back (no write, said in red) and offered anyway as a choice.
    prior = await prior_from_journal(journal, CTX, "argocd", "frontend")
    restore = await plan_restore(conn, gate, ("argocd", "frontend"), prior, journal=journal,
                                 context=CTX)
    assert restore.empty and restore.title.endswith("kept paused")
    [held] = restore.held
    assert held.startswith(f"auto-sync of argocd/frontend kept paused: restoring it would "
                           f"sync {history[-1]['revision'][:12]}")
    assert "rolled back from it" in held and "rolled back away from it at" in held  # + journal
    [anyway] = restore.offers
    forced = await anyway.build()
    assert [w.step for w in forced.writes] == ["restore-auto-sync"]
    assert any("anyway, as chosen" in w for w in forced.warnings)


async def test_rollback_update_carries_the_read_resource_version(
        sim: DrillCluster, conn: KubeConnection, gate: WriteGate) -> None:
    set_automated(sim, "payments", None)
    plan = await plan_rollback(conn, gate, ("argocd", "payments"), 0)

    def touch(a: dict[str, Any]) -> dict[str, Any]:
        a["metadata"].setdefault("labels", {})["touched"] = "yes"
        return a

    sim.state.mutate(APPS, "argocd", "payments", touch)
    done = await execute(gate, plan, reason=REASON, confirm=CONFIRM)
    assert done.stopped_at == 0 and "409 Conflict" in done.error
    assert "operation" not in app(sim, "payments")


# --------------------------------------------------------------------------- REST API


class FakeArgoCD:
    """Just enough of the Argo CD API server: GET an app, POST a rollback (with its checks)."""

    def __init__(self, apps: dict[str, dict[str, Any]], token: str) -> None:
        self.apps = apps
        self.token = token
        self.calls: list[tuple[str, str, Any]] = []

    def web_app(self) -> web.Application:
        application = web.Application()
        application.router.add_get("/api/v1/applications/{name}", self.get)
        application.router.add_post("/api/v1/applications/{name}/rollback", self.rollback)
        return application

    def _check(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise web.HTTPUnauthorized(text='{"error":"invalid session","code":16}')

    async def get(self, request: web.Request) -> web.Response:
        self._check(request)
        self.calls.append(("GET", request.path, dict(request.query)))
        obj = self.apps.get(request.match_info["name"])
        if obj is None or request.query.get("appNamespace") != obj["metadata"]["namespace"]:
            return web.json_response({"error": "not found", "code": 5,
                                      "message": "applications.argoproj.io not found"},
                                     status=404)
        return web.json_response(obj)

    async def rollback(self, request: web.Request) -> web.Response:
        self._check(request)
        body = await request.json()
        self.calls.append(("POST", request.path, body))
        obj = self.apps[request.match_info["name"]]
        if auto_sync_state(obj) == "on":
            return web.json_response({"code": 9, "message": AUTO_SYNC_ON_MESSAGE}, status=400)
        entry = next(h for h in obj["status"]["history"] if h["id"] == body["id"])
        obj["operation"] = {"initiatedBy": {"username": "token-user"},
                            "sync": {"revision": entry["revision"], "source": entry["source"],
                                     "syncStrategy": {"apply": {}}, "prune": body["prune"]}}
        return web.json_response(obj)


async def test_rest_rollback_is_gated_and_sends_the_documented_body(
        sim: DrillCluster, journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    frontend = copy.deepcopy(app(sim, "frontend"))
    fake = FakeArgoCD({"frontend": frontend}, token="s3cret")
    runner = web.AppRunner(fake.web_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", "s3cret")
    try:
        async with ArgoRestClient(f"http://127.0.0.1:{port}",
                                  allow_http_credentials=True) as client:
            def argo_gate(read_only: bool) -> WriteGate:
                return WriteGate(GatePolicy(CTX, read_only, False, "oncall-tester"), client,
                                 journal, dry_run=False, access_reviews=False)

            with pytest.raises(PlanError, match=AUTO_SYNC_ON_MESSAGE):
                await plan_rollback_rest(client, argo_gate(False), ("argocd", "frontend"))
            frontend["spec"]["syncPolicy"]["automated"]["enabled"] = False
            plan = await plan_rollback_rest(client, argo_gate(True), ("argocd", "frontend"))
            assert not (await preview(argo_gate(True), plan))[0].performed
            refused = await execute(argo_gate(True), plan, reason=REASON, confirm=CONFIRM)
            assert refused.stopped_at == 0 and "read-only" in refused.error
            assert {c[0] for c in fake.calls} == {"GET"}  # no POST in read-only mode

            done = await execute(argo_gate(False), plan, reason=REASON, confirm=CONFIRM)
            assert done.ok, done.summary()
            post = [c for c in fake.calls if c[0] == "POST"]
            assert post == [("POST", "/api/v1/applications/frontend/rollback", {
                "name": "frontend", "id": frontend["status"]["history"][-2]["id"],
                "dryRun": False, "prune": False, "appNamespace": "argocd"})]
            assert fake.calls[0][2] == {"appNamespace": "argocd"}
            entries = await journal.entries()
            assert [(e.status, e.method, e.action) for e in entries] == [
                ("refused", "POST", "rollback"), ("verified", "POST", "rollback")]
    finally:
        await runner.cleanup()


def test_rest_client_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARGOCD_AUTH_TOKEN", raising=False)
    with pytest.raises(ValueError, match="ARGOCD_AUTH_TOKEN"):
        ArgoRestClient("https://argocd.example.com")
