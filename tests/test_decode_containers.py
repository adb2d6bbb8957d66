"""Per-container state in pod rows (last termination reason and exit code, restarts) and an
Argo CD app's ``status.resources``, from upstream fixtures and hostile input."""

from __future__ import annotations

import json
from typing import Any

from backends.kube.decode import decode_list, decode_object
from backends.model import AppRow, PodRow
from drill.resources import BY_KEY
from drill.runner import DrillCluster, DrillOptions
from tests.kubefixtures import fixture_doc, to_bytes


def pod(doc: dict[str, Any]) -> PodRow:
    row = decode_object("pods", to_bytes(doc))
    assert isinstance(row, PodRow)
    return row


def test_crashloop_pod_says_why_it_restarts() -> None:
    row = pod(fixture_doc("pods/argocd-pod-crashloop.yaml"))
    (main,) = row.containers
    assert (main.name, main.state, main.reason, main.ready, main.restarts) == (
        "main", "waiting", "CrashLoopBackOff", False, 3)
    assert (main.last_reason, main.last_exit_code) == ("Error", 1)
    assert main.last_finished == main.last_started  # both 2018-12-02T09:20:25Z upstream
    assert main.message.startswith("Back-off 40s restarting failed container=main")


def test_pod_list_exit_codes_and_init_containers() -> None:
    rows = {r.name: r for r in decode_list(
        "pods", to_bytes(fixture_doc("pods/kdash-pod-list.yaml"))).rows
        if isinstance(r, PodRow)}
    cart = rows["cartservice-67b89ffc69-s5qp8"].containers[0]
    assert (cart.restarts, cart.last_reason, cart.last_exit_code) == (896, "Error", 139)
    rec = rows["recommendationservice-78965f984b-z9x79"].containers[0]
    assert (rec.state, rec.ready, rec.last_exit_code) == ("running", True, 137)
    init = rows["pod-init-container"].containers
    assert [(c.name, c.init, c.state, c.reason) for c in init[:2]] == [
        ("init-busybox1", True, "terminated", "Completed"),
        ("init-busybox2", True, "running", "")]
    assert init[0].exit_code == 0


def test_a_container_without_status_yet_is_listed_from_the_spec() -> None:
    doc = {"metadata": {"name": "p", "namespace": "n"},
           "spec": {"containers": [{"name": "app", "image": "img:1"}]}, "status": {}}
    (app,) = pod(doc).containers
    assert (app.name, app.image, app.state, app.restarts) == ("app", "img:1", "", 0)


def test_oomkilled_with_hostile_termination_message_is_sanitized() -> None:
    doc = {"metadata": {"name": "p", "namespace": "n"},
           "spec": {"containers": [{"name": "app", "image": "img:1"}]},
           "status": {"containerStatuses": [{
               "name": "app", "restartCount": 4, "ready": False,
               "state": {"running": {"startedAt": "2026-11-26T10:00:05Z"}},
               "lastState": {"terminated": {
                   "exitCode": 137, "reason": "OOM\x1b[2JKilled",
                   "message": "[bold]boom[/]\x1b]52;c;aGk=\x07 done",
                   "startedAt": "2026-11-26T09:59:00Z",
                   "finishedAt": "2026-11-26T10:00:00Z"}}}]}}
    (app,) = pod(doc).containers
    assert (app.last_reason, app.last_exit_code) == ("OOMKilled", 137)
    assert app.last_message == "[bold]boom[/] done"  # markup kept as text, escapes gone
    assert app.last_finished is not None and app.last_started is not None
    assert app.last_finished - app.last_started == 60.0


def test_app_resources_from_upstream_and_from_the_drill() -> None:
    upstream = decode_object("applications", to_bytes(fixture_doc(
        "argocd/argocd-application-velero.yaml")))
    assert isinstance(upstream, AppRow)
    assert [(r.group, r.kind, r.namespace, r.name, r.sync_status, r.health_status)
            for r in upstream.resources] == [
        ("", "Service", "test-lla", "test-lla", "Synced", "Healthy"),
        ("apps", "Deployment", "test-lla", "test-lla", "Synced", "Healthy")]

    cluster = DrillCluster(DrillOptions(simulate=False))
    raw = json.dumps(cluster.state.get(BY_KEY["applications.argoproj.io"], "argocd",
                                       "checkout")).encode()
    app = decode_object("applications", raw)
    assert isinstance(app, AppRow)
    kinds = {(r.kind, r.name) for r in app.resources}
    assert {("Deployment", "checkout-stable"), ("Deployment", "checkout-canary"),
            ("HTTPRoute", "checkout")} <= kinds
    assert all(r.sync_status == "Synced" for r in app.resources)
    assert {r.health_status for r in app.resources if r.kind == "Deployment"} == {"Healthy"}
