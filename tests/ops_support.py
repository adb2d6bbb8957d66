"""Shared helpers of the action tests (tests/test_ops_*.py): drill clusters on a manual
clock, gates on the drill's kubeconfig context, request recording, deterministic polling."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backends.config import Settings
from backends.kube.connection import KubeConnection
from backends.ops.gate import SSAR_PATH, Confirmation, WriteGate, policy_for
from backends.ops.journal import Journal
from backends.ops.plan import Poll
from drill.policy import Policy
from drill.resources import BY_KEY
from drill.runner import DrillCluster, DrillOptions

CTX = "drill"
REASON = "INC-42 drill"
CONFIRM = Confirmation()
ARMED = Settings(production_patterns=[])
APPS = BY_KEY["applications.argoproj.io"]
DEPLOY = BY_KEY["deployments.apps"]
ROUTES = BY_KEY["httproutes.gateway.networking.k8s.io"]
SERVICES = BY_KEY["services"]
PODS = BY_KEY["pods"]


START = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
"""A fixed scenario start: two drills built from it are identical object for object."""


def drill_options(tmp: Path, *, simulate: bool = True, policy: Policy | None = None,
                  name: str = "kubeconfig", start: datetime | None = None) -> DrillOptions:
    """A drill whose scenario time moves only through ``cluster.sim.advance`` (simulate),
    or a static seed (no controllers at all)."""
    return DrillOptions(kubeconfig=tmp / name, simulate=simulate, manual_clock=True,
                        scenario="calm", bookmark_interval=0.2,
                        policy=policy or Policy(), start=start)


async def started(options: DrillOptions) -> DrillCluster:
    cluster = DrillCluster(options)
    await cluster.start()
    return cluster


def gate_for(conn: Any, journal: Journal | None, *, read_only: bool = False,
             settings: Settings = ARMED, **kw: Any) -> WriteGate:
    return WriteGate(policy_for(settings, CTX, read_only, "oncall-tester"), conn, journal, **kw)


def sim_poll(cluster: DrillCluster, interval: float = 0.5) -> Poll:
    """Polling in scenario time: each wait advances the simulation by ``interval``."""
    async def advance(seconds: float) -> None:
        cluster.sim.advance(seconds)

    return Poll(interval=interval, sleep=advance, clock=cluster.clock.elapsed)


def is_write(method: str, path: str) -> bool:
    if method == "POST":
        return path != SSAR_PATH
    return method in ("PUT", "PATCH", "DELETE")


def writes_seen(cluster: DrillCluster) -> list[tuple[str, str, str]]:
    return [r for r in cluster.server.requests if is_write(r[0], r[1])]


async def get(conn: KubeConnection, path: str) -> Any:
    return json.loads(await conn.get_raw(path))


def app(cluster: DrillCluster, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = cluster.state.get(APPS, "argocd", name)
    return obj


def replicas(cluster: DrillCluster, ns: str, name: str) -> int:
    return int(cluster.state.get(DEPLOY, ns, name)["spec"]["replicas"])


def image(cluster: DrillCluster, ns: str, name: str) -> str:
    d = cluster.state.get(DEPLOY, ns, name)
    return str(d["spec"]["template"]["spec"]["containers"][0]["image"])
