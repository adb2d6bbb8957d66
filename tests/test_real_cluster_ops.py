"""The real-cluster tier, part two: controlroom's watch through a forced etcd compaction, and
its writes under the real schemas and controllers (issue 16, point 3).

- A compaction between two pages of a list expires the continue token (410) and the source
  lists again; a compaction while its watch is away gives the resumed watch 410 and the
  source re-lists: no ghost, no missing row, against the server's own list.
- Argo CD pause/restore under the real Application CRD, restored exactly.
- Traffic weights through the real Gateway API HTTPRoute schema; a weight the schema refuses
  comes back in the server's own words.
- Rollout undo on ReplicaSets kube-controller-manager made, the template restored exactly.

The compaction test runs on a second control plane with the watch cache off: with it on (the
session's cluster, as on AKS) the API server answers a continue token and a resumed watch from
its cache after a compaction (a continue token from before it still gets 200), so only with
the cache off do lists and watches meet etcd's compaction. Its cost is one start (~13 s).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from backends.kube.connection import KubeConnection, connect
from backends.kube.source import WatchSource
from backends.kube.source_set import ManagedTransport, SourceOptions, SourceSet
from backends.kube.wire import LineStream, Params
from backends.ops import traffic
from backends.ops.journal import Journal
from backends.ops.plan import execute
from backends.store import Store
from backends.usecases import traffic as traffic_uc
from tests.conftest import require_program
from tests.ops_support import CONFIRM
from tests.realcluster import RealCluster, running
from tests.test_real_cluster import (
    COMMAND,
    REASON,
    ROOT,
    application,
    comparable,
    controlroom,
    deployment,
    get_deployment,
    namespace,
    ok,
    pods,
    route,
    second_revision,
    write,
    writes_by,
)
from tests.usecase_support import workspace
from tests.waiting import await_until, wait_until

pytestmark = pytest.mark.real

APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
ROUTES = "/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes"


@pytest.fixture(scope="module")
def uncached(real: RealCluster) -> Iterator[RealCluster]:
    """A second control plane with the watch cache off (module doc). Asks for ``real`` first,
    so a missing build skips or fails the same way."""
    with running(require_program("openssl"), watch_cache=False) as cluster:
        yield cluster


# --------------------------------------------------------------------------- compaction


class Interposer:
    """The sources' connection, with a hand in between: before the first request for a next
    page, or before the watch resumes, it runs the test's churn (writes, then a compaction) in
    a thread. It changes no request: the server answers each one as it is."""

    def __init__(self, conn: KubeConnection) -> None:
        self.conn = conn
        self.before_next_page: Callable[[], None] | None = None
        self.before_watch: Callable[[], None] | None = None

    async def get_raw(self, path: str, params: Params | None = None) -> bytes:
        if params and params.get("continue") and self.before_next_page is not None:
            churn, self.before_next_page = self.before_next_page, None
            await asyncio.to_thread(churn)
        return await self.conn.get_raw(path, params)

    async def open_stream(self, path: str, params: Params | None = None) -> LineStream:
        if params and params.get("watch") and self.before_watch is not None:
            churn, self.before_watch = self.before_watch, None
            await asyncio.to_thread(churn)
        return await self.conn.open_stream(path, params)

    async def close(self) -> None:
        await self.conn.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)  # discovery's reads


def bare_pod(cluster: RealCluster, ns: str, name: str) -> None:
    cluster.ok("POST", f"/api/v1/namespaces/{ns}/pods", {
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "churn"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}})


def delete_pod(cluster: RealCluster, ns: str, name: str) -> None:
    cluster.ok("DELETE", f"/api/v1/namespaces/{ns}/pods/{name}?gracePeriodSeconds=0")


def server_pods(cluster: RealCluster, ns: str) -> set[str]:
    return {f"{ns}/{p['metadata']['name']}"
            for p in cluster.ok("GET", f"/api/v1/namespaces/{ns}/pods")["items"]}


async def test_compaction_expires_continue_and_watch_and_the_store_relists(
        uncached: RealCluster, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="backends.kube.source")
    cluster = uncached
    ns = namespace(cluster, "compact")
    wait_until(lambda: cluster.request(
        "GET", f"/api/v1/namespaces/{ns}/serviceaccounts/default")[0] == 200,
        "the namespace's default service account")
    for i in range(5):
        bare_pod(cluster, ns, f"p{i}")

    def churn(delete: str, create: list[str]) -> Callable[[], None]:
        def run() -> None:
            delete_pod(cluster, ns, delete)
            for name in create:
                bare_pod(cluster, ns, name)
            cluster.compact()  # to the revision of the last write: everything before is gone
        return run

    conn = Interposer(await connect(str(cluster.kubeconfigs["reader"]), None))
    # p0 is on the first page (etcd lists by key); it is applied as the page arrives, then
    # deleted before page two is asked for with the now compacted continue token.
    conn.before_next_page = churn("p0", ["p5"])
    store = Store()
    sources = SourceSet(cast(ManagedTransport, conn), store, namespaces=[ns], kinds={"pods"},
                        options=SourceOptions(page_size=2, watch_timeout=1.0, metrics=False,
                                              backoff_initial=0.1, backoff_cap=1.0))
    mark = cluster.audit_mark()
    await sources.start()
    try:
        [source] = [s for s in sources.sources if isinstance(s, WatchSource)]
        want = {f"{ns}/p{i}" for i in (1, 2, 3, 4, 5)}
        await await_until(lambda: source.lists == 1, "the first list", timeout=30)
        assert await asyncio.to_thread(server_pods, cluster, ns) == want
        assert set(store.rows("pods")) == want
        assert "list continue token expired; listing again" in caplog.text
        # The server's answer to the stale token, from its audit log: 410, to controlroom.
        expired = [e for e in cluster.audit_flushed(mark)
                   if e["user"]["username"] == "oncall-reader" and "continue=" in
                   e["requestURI"] and e.get("responseStatus", {}).get("code") == 410]
        assert len(expired) == 1, expired

        # The watch ends every second (timeoutSeconds=1); before it resumes, p1 goes, p6 and
        # p7 come, and etcd forgets the version it would resume from.
        conn.before_watch = churn("p1", ["p6", "p7"])
        want = {f"{ns}/p{i}" for i in (2, 3, 4, 5, 6, 7)}
        await await_until(lambda: source.lists == 2, "a re-list after the watch's 410",
                          timeout=30)
        assert await asyncio.to_thread(server_pods, cluster, ns) == want
        await await_until(lambda: set(store.rows("pods")) == want,
                          "the store equal to the server's list", timeout=30)
        relisted = [r.getMessage() for r in caplog.records if "re-listing" in r.getMessage()]
        assert relisted and all("410" in m or "Expired" in m for m in relisted), relisted
        assert store.health(source.name).state == "connected"  # type: ignore[union-attr]
    finally:
        await sources.stop()


# --------------------------------------------------------------------------- Argo CD


def test_pause_and_restore_sync_under_the_real_application_schema(
        real: RealCluster, argocd_namespace: str, tmp_path: Path) -> None:
    ns = namespace(real, "argo")
    application(real, ns, ns)
    before = real.ok("GET", f"{APPS}/{ns}")
    mark = real.audit_mark()

    ok(controlroom(real, tmp_path, "operator", *write("pause-sync", ns)))
    paused = real.ok("GET", f"{APPS}/{ns}")
    # Paused the Argo CD 3 way (``enabled: false``, prune and selfHeal kept): a field the
    # real v3.5.1 schema knows, so it is stored, not pruned.
    assert paused["spec"]["syncPolicy"]["automated"] == {
        "enabled": False, "prune": True, "selfHeal": True}, paused["spec"]
    # The prior policy survived the real schema's pruning, on the object itself.
    assert paused["metadata"]["annotations"]["controlroom.io/paused-automated"]

    ok(controlroom(real, tmp_path, "operator", *write("restore-sync", ns)))
    after = real.ok("GET", f"{APPS}/{ns}")
    assert comparable(after) == comparable(before)
    writes = writes_by(real.audit_flushed(mark), "oncall-operator")
    assert len(writes) == 2 and all(
        w.startswith(f"patch {APPS}/{ns}") and w.endswith("-> 200") for w in writes), writes


# --------------------------------------------------------------------------- traffic


def backends(real: RealCluster, ns: str) -> None:
    """The route's two backends: a Deployment and a Service each, their pods made Ready
    through the status subresource, as the drill's kubelet simulator does (there is no
    kubelet here), so controlroom's ready-endpoint check counts real pods."""
    for name in ("web-stable", "web-canary"):
        deployment(real, ns, name, replicas=1)
        real.apply({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {"selector": {"app": name},
                             "ports": [{"port": 80, "targetPort": 8080}]}})
        for pod in pods(real, ns, name):
            real.ok("PATCH", f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}/status",
                    {"status": {"phase": "Running", "conditions": [
                        {"type": "Ready", "status": "True"}]}},
                    content_type="application/merge-patch+json")


def accept(real: RealCluster, ns: str, generation: int) -> None:
    """What a Gateway controller does (there is none here): report the route Accepted and
    its references resolved for ``generation``, through the status subresource."""
    def condition(kind: str, reason: str) -> dict[str, Any]:
        return {"type": kind, "status": "True", "reason": reason, "message": "",
                "observedGeneration": generation, "lastTransitionTime": "2026-12-07T10:00:00Z"}
    real.ok("PATCH", f"{ROUTES.format(ns=ns)}/web/status", {"status": {"parents": [{
        "parentRef": {"name": "edge"}, "controllerName": "example.com/gateway",
        "conditions": [condition("Accepted", "Accepted"),
                       condition("ResolvedRefs", "ResolvedRefs")]}]}},
        content_type="application/merge-patch+json")


def shift_as_the_controller(real: RealCluster, tmp_path: Path, ns: str,
                            *args: str) -> subprocess.CompletedProcess[str]:
    """``controlroom weights ARGS`` as the operator, while this test plays the Gateway
    controller: once the write raised the route's generation, it reports that generation."""
    generation = real.ok("GET", f"{ROUTES.format(ns=ns)}/web")["metadata"]["generation"]
    with subprocess.Popen(
            [*COMMAND, "weights", f"{ns}/web", *write(*args), "--kubeconfig",
             str(real.kubeconfigs["operator"]), "--config", str(tmp_path / "config.toml"),
             "--state-dir", str(tmp_path / "state")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL) as proc:
        def written() -> bool:
            now = real.ok("GET", f"{ROUTES.format(ns=ns)}/web")["metadata"]["generation"]
            return bool(now > generation or proc.poll() is not None)
        wait_until(written, "controlroom's weights write", timeout=60)
        if proc.poll() is None:
            accept(real, ns, generation + 1)
        stdout, stderr = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


async def test_weights_pass_the_real_gateway_schema_and_a_refusal_is_in_its_words(
        real: RealCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = namespace(real, "route")
    backends(real, ns)
    route(real, ns)
    (tmp_path / "config.toml").write_text("")
    path = f"{ROUTES.format(ns=ns)}/web"
    accept(real, ns, 1)
    before = real.ok("GET", path)

    out = await asyncio.to_thread(shift_as_the_controller, real, tmp_path, ns,
                                  "web-stable=50", "web-canary=50")
    ok(out)
    assert f"Service {ns}/web-canary: 1 ready pod(s)" in out.stdout + out.stderr
    shifted = real.ok("GET", path)
    assert [(b["name"], b["weight"]) for b in shifted["spec"]["rules"][0]["backendRefs"]] == \
        [("web-stable", 50), ("web-canary", 50)]
    ok(await asyncio.to_thread(shift_as_the_controller, real, tmp_path, ns, "--restore"))
    assert comparable(real.ok("GET", path)) == comparable(before)

    # A weight over the CRD's maximum: the planner's own bound (the same 1,000,000) is lifted
    # so the write reaches the real schema, which refuses it; the result carries its words.
    monkeypatch.setattr(traffic, "MAX_WEIGHT", 2_000_000)
    mark = real.audit_mark()
    conn = await connect(str(real.kubeconfigs["operator"]), None)
    journal = await Journal.open(tmp_path / "journal.db")
    try:
        ws, _ = workspace(conn, journal)
        action = await traffic_uc.plan_shift(ws, ns, "web", {"web-canary": 1_000_001},
                                             timeout=5)
        done = await execute(ws.gate, action.plan, reason=REASON, confirm=CONFIRM)
    finally:
        await conn.close()
    [step] = done.results
    [result] = step.writes
    assert not step.ok and result.status == 422, done.summary()
    ops = [{"op": "add", "path": "/spec/rules/0/backendRefs/1/weight", "value": 1_000_001}]
    status, answer = real.request("PATCH", f"{path}?dryRun=All", ops,
                                  content_type="application/json-patch+json")
    assert status == 422 and answer["message"] in result.message, (answer, result.message)
    assert "less than or equal to 1000000" in result.message
    assert answer["message"] in done.summary()  # what the operator is shown
    # It was the server that refused: the write reached it, as the operator, and got 422.
    assert writes_by(real.audit_flushed(mark), "oncall-operator") == [f"patch {path} -> 422"]
    assert comparable(real.ok("GET", path)) == comparable(before)


# --------------------------------------------------------------------------- rollout undo


def test_rollout_undo_to_a_replicaset_the_controller_made(real: RealCluster,
                                                          tmp_path: Path) -> None:
    ns = namespace(real, "undo")
    first = deployment(real, ns, "web", replicas=1)
    second_revision(real, ns, "web")
    assert get_deployment(real, ns, "web")["spec"]["template"] != first["spec"]["template"]

    def replicasets() -> dict[str, str]:
        """Each ReplicaSet's revision, as kube-controller-manager numbered them."""
        return {rs["metadata"]["name"]: rs["metadata"]["annotations"][
            "deployment.kubernetes.io/revision"]
            for rs in real.ok("GET", f"/apis/apps/v1/namespaces/{ns}/replicasets")["items"]}
    revisions = replicasets()
    assert sorted(revisions.values()) == ["1", "2"]
    [first_rs] = [name for name, rev in revisions.items() if rev == "1"]

    ok(controlroom(real, tmp_path, "operator",
                   *write("rollback", "deployment", f"{ns}/web", "--to", "1")))
    after = get_deployment(real, ns, "web")
    assert after["spec"]["template"] == first["spec"]["template"]
    # The controller adopts the old ReplicaSet as revision 3; it makes no new one.
    wait_until(lambda: replicasets() == {**revisions, first_rs: "3"} and get_deployment(
        real, ns, "web")["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3",
               "the first ReplicaSet renumbered 3 by kube-controller-manager", timeout=60)
    reused = real.ok("GET", f"/apis/apps/v1/namespaces/{ns}/replicasets/{first_rs}")
    assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
