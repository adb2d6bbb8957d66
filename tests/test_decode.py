"""Byte decoders against every upstream fixture, kubectl's STATUS rules, and hostile input.

Argo CD and Gateway API kinds are in ``test_decode_apps_traffic.py``; error handling, watch
events and timestamps in ``test_decode_errors.py``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from backends.kube.convert import MSG_MAX
from backends.kube.decode import KINDS, decode_list, decode_object
from backends.model import (
    DeploymentRow,
    EventRow,
    NodeMetricsRow,
    NodeRow,
    PodMetricsRow,
    PodRow,
    ReplicaSetRow,
)
from backends.sanitize import ELLIPSIS
from tests.kubefixtures import (
    HOSTILE,
    as_list,
    assert_clean,
    epoch,
    fixture_doc,
    fixture_docs,
    to_bytes,
)


def pod(relative: str) -> PodRow:
    row = decode_object("pods", to_bytes(fixture_doc(relative)))
    assert isinstance(row, PodRow)
    return row


# ---------------------------------------------------------------- pods


def test_crashloop_pod() -> None:
    row = pod("pods/argocd-pod-crashloop.yaml")
    assert row.key == "argocd/my-pod"
    assert row.status == "CrashLoopBackOff"
    assert row.restarts == 3
    assert (row.ready_containers, row.total_containers) == (0, 1)
    assert row.last_restart == epoch("2018-12-02T09:20:25Z")
    assert row.created == epoch("2018-12-02T09:19:36Z")
    assert row.message.startswith("Back-off 40s restarting failed container=main")
    assert row.node == "minikube"
    assert row.images == ("alpine:latest",)
    assert row.problem


def test_imagepullbackoff_pod_keeps_its_owner() -> None:
    row = pod("pods/argocd-pod-imagepullbackoff.yaml")
    assert row.status == "ImagePullBackOff"
    assert row.phase == "Pending"
    assert (row.owner_kind, row.owner_name) == (
        "ReplicaSet",
        "guestbook-ui-errimagepullbackoff-66cfffb669",
    )
    assert row.owner_uid == "ab0e507e-56f3-11e9-8721-025000000001"
    assert row.problem


def test_pod_being_deleted_is_terminating() -> None:
    row = pod("pods/argocd-pod-deletion.yaml")
    assert row.status == "Terminating"
    assert row.deleted == epoch("2018-12-03T10:16:04Z")
    assert not row.problem


def test_native_sidecar_counts_as_a_container() -> None:
    row = pod("pods/k9s-pod-native-sidecar.json")
    assert row.status == "Running"
    assert (row.ready_containers, row.total_containers) == (2, 2)
    assert row.restarts == 0
    assert not row.problem


def test_running_pod() -> None:
    row = pod("pods/k9s-pod-running.json")
    assert (row.key, row.status, row.ready_containers, row.total_containers) == (
        "default/nginx",
        "Running",
        1,
        1,
    )
    assert row.images == ("nginx:alpine",)


def test_pod_list_statuses_like_kubectl() -> None:
    result = decode_list("pods", to_bytes(fixture_doc("pods/kdash-pod-list.yaml")))
    assert result.errors == ()
    assert result.resource_version == ""
    assert result.continue_token is None
    assert len(result.rows) == 13
    seen = {(r.name, r.status, r.restarts) for r in result.rows if isinstance(r, PodRow)}
    assert ("cartservice-67b89ffc69-s5qp8", "CrashLoopBackOff", 896) in seen
    assert ("emailservice-5f8fc7dbb4-5lqdb", "Running", 3) in seen
    assert ("adservice-f787c8dcd-tb6x2", "Pending", 0) in seen
    assert ("frontend-5c4745dfdb-6k8wf", "OutOfcpu", 0) in seen
    assert ("frontend-5c4745dfdb-qz7fg", "Preempting", 0) in seen
    assert ("pod-init-container", "Init:1/2", 0) in seen
    assert ("pod-init-container-2", "Completed", 0) in seen
    by_name = {r.name: r for r in result.rows if isinstance(r, PodRow)}
    assert by_name["cartservice-67b89ffc69-s5qp8"].problem
    assert not by_name["pod-init-container"].problem
    assert not by_name["adservice-f787c8dcd-tb6x2"].problem  # pending: the store times it


def _pod(status: dict[str, Any], spec: dict[str, Any] | None = None, **meta: Any) -> bytes:
    return to_bytes(
        {
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", **meta},
            "spec": spec or {"containers": [{"name": "a", "image": "img"}]},
            "status": status,
        }
    )


def _status_of(raw: bytes) -> str:
    row = decode_object("pods", raw)
    assert isinstance(row, PodRow)
    return row.status


def test_kubectl_status_rules() -> None:
    waiting = {"waiting": {"reason": "ContainerCreating"}}
    assert (
        _status_of(
            _pod({"phase": "Pending", "containerStatuses": [{"name": "a", "state": waiting}]})
        )
        == "ContainerCreating"
    )
    init_spec = {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]}
    crash = {"waiting": {"reason": "CrashLoopBackOff"}}
    init_crash = {"phase": "Pending", "initContainerStatuses": [{"name": "i", "state": crash}]}
    assert _status_of(_pod(init_crash, init_spec)) == "Init:CrashLoopBackOff"
    failed = {"terminated": {"exitCode": 2}}
    init_fail = {"phase": "Pending", "initContainerStatuses": [{"name": "i", "state": failed}]}
    assert _status_of(_pod(init_fail, init_spec)) == "Init:ExitCode:2"
    terminated = {"terminated": {"exitCode": 1, "reason": "Error"}}
    assert (
        _status_of(
            _pod({"phase": "Failed", "containerStatuses": [{"name": "a", "state": terminated}]})
        )
        == "Error"
    )
    signal = {"terminated": {"exitCode": 137, "signal": 9}}
    assert (
        _status_of(
            _pod({"phase": "Running", "containerStatuses": [{"name": "a", "state": signal}]})
        )
        == "Signal:9"
    )
    two = {"containers": [{"name": "a"}, {"name": "b"}]}
    completed_and_running = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [
            {"name": "a", "ready": True, "state": {"running": {}}},
            {"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        ],
    }
    assert _status_of(_pod(completed_and_running, two)) == "NotReady"
    assert (
        _status_of(
            _pod(
                {"phase": "Running", "reason": "NodeLost"}, deletionTimestamp="2026-01-01T00:00:00Z"
            )
        )
        == "Unknown"
    )
    gated = {
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "reason": "SchedulingGated"}],
    }
    assert _status_of(_pod(gated)) == "SchedulingGated"
    assert _status_of(_pod({})) == "Unknown"


def test_running_but_not_ready_is_a_problem() -> None:
    status = {"phase": "Running", "containerStatuses": [{"name": "a", "state": {"running": {}}}]}
    row = decode_object("pods", _pod(status))
    assert isinstance(row, PodRow)
    assert (row.status, row.ready_containers, row.problem) == ("Running", 0, True)


# ---------------------------------------------------------------- nodes


def test_minikube_node() -> None:
    row = decode_object("nodes", to_bytes(fixture_doc("nodes/k9s-node-minikube.json")))
    assert isinstance(row, NodeRow)
    assert (row.key, row.name, row.ready, row.unschedulable) == (
        "minikube",
        "minikube",
        "True",
        False,
    )
    assert row.cpu_allocatable_m == 4000.0
    assert row.memory_allocatable == 8063156 * 1024
    assert [c.type for c in row.conditions] == [
        "MemoryPressure",
        "DiskPressure",
        "PIDPressure",
        "Ready",
    ]
    assert row.kubelet_version == "v1.15.2"
    assert row.created == epoch("2019-08-26T21:52:09Z")


def test_node_list_with_disk_pressure() -> None:
    result = decode_list("nodes", to_bytes(fixture_doc("nodes/kdash-node-list.yaml")))
    (row,) = result.rows
    assert isinstance(row, NodeRow)
    assert row.ready == "True"
    assert row.kubelet_version == "v1.20.6+k3s1"
    assert row.taints == ("node.kubernetes.io/disk-pressure:NoSchedule",)
    disk = next(c for c in row.conditions if c.type == "DiskPressure")
    assert (disk.status, disk.reason) == ("True", "KubeletHasDiskPressure")
    assert row.cpu_allocatable_m == 8000.0
    assert row.memory_allocatable == 32734444 * 1024


def test_node_pool_labels_and_unknown_ready() -> None:
    def node(labels: dict[str, str]) -> NodeRow:
        row = decode_object("nodes", to_bytes({"metadata": {"name": "n", "labels": labels}}))
        assert isinstance(row, NodeRow)
        return row

    assert node({"kubernetes.azure.com/agentpool": "system", "agentpool": "x"}).pool == "system"
    assert node({"agentpool": "user"}).pool == "user"
    assert node({}).pool == ""
    assert node({}).ready == "Unknown"
    broken = {"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "lots"}}}
    row = decode_object("nodes", to_bytes(broken))
    assert isinstance(row, NodeRow)
    assert row.cpu_allocatable_m == 0.0  # unparsable: unknown, but the node is not lost


# ---------------------------------------------------------------- workloads


def test_degraded_deployment() -> None:
    row = decode_object(
        "deployments", to_bytes(fixture_doc("deployments/argocd-deployment-degraded.yaml"))
    )
    assert isinstance(row, DeploymentRow)
    assert (row.progressing_status, row.progressing_reason) == ("False", "ProgressDeadlineExceeded")
    assert (row.desired, row.current, row.ready, row.updated, row.unavailable) == (1, 2, 1, 1, 1)
    assert (row.revision, row.generation, row.observed_generation) == (4, 4, 4)
    assert row.selector == (("app", "guestbook-ui"),)
    assert row.images == ("gcr.io/heptio-images/ks-guestbook-demo:0.3",)
    assert row.argocd_app == "guestbook-default"  # label only: "possibly managed"


def test_deployment_with_managed_fields_and_tracking_id() -> None:
    doc = fixture_doc("deployments/argocd-deployment-managedfields.yaml")
    row = decode_object("deployments", to_bytes(doc))
    assert isinstance(row, DeploymentRow)
    assert (row.revision, row.generation, row.desired, row.ready) == (9, 119, 4, 4)
    assert row.argocd_app == "guestbook"
    assert row.conditions[0].message.startswith('ReplicaSet "kustomize-guestbook-ui-6549d54677"')


def test_deployment_and_replicaset_pairs_link_up() -> None:
    dep = decode_object(
        "deployments", to_bytes(fixture_doc("deployments/k9s-deployment-icx-db.json"))
    )
    rs = decode_object(
        "replicasets", to_bytes(fixture_doc("replicasets/k9s-replicaset-icx-db.json"))
    )
    assert isinstance(dep, DeploymentRow) and isinstance(rs, ReplicaSetRow)
    assert (dep.key, dep.revision, dep.progressing_reason) == (
        "icx/icx-db",
        1,
        "NewReplicaSetAvailable",
    )
    assert (rs.deployment, rs.owner_uid, rs.revision) == ("icx-db", dep.uid, 1)
    assert rs.template_hash == "7d4b578979"
    assert rs.images == dep.images == ("postgres:9.2-alpine",)

    deps = decode_list(
        "deployments", to_bytes(fixture_doc("deployments/kdash-deployment-list.yaml"))
    )
    rss = decode_list(
        "replicasets", to_bytes(fixture_doc("replicasets/kdash-replicaset-list.yaml"))
    )
    dep_uids = {r.uid: r.name for r in deps.rows if isinstance(r, DeploymentRow)}
    assert set(dep_uids.values()) == {
        "metrics-server",
        "local-path-provisioner",
        "coredns",
        "traefik",
    }
    for r in rss.rows:
        assert isinstance(r, ReplicaSetRow)
        assert dep_uids[r.owner_uid] == r.deployment


# ---------------------------------------------------------------- events


def test_legacy_event() -> None:
    row = decode_object("events", to_bytes(fixture_doc("events/k9s-event-pulled.json")))
    assert isinstance(row, EventRow)
    assert (row.type, row.reason, row.count, row.source) == ("Normal", "Pulled", 1, "kubelet")
    assert (row.object_kind, row.object_name) == ("Pod", "hello-1567197780-mn4mv")
    assert row.first_seen == row.last_seen == epoch("2019-08-30T20:43:05Z")
    assert row.message == 'Successfully pulled image "blang/busybox-bash"'


def test_series_event_and_legacy_count() -> None:
    rows = decode_list("events", to_bytes(fixture_doc("events/kdash-event-list.yaml"))).rows
    series, legacy = rows
    assert isinstance(series, EventRow) and isinstance(legacy, EventRow)
    assert (series.reason, series.count, series.source) == (
        "FailedScheduling",
        3432,
        "default-scheduler",
    )
    assert series.last_seen == pytest.approx(epoch("2026-02-23T04:41:50.537584Z"))
    assert series.first_seen == pytest.approx(epoch("2026-02-11T06:46:30.776466Z"))
    assert "\n" not in series.message
    assert (legacy.count, legacy.source) == (68646, "persistentvolume-controller")
    assert legacy.last_seen == epoch("2026-02-23T04:46:45Z")


# ---------------------------------------------------------------- metrics


def test_node_metrics() -> None:
    rows = decode_list(
        "nodemetrics", to_bytes(fixture_doc("metrics/kdash-node-metrics-list.json"))
    ).rows
    assert all(isinstance(r, NodeMetricsRow) for r in rows)
    assert [(r.key, r.cpu_m, r.memory) for r in rows if isinstance(r, NodeMetricsRow)] == [
        ("k3d-my-kdash-cluster-server-0", pytest.approx(162.953844), 582980 * 1024),
        ("k3d-my-kdash-cluster-server-1", pytest.approx(102.953844), 282980 * 1024),
    ]


def test_pod_metrics_sum_containers() -> None:
    item = {
        "metadata": {"name": "p", "namespace": "ns"},
        "timestamp": "2026-11-26T15:00:00Z",
        "window": "15s",
        "containers": [
            {"name": "a", "usage": {"cpu": "250m", "memory": "64Mi"}},
            {"name": "b", "usage": {"cpu": "1500000n", "memory": "1Gi"}},
        ],
    }
    (row,) = decode_list("podmetrics", as_list(item)).rows
    assert isinstance(row, PodMetricsRow)
    assert (row.key, row.cpu_m, row.memory) == ("ns/p", 251.5, 64 * 1024**2 + 1024**3)
    assert row.timestamp == epoch("2026-11-26T15:00:00Z")


# ---------------------------------------------------------------- hostile strings


def test_hostile_pod_and_event_strings_are_cleaned() -> None:
    doc = copy.deepcopy(fixture_doc("pods/argocd-pod-crashloop.yaml"))
    doc["metadata"]["name"] = HOSTILE
    doc["spec"]["nodeName"] = HOSTILE
    doc["status"]["containerStatuses"][0]["state"]["waiting"]["message"] = HOSTILE
    doc["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] = HOSTILE
    row = decode_object("pods", to_bytes(doc))
    assert isinstance(row, PodRow)
    assert_clean(row)
    assert "[bold red]x[/]" in row.name and "[@click=app.quit]" in row.message
    assert "ZXZpbA" not in row.message and "red" in row.message

    event = copy.deepcopy(fixture_doc("events/k9s-event-pulled.json"))
    event["message"] = HOSTILE
    event["reason"] = HOSTILE
    event["involvedObject"]["name"] = HOSTILE
    assert_clean(decode_list("events", as_list(event)).rows[0])


_POD_FIELDS: dict[str, tuple[tuple[str | int, ...], str]] = {
    # where in the pod document -> which row attribute shows it
    "namespace": (("metadata", "namespace"), "namespace"),
    "name": (("metadata", "name"), "name"),
    "uid": (("metadata", "uid"), "uid"),
    "phase": (("status", "phase"), "phase"),
    "node": (("spec", "nodeName"), "node"),
    "owner kind": (("metadata", "ownerReferences", 0, "kind"), "owner_kind"),
    "owner name": (("metadata", "ownerReferences", 0, "name"), "owner_name"),
    "owner uid": (("metadata", "ownerReferences", 0, "uid"), "owner_uid"),
    "message": (("status", "containerStatuses", 0, "state", "waiting", "message"), "message"),
}


def _set(doc: Any, path: tuple[str | int, ...], value: object) -> None:
    for step in path[:-1]:
        doc = doc[step]
    doc[path[-1]] = value


@pytest.mark.parametrize("field", sorted(_POD_FIELDS))
def test_one_odd_pod_string_is_cleaned_and_the_rest_kept(field: str) -> None:
    """The pod decoder checks all strings of a pod at once and cleans one by one only when
    something is odd (backends/sanitize.py plain_line): whichever single string is hostile,
    it must be cleaned, and every other string must come out exactly as the plain decode."""
    doc = copy.deepcopy(fixture_doc("pods/argocd-pod-crashloop.yaml"))
    doc["metadata"].setdefault("ownerReferences", [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs-1", "uid": "u-1",
         "controller": True}])
    plain = decode_object("pods", to_bytes(doc))
    path, attribute = _POD_FIELDS[field]
    _set(doc, path, HOSTILE)
    row = decode_object("pods", to_bytes(doc))
    assert isinstance(row, PodRow) and isinstance(plain, PodRow)
    assert_clean(row)
    assert "[bold red]x[/]" in getattr(row, attribute)
    for other in {a for _, a in _POD_FIELDS.values()} - {attribute, "namespace", "name"}:
        assert getattr(row, other) == getattr(plain, other), other
    assert row.images == plain.images


def test_long_pod_strings_are_cut_by_their_own_limits() -> None:
    """A long message is cut at MSG_MAX, a long name only at the general limit: the joined
    check must not cut every string to the shortest limit."""
    doc = copy.deepcopy(fixture_doc("pods/argocd-pod-crashloop.yaml"))
    doc["metadata"]["name"] = "n" * 2000
    _set(doc, _POD_FIELDS["message"][0], "m" * 3000)
    doc["spec"]["containers"][0]["image"] = "i" * 5000
    row = decode_object("pods", to_bytes(doc))
    assert isinstance(row, PodRow)
    assert row.name == "n" * 2000
    assert len(row.message) == MSG_MAX and row.message.endswith(ELLIPSIS)
    assert len(row.images[0]) == 4096 and row.images[0].endswith(ELLIPSIS)


def test_hostile_node_conditions_are_cleaned() -> None:
    doc = copy.deepcopy(fixture_doc("nodes/k9s-node-minikube.json"))
    doc["status"]["conditions"][0]["message"] = HOSTILE
    doc["metadata"]["labels"]["agentpool"] = HOSTILE
    doc["status"]["nodeInfo"]["kubeletVersion"] = HOSTILE
    assert_clean(decode_object("nodes", to_bytes(doc)))


def test_every_kind_has_fixture_coverage() -> None:
    covered = {
        "pods",
        "nodes",
        "deployments",
        "replicasets",
        "events",
        "nodemetrics",
        "podmetrics",
        "applications",
        "gateways",
        "httproutes",
        "applicationloadbalancers",
    }
    assert covered == set(KINDS)
    assert fixture_docs("gateway/gateway-api-example-gateway.yaml")  # two documents
