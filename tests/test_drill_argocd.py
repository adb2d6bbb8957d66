"""The drill's Argo CD behaves like the real one where on-call engineers get hurt.

Each test drives the seeded drill cluster in scenario time (a manual clock, no sleeps) through
the same state methods the API server uses, and asserts what upstream Argo CD would show:
auto-sync of a new commit, selfHeal reverting a hand scale, both ways of pausing, restoring the
exact prior policy, rollback through ``.operation``, history trimming, a failed operation, and
interference that must never crash the controller (reference/operations.md sections 1 and 2).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from drill.controllers.argocd import ArgoCDController, auto_sync_enabled, deployment_health
from drill.controllers.config import SimConfig
from drill.controllers.core import EventRecorder, SimClock, Simulation
from drill.controllers.gateway import GatewayController
from drill.controllers.gitrepo import GitRepo
from drill.resources import BY_KEY
from drill.seed import seed_objects
from drill.state import ClusterState

APPS = BY_KEY["applications.argoproj.io"]
DEPLOY = BY_KEY["deployments.apps"]
ROUTES = BY_KEY["httproutes.gateway.networking.k8s.io"]
EVENTS = BY_KEY["events"]
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
NEW_IMAGE = "ghcr.io/drill/checkout:1.5.0"


@dataclass
class Drill:
    clock: SimClock
    state: ClusterState
    git: GitRepo
    config: SimConfig
    sim: Simulation

    def app(self, name: str = "checkout") -> dict[str, Any]:
        return self.state.get(APPS, "argocd", name)

    def deploy(self, name: str = "checkout-stable", ns: str = "checkout") -> dict[str, Any]:
        return self.state.get(DEPLOY, ns, name)

    def image(self, name: str = "checkout-stable") -> str:
        image: str = self.deploy(name)["spec"]["template"]["spec"]["containers"][0]["image"]
        return image

    def patch(self, rt: Any, ns: str, name: str, body: Any, ctype: str = MERGE) -> None:
        self.state.patch(rt, ns, name, json.dumps(body).encode(), ctype)

    def scale(self, replicas: int, name: str = "checkout-stable") -> None:
        self.patch(DEPLOY, "checkout", name, {"spec": {"replicas": replicas}})

    def set_automated(self, block: Any, app: str = "checkout") -> None:
        """Replace the whole ``automated`` block exactly (a JSON patch, as a restore must)."""
        self.patch(APPS, "argocd", app, [{"op": "add", "path": "/spec/syncPolicy/automated",
                                          "value": block}], JSON_PATCH)

    def settle(self, name: str = "checkout-stable", ns: str = "checkout") -> None:
        """Stand-in for the deployment controller: the rollout finished."""
        def done(d: dict[str, Any]) -> dict[str, Any]:
            n = d["spec"].get("replicas", 1)
            d["status"].update(observedGeneration=d["metadata"]["generation"], replicas=n,
                               updatedReplicas=n, readyReplicas=n, availableReplicas=n)
            return d
        self.state.mutate(DEPLOY, ns, name, done, subresource="status")

    def events(self, reason: str) -> list[str]:
        return [e["message"] for e in self.state.objects(EVENTS, "argocd")
                if e["reason"] == reason and e["involvedObject"]["name"] == "checkout"]

    def advance(self, seconds: float) -> None:
        self.sim.advance(seconds)
        assert self.sim.errors == []


@pytest.fixture
def drill() -> Iterator[Drill]:
    clock = SimClock(manual=True)
    state = ClusterState()
    state.clock = clock.now
    state.load(seed_objects(clock.now()))
    recorder = EventRecorder(state, clock.now)
    config = SimConfig()
    git = GitRepo.from_seed(clock.now(), clock.now)
    sim = Simulation(state, clock, [ArgoCDController(state, recorder, config, git),
                                    GatewayController(state, recorder, config)])
    yield Drill(clock, state, git, config, sim)


def commit_new_image(d: Drill) -> str:
    return d.git.commit("checkout", "checkout 1.5.0",
                        {"deployments": {"checkout-stable": {"image": NEW_IMAGE}}})


# ------------------------------------------------------------------------------- basics


@pytest.mark.parametrize(("automated", "on"), [
    (None, False), ({}, True), ({"selfHeal": True}, True), ({"enabled": True}, True),
    ({"enabled": False, "selfHeal": True}, False),
])
def test_auto_sync_is_on_exactly_per_the_contract(automated: Any, on: bool) -> None:
    policy: dict[str, Any] = {} if automated is None else {"automated": automated}
    assert auto_sync_enabled({"spec": {"syncPolicy": policy}}) is on


def test_idle_seed_is_synced_healthy_and_quiet(drill: Drill) -> None:
    writes: list[str] = []
    drill.state.observers.append(lambda rt, typ, obj, prev: writes.append(rt.key))
    drill.advance(10)
    assert writes == []
    for app in drill.state.objects(APPS, "argocd"):
        assert app["status"]["sync"]["status"] == "Synced", app["metadata"]["name"]
        assert app["status"]["health"]["status"] == "Healthy", app["metadata"]["name"]


def test_progress_deadline_is_degraded() -> None:
    d: dict[str, Any] = {
        "metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 2},
        "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1,
                   "conditions": [{"type": "Progressing", "status": "False",
                                   "reason": "ProgressDeadlineExceeded"}]}}
    assert deployment_health(d) == ("Degraded",
                                    'Deployment "web" exceeded its progress deadline')
    d["status"]["conditions"] = []
    assert deployment_health(d)[0] == "Progressing"


# ------------------------------------------------------------------------------- auto-sync


def test_new_commit_is_auto_synced(drill: Drill) -> None:
    before = drill.app()["status"]["history"]
    revision = commit_new_image(drill)
    drill.advance(3)
    app = drill.app()
    assert drill.image() == NEW_IMAGE
    history = app["status"]["history"]
    assert len(history) == len(before) + 1
    assert [h["id"] for h in history] == list(range(history[0]["id"],
                                                    history[0]["id"] + len(history)))
    assert history[-1]["revision"] == revision
    assert history[-1]["initiatedBy"] == {"automated": True}
    op = app["status"]["operationState"]
    assert op["phase"] == "Succeeded"
    assert op["message"] == "successfully synced (all tasks run)"
    assert op["syncResult"]["revision"] == revision
    assert op["startedAt"] <= op["finishedAt"]
    assert "operation" not in app
    assert app["status"]["sync"]["status"] == "Synced"
    assert app["status"]["sync"]["revision"] == revision
    assert NEW_IMAGE in app["status"]["summary"]["images"]
    assert app["status"]["health"]["status"] == "Progressing"  # rollout not observed yet
    assert drill.events("OperationStarted") == [f"Initiated automated sync to '{revision}'"]
    assert drill.events("OperationCompleted") == [f"Sync operation to {revision} succeeded"]
    drill.settle()
    drill.advance(1)
    assert drill.app()["status"]["health"]["status"] == "Healthy"
    assert "Updated health status: Progressing -> Healthy" in drill.events("ResourceUpdated")


def test_self_heal_reverts_a_hand_scale_after_the_delay(drill: Drill) -> None:
    history = len(drill.app()["status"]["history"])
    drill.scale(1)
    drill.advance(1)
    assert drill.app()["status"]["sync"]["status"] == "OutOfSync"
    stable = next(r for r in drill.app()["status"]["resources"]
                  if r["kind"] == "Deployment" and r["name"] == "checkout-stable")
    assert stable["status"] == "OutOfSync"
    assert drill.deploy()["spec"]["replicas"] == 1
    drill.advance(drill.config.self_heal_delay + 2)
    assert drill.deploy()["spec"]["replicas"] == 3
    app = drill.app()
    assert app["status"]["sync"]["status"] == "Synced"
    assert len(app["status"]["history"]) == history + 1  # a self-heal is a sync too


@pytest.mark.parametrize("pause", [None, {"prune": True, "selfHeal": True, "enabled": False}],
                         ids=["automated-null", "enabled-false"])
def test_pause_keeps_hand_scale_and_restore_resyncs(drill: Drill, pause: Any) -> None:
    prior = drill.app()["spec"]["syncPolicy"]["automated"]
    drill.patch(APPS, "argocd", "checkout", {"spec": {"syncPolicy": {"automated": pause}}})
    assert not auto_sync_enabled(drill.app())
    drill.scale(0)
    drill.advance(30)
    assert drill.deploy()["spec"]["replicas"] == 0
    app = drill.app()
    assert app["status"]["sync"]["status"] == "OutOfSync"
    assert "operation" not in app
    drill.set_automated(prior)
    assert drill.app()["spec"]["syncPolicy"]["automated"] == prior
    drill.advance(drill.config.self_heal_delay + 2)
    assert drill.deploy()["spec"]["replicas"] == 3
    assert drill.app()["status"]["sync"]["status"] == "Synced"


def test_without_self_heal_drift_only_shows_out_of_sync(drill: Drill) -> None:
    drill.set_automated({"prune": True})
    drill.scale(5)
    drill.advance(30)
    assert drill.deploy()["spec"]["replicas"] == 5
    assert drill.app()["status"]["sync"]["status"] == "OutOfSync"


# ------------------------------------------------------------------------------- operations


def rollback_operation(revision: str) -> dict[str, Any]:
    return {"initiatedBy": {"username": "oncall@drill.example.com"},
            "info": [{"name": "reason", "value": "INC-4711"}],
            "sync": {"revision": revision, "syncStrategy": {"apply": {}}, "prune": False}}


def start_operation(d: Drill, op: dict[str, Any]) -> None:
    def write(app: dict[str, Any]) -> dict[str, Any]:
        assert "operation" not in app
        app["operation"] = op
        return app
    d.state.mutate(APPS, "argocd", "checkout", write)


def test_rollback_operation_applies_the_previous_revision(drill: Drill) -> None:
    old_image = drill.image()
    head = commit_new_image(drill)
    drill.advance(3)
    assert drill.image() == NEW_IMAGE
    drill.patch(APPS, "argocd", "checkout", {"spec": {"syncPolicy": {"automated": None}}})
    previous = drill.app()["status"]["history"][-2]
    op = rollback_operation(previous["revision"])
    start_operation(drill, op)
    drill.advance(0.5)
    assert drill.app()["status"]["operationState"]["phase"] == "Running"
    assert drill.app()["status"]["operationState"]["operation"] == op
    drill.advance(1.5)
    app = drill.app()
    assert drill.image() == old_image
    assert "operation" not in app
    state = app["status"]["operationState"]
    assert state["phase"] == "Succeeded"
    assert state["operation"] == op
    assert state["syncResult"]["revision"] == previous["revision"]
    last = app["status"]["history"][-1]
    assert last["revision"] == previous["revision"]
    assert last["initiatedBy"] == {"username": "oncall@drill.example.com"}
    assert app["status"]["sync"]["status"] == "OutOfSync"  # Git still says HEAD
    assert app["status"]["sync"]["revision"] == previous["revision"]
    drill.advance(30)  # auto-sync is off: the rollback sticks
    assert drill.image() == old_image
    assert drill.git.head("checkout").revision == head  # type: ignore[union-attr]


def test_rollback_with_auto_sync_on_is_redeployed_from_git(drill: Drill) -> None:
    commit_new_image(drill)
    drill.advance(3)
    start_operation(drill, rollback_operation(drill.app()["status"]["history"][-2]["revision"]))
    drill.advance(1)  # Running, then applied
    assert drill.image() != NEW_IMAGE
    assert drill.app()["status"]["sync"]["status"] == "OutOfSync"
    drill.advance(2)  # the trap operations.md warns about: auto-sync goes back to HEAD
    assert drill.image() == NEW_IMAGE


def test_history_honours_revision_history_limit(drill: Drill) -> None:
    drill.patch(APPS, "argocd", "checkout", {"spec": {"revisionHistoryLimit": 3}})
    last_id = drill.app()["status"]["history"][-1]["id"]
    for tag in ("1.5.0", "1.5.1"):
        drill.git.commit("checkout", f"checkout {tag}", {"deployments": {
            "checkout-stable": {"image": f"ghcr.io/drill/checkout:{tag}"}}})
        drill.advance(3)
    history = drill.app()["status"]["history"]
    assert [h["id"] for h in history] == [last_id, last_id + 1, last_id + 2]
    assert history[-1]["revision"] == drill.git.head("checkout").revision  # type: ignore[union-attr]


def test_unknown_revision_fails_the_operation(drill: Drill) -> None:
    history = drill.app()["status"]["history"]
    start_operation(drill, rollback_operation("0123456789abcdef0123456789abcdef01234567"))
    drill.advance(2)
    app = drill.app()
    state = app["status"]["operationState"]
    assert state["phase"] == "Failed"
    assert "unable to resolve '0123456789abcdef0123456789abcdef01234567'" in state["message"]
    assert "finishedAt" in state
    assert "operation" not in app
    assert app["status"]["history"] == history
    assert any("failed" in m for m in drill.events("OperationCompleted"))


# ------------------------------------------------------------------------------- interference


def test_deleted_tracked_deployment_is_missing_then_self_healed(drill: Drill) -> None:
    drill.state.delete(DEPLOY, "checkout", "checkout-canary")
    drill.advance(1)
    app = drill.app()
    canary = next(r for r in app["status"]["resources"]
                  if r["kind"] == "Deployment" and r["name"] == "checkout-canary")
    assert canary["status"] == "OutOfSync"
    assert canary["health"]["status"] == "Missing"
    assert app["status"]["health"]["status"] == "Missing"
    drill.advance(drill.config.self_heal_delay + 2)
    canary_obj = drill.deploy("checkout-canary")
    assert canary_obj["spec"]["replicas"] == 1
    assert canary_obj["spec"]["template"]["spec"]["containers"][0]["image"].endswith("1.5.0-rc.1")


def test_deleting_a_tracked_object_while_paused_never_raises(drill: Drill) -> None:
    drill.patch(APPS, "argocd", "checkout", {"spec": {"syncPolicy": {"automated": None}}})
    drill.state.delete(DEPLOY, "checkout", "checkout-stable")
    drill.state.delete(ROUTES, "checkout", "checkout")
    drill.advance(5)
    assert drill.app()["status"]["health"]["status"] == "Missing"
    assert drill.state.find(DEPLOY, "checkout", "checkout-stable") is None


def test_deleting_the_application_cascades_through_the_finalizer(drill: Drill) -> None:
    drill.state.delete(APPS, "argocd", "checkout")
    assert drill.app()["metadata"]["deletionTimestamp"]
    drill.advance(1)
    assert drill.state.find(APPS, "argocd", "checkout") is None
    assert drill.state.find(DEPLOY, "checkout", "checkout-stable") is None
    assert drill.state.find(ROUTES, "checkout", "checkout") is None
    assert drill.state.find(DEPLOY, "payments", "payments") is not None


def test_broken_route_degrades_the_app(drill: Drill) -> None:
    drill.patch(APPS, "argocd", "checkout", {"spec": {"syncPolicy": {"automated": None}}})
    drill.patch(ROUTES, "checkout", "checkout", [
        {"op": "replace", "path": "/spec/rules/0/backendRefs/1/name", "value": "checkout-cnry"}],
        JSON_PATCH)
    drill.advance(1)
    app = drill.app()
    assert app["status"]["health"]["status"] == "Degraded"
    assert app["status"]["sync"]["status"] == "OutOfSync"


def test_with_the_workload_controllers_a_sync_ends_healthy(drill: Drill) -> None:
    from drill.controllers import workloads

    recorder = EventRecorder(drill.state, drill.clock.now)
    drill.sim.controllers[:0] = workloads.controllers(drill.state, recorder, drill.config)
    commit_new_image(drill)
    drill.advance(2)
    assert drill.app()["status"]["health"]["status"] == "Progressing"
    drill.advance(60)
    app = drill.app()
    assert drill.image() == NEW_IMAGE
    assert app["status"]["health"]["status"] == "Healthy"
    assert app["status"]["sync"]["status"] == "Synced"
