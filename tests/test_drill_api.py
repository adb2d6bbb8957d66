"""API semantics of the drill cluster's server, judged through the ``kubernetes`` client.

Each test talks to a real server on loopback (its own thread and loop) exactly as a client of a
real cluster would, and asserts what a real apiserver does.
"""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any

import httpx
import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from drill.resources import BY_KEY
from tests.conftest import ThreadedDrill

PODS = BY_KEY["pods"]


def api(drill: ThreadedDrill) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(drill.kubeconfig))


def raw(drill: ThreadedDrill) -> httpx.Client:
    return httpx.Client(base_url=drill.cluster.url, timeout=10,
                        headers={"Authorization": f"Bearer {drill.cluster.server.token}"})


def make_cm(name: str, ns: str = "default", labels: dict[str, str] | None = None,
            data: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "data": data or {"k": "v"}}


def make_deploy(name: str, replicas: int = 2, ns: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "img:1",
                                                       "ports": [{"containerPort": 80}]}]}}},
    }


def status_of(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert body["kind"] == "Status"
    return body


# ------------------------------------------------------------------------- list and get


def test_list_has_kind_version_and_resource_version(tdrill: ThreadedDrill) -> None:
    v1 = client.CoreV1Api(api(tdrill))
    pods = v1.list_pod_for_all_namespaces()
    assert pods.kind == "PodList" and pods.api_version == "v1"
    assert int(pods.metadata.resource_version) >= len(pods.items) > 10
    names = {p.metadata.name for p in pods.items}
    assert len(names) == len(pods.items)
    nodes = v1.list_node()
    assert nodes.kind == "NodeList" and len(nodes.items) >= 5
    deploys = client.AppsV1Api(api(tdrill)).list_deployment_for_all_namespaces()
    assert deploys.kind == "DeploymentList"
    assert all(d.spec.template.metadata.labels for d in deploys.items)


def test_get_missing_is_not_found_status(tdrill: ThreadedDrill) -> None:
    v1 = client.CoreV1Api(api(tdrill))
    with pytest.raises(ApiException) as info:
        v1.read_namespaced_pod("nope", "default")
    assert info.value.status == 404
    st = status_of(info.value)
    assert st["reason"] == "NotFound" and st["details"]["name"] == "nope"


def test_label_selectors(tdrill: ThreadedDrill) -> None:
    v1 = client.CoreV1Api(api(tdrill))
    for i, (tier, env) in enumerate([("web", "prod"), ("web", "dev"), ("db", "prod"),
                                     ("cache", "")]):
        labels = {"tier": tier}
        if env:
            labels["env"] = env
        v1.create_namespaced_config_map("default", make_cm(f"sel-{i}", labels=labels))

    def names(selector: str) -> list[str]:
        items = v1.list_namespaced_config_map("default", label_selector=selector).items
        return sorted(c.metadata.name for c in items if c.metadata.name.startswith("sel-"))

    assert names("tier=web") == ["sel-0", "sel-1"]
    assert names("tier==db") == ["sel-2"]
    assert names("tier!=web") == ["sel-2", "sel-3"]
    assert names("tier in (db,cache)") == ["sel-2", "sel-3"]
    assert names("tier notin (web)") == ["sel-2", "sel-3"]
    assert names("env") == ["sel-0", "sel-1", "sel-2"]
    assert names("!env") == ["sel-3"]
    assert names("tier=web,env=prod") == ["sel-0"]
    with pytest.raises(ApiException) as info:
        names("tier in (")
    assert info.value.status == 400 and status_of(info.value)["reason"] == "BadRequest"


def test_field_selectors(tdrill: ThreadedDrill) -> None:
    v1 = client.CoreV1Api(api(tdrill))
    pods = v1.list_pod_for_all_namespaces().items
    node = pods[0].spec.node_name
    on_node = v1.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    assert on_node and all(p.spec.node_name == node for p in on_node)
    assert len(on_node) == sum(1 for p in pods if p.spec.node_name == node)
    running = v1.list_pod_for_all_namespaces(field_selector="status.phase=Running").items
    assert len(running) == sum(1 for p in pods if p.status.phase == "Running")
    one = v1.list_namespaced_pod(pods[0].metadata.namespace,
                                 field_selector=f"metadata.name={pods[0].metadata.name}").items
    assert [p.metadata.name for p in one] == [pods[0].metadata.name]
    evs = v1.list_event_for_all_namespaces(field_selector="type=Warning").items
    assert all(e.type == "Warning" for e in evs)
    with pytest.raises(ApiException) as info:
        v1.list_pod_for_all_namespaces(field_selector="spec.bogus=1")
    assert info.value.status == 400 and "field label not supported" in status_of(
        info.value)["message"]


def test_paging_with_limit_and_continue_is_consistent(tdrill: ThreadedDrill) -> None:
    v1 = client.CoreV1Api(api(tdrill))
    full = [p.metadata.name for p in v1.list_pod_for_all_namespaces().items]
    got: list[str] = []
    token = None
    first_rv = None
    pages = 0
    while True:
        page = v1.list_pod_for_all_namespaces(limit=7, _continue=token)
        pages += 1
        first_rv = first_rv or page.metadata.resource_version
        assert page.metadata.resource_version == first_rv
        got += [p.metadata.name for p in page.items]
        token = page.metadata._continue
        if pages == 1:
            # a change made between pages must not leak into the paged result
            tdrill.call(tdrill.cluster.state.delete, PODS, *_ns_name(page.items[-1]))
        if not token:
            break
    assert got == full and pages == -(-len(full) // 7)


def _ns_name(obj: Any) -> tuple[str, str]:
    return obj.metadata.namespace, obj.metadata.name


def test_continue_token_expires_after_compaction(tdrill: ThreadedDrill) -> None:
    v1 = client.CoreV1Api(api(tdrill))
    page = v1.list_pod_for_all_namespaces(limit=3)
    tdrill.call(tdrill.cluster.state.compact)
    with pytest.raises(ApiException) as info:
        v1.list_pod_for_all_namespaces(limit=3, _continue=page.metadata._continue)
    assert info.value.status == 410 and status_of(info.value)["reason"] == "Expired"


# ------------------------------------------------------------------------- watch


def test_watch_resumes_from_a_version_without_replaying_older(tdrill: ThreadedDrill) -> None:
    v1 = client.CoreV1Api(api(tdrill))
    v1.create_namespaced_config_map("default", make_cm("w-old"))
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    v1.create_namespaced_config_map("default", make_cm("w-new"))
    v1.patch_namespaced_config_map("w-new", "default", {"data": {"k": "2"}})
    v1.delete_namespaced_config_map("w-new", "default")
    w = watch.Watch()
    seen = []
    for ev in w.stream(v1.list_namespaced_config_map, "default", resource_version=rv,
                       timeout_seconds=1):
        seen.append((ev["type"], ev["object"].metadata.name))
    assert seen == [("ADDED", "w-new"), ("MODIFIED", "w-new"), ("DELETED", "w-new")]


def test_watch_from_expired_version_gets_410(tdrill: ThreadedDrill) -> None:
    c = raw(tdrill)
    rv = c.get("/api/v1/namespaces/default/configmaps").json()["metadata"]["resourceVersion"]
    for i in range(3):
        c.post("/api/v1/namespaces/default/configmaps", json=make_cm(f"exp-{i}"))
    tdrill.call(tdrill.cluster.state.compact)
    r = c.get("/api/v1/namespaces/default/configmaps",
              params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "1"})
    assert r.status_code == 410
    assert r.json()["reason"] == "Expired" and r.json()["code"] == 410


def test_watch_expired_mid_stream_sends_error_event(tdrill: ThreadedDrill) -> None:
    """A connected watch whose history is compacted away gets an ERROR event (410 Status)."""
    c = raw(tdrill)
    rv = c.get("/api/v1/namespaces/default/configmaps").json()["metadata"]["resourceVersion"]
    with c.stream("GET", "/api/v1/namespaces/default/configmaps", params={
            "watch": "true", "resourceVersion": rv, "timeoutSeconds": "5"}) as r:
        assert r.status_code == 200
        state = tdrill.cluster.state

        def fall_behind() -> None:
            # one synchronous call on the server's loop: the watcher cannot run in between, so
            # it is behind when the history it still needs is compacted away
            state.create(BY_KEY["configmaps"], make_cm("mid-1"))
            state.compact()
            state.create(BY_KEY["configmaps"], make_cm("mid-2"))

        tdrill.call(fall_behind)
        events = [json.loads(x) for x in r.iter_lines() if x]
    assert events[-1]["type"] == "ERROR"
    assert events[-1]["object"]["code"] == 410
    assert events[-1]["object"]["reason"] == "Expired"


def test_bookmarks_carry_the_current_version(tdrill: ThreadedDrill) -> None:
    c = raw(tdrill)
    rv = c.get("/api/v1/nodes").json()["metadata"]["resourceVersion"]
    c.post("/api/v1/namespaces/default/configmaps", json=make_cm("bm"))
    events = []
    with c.stream("GET", "/api/v1/nodes", params={
            "watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true",
            "timeoutSeconds": "1"}) as r:
        for line in r.iter_lines():
            if line:
                events.append(json.loads(line))
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks, events
    assert all(e["object"]["kind"] == "Node" for e in bookmarks)
    assert int(bookmarks[-1]["object"]["metadata"]["resourceVersion"]) > int(rv)


def test_watch_without_version_starts_with_current_objects(tdrill: ThreadedDrill) -> None:
    c = raw(tdrill)
    with c.stream("GET", "/api/v1/nodes", params={"watch": "true", "timeoutSeconds": "1"}) as r:
        events = [json.loads(x) for x in r.iter_lines() if x]
    n = len(c.get("/api/v1/nodes").json()["items"])
    assert [e["type"] for e in events] == ["ADDED"] * n


def test_label_selector_watch_reports_objects_leaving_as_deleted(tdrill: ThreadedDrill) -> None:
    c = raw(tdrill)
    c.post("/api/v1/namespaces/default/configmaps", json=make_cm("lv", labels={"a": "1"}))
    rv = c.get("/api/v1/namespaces/default/configmaps").json()["metadata"]["resourceVersion"]
    c.patch("/api/v1/namespaces/default/configmaps/lv", content=b'{"metadata":{"labels":{"a":"2"}}}',
            headers={"Content-Type": "application/merge-patch+json"})
    c.patch("/api/v1/namespaces/default/configmaps/lv", content=b'{"metadata":{"labels":{"a":"1"}}}',
            headers={"Content-Type": "application/merge-patch+json"})
    with c.stream("GET", "/api/v1/namespaces/default/configmaps", params={
            "watch": "true", "resourceVersion": rv, "labelSelector": "a=1",
            "timeoutSeconds": "1"}) as r:
        types = [json.loads(x)["type"] for x in r.iter_lines() if x]
    assert types == ["DELETED", "ADDED"]


def test_watch_travels_gzip_when_asked(tdrill: ThreadedDrill) -> None:
    headers = {"Authorization": f"Bearer {tdrill.cluster.server.token}",
               "Accept-Encoding": "gzip"}
    with httpx.Client(base_url=tdrill.cluster.url, headers=headers) as c:
        with c.stream("GET", "/api/v1/pods", params={"watch": "true",
                                                     "timeoutSeconds": "1"}) as r:
            assert r.headers["content-encoding"] == "gzip"
            events = [json.loads(x) for x in r.iter_lines() if x]
        assert events and events[0]["type"] == "ADDED"
        r = c.get("/api/v1/pods")
        assert r.headers["content-encoding"] == "gzip"
        assert r.json()["kind"] == "PodList"
    with httpx.Client(base_url=tdrill.cluster.url) as plain:
        # the bytes on the wire really are gzip (httpx decodes them transparently above)
        r = plain.send(plain.build_request("GET", "/api/v1/pods", headers=headers), stream=True)
        wire = b"".join(r.iter_raw())
        r.close()
    assert json.loads(gzip.decompress(wire))["kind"] == "PodList"


# ------------------------------------------------------------------------- writes


def test_create_assigns_server_fields_and_refuses_duplicates(tdrill: ThreadedDrill) -> None:
    v1 = client.CoreV1Api(api(tdrill))
    cm = v1.create_namespaced_config_map("default", make_cm("c1"))
    assert cm.metadata.uid and cm.metadata.resource_version and cm.metadata.creation_timestamp
    with pytest.raises(ApiException) as info:
        v1.create_namespaced_config_map("default", make_cm("c1"))
    assert info.value.status == 409 and status_of(info.value)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as info:
        v1.create_namespaced_config_map("no-such-ns", make_cm("c1", ns="no-such-ns"))
    assert info.value.status == 404


def test_stale_update_conflicts(tdrill: ThreadedDrill) -> None:
    v1 = client.CoreV1Api(api(tdrill))
    cm = v1.create_namespaced_config_map("default", make_cm("u1"))
    cm.data = {"k": "first"}
    v1.replace_namespaced_config_map("u1", "default", cm)
    cm.data = {"k": "stale"}
    with pytest.raises(ApiException) as info:
        v1.replace_namespaced_config_map("u1", "default", cm)
    assert info.value.status == 409 and status_of(info.value)["reason"] == "Conflict"
    assert v1.read_namespaced_config_map("u1", "default").data == {"k": "first"}


def test_generation_bumps_only_on_spec_change(tdrill: ThreadedDrill) -> None:
    apps = client.AppsV1Api(api(tdrill))
    d = apps.create_namespaced_deployment("default", make_deploy("gen"))
    assert d.metadata.generation == 1
    d = apps.patch_namespaced_deployment("gen", "default", {"metadata": {"labels": {"x": "y"}}})
    assert d.metadata.generation == 1
    d = apps.patch_namespaced_deployment("gen", "default", {"spec": {"replicas": 5}})
    assert d.metadata.generation == 2
    d = apps.patch_namespaced_deployment_status("gen", "default",
                                                {"status": {"observedGeneration": 2}})
    assert d.metadata.generation == 2 and d.status.observed_generation == 2


def test_each_patch_type(tdrill: ThreadedDrill) -> None:
    c = raw(tdrill)
    c.post("/apis/apps/v1/namespaces/default/deployments", json=make_deploy("p"))
    url = "/apis/apps/v1/namespaces/default/deployments/p"

    def patch(body: Any, ctype: str) -> httpx.Response:
        return c.patch(url, content=json.dumps(body), headers={"Content-Type": ctype})

    r = patch({"metadata": {"labels": {"a": "1"}}}, "application/merge-patch+json")
    assert r.status_code == 200 and r.json()["metadata"]["labels"] == {"a": "1"}
    r = patch([{"op": "replace", "path": "/spec/replicas", "value": 4}],
              "application/json-patch+json")
    assert r.json()["spec"]["replicas"] == 4
    r = patch([{"op": "test", "path": "/spec/replicas", "value": 99}],
              "application/json-patch+json")
    assert r.status_code in (409, 422) and r.json()["kind"] == "Status"
    r = patch({"spec": {"template": {"spec": {"containers": [
        {"name": "side", "image": "side:1"}]}}}}, "application/strategic-merge-patch+json")
    names = [x["name"] for x in r.json()["spec"]["template"]["spec"]["containers"]]
    assert names == ["side", "app"]  # merged by name (new first, as apimachinery orders it)
    r = patch({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "img:2"}]}}}}, "application/strategic-merge-patch+json")
    cont = {c["name"]: c for c in r.json()["spec"]["template"]["spec"]["containers"]}
    assert cont["app"]["image"] == "img:2" and cont["app"]["ports"] == [{"containerPort": 80}]
    r = patch({"spec": {}}, "application/apply-patch+yaml")
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
    r = patch({"spec": {}}, "text/x-unknown")
    assert r.status_code == 415


def test_strategic_patch_refused_for_custom_resources(tdrill: ThreadedDrill) -> None:
    c = raw(tdrill)
    apps = c.get("/apis/argoproj.io/v1alpha1/applications").json()["items"]
    name = apps[0]["metadata"]["name"]
    r = c.patch(f"/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/{name}",
                content=b'{"spec":{}}',
                headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"


def test_dry_run_persists_nothing_and_emits_no_event(tdrill: ThreadedDrill) -> None:
    c = raw(tdrill)
    before = tdrill.cluster.state.rv
    r = c.post("/api/v1/namespaces/default/configmaps", params={"dryRun": "All"},
               json=make_cm("dry"))
    assert r.status_code == 201 and r.json()["metadata"]["name"] == "dry"
    assert c.get("/api/v1/namespaces/default/configmaps/dry").status_code == 404
    c.post("/api/v1/namespaces/default/configmaps", json=make_cm("dry2"))
    rv = tdrill.cluster.state.rv
    r = c.patch("/api/v1/namespaces/default/configmaps/dry2", params={"dryRun": "All"},
                content=b'{"data":{"k":"changed"}}',
                headers={"Content-Type": "application/merge-patch+json"})
    assert r.json()["data"] == {"k": "changed"}
    r = c.delete("/api/v1/namespaces/default/configmaps/dry2", params={"dryRun": "All"})
    assert r.status_code == 200
    assert c.get("/api/v1/namespaces/default/configmaps/dry2").json()["data"] == {"k": "v"}
    assert tdrill.cluster.state.rv == rv == before + 1
    assert c.post("/api/v1/namespaces/default/configmaps", params={"dryRun": "Bogus"},
                  json=make_cm("dry3")).status_code == 400


def test_scale_subresource(tdrill: ThreadedDrill) -> None:
    apps = client.AppsV1Api(api(tdrill))
    apps.create_namespaced_deployment("default", make_deploy("sc", replicas=3))
    scale = apps.read_namespaced_deployment_scale("sc", "default")
    assert scale.spec.replicas == 3 and scale.status.selector == "app=sc"
    apps.patch_namespaced_deployment_scale("sc", "default", {"spec": {"replicas": 0}})
    assert apps.read_namespaced_deployment("sc", "default").spec.replicas == 0
    scale = apps.read_namespaced_deployment_scale("sc", "default")
    scale.spec.replicas = 2
    apps.replace_namespaced_deployment_scale("sc", "default", scale)
    scale.spec.replicas = 7  # stale resourceVersion now
    with pytest.raises(ApiException) as info:
        apps.replace_namespaced_deployment_scale("sc", "default", scale)
    assert info.value.status == 409
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale("sc", "default", {"spec": {"replicas": -1}})
    assert info.value.status == 422
    assert apps.read_namespaced_deployment("sc", "default").spec.replicas == 2


def test_delete_cascades_to_dependents(tdrill: ThreadedDrill) -> None:
    c = raw(tdrill)
    pods = c.get("/api/v1/namespaces/frontend/pods").json()["items"]
    rs_name = pods[0]["metadata"]["ownerReferences"][0]["name"]
    rs = c.get(f"/apis/apps/v1/namespaces/frontend/replicasets/{rs_name}").json()
    deploy = rs["metadata"]["ownerReferences"][0]["name"]
    assert c.delete(f"/apis/apps/v1/namespaces/frontend/deployments/{deploy}").status_code == 200
    assert c.get(f"/apis/apps/v1/namespaces/frontend/replicasets/{rs_name}").status_code == 404
    left = [p for p in c.get("/api/v1/namespaces/frontend/pods").json()["items"]
            if p["metadata"]["ownerReferences"][0]["name"] == rs_name]
    assert left == []


def test_access_review_follows_policy(tdrill: ThreadedDrill) -> None:
    from drill.policy import Policy

    tdrill.cluster.server.policy = Policy.from_dict({"rules": [
        {"verbs": ["patch", "update"], "groups": ["apps"], "resources": ["deployments/scale"],
         "allow": False}]})
    authz = client.AuthorizationV1Api(api(tdrill))

    def review(verb: str, resource: str, sub: str = "") -> bool:
        body = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                verb=verb, group="apps", resource=resource, subresource=sub,
                namespace="checkout")))
        return bool(authz.create_self_subject_access_review(body).status.allowed)

    assert review("patch", "deployments", "scale") is False
    assert review("get", "deployments", "scale") is True
    assert review("patch", "deployments") is True
    apps = client.AppsV1Api(api(tdrill))
    name = apps.list_namespaced_deployment("checkout").items[0].metadata.name
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale(name, "checkout", {"spec": {"replicas": 0}})
    assert info.value.status == 403 and status_of(info.value)["reason"] == "Forbidden"


# ------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(("method", "path", "body", "ctype", "code"), [
    ("POST", "/api/v1/namespaces/default/configmaps", b"{not json", "application/json", 400),
    ("POST", "/api/v1/namespaces/default/configmaps", b"[1,2]", "application/json", 400),
    ("POST", "/api/v1/namespaces/default/configmaps", b"", "application/json", 400),
    ("POST", "/api/v1/namespaces/default/configmaps", b"\x0a\x02k8s",
     "application/vnd.kubernetes.protobuf", 415),
    ("GET", "/api/v1/namespaces/default/widgets", b"", "", 404),
    ("GET", "/apis/nope.io/v1/things", b"", "", 404),
    ("PATCH", "/api/v1/namespaces/default/configmaps/missing", b"{}",
     "application/merge-patch+json", 404),
    ("PUT", "/api/v1/namespaces/default/configmaps", b"{}", "application/json", 405),
    ("POST", "/apis/metrics.k8s.io/v1beta1/nodes", b"{}", "application/json", 405),
    ("GET", "/api/v1/pods?labelSelector=a%20in%20(", b"", "", 400),
    ("GET", "/api/v1/pods?limit=x", b"", "", 400),
    ("GET", "/api/v1/pods?watch=1&resourceVersion=abc", b"", "", 400),
    ("POST", "/apis/apps/v1/namespaces/default/deployments",
     json.dumps({"metadata": {"name": "bad"}, "spec": {"replicas": -2}}).encode(),
     "application/json", 422),
    ("POST", "/api/v1/namespaces/default/configmaps",
     json.dumps(make_cm("Bad_Name")).encode(), "application/json", 422),
])
def test_malformed_requests_get_status_errors(tdrill: ThreadedDrill, method: str, path: str,
                                              body: bytes, ctype: str, code: int) -> None:
    c = raw(tdrill)
    headers = {"Content-Type": ctype} if ctype else {}
    r = c.request(method, path, content=body or None, headers=headers)
    assert r.status_code == code, r.text
    st = r.json()
    assert st["kind"] == "Status" and st["code"] == code and st["message"]
    assert "Traceback" not in r.text


def test_unknown_patch_type_on_existing_object(tdrill: ThreadedDrill) -> None:
    c = raw(tdrill)
    c.post("/api/v1/namespaces/default/configmaps", json=make_cm("pt"))
    r = c.patch("/api/v1/namespaces/default/configmaps/pt", content=b"{}",
                headers={"Content-Type": "application/foo"})
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"


def test_huge_body_is_refused(tdrill: ThreadedDrill) -> None:
    c = raw(tdrill)
    big = make_cm("big", data={"k": "x" * (4 * 1024 * 1024)})
    r = c.post("/api/v1/namespaces/default/configmaps", content=json.dumps(big),
               headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["reason"] == "RequestEntityTooLarge"
    assert c.get("/api/v1/namespaces/default/configmaps/big").status_code == 404


@pytest.mark.parametrize("size", [70 * 1024, 1024 * 1024, 3 * 1024 * 1024 - 4096])
def test_large_bodies_up_to_the_limit_arrive_intact(tdrill: ThreadedDrill, size: int) -> None:
    """The real API server takes bodies up to 3 MiB; the drill read one network read's worth
    and cut anything larger at a random length. Sent chunked too (no Content-Length), as
    streaming clients do."""
    c = raw(tdrill)
    name = f"big-{size}"
    payload = "".join(chr(ord("a") + i % 26) for i in range(size - 200))
    body = json.dumps(make_cm(name, data={"k": payload})).encode()
    assert len(body) <= 3 * 1024 * 1024

    def chunked() -> Any:
        for i in range(0, len(body), 16 * 1024):
            yield body[i:i + 16 * 1024]

    r = c.post("/api/v1/namespaces/default/configmaps", content=body,
               headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text[:300]
    assert c.get(f"/api/v1/namespaces/default/configmaps/{name}").json()["data"]["k"] == payload
    r = c.put(f"/api/v1/namespaces/default/configmaps/{name}", content=chunked(),
              headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text[:300]
    assert r.json()["data"]["k"] == payload


def test_wrong_token_is_refused(tdrill: ThreadedDrill) -> None:
    r = httpx.get(f"{tdrill.cluster.url}/api/v1/pods", headers={"Authorization": "Bearer x"})
    assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"


# ------------------------------------------------------------------------- concurrency


def test_twenty_watches_under_concurrent_writes(tdrill: ThreadedDrill) -> None:
    """Every watch sees every change, in order, exactly once, while four writers write as
    fast as they can. The rate is printed, not asserted: on an idle machine it is well above
    200 writes/s, on a loaded 2-core CI machine it is whatever the machine gives (a number
    for bench/, not a pass/fail)."""
    c = raw(tdrill)
    rv = c.get("/api/v1/namespaces/default/configmaps").json()["metadata"]["resourceVersion"]
    n_writes = 400
    results: list[list[tuple[str, str, str]]] = [[] for _ in range(20)]
    ready = threading.Barrier(21)

    def watcher(i: int) -> None:
        with httpx.Client(base_url=tdrill.cluster.url, timeout=30, headers={
                "Authorization": f"Bearer {tdrill.cluster.server.token}"}) as wc:
            ready.wait()
            with wc.stream("GET", "/api/v1/namespaces/default/configmaps", params={
                    "watch": "true", "resourceVersion": rv, "timeoutSeconds": "300",
                    "allowWatchBookmarks": "true"}) as r:
                for line in r.iter_lines():
                    if not line:
                        continue
                    ev = json.loads(line)
                    if ev["type"] == "BOOKMARK":
                        continue
                    results[i].append((ev["type"], ev["object"]["metadata"]["name"],
                                       ev["object"]["metadata"]["resourceVersion"]))
                    if len(results[i]) == n_writes:
                        return

    threads = [threading.Thread(target=watcher, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    ready.wait()
    import time

    # Four writers, so the writes really are concurrent; the watch order is then the
    # server's resourceVersion order.
    writes: list[tuple[str, str, str]] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        with httpx.Client(base_url=tdrill.cluster.url, timeout=30, headers={
                "Authorization": f"Bearer {tdrill.cluster.server.token}"}) as wc:
            for i in range(w, n_writes // 2, 4):
                body = wc.post("/api/v1/namespaces/default/configmaps",
                               json=make_cm(f"cc-{i}")).json()
                added = ("ADDED", f"cc-{i}", body["metadata"]["resourceVersion"])
                body = wc.patch(f"/api/v1/namespaces/default/configmaps/cc-{i}",
                                content=b'{"data":{"k":"2"}}',
                                headers={"Content-Type": "application/merge-patch+json"}).json()
                with lock:
                    writes.extend([added, ("MODIFIED", f"cc-{i}",
                                           body["metadata"]["resourceVersion"])])

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    started = time.monotonic()
    for t in writers:
        t.start()
    for t in writers:
        t.join(300)
    assert not any(t.is_alive() for t in writers), "the writers did not finish in 300 s"
    print(f"{n_writes / (time.monotonic() - started):.0f} writes/s")
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), \
        f"watches still waiting after 300 s: got {[len(r) for r in results]} of {n_writes}"
    expected = sorted(writes, key=lambda w: int(w[2]))
    assert len(expected) == n_writes
    for got in results:
        assert got == expected
