"""The real-cluster tier, part three: the App (through Pilot) and the breaker against the real
kube-apiserver, judged by its audit log and its objects (issue 16, points 3 and 4).

- Read-only mode over every write key of the App, pressed on a selected Deployment, Argo CD
  Application and HTTPRoute: the real audit log holds no write verb of the operator.
- A narrower role (no Argo CD, no Gateway API): the real authorizer's 403 reaches the panels,
  which say "forbidden", not an empty calm table.
- ``snapshot`` then ``diff`` and ``validate --baseline`` after a change made through the real
  API: the regression is found and ``validate`` fails on it.
- The breaker engaged and released with a route shift under the real Gateway API schema (this
  test plays the Gateway controller and the kubelet, which the control plane lacks): every
  object restored field by field (specs and metadata; managedFields, resourceVersion and
  generation aside).

One control plane for the whole session (tests/conftest.py ``real``); each test owns its
namespace.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.config import Settings
from backends.kube.connection import connect
from backends.kube.source_set import start_all
from backends.store import Store
from tests.realcluster import RealCluster
from tests.realcluster_pki import write_kubeconfig
from tests.test_app import panel
from tests.test_real_cluster import (
    application,
    comparable,
    controlroom,
    deployment,
    get_deployment,
    namespace,
    ok,
    pods,
    route,
    write,
    writes_by,
)
from tests.test_real_cluster_ops import APPS, ROUTES, backends
from tests.waiting import pilot_until as until
from tests.waiting import wait_until
from tui.app import ControlRoomApp, Session, Target
from widgets.panels import AppsPanel, WorkloadsPanel
from widgets.routes import RoutesPanel

pytestmark = pytest.mark.real

NARROW_ROLE = "controlroom:narrow-oncall"
NARROW_USER = "oncall-narrow"


def starter(kubeconfig: Path) -> Callable[[Store], Awaitable[Session]]:
    """The App's sources on the real server, through ``kubeconfig`` (as ``controlroom``
    started on it would connect)."""
    async def start(store: Store) -> Session:
        conn = await connect(str(kubeconfig), None)
        sources = await start_all(conn, store, None)

        async def stop() -> None:
            await sources.stop()

        return Session(stop, conn)

    return start


def real_app(real: RealCluster, identity_kubeconfig: Path, tmp_path: Path, *,
             read_only: bool = False) -> ControlRoomApp:
    return ControlRoomApp(Settings(), None,
                          Target(cluster="realcluster", context=identity_kubeconfig.stem,
                                 read_only=read_only),
                          starter(identity_kubeconfig),
                          journal_path=tmp_path / "journal.sqlite3")


async def select(pilot: Any, app: ControlRoomApp, cls: type, ending: str) -> Any:
    """Focus the panel and put its cursor on the row whose key ends with ``ending``."""
    target = panel(app, cls)
    await until(pilot, lambda: any(k.endswith(ending) for k in target.visible_keys()),
                f"{ending} in {cls.__name__}", timeout=60)
    target.focus()
    for _ in range(len(list(target.visible_keys())) + 1):
        if (target.selected_key or "").endswith(ending):
            return target
        await pilot.press("down")
    raise AssertionError(f"could not select {ending} in {cls.__name__}")


# --------------------------------------------------------------------------- read-only App


async def test_read_only_app_keys_send_no_write_verb_to_the_real_server(
        real: RealCluster, argocd_namespace: str, tmp_path: Path) -> None:
    from tui.actions import ACTION_BINDINGS
    from tui.alert_actions import ALERT_BINDINGS
    from tui.enabled import NEEDS, Need

    ns = namespace(real, "roapp")
    deployment(real, ns, "web", replicas=1)
    application(real, ns, ns)
    route(real, ns)
    before = {"deploy": comparable(get_deployment(real, ns, "web")),
              "app": comparable(real.ok("GET", f"{APPS}/{ns}")),
              "route": comparable(real.ok("GET", f"{ROUTES.format(ns=ns)}/web"))}
    keys = sorted({b.key for b in (*ACTION_BINDINGS, *ALERT_BINDINGS)
                   if NEEDS[b.action] is not Need.NOTHING})
    assert {"p", "s", "S", "r", "w", "ctrl+b", "ctrl+r", "m"} <= set(keys), keys
    mark = real.audit_mark()
    app = real_app(real, real.kubeconfigs["operator"], tmp_path, read_only=True)
    pressed = 0
    async with app.run_test(size=(240, 50)) as pilot:
        await until(pilot, lambda: app.actions.gate is not None, "the write gate", timeout=60)
        for cls, ending in ((WorkloadsPanel, f"{ns}/web"), (AppsPanel, f"argocd/{ns}"),
                            (RoutesPanel, f"{ns}/web")):
            await select(pilot, app, cls, ending)
            for key in keys:
                shown_before = len(app._notifications)  # noqa: SLF001
                await pilot.press(key)
                await until(pilot, lambda n=shown_before: len(app._notifications) > n,  # noqa: SLF001
                            f"the notice for {key} on {cls.__name__}")
                said = str(list(app._notifications)[-1].message)  # noqa: SLF001
                assert "read-only" in said, (key, cls.__name__, said)
                assert type(app.screen).__name__ == "Screen", (key, app.screen)
                pressed += 1
        await app.workers.wait_for_complete()
    assert pressed == 3 * len(keys)
    events = real.audit_flushed(mark)
    operator = [e for e in events if e["user"]["username"] == "oncall-operator"]
    assert any(e["verb"] == "watch" for e in operator)  # the App did read, as the operator
    assert writes_by(events, "oncall-operator") == []
    assert before == {"deploy": comparable(get_deployment(real, ns, "web")),
                      "app": comparable(real.ok("GET", f"{APPS}/{ns}")),
                      "route": comparable(real.ok("GET", f"{ROUTES.format(ns=ns)}/web"))}


# --------------------------------------------------------------------------- narrow role


@pytest.fixture(scope="module")
def narrow(real: RealCluster) -> Path:
    """A kubeconfig for ``oncall-narrow``: reads the core kinds and apps/v1, nothing of Argo CD
    or the Gateway API (a namespace team's on-call role, say)."""
    cert, key = real.pki.issue("narrow", f"/CN={NARROW_USER}", "extendedKeyUsage=clientAuth\n")
    real.apply({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": NARROW_ROLE},
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "nodes", "events", "services",
                                               "namespaces"],
             "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"],
             "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["authorization.k8s.io"],
             "resources": ["selfsubjectaccessreviews"], "verbs": ["create"]},
        ]})
    real.apply({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": NARROW_ROLE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": NARROW_ROLE},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": NARROW_USER}]})
    return write_kubeconfig(real.root / "narrow.kubeconfig", real.server, real.pki.ca, cert,
                            key, NARROW_USER)


async def test_a_narrow_role_shows_forbidden_kinds_not_empty_panels(
        real: RealCluster, argocd_namespace: str, narrow: Path, tmp_path: Path) -> None:
    ns = namespace(real, "narrow")
    deployment(real, ns, "web", replicas=1)
    application(real, ns, ns)  # there are apps and routes: the role just may not read them
    route(real, ns)
    app = real_app(real, narrow, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        workloads, apps, routes = (panel(app, WorkloadsPanel), panel(app, AppsPanel),
                                   panel(app, RoutesPanel))
        await until(pilot, lambda: f"{ns}/web" in workloads.visible_keys(),
                    "the readable Deployment listed", timeout=60)
        await until(pilot, lambda: "forbidden" in apps.status_text
                    and "forbidden" in routes.status_text,
                    "the Argo CD and traffic panels saying forbidden", timeout=60)
        assert "applications.argoproj.io" in apps.status_text, apps.status_text
        assert NARROW_USER in apps.status_text, apps.status_text
        assert "httproutes.gateway.networking.k8s.io" in routes.status_text or \
            "gateways.gateway.networking.k8s.io" in routes.status_text, routes.status_text
        assert not list(apps.visible_keys())  # no rows, and not calm: the status says why
        assert workloads.status_text == ""  # what the role may read is shown as usual
        for name in ("applications", "httproutes", "gateways"):
            health = app.store.health(name)
            assert health is not None and health.state == "forbidden", (name, health)


# --------------------------------------------------------------------------- diff / validate


def regression_checks(real: RealCluster, tmp_path: Path, ns: str,
                      baseline: Path) -> dict[str, tuple[str, list[str]]]:
    """``validate --baseline`` as the reader: each no-regression check's status and evidence.
    (The absolute checks, nodes Ready for one, depend on what other tests left in the shared
    cluster, whose nodes never have a kubelet: not this test's business.)"""
    out = controlroom(real, tmp_path, "reader", "validate", "--baseline", str(baseline),
                      "-n", ns, "--format", "json")
    assert out.returncode in (0, 1), out.stdout + out.stderr
    doc = json.loads(out.stdout)
    return {c["id"]: (c["status"], c["evidence"]) for c in doc["checks"]
            if c["id"].startswith("no-regression-")}


def test_diff_and_validate_against_a_baseline_of_the_real_cluster(
        real: RealCluster, tmp_path: Path) -> None:
    ns = namespace(real, "baseline")
    deployment(real, ns, "web", replicas=2)
    baseline = tmp_path / "baseline.json"
    ok(controlroom(real, tmp_path, "reader", "snapshot", "-o", str(baseline), "-n", ns,
                   "--change-id", "CHG-16"))
    same = controlroom(real, tmp_path, "reader", "diff", str(baseline), "-n", ns,
                       "--format", "json")
    assert same.returncode == 0, same.stdout + same.stderr
    assert [i for i in json.loads(same.stdout)["items"] if ns in i["key"]] == []
    before = regression_checks(real, tmp_path, ns, baseline)
    assert {status for status, _ in before.values()} <= {"pass", "skip"}, before
    assert before["no-regression-pods"][0] == "pass"

    # The change, through the real API: a new pod template and one replica fewer. The
    # controller makes a new ReplicaSet whose pod stays Pending (no kubelet).
    real.ok("PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/web",
            {"spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1.28"}]}}}},
            content_type="application/strategic-merge-patch+json")
    wait_until(lambda: {p["spec"]["containers"][0]["image"] for p in pods(real, ns, "web")}
               >= {"nginx:1.28"}, "the new ReplicaSet's pod", timeout=120)
    new_pods = {p["metadata"]["name"] for p in pods(real, ns, "web")
                if p["spec"]["containers"][0]["image"] == "nginx:1.28"}

    out = controlroom(real, tmp_path, "reader", "diff", str(baseline), "-n", ns,
                      "--format", "json")
    assert out.returncode == 1, out.stdout + out.stderr  # something got worse
    changes = {(i["key"], i["what"]): (i["before"], i["after"])
               for i in json.loads(out.stdout)["items"]}
    assert changes[(f"{ns}/web", "images changed")] == ("nginx:1.27", "nginx:1.28")
    assert changes[(f"{ns}/web", "desired replicas changed")] == ("2", "1")
    assert changes[(f"{ns}/web", "rollout revision changed")] == ("1", "2")
    after = regression_checks(real, tmp_path, ns, baseline)
    status, evidence = after["no-regression-pods"]
    assert status == "fail", after
    assert any(f"{ns}/{name}" in line and "Pending" in line
               for line in evidence for name in new_pods), evidence


# --------------------------------------------------------------------------- breaker


@pytest.fixture
def controller(real: RealCluster) -> Iterator[Callable[[str], None]]:
    """Plays what the control plane lacks, for the namespaces given to it: the Gateway
    controller (each HTTPRoute's new generation reported Accepted and ResolvedRefs) and the
    kubelet (each pod made Running and Ready through its status), in a thread, until the
    test ends."""
    from tests.test_real_cluster_ops import accept

    namespaces: list[str] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        while not stop.wait(0.1):
            try:
                for ns in list(namespaces):
                    for item in real.ok("GET", ROUTES.format(ns=ns))["items"]:
                        gen = item["metadata"]["generation"]
                        seen = [c.get("observedGeneration") for p in
                                (item.get("status") or {}).get("parents") or []
                                for c in p.get("conditions") or []]
                        if item["metadata"]["name"] == "web" and gen not in seen:
                            accept(real, ns, gen)
                    for pod in real.ok("GET", f"/api/v1/namespaces/{ns}/pods")["items"]:
                        conditions = (pod.get("status") or {}).get("conditions") or []
                        if not any(c["type"] == "Ready" and c["status"] == "True"
                                   for c in conditions):
                            real.request(
                                "PATCH", f"/api/v1/namespaces/{ns}/pods/"
                                f"{pod['metadata']['name']}/status",
                                {"status": {"phase": "Running", "conditions": [
                                    {"type": "Ready", "status": "True"}]}},
                                content_type="application/merge-patch+json")
            except BaseException as exc:  # noqa: BLE001 (reported by the test)
                errors.append(exc)
                return

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield namespaces.append
    finally:
        stop.set()
        thread.join(10)
    assert not errors, errors


def test_breaker_engage_and_release_with_a_route_shift_restore_exactly(
        real: RealCluster, argocd_namespace: str, tmp_path: Path,
        controller: Callable[[str], None]) -> None:
    ns = namespace(real, "breaker")
    controller(ns)
    backends(real, ns)
    application(real, ns, ns)
    route(real, ns)
    path = f"{ROUTES.format(ns=ns)}/web"
    wait_until(lambda: (real.ok("GET", path).get("status") or {}).get("parents"),
               "the route accepted by the test's Gateway controller", timeout=60)
    wait_until(lambda: all(any(c["type"] == "Ready" and c["status"] == "True"
                               for c in (p.get("status") or {}).get("conditions") or [])
                           for p in real.ok("GET", f"/api/v1/namespaces/{ns}/pods")["items"]),
               "every pod Ready", timeout=60)

    def state() -> dict[str, Any]:
        return {"app": comparable(real.ok("GET", f"{APPS}/{ns}")),
                "route": comparable(real.ok("GET", path)),
                **{name: comparable(get_deployment(real, ns, name))
                   for name in ("web-stable", "web-canary")}}
    before = state()
    mark = real.audit_mark()

    scope = ("--app", ns, "--deployment", f"{ns}/web-canary",
             "--route", f"{ns}/web:web-stable=100,web-canary=0")
    out = ok(controlroom(real, tmp_path, "operator", *write("breaker", "engage", *scope)))
    engaged = state()
    assert engaged["app"]["spec"]["syncPolicy"]["automated"]["enabled"] is False, out.stdout
    assert [(b["name"], b["weight"]) for b in engaged["route"]["spec"]["rules"][0]
            ["backendRefs"]] == [("web-stable", 100), ("web-canary", 0)]
    assert engaged["web-canary"]["spec"]["replicas"] == 0
    assert engaged["web-stable"] == before["web-stable"]
    status = ok(controlroom(real, tmp_path, "operator", "breaker", "status"))
    assert "engaged" in status.stdout.lower(), status.stdout

    ok(controlroom(real, tmp_path, "operator", *write("breaker", "release")))
    after = state()
    for name in before:  # field by field, so a failure names the field
        for part in ("metadata", "spec"):
            assert after[name][part] == before[name][part], (name, part)
    events = real.audit_flushed(mark)
    writes = writes_by(events, "oncall-operator")
    assert writes and all(w.endswith("-> 200") for w in writes), writes
    assert any(w.startswith(f"patch {path}") for w in writes), writes
