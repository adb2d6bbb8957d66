"""The drill cluster's seed platform is complete, consistent and deterministic."""

from __future__ import annotations

import copy
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drill import seed, tables
from drill.resources import BY_KEY, BY_KIND
from drill.seed_workloads import SAFE_ALPHABET

Obj = dict[str, Any]
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def objs() -> list[Obj]:
    return seed.seed_objects(NOW)


def of(objs: list[Obj], kind: str, namespace: str | None = None) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind
            and (namespace is None or o["metadata"].get("namespace") == namespace)]


def find(objs: list[Obj], kind: str, namespace: str | None, name: str) -> Obj | None:
    for o in objs:
        meta = o["metadata"]
        if o["kind"] == kind and meta["name"] == name and meta.get("namespace") == namespace:
            return o
    return None


def matches(selector: Obj, labels: Obj) -> bool:
    assert not selector.get("matchExpressions")
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def controller_of(obj: Obj) -> Obj:
    refs = [r for r in obj["metadata"].get("ownerReferences", []) if r.get("controller")]
    assert len(refs) == 1, obj["metadata"]["name"]
    assert refs[0]["blockOwnerDeletion"] is True
    return refs[0]


# ------------------------------------------------------------------------------ shape


def test_deterministic() -> None:
    assert seed.seed_objects(NOW) == seed.seed_objects(NOW)
    assert seed.seed_objects(NOW.replace(tzinfo=None)) == seed.seed_objects(NOW)
    assert seed.seed_objects(NOW + timedelta(microseconds=5)) == seed.seed_objects(NOW)


def test_every_object_is_a_full_api_object(objs: list[Obj]) -> None:
    uids = Counter(o["metadata"]["uid"] for o in objs)
    assert max(uids.values()) == 1
    keys = Counter((o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
                   for o in objs)
    assert max(keys.values()) == 1
    for o in objs:
        rt = BY_KIND[(o["apiVersion"], o["kind"])]
        meta = o["metadata"]
        assert meta["name"] and meta["generation"] == 1
        assert "resourceVersion" not in meta
        assert RFC3339.match(meta["creationTimestamp"])
        created = datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))
        assert created <= NOW
        if rt.namespaced:
            assert meta["namespace"] in seed.SEED_NAMESPACES
        else:
            assert "namespace" not in meta
        for value in (meta.get("labels") or {}).values():
            assert isinstance(value, str)


def test_size_and_namespaces(objs: list[Obj]) -> None:
    assert [n["metadata"]["name"] for n in of(objs, "Namespace")] == list(seed.SEED_NAMESPACES)
    assert all(n["status"]["phase"] == "Active" for n in of(objs, "Namespace"))
    assert 30 <= len(of(objs, "Pod")) <= 45
    assert {"default", "kube-system", "argocd", "monitoring", "ai-ml", "frontend", "checkout",
            "payments", "catalog"} <= set(seed.SEED_NAMESPACES)


def test_the_store_accepts_the_seed() -> None:
    from drill.state import ClusterState

    state = ClusterState()
    state.load(seed.seed_objects(NOW))
    assert sum(len(v) for v in state.dump().values()) == len(seed.seed_objects(NOW))


# ------------------------------------------------------------------------------ nodes


def test_nodes(objs: list[Obj]) -> None:
    nodes = of(objs, "Node")
    pools = Counter(n["metadata"]["labels"]["kubernetes.azure.com/agentpool"] for n in nodes)
    assert pools == {"system": 2, "userblue": 3}
    for n in nodes:
        labels = n["metadata"]["labels"]
        assert labels["agentpool"] == labels["kubernetes.azure.com/agentpool"]
        assert labels["kubernetes.azure.com/mode"] == (
            "system" if labels["agentpool"] == "system" else "user")
        assert n["metadata"]["name"].startswith(f"aks-{labels['agentpool']}-")
        conds = {c["type"]: c for c in n["status"]["conditions"]}
        assert conds["Ready"]["status"] == "True"
        assert conds["MemoryPressure"]["reason"] == "KubeletHasSufficientMemory"
        assert n["status"]["nodeInfo"]["kubeletVersion"] == "v1.30.6"
    rows = tables.to_table(BY_KEY["nodes"], nodes, now=NOW, resource_version="1")["rows"]
    assert {r["cells"][1] for r in rows} == {"Ready"}


# ------------------------------------------------------------------------------ workloads


def test_pods_belong_to_replicasets(objs: list[Obj]) -> None:
    nodes = {n["metadata"]["name"]: n for n in of(objs, "Node")}
    ips = Counter(p["status"]["podIP"] for p in of(objs, "Pod"))
    assert max(ips.values()) == 1
    for pod in of(objs, "Pod"):
        ns = pod["metadata"]["namespace"]
        ref = controller_of(pod)
        assert (ref["apiVersion"], ref["kind"]) == ("apps/v1", "ReplicaSet")
        rs = find(objs, "ReplicaSet", ns, ref["name"])
        assert rs is not None and rs["metadata"]["uid"] == ref["uid"]
        assert matches(rs["spec"]["selector"], pod["metadata"]["labels"])
        assert re.fullmatch(re.escape(ref["name"]) + f"-[{SAFE_ALPHABET}]{{5}}",
                            pod["metadata"]["name"])
        node = nodes[pod["spec"]["nodeName"]]
        for key, value in pod["spec"]["nodeSelector"].items():
            assert node["metadata"]["labels"][key] == value
        assert pod["status"]["hostIP"] == node["status"]["addresses"][0]["address"]
        assert pod["status"]["phase"] == "Running"
        assert all(cs["ready"] and cs["restartCount"] == 0
                   for cs in pod["status"]["containerStatuses"])


def test_platform_on_system_pool_apps_on_user_pool(objs: list[Obj]) -> None:
    for pod in of(objs, "Pod"):
        user = pod["metadata"]["namespace"] in ("frontend", "checkout", "payments", "catalog")
        assert ("-userblue-" in pod["spec"]["nodeName"]) is user


def test_replicasets_belong_to_deployments(objs: list[Obj]) -> None:
    for rs in of(objs, "ReplicaSet"):
        ns = rs["metadata"]["namespace"]
        ref = controller_of(rs)
        deploy = find(objs, "Deployment", ns, ref["name"])
        assert deploy is not None and deploy["metadata"]["uid"] == ref["uid"]
        pth = rs["metadata"]["labels"]["pod-template-hash"]
        assert rs["metadata"]["name"] == f"{ref['name']}-{pth}"
        assert rs["spec"]["selector"]["matchLabels"]["pod-template-hash"] == pth
        assert seed.template_hash(rs["spec"]["template"]) == pth
        assert matches(deploy["spec"]["selector"], rs["spec"]["template"]["metadata"]["labels"])


def test_deployment_status_matches_pods(objs: list[Obj]) -> None:
    for deploy in of(objs, "Deployment"):
        ns, name = deploy["metadata"]["namespace"], deploy["metadata"]["name"]
        rss = [rs for rs in of(objs, "ReplicaSet", ns) if controller_of(rs)["name"] == name]
        revisions = sorted(int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
                           for rs in rss)
        assert revisions == list(range(1, len(rss) + 1))
        assert deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == str(
            revisions[-1])
        current = [rs for rs in rss if rs["spec"]["replicas"] > 0]
        assert len(current) == 1
        assert current[0]["spec"]["template"]["spec"] == deploy["spec"]["template"]["spec"]
        pods = [p for p in of(objs, "Pod", ns)
                if matches(deploy["spec"]["selector"], p["metadata"]["labels"])]
        replicas = deploy["spec"]["replicas"]
        status = deploy["status"]
        assert len(pods) == replicas == status["replicas"] == status["readyReplicas"]
        assert status["updatedReplicas"] == status["availableReplicas"] == replicas
        assert current[0]["status"]["readyReplicas"] == replicas
        conds = {c["type"]: c for c in status["conditions"]}
        assert conds["Available"]["reason"] == "MinimumReplicasAvailable"
        assert current[0]["metadata"]["name"] in conds["Progressing"]["message"]


def test_services_select_pods(objs: list[Obj]) -> None:
    for svc in of(objs, "Service"):
        selector = svc["spec"].get("selector")
        if svc["metadata"]["name"] == "kubernetes":
            assert selector is None
            continue
        ns = svc["metadata"]["namespace"]
        assert any(all(p["metadata"]["labels"].get(k) == v for k, v in selector.items())
                   for p in of(objs, "Pod", ns))
        target = svc["spec"]["ports"][0]["targetPort"]
        deploy = find(objs, "Deployment", ns, selector["app"])
        assert deploy is not None
        ports = deploy["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert target in [p["name"] for p in ports]


# ------------------------------------------------------------------------------ traffic


def test_httproutes_point_at_existing_services(objs: list[Obj]) -> None:
    gateway = find(objs, "Gateway", "azure-alb-system", "gateway-01")
    assert gateway is not None
    assert gateway["spec"]["gatewayClassName"] == "azure-alb-external"
    assert find(objs, "GatewayClass", None, "azure-alb-external") is not None
    annotations = gateway["metadata"]["annotations"]
    alb = find(objs, "ApplicationLoadBalancer",
               annotations["alb.networking.azure.io/alb-namespace"],
               annotations["alb.networking.azure.io/alb-name"])
    assert alb is not None
    assert {c["type"] for c in alb["status"]["conditions"]} == {"Accepted", "Deployment"}
    assert re.fullmatch(r"[0-9a-f]{16}\.fz12\.alb\.azure\.com",
                        gateway["status"]["addresses"][0]["value"])
    routes = of(objs, "HTTPRoute")
    assert {r["metadata"]["name"] for r in routes} == {"web", "checkout", "payments", "catalog"}
    for listener in gateway["status"]["listeners"]:
        assert listener["attachedRoutes"] == len(routes)
    for route in routes:
        ns = route["metadata"]["namespace"]
        for parent in route["spec"]["parentRefs"]:
            assert find(objs, "Gateway", parent["namespace"], parent["name"]) is gateway
        for rule in route["spec"]["rules"]:
            for ref in rule["backendRefs"]:
                assert find(objs, "Service", ns, ref["name"]) is not None
        (parent_status,) = route["status"]["parents"]
        assert parent_status["controllerName"] == "alb.networking.azure.io/alb-controller"
        assert {c["type"]: c["status"] for c in parent_status["conditions"]} == {
            "Accepted": "True", "ResolvedRefs": "True", "Programmed": "True"}
        assert all(c["observedGeneration"] == 1 for c in parent_status["conditions"])
    checkout = find(objs, "HTTPRoute", "checkout", "checkout")
    assert checkout is not None
    weights = {r["name"]: r["weight"] for r in checkout["spec"]["rules"][0]["backendRefs"]}
    assert weights == {"checkout-stable": 90, "checkout-canary": 10}


# ------------------------------------------------------------------------------ Argo CD


def test_applications_agree_with_git(objs: list[Obj]) -> None:
    apps = of(objs, "Application", "argocd")
    assert {a["metadata"]["name"] for a in apps} == set(seed.GIT_REVISIONS) == set(seed.APPS)
    assert {p["metadata"]["name"] for p in of(objs, "AppProject")} == {"default", "platform"}
    for app in apps:
        name = app["metadata"]["name"]
        commits = seed.GIT_REVISIONS[name]
        status = app["status"]
        history = status["history"]
        ids = [h["id"] for h in history]
        assert ids == sorted(set(ids)) and 2 <= len(ids) <= 3
        assert [h["revision"] for h in history] == [c["revision"] for c in commits]
        deployed = [h["deployedAt"] for h in history]
        assert deployed == sorted(deployed)
        assert all(re.fullmatch(r"[0-9a-f]{40}", c["revision"]) for c in commits)
        head = commits[-1]
        assert status["sync"]["status"] == "Synced"
        assert status["sync"]["revision"] == head["revision"]
        assert status["operationState"]["phase"] == "Succeeded"
        assert status["operationState"]["syncResult"]["revision"] == head["revision"]
        assert status["health"]["status"] == "Healthy"
        assert app["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
        spec = app["spec"]
        assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        assert spec["source"]["repoURL"] == seed.GITOPS_REPO
        assert spec["project"] in ("default", "platform")
        ns = spec["destination"]["namespace"]
        for dname, want in head["deployments"].items():
            deploy = find(objs, "Deployment", ns, dname)
            assert deploy is not None, dname
            assert deploy["spec"]["replicas"] == want["replicas"]
            image = deploy["spec"]["template"]["spec"]["containers"][0]["image"]
            assert image == want["image"] and image.endswith(":" + want["tag"])
        for rname, weights in head["routes"].items():
            route = find(objs, "HTTPRoute", ns, rname)
            assert route is not None
            live = {r["name"]: r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]}
            assert live == weights
        assert status["summary"]["images"] == sorted(
            {d["image"] for d in head["deployments"].values()})
        kinds = Counter(r["kind"] for r in status["resources"])
        assert kinds["Deployment"] == len(head["deployments"])
        for res in status["resources"]:
            assert find(objs, res["kind"], res["namespace"], res["name"]) is not None


def test_old_revisions_left_scaled_down_replicasets(objs: list[Obj]) -> None:
    stable = [rs for rs in of(objs, "ReplicaSet", "checkout")
              if controller_of(rs)["name"] == "checkout-stable"]
    images = {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs["spec"]["replicas"]
              for rs in stable}
    assert images == {"ghcr.io/drill/checkout:1.4.1": 0, "ghcr.io/drill/checkout:1.4.2": 3}


def test_argocd_cm(objs: list[Obj]) -> None:
    cm = find(objs, "ConfigMap", "argocd", "argocd-cm")
    assert cm is not None and cm["data"]["application.resourceTrackingMethod"] == "annotation"


# ------------------------------------------------------------------------------ metrics, events


def test_metrics_for_every_pod_and_node(objs: list[Obj]) -> None:
    pm = {(m["metadata"]["namespace"], m["metadata"]["name"]): m for m in of(objs, "PodMetrics")}
    pods = of(objs, "Pod")
    assert len(pm) == len(pods)
    for pod in pods:
        m = pm[(pod["metadata"]["namespace"], pod["metadata"]["name"])]
        assert [c["name"] for c in m["containers"]] == [
            c["name"] for c in pod["spec"]["containers"]]
        assert m["window"] == "30s"
        for c in m["containers"]:
            assert re.fullmatch(r"\d+n", c["usage"]["cpu"])
            assert re.fullmatch(r"\d+Ki", c["usage"]["memory"])
    nm = {m["metadata"]["name"] for m in of(objs, "NodeMetrics")}
    assert nm == {n["metadata"]["name"] for n in of(objs, "Node")}
    t = tables.to_table(BY_KEY["pods.metrics.k8s.io"], of(objs, "PodMetrics"), now=NOW,
                        resource_version="1")
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "cpu", "memory", "Window"]


def test_events_refer_to_existing_objects(objs: list[Obj]) -> None:
    events = of(objs, "Event")
    assert {e["reason"] for e in events} >= {"Scheduled", "Pulled", "Created", "Started",
                                             "ScalingReplicaSet"}
    uids = {o["metadata"]["uid"] for o in objs}
    for e in events:
        assert e["involvedObject"]["uid"] in uids
        assert e["type"] == "Normal" and e["count"] == 1
        assert e["source"]["component"] == e["reportingComponent"]
        assert e["firstTimestamp"] == e["lastTimestamp"]
    rows = tables.to_table(BY_KEY["events"], events, now=NOW, resource_version="1")["rows"]
    assert all(r["cells"][0] in ("40m", "39m") for r in rows)


# ------------------------------------------------------------------------------ tables on the seed


def test_seed_pods_print_running(objs: list[Obj]) -> None:
    t = tables.to_table(BY_KEY["pods"], of(objs, "Pod"), now=NOW, resource_version="7")
    assert {tuple(r["cells"][1:4]) for r in t["rows"]} == {("1/1", "Running", "0")}
    assert all(r["object"]["metadata"]["namespace"] for r in t["rows"])
    apps = tables.to_table(BY_KEY["applications.argoproj.io"], of(objs, "Application"), now=NOW,
                           resource_version="7")
    assert {tuple(r["cells"][1:3]) for r in apps["rows"]} == {("Synced", "Healthy")}
    deploys = tables.to_table(BY_KEY["deployments.apps"], of(objs, "Deployment"), now=NOW,
                              resource_version="7")
    for row in deploys["rows"]:
        ready, desired = row["cells"][1].split("/")
        assert ready == desired


# ------------------------------------------------------------------------------ helpers


def test_template_hash() -> None:
    template: Obj = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "ghcr.io/drill/web:2.8.0"}]},
    }
    h = seed.template_hash(template)
    assert 1 <= len(h) <= 10 and set(h) <= set(SAFE_ALPHABET)
    assert seed.template_hash(copy.deepcopy(template)) == h
    labelled = copy.deepcopy(template)
    labelled["metadata"]["labels"]["pod-template-hash"] = h
    assert seed.template_hash(labelled) == h
    changed = copy.deepcopy(template)
    changed["spec"]["containers"][0]["image"] = "ghcr.io/drill/web:2.8.1"
    assert seed.template_hash(changed) != h
    assert seed.template_hash(template, collision_count=1) != h


def test_make_replicaset_and_make_pod_for_controllers(objs: list[Obj]) -> None:
    deploy = copy.deepcopy(find(objs, "Deployment", "checkout", "checkout-canary"))
    assert deploy is not None
    before = copy.deepcopy(deploy)
    deploy["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/drill/checkout:1.5.0"
    later = NOW + timedelta(minutes=3)
    rs = seed.make_replicaset(deploy, 2, later)
    assert rs["metadata"]["name"] == "checkout-canary-" + seed.template_hash(
        deploy["spec"]["template"])
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert controller_of(rs)["uid"] == deploy["metadata"]["uid"]
    assert rs["metadata"]["creationTimestamp"] == "2026-03-01T12:03:00Z"
    assert "pod-template-hash" not in deploy["spec"]["template"]["metadata"]["labels"]
    assert seed.make_replicaset(deploy, 2, later) == rs
    node = "aks-userblue-87654321-vmss000001"
    pending = seed.make_pod(rs, node, 0, later, running=False)
    running = seed.make_pod(rs, node, 1, later)
    assert pending["metadata"]["name"] != running["metadata"]["name"]
    assert controller_of(pending)["uid"] == rs["metadata"]["uid"]
    assert pending["spec"]["nodeName"] == node
    assert matches(rs["spec"]["selector"], running["metadata"]["labels"])
    rows = tables.to_table(BY_KEY["pods"], [pending, running], now=later + timedelta(seconds=30),
                           resource_version="1")["rows"]
    assert [r["cells"][1:3] for r in rows] == [["0/1", "ContainerCreating"], ["1/1", "Running"]]
    assert "podIP" not in pending["status"] and running["status"]["podIP"].startswith("10.244.")
    assert before["spec"]["template"]["spec"]["containers"][0]["image"].endswith("rc.1")


def test_pod_names_come_from_the_template_hash_and_index_not_the_clock(objs: list[Obj]) -> None:
    """Issue 15: a pod's 5-character suffix depends on its ReplicaSet (named by the pod
    template's hash) and its index only, so a drill started at another time names its pods
    the same (snapshots and screens are reproducible); another template or index, another
    name."""
    deploy = copy.deepcopy(find(objs, "Deployment", "checkout", "checkout-canary"))
    assert deploy is not None
    node = "aks-userblue-87654321-vmss000001"
    early = seed.make_pod(seed.make_replicaset(deploy, 2, NOW), node, 0, NOW)
    late_rs = seed.make_replicaset(deploy, 2, NOW + timedelta(hours=5, seconds=7))
    late = seed.make_pod(late_rs, node, 0, NOW + timedelta(hours=5, seconds=9))
    assert early["metadata"]["name"] == late["metadata"]["name"]
    assert seed.make_pod(late_rs, node, 1, NOW)["metadata"]["name"] != late["metadata"]["name"]
    deploy["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/drill/checkout:1.5.0"
    other = seed.make_pod(seed.make_replicaset(deploy, 3, NOW), node, 0, NOW)
    assert other["metadata"]["name"].rsplit("-", 1)[1] != early["metadata"]["name"].rsplit(
        "-", 1)[1]
