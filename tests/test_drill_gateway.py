"""The drill's AGC ALB controller writes the status a traffic move must wait for.

An emergency redirect is only done when the route reports Accepted/ResolvedRefs for its new
``observedGeneration`` (reference/operations.md section 6); these tests break and fix routes
on the seeded drill cluster in scenario time and assert exactly those conditions, the
Gateway's address and attached-route counts, and that an idle drill writes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from drill.controllers.config import SimConfig
from drill.controllers.core import EventRecorder, SimClock, Simulation
from drill.controllers.gateway import (
    ALB_CONTROLLER,
    GatewayController,
    alb_address,
    hostnames_intersect,
)
from drill.resources import BY_KEY
from drill.seed import seed_objects
from drill.state import ClusterState

CLASSES = BY_KEY["gatewayclasses.gateway.networking.k8s.io"]
GATEWAYS = BY_KEY["gateways.gateway.networking.k8s.io"]
ROUTES = BY_KEY["httproutes.gateway.networking.k8s.io"]
ALBS = BY_KEY["applicationloadbalancers.alb.networking.azure.io"]
SERVICES = BY_KEY["services"]
EVENTS = BY_KEY["events"]
GW_NS, GW = "azure-alb-system", "gateway-01"
ADDRESS = re.compile(r"^[0-9a-f]{16}\.fz\d{2}\.alb\.azure\.com$")


@dataclass
class Drill:
    clock: SimClock
    state: ClusterState
    sim: Simulation

    def advance(self, seconds: float) -> None:
        self.sim.advance(seconds)
        assert self.sim.errors == []

    def json_patch(self, rt: Any, ns: str, name: str, ops: list[dict[str, Any]]) -> None:
        self.state.patch(rt, ns, name, json.dumps(ops).encode(), "application/json-patch+json")

    def route(self, name: str = "checkout", ns: str = "checkout") -> dict[str, Any]:
        return self.state.get(ROUTES, ns, name)

    def gateway(self) -> dict[str, Any]:
        return self.state.get(GATEWAYS, GW_NS, GW)


def conditions(parent_or_obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in parent_or_obj["conditions"]}


def attached(gw: dict[str, Any]) -> dict[str, int]:
    return {ls["name"]: ls["attachedRoutes"] for ls in gw["status"]["listeners"]}


@pytest.fixture
def drill() -> Iterator[Drill]:
    clock = SimClock(manual=True)
    state = ClusterState()
    state.clock = clock.now
    state.load(seed_objects(clock.now()))
    recorder = EventRecorder(state, clock.now)
    sim = Simulation(state, clock, [GatewayController(state, recorder, SimConfig())])
    yield Drill(clock, state, sim)


def test_hostname_matching() -> None:
    assert hostnames_intersect("*.drill.example.com", ["checkout.drill.example.com"])
    assert hostnames_intersect(None, ["anything.example"])
    assert hostnames_intersect("*.drill.example.com", [])
    assert not hostnames_intersect("*.drill.example.com", ["shop.other.example"])
    assert ADDRESS.match(alb_address("ns", "gw"))


def test_seed_gateway_is_programmed_and_idle_drill_is_quiet(drill: Drill) -> None:
    writes: list[str] = []
    drill.state.observers.append(lambda rt, typ, obj, prev: writes.append(rt.key))
    drill.advance(5)
    assert writes == []
    gw = drill.gateway()
    conds = conditions(gw["status"])
    assert conds["Accepted"]["status"] == conds["Programmed"]["status"] == "True"
    assert conds["Programmed"]["observedGeneration"] == gw["metadata"]["generation"]
    assert ADDRESS.match(gw["status"]["addresses"][0]["value"])
    assert attached(gw) == {"http": 4, "https": 4}
    for listener in gw["status"]["listeners"]:
        lc = conditions(listener)
        assert lc["Accepted"]["status"] == lc["Programmed"]["status"] == "True"
        assert lc["Conflicted"]["status"] == "False"
        assert listener["supportedKinds"] == [{"group": "gateway.networking.k8s.io",
                                               "kind": "HTTPRoute"}]
    alb = conditions(drill.state.get(ALBS, GW_NS, "alb-drill")["status"])
    assert alb["Deployment"]["status"] == "True" and alb["Deployment"]["reason"] == "Ready"


def test_cleared_statuses_are_written_back(drill: Drill) -> None:
    for rt, ns, name in ((CLASSES, "", "azure-alb-external"), (GATEWAYS, GW_NS, GW),
                         (ALBS, GW_NS, "alb-drill"), (ROUTES, "checkout", "checkout")):
        drill.state.mutate(rt, ns, name, lambda o: {**o, "status": {}}, subresource="status")
    drill.advance(1)
    gc = conditions(drill.state.get(CLASSES, "", "azure-alb-external")["status"])
    assert gc["Accepted"]["status"] == "True"
    gw = drill.gateway()
    assert ADDRESS.match(gw["status"]["addresses"][0]["value"])
    assert attached(gw) == {"http": 4, "https": 4}
    assert conditions(drill.state.get(ALBS, GW_NS, "alb-drill")["status"])["Accepted"][
        "status"] == "True"
    parent = drill.route()["status"]["parents"][0]
    assert parent["controllerName"] == ALB_CONTROLLER
    assert {t: c["status"] for t, c in conditions(parent).items()} == {
        "Accepted": "True", "ResolvedRefs": "True", "Programmed": "True"}
    address = gw["status"]["addresses"]
    drill.advance(5)
    assert drill.gateway()["status"]["addresses"] == address  # stable once assigned


def test_missing_backend_is_reported_at_the_new_generation_and_fix_clears_it(
        drill: Drill) -> None:
    accepted_since = conditions(drill.route()["status"]["parents"][0])["Accepted"][
        "lastTransitionTime"]
    drill.clock.advance(60)
    drill.json_patch(ROUTES, "checkout", "checkout", [
        {"op": "replace", "path": "/spec/rules/0/backendRefs/1/name", "value": "checkout-cnry"}])
    route = drill.route()
    assert route["metadata"]["generation"] == 2
    drill.advance(1)
    parent = drill.route()["status"]["parents"][0]
    conds = conditions(parent)
    assert {c["observedGeneration"] for c in conds.values()} == {2}
    assert conds["ResolvedRefs"]["status"] == "False"
    assert conds["ResolvedRefs"]["reason"] == "BackendNotFound"
    assert conds["ResolvedRefs"]["message"] == 'Service "checkout-cnry" not found'
    assert conds["Programmed"]["status"] == "False"
    assert conds["Accepted"]["status"] == "True"
    assert conds["Accepted"]["lastTransitionTime"] == accepted_since  # no flip, no new time
    broke_at = conds["ResolvedRefs"]["lastTransitionTime"]
    warnings = [e for e in drill.state.objects(EVENTS, "checkout")
                if e["type"] == "Warning" and e["involvedObject"]["name"] == "checkout"]
    assert [(e["reason"], e["message"], e["count"]) for e in warnings] == [
        ("BackendNotFound", 'Service "checkout-cnry" not found', 1)]
    assert attached(drill.gateway()) == {"http": 4, "https": 4}  # attached, just unresolved

    drill.clock.advance(30)
    drill.json_patch(ROUTES, "checkout", "checkout", [
        {"op": "replace", "path": "/spec/rules/0/backendRefs/1/name", "value": "checkout-canary"}])
    drill.advance(1)
    conds = conditions(drill.route()["status"]["parents"][0])
    assert {c["observedGeneration"] for c in conds.values()} == {3}
    assert conds["ResolvedRefs"]["status"] == conds["Programmed"]["status"] == "True"
    assert conds["ResolvedRefs"]["reason"] == "ResolvedRefs"
    assert conds["ResolvedRefs"]["lastTransitionTime"] > broke_at


def test_deleted_service_breaks_the_route_without_a_spec_change(drill: Drill) -> None:
    drill.state.delete(SERVICES, "payments", "payments")
    drill.advance(1)
    conds = conditions(drill.route("payments", "payments")["status"]["parents"][0])
    assert conds["ResolvedRefs"]["status"] == "False"
    assert conds["ResolvedRefs"]["observedGeneration"] == 1


def test_parent_ref_to_a_missing_gateway_is_not_accepted(drill: Drill) -> None:
    drill.json_patch(ROUTES, "catalog", "catalog", [
        {"op": "replace", "path": "/spec/parentRefs/0/name", "value": "gateway-02"}])
    drill.advance(1)
    parents = drill.route("catalog", "catalog")["status"]["parents"]
    assert len(parents) == 1 and parents[0]["parentRef"]["name"] == "gateway-02"
    conds = conditions(parents[0])
    assert conds["Accepted"]["status"] == "False"
    assert conds["Accepted"]["reason"] == "NoMatchingParent"
    assert conds["Accepted"]["observedGeneration"] == 2
    assert conds["Programmed"]["status"] == "False"
    assert attached(drill.gateway()) == {"http": 3, "https": 3}


def test_listener_hostname_and_section_name_decide_attachment(drill: Drill) -> None:
    drill.json_patch(ROUTES, "catalog", "catalog", [
        {"op": "replace", "path": "/spec/hostnames", "value": ["catalog.other.example"]},
        {"op": "add", "path": "/spec/parentRefs/0/sectionName", "value": "https"}])
    drill.advance(1)
    conds = conditions(drill.route("catalog", "catalog")["status"]["parents"][0])
    assert conds["Accepted"]["status"] == "False"
    assert conds["Accepted"]["reason"] == "NoMatchingListenerHostname"
    assert attached(drill.gateway()) == {"http": 3, "https": 3}
    drill.json_patch(ROUTES, "catalog", "catalog", [
        {"op": "replace", "path": "/spec/parentRefs/0/sectionName", "value": "http"}])
    drill.advance(1)
    assert conditions(drill.route("catalog", "catalog")["status"]["parents"][0])[
        "Accepted"]["status"] == "True"
    assert attached(drill.gateway()) == {"http": 4, "https": 3}


def test_gateways_of_other_classes_are_left_alone(drill: Drill) -> None:
    drill.state.create(GATEWAYS, {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "istio", "namespace": GW_NS},
        "spec": {"gatewayClassName": "istio",
                 "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}})
    drill.state.create(GATEWAYS, {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "gateway-02", "namespace": GW_NS},
        "spec": {"gatewayClassName": "azure-alb-external",
                 "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"},
                               {"name": "tcp", "port": 80, "protocol": "TCP"}]}})
    drill.advance(1)
    # Left alone: only the status the Gateway CRD's schema defaults on create, as the real
    # server stores it (no controller of that class wrote anything).
    assert [(c["type"], c["status"], c["reason"]) for c in
            drill.state.get(GATEWAYS, GW_NS, "istio")["status"]["conditions"]] == [
        ("Accepted", "Unknown", "Pending"), ("Programmed", "Unknown", "Pending")]
    new = drill.state.get(GATEWAYS, GW_NS, "gateway-02")
    assert new["status"]["addresses"][0]["value"] == alb_address(GW_NS, "gateway-02")
    listeners = {ls["name"]: conditions(ls) for ls in new["status"]["listeners"]}
    assert listeners["http"]["Conflicted"]["status"] == "True"
    assert listeners["http"]["Conflicted"]["reason"] == "ProtocolConflict"
    assert listeners["tcp"]["Accepted"]["reason"] == "UnsupportedProtocol"
