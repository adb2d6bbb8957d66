"""The real-cluster tier: controlroom against etcd, kube-apiserver and kube-controller-manager
built from the Go module proxy (tests/realcluster.py), judged by the real server and its audit
log instead of by the drill we wrote.

Run with ``make test-real`` (``make test`` runs them too whenever Go is present: it builds
the binaries first, once, into a cache outside the checkout). Without the binaries these tests
skip with the reason, except under ``CI=true``, where they fail.

One control plane serves the whole session (it takes tens of seconds to start); each test owns
its objects, in its own namespace, so the order of the tests does not matter.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from backends.kube.connection import connect
from backends.kube.source_set import SourceOptions, SourceSet
from backends.store import Store
from tests.conftest import ROOT
from tests.realcluster import RealCluster, is_write
from tests.waiting import await_until, wait_until

pytestmark = pytest.mark.real

COMMAND = [sys.executable, "-m", "controlroom"]
REASON = "CHG-16 real cluster"


# --------------------------------------------------------------------------- objects


def namespace(real: RealCluster, prefix: str) -> str:
    """A fresh namespace for one test."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    real.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def deployment(real: RealCluster, ns: str, name: str, replicas: int = 3) -> dict[str, Any]:
    """A Deployment made through the real API, once kube-controller-manager has made its
    ReplicaSet (and the ReplicaSet its pods: Pending, there is no kubelet)."""
    real.apply({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name},
                     "annotations": {"example.com/owner": "team-shop"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": name,
                                                       "image": "nginx:1.27"}]}}}})
    wait_until(lambda: len(pods(real, ns, name)) == replicas,
               f"{replicas} pods of {ns}/{name} made by the ReplicaSet controller", timeout=120)
    return get_deployment(real, ns, name)


def get_deployment(real: RealCluster, ns: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = real.ok("GET", f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")
    return obj


def pods(real: RealCluster, ns: str, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = real.ok(
        "GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3D{app}")["items"]
    return items


def application(real: RealCluster, name: str, ns: str) -> None:
    """An Argo CD Application the real CRD schema accepts, auto-sync and selfHeal on."""
    real.apply({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"project": "default",
                 "source": {"repoURL": "https://git.example.com/shop.git", "path": ns,
                            "targetRevision": "main"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
                 "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}})


def route(real: RealCluster, ns: str) -> None:
    """A Gateway and a weighted HTTPRoute the Gateway API v1.6.1 schema accepts."""
    real.apply({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "edge", "namespace": ns},
        "spec": {"gatewayClassName": "example",
                 "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}})
    real.apply({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"parentRefs": [{"name": "edge"}],
                 "rules": [{"backendRefs": [{"name": "web-stable", "port": 80, "weight": 90},
                                            {"name": "web-canary", "port": 80, "weight": 10}]}]}})


def node(real: RealCluster, name: str) -> None:
    real.apply({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.azure.com/agentpool": "user"}}})


def warning_event(real: RealCluster, ns: str, name: str) -> None:
    real.ok("POST", f"/api/v1/namespaces/{ns}/events", {
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": {"kind": "Deployment", "namespace": ns, "name": "web",
                           "apiVersion": "apps/v1"},
        "type": "Warning", "reason": "ProbeFailed", "message": "readiness probe failed",
        "source": {"component": "realcluster-tests"}, "count": 1})


# --------------------------------------------------------------------------- the CLI


def controlroom(real: RealCluster, tmp_path: Path, identity: str, *args: str,
                timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``controlroom ARGS`` as ``identity``, with this test's journal (write commands) and an
    empty config, stdin closed (not a terminal)."""
    config = tmp_path / "config.toml"
    if not config.exists():
        config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLROOM_")}
    state = [] if args[0] in ("snapshot", "diff", "validate") else \
        ["--state-dir", str(tmp_path / "state")]
    return subprocess.run(
        [*COMMAND, *args, "--kubeconfig", str(real.kubeconfigs[identity]),
         "--config", str(config), *state],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env,
        stdin=subprocess.DEVNULL)


def ok(out: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def write(*args: str) -> tuple[str, ...]:
    return (*args, "--reason", REASON, "--yes")


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """Spec and metadata as the exact-restore comparison sees them: managedFields and
    resourceVersion aside (they record the writes themselves), and generation too (the
    server counts every spec write, a restore included)."""
    meta = {k: v for k, v in obj["metadata"].items()
            if k not in ("managedFields", "resourceVersion", "generation")}
    return {"metadata": meta, "spec": obj["spec"]}


def writes_by(events: list[dict[str, Any]], user: str) -> list[str]:
    """``VERB URI -> CODE`` of each write ``user`` sent, refused ones included."""
    return [f"{e['verb']} {e['requestURI']} -> {e.get('responseStatus', {}).get('code')}"
            for e in events if e["user"]["username"] == user and is_write(e)]


# --------------------------------------------------------------------------- tests


def test_the_control_plane_is_the_real_thing(real: RealCluster) -> None:
    version = real.ok("GET", "/version")
    assert version["gitVersion"] == "v1.37.2"
    # RBAC decides: the reader reads pods but not secrets, and writes nothing.
    assert real.request("GET", "/api/v1/pods", identity="reader")[0] == 200
    status, answer = real.request("GET", "/api/v1/secrets", identity="reader")
    assert status == 403 and 'cannot list resource "secrets"' in answer["message"]
    status, _ = real.request("POST", "/api/v1/namespaces",
                             {"metadata": {"name": "nope"}}, identity="reader")
    assert status == 403
    # The CRDs are the real schemas: an Application without a destination is refused.
    status, answer = real.request(
        "POST", "/apis/argoproj.io/v1alpha1/namespaces/default/applications",
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
         "metadata": {"name": "bad"}, "spec": {"project": "default"}})
    assert status == 422 and "spec.destination" in answer["message"], answer


async def test_every_source_lists_and_watches_its_kinds(real: RealCluster,
                                                        argocd_namespace: str) -> None:
    ns = namespace(real, "watch")
    node(real, f"node-{ns}")
    deployment(real, ns, "web", replicas=2)
    warning_event(real, ns, "web-probe-1")
    application(real, ns, ns)
    route(real, ns)

    store = Store()
    options = SourceOptions(backoff_initial=0.1, backoff_cap=1.0, metrics_interval=1.0)
    sources = SourceSet(await connect(str(real.kubeconfigs["reader"]), None), store,
                        options=options)
    await sources.start()
    try:
        listed = ["nodes", "pods", "deployments", "replicasets", "events", "applications",
                  "gateways", "httproutes"]

        want = {**dict.fromkeys(listed, "connected"),
                "applicationloadbalancers": "not_installed", "nodemetrics": "not_installed"}

        def states() -> dict[str, tuple[str, str]]:
            """Each source whose state is not the wanted one, with its error."""
            return {name: (h.state, h.error) if h else ("none", "") for name in want
                    if (h := store.health(name)) is None or h.state != want[name]}
        try:
            await await_until(lambda: not states(), "every source connected (AGC and "
                              "metrics-server are not installed)", timeout=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; not as wanted: {states()}") from None

        def keys(path: str, namespaced: bool = True) -> set[str]:
            items = real.ok("GET", path)["items"]
            return {f"{o['metadata']['namespace']}/{o['metadata']['name']}" if namespaced
                    else o["metadata"]["name"] for o in items}
        expected = {
            "nodes": keys("/api/v1/nodes", namespaced=False),
            "pods": keys("/api/v1/pods"),
            "deployments": keys("/apis/apps/v1/deployments"),
            "replicasets": keys("/apis/apps/v1/replicasets"),
            "applications": keys("/apis/argoproj.io/v1alpha1/applications"),
            "gateways": keys("/apis/gateway.networking.k8s.io/v1/gateways"),
            "httproutes": keys("/apis/gateway.networking.k8s.io/v1/httproutes"),
        }
        await await_until(lambda: all(set(store.rows(k)) == v for k, v in expected.items()),
                          "the store holds what the server lists", timeout=60)
        assert f"{ns}/web" in store.rows("deployments")
        assert f"node-{ns}" in store.rows("nodes")
        assert store.count("events") >= 1

        # Watches: what is made and deleted now reaches the store without a re-list.
        await asyncio.to_thread(deployment, real, ns, "api", 1)
        await asyncio.to_thread(node, real, f"node-{ns}-2")
        await asyncio.to_thread(real.ok, "DELETE",
                                f"/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes/web")
        await await_until(lambda: f"{ns}/api" in store.rows("deployments")
                          and f"node-{ns}-2" in store.rows("nodes")
                          and any(k.startswith(f"{ns}/api-") for k in store.rows("replicasets"))
                          and sum(k.startswith(f"{ns}/api-") for k in store.rows("pods")) == 1
                          and f"{ns}/web" not in store.rows("httproutes"),
                          "watched changes in the store", timeout=60)
    finally:
        await sources.stop()


def test_scale_and_restore_put_back_the_exact_deployment(real: RealCluster,
                                                         tmp_path: Path) -> None:
    ns = namespace(real, "scale")
    before = deployment(real, ns, "web", replicas=3)
    mark = real.audit_mark()

    out = ok(controlroom(real, tmp_path, "operator", *write("scale", f"{ns}/web", "0")))
    assert f"/apis/apps/v1/namespaces/{ns}/deployments/web/scale" in out.stdout
    assert get_deployment(real, ns, "web")["spec"]["replicas"] == 0
    wait_until(lambda: not pods(real, ns, "web"), "the ReplicaSet controller to delete the pods",
               timeout=120)

    ok(controlroom(real, tmp_path, "operator", *write("scale", f"{ns}/web", "--restore")))
    after = get_deployment(real, ns, "web")
    assert comparable(after) == comparable(before)
    assert after["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"]
    wait_until(lambda: len(pods(real, ns, "web")) == 3, "the pods back", timeout=120)

    # The audit log saw exactly the two scale writes, as the operator: the same log the
    # read-only test finds empty of writes.
    writes = writes_by(real.audit_flushed(mark), "oncall-operator")
    assert writes == [f"patch /apis/apps/v1/namespaces/{ns}/deployments/web/scale -> 200"] * 2


READ_ONLY_PATHS: tuple[tuple[str, ...], ...] = (
    ("pause-sync", "{ns}"),
    ("restore-sync", "{ns}-paused"),
    ("scale", "{ns}/web", "0"),
    ("scale", "{ns}/web", "5"),
    ("scale", "{ns}/canary", "--restore"),
    ("rollback", "deployment", "{ns}/web"),
    ("rollback", "app", "{ns}-paused"),
    ("breaker", "engage", "--deployment", "{ns}/web"),
    ("breaker", "release"),
)
"""Every headless write command, each aimed at a target it could really change."""


def paused_application(real: RealCluster, ns: str) -> None:
    """An Application paused by controlroom (its policy kept in the annotation) with two
    history entries: restore-sync and rollback app have something to do."""
    name = f"{ns}-paused"
    real.apply({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", "annotations": {
            "controlroom.io/paused-automated": '{"prune":true,"selfHeal":true}'}},
        "spec": {"project": "default",
                 "source": {"repoURL": "https://git.example.com/shop.git", "path": ns,
                            "targetRevision": "main"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": ns}},
        "status": {"history": [
            {"id": n, "revision": rev, "deployedAt": f"2026-11-2{n}T10:00:00Z",
             "source": {"repoURL": "https://git.example.com/shop.git", "path": ns,
                        "targetRevision": "main"}}
            for n, rev in ((1, "1f" * 20), (2, "2e" * 20))]}})


def second_revision(real: RealCluster, ns: str, name: str) -> None:
    """A new pod template, so the Deployment has two ReplicaSets (revisions 1 and 2)."""
    real.ok("PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/{name}",
            {"spec": {"template": {"spec": {"containers": [{"name": name,
                                                            "image": "nginx:1.28"}]}}}},
            content_type="application/strategic-merge-patch+json")
    wait_until(lambda: len(real.ok("GET", f"/apis/apps/v1/namespaces/{ns}/replicasets")
                           ["items"]) == 2, f"two ReplicaSets of {ns}/{name}", timeout=120)


def test_read_only_sends_no_write_verb_to_the_real_server(real: RealCluster,
                                                          argocd_namespace: str,
                                                          tmp_path: Path) -> None:
    ns = namespace(real, "ro")
    deployment(real, ns, "web", replicas=2)
    second_revision(real, ns, "web")
    deployment(real, ns, "canary", replicas=1)
    application(real, ns, ns)
    paused_application(real, ns)
    route(real, ns)
    # A breaker engaged (the canary scaled down) for real, so release and restore have
    # something to put back. (No route in its scope: a shift checks that the backends have
    # ready endpoints, and without a kubelet no pod here is ready.)
    ok(controlroom(real, tmp_path, "operator", *write(
        "breaker", "engage", "--deployment", f"{ns}/canary")))
    before = {name: comparable(get_deployment(real, ns, name)) for name in ("web", "canary")}
    mark = real.audit_mark()

    for template in READ_ONLY_PATHS:
        args = [a.format(ns=ns) for a in template]
        for extra in ((), ("--dry-run",)):
            out = controlroom(real, tmp_path, "operator", *write(*args, *extra), "--read-only")
            assert out.returncode == 1, (args, extra, out.stdout, out.stderr)
            # Refused by the write gate itself, not by a planning error on the way.
            assert "read-only mode" in out.stderr and "nothing was sent" in out.stderr, \
                (args, extra, out.stdout, out.stderr)

    events = real.audit_flushed(mark)
    operator = [e for e in events if e["user"]["username"] == "oncall-operator"]
    assert any(e["verb"] in ("get", "list") for e in operator)  # it did read, as the operator
    assert writes_by(events, "oncall-operator") == []
    assert {name: comparable(get_deployment(real, ns, name)) for name in before} == before


def test_the_reader_is_refused_writes_in_the_servers_words(real: RealCluster,
                                                           tmp_path: Path) -> None:
    ns = namespace(real, "reader")
    before = deployment(real, ns, "web", replicas=2)
    mark = real.audit_mark()

    out = controlroom(real, tmp_path, "reader", *write("scale", f"{ns}/web", "0"))
    # The real authorizer answered controlroom's access review: refused before sending.
    assert out.returncode == 1, out.stdout
    assert f"the access review forbids scale: patch deployments/scale in {ns}" in out.stderr
    assert "nothing was sent" in out.stderr
    # Spec and generation as before (the controller manager writes status and the revision
    # annotation meanwhile, so resourceVersion is not the judge); the audit log below proves
    # no write of ours reached the server.
    now = get_deployment(real, ns, "web")
    assert now["spec"] == before["spec"]
    assert now["metadata"]["generation"] == before["metadata"]["generation"]
    events = real.audit_flushed(mark)
    reviews = [e for e in events if e["user"]["username"] == "oncall-reader"
               and (e.get("objectRef") or {}).get("resource") == "selfsubjectaccessreviews"]
    assert reviews  # the answer came from the server, not from a guess
    assert writes_by(events, "oncall-reader") == []


def test_snapshot_of_objects_made_through_the_real_api(real: RealCluster, argocd_namespace: str,
                                                       tmp_path: Path) -> None:
    ns = namespace(real, "snap")
    node(real, f"node-{ns}")
    deployment(real, ns, "web", replicas=2)
    application(real, ns, ns)
    route(real, ns)
    target = tmp_path / "baseline.json"
    ok(controlroom(real, tmp_path, "reader", "snapshot", "-o", str(target),
                   "--change-id", "CHG-16"))
    doc = json.loads(target.read_text())

    def mine(section: str) -> list[dict[str, Any]]:
        return [e for e in doc[section] if ns in (e.get("namespace"), e.get("name"))
                or e.get("name") == f"node-{ns}"]
    assert doc["change_id"] == "CHG-16" and doc["context"] == "realcluster-reader"
    # No kubelet: the node never reported, its pods are Pending; the snapshot says so.
    assert [(n["name"], n["ready"], n["pool"]) for n in mine("nodes")] == \
        [(f"node-{ns}", "Unknown", "user")]
    [web] = mine("workloads")
    assert (web["kind"], web["name"], web["desired"], web["current"], web["ready"],
            web["images"], web["revision"]) == ("Deployment", "web", 2, 2, 0, ["nginx:1.27"], 1)
    assert [(p["total"], p["phases"]) for p in mine("pods")] == [(2, {"Pending": 2})]
    [app] = [a for a in doc["apps"] if a["name"] == ns]
    assert (app["auto_sync"], app["self_heal"], app["target_revision"]) == ("on", True, "main")
    # The Gateway's conditions are the ones the real CRD's schema defaults (no controller).
    [gateway] = mine("gateways")
    assert {(c["type"], c["status"], c["reason"]) for c in gateway["conditions"]} == \
        {("Accepted", "Unknown", "Pending"), ("Programmed", "Unknown", "Pending")}
    [route_row] = mine("routes")
    assert [(b["name"], b["weight"]) for b in route_row["backends"]] == \
        [("web-stable", 90), ("web-canary", 10)]
    states = {src["name"]: src["state"] for src in doc["sources"]}
    assert all(states[k] == "connected" for k in ("nodes", "pods", "deployments", "replicasets",
                                                   "events", "applications", "gateways",
                                                   "httproutes")), states
    assert not {"nodes", "workloads", "pods", "apps", "gateways", "routes"} & set(doc["missing"])
