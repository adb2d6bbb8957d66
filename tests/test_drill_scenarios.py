"""The drill cluster's scenarios end to end, on scenario time (deterministic, no sleeping).

Each test builds the whole drill (seed, every controller, the scenario, the exporter) with a
manual clock and advances it; nothing here depends on the machine's speed.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from drill.controllers.scenarios import BAD_CHECKOUT_IMAGE
from drill.resources import BY_KEY
from drill.runner import DrillCluster, DrillOptions

PODS = BY_KEY["pods"]
DEPLOY = BY_KEY["deployments.apps"]
RS = BY_KEY["replicasets.apps"]
APPS = BY_KEY["applications.argoproj.io"]
ROUTES = BY_KEY["httproutes.gateway.networking.k8s.io"]
NODES = BY_KEY["nodes"]
SERVICES = BY_KEY["services"]


def drill(scenario: str) -> DrillCluster:
    cluster = DrillCluster(DrillOptions(scenario=scenario, manual_clock=True))
    cluster.sim.step()
    return cluster


def pods_of(c: DrillCluster, ns: str, prefix: str) -> list[dict[str, Any]]:
    return [p for p in c.state.objects(PODS, ns) if p["metadata"]["name"].startswith(prefix)]


def waiting_reason(pod: dict[str, Any]) -> str:
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
        if reason:
            return str(reason)
    return ""


def restarts(pod: dict[str, Any]) -> int:
    return sum(int(cs.get("restartCount", 0))
               for cs in pod.get("status", {}).get("containerStatuses") or [])


def ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions") or [])


def app(c: DrillCluster, name: str) -> dict[str, Any]:
    return c.state.get(APPS, "argocd", name)


def test_bad_rollout_crash_loops_degrades_and_rolls_back_with_an_operation() -> None:
    c = drill("bad-rollout")
    c.sim.advance(60)
    bad = [p for p in pods_of(c, "checkout", "checkout-stable-")
           if p["spec"]["containers"][0]["image"] == BAD_CHECKOUT_IMAGE]
    assert bad, "the bad release was not synced"
    first = restarts(bad[0])
    c.sim.advance(90)
    bad = [p for p in pods_of(c, "checkout", "checkout-stable-")
           if p["spec"]["containers"][0]["image"] == BAD_CHECKOUT_IMAGE]
    assert any(waiting_reason(p) == "CrashLoopBackOff" for p in bad)
    assert max(restarts(p) for p in bad) > first >= 1
    d = c.state.get(DEPLOY, "checkout", "checkout-stable")
    assert d["status"]["replicas"] != d["spec"]["replicas"]  # DeploymentReplicasMismatch
    assert app(c, "checkout")["status"]["health"]["status"] == "Degraded"
    warnings = [e for e in c.state.objects(BY_KEY["events"], "checkout")
                if e["type"] == "Warning" and e["reason"] == "BackOff"]
    assert warnings and max(int(e["count"]) for e in warnings) >= 2
    metrics = c.exporter.render().decode()
    assert "kube_pod_container_status_restarts_total" in metrics

    # The on-call engineer's rollback: pause auto-sync, then an Argo CD operation to the
    # previous history entry (what the control room sends through the Kubernetes API).
    history = app(c, "checkout")["status"]["history"]
    previous = history[-2]

    def rollback(a: dict[str, Any]) -> dict[str, Any]:
        a["spec"]["syncPolicy"]["automated"] = None
        a["operation"] = {
            "initiatedBy": {"username": "oncall"},
            "info": [{"name": "reason", "value": "INC-1"}],
            "sync": {"revision": previous["revision"], "source": previous.get("source"),
                     "syncStrategy": {"apply": {}}, "prune": False},
        }
        return a

    c.state.mutate(APPS, "argocd", "checkout", rollback)
    c.sim.advance(120)
    a = app(c, "checkout")
    assert "operation" not in a
    assert a["status"]["operationState"]["phase"] == "Succeeded"
    assert a["status"]["history"][-1]["revision"] == previous["revision"]
    stable = pods_of(c, "checkout", "checkout-stable-")
    live = [p for p in stable if not p["metadata"].get("deletionTimestamp")]
    assert len(live) == 3 and all(ready(p) for p in live)
    assert all(p["spec"]["containers"][0]["image"] != BAD_CHECKOUT_IMAGE for p in live)
    assert a["status"]["health"]["status"] == "Healthy"
    assert c.sim.errors == []


def test_self_heal_reverts_a_hand_scale_until_sync_is_paused() -> None:
    c = drill("calm")
    c.sim.advance(10)

    def scale(n: int) -> None:
        c.state.mutate(DEPLOY, "payments", "payments",
                       lambda d: {**d, "spec": {**d["spec"], "replicas": n}})

    scale(5)
    c.sim.advance(c.config.self_heal_delay + 5)
    assert c.state.get(DEPLOY, "payments", "payments")["spec"]["replicas"] == 2
    prior = copy.deepcopy(app(c, "payments")["spec"]["syncPolicy"]["automated"])

    def pause(a: dict[str, Any]) -> dict[str, Any]:
        a["spec"]["syncPolicy"]["automated"] = {**prior, "enabled": False}
        return a

    c.state.mutate(APPS, "argocd", "payments", pause)
    scale(5)
    c.sim.advance(60)
    assert c.state.get(DEPLOY, "payments", "payments")["spec"]["replicas"] == 5
    assert app(c, "payments")["status"]["sync"]["status"] == "OutOfSync"
    live = [p for p in pods_of(c, "payments", "payments-") if ready(p)]
    assert len(live) == 5

    def restore(a: dict[str, Any]) -> dict[str, Any]:
        a["spec"]["syncPolicy"]["automated"] = prior
        return a

    c.state.mutate(APPS, "argocd", "payments", restore)
    c.sim.advance(c.config.self_heal_delay + 10)
    assert c.state.get(DEPLOY, "payments", "payments")["spec"]["replicas"] == 2
    assert app(c, "payments")["status"]["sync"]["status"] == "Synced"


def test_route_misconfig_sets_backend_not_found_and_a_fix_clears_it() -> None:
    c = drill("route-misconfig")
    c.sim.advance(30)
    route = c.state.get(ROUTES, "checkout", "checkout")
    names = [r["name"] for rule in route["spec"]["rules"] for r in rule["backendRefs"]]
    assert "checkout-cnry" in names
    conds = {x["type"]: x for x in route["status"]["parents"][0]["conditions"]}
    assert conds["ResolvedRefs"]["status"] == "False"
    assert conds["ResolvedRefs"]["reason"] == "BackendNotFound"
    assert conds["ResolvedRefs"]["observedGeneration"] == route["metadata"]["generation"]
    assert 'http_requests_total{app="checkout-cnry",code="500"' in c.exporter.render().decode()
    # The fix lands in Git (the route is Git-tracked: a hand edit would be self-healed back).
    c.git.commit("checkout", "Fix canary backend name",
                 {"routes": {"checkout": {"checkout-stable": 90, "checkout-canary": 10}}})
    c.sim.advance(20)
    route = c.state.get(ROUTES, "checkout", "checkout")
    conds = {x["type"]: x for x in route["status"]["parents"][0]["conditions"]}
    assert conds["ResolvedRefs"]["status"] == "True"
    assert conds["ResolvedRefs"]["observedGeneration"] == route["metadata"]["generation"]


def test_node_loss_reschedules_pods_onto_the_rest_of_the_pool() -> None:
    c = drill("node-loss")
    c.sim.advance(25)
    lost = next(iter(c.config.down_nodes))
    on_lost = {p["metadata"]["name"] for p in c.state.objects(PODS)
               if p["spec"].get("nodeName") == lost}
    assert on_lost
    c.sim.advance(c.config.node_grace_seconds + c.config.eviction_seconds + 40)
    node = c.state.get(NODES, "", lost)
    ready_cond = next(x for x in node["status"]["conditions"] if x["type"] == "Ready")
    assert ready_cond["status"] == "Unknown"
    assert not [p for p in c.state.objects(PODS) if p["spec"].get("nodeName") == lost]
    for d in c.state.objects(DEPLOY):
        if d["metadata"]["namespace"] in ("frontend", "checkout", "payments", "catalog"):
            assert d["status"].get("readyReplicas", 0) == d["spec"]["replicas"], d["metadata"]


def test_scale_to_zero_and_back() -> None:
    c = drill("calm")

    def pause_and_scale(n: int) -> None:
        c.state.mutate(APPS, "argocd", "catalog",
                       lambda a: {**a, "spec": {**a["spec"], "syncPolicy": {
                           **a["spec"]["syncPolicy"], "automated": None}}})
        c.state.mutate(DEPLOY, "catalog", "catalog",
                       lambda d: {**d, "spec": {**d["spec"], "replicas": n}})

    pause_and_scale(0)
    c.sim.advance(2)
    assert all(p["metadata"].get("deletionTimestamp") for p in pods_of(c, "catalog", "catalog-"))
    c.sim.advance(10)
    assert pods_of(c, "catalog", "catalog-") == []
    pause_and_scale(3)
    c.sim.advance(15)
    pods = pods_of(c, "catalog", "catalog-")
    assert len(pods) == 3 and all(ready(p) for p in pods)


@pytest.mark.parametrize("scenario", ["calm", "bad-rollout", "node-loss", "route-misconfig",
                                      "oom"])
def test_every_scenario_runs_ten_minutes_without_controller_errors(scenario: str) -> None:
    c = drill(scenario)
    c.sim.advance(600)
    assert c.sim.errors == []
    assert c.scenario is not None
    assert len(c.scenario.fired) == len(c.scenario.scenario.steps)


def test_whole_drill_survives_thirty_minutes_of_interference() -> None:
    """Random scales, patches and deletes (what engineers and kubectl do mid-incident) for 30
    simulated minutes during bad-rollout: no controller error, no impossible state."""
    import random

    from drill import errors

    c = drill("bad-rollout")
    rng = random.Random(42)
    deployments = [(d["metadata"]["namespace"], d["metadata"]["name"])
                   for d in c.state.objects(DEPLOY)]
    apps = [a["metadata"]["name"] for a in c.state.objects(APPS)]
    elapsed = 0.0
    while elapsed < 30 * 60:
        choice = rng.random()
        try:
            if choice < 0.3:
                ns, name = rng.choice(deployments)
                n = rng.randint(0, 5)
                c.state.mutate(DEPLOY, ns, name,
                               lambda d, n=n: {**d, "spec": {**d["spec"], "replicas": n}})
            elif choice < 0.5:
                live = c.state.objects(PODS)
                if live:
                    p = rng.choice(live)["metadata"]
                    c.state.delete(PODS, p["namespace"], p["name"],
                                   grace_seconds=rng.choice([0, None]))
            elif choice < 0.65:
                name = rng.choice(apps)
                enabled = rng.choice([True, False, None])

                def flip(a: dict[str, Any], enabled: bool | None = enabled) -> dict[str, Any]:
                    policy = a["spec"].setdefault("syncPolicy", {})
                    policy["automated"] = None if enabled is None else {
                        "prune": True, "selfHeal": True, "enabled": enabled}
                    return a

                c.state.mutate(APPS, "argocd", name, flip)
            elif choice < 0.75:
                route = rng.choice(c.state.objects(ROUTES))
                w = rng.randint(0, 100)

                def weigh(r: dict[str, Any], w: int = w) -> dict[str, Any]:
                    for rule in r["spec"]["rules"]:
                        for ref in rule.get("backendRefs", []):
                            ref["weight"] = w
                    return r

                c.state.mutate(ROUTES, route["metadata"]["namespace"],
                               route["metadata"]["name"], weigh)
            elif choice < 0.8:
                rs = rng.choice(c.state.objects(RS))["metadata"]
                c.state.delete(RS, rs["namespace"], rs["name"])
        except errors.ApiError:
            pass  # a race with a controller, as kubectl would see it: Conflict or NotFound
        step = rng.uniform(1, 20)
        c.sim.advance(step)
        elapsed += step
    assert c.sim.errors == []
    # nothing impossible: every pod's owner exists (or it is terminating), counts add up
    rs_names = {(r["metadata"]["namespace"], r["metadata"]["name"])
                for r in c.state.objects(RS)}
    for p in c.state.objects(PODS):
        owner = p["metadata"]["ownerReferences"][0]["name"]
        assert (p["metadata"]["namespace"], owner) in rs_names or \
            p["metadata"].get("deletionTimestamp")
    for d in c.state.objects(DEPLOY):
        assert d["status"].get("replicas", 0) >= 0 and d["spec"]["replicas"] >= 0
