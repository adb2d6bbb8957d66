"""Server-side Table output of the drill cluster, checked against upstream fixtures.

The expected cells are what ``kubectl get`` prints for these objects on a real cluster (the
fixtures are real API objects collected from upstream projects, see tests/fixtures/SOURCES.md).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
import yaml

from drill import tables
from drill.resources import BY_KEY
from tests.kubefixtures import FIXTURES

Obj = dict[str, Any]


def _rfc3339(value: Any) -> Any:
    """YAML turns unquoted timestamps into datetimes; the API only ever sends strings."""
    if isinstance(value, dict):
        return {k: _rfc3339(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rfc3339(v) for v in value]
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def load(rel: str) -> list[Obj]:
    """Objects of a fixture file: a List's items, a multi-document stream, or one object."""
    path = FIXTURES / rel
    if path.suffix == ".json":
        docs = [json.loads(path.read_text())]
    else:
        docs = [_rfc3339(d) for d in yaml.safe_load_all(path.read_text()) if d]
    out: list[Obj] = []
    for doc in docs:
        out.extend(doc["items"] if str(doc.get("kind", "")).endswith("List") else [doc])
    return out


def table(key: str, objs: list[Obj], now: datetime, **kw: Any) -> Obj:
    kw.setdefault("resource_version", "42")
    return tables.to_table(BY_KEY[key], objs, now=now, **kw)


def cells(key: str, objs: list[Obj], now: datetime) -> list[list[Any]]:
    return [row["cells"] for row in table(key, objs, now)["rows"]]


def names(t: Obj) -> list[str]:
    return [c["name"] for c in t["columnDefinitions"]]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ------------------------------------------------------------------------------ human_duration


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-5, "<invalid>"), (-2, "<invalid>"), (-1.5, "0s"), (-1, "0s"), (0, "0s"),
        (0.9, "0s"), (45, "45s"), (90, "90s"), (119, "119s"), (120, "2m"), (125, "2m5s"),
        (599, "9m59s"), (600, "10m"), (3 * 3600 - 1, "179m"), (3 * 3600, "3h"),
        (3 * 3600 + 120, "3h2m"), (8 * 3600, "8h"), (47 * 3600 + 3599, "47h"),
        (48 * 3600, "2d"), (3 * 86400 + 4 * 3600, "3d4h"), (8 * 86400, "8d"),
        (729 * 86400, "729d"), (730 * 86400, "2y"), (760 * 86400, "2y30d"),
        (8 * 365 * 86400, "8y"),
    ],
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert tables.human_duration(seconds) == expected


# ------------------------------------------------------------------------------ pods


def test_crashloop_pod() -> None:
    pod = load("pods/argocd-pod-crashloop.yaml")[0]
    row = cells("pods", [pod], at("2018-12-02T09:25:00Z"))[0]
    # finishedAt 09:20:25, created 09:19:36
    assert row == ["my-pod", "0/1", "CrashLoopBackOff", "3 (4m35s ago)", "5m24s",
                   "172.17.0.9", "minikube", "<none>", "<none>"]


def test_pod_columns_match_kubectl() -> None:
    t = table("pods", [], datetime.now(UTC))
    assert names(t) == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node",
                        "Nominated Node", "Readiness Gates"]
    assert [c["priority"] for c in t["columnDefinitions"]] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert t["columnDefinitions"][0]["format"] == "name"
    assert t["rows"] == []


def test_kdash_pod_list_statuses() -> None:
    pods = load("pods/kdash-pod-list.yaml")
    rows = cells("pods", pods, at("2021-07-01T00:00:00Z"))
    got = [(r[0], r[1], r[2], r[3].split(" ")[0]) for r in rows]
    assert got == [
        ("adservice-f787c8dcd-tb6x2", "0/1", "Pending", "0"),
        ("cartservice-67b89ffc69-s5qp8", "0/1", "CrashLoopBackOff", "896"),
        ("currencyservice-68887d98fd-gc9cn", "0/1", "Pending", "0"),
        ("emailservice-5f8fc7dbb4-5lqdb", "1/1", "Running", "3"),
        ("frontend-5c4745dfdb-6k8wf", "0/1", "OutOfcpu", "0"),
        ("frontend-5c4745dfdb-qz7fg", "0/1", "Preempting", "0"),
        ("frontend-5c4745dfdb-6k8wf", "0/1", "Failed", "0"),
        ("loadgenerator-86f46dcb88-62vzw", "0/1", "Pending", "0"),
        ("paymentservice-6658569876-d6r72", "1/1", "Running", "0"),
        ("recommendationservice-78965f984b-z9x79", "1/1", "Running", "1"),
        ("shippingservice-6998959488-tvhph", "1/1", "Running", "0"),
        ("pod-init-container", "0/1", "Init:1/2", "0"),
        ("pod-init-container-2", "0/1", "Completed", "0"),
    ]
    # restarts with a last termination carry "(<age> ago)"
    assert rows[1][3].startswith("896 (") and rows[1][3].endswith(" ago)")
    assert rows[8][3] == "0"
    # a pod without IP or node prints <none> in the wide cells
    assert rows[0][5:7] == ["<none>", "<none>"]


def test_finished_pods_carry_row_conditions() -> None:
    pods = load("pods/kdash-pod-list.yaml")
    rows = table("pods", pods, at("2021-07-01T00:00:00Z"))["rows"]
    by_name = {r["cells"][0]: r for r in rows}
    assert by_name["pod-init-container-2"]["conditions"][0]["reason"] == "Succeeded"
    assert by_name["frontend-5c4745dfdb-qz7fg"]["conditions"][0]["reason"] == "Failed"
    assert "conditions" not in by_name["paymentservice-6658569876-d6r72"]


def test_terminating_and_image_pull_pods() -> None:
    now = at("2019-04-04T17:00:00Z")
    deleting = load("pods/argocd-pod-deletion.yaml")[0]
    pulling = load("pods/argocd-pod-imagepullbackoff.yaml")[0]
    assert cells("pods", [deleting], now)[0][2] == "Terminating"
    assert cells("pods", [pulling], now)[0][1:4] == ["0/1", "ImagePullBackOff", "0"]


def test_native_sidecar_counts_towards_ready() -> None:
    pod = load("pods/k9s-pod-native-sidecar.json")[0]
    row = cells("pods", [pod], at("2024-08-24T02:00:00Z"))[0]
    assert row[:5] == ["sleep", "2/2", "Running", "0", "5m28s"]


def _pod(**status: Any) -> Obj:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]},
        "status": status,
    }


def test_pod_status_rules() -> None:
    now = at("2024-01-01T01:00:00Z")
    running = {"running": {"startedAt": "2024-01-01T00:00:01Z"}}
    not_ready = _pod(phase="Running", conditions=[{"type": "Ready", "status": "False"}],
                     containerStatuses=[
                         {"name": "a", "ready": True, "restartCount": 0, "state": running},
                         {"name": "b", "ready": False, "restartCount": 0,
                          "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                     ])
    assert cells("pods", [not_ready], now)[0][1:3] == ["1/2", "NotReady"]
    signal = _pod(phase="Running", containerStatuses=[
        {"name": "a", "ready": False, "restartCount": 2,
         "state": {"terminated": {"exitCode": 137, "signal": 9}}}])
    assert cells("pods", [signal], now)[0][2] == "Signal:9"
    exit_code = _pod(phase="Running", containerStatuses=[
        {"name": "a", "ready": False, "restartCount": 0,
         "state": {"terminated": {"exitCode": 3}}}])
    assert cells("pods", [exit_code], now)[0][2] == "ExitCode:3"
    creating = _pod(phase="Pending", containerStatuses=[
        {"name": "a", "ready": False, "restartCount": 0,
         "state": {"waiting": {"reason": "ContainerCreating"}}}])
    assert cells("pods", [creating], now)[0][1:3] == ["0/2", "ContainerCreating"]
    evicted = _pod(phase="Failed", reason="Evicted")
    assert cells("pods", [evicted], now)[0][2] == "Evicted"
    lost = _pod(phase="Running", reason="NodeLost")
    lost["metadata"]["deletionTimestamp"] = "2024-01-01T00:30:00Z"
    assert cells("pods", [lost], now)[0][2] == "Unknown"
    gated = _pod(phase="Pending",
                 conditions=[{"type": "PodScheduled", "status": "False",
                              "reason": "SchedulingGated"}])
    assert cells("pods", [gated], now)[0][2] == "SchedulingGated"
    gates = _pod(phase="Running", conditions=[{"type": "example.com/lb", "status": "True"}])
    gates["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"},
                                       {"conditionType": "example.com/other"}]
    gates["status"]["podIPs"] = [{"ip": "10.0.0.9"}]
    assert cells("pods", [gates], now)[0][5] == "10.0.0.9"
    assert cells("pods", [gates], now)[0][8] == "1/2"
    init_failed = _pod(phase="Pending", initContainerStatuses=[
        {"name": "i", "restartCount": 4,
         "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-01-01T00:58:00Z"}}}])
    init_failed["spec"]["initContainers"] = [{"name": "i", "image": "z"}]
    assert cells("pods", [init_failed], now)[0][2:4] == ["Init:CrashLoopBackOff", "4 (2m ago)"]


# ------------------------------------------------------------------------------ include_object


def test_include_object_policies() -> None:
    pod = load("pods/k9s-pod-running.json")[0]
    now = datetime.now(UTC)
    meta = table("pods", [pod], now)["rows"][0]["object"]
    assert meta["kind"] == "PartialObjectMetadata"
    assert meta["apiVersion"] == "meta.k8s.io/v1"
    assert meta["metadata"] == pod["metadata"]
    assert "spec" not in meta
    full = table("pods", [pod], now, include_object="Object")["rows"][0]["object"]
    assert full == pod and full is not pod
    assert "object" not in table("pods", [pod], now, include_object="None")["rows"][0]
    assert "object" not in table("pods", [pod], now, include_object=None)["rows"][0]
    with pytest.raises(ValueError):
        table("pods", [pod], now, include_object="Everything")


def test_table_envelope_and_no_mutation() -> None:
    pods = load("pods/kdash-pod-list.yaml")
    before = copy.deepcopy(pods)
    t = table("pods", pods, at("2021-07-01T00:00:00Z"), continue_token="abc", remaining=7)
    assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
    assert t["metadata"] == {"resourceVersion": "42", "continue": "abc",
                             "remainingItemCount": 7}
    assert table("pods", pods, at("2021-07-01T00:00:00Z"))["metadata"] == {
        "resourceVersion": "42"}
    assert pods == before
    t["rows"][0]["object"]["metadata"]["name"] = "changed"
    assert pods == before
    json.dumps(t)  # plain JSON


def test_watch_event_tables() -> None:
    pod = load("pods/k9s-pod-running.json")[0]
    now = datetime.now(UTC)
    rt = BY_KEY["pods"]
    first = tables.table_for_watch_event(rt, pod, now=now)
    later = tables.table_for_watch_event(rt, pod, now=now, first=False)
    assert len(first["rows"]) == 1 and first["columnDefinitions"]
    assert later["columnDefinitions"] == [] and later["rows"] == first["rows"]
    assert first["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"]
    assert tables.to_table(rt, [pod], now=now, resource_version="1",
                           with_columns=False)["columnDefinitions"] == []


# ------------------------------------------------------------------------------ nodes


def test_nodes() -> None:
    node = load("nodes/k9s-node-minikube.json")[0]
    now = at(node["metadata"]["creationTimestamp"]) + timedelta(days=3, hours=4)
    t = table("nodes", [node], now)
    assert names(t) == ["Name", "Status", "Roles", "Age", "Version", "Internal-IP",
                        "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"]
    assert [c["priority"] for c in t["columnDefinitions"]][5:] == [1, 1, 1, 1, 1]
    assert t["rows"][0]["cells"] == ["minikube", "Ready", "master", "3d4h", "v1.15.2",
                                     "192.168.64.107", "<none>", "Buildroot 2018.05.3",
                                     "4.15.0", "docker://18.9.8"]
    k3s = load("nodes/kdash-node-list.yaml")[0]
    assert cells("nodes", [k3s], now)[0][2] == "control-plane,master"


def test_node_status_variants() -> None:
    node = copy.deepcopy(load("nodes/k9s-node-minikube.json")[0])
    now = datetime.now(UTC)
    node["spec"]["unschedulable"] = True
    assert cells("nodes", [node], now)[0][1] == "Ready,SchedulingDisabled"
    for cond in node["status"]["conditions"]:
        if cond["type"] == "Ready":
            cond["status"] = "Unknown"
    assert cells("nodes", [node], now)[0][1] == "NotReady,SchedulingDisabled"
    node["status"]["conditions"] = []
    node["spec"]["unschedulable"] = False
    node["metadata"]["labels"] = {"kubernetes.io/role": "agent"}
    assert cells("nodes", [node], now)[0][1:3] == ["Unknown", "agent"]
    node["metadata"]["labels"] = {}
    assert cells("nodes", [node], now)[0][2] == "<none>"


# ------------------------------------------------------------------------------ workloads


def test_deployments() -> None:
    deploys = load("deployments/kdash-deployment-list.yaml")
    t = table("deployments.apps", deploys, at("2021-05-01T00:00:00Z"))
    assert names(t) == ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers",
                        "Images", "Selector"]
    assert t["rows"][3]["cells"][:4] == ["traefik", "1/1", 1, 1]
    assert t["rows"][3]["cells"][5:] == ["traefik", "rancher/library-traefik:1.7.19",
                                         "app=traefik,release=traefik"]
    scaled = copy.deepcopy(deploys[0])
    scaled["spec"]["replicas"] = 3
    scaled["status"].update(readyReplicas=1, updatedReplicas=2, availableReplicas=1)
    scaled["spec"]["selector"] = {"matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["b", "a"]},
        {"key": "canary", "operator": "DoesNotExist"}], "matchLabels": {"app": "x"}}
    row = cells("deployments.apps", [scaled], datetime.now(UTC))[0]
    assert row[1:4] == ["1/3", 2, 1]
    assert row[7] == "app=x,!canary,tier in (a,b)"


def test_replicasets() -> None:
    rs = load("replicasets/k9s-replicaset-icx-db.json")
    t = table("replicasets.apps", rs, datetime.now(UTC))
    assert names(t) == ["Name", "Desired", "Current", "Ready", "Age", "Containers", "Images",
                        "Selector"]
    assert [c["type"] for c in t["columnDefinitions"]][1:4] == ["integer"] * 3
    row = t["rows"][0]["cells"]
    assert row[:4] == ["icx-db-7d4b578979", 1, 1, 1]
    assert row[5:] == ["icx-db", "postgres:9.2-alpine", "app=icx-db,pod-template-hash=7d4b578979"]


# ------------------------------------------------------------------------------ events


def test_events() -> None:
    events = load("events/kdash-event-list.yaml")
    now = at("2026-02-23T05:00:00Z")
    t = table("events", events, now)
    assert names(t) == ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source",
                        "Message", "First Seen", "Count", "Name"]
    assert [c["priority"] for c in t["columnDefinitions"]] == [0, 0, 0, 0, 1, 1, 0, 1, 1, 1]
    series, legacy = (r["cells"] for r in t["rows"])
    # series events: last seen from series.lastObservedTime, first from eventTime
    assert series[:4] == ["18m", "Warning", "FailedScheduling", "pod/ga-edge-0"]
    assert series[5] == "default-scheduler, default-scheduler-sidekick"
    assert series[7:9] == ["11d", 3432]
    assert legacy[:4] == ["13m", "Normal", "WaitForPodScheduled",
                          "persistentvolumeclaim/ga-edge-data-8a821b67-ga-edge-0"]
    assert legacy[5] == "persistentvolume-controller"
    assert legacy[8] == 68646
    pulled = load("events/k9s-event-pulled.json")
    row = cells("events", pulled, at("2019-08-30T20:48:05Z"))[0]
    assert row == ["5m", "Normal", "Pulled", "pod/hello-1567197780-mn4mv", "spec.containers{c1}",
                   "kubelet, gke-k9s-default-pool-0fa2fb89-qnkc",
                   'Successfully pulled image "blang/busybox-bash"', "5m", 1,
                   "hello-1567197780-mn4mv.15bfce150bd764dd"]
    unset = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Node"}, "type": "Normal"}
    assert cells("events", [unset], now)[0][0] == "<unknown>"
    assert cells("events", [unset], now)[0][3] == "node"
    assert cells("events", [unset], now)[0][8] == 1


# ------------------------------------------------------------------------------ core others


def test_namespaces_services_configmaps() -> None:
    now = at("2024-01-01T00:10:00Z")
    created = {"creationTimestamp": "2024-01-01T00:00:00Z"}
    ns = {"metadata": {"name": "checkout", **created}, "status": {"phase": "Active"}}
    assert cells("namespaces", [ns], now) == [["checkout", "Active", "10m"]]
    cm = {"metadata": {"name": "argocd-cm", **created}, "data": {"a": "1", "b": "2"},
          "binaryData": {"c": "AA=="}}
    assert cells("configmaps", [cm], now) == [["argocd-cm", 3, "10m"]]
    svc: Obj = {"metadata": {"name": "web", **created},
           "spec": {"type": "ClusterIP", "clusterIP": "10.0.12.7",
                    "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
                    "selector": {"app": "web"}}}
    t = table("services", [svc], now)
    assert names(t) == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age",
                        "Selector"]
    assert t["rows"][0]["cells"] == ["web", "ClusterIP", "10.0.12.7", "<none>", "80/TCP", "10m",
                                     "app=web"]
    lb = copy.deepcopy(svc)
    lb["spec"].update(type="LoadBalancer", ports=[{"port": 443, "nodePort": 30443}])
    assert cells("services", [lb], now)[0][3:5] == ["<pending>", "443:30443/TCP"]
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "20.1.2.3"}]}}
    assert cells("services", [lb], now)[0][3] == "20.1.2.3"


# ------------------------------------------------------------------------------ custom resources


def test_argocd_application_columns() -> None:
    app = load("argocd/argocd-application-velero.yaml")[0]
    t = table("applications.argoproj.io", [app], datetime.now(UTC))
    assert names(t) == ["Name", "Sync Status", "Health Status", "Revision", "Project"]
    assert [c["priority"] for c in t["columnDefinitions"]] == [0, 0, 0, 10, 10]
    assert t["rows"][0]["cells"] == ["velero-test", "Synced", "Healthy", "rev1", "sre"]


def test_gateway_columns() -> None:
    now = datetime.now(UTC)
    gw = load("gateway/cilium-gateway-mixed-address-pending.yaml")[0]
    t = table("gateways.gateway.networking.k8s.io", [gw], now)
    assert names(t) == ["Name", "Class", "Address", "Programmed", "Age"]
    assert t["columnDefinitions"][4]["type"] == "date"
    assert t["rows"][0]["cells"][:4] == ["gateway-mixed", "cilium", None, "False"]
    programmed = copy.deepcopy(gw)
    programmed["metadata"]["creationTimestamp"] = (now - timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    programmed["status"]["addresses"] = [{"type": "Hostname", "value": "a.fz12.alb.azure.com"},
                                         {"type": "Hostname", "value": "b.example"}]
    assert cells("gateways.gateway.networking.k8s.io", [programmed], now)[0][2:] == [
        "a.fz12.alb.azure.com", "False", "5m"]
    example = load("gateway/gateway-api-example-gateway.yaml")
    assert cells("gateways.gateway.networking.k8s.io", example[:1], now)[0][:4] == [
        "example-gateway", "example-gateway-class", None, None]


def test_httproute_and_gatewayclass_columns() -> None:
    now = datetime.now(UTC)
    route = load("gateway/argocd-httproute-two-parents.yaml")[0]
    t = table("httproutes.gateway.networking.k8s.io", [route], now)
    assert names(t) == ["Name", "Hostnames", "Age"]
    assert t["rows"][0]["cells"][:2] == ["example-httproute", '["example-httproute.example.com"]']
    gc = {"metadata": {"name": "azure-alb-external", "creationTimestamp": "2024-01-01T00:00:00Z"},
          "spec": {"controllerName": "alb.networking.azure.io/alb-controller"},
          "status": {"conditions": [{"type": "Accepted", "status": "True"}]}}
    t = table("gatewayclasses.gateway.networking.k8s.io", [gc], at("2024-01-01T00:00:30Z"))
    assert names(t) == ["Name", "Controller", "Accepted", "Age", "Description"]
    assert t["rows"][0]["cells"] == ["azure-alb-external",
                                     "alb.networking.azure.io/alb-controller", "True", "30s",
                                     None]


def test_default_age_column_for_crds_without_columns() -> None:
    obj = {"metadata": {"name": "alb-drill", "creationTimestamp": "2024-01-01T00:00:00Z"}}
    for key in ("applicationloadbalancers.alb.networking.azure.io", "appprojects.argoproj.io"):
        t = table(key, [obj], at("2024-01-01T04:00:00Z"))
        assert names(t) == ["Name", "Age"]
        assert t["columnDefinitions"][1]["type"] == "date"
        assert t["rows"][0]["cells"] == ["alb-drill", "4h"]


# ------------------------------------------------------------------------------ metrics


def test_node_metrics_like_metrics_server() -> None:
    items = load("metrics/kdash-node-metrics-list.json")
    t = table("nodes.metrics.k8s.io", items, datetime.now(UTC))
    assert names(t) == ["Name", "cpu", "memory", "Window"]
    assert t["rows"][0]["cells"] == ["k3d-my-kdash-cluster-server-0", "162953844n", "582980Ki",
                                     "30s"]


def test_pod_metrics_sum_containers() -> None:
    pm = {"metadata": {"name": "web-1", "namespace": "frontend"}, "window": "30s",
          "timestamp": "2024-01-01T00:00:00Z",
          "containers": [{"name": "a", "usage": {"cpu": "100m", "memory": "100Mi"}},
                         {"name": "b", "usage": {"cpu": "150m", "memory": "28Mi"}}]}
    t = table("pods.metrics.k8s.io", [pm], datetime.now(UTC))
    assert t["rows"][0]["cells"] == ["web-1", "250m", "128Mi", "30s"]


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("100m", "100m"), ("2000m", "2"), ("1500m", "1500m"), ("2000", "2k"), ("1500", "1500"),
     ("123456789n", "123456789n"), ("1000000n", "1m"), ("512Mi", "512Mi"),
     ("123456Ki", "123456Ki"), ("1536", "1536"), ("1024", "1024"), ("1024Ki", "1Mi"),
     ("0", "0"), ("0.5", "500m"),
     ("1e3", "1e3"), ("16374584Ki", "16374584Ki")],
)
def test_quantity_canonical_form(text: str, canonical: str) -> None:
    assert tables.format_quantity(*tables.parse_quantity(text)) == canonical


def test_quantity_parse_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        tables.parse_quantity("lots")
    assert tables.parse_quantity("1Ki") == (Fraction(1024), "BinarySI")
