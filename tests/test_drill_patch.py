"""Merge, JSON and strategic merge patches produce what a Kubernetes API server would."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import jsonpatch
import pytest

from drill.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    UnsupportedPatch,
    apply_patch,
    json_patch,
    merge_patch,
    patch_types,
    strategic_merge_patch,
    supports_strategic,
)

CRD_KINDS = ["Application", "AppProject", "Gateway", "HTTPRoute", "GatewayClass",
             "ApplicationLoadBalancer", "NodeMetrics", "PodMetrics"]


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "finalizers": ["a", "b"],
                     "labels": {"app": "web"},
                     "ownerReferences": [{"uid": "u1", "kind": "X", "name": "x"}]},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "app:1",
                         "ports": [{"containerPort": 80, "name": "http"},
                                   {"containerPort": 9090, "name": "metrics"}],
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                         "envFrom": [{"configMapRef": {"name": "cm"}}],
                         "volumeMounts": [{"mountPath": "/data", "name": "data"}]},
                        {"name": "side", "image": "side:1"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "dedicated", "value": "web"}],
                },
            },
        },
        "status": {"conditions": [{"type": "Available", "status": "True"},
                                  {"type": "Progressing", "status": "True"}]},
    }


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def smp(patch: dict[str, Any], target: dict[str, Any] | None = None,
        kind: str = "Deployment") -> dict[str, Any]:
    """Strategic merge patch, also asserting purity and that no directive survives."""
    target = deployment() if target is None else target
    before_target, before_patch = copy.deepcopy(target), copy.deepcopy(patch)
    result = strategic_merge_patch(target, patch, kind)
    assert target == before_target and patch == before_patch
    assert not directive_keys(result)
    return result


def directive_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [k for k in value if k.startswith("$")]
        return found + [k for v in value.values() for k in directive_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in directive_keys(v)]
    return []


def names(items: list[dict[str, Any]], key: str = "name") -> list[Any]:
    return [i[key] for i in items]


# --- RFC 7386 merge patch -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # RFC 7386, Appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc7386(target: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy((target, patch))
    assert merge_patch(target, patch) == expected
    assert (target, patch) == before


def test_merge_patch_argo_autosync_off() -> None:
    app = {"spec": {"syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                                   "syncOptions": ["CreateNamespace=true"]}}}
    assert merge_patch(app, {"spec": {"syncPolicy": {"automated": None}}}) == {
        "spec": {"syncPolicy": {"syncOptions": ["CreateNamespace=true"]}}}


def test_merge_patch_result_shares_nothing_with_inputs() -> None:
    target = {"keep": {"deep": [1, {"x": 1}]}, "b": 1}
    patch = {"new": {"list": [{"y": 2}]}}
    result = merge_patch(target, patch)
    result["keep"]["deep"][1]["x"] = 99
    result["new"]["list"][0]["y"] = 99
    assert target == {"keep": {"deep": [1, {"x": 1}]}, "b": 1}
    assert patch == {"new": {"list": [{"y": 2}]}}


# --- RFC 6902 JSON patch --------------------------------------------------------------------


def test_json_patch_operations() -> None:
    doc = {"spec": {"replicas": 2, "list": [1, 2]}, "metadata": {"annotations": {"a": "1"}}}
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/spec/list/-", "value": 3},
        {"op": "add", "path": "/spec/list/0", "value": 0},
        {"op": "remove", "path": "/spec/list/1"},
        {"op": "copy", "from": "/metadata/annotations", "path": "/spec/copied"},
        {"op": "move", "from": "/metadata/annotations/a", "path": "/metadata/annotations/b"},
        {"op": "add", "path": "/metadata/annotations/k8s.io~1x", "value": "slash"},
    ]
    before = copy.deepcopy((doc, ops))
    assert json_patch(doc, ops) == {
        "spec": {"replicas": 3, "list": [0, 2, 3], "copied": {"a": "1"}},
        "metadata": {"annotations": {"b": "1", "k8s.io/x": "slash"}},
    }
    assert (doc, ops) == before


def test_json_patch_rollout_undo_shape() -> None:
    """kubectl rollout undo replaces /spec/template and /metadata/annotations in one patch."""
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "app:0"}]}}
    ops = [{"op": "replace", "path": "/spec/template", "value": template},
           {"op": "replace", "path": "/metadata/annotations", "value": {"k": "v"}}]
    target = deployment()
    target["metadata"]["annotations"] = {"old": "x"}
    out = json_patch(target, ops)
    assert out["spec"]["template"] == template and out["metadata"]["annotations"] == {"k": "v"}
    out["spec"]["template"]["spec"]["containers"][0]["image"] = "changed"
    assert ops[0]["value"]["spec"]["containers"][0]["image"] == "app:0"  # type: ignore[index]


@pytest.mark.parametrize(
    ("ops", "reason", "message"),
    [
        ({"op": "add"}, "BadRequest", "a JSON patch must be a JSON array of operations"),
        (["add"], "BadRequest", "JSON patch operation 0 is not a JSON object"),
        ([{"op": "frob", "path": "/a"}], "Invalid",
         "JSON patch operation 0 (frob /a): invalid operation: Unknown operation 'frob'"),
        ([{"path": "/a"}], "Invalid",
         "JSON patch operation 0 (None /a): invalid operation: Operation does not contain 'op' "
         "member"),
        ([{"op": "add", "value": 1}], "Invalid", "Operation must have a 'path' member"),
        ([{"op": "add", "path": "/a"}], "Invalid", "does not contain a 'value' member"),
        ([{"op": "add", "path": "a", "value": 1}], "Invalid",
         "JSON patch operation 0 (add a): invalid path: Location must start with /"),
        ([{"op": "add", "path": "/nope/x", "value": 1}], "Invalid",
         "JSON patch operation 0 (add /nope/x): invalid path: member 'nope' not found"),
        ([{"op": "test", "path": "/s", "value": "x"}, {"op": "remove", "path": "/zz"}], "Invalid",
         "JSON patch operation 1 (remove /zz): can't remove a non-existent object 'zz'"),
        ([{"op": "replace", "path": "/zz", "value": 1}], "Invalid",
         "can't replace a non-existent object 'zz'"),
        ([{"op": "add", "path": "/l/9", "value": 1}], "Invalid", "can't insert outside of list"),
        ([{"op": "test", "path": "/s", "value": "y"}], "Invalid",
         "JSON patch operation 0 (test /s): test failed: x is not equal to tested value y"),
        ([{"op": "test", "path": "/missing", "value": 1}], "Invalid",
         "test failed: member 'missing' not found"),
        ([{"op": "move", "from": "/nope", "path": "/x"}], "Invalid", "(move /x)"),
        ([{"op": "add", "path": "/s/x", "value": 1}], "Invalid", "invalid path"),
    ],
)
def test_json_patch_errors(ops: Any, reason: str, message: str) -> None:
    doc = {"s": "x", "l": [1]}
    with pytest.raises(PatchError) as info:
        json_patch(doc, ops)
    assert info.value.reason == reason
    assert message in str(info.value)
    assert "{" not in str(info.value).split(")", 1)[-1]  # the document itself is never dumped
    assert doc == {"s": "x", "l": [1]}


def test_json_patch_can_replace_the_root() -> None:
    assert json_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}]) == [1]


# --- strategic merge patch: kubectl-shaped patches ------------------------------------------


def test_set_image_with_set_element_order() -> None:
    out = smp({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
        "containers": [{"image": "app:2", "name": "app"}]}}}})
    containers = pod_spec(out)["containers"]
    assert names(containers) == ["app", "side"]
    assert containers[0]["image"] == "app:2"
    assert containers[0]["env"] == deployment()["spec"]["template"]["spec"]["containers"][0]["env"]
    assert containers[1] == {"name": "side", "image": "side:1"}


def test_rollout_restart_and_pause() -> None:
    out = smp({"spec": {"paused": True, "template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}}}}})
    assert out["spec"]["paused"] is True
    assert out["spec"]["template"]["metadata"] == {
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}}


def test_cordon_node() -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "spec": {}}
    assert smp({"spec": {"unschedulable": True}}, node, "Node")["spec"] == {"unschedulable": True}


def test_client_side_apply_three_way_patch() -> None:
    """What kubectl apply sends after removing env B, adding C and dropping the sidecar."""
    out = smp({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [
                {"$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                 "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "B"}],
                 "name": "app"},
                {"$patch": "delete", "name": "side"},
            ]}}}})
    containers = pod_spec(out)["containers"]
    assert names(containers) == ["app"]
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]
    assert out["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": "{}"}


def test_retain_keys_switching_strategy() -> None:
    out = smp({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate",
                                     "rollingUpdate": None}}})
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    out = smp({"spec": {"strategy": {"$retainKeys": ["rollingUpdate", "type"],
                                     "rollingUpdate": {"maxUnavailable": 0}}}})
    assert out["spec"]["strategy"] == {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


# --- strategic merge patch: merge keys are path-aware ---------------------------------------


def test_container_ports_merge_by_container_port() -> None:
    out = smp({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}})
    assert pod_spec(out)["containers"][0]["ports"] == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"},
        {"containerPort": 9090, "name": "metrics"}]


def test_service_ports_merge_by_port() -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    out = smp({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, svc, "Service")
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]
    # In a Service, containerPort is not a merge key: a list item without `port` is refused.
    with pytest.raises(PatchError, match="does not contain declared merge key: port"):
        strategic_merge_patch(svc, {"spec": {"ports": [{"containerPort": 80}]}}, "Service")


def test_env_merges_by_name() -> None:
    out = smp({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "B", "value": "X"}, {"name": "C", "value": "3"}]}]}}}})
    assert pod_spec(out)["containers"][0]["env"] == [
        {"name": "A", "value": "1"}, {"name": "B", "value": "X"}, {"name": "C", "value": "3"}]
    out = smp({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "A", "value": None}]}]}}}})
    assert pod_spec(out)["containers"][0]["env"] == [{"name": "A"}, {"name": "B", "value": "2"}]


def test_pod_spec_lists_of_a_pod() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "volumeMounts": [{"mountPath": "/a", "name": "x"}],
                        "volumeDevices": [{"devicePath": "/dev/a", "name": "d"}]}],
        "initContainers": [{"name": "init", "image": "i:1"}],
        "volumes": [{"name": "x", "emptyDir": {}}],
        "imagePullSecrets": [{"name": "reg"}],
        "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["a"]}],
        "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1}],
        "tolerations": [{"key": "a"}, {"key": "b"}],
    }, "status": {"conditions": [{"type": "Ready", "status": "False"}],
                  "containerStatuses": [{"name": "c", "ready": False}, {"name": "d"}]}}
    out = smp({"spec": {
        "containers": [{"name": "c", "volumeMounts": [{"mountPath": "/a", "readOnly": True}],
                        "volumeDevices": [{"devicePath": "/dev/a", "name": "e"}]}],
        "initContainers": [{"name": "init", "image": "i:2"}],
        "volumes": [{"name": "y", "configMap": {"name": "cm"}}],
        "imagePullSecrets": [{"name": "other"}],
        "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}],
        "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}],
        "tolerations": [{"key": "c"}],
    }, "status": {"conditions": [{"type": "Ready", "status": "True"}],
                  "containerStatuses": [{"name": "c", "ready": True}]}}, pod, "Pod")
    spec = out["spec"]
    assert spec["containers"][0]["volumeMounts"] == [{"mountPath": "/a", "name": "x",
                                                      "readOnly": True}]
    assert spec["containers"][0]["volumeDevices"] == [{"devicePath": "/dev/a", "name": "e"}]
    assert spec["initContainers"] == [{"name": "init", "image": "i:2"}]
    assert names(spec["volumes"]) == ["y", "x"]
    assert names(spec["imagePullSecrets"]) == ["other", "reg"]
    assert spec["hostAliases"] == [{"ip": "1.1.1.1", "hostnames": ["b"]}]
    assert spec["topologySpreadConstraints"] == [{"topologyKey": "zone", "maxSkew": 2}]
    assert spec["tolerations"] == [{"key": "c"}]  # no merge key: replaced
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
    assert out["status"]["containerStatuses"] == [{"name": "c", "ready": True}]  # replaced


def test_env_from_and_unknown_lists_are_replaced() -> None:
    out = smp({"spec": {"template": {"spec": {
        "containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "s"}}]}],
        "readinessGates": [{"conditionType": "x"}]}}}})
    assert pod_spec(out)["containers"][0]["envFrom"] == [{"secretRef": {"name": "s"}}]
    assert pod_spec(out)["readinessGates"] == [{"conditionType": "x"}]


def test_status_conditions_merge_by_type() -> None:
    for kind, target in [("Deployment", deployment()),
                         ("Node", {"kind": "Node", "status": {"conditions": [
                             {"type": "Ready", "status": "True"},
                             {"type": "Available", "status": "True"}]}}),
                         ("ReplicaSet", {"status": {"conditions": [{"type": "Available"}]}}),
                         ("Namespace", {"status": {"conditions": [{"type": "Available"}]}})]:
        out = smp({"status": {"conditions": [{"type": "Available", "status": "False"}]}},
                  target, kind)
        available = [c for c in out["status"]["conditions"] if c["type"] == "Available"]
        assert len(available) == 1 and available[0]["status"] == "False"


def test_owner_references_merge_by_uid() -> None:
    out = smp({"metadata": {"ownerReferences": [{"uid": "u1", "controller": True},
                                                {"uid": "u2", "kind": "Y", "name": "y"}]}})
    assert out["metadata"]["ownerReferences"] == [
        {"uid": "u1", "kind": "X", "name": "x", "controller": True},
        {"uid": "u2", "kind": "Y", "name": "y"}]


def test_template_metadata_finalizers_are_a_merge_list_too() -> None:
    out = smp({"spec": {"template": {"metadata": {"finalizers": ["x"]}}}})
    assert out["spec"]["template"]["metadata"]["finalizers"] == ["x"]


# --- strategic merge patch: finalizers (primitive list, merge strategy) ---------------------


def test_finalizers_union() -> None:
    assert smp({"metadata": {"finalizers": ["b", "c"]}})["metadata"]["finalizers"] == [
        "a", "b", "c"]
    # apimachinery's order: patch items in patch order, live-only items placed by live order
    assert smp({"metadata": {"finalizers": ["c", "a"]}})["metadata"]["finalizers"] == [
        "c", "a", "b"]
    assert smp({"metadata": {"$setElementOrder/finalizers": ["a", "b", "c"],
                             "finalizers": ["c"]}})["metadata"]["finalizers"] == ["a", "b", "c"]


def test_delete_from_primitive_list() -> None:
    out = smp({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}})
    assert out["metadata"]["finalizers"] == ["b"]
    out = smp({"metadata": {"$setElementOrder/finalizers": ["b"],
                            "$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert out["metadata"]["finalizers"] == ["b"]
    no_list = deployment()
    del no_list["metadata"]["finalizers"]
    assert "finalizers" not in smp({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
                                   no_list)["metadata"]


# --- strategic merge patch: directives and list order ---------------------------------------


def test_new_items_without_order_go_first_as_in_apimachinery() -> None:
    out = smp({"spec": {"template": {"spec": {"containers": [{"name": "new", "image": "n"}]}}}})
    assert names(pod_spec(out)["containers"]) == ["new", "app", "side"]
    out = smp({"spec": {"template": {"spec": {"containers": [
        {"name": "x"}, {"name": "app", "image": "a:2"}, {"name": "y"}]}}}})
    assert names(pod_spec(out)["containers"]) == ["x", "app", "y", "side"]


def test_live_order_kept_for_items_the_patch_does_not_name() -> None:
    out = smp({"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "s:2"}]}}}})
    assert names(pod_spec(out)["containers"]) == ["app", "side"]


def test_patch_order_wins_over_live_order_without_directive() -> None:
    out = smp({"spec": {"template": {"spec": {"containers": [
        {"name": "side", "image": "s:2"}, {"name": "app", "image": "a:2"}]}}}})
    assert names(pod_spec(out)["containers"]) == ["side", "app"]


def test_set_element_order_reorders_and_appends() -> None:
    out = smp({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}]}}}})
    assert names(pod_spec(out)["containers"]) == ["side", "app"]
    out = smp({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}, {"name": "new"}],
        "containers": [{"name": "new", "image": "n"}]}}}})
    assert names(pod_spec(out)["containers"]) == ["app", "side", "new"]


def test_set_element_order_never_fails() -> None:
    # Disagrees with the patch, names unknown items, lacks merge keys: best effort, no error.
    out = smp({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "ghost"}, {"image": "no-key"}, "junk"],
        "containers": [{"name": "new"}],
        "$setElementOrder/volumes": [{"name": "data"}],
        "$setElementOrder/tolerations": [{"key": "dedicated"}]}}}})
    assert set(names(pod_spec(out)["containers"])) == {"new", "app", "side"}
    assert pod_spec(out)["volumes"] == [{"name": "data", "emptyDir": {}}]
    out = smp({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}],
                                              "containers": None}}}})
    assert "containers" not in pod_spec(out)


def test_set_element_order_for_a_new_list() -> None:
    target = deployment()
    del target["spec"]["template"]["spec"]["volumes"]
    out = smp({"spec": {"template": {"spec": {
        "$setElementOrder/volumes": [{"name": "b"}, {"name": "a"}],
        "volumes": [{"name": "a"}, {"name": "b", "$patch": "delete"}, {"name": "b"}]}}}},
        target)
    assert pod_spec(out)["volumes"] == [{"name": "b"}, {"name": "a"}]


def test_patch_delete_removes_a_container() -> None:
    out = smp({"spec": {"template": {"spec": {"containers": [
        {"name": "side", "$patch": "delete"}]}}}})
    assert names(pod_spec(out)["containers"]) == ["app"]
    out = smp({"spec": {"template": {"spec": {"containers": [
        {"name": "ghost", "$patch": "delete"}]}}}})
    assert names(pod_spec(out)["containers"]) == ["app", "side"]


def test_patch_replace_in_a_list_and_in_a_map() -> None:
    out = smp({"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "only", "image": "o", "env": [{"name": "Z"}]}]}}}})
    assert pod_spec(out)["containers"] == [{"name": "only", "image": "o",
                                            "env": [{"name": "Z"}]}]
    out = smp({"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}})
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    out = smp({"metadata": {"labels": {"$patch": "replace", "new": "x"}}})
    assert out["metadata"]["labels"] == {"new": "x"}


def test_patch_delete_on_a_map_deletes_it() -> None:
    assert "strategy" not in smp({"spec": {"strategy": {"$patch": "delete"}}})["spec"]
    assert "missing" not in smp({"spec": {"missing": {"$patch": "delete"}}})["spec"]


def test_patch_merge_is_the_default() -> None:
    out = smp({"spec": {"strategy": {"$patch": "merge", "type": "Recreate"}}})
    assert out["spec"]["strategy"] == {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}
    out = smp({"spec": {"template": {"spec": {"containers": [
        {"$patch": "merge"}, {"$patch": "merge", "name": "app", "image": "a:3"}]}}}})
    assert pod_spec(out)["containers"][0]["image"] == "a:3"


def test_whole_object_replace_and_unknown_directives_dropped() -> None:
    out = smp({"$patch": "replace", "kind": "Deployment", "metadata": {"name": "web"}})
    assert out == {"kind": "Deployment", "metadata": {"name": "web"}}
    out = smp({"$unknown": 1, "metadata": {"$foo": {"x": 1}}})
    assert out == deployment()


def test_new_values_are_cleaned_of_directives_and_nulls() -> None:
    target = {"kind": "Pod", "metadata": {"name": "p"}}
    out = smp({"spec": {"containers": [
        {"name": "c", "env": [{"name": "A"}, {"name": "B", "$patch": "delete"}], "x": None},
        {"name": "gone", "$patch": "delete"}],
        "affinity": {"$patch": "replace", "nodeAffinity": {"a": None, "b": 1}},
        "tolerations": [{"$patch": "replace"}, {"key": "t", "$patch": "merge"},
                        {"key": "u", "$patch": "delete"}, None],
        "nodeSelector": {"$retainKeys": ["zone"], "zone": "a"}}}, target, "Pod")
    assert out["spec"] == {
        "containers": [{"name": "c", "env": [{"name": "A"}]}],
        "affinity": {"nodeAffinity": {"b": 1}},
        "tolerations": [{"key": "t"}, None],
        "nodeSelector": {"zone": "a"},
    }


def test_nulls_inside_replaced_list_items_are_dropped() -> None:
    # Merge patch stores them (RFC 7386); a typed API server would never show them.
    patch = {"spec": {"template": {"spec": {"tolerations": [{"key": "a", "value": None}]}}}}
    assert pod_spec(smp(patch))["tolerations"] == [{"key": "a"}]
    assert pod_spec(merge_patch(deployment(), patch))["tolerations"] == [
        {"key": "a", "value": None}]


def test_null_deletes_and_type_changes_replace() -> None:
    out = smp({"spec": {"replicas": None, "selector": "not-a-map",
                        "template": {"spec": {"containers": {"as": "map"}}}}})
    assert "replicas" not in out["spec"] and out["spec"]["selector"] == "not-a-map"
    assert pod_spec(out)["containers"] == {"as": "map"}


@pytest.mark.parametrize(
    ("patch", "reason", "message"),
    [
        ({"spec": {"strategy": {"$patch": "frob"}}}, "BadRequest", "unknown patch type: frob"),
        ({"spec": {"template": {"spec": {"containers": [{"$patch": "frob", "name": "app"}]}}}},
         "BadRequest", "unknown patch type: frob"),
        ({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}}, "Invalid",
         "does not contain declared merge key: name"),
        ({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}, "Invalid",
         "does not contain declared merge key: name"),
        ({"spec": {"template": {"spec": {"containers": ["app"]}}}}, "Invalid",
         "list element types are not identical"),
        ({"metadata": {"finalizers": [["x"]]}}, "Invalid", "lists of lists are not supported"),
        ({"spec": {"strategy": {"$retainKeys": "type"}}}, "BadRequest",
         "invalid patch format of retainKeys"),
        ({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}, "Invalid",
         "patch content doesn't match retainKeys list"),
        ({"metadata": {"$setElementOrder": ["a"]}}, "BadRequest",
         "invalid patch format of setElementOrder list"),
        ({"metadata": {"$setElementOrder/finalizers": "a"}}, "BadRequest",
         "invalid patch format of setElementOrder list"),
        ({"metadata": {"$deleteFromPrimitiveList/": ["a"]}}, "BadRequest",
         "invalid patch format of primitive list"),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, "BadRequest",
         "invalid patch format of primitive list"),
        ({"$patch": "delete"}, "Invalid", "would delete the whole object"),
    ],
)
def test_strategic_errors(patch: dict[str, Any], reason: str, message: str) -> None:
    target = deployment()
    with pytest.raises(PatchError) as info:
        strategic_merge_patch(target, patch, "Deployment")
    assert info.value.reason == reason and message in str(info.value)
    assert target == deployment()


def test_strategic_patch_must_be_an_object() -> None:
    with pytest.raises(PatchError) as info:
        strategic_merge_patch(deployment(), [1], "Deployment")  # type: ignore[arg-type]
    assert info.value.reason == "BadRequest"


def test_merge_key_numbers_compare_as_json() -> None:
    out = smp({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "ports": [{"containerPort": 80.0, "name": "web"}]}]}}}})
    assert [p["name"] for p in pod_spec(out)["containers"][0]["ports"]] == ["web", "metrics"]
    target = {"kind": "Pod", "metadata": {"finalizers": [1, 2]}}
    assert smp({"metadata": {"finalizers": [2.0, 3]}}, target, "Pod")["metadata"][
        "finalizers"] == [1, 2, 3]
    target = {"kind": "Pod", "metadata": {"finalizers": [1]}}
    with pytest.raises(PatchError, match="list element types are not identical"):
        strategic_merge_patch(target, {"metadata": {"finalizers": [True]}}, "Pod")


def test_strategic_result_shares_nothing_with_inputs() -> None:
    target, patch = deployment(), {"spec": {"template": {"spec": {"containers": [
        {"name": "new", "env": [{"name": "E"}]}]}}}}
    out = strategic_merge_patch(target, patch, "Deployment")
    for container in pod_spec(out)["containers"]:
        container["image"] = "mutated"
        container.setdefault("env", []).append({"name": "M"})
    out["metadata"]["finalizers"].append("m")
    assert target == deployment()
    assert patch["spec"]["template"]["spec"]["containers"][0] == {"name": "new",
                                                                   "env": [{"name": "E"}]}


# --- custom resources and content types -----------------------------------------------------


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_custom_resources_refuse_strategic(kind: str) -> None:
    assert not supports_strategic(kind)
    assert STRATEGIC_MERGE_PATCH not in patch_types(kind)
    with pytest.raises(UnsupportedPatch) as info:
        strategic_merge_patch({"apiVersion": "argoproj.io/v1alpha1"}, {}, kind)
    assert info.value.code == 415 and info.value.reason == "UnsupportedMediaType"
    assert f"strategic merge patch is not supported for {kind}.argoproj.io" in str(info.value)


@pytest.mark.parametrize("kind", ["Pod", "Node", "Namespace", "Deployment", "ReplicaSet",
                                  "Service", "ConfigMap", "Event", "Scale", "Job",
                                  "StatefulSet", "DaemonSet"])
def test_builtins_accept_strategic(kind: str) -> None:
    assert supports_strategic(kind)
    assert patch_types(kind) == (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)


def test_apply_patch_dispatch() -> None:
    target = deployment()
    body = json.dumps({"spec": {"replicas": 5}}).encode()
    for ctype in (MERGE_PATCH, STRATEGIC_MERGE_PATCH, "Application/Merge-Patch+JSON",
                  f"{STRATEGIC_MERGE_PATCH}; charset=utf-8"):
        assert apply_patch(target, body, ctype, "Deployment")["spec"]["replicas"] == 5
    ops = b'[{"op": "replace", "path": "/spec/replicas", "value": 7}]'
    assert apply_patch(target, ops, JSON_PATCH, "Deployment")["spec"]["replicas"] == 7
    # Merge patch replaces lists; strategic merges them by key.
    containers = json.dumps({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "a:9"}]}}}}).encode()
    merged = apply_patch(target, containers, MERGE_PATCH, "Deployment")
    assert pod_spec(merged)["containers"] == [{"name": "app", "image": "a:9"}]
    strategic = apply_patch(target, containers, STRATEGIC_MERGE_PATCH, "Deployment")
    assert names(pod_spec(strategic)["containers"]) == ["app", "side"]
    assert target == deployment()


def test_apply_patch_on_custom_resources() -> None:
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "spec": {"syncPolicy": {"automated": {"selfHeal": True}}}}
    body = b'{"spec": {"syncPolicy": {"automated": null}}}'
    assert apply_patch(app, body, MERGE_PATCH, "Application") == {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "spec": {"syncPolicy": {}}}
    with pytest.raises(UnsupportedPatch, match="not supported for Application.argoproj.io"):
        apply_patch(app, b"not even json", STRATEGIC_MERGE_PATCH, "Application")


@pytest.mark.parametrize(
    ("body", "ctype", "reason", "message"),
    [
        (b"{}", APPLY_PATCH, "UnsupportedMediaType", "server-side apply"),
        (b"{}", "text/plain", "UnsupportedMediaType",
         "accepted media types include: application/json-patch+json, "
         "application/merge-patch+json, application/strategic-merge-patch+json"),
        (b"{}", "", "UnsupportedMediaType", "unknown format"),
        (b"", MERGE_PATCH, "BadRequest", "the patch body is empty"),
        (b"  \n", STRATEGIC_MERGE_PATCH, "BadRequest", "the patch body is empty"),
        (b"{", MERGE_PATCH, "BadRequest", "the patch body is not valid JSON"),
        (b"\xff\xfe{", MERGE_PATCH, "BadRequest", "the patch body is not valid JSON"),
        (b'{"a": NaN}', MERGE_PATCH, "BadRequest", "NaN is not valid JSON"),
        (b"[1]", MERGE_PATCH, "BadRequest", "must be a JSON object"),
        (b'"x"', STRATEGIC_MERGE_PATCH, "BadRequest", "must be a JSON object"),
        (b"{}", JSON_PATCH, "BadRequest", "must be a JSON array of operations"),
        (b'[{"op": "replace", "path": "", "value": 1}]', JSON_PATCH, "Invalid",
         "did not leave a JSON object"),
        (b'[{"op": "remove", "path": "/nope"}]', JSON_PATCH, "Invalid", "non-existent"),
    ],
)
def test_apply_patch_errors(body: bytes, ctype: str, reason: str, message: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_patch(deployment(), body, ctype, "Deployment")
    assert info.value.reason == reason and message in str(info.value)
    assert info.value.code == {"BadRequest": 400, "Invalid": 422, "UnsupportedMediaType": 415}[
        reason]
    assert isinstance(info.value, UnsupportedPatch) == (reason == "UnsupportedMediaType")


# --- property-style checks (seeded; hypothesis is not a dependency) -------------------------


def random_json(rng: random.Random, depth: int = 0, nulls: bool = True) -> Any:
    """Random JSON; ``nulls=False`` keeps nulls out (used inside lists, see below)."""
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice([None, True, False, 0, 1, 2.5, "", "a", "b"][0 if nulls else 1:])
    if roll < 0.55:
        return [random_json(rng, depth + 1, False) for _ in range(rng.randrange(0, 4))]
    return {rng.choice("abcde"): random_json(rng, depth + 1, nulls)
            for _ in range(rng.randrange(0, 4))}


def random_object(rng: random.Random) -> dict[str, Any]:
    value = random_json(rng)
    return value if isinstance(value, dict) else {"x": value}


def test_random_merge_patches_are_pure_and_idempotent() -> None:
    rng = random.Random(1)
    for _ in range(400):
        target, patch = random_object(rng), random_object(rng)
        before = copy.deepcopy((target, patch))
        once = merge_patch(target, patch)
        assert (target, patch) == before
        assert merge_patch(once, patch) == once
        assert merge_patch(target, {}) == target


def test_strategic_equals_merge_patch_where_no_merge_keys_apply() -> None:
    """On fields without patch metadata, strategic merge patch is RFC 7386 exactly.

    (Except nulls inside list items: RFC 7386 keeps them, strategic merge drops them as a typed
    API server's decoding would, so the generator keeps nulls out of lists.)
    """
    rng = random.Random(2)
    for _ in range(400):
        target, patch = random_object(rng), random_object(rng)
        assert strategic_merge_patch(target, patch, "ConfigMap") == merge_patch(target, patch)


def test_random_json_patches_from_diffs() -> None:
    rng = random.Random(3)
    for _ in range(300):
        source, wanted = random_object(rng), random_object(rng)
        ops = jsonpatch.make_patch(source, wanted).patch
        before = copy.deepcopy((source, ops))
        assert json_patch(source, ops) == wanted
        assert (source, ops) == before


def test_random_directive_soup_never_leaves_directives() -> None:
    rng = random.Random(4)
    directives = [{"$patch": "delete"}, {"$patch": "replace"}, {"$patch": "merge"},
                  {"$retainKeys": ["name", "image", "env"]}]
    for _ in range(300):
        container: dict[str, Any] = {"name": rng.choice(["app", "side", "new"]),
                                     "image": rng.choice(["x", None])}
        container.update(rng.choice(directives + [{}]))
        env = [{"name": rng.choice("AB"), **rng.choice(directives[:3] + [{}])}]
        if rng.random() < 0.5:
            container["env"] = env
        spec: dict[str, Any] = {"containers": [container]}
        if rng.random() < 0.5:
            spec["$setElementOrder/containers"] = [{"name": "side"}, {"name": "app"}]
        if rng.random() < 0.3:
            spec["$patch"] = "merge"
        try:
            out = smp({"spec": {"template": {"spec": spec}}})
        except PatchError as exc:
            assert "retainKeys" in str(exc)
            continue
        assert all(isinstance(c, dict) for c in pod_spec(out).get("containers", []))


# --- hypothesis properties (run when hypothesis is installed; it is not a declared dependency)

try:
    from hypothesis import given
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - the seeded checks above still run
    st = None

if st is not None:
    _scalars = st.one_of(st.booleans(), st.integers(-3, 3), st.sampled_from(["", "a", "b"]))

    def _json(nulls: bool) -> st.SearchStrategy[Any]:
        leaves = st.one_of(st.none(), _scalars) if nulls else _scalars
        return st.recursive(leaves, lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from("abcd"), inner, max_size=3)), max_leaves=10)

    _objects = st.dictionaries(st.sampled_from("abcd"), _json(True), max_size=4)
    # Nulls inside lists are kept by RFC 7386 but dropped by strategic merge (see above).
    _list_safe = st.dictionaries(st.sampled_from("abcd"), st.one_of(
        st.none(), _json(False),
        st.dictionaries(st.sampled_from("abcd"), st.one_of(st.none(), _json(False)))),
        max_size=4)

    @given(_objects, _objects)
    def test_hypothesis_merge_patch_pure_and_idempotent(target: Any, patch: Any) -> None:
        before = copy.deepcopy((target, patch))
        once = merge_patch(target, patch)
        assert (target, patch) == before and merge_patch(once, patch) == once

    @given(_objects, _list_safe)
    def test_hypothesis_strategic_is_merge_patch_without_metadata(target: Any,
                                                                  patch: Any) -> None:
        assert strategic_merge_patch(target, patch, "ConfigMap") == merge_patch(target, patch)

    @given(_objects, _objects)
    def test_hypothesis_json_patch_applies_diffs(source: Any, wanted: Any) -> None:
        assert json_patch(source, jsonpatch.make_patch(source, wanted).patch) == wanted

    _directive_keys = st.sampled_from(["$patch", "$retainKeys", "$setElementOrder/containers",
                                       "$deleteFromPrimitiveList/finalizers", "name", "image",
                                       "containers", "env", "finalizers", "$patch"])
    _directive_values = st.one_of(st.sampled_from(["delete", "replace", "merge", "app", "x"]),
                                  st.lists(st.sampled_from(["app", "a", "name"]), max_size=2))
    _fuzz = st.recursive(
        st.one_of(st.none(), _directive_values),
        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                st.dictionaries(_directive_keys, inner, max_size=4)),
        max_leaves=15)

    @given(st.dictionaries(st.sampled_from(["spec", "metadata", "status"]), _fuzz, max_size=3))
    def test_hypothesis_strategic_fuzz(patch: dict[str, Any]) -> None:
        """Any patch either applies without leaving a directive, or is refused as a PatchError."""
        for kind, target in [("Deployment", deployment()),
                             ("Pod", {"kind": "Pod", "metadata": {"finalizers": ["a"]},
                                      "spec": pod_spec(deployment())})]:
            try:
                smp(patch, target, kind)
            except PatchError:
                pass
