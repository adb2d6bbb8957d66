"""Malformed objects never reach the drill's store, and never crash-loop the drill if one does.

A real kube-apiserver decodes built-in objects into Go structs, so a Node whose
``status.conditions`` is a string is refused at write time (400 BadRequest), and custom
resources are checked by their CRD schemas (422 Invalid). The drill refuses the same writes;
and because its own controllers and Table printers must survive an object they cannot read
anyway (defence in depth), objects smuggled past the checks are fed to the whole simulation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from drill import schema
from drill.errors import ApiError
from drill.resources import BY_KEY
from tests.conftest import (
    HeadlessDrill,
    ThreadedDrill,
    headless_drill,
)
from tests.waiting import wait_until

NODES = BY_KEY["nodes"]
NODE_MESSAGE = ('Node in version "v1" cannot be handled as a Node: json: cannot unmarshal '
                "string into Go struct field NodeStatus.status.conditions of type "
                "[]v1.NodeCondition")
MERGE = {"Content-Type": "application/merge-patch+json"}


# ------------------------------------------------------------------------- kubectl, live


@pytest.fixture(scope="module")
def live() -> Iterator[HeadlessDrill]:
    with headless_drill("--scenario", "calm", "--speed", "10") as drill:
        yield drill


def until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """The shared bounded wait (tests/waiting.py), under this module's old name."""
    return wait_until(check, what, timeout)


def node_ready(d: HeadlessDrill, name: str) -> bool:
    node = json.loads(d.kubectl("get", "node", name, "-o", "json").stdout)
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in node["status"]["conditions"])


def test_kubectl_cannot_store_a_node_whose_conditions_is_a_string(live: HeadlessDrill,
                                                                   tmp_path: Path) -> None:
    nodes = json.loads(live.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    name = nodes[0]["metadata"]["name"]
    out = live.kubectl("patch", "node", name, "--subresource=status", "--type=merge",
                       "-p", '{"status":{"conditions":"oops"}}', check=False)
    assert out.returncode == 1
    assert f"Error from server (BadRequest): {NODE_MESSAGE}" in out.stderr

    # A PUT of the whole object (kubectl replace) is decoded whole: refused the same way,
    # status included although the main resource ignores status.
    node = json.loads(live.kubectl("get", "node", name, "-o", "json").stdout)
    node["status"]["conditions"] = "oops"
    path = tmp_path / "node.json"
    path.write_text(json.dumps(node))
    out = live.kubectl("replace", "-f", str(path), check=False)
    assert out.returncode == 1 and NODE_MESSAGE in out.stderr

    # The drill is unharmed: lists answer, the node controller still heartbeats this node.
    table = live.kubectl("get", "nodes")
    assert name in table.stdout
    assert node_ready(live, name)


def test_kubectl_cannot_store_a_route_whose_backend_refs_is_a_string(live: HeadlessDrill) -> None:
    out = live.kubectl("patch", "httproute", "checkout", "-n", "checkout", "--type=merge", "-p",
                       '{"spec":{"rules":[{"backendRefs":"checkout-stable"}]}}', check=False)
    assert out.returncode == 1
    assert ('The HTTPRoute "checkout" is invalid: spec.rules[0].backendRefs: Invalid value: "string": '
            'spec.rules[0].backendRefs in body must be of type array: "string"') in out.stderr
    route = json.loads(live.kubectl("get", "httproute", "checkout", "-n", "checkout",
                                    "-o", "json").stdout)
    assert isinstance(route["spec"]["rules"][0]["backendRefs"], list)


# ------------------------------------------------------------------------- in-process table


def client(d: ThreadedDrill) -> httpx.Client:
    return httpx.Client(base_url=d.cluster.url, timeout=10,
                        headers={"Authorization": f"Bearer {d.cluster.server.token}"})


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels - 1):
        value = {"a": value}
    return value


NODE = "/api/v1/nodes/{node}"
DEPLOY = "/apis/apps/v1/namespaces/checkout/deployments/checkout-stable"
APP = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/checkout"
ROUTE = "/apis/gateway.networking.k8s.io/v1/namespaces/checkout/httproutes/checkout"


@pytest.mark.parametrize(("path", "patch", "code", "message"), [
    (NODE + "/status", {"status": {"conditions": "oops"}}, 400, NODE_MESSAGE),
    (NODE, {"status": {"conditions": "oops"}}, 400, NODE_MESSAGE),
    (NODE + "/status", {"status": {"conditions": ["oops"]}}, 400,
     "cannot unmarshal string into Go struct field NodeStatus.status.conditions of type "
     "v1.NodeCondition"),
    (NODE, {"spec": {"taints": {"key": "x"}}}, 400,
     "cannot unmarshal object into Go struct field NodeSpec.spec.taints of type []v1.Taint"),
    (NODE, {"metadata": {"labels": {"a": 1}}}, 400,
     "cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"),
    (NODE, {"metadata": {"ownerReferences": "me"}}, 400,
     "Go struct field ObjectMeta.metadata.ownerReferences of type []v1.OwnerReference"),
    (DEPLOY, {"spec": {"replicas": "3"}}, 400,
     'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal '
     "string into Go struct field DeploymentSpec.spec.replicas of type int32"),
    (DEPLOY, {"spec": {"replicas": 1.5}}, 400,
     "cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type "
     "int32"),
    (DEPLOY, {"spec": {"template": {"spec": {"containers": {"name": "x"}}}}}, 400,
     "Go struct field PodSpec.spec.template.spec.containers of type []v1.Container"),
    (APP, {"status": {"conditions": "oops"}}, 422,
     'Application.argoproj.io "checkout" is invalid: status.conditions: Invalid value: '
     '"string": status.conditions in body must be of type array: "string"'),
    (APP, {"status": {"history": [{"id": "one"}]}}, 422,
     "status.history[0].id in body must be of type integer"),
    (ROUTE, {"spec": {"rules": [{"backendRefs": [{"name": "x", "weight": "90"}]}]}}, 422,
     "spec.rules[0].backendRefs[0].weight in body must be of type integer"),
    (APP, {"spec": {"source": {"helm": {"valuesObject": nested(schema.MAX_DEPTH + 1)}}}}, 400,
     f"nested too deeply: more than {schema.MAX_DEPTH} levels"),
])
def test_wrong_json_types_are_refused_at_write_time(tdrill: ThreadedDrill, path: str,
                                                    patch: dict[str, Any], code: int,
                                                    message: str) -> None:
    node = tdrill.cluster.state.objects(NODES)[0]["metadata"]["name"]
    url = path.format(node=node)
    with client(tdrill) as c:
        before = c.get(url.removesuffix("/status")).json()
        r = c.patch(url, content=json.dumps(patch), headers=MERGE)
        assert r.status_code == code, r.text
        status = r.json()
        assert status["kind"] == "Status" and status["code"] == code
        assert message in status["message"]
        assert c.get(url.removesuffix("/status")).json() == before  # nothing stored


def test_a_body_a_thousand_levels_deep_is_a_bad_request(tdrill: ThreadedDrill) -> None:
    """Python's JSON decoder gives up near a thousand levels; that was a 500."""
    body = ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":'
            + '{"a":' * 1000 + '"x"' + "}" * 1000 + "}")
    with client(tdrill) as c:
        r = c.post("/api/v1/namespaces/default/configmaps", content=body,
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        assert "nested too deeply" in r.json()["message"]
        r = c.post("/api/v1/namespaces/default/configmaps", headers={
            "Content-Type": "application/json"}, content=json.dumps({
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "deep"},
                "data": {"k": "v"}, "extra": nested(400)}))
        assert r.status_code == 400 and "nested too deeply" in r.json()["message"], r.text


def test_the_in_process_api_refuses_the_same(tdrill: ThreadedDrill) -> None:
    """Controllers and seeds write through the same checks as HTTP clients."""
    state = tdrill.cluster.state
    node = state.objects(NODES)[0]

    def bad(n: dict[str, Any]) -> dict[str, Any]:
        n["status"]["conditions"] = "oops"
        return n

    with pytest.raises(ApiError) as caught:
        tdrill.call(state.mutate, NODES, "", node["metadata"]["name"], bad,
                    subresource="status")
    assert caught.value.code == 400 and caught.value.message == NODE_MESSAGE


# ------------------------------------------------------------------------- defence in depth


def wrong_values(want: schema.T) -> list[Any]:
    """Values of the wrong JSON type for a field of type ``want`` (a mapping where a string
    is expected is the most hostile: no string methods, and unhashable)."""
    return {"array": ["oops", ["oops"]], "object": ["oops"], "string": [{"a": "b"}],
            "integer": ["7"], "boolean": ["yes"], "scalar": [{"a": 1}]}.get(want.json, [])


def mutations(want: schema.T, value: Any, path: tuple[Any, ...] = ()) -> Iterator[
        tuple[tuple[Any, ...], Any]]:
    """(path, bad value) for every typed field present in ``value``, and its elements."""
    if want.fields and isinstance(value, dict):
        for name, sub in want.fields.items():
            if name in value:
                for bad in wrong_values(sub):
                    yield (*path, name), bad
                yield from mutations(sub, value[name], (*path, name))
    elif want.items is not None and isinstance(value, list) and value:
        yield from mutations(want.items, value[0], (*path, 0))
    elif want.items is not None and isinstance(value, dict) and value:
        key = sorted(value)[0]
        for bad in wrong_values(want.items):
            yield (*path, key), bad


def mutated(obj: dict[str, Any], path: tuple[Any, ...], bad: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(obj))
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = bad
    return out


SAMPLES = [  # (resource key, namespace, name prefix) of one representative object per kind
    ("nodes", "", ""), ("pods", "checkout", "checkout-stable-"),
    ("deployments.apps", "checkout", "checkout-stable"),
    ("replicasets.apps", "checkout", "checkout-stable-"), ("services", "checkout", ""),
    ("events", "checkout", ""), ("namespaces", "", "checkout"), ("configmaps", "", ""),
    ("applications.argoproj.io", "argocd", "checkout"),
    ("httproutes.gateway.networking.k8s.io", "checkout", "checkout"),
    ("gateways.gateway.networking.k8s.io", "", ""),
    ("gatewayclasses.gateway.networking.k8s.io", "", ""),
    ("appprojects.argoproj.io", "", ""),
]


def test_malformed_objects_are_skipped_by_every_controller_and_printer(
        caplog: pytest.LogCaptureFixture) -> None:
    """Every typed field of one object per kind, replaced by values of the wrong JSON type,
    each on its own copy smuggled past the write checks; plus copies with bare metadata and a
    value nested a thousand levels deep. The whole simulation runs a bad rollout over them:
    no controller fails, the good objects still converge, every list and Table answers, the
    exporter and the health endpoints answer, and each bad object is reported once."""
    from drill import tables
    from drill.controllers.endpoints import DrillEndpoints
    from drill.runner import DrillCluster, DrillOptions

    c = DrillCluster(DrillOptions(scenario="bad-rollout", manual_clock=True))
    c.sim.advance(5)
    smuggled: list[tuple[str, str, str]] = []
    for key, ns, prefix in SAMPLES:
        rt = BY_KEY[key]
        objs = [o for o in c.state.objects(rt, ns or None)
                if o["metadata"]["name"].startswith(prefix)]
        assert objs, key
        sample = objs[0]
        variants = [mutated(sample, path, bad)
                    for path, bad in mutations(schema.BUILTIN.get(rt.kind)
                                               or schema.CUSTOM[rt.kind], sample)]
        variants.append({"apiVersion": rt.api_version, "kind": rt.kind, "metadata": {}})
        variants.append(mutated(sample, ("spec",), nested(400)))
        for i, variant in enumerate(variants):
            meta = variant["metadata"] if isinstance(variant["metadata"], dict) else {}
            variant["metadata"] = meta
            meta["name"] = f"{sample['metadata']['name']}-bad-{i}"
            if rt.namespaced:
                meta["namespace"] = sample["metadata"]["namespace"]
            c.state.store_unchecked(rt, variant)
            smuggled.append((key, meta.get("namespace", ""), meta["name"]))
    assert len(smuggled) > 300

    caplog.set_level("WARNING")
    c.sim.advance(60)
    assert c.sim.errors == []
    # The bad rollout still happened to the good objects, and the drill still heals: the
    # controllers did not stop at the first object they could not read.
    stable = c.state.get(BY_KEY["deployments.apps"], "checkout", "checkout-stable")
    assert stable["status"]["replicas"] != stable["spec"]["replicas"] or \
        stable["status"].get("unavailableReplicas")
    nodes = [n for n in c.state.objects(NODES) if "-bad-" not in n["metadata"]["name"]]
    assert all(any(cond.get("type") == "Ready" and cond.get("status") == "True"
                   for cond in n["status"]["conditions"]) for n in nodes)
    # Reported once per object version, never per tick.
    skips = [r.getMessage() for r in caplog.records if " skips " in r.getMessage()]
    assert skips and len(skips) == len(set(skips))

    # Every list, as JSON and as a Table (what kubectl get asks for), and the metrics.
    now = c.clock.now()
    for key, _, _ in SAMPLES:
        rt = BY_KEY[key]
        entries = c.state.entries(rt)
        assert all(e.raw for e in entries)
        for include in ("None", "Metadata", "Object"):
            table = tables.to_table(rt, [e.obj for e in entries], include_object=include,
                                    now=now, resource_version="1")
            assert len(table["rows"]) == len(entries)
            width = len(table["columnDefinitions"])
            assert all(len(row["cells"]) == width for row in table["rows"])
    assert b"kube_deployment_spec_replicas" in c.exporter.render()
    endpoints = DrillEndpoints(c.state, c.exporter.traffic)
    assert endpoints.app_health("payments")[0]
    assert endpoints.routed_apps()
