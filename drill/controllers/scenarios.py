"""Incident scenarios of the drill cluster: timed faults injected the way they happen for real.

A scenario never edits the cluster behind the controllers' backs where the real platform would
not: a bad release arrives as a Git commit that Argo CD auto-syncs, a lost node is a kubelet that
stops heartbeating, a misrouted canary is a commit with a typo in a backend name. What the
on-call engineer then sees (crash loops, replica mismatch, BackendNotFound, rising 5xx) is the
controllers' honest reaction, and what they do about it (pause sync, roll back, shift traffic)
meets the same resistance it would in production (selfHeal, auto-sync of HEAD).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from drill import errors
from drill.controllers.config import SimConfig
from drill.controllers.gitrepo import GitRepo
from drill.resources import BY_KEY
from drill.state import ClusterState, Obj

DEPLOYMENTS = BY_KEY["deployments.apps"]
NODES = BY_KEY["nodes"]

BAD_CHECKOUT_IMAGE = "ghcr.io/drill/checkout:1.5.0"
OOM_MLFLOW_IMAGE = "ghcr.io/mlflow/mlflow:v3.4.0"


@dataclass
class ScenarioContext:
    """What a scenario step may touch."""

    state: ClusterState
    config: SimConfig
    git: GitRepo


Step = tuple[float, str, Callable[[ScenarioContext], None]]


@dataclass
class Scenario:
    """A named list of steps, each fired once when scenario time reaches it."""

    name: str
    summary: str
    steps: list[Step] = field(default_factory=list)


class ScenarioRunner:
    """A simulation hook firing a scenario's steps at their scenario times."""

    def __init__(self, scenario: Scenario, ctx: ScenarioContext, start: datetime) -> None:
        self.scenario = scenario
        self.ctx = ctx
        self.start = start
        self.fired: list[str] = []
        self._pending = sorted(scenario.steps, key=lambda s: s[0])

    def __call__(self, now: datetime) -> None:
        elapsed = (now - self.start).total_seconds()
        while self._pending and self._pending[0][0] <= elapsed:
            at, what, action = self._pending.pop(0)
            action(self.ctx)
            self.fired.append(f"t+{at:.0f}s {what}")


def _set_deadline(seconds: int, *names: str) -> Callable[[ScenarioContext], None]:
    """A short progressDeadlineSeconds, so a stalled rollout reports ProgressDeadlineExceeded
    within the drill rather than after the default ten minutes."""
    def step(ctx: ScenarioContext) -> None:
        for name in names:
            def patch(d: Obj) -> Obj:
                d["spec"]["progressDeadlineSeconds"] = seconds
                return d
            try:
                ctx.state.mutate(DEPLOYMENTS, "checkout", name, patch)
            except errors.ApiError:
                pass
    return step


def _bad_release(ctx: ScenarioContext) -> None:
    ctx.config.bad_images.add(BAD_CHECKOUT_IMAGE)
    ctx.git.commit("checkout", "Promote checkout 1.5.0 to stable",
                   {"deployments": {"checkout-stable": {"image": BAD_CHECKOUT_IMAGE}}},
                   author="release-bot <release-bot@drill.example.com>")


def _memory_hungry_release(ctx: ScenarioContext) -> None:
    ctx.config.oom_images.add(OOM_MLFLOW_IMAGE)
    ctx.git.commit("ai-ml", "MLflow v3.4.0: keep loaded models in an in-memory cache",
                   {"deployments": {"mlflow": {"image": OOM_MLFLOW_IMAGE}}},
                   author="ml-platform <ml-platform@drill.example.com>")


def _route_typo(ctx: ScenarioContext) -> None:
    ctx.git.commit("checkout", "Shift 10% of checkout to the canary",
                   {"routes": {"checkout": {"checkout-stable": 90, "checkout-cnry": 10}}},
                   author="release-bot <release-bot@drill.example.com>")


def user_nodes(state: ClusterState) -> list[str]:
    """User-pool node names, sorted."""
    out = []
    for node in state.readable(NODES):
        labels: dict[str, Any] = node["metadata"].get("labels") or {}
        if labels.get("kubernetes.azure.com/mode") == "user":
            out.append(node["metadata"]["name"])
    return sorted(out)


def _lose_node(ctx: ScenarioContext) -> None:
    nodes = user_nodes(ctx.state)
    if nodes:
        ctx.config.down_nodes.add(nodes[0])


SCENARIOS: dict[str, Scenario] = {
    s.name: s for s in (
        Scenario("bad-rollout",
                 "checkout 1.5.0 is committed and auto-synced; its pods crash-loop, replicas "
                 "mismatch, restarts rise, the app goes Degraded",
                 [(0.0, "short progress deadline on checkout",
                   _set_deadline(90, "checkout-stable", "checkout-canary")),
                  (15.0, "commit checkout 1.5.0 (bad image) to Git", _bad_release)]),
        Scenario("node-loss",
                 "a user-pool node stops heartbeating, goes NotReady and its pods are "
                 "rescheduled on the others",
                 [(20.0, "kubelet of the first user-pool node stops", _lose_node)]),
        Scenario("route-misconfig",
                 "a commit sends 10% of checkout traffic to a backend that does not exist "
                 "(ResolvedRefs False, BackendNotFound, 500s)",
                 [(15.0, "commit a checkout route with a mistyped backend", _route_typo)]),
        Scenario("oom",
                 "MLflow v3.4.0 is committed and auto-synced; its new pods outgrow their "
                 "memory limit, are OOMKilled (exit 137) and crash-loop",
                 [(15.0, "commit MLflow v3.4.0 (runs out of memory) to Git",
                   _memory_hungry_release)]),
        Scenario("calm", "nothing goes wrong: a healthy platform to explore and rehearse on"),
    )
}

DEFAULT = "bad-rollout"


def describe() -> str:
    """One line per scenario, for ``--scenario list``."""
    width = max(len(n) for n in SCENARIOS)
    return "\n".join(f"{s.name:<{width}}  {s.summary}" for s in SCENARIOS.values())
