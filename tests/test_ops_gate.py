"""The write gate against the real drill API server: read-only mode sends no write, protected
contexts need the typed name, the cancel window, journal-before-write, crash safety, SSAR."""

from __future__ import annotations

import ast
import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from backends.config import ContextSettings, Settings
from backends.kube.connection import KubeConnection, connect
from backends.kube.errors import KubeUnreachable
from backends.kube.wire import Params
from backends.ops.gate import (
    SSAR_PATH,
    CancelToken,
    Confirmation,
    GatePolicy,
    RefusedError,
    TargetRef,
    WriteCancelled,
    WriteGate,
    WriteRequest,
    policy_for,
)
from backends.ops.journal import Journal, JournalDB, JournalError
from drill.policy import Policy, Rule
from drill.runner import DrillCluster, DrillOptions

ROOT = Path(__file__).resolve().parent.parent
CTX = "drill"  # the drill cluster's kubeconfig context
NS, DEPLOY = "frontend", "web"
DEPLOY_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/{DEPLOY}"
MERGE = "application/merge-patch+json"


# --------------------------------------------------------------------------- helpers


def scale_request(replicas: int, name: str = DEPLOY) -> WriteRequest:
    return WriteRequest(
        method="PATCH", path=f"/apis/apps/v1/namespaces/{NS}/deployments/{name}/scale",
        body=json.dumps({"spec": {"replicas": replicas}}).encode(), content_type=MERGE,
        verb="patch", target=TargetRef("Deployment", NS, name, "apps", "deployments", "scale"))


def is_write(method: str, path: str) -> bool:
    """A request that could change the cluster: every write verb except the access review."""
    if method == "POST":
        return path != SSAR_PATH
    return method in ("PUT", "PATCH", "DELETE")


def writes_seen(cluster: DrillCluster) -> list[tuple[str, str, str]]:
    return [r for r in cluster.server.requests if is_write(r[0], r[1])]


async def get_json(conn: KubeConnection, path: str) -> Any:
    return json.loads(await conn.get_raw(path))


async def replicas(conn: KubeConnection, name: str = DEPLOY) -> int:
    obj = await get_json(conn, f"/apis/apps/v1/namespaces/{NS}/deployments/{name}")
    return int(obj["spec"]["replicas"])


async def every_kind_of_write(conn: KubeConnection) -> list[WriteRequest]:
    """One request of each write shape the control room sends: merge patch, JSON patch,
    update (PUT), create (POST), delete, and the scale subresource."""
    cm = await get_json(conn, "/api/v1/namespaces/argocd/configmaps/argocd-cm")
    cm.setdefault("data", {})["touched"] = "yes"
    pods = await get_json(conn, f"/api/v1/namespaces/{NS}/pods")
    pod = pods["items"][0]["metadata"]["name"]
    return [
        WriteRequest(method="PATCH", path=DEPLOY_PATH, content_type=MERGE, verb="patch",
                     body=b'{"spec":{"paused":true}}',
                     target=TargetRef("Deployment", NS, DEPLOY, "apps", "deployments")),
        WriteRequest(method="PATCH", path=DEPLOY_PATH, content_type="application/json-patch+json",
                     verb="patch",
                     body=b'[{"op":"replace","path":"/spec/replicas","value":0}]',
                     target=TargetRef("Deployment", NS, DEPLOY, "apps", "deployments")),
        WriteRequest(method="PUT", path="/api/v1/namespaces/argocd/configmaps/argocd-cm",
                     body=json.dumps(cm).encode(), verb="update",
                     target=TargetRef("ConfigMap", "argocd", "argocd-cm", "", "configmaps")),
        WriteRequest(method="POST", path=f"/api/v1/namespaces/{NS}/configmaps", verb="create",
                     body=json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": "new-one"}}).encode(),
                     target=TargetRef("ConfigMap", NS, "new-one", "", "configmaps")),
        WriteRequest(method="DELETE", path=f"/api/v1/namespaces/{NS}/pods/{pod}",
                     verb="delete", target=TargetRef("Pod", NS, pod, "", "pods")),
        scale_request(0),
    ]


@pytest.fixture
async def conn(drill: DrillCluster) -> AsyncIterator[KubeConnection]:
    connection = await connect(str(drill.kubeconfig), None)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    j = await Journal.open(tmp_path / "state" / "journal.sqlite3")
    try:
        yield j
    finally:
        await j.close()


PROD = Settings(production_patterns=[CTX])
"""Settings that make the drill context a protected (production) one."""
ARMED = Settings(production_patterns=[])
"""Settings under which the drill context is neither read-only nor protected."""
NO_CONFIRMATION = Confirmation()


def gate_for(conn: Any, journal: Journal, settings: Settings = ARMED, *,
             read_only: bool = False, cancel_window: float = 5.0, **kw: Any) -> WriteGate:
    return WriteGate(policy_for(settings, CTX, read_only, "tester", cancel_window=cancel_window),
                     conn, journal, **kw)


async def write(gate: WriteGate, req: WriteRequest, confirm: Confirmation = NO_CONFIRMATION,
                **kw: Any) -> Any:
    kw.setdefault("prior", {"replicas": 3})
    kw.setdefault("intent", {"replicas": 0})
    kw.setdefault("reason", "INC-7 drill")
    return await gate.write(req, confirm=confirm, **kw)


# --------------------------------------------------------------------------- policy


def test_policy_from_settings_and_cli() -> None:
    assert not policy_for(Settings(), "dev", operator="x").read_only
    assert policy_for(Settings(), "dev", True, "x").read_only
    assert policy_for(Settings(read_only=True), "dev", operator="x").read_only
    # --read-only wins over a context that the config arms explicitly.
    armed = Settings(read_only=True, contexts={"dev": ContextSettings(read_only=False)})
    assert not policy_for(armed, "dev", operator="x").read_only
    assert policy_for(armed, "dev", True, "x").read_only
    assert policy_for(Settings(), "aks-prod-weu", operator="x").protected
    assert not policy_for(Settings(), "dev", operator="x").protected
    p = policy_for(Settings(), "dev")
    assert p.operator  # the OS user


def test_write_request_only_carries_writes() -> None:
    target = TargetRef("Deployment", NS, DEPLOY, "apps", "deployments")
    with pytest.raises(ValueError, match="reads go to the connection"):
        WriteRequest(method="GET", path=DEPLOY_PATH, verb="get", target=target)
    with pytest.raises(ValueError, match="dryRun"):
        WriteRequest(method="PATCH", path=DEPLOY_PATH, verb="patch", target=target,
                     params={"dryRun": "All"})
    req = WriteRequest(method="patch", path=DEPLOY_PATH, verb="patch", target=target)
    assert req.method == "PATCH" and req.action == "patch"
    assert scale_request(0).action == "patch scale"
    assert scale_request(0).target.describe() == "Deployment frontend/web (scale)"


# --------------------------------------------------------------------------- read-only


async def test_read_only_mode_sends_no_write_at_all(drill: DrillCluster, conn: KubeConnection,
                                                    journal: Journal) -> None:
    gate = gate_for(conn, journal, read_only=True)
    requests = await every_kind_of_write(conn)
    before = await replicas(conn)
    drill.server.record_requests = True
    for req in requests:
        with pytest.raises(RefusedError, match="read-only mode") as info:
            await write(gate, req, Confirmation(CTX, emergency=True))
        assert info.value.journal_id is not None
        with pytest.raises(RefusedError, match="read-only mode"):
            await gate.preview(req)
    # The access review is the one POST read-only mode allows: it changes nothing.
    assert (await gate.can("patch", "apps", "deployments", "scale", NS)).allowed
    drill.server.record_requests = False

    assert writes_seen(drill) == []
    assert [r[:2] for r in drill.server.requests] == [("POST", SSAR_PATH)]
    assert await replicas(conn) == before
    entries = await journal.entries()
    assert len(entries) == len(requests)
    assert {e.status for e in entries} == {"refused"}
    assert all("read-only" in e.result["refused"] for e in entries)


# --------------------------------------------------------------------------- protected


async def test_protected_context_needs_the_typed_name(drill: DrillCluster,
                                                      conn: KubeConnection,
                                                      journal: Journal) -> None:
    gate = gate_for(conn, journal, PROD)
    assert gate.policy.protected and not gate.policy.read_only
    drill.server.record_requests = True

    with pytest.raises(RefusedError, match="type its name"):
        await write(gate, scale_request(0), Confirmation(None, emergency=True))
    with pytest.raises(RefusedError, match="does not match"):
        await write(gate, scale_request(0), Confirmation("drill-prod", emergency=True))
    with pytest.raises(RefusedError, match="does not match"):
        await write(gate, scale_request(0), Confirmation("DRILL", emergency=True))
    assert writes_seen(drill) == []
    assert await replicas(conn) == 3

    result = await write(gate, scale_request(1), Confirmation(CTX, emergency=True))
    assert result.ok and result.status == 200
    assert [r[:2] for r in writes_seen(drill)] == [("PATCH", f"{DEPLOY_PATH}/scale")]
    assert await replicas(conn) == 1
    statuses = [e.status for e in await journal.entries()]
    assert statuses == ["refused", "refused", "refused", "done"]


async def test_dry_run_sends_only_dry_run_requests(drill: DrillCluster, conn: KubeConnection,
                                                   journal: Journal) -> None:
    gate = gate_for(conn, journal, PROD)
    drill.server.record_requests = True
    requests = await every_kind_of_write(conn)
    for req in requests:
        result = await gate.preview(req)  # no typed name needed: nothing changes
        assert result.performed and result.ok, (req.method, req.path, result)
    scale = await gate.preview(scale_request(0))
    assert "replicas" not in scale.object["spec"]  # 0 is omitted, as the real server does
    denied = await gate.preview(scale_request(-1))
    assert not denied.ok and denied.status == 422 and denied.reason == "Invalid"

    sent = writes_seen(drill)
    assert len(sent) == len(requests) + 2
    assert all("dryRun=All" in query.split("&") for _, _, query in sent)
    assert await replicas(conn) == 3  # nothing changed
    assert await journal.entries() == []  # previews are not journaled


async def test_backend_without_dry_run_says_so(journal: Journal) -> None:
    class Boom:
        async def request(self, method: str, path: str, params: Params | None = None,
                          body: bytes | None = None,
                          content_type: str = "application/json") -> tuple[int, bytes]:
            raise AssertionError("nothing may be sent")

    gate = gate_for(Boom(), journal, dry_run=False, access_reviews=False)
    result = await gate.preview(scale_request(0))
    assert not result.performed and result.ok
    access = await gate.can("create", "", "silences")
    assert access.allowed and not access.checked


# --------------------------------------------------------------------------- cancel window


async def test_cancel_within_the_window_sends_nothing(drill: DrillCluster,
                                                      conn: KubeConnection,
                                                      journal: Journal) -> None:
    gate = gate_for(conn, journal, PROD, cancel_window=5.0)
    token = CancelToken()
    drill.server.record_requests = True
    task = asyncio.create_task(write(gate, scale_request(0), Confirmation(CTX), cancel=token,
                                     operation_id="op-c", step="scale-down"))
    await token.window_opened.wait()
    assert 0 < token.remaining() <= 5.0
    assert token.cancel()
    with pytest.raises(WriteCancelled, match="cancelled by the operator"):
        await task
    assert token.window_closed.is_set() and not token.cancel()  # too late to cancel now
    assert writes_seen(drill) == []
    assert await replicas(conn) == 3
    [entry] = await journal.entries()
    assert entry.status == "refused" and entry.result["cancelled"] is True
    assert await journal.open_operations(CTX) == []  # nothing to restore


async def test_write_is_sent_when_the_window_passes(drill: DrillCluster,
                                                    conn: KubeConnection,
                                                    journal: Journal) -> None:
    gate = gate_for(conn, journal, PROD, cancel_window=0.05)
    token = CancelToken()
    drill.server.record_requests = True
    result = await write(gate, scale_request(2), Confirmation(CTX), cancel=token)
    assert result.ok and token.window_opened.is_set() and token.window_closed.is_set()
    assert not token.cancel()
    assert len(writes_seen(drill)) == 1 and await replicas(conn) == 2


async def test_emergency_skips_the_window_and_a_precancelled_token_refuses(
        drill: DrillCluster, conn: KubeConnection, journal: Journal) -> None:
    gate = gate_for(conn, journal, PROD, cancel_window=3600.0)
    token = CancelToken()
    result = await write(gate, scale_request(2), Confirmation(CTX, emergency=True),
                         cancel=token)
    assert result.ok and not token.window_opened.is_set()
    early = CancelToken()
    early.cancel()
    drill.server.record_requests = True
    with pytest.raises(WriteCancelled):
        await write(gate, scale_request(0), Confirmation(CTX, emergency=True), cancel=early)
    assert writes_seen(drill) == []


async def test_a_reason_is_required(drill: DrillCluster, conn: KubeConnection,
                                    journal: Journal) -> None:
    gate = gate_for(conn, journal)
    drill.server.record_requests = True
    with pytest.raises(RefusedError, match="reason is required"):
        await write(gate, scale_request(0), reason="  ")
    assert writes_seen(drill) == []


# --------------------------------------------------------------------------- journal order


async def test_journal_row_with_prior_state_exists_before_the_request_arrives(
        drill: DrillCluster, conn: KubeConnection, journal: Journal,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The server itself looks into the journal file (through its own read-only connection,
    which sees committed rows only) when the PATCH arrives."""
    seen: list[tuple[str, str, str, str]] = []
    original: Callable[[web.Request], Awaitable[web.StreamResponse]] = drill.server._dispatch

    async def spy(request: web.Request) -> web.StreamResponse:
        if request.method == "PATCH":
            ro = sqlite3.connect(f"file:{journal.path}?mode=ro", uri=True)
            try:
                seen.extend(ro.execute(
                    "SELECT status, prior_json, path, step FROM entries").fetchall())
            finally:
                ro.close()
        return await original(request)

    monkeypatch.setattr(drill.server, "_dispatch", spy)
    gate = gate_for(conn, journal)
    prior = {"replicas": 3, "annotations": {"note": "before"}}
    result = await write(gate, scale_request(0), prior=prior, operation_id="op-1",
                         step="scale-down")
    assert result.ok
    assert seen == [("pending", json.dumps(prior, sort_keys=True, separators=(",", ":")),
                     f"{DEPLOY_PATH}/scale", "scale-down")]
    entry = await journal.get(result.journal_id)
    assert entry is not None and entry.status == "done"
    assert entry.operator == "tester" and entry.context == CTX and entry.reason == "INC-7 drill"
    assert entry.kind == "Deployment" and entry.namespace == NS and entry.name == DEPLOY
    assert entry.intent == {"replicas": 0} and entry.result["status"] == 200
    assert entry.result["kind"] == "Scale"


async def test_no_journal_no_write(drill: DrillCluster, conn: KubeConnection,
                                   tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path / "journal.sqlite3")
    await journal.close()
    gate = gate_for(conn, journal)
    drill.server.record_requests = True
    with pytest.raises(JournalError):
        await write(gate, scale_request(0))
    assert writes_seen(drill) == []


async def test_without_a_journal_the_room_watches_but_never_writes(
        drill: DrillCluster, conn: KubeConnection) -> None:
    """A journal file that cannot be opened must not stop the operator from watching; it
    must stop every write, since nothing could be undone exactly."""
    gate = WriteGate(policy_for(ARMED, CTX, False, "tester"), conn, None)
    drill.server.record_requests = True
    with pytest.raises(RefusedError, match="no journal") as info:
        await write(gate, scale_request(0), Confirmation(CTX, emergency=True))
    assert info.value.journal_id is None
    assert (await gate.preview(scale_request(0))).ok
    assert (await gate.can("patch", "apps", "deployments", "scale", NS)).allowed
    assert all("dryRun=All" in q for _, _, q in writes_seen(drill))
    read_only = WriteGate(policy_for(ARMED, CTX, True, "tester"), conn, None)
    with pytest.raises(RefusedError, match="read-only mode"):
        await write(read_only, scale_request(0))
    assert await replicas(conn) == 3


# --------------------------------------------------------------------------- results


async def test_error_answer_is_recorded_with_the_server_reason(conn: KubeConnection,
                                                               journal: Journal) -> None:
    gate = gate_for(conn, journal)
    result = await write(gate, scale_request(0, name="nope"))
    assert not result.ok and result.status == 404 and result.reason == "NotFound"
    assert '"nope" not found' in result.message
    entry = await journal.get(result.journal_id)
    assert entry is not None and entry.status == "failed" and not entry.outcome_unknown
    assert entry.result == {"status": 404, "reason": "NotFound", "message": result.message}


async def test_verification_is_recorded(conn: KubeConnection, journal: Journal) -> None:
    gate = gate_for(conn, journal)

    async def scaled_to(n: int) -> tuple[bool, str]:
        got = await replicas(conn)
        return got == n, f"spec.replicas={got}"

    async def verify_zero() -> tuple[bool, str]:
        return await scaled_to(0)

    async def verify_five() -> tuple[bool, str]:
        return await scaled_to(5)

    async def broken() -> tuple[bool, str]:
        raise KubeUnreachable("connection reset")

    good = await write(gate, scale_request(0), verify=verify_zero)
    assert good.verified is True and good.verification == "spec.replicas=0"
    bad = await write(gate, scale_request(1), verify=verify_five)
    assert bad.ok and bad.verified is False
    worse = await write(gate, scale_request(1), verify=broken)
    assert worse.verified is False and "could not run" in worse.verification
    entries = {e.id: e for e in await journal.entries()}
    assert entries[good.journal_id].status == "verified"
    assert entries[good.journal_id].verification == "spec.replicas=0"
    assert entries[good.journal_id].result["status"] == 200  # kept from "done"
    assert entries[bad.journal_id].status == "verify_failed"
    assert entries[worse.journal_id].status == "verify_failed"


async def test_no_answer_leaves_an_outcome_unknown_row(journal: Journal) -> None:
    class Unreachable:
        async def request(self, method: str, path: str, params: Params | None = None,
                          body: bytes | None = None,
                          content_type: str = "application/json") -> tuple[int, bytes]:
            raise KubeUnreachable("connection reset by peer")

    gate = gate_for(Unreachable(), journal)
    with pytest.raises(KubeUnreachable):
        await write(gate, scale_request(0), operation_id="op-u")
    [entry] = await journal.entries()
    assert entry.status == "failed" and entry.outcome_unknown
    assert [op.operation_id for op in await journal.open_operations(CTX)] == ["op-u"]


async def test_a_non_kubernetes_sender_is_gated_and_journaled_the_same(
        journal: Journal) -> None:
    """Alertmanager silences: same policy, same journal, the answer kept for the release."""
    calls: list[tuple[str, str]] = []

    class Alertmanager:
        async def request(self, method: str, path: str, params: Params | None = None,
                          body: bytes | None = None,
                          content_type: str = "application/json") -> tuple[int, bytes]:
            calls.append((method, path))
            return 200, b'{"silenceID":"7d1c"}'

    req = WriteRequest(method="POST", path="/api/v2/silences", verb="create",
                       body=b'{"matchers":[]}',
                       target=TargetRef("Silence", "", "", "alertmanager", "silences"))
    read_only = WriteGate(GatePolicy(CTX, True, False, "tester"), Alertmanager(), journal,
                          dry_run=False, access_reviews=False)
    with pytest.raises(RefusedError, match="read-only"):
        await read_only.write(req, prior={}, intent={"matchers": []}, reason="INC-7",
                              confirm=Confirmation())
    assert calls == []
    armed = WriteGate(GatePolicy(CTX, False, False, "tester"), Alertmanager(), journal,
                      dry_run=False, access_reviews=False)
    result = await armed.write(req, prior={}, intent={"matchers": []}, reason="INC-7",
                               confirm=Confirmation())
    assert result.ok and calls == [("POST", "/api/v2/silences")]
    entry = await journal.get(result.journal_id)
    assert entry is not None and entry.result == {"status": 200,
                                                  "response": {"silenceID": "7d1c"}}


# --------------------------------------------------------------------------- crash safety


CRASH_SCRIPT = textwrap.dedent("""
    import asyncio, os, signal, sys
    from pathlib import Path
    from backends.ops.gate import Confirmation, GatePolicy, TargetRef, WriteGate, WriteRequest
    from backends.ops.journal import Journal

    WHEN = sys.argv[2]

    class KillingJournal(Journal):
        async def append(self, **kw):
            entry_id = await super().append(**kw)
            if WHEN == "after-append":
                os.kill(os.getpid(), signal.SIGKILL)
            return entry_id

    class KillingSender:
        async def request(self, method, path, params=None, body=None,
                          content_type="application/json"):
            os.kill(os.getpid(), signal.SIGKILL)

    async def main():
        journal = KillingJournal((await Journal.open(Path(sys.argv[1]))).db)
        gate = WriteGate(GatePolicy("drill", False, False, "crash-tester"), KillingSender(),
                         journal)
        req = WriteRequest(
            method="PATCH", path="/apis/apps/v1/namespaces/frontend/deployments/web/scale",
            body=b'{"spec":{"replicas":0}}', content_type="application/merge-patch+json",
            verb="patch",
            target=TargetRef("Deployment", "frontend", "web", "apps", "deployments", "scale"))
        await gate.write(req, prior={"replicas": 3}, intent={"replicas": 0}, reason="INC-9",
                         confirm=Confirmation(), operation_id="breaker-1", step="scale-down")
        print("NOT KILLED")

    asyncio.run(main())
""")


@pytest.mark.parametrize("when", ["after-append", "while-sending"])
def test_sigkill_after_the_journal_append_leaves_a_readable_pending_row(
        tmp_path: Path, when: str) -> None:
    path = tmp_path / "journal.sqlite3"
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(path), when], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "NOT KILLED" not in proc.stdout
    with JournalDB.open(path) as db:  # a new process would do exactly this
        [entry] = db.entries()
        assert entry.status == "pending" and entry.outcome_unknown
        assert entry.prior == {"replicas": 3} and entry.intent == {"replicas": 0}
        assert entry.operator == "crash-tester" and entry.reason == "INC-9"
        [op] = db.open_operations("drill")
        assert op.operation_id == "breaker-1" and op.unsettled == (entry,)


# --------------------------------------------------------------------------- access review


@pytest.fixture
async def denying(tmp_path: Path) -> AsyncIterator[DrillCluster]:
    policy = Policy([Rule(verbs=frozenset({"patch"}), groups=frozenset({"apps"}),
                          resources=frozenset({"deployments/scale"}), allow=False)])
    cluster = DrillCluster(DrillOptions(kubeconfig=tmp_path / "kubeconfig", simulate=False,
                                        policy=policy))
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


async def test_access_review_answers_and_is_cached(denying: DrillCluster,
                                                   journal: Journal) -> None:
    now = [1000.0]
    async with await connect(str(denying.kubeconfig), None) as conn:
        gate = gate_for(conn, journal, access_ttl=60.0, clock=lambda: now[0])
        denying.server.record_requests = True
        scale = await gate.can("patch", "apps", "deployments", "scale", NS)
        assert not scale.allowed and scale.checked
        assert scale.reason == "denied by drill policy"
        get = await gate.can("get", "apps", "deployments", "", NS)
        assert get.allowed and get.checked

        def reviews() -> int:
            return sum(1 for m, p, _ in denying.server.requests if (m, p) == ("POST", SSAR_PATH))

        assert reviews() == 2
        assert await gate.can("patch", "apps", "deployments", "scale", NS) == scale
        assert await gate.can("get", "apps", "deployments", "", NS) == get
        assert reviews() == 2  # cached
        now[0] += 61
        assert await gate.can("patch", "apps", "deployments", "scale", NS) == scale
        assert reviews() == 3  # expired, asked again

        # The server enforces the same policy on the write itself: recorded as failed.
        result = await write(gate, scale_request(0))
        assert not result.ok and result.status == 403 and result.reason == "Forbidden"


async def test_access_review_failure_is_unknown_not_cached(journal: Journal) -> None:
    calls = 0

    class Down:
        async def request(self, method: str, path: str, params: Params | None = None,
                          body: bytes | None = None,
                          content_type: str = "application/json") -> tuple[int, bytes]:
            nonlocal calls
            calls += 1
            raise KubeUnreachable("no route to host")

    gate = gate_for(Down(), journal)
    for _ in range(2):
        access = await gate.can("patch", "apps", "deployments", "scale", NS)
        assert not access.allowed and not access.checked
        assert "could not check" in access.reason
    assert calls == 2


# --------------------------------------------------------------------------- one door


def test_nothing_but_the_gate_sends_write_methods() -> None:
    """A guard against a second door: outside the gate (and the connection that implements
    ``request``), no module calls ``.request("POST"|"PUT"|"PATCH"|"DELETE", ...)``."""
    allowed = {ROOT / "backends/ops/gate.py", ROOT / "backends/kube/connection.py"}
    offenders: list[str] = []
    for package in ("backends", "tui", "widgets"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path in allowed:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "request"):
                    continue
                method = node.args[0] if node.args else next(
                    (k.value for k in node.keywords if k.arg == "method"), None)
                if isinstance(method, ast.Constant) and isinstance(method.value, str) \
                        and method.value.upper() in ("POST", "PUT", "PATCH", "DELETE"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], f"writes that bypass the write gate: {offenders}"
