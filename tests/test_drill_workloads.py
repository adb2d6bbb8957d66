"""The drill cluster's workload controllers: rollouts, crash loops, node loss, interference.

Every test runs the real seed platform on a manual clock: time moves only through
``Simulation.advance``, so each scenario is deterministic and takes milliseconds of wall time
for minutes of cluster time. Assertions are about what a real cluster would show an on-call
engineer (counters, revisions, conditions, events), and about the invariants a rollout must
keep at every tick, not only at its end.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from drill import errors
from drill.controllers.config import SimConfig
from drill.controllers.core import EventRecorder, SimClock, Simulation
from drill.controllers.workloads import (
    DeploymentController,
    Kubelet,
    MetricsController,
    NodeController,
    ReplicaSetController,
    controllers,
    fenceposts,
)
from drill.patch import JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH
from drill.resources import BY_KEY
from drill.seed import seed_objects
from drill.seed_workloads import node_names, template_hash
from drill.state import ClusterState

Obj = dict[str, Any]

PODS = BY_KEY["pods"]
NODES = BY_KEY["nodes"]
DEPLOYS = BY_KEY["deployments.apps"]
RSS = BY_KEY["replicasets.apps"]
EVENTS = BY_KEY["events"]
POD_METRICS = BY_KEY["pods.metrics.k8s.io"]
NODE_METRICS = BY_KEY["nodes.metrics.k8s.io"]
START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
REVISION = "deployment.kubernetes.io/revision"


@dataclass
class Drill:
    clock: SimClock
    state: ClusterState
    config: SimConfig
    sim: Simulation

    def advance(self, seconds: float) -> None:
        self.sim.advance(seconds)
        assert self.sim.errors == []

    # ------------------------------------------------------------------ reading

    def deploy(self, ns: str, name: str) -> Obj:
        return self.state.get(DEPLOYS, ns, name)

    def replicasets(self, ns: str, name: str) -> list[Obj]:
        uid = self.deploy(ns, name)["metadata"]["uid"]
        return [rs for rs in self.state.objects(RSS, ns) if _owner(rs) == uid]

    def rs_by_revision(self, ns: str, name: str) -> dict[int, Obj]:
        return {int(rs["metadata"]["annotations"][REVISION]): rs
                for rs in self.replicasets(ns, name)}

    def pods(self, ns: str, name: str, *, terminating: bool = False) -> list[Obj]:
        owners = {rs["metadata"]["uid"] for rs in self.replicasets(ns, name)}
        return [p for p in self.state.objects(PODS, ns) if _owner(p) in owners
                and (terminating or not p["metadata"].get("deletionTimestamp"))]

    def ready_pods(self, ns: str, name: str) -> list[Obj]:
        return [p for p in self.pods(ns, name) if _ready(p)]

    def events(self, reason: str, name_prefix: str = "") -> list[Obj]:
        return [e for e in self.state.objects(EVENTS) if e["reason"] == reason
                and e["involvedObject"]["name"].startswith(name_prefix)]

    # ------------------------------------------------------------------ writing, as kubectl

    def scale(self, ns: str, name: str, replicas: int) -> None:
        self.state.patch(DEPLOYS, ns, name,
                         json.dumps({"spec": {"replicas": replicas}}).encode(), MERGE_PATCH)

    def set_image(self, ns: str, name: str, image: str) -> None:
        """``kubectl set image``: a strategic merge patch keyed by container name."""
        container = self.deploy(ns, name)["spec"]["template"]["spec"]["containers"][0]["name"]
        body = {"spec": {"template": {"spec": {"containers": [
            {"name": container, "image": image}]}}}}
        self.state.patch(DEPLOYS, ns, name, json.dumps(body).encode(), STRATEGIC_MERGE_PATCH)

    def image(self, ns: str, name: str) -> str:
        return str(self.deploy(ns, name)["spec"]["template"]["spec"]["containers"][0]["image"])


def _owner(obj: Obj) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref["uid"])
    return None


def _ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod.get("status", {}).get("conditions") or ())


def _condition(obj: Obj, ctype: str) -> Obj:
    return next(c for c in obj["status"]["conditions"] if c["type"] == ctype)


def make_drill(config: SimConfig | None = None) -> Drill:
    clock = SimClock(start=START, manual=True)
    state = ClusterState(clock=clock.now)
    state.load(seed_objects(START))
    config = config or SimConfig()
    recorder = EventRecorder(state, clock.now)
    sim = Simulation(state, clock, controllers(state, recorder, config))
    return Drill(clock, state, config, sim)


@pytest.fixture
def drill() -> Iterator[Drill]:
    yield make_drill()


# ------------------------------------------------------------------------------ basics


def test_controllers_run_in_dependency_order(drill: Drill) -> None:
    kinds = [type(c) for c in drill.sim.controllers]
    assert kinds == [DeploymentController, ReplicaSetController, Kubelet, NodeController,
                     MetricsController]
    assert "pods" in drill.state.graceful


def test_fenceposts_round_surge_up_and_unavailable_down() -> None:
    def deploy(replicas: int, surge: Any, unavailable: Any) -> Obj:
        return {"spec": {"replicas": replicas, "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}}
    assert fenceposts(deploy(3, "25%", "25%")) == (1, 0)
    assert fenceposts(deploy(10, "25%", "25%")) == (3, 2)
    assert fenceposts(deploy(4, 2, 1)) == (2, 1)
    assert fenceposts(deploy(4, 0, 0)) == (0, 1)
    assert fenceposts(deploy(5, "0%", "0%")) == (0, 1)


def test_idle_cluster_writes_only_metrics_and_heartbeats(drill: Drill) -> None:
    drill.advance(5)  # the seed is in steady state: nothing to settle but the first scrape
    before = drill.state.rv
    drill.advance(60)
    writes: Counter[str] = Counter()
    for key, rt in BY_KEY.items():
        for ev in drill.state.history(rt).events:
            if ev.rv > before:
                writes[key] += 1
                if key == "nodes":
                    assert ev.type == "MODIFIED" and ev.prev is not None
                    old = [{k: v for k, v in c.items() if k != "lastHeartbeatTime"}
                           for c in ev.prev["status"]["conditions"]]
                    new = [{k: v for k, v in c.items() if k != "lastHeartbeatTime"}
                           for c in ev.entry.obj["status"]["conditions"]]
                    assert old == new, "a heartbeat changes nothing but lastHeartbeatTime"
    assert set(writes) <= {"pods.metrics.k8s.io", "nodes.metrics.k8s.io", "nodes"}, writes
    nodes = drill.state.count(NODES)
    assert nodes <= writes["nodes"] <= 2 * nodes  # one heartbeat per node per 40 s
    assert writes["nodes.metrics.k8s.io"] == 4 * nodes  # a scrape every 15 s


# ------------------------------------------------------------------------------ scaling


def test_scale_to_zero_and_back(drill: Drill) -> None:
    drill.scale("frontend", "web", 0)
    drill.advance(1)
    terminating = drill.pods("frontend", "web", terminating=True)
    assert len(terminating) == 3
    assert all(p["metadata"].get("deletionTimestamp") for p in terminating)
    assert not any(_ready(p) for p in terminating)
    assert len(drill.events("Killing", "web-")) == 3
    drill.advance(3)
    assert drill.pods("frontend", "web", terminating=True) == []
    status = drill.deploy("frontend", "web")["status"]
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (0, 0, 0)
    assert _condition(drill.deploy("frontend", "web"), "Available")["status"] == "True"

    drill.scale("frontend", "web", 3)
    drill.advance(1)
    pods = drill.pods("frontend", "web")
    assert len(pods) == 3
    assert {p["status"]["phase"] for p in pods} == {"Pending"}
    waiting = pods[0]["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ContainerCreating"
    # Spread over the three nodes of the user pool.
    assert {p["spec"]["nodeName"] for p in pods} == set(node_names("userblue"))
    drill.advance(10)
    pods = drill.ready_pods("frontend", "web")
    assert len(pods) == 3
    for pod in pods:
        status = pod["status"]
        assert status["phase"] == "Running" and status["podIP"] and status["hostIP"]
        cs = status["containerStatuses"][0]
        assert cs["ready"] and cs["started"] and cs["containerID"].startswith("containerd://")
        assert cs["imageID"]
        types = {c["type"]: c["status"] for c in status["conditions"]}
        assert types == {"PodScheduled": "True", "Initialized": "True", "Ready": "True",
                         "ContainersReady": "True", "PodReadyToStartContainers": "True"}
    status = drill.deploy("frontend", "web")["status"]
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (3, 3, 3)
    assert "unavailableReplicas" not in status
    name = pods[0]["metadata"]["name"]
    for reason in ("Scheduled", "Pulling", "Pulled", "Created", "Started"):
        assert drill.events(reason, name), reason
    rs = drill.replicasets("frontend", "web")
    assert sum(r["spec"]["replicas"] for r in rs) == 3
    assert drill.events("SuccessfulCreate") and drill.events("SuccessfulDelete")
    messages = {e["message"] for e in drill.events("ScalingReplicaSet", "web")}
    current = next(r for r in rs if r["spec"]["replicas"])["metadata"]["name"]
    assert f"Scaled down replica set {current} from 3 to 0" in messages
    assert f"Scaled up replica set {current} from 0 to 3" in messages


def test_new_deployment_gets_its_first_replicaset(drill: Drill) -> None:
    drill.state.create(DEPLOYS, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "hello"}},
                 "template": {"metadata": {"labels": {"app": "hello"}},
                              "spec": {"containers": [{"name": "app", "image": "hello:1"}]}}}})
    drill.advance(0.5)
    [rs] = drill.replicasets("default", "hello")
    meta = rs["metadata"]
    assert meta["name"] == f"hello-{meta['labels']['pod-template-hash']}"
    assert rs["spec"]["selector"]["matchLabels"] == {
        "app": "hello", "pod-template-hash": meta["labels"]["pod-template-hash"]}
    assert meta["annotations"][REVISION] == "1"
    [ref] = meta["ownerReferences"]
    assert ref["controller"] is True and ref["blockOwnerDeletion"] is True
    assert _condition(drill.deploy("default", "hello"), "Progressing")["reason"] == \
        "NewReplicaSetCreated"
    drill.advance(10)
    deploy = drill.deploy("default", "hello")
    assert deploy["metadata"]["annotations"][REVISION] == "1"
    assert deploy["status"]["readyReplicas"] == 2
    assert _condition(deploy, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert _condition(deploy, "Available")["reason"] == "MinimumReplicasAvailable"
    [event] = drill.events("ScalingReplicaSet", "hello")
    assert event["message"] == f"Scaled up replica set {meta['name']} from 0 to 2"
    assert event["source"]["component"] == "deployment-controller"


def test_deleted_pod_is_replaced(drill: Drill) -> None:
    victim = drill.pods("payments", "payments")[0]["metadata"]["name"]
    drill.state.delete(PODS, "payments", victim)
    drill.advance(0.5)
    pods = drill.pods("payments", "payments")
    assert len(pods) == 2 and victim not in {p["metadata"]["name"] for p in pods}
    drill.advance(10)
    assert drill.state.find(PODS, "payments", victim) is None
    assert len(drill.ready_pods("payments", "payments")) == 2


# ------------------------------------------------------------------------------ rollouts


@pytest.mark.parametrize(("ns", "name", "strategy", "surge", "unavailable"), [
    ("frontend", "web", None, 1, 0),  # 3 replicas, 25%/25%
    ("checkout", "checkout-stable", {"maxSurge": 2, "maxUnavailable": 1}, 2, 1),
    ("frontend", "web", {"maxSurge": "0%", "maxUnavailable": "50%"}, 0, 1),
])
def test_rolling_update_honours_surge_and_unavailable(
        drill: Drill, ns: str, name: str, strategy: Obj | None, surge: int,
        unavailable: int) -> None:
    if strategy is not None:
        body = {"spec": {"strategy": {"rollingUpdate": strategy}}}
        drill.state.patch(DEPLOYS, ns, name, json.dumps(body).encode(), MERGE_PATCH)
        drill.advance(1)
    replicas = drill.deploy(ns, name)["spec"]["replicas"]
    revisions = drill.rs_by_revision(ns, name)
    first = max(revisions)
    old_rs = revisions[first]
    drill.set_image(ns, name, drill.image(ns, name) + "-next")
    seen_total = 0
    for _ in range(120):
        drill.advance(0.5)
        total = len(drill.pods(ns, name))
        ready = len(drill.ready_pods(ns, name))
        seen_total = max(seen_total, total)
        assert total <= replicas + surge
        assert ready >= replicas - unavailable
    assert seen_total == replicas + surge  # the surge was used
    revisions = drill.rs_by_revision(ns, name)
    assert max(revisions) == first + 1
    new_rs = revisions[first + 1]
    assert new_rs["spec"]["replicas"] == replicas
    assert new_rs["status"]["readyReplicas"] == replicas
    assert drill.state.get(RSS, ns, old_rs["metadata"]["name"])["spec"]["replicas"] == 0
    assert new_rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == \
        str(replicas)
    assert new_rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == \
        str(replicas + surge)
    deploy = drill.deploy(ns, name)
    assert deploy["metadata"]["annotations"][REVISION] == str(first + 1)
    status = deploy["status"]
    assert status["observedGeneration"] == deploy["metadata"]["generation"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"],
            status["availableReplicas"]) == (replicas, replicas, replicas, replicas)
    progressing = _condition(deploy, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
    assert progressing["message"] == \
        f'ReplicaSet "{new_rs["metadata"]["name"]}" has successfully progressed.'
    assert _condition(deploy, "Available")["status"] == "True"
    assert all(p["spec"]["containers"][0]["image"].endswith("-next")
               for p in drill.pods(ns, name))


def test_rollout_then_json_patch_rollback_reuses_the_old_replicaset(drill: Drill) -> None:
    ns, name = "kube-system", "coredns"
    assert drill.deploy(ns, name)["metadata"]["annotations"][REVISION] == "1"
    original = drill.rs_by_revision(ns, name)[1]
    drill.set_image(ns, name, drill.image(ns, name) + "-next")
    drill.advance(1)
    progressing = _condition(drill.deploy(ns, name), "Progressing")
    assert progressing["reason"] in ("NewReplicaSetCreated", "ReplicaSetUpdated")
    drill.advance(30)
    revisions = drill.rs_by_revision(ns, name)
    assert sorted(revisions) == [1, 2]
    assert drill.deploy(ns, name)["metadata"]["annotations"][REVISION] == "2"
    assert revisions[2]["spec"]["replicas"] == 2 and revisions[1]["spec"]["replicas"] == 0

    # What `kubectl rollout undo` sends (operations.md section 3): the old template without
    # pod-template-hash, as one JSON patch.
    template = json.loads(json.dumps(original["spec"]["template"]))
    del template["metadata"]["labels"]["pod-template-hash"]
    patch = [{"op": "replace", "path": "/spec/template", "value": template}]
    drill.state.patch(DEPLOYS, ns, name, json.dumps(patch).encode(), JSON_PATCH)
    drill.advance(30)
    rss = drill.replicasets(ns, name)
    assert len(rss) == 2, "a rollback reuses the old ReplicaSet instead of creating one"
    back = drill.state.get(RSS, ns, original["metadata"]["name"])
    annotations = back["metadata"]["annotations"]
    assert annotations[REVISION] == "3"
    assert annotations["deployment.kubernetes.io/revision-history"] == "1"
    assert back["spec"]["replicas"] == 2 and back["status"]["readyReplicas"] == 2
    assert drill.rs_by_revision(ns, name)[2]["spec"]["replicas"] == 0
    deploy = drill.deploy(ns, name)
    assert deploy["metadata"]["annotations"][REVISION] == "3"
    assert deploy["status"]["updatedReplicas"] == 2
    assert _condition(deploy, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert {p["spec"]["containers"][0]["image"] for p in drill.pods(ns, name)} == \
        {original["spec"]["template"]["spec"]["containers"][0]["image"]}


def test_recreate_strategy_stops_old_pods_first(drill: Drill) -> None:
    ns, name = "payments", "payments"
    body = {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}}}
    drill.state.patch(DEPLOYS, ns, name, json.dumps(body).encode(), MERGE_PATCH)
    drill.advance(1)
    old_image = drill.image(ns, name)
    drill.set_image(ns, name, old_image + "-next")
    mixed = False
    for _ in range(40):
        drill.advance(0.5)
        images = {p["spec"]["containers"][0]["image"]
                  for p in drill.pods(ns, name, terminating=True)}
        mixed = mixed or len(images) > 1
    assert not mixed, "Recreate never runs old and new pods side by side"
    assert len(drill.ready_pods(ns, name)) == 2
    assert {p["spec"]["containers"][0]["image"] for p in drill.pods(ns, name)} == \
        {old_image + "-next"}


def test_paused_deployment_does_not_roll_out_but_still_scales(drill: Drill) -> None:
    ns, name = "catalog", "catalog"
    drill.state.patch(DEPLOYS, ns, name, b'{"spec":{"paused":true}}', MERGE_PATCH)
    drill.advance(1)
    assert _condition(drill.deploy(ns, name), "Progressing")["reason"] == "DeploymentPaused"
    before = {rs["metadata"]["name"] for rs in drill.replicasets(ns, name)}
    drill.set_image(ns, name, drill.image(ns, name) + "-next")
    drill.scale(ns, name, 3)
    drill.advance(15)
    assert {rs["metadata"]["name"] for rs in drill.replicasets(ns, name)} == before
    assert len(drill.ready_pods(ns, name)) == 3
    status = drill.deploy(ns, name)["status"]
    assert status["observedGeneration"] == drill.deploy(ns, name)["metadata"]["generation"]
    assert status["readyReplicas"] == 3
    drill.state.patch(DEPLOYS, ns, name, b'{"spec":{"paused":false}}', MERGE_PATCH)
    drill.advance(40)
    assert all(p["spec"]["containers"][0]["image"].endswith("-next")
               for p in drill.ready_pods(ns, name))
    assert len(drill.ready_pods(ns, name)) == 3


def test_replicaset_name_collision_bumps_collision_count(drill: Drill) -> None:
    ns, name = "payments", "payments"
    deploy = drill.deploy(ns, name)
    template = json.loads(json.dumps(deploy["spec"]["template"]))
    template["spec"]["containers"][0]["image"] += "-next"
    squatter = f"{name}-{template_hash(template)}"
    drill.state.create(RSS, {  # an unrelated ReplicaSet already holds the name
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": squatter, "namespace": ns},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "squatter"}},
                 "template": {"metadata": {"labels": {"app": "squatter"}},
                              "spec": {"containers": [{"name": "x", "image": "x:1"}]}}}})
    drill.set_image(ns, name, template["spec"]["containers"][0]["image"])
    drill.advance(30)
    deploy = drill.deploy(ns, name)
    assert deploy["status"]["collisionCount"] == 1
    current = drill.rs_by_revision(ns, name)[max(drill.rs_by_revision(ns, name))]
    assert current["metadata"]["name"] == f"{name}-{template_hash(template, 1)}"
    assert current["status"]["readyReplicas"] == 2
    assert drill.state.get(RSS, ns, squatter)["spec"]["template"]["metadata"]["labels"] == \
        {"app": "squatter"}


def test_old_replicasets_beyond_history_limit_are_deleted(drill: Drill) -> None:
    ns, name = "frontend", "web"
    drill.state.patch(DEPLOYS, ns, name, b'{"spec":{"revisionHistoryLimit":1}}', MERGE_PATCH)
    base = drill.image(ns, name)
    for i in range(3):
        drill.set_image(ns, name, f"{base}-{i}")
        drill.advance(30)
    revisions = drill.rs_by_revision(ns, name)
    assert len(revisions) == 2  # the current one and one to roll back to
    assert revisions[max(revisions)]["spec"]["template"]["spec"]["containers"][0]["image"] == \
        f"{base}-2"


# ------------------------------------------------------------------------------ failures


def test_bad_image_crash_loops_and_the_rollout_times_out(drill: Drill) -> None:
    ns, name = "frontend", "web"
    bad = drill.image(ns, name) + "-broken"
    drill.config.bad_images.add(bad)
    drill.set_image(ns, name, bad)
    drill.advance(5)
    [pod] = [p for p in drill.pods(ns, name) if p["spec"]["containers"][0]["image"] == bad]
    pod_name = pod["metadata"]["name"]
    restarts: list[int] = []
    backoffs: list[str] = []
    counts: list[int] = []
    for _ in range(12):
        drill.advance(30)
        pod = drill.state.get(PODS, ns, pod_name)
        cs = pod["status"]["containerStatuses"][0]
        assert not cs["ready"] and not _ready(pod)
        restarts.append(cs["restartCount"])
        waiting = cs["state"].get("waiting")
        if waiting:
            assert waiting["reason"] == "CrashLoopBackOff"
            backoffs.append(waiting["message"].split()[1])
            assert f"container=web pod={pod_name}_{ns}(" in waiting["message"]
        term = cs["lastState"]["terminated"]
        assert (term["exitCode"], term["reason"]) == (1, "Error")
        assert term["startedAt"] <= term["finishedAt"]
        [event] = drill.events("BackOff", pod_name)
        assert event["type"] == "Warning"
        assert event["message"].startswith("Back-off restarting failed container web in pod ")
        counts.append(event["count"])
    assert restarts == sorted(restarts) and restarts[-1] >= 4
    assert counts == sorted(counts) and counts[-1] > counts[0]
    assert backoffs[0] in ("10s", "20s", "40s")
    assert "1m20s" in backoffs or "2m40s" in backoffs
    assert drill.events("Unhealthy", pod_name)[0]["type"] == "Warning"
    # The healthy old pods keep serving: maxUnavailable 0 stops the rollout at one new pod.
    assert len(drill.ready_pods(ns, name)) == 3
    deploy = drill.deploy(ns, name)
    assert _condition(deploy, "Available")["status"] == "True"
    assert deploy["status"]["unavailableReplicas"] == 1
    assert _condition(deploy, "Progressing")["status"] == "True"  # 6 min < 10 min deadline
    drill.advance(300)
    progressing = _condition(drill.deploy(ns, name), "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert progressing["message"].endswith("has timed out progressing.")

    # Fixing the image (a new rollout) recovers, and the broken ReplicaSet goes to zero.
    drill.set_image(ns, name, bad.removesuffix("-broken") + "-fixed")
    drill.advance(60)
    assert len(drill.ready_pods(ns, name)) == 3
    assert all(p["spec"]["containers"][0]["image"].endswith("-fixed")
               for p in drill.pods(ns, name))
    assert _condition(drill.deploy(ns, name), "Progressing")["reason"] == "NewReplicaSetAvailable"


def test_unschedulable_pod_stays_pending_with_failed_scheduling(drill: Drill) -> None:
    ns, name = "catalog", "catalog"
    body = {"spec": {"template": {"spec": {"nodeSelector": {"agentpool": "gpu"}}}}}
    drill.state.patch(DEPLOYS, ns, name, json.dumps(body).encode(), STRATEGIC_MERGE_PATCH)
    drill.advance(10)
    pending = [p for p in drill.pods(ns, name) if not p["spec"].get("nodeName")]
    assert len(pending) == 1
    pod = pending[0]
    assert pod["status"]["phase"] == "Pending"
    sched = _condition(pod, "PodScheduled")
    assert (sched["status"], sched["reason"]) == ("False", "Unschedulable")
    assert sched["message"].startswith("0/5 nodes are available: 5 node(s) didn't match "
                                       "Pod's node affinity/selector.")
    [event] = drill.events("FailedScheduling", pod["metadata"]["name"])
    assert event["type"] == "Warning" and event["message"] == sched["message"]
    assert len(drill.ready_pods(ns, name)) == 2
    # Scaling the pending pod away removes it at once: nothing runs it.
    drill.state.patch(DEPLOYS, ns, name, json.dumps(
        {"spec": {"template": {"spec": {"nodeSelector": {"agentpool": "userblue"}}}}}).encode(),
        STRATEGIC_MERGE_PATCH)
    drill.advance(30)
    assert drill.state.find(PODS, ns, pod["metadata"]["name"]) is None
    assert len(drill.ready_pods(ns, name)) == 2


def test_pending_pod_is_bound_when_a_node_frees_up(drill: Drill) -> None:
    ns, name = "frontend", "web"
    for node in node_names("userblue"):  # kubectl cordon
        drill.state.patch(NODES, "", node, b'{"spec":{"unschedulable":true}}', MERGE_PATCH)
    victim = drill.pods(ns, name)[0]["metadata"]["name"]
    drill.state.delete(PODS, ns, victim)
    drill.advance(5)
    [pending] = [p for p in drill.pods(ns, name) if not p["spec"].get("nodeName")]
    message = _condition(pending, "PodScheduled")["message"]
    assert message == ("0/5 nodes are available: 2 node(s) didn't match Pod's node "
                       "affinity/selector, 3 node(s) were unschedulable. preemption: 0/5 nodes "
                       "are available: 5 Preemption is not helpful for scheduling.")
    drill.advance(120)
    [event] = drill.events("FailedScheduling", pending["metadata"]["name"])
    assert event["count"] == 3  # retried every tick, reported once a minute
    uncordoned = node_names("userblue")[1]
    drill.state.patch(NODES, "", uncordoned, b'{"spec":{"unschedulable":null}}', MERGE_PATCH)
    drill.advance(10)
    bound = drill.state.get(PODS, ns, pending["metadata"]["name"])
    assert bound["spec"]["nodeName"] == uncordoned
    assert _ready(bound) and _condition(bound, "PodScheduled")["status"] == "True"
    assert drill.events("Scheduled", pending["metadata"]["name"])
    assert len(drill.ready_pods(ns, name)) == 3


def test_node_down_goes_unknown_and_its_pods_move(drill: Drill) -> None:
    node = node_names("userblue")[0]
    others = set(node_names("userblue")) - {node}
    victims = {(p["metadata"]["namespace"], p["metadata"]["name"])
               for p in drill.state.objects(PODS) if p["spec"].get("nodeName") == node}
    assert victims
    drill.config.down_nodes.add(node)
    drill.advance(10)
    assert _condition(drill.state.get(NODES, "", node), "Ready")["status"] == "True"
    drill.advance(15)
    lost = drill.state.get(NODES, "", node)
    ready = _condition(lost, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    assert {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute",
            "timeAdded": lost["spec"]["taints"][1]["timeAdded"]} in lost["spec"]["taints"]
    assert drill.events("NodeNotReady", node)
    assert not any(_ready(drill.state.get(PODS, ns, name)) for ns, name in victims)
    drill.advance(35)
    assert all(drill.state.find(PODS, ns, name) is None for ns, name in victims)
    drill.advance(15)
    for ns, name in (("frontend", "web"), ("checkout", "checkout-stable"),
                     ("payments", "payments"), ("catalog", "catalog")):
        pods = drill.ready_pods(ns, name)
        assert len(pods) == drill.deploy(ns, name)["spec"]["replicas"]
        assert {p["spec"]["nodeName"] for p in pods} <= others
    assert not any(p["spec"].get("nodeName") == node for p in drill.state.objects(PODS))
    assert drill.state.find(NODE_METRICS, "", node) is None

    drill.config.down_nodes.discard(node)
    drill.advance(1)
    back = drill.state.get(NODES, "", node)
    assert _condition(back, "Ready")["status"] == "True"
    assert "taints" not in back["spec"]
    drill.advance(20)
    assert drill.state.find(NODE_METRICS, "", node) is not None


def test_node_back_before_eviction_keeps_its_pods(drill: Drill) -> None:
    node = node_names("system")[1]
    mine = {(p["metadata"]["namespace"], p["metadata"]["name"])
            for p in drill.state.objects(PODS) if p["spec"].get("nodeName") == node}
    drill.config.down_nodes.add(node)
    drill.advance(25)
    assert _condition(drill.state.get(NODES, "", node), "Ready")["status"] == "Unknown"
    assert not any(_ready(drill.state.get(PODS, ns, n)) for ns, n in mine)
    drill.config.down_nodes.discard(node)
    drill.advance(1)
    assert all(_ready(drill.state.get(PODS, ns, n)) for ns, n in mine)
    assert drill.events("NodeReady", node)


# ------------------------------------------------------------------------------ metrics


def test_metrics_cover_running_pods_and_nodes_and_move(drill: Drill) -> None:
    drill.advance(1)
    running = {(p["metadata"]["namespace"], p["metadata"]["name"])
               for p in drill.state.objects(PODS) if p["status"].get("phase") == "Running"}
    metrics = {(m["metadata"]["namespace"], m["metadata"]["name"]): m
               for m in drill.state.objects(POD_METRICS)}
    assert set(metrics) == running
    first = {k: m["containers"][0]["usage"]["cpu"] for k, m in metrics.items()}
    for m in metrics.values():
        assert m["window"] == "30s" and m["timestamp"]
        usage = m["containers"][0]["usage"]
        assert usage["cpu"].endswith("n") and usage["memory"].endswith("Ki")
    nodes = {n["metadata"]["name"]: n for n in drill.state.objects(NODES)}
    for nm in drill.state.objects(NODE_METRICS):
        alloc = nodes[nm["metadata"]["name"]]["status"]["allocatable"]
        cpu = int(nm["usage"]["cpu"].removesuffix("n")) / 1e9
        mem = int(nm["usage"]["memory"].removesuffix("Ki")) * 1024
        assert 0 < cpu < int(alloc["cpu"].removesuffix("m")) / 1000
        assert 0 < mem < int(alloc["memory"].removesuffix("Ki")) * 1024
        pods_cpu = sum(int(c["usage"]["cpu"].removesuffix("n")) / 1e9
                       for (ns, pn), m in metrics.items()
                       if drill.state.get(PODS, ns, pn)["spec"]["nodeName"] ==
                       nm["metadata"]["name"] for c in m["containers"])
        assert cpu > pods_cpu  # pods plus the node's own daemons
    drill.advance(15)
    moved = {(m["metadata"]["namespace"], m["metadata"]["name"]):
             m["containers"][0]["usage"]["cpu"] for m in drill.state.objects(POD_METRICS)}
    assert moved != first

    # Same seed, same numbers; deleted pods lose their metrics.
    twin = make_drill()
    twin.advance(16)
    assert [m["containers"] for m in twin.state.objects(POD_METRICS)] == \
        [m["containers"] for m in drill.state.objects(POD_METRICS)]
    drill.scale("frontend", "web", 0)
    drill.advance(20)
    assert not [m for m in drill.state.objects(POD_METRICS, "frontend")]


# ------------------------------------------------------------------------------ interference


def _check_owners(drill: Drill) -> None:
    rs_uids = {rs["metadata"]["uid"] for rs in drill.state.objects(RSS)}
    for pod in drill.state.objects(PODS):
        owner = _owner(pod)
        assert owner is None or owner in rs_uids or pod["metadata"].get("deletionTimestamp"), \
            f"pod {pod['metadata']['name']} outlived its ReplicaSet"


def test_random_interference_never_breaks_the_controllers() -> None:
    drill = make_drill(SimConfig(seed=7))
    rng = random.Random(20260302)
    deploys = [(d["metadata"]["namespace"], d["metadata"]["name"])
               for d in drill.state.objects(DEPLOYS)]
    good = {key: drill.image(*key) for key in deploys}
    for image in good.values():
        drill.config.bad_images.add(image + "-broken")
    all_nodes = node_names()
    actions: Counter[str] = Counter()

    def interfere() -> None:
        ns, name = rng.choice(deploys)
        action = rng.choice(["scale", "scale", "image", "image", "delete-pod", "delete-pod",
                             "delete-rs", "node", "rollback"])
        actions[action] += 1
        if action == "scale":
            drill.scale(ns, name, rng.randint(0, 4))
        elif action == "image":
            drill.set_image(ns, name, good[(ns, name)] + rng.choice(["", "-v2", "-broken"]))
        elif action == "delete-pod":
            pods = drill.pods(ns, name, terminating=True)
            if pods:
                victim = rng.choice(pods)["metadata"]["name"]
                drill.state.delete(PODS, ns, victim, grace_seconds=rng.choice([None, 0]))
        elif action == "delete-rs":
            rss = drill.replicasets(ns, name)
            if rss:
                drill.state.delete(RSS, ns, rng.choice(rss)["metadata"]["name"])
        elif action == "rollback":
            rss = sorted(drill.replicasets(ns, name),
                         key=lambda rs: int(rs["metadata"]["annotations"][REVISION]))
            if len(rss) >= 2:
                template = json.loads(json.dumps(rss[-2]["spec"]["template"]))
                template["metadata"]["labels"].pop("pod-template-hash", None)
                patch = [{"op": "replace", "path": "/spec/template", "value": template}]
                drill.state.patch(DEPLOYS, ns, name, json.dumps(patch).encode(), JSON_PATCH)
        else:  # at most one node down at a time, so every pool keeps a node
            if drill.config.down_nodes:
                drill.config.down_nodes.clear()
            else:
                drill.config.down_nodes.add(rng.choice(all_nodes))

    elapsed = 0.0
    while elapsed < 30 * 60:
        if rng.random() < 0.15:
            try:
                interfere()
            except errors.ApiError:
                pass  # refused by the API (e.g. a ReplicaSet deleted in between): fine
        drill.sim.advance(0.5)
        elapsed += 0.5
        assert drill.sim.errors == []
        _check_owners(drill)
    assert min(actions.values()) >= 10, actions

    drill.config.down_nodes.clear()
    drill.advance(5 * 60)
    _check_owners(drill)
    for ns, name in deploys:
        deploy = drill.deploy(ns, name)
        replicas = deploy["spec"]["replicas"]
        surge, _ = fenceposts(deploy)
        assert len(drill.pods(ns, name)) <= replicas + surge
        if drill.image(ns, name) in drill.config.bad_images:
            continue
        assert deploy["status"]["readyReplicas"] == replicas, (ns, name, deploy["status"])
        assert deploy["status"]["updatedReplicas"] == replicas
        assert len(drill.ready_pods(ns, name)) == replicas
        current = [rs for rs in drill.replicasets(ns, name) if rs["spec"]["replicas"]]
        assert len(current) <= 1
        revisions = drill.rs_by_revision(ns, name)
        assert deploy["metadata"]["annotations"][REVISION] == str(max(revisions))
    for node in drill.state.objects(NODES):
        assert _condition(node, "Ready")["status"] == "True"

    # Once every image is good again the cluster comes to rest: no controller keeps writing.
    for key in deploys:
        if drill.image(*key) in drill.config.bad_images:
            drill.set_image(*key, good[key])
    drill.advance(5 * 60)
    before = drill.state.rv
    drill.advance(60)
    busy = {key for key, rt in BY_KEY.items()
            if any(ev.rv > before for ev in drill.state.history(rt).events)}
    assert busy <= {"pods.metrics.k8s.io", "nodes.metrics.k8s.io", "nodes"}, busy
