"""Byte decoders for Argo CD Applications, Gateway API and AGC kinds, against the fixtures."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from backends.kube.decode import decode_list, decode_object
from backends.model import AlbRow, AppRow, GatewayRow, RouteRow, find_condition
from tests.kubefixtures import (
    HOSTILE,
    as_list,
    assert_clean,
    epoch,
    fixture_doc,
    fixture_docs,
    to_bytes,
)

VELERO = "argocd/argocd-application-velero.yaml"


def app(doc: dict[str, Any]) -> AppRow:
    row = decode_object("applications", to_bytes(doc))
    assert isinstance(row, AppRow)
    return row


def velero() -> dict[str, Any]:
    return copy.deepcopy(fixture_doc(VELERO))


# ---------------------------------------------------------------- Argo CD


def test_velero_application() -> None:
    row = app(velero())
    assert row.key == "argo-cd/velero-test"
    assert (row.owner_kind, row.owner_name) == ("ApplicationSet", "velero")
    assert len(row.history) == 10
    assert [h.id for h in row.history] == list(range(14, 24))
    assert row.history[-1].revision == "ea8759964626a583667a2bfd08f334ec2070040a"
    assert row.history[-1].deployed_at == epoch("2024-03-05T07:33:04Z")
    # syncPolicy has retry and syncOptions but no automated block: auto-sync is off.
    assert (row.auto_sync, row.automated_json, row.self_heal, row.prune) == (
        "off",
        None,
        False,
        False,
    )
    assert (row.sync_status, row.health_status, row.revision) == ("Synced", "Healthy", "rev1")
    assert (row.operation_phase, row.operation_pending, row.operation_in_progress) == (
        "Succeeded",
        False,
        False,
    )
    assert row.operation_message == "successfully synced (all tasks run)"
    assert (row.project, row.destination_namespace, row.destination) == (
        "sre",
        "test-lla",
        "gke-alpha-01-europe-west1",
    )
    assert row.images == ("nginx:latest",)
    assert (row.target_revision, row.multi_source) == ("test-lla", False)


@pytest.mark.parametrize(
    ("automated", "state", "self_heal", "prune"),
    [
        ({"prune": True, "selfHeal": True}, "on", True, True),
        ({}, "on", False, False),
        ({"selfHeal": True, "enabled": True}, "on", True, False),
        ({"prune": True, "selfHeal": True, "enabled": False}, "paused", True, True),
        (None, "off", False, False),
    ],
)
def test_auto_sync_states_follow_operations_md(
    automated: dict[str, Any] | None, state: str, self_heal: bool, prune: bool
) -> None:
    doc = velero()
    doc["spec"]["syncPolicy"]["automated"] = automated
    row = app(doc)
    assert (row.auto_sync, row.self_heal, row.prune) == (state, self_heal, prune)
    if automated is None:
        assert row.automated_json is None
    else:
        assert row.automated_json is not None
        assert json.loads(row.automated_json) == automated  # exact block, for restore


def test_automated_block_is_kept_verbatim_with_unknown_fields() -> None:
    doc = velero()
    doc["spec"]["syncPolicy"]["automated"] = {"prune": True, "allowEmpty": True, "future": 1}
    row = app(doc)
    assert row.automated_json is not None
    assert json.loads(row.automated_json) == {"prune": True, "allowEmpty": True, "future": 1}


def test_operation_in_flight() -> None:
    doc = velero()
    doc["operation"] = {"sync": {"revision": "abc"}, "initiatedBy": {"username": "me"}}
    row = app(doc)
    assert row.operation_pending and row.operation_in_progress
    doc = velero()
    doc["operation"] = None
    doc["status"]["operationState"]["phase"] = "Running"
    row = app(doc)
    assert not row.operation_pending and row.operation_in_progress


def test_multi_source_application() -> None:
    doc = velero()
    del doc["spec"]["source"]
    doc["spec"]["sources"] = [
        {"repoURL": "https://a", "targetRevision": "main"},
        {"repoURL": "https://b", "targetRevision": "v2"},
    ]
    doc["status"]["sync"] = {"status": "OutOfSync", "revisions": ["r1", "r2"]}
    doc["status"]["history"][0] = {
        "id": 1,
        "revisions": ["r0", "r9"],
        "deployedAt": "2024-01-01T00:00:00Z",
    }
    row = app(doc)
    assert (row.multi_source, row.revision, row.target_revision) == (True, "r1,r2", "main,v2")
    assert row.repo_url == "https://a,https://b"
    assert row.history[0].revision == "r0,r9"


def test_application_conditions_and_hostile_strings() -> None:
    doc = velero()
    doc["status"]["conditions"] = [{"type": "ComparisonError", "message": HOSTILE}]
    doc["status"]["health"]["message"] = HOSTILE
    doc["metadata"]["name"] = HOSTILE
    row = app(doc)
    assert row.conditions[0].type == "ComparisonError"
    assert_clean(row)


def test_application_list() -> None:
    result = decode_list("applications", as_list(velero(), velero()))
    assert len(result.rows) == 2 and result.errors == ()


# ---------------------------------------------------------------- gateways


def gateway(relative: str, index: int = 0) -> GatewayRow:
    row = decode_object("gateways", to_bytes(fixture_docs(relative)[index]))
    assert isinstance(row, GatewayRow)
    return row


def route(relative: str, index: int = 0) -> RouteRow:
    row = decode_object("httproutes", to_bytes(fixture_docs(relative)[index]))
    assert isinstance(row, RouteRow)
    return row


def test_gateway_listener_not_accepted() -> None:
    row = gateway("gateway/argocd-gateway-listener-not-accepted.yaml")
    assert (row.key, row.gateway_class) == ("default/example-gateway", "example-gateway-class")
    programmed = find_condition(row.conditions, "Programmed")
    assert programmed is not None and programmed.status == "True"
    assert programmed.observed_generation == 1
    (listener,) = row.listeners
    assert (listener.name, listener.port, listener.protocol, listener.attached_routes) == (
        "http",
        80,
        "HTTP",
        0,
    )
    accepted = find_condition(listener.conditions, "Accepted")
    assert accepted is not None
    assert (accepted.status, accepted.reason) == ("False", "ListenerNotAccepted")
    assert accepted.last_transition == epoch("2023-03-02T15:00:00Z")


def test_gateway_invalid_certificate_ref() -> None:
    row = gateway("gateway/cilium-gateway-invalid-certificate-ref.yaml")
    assert row.created == 0.0  # creationTimestamp: null
    (listener,) = row.listeners
    assert (listener.port, listener.protocol) == (443, "HTTPS")
    refs = find_condition(listener.conditions, "ResolvedRefs")
    assert refs is not None and (refs.status, refs.reason) == ("False", "InvalidCertificateRef")


def test_gateway_waiting_for_address() -> None:
    row = gateway("gateway/cilium-gateway-mixed-address-pending.yaml")
    programmed = find_condition(row.conditions, "Programmed")
    assert programmed is not None
    assert (programmed.status, programmed.reason) == ("False", "AddressNotAssigned")
    assert row.addresses == ()
    assert [(x.name, x.port, x.protocol, x.attached_routes) for x in row.listeners] == [
        ("http", 80, "HTTP", 1),
        ("tcp", 3000, "TCP", 1),
    ]


def test_spec_only_gateway_and_route_documents() -> None:
    gw = gateway("gateway/gateway-api-example-gateway.yaml", 0)
    assert gw.key == "/example-gateway" and gw.conditions == ()
    assert [(x.name, x.port, x.conditions) for x in gw.listeners] == [("http", 80, ())]
    rt = route("gateway/gateway-api-example-gateway.yaml", 1)
    assert rt.hostnames == ("example.com",) and rt.parents == ()
    backend = rt.rules[0].backends[0]
    assert (backend.name, backend.port, backend.weight, backend.kind) == (
        "example-svc",
        80,
        1,
        "Service",
    )
    foo = route("gateway/gateway-api-example-httproute.yaml")
    assert foo.rules[0].matches == ("PathPrefix /login",)
    assert foo.hostnames == ("foo.example.com",)


def test_gateway_status_for_listener_missing_from_spec_is_kept() -> None:
    doc = fixture_doc("gateway/argocd-gateway-listener-not-accepted.yaml")
    doc = copy.deepcopy(doc)
    doc["spec"]["listeners"] = []
    row = decode_object("gateways", to_bytes(doc))
    assert isinstance(row, GatewayRow)
    assert [(x.name, x.port) for x in row.listeners] == [("http", 0)]


# ---------------------------------------------------------------- routes


def test_route_backend_not_found() -> None:
    row = route("gateway/argocd-httproute-backend-not-found.yaml")
    (parent,) = row.parents
    refs = find_condition(parent.conditions, "ResolvedRefs")
    assert refs is not None
    assert (refs.status, refs.reason, refs.observed_generation) == ("False", "BackendNotFound", 1)
    assert (parent.ref.name, parent.ref.section_name, parent.controller) == (
        "example-gateway",
        "http",
        "example.io/gateway-controller",
    )
    backend = row.rules[0].backends[0]
    assert (backend.name, backend.namespace, backend.port, backend.weight) == (
        "service-does-not-exist",
        "default",
        8080,
        1,
    )


def test_route_with_two_parents_at_different_generations() -> None:
    row = route("gateway/argocd-httproute-two-parents.yaml")
    assert row.generation == 2
    assert row.hostnames == ("example-httproute.example.com",)
    (ref,) = row.parent_refs
    assert (ref.namespace, ref.name, ref.section_name) == (
        "envoy-gateway-system",
        "eg",
        "foo-nonexistent",
    )
    first, second = row.parents
    a1 = find_condition(first.conditions, "Accepted")
    a2 = find_condition(second.conditions, "Accepted")
    assert a1 is not None and a2 is not None
    assert (a1.status, a1.reason, a1.observed_generation) == ("False", "NoMatchingParent", 1)
    assert (a2.status, a2.observed_generation) == ("True", 2)
    assert second.ref.section_name == "https-net"


def test_cilium_route_accepted() -> None:
    row = route("gateway/cilium-httproute-accepted.yaml")
    (parent,) = row.parents
    assert parent.controller == "io.cilium/gateway-controller"
    assert all(c.status == "True" for c in parent.conditions)
    assert row.rules[0].matches == ("PathPrefix /",)
    assert row.rules[0].backends[0].name == "infra-backend-v1"


def test_route_weights() -> None:
    doc = copy.deepcopy(fixture_doc("gateway/cilium-httproute-accepted.yaml"))
    doc["spec"]["rules"][0]["backendRefs"] = [
        {"name": "blue", "port": 80, "weight": 90},
        {"name": "green", "port": 80, "weight": 0, "namespace": "other"},
    ]
    doc["spec"]["hostnames"] = [HOSTILE]
    row = decode_object("httproutes", to_bytes(doc))
    assert isinstance(row, RouteRow)
    assert [(b.name, b.namespace, b.weight) for b in row.rules[0].backends] == [
        ("blue", "gateway-conformance-infra", 90),
        ("green", "other", 0),
    ]
    assert_clean(row)


# ---------------------------------------------------------------- AGC


def test_application_load_balancer() -> None:
    alb = {
        "apiVersion": "alb.networking.azure.io/v1",
        "kind": "ApplicationLoadBalancer",
        "metadata": {"name": "alb-test", "namespace": "alb-infra", "generation": 3},
        "status": {
            "conditions": [
                {
                    "type": "Accepted",
                    "status": "True",
                    "reason": "Accepted",
                    "observedGeneration": 3,
                },
                {
                    "type": "Deployment",
                    "status": "False",
                    "reason": "InProgress",
                    "message": "Application Gateway for Containers resource is being provisioned",
                },
            ]
        },
    }
    (row,) = decode_list("applicationloadbalancers", as_list(alb)).rows
    assert isinstance(row, AlbRow)
    assert (row.key, row.generation) == ("alb-infra/alb-test", 3)
    deployment = find_condition(row.conditions, "Deployment")
    assert deployment is not None and deployment.reason == "InProgress"
