"""Benchmark: engage and release a circuit breaker over 20 apps, 10 deployments, 5 routes.

Why this size: a platform team's breaker scope is a project's worth of Argo CD apps plus the
offending workloads and their routes; the issue's target is that engaging it takes under
3 s of wall time (an on-call pressing the big red button must not wait on a spinner while
checkout burns). What dominates is latency, not CPU: every write is journaled and fsynced
before it is sent, then verified by a read-back, and route shifts wait for the gateway
controller to confirm the new ``observedGeneration``. Writes within a phase go out
concurrently, which is what keeps the total near three round trips of the slowest target.

Setup: the drill cluster (calm scenario, real time at ``--speed``, controllers running) in a
thread of its own, as a remote API server would be, with extra objects created in its state
before it starts: 13 Applications (the seed has 7), 10 Deployments with 5 "canary" Services,
and 5 HTTPRoutes splitting 90/10 between a seed Service and a canary. The breaker freezes
all 20 apps, shifts every route to 100/0 and scales the 10 deployments to 0; release puts
everything back and the bench checks it did, field by field.

Run: ``python bench/bench_breaker.py [--runs 3] [--speed 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends.kube.connection import KubeConnection, connect  # noqa: E402
from backends.ops.breaker import (  # noqa: E402
    BreakerConfig,
    RouteShift,
    breaker_status,
    engage,
    plan_engage,
    release,
)
from backends.ops.gate import Confirmation, GatePolicy, WriteGate  # noqa: E402
from backends.ops.journal import Journal  # noqa: E402
from backends.ops.plan import Poll  # noqa: E402
from drill.resources import BY_KEY  # noqa: E402
from drill.runner import DrillCluster, DrillOptions  # noqa: E402
from drill.state import ClusterState  # noqa: E402

APPS = BY_KEY["applications.argoproj.io"]
DEPLOY = BY_KEY["deployments.apps"]
SERVICES = BY_KEY["services"]
ROUTES = BY_KEY["httproutes.gateway.networking.k8s.io"]
TARGET_SECONDS = 3.0
EXTRA_APPS = 13
ROUTE_HOMES = (("frontend", "web"), ("payments", "payments"), ("catalog", "catalog"),
               ("checkout", "checkout-stable"), ("frontend", "web"))
"""(namespace, stable Service) of each bench route; each gets two canary Deployments."""
T = TypeVar("T")


def _fresh(obj: dict[str, Any], name: str, namespace: str | None = None) -> dict[str, Any]:
    """A copy of a seed object as a new object: no identity, no status, no Argo tracking."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "generation"):
        meta.pop(key, None)
    meta["name"] = name
    if namespace is not None:
        meta["namespace"] = namespace
    meta["annotations"] = {"bench.controlroom.io/generated": "true"}
    return out


def add_bench_objects(state: ClusterState) -> BreakerConfig:
    """Create the extra objects and return the breaker scope over all of them."""
    apps = [a["metadata"]["name"] for a in state.objects(APPS, "argocd")]
    template_app = state.get(APPS, "argocd", "catalog")
    for i in range(1, EXTRA_APPS + 1):
        app = _fresh(template_app, f"bench-app-{i:02d}")
        app["spec"]["source"]["path"] = f"apps/bench-{i:02d}"
        state.create(APPS, app)
        apps.append(app["metadata"]["name"])
    template_deploy = state.get(DEPLOY, "payments", "payments")
    template_svc = state.get(SERVICES, "payments", "payments")
    template_route = state.get(ROUTES, "payments", "payments")
    deployments: list[str] = []
    routes: list[RouteShift] = []
    for r, (ns, stable) in enumerate(ROUTE_HOMES, start=1):
        canary = f"bench-canary-{r}"
        for x in ("a", "b"):
            name = f"bench-{r}-{x}"
            d = _fresh(template_deploy, name, ns)
            labels = {"app": name, "bench-canary": str(r)}
            d["metadata"]["labels"] = dict(labels)
            d["spec"]["selector"] = {"matchLabels": {"app": name}}
            d["spec"]["template"]["metadata"]["labels"] = dict(labels)
            state.create(DEPLOY, d)
            deployments.append(f"{ns}/{name}")
        svc = _fresh(template_svc, canary, ns)
        svc["spec"] = {k: v for k, v in svc["spec"].items()
                       if k not in ("clusterIP", "clusterIPs")}
        svc["spec"]["selector"] = {"bench-canary": str(r)}
        state.create(SERVICES, svc)
        route = _fresh(template_route, f"bench-route-{r}", ns)
        route["spec"]["hostnames"] = [f"bench-{r}.drill.example.com"]
        route["spec"]["rules"][0]["backendRefs"] = [
            {"group": "", "kind": "Service", "name": stable, "port": 80, "weight": 90},
            {"group": "", "kind": "Service", "name": canary, "port": 80, "weight": 10}]
        state.create(ROUTES, route)
        routes.append(RouteShift(route=f"{ns}/bench-route-{r}",
                                 weights={stable: 100, canary: 0}))
    return BreakerConfig(apps=apps, deployments=deployments, routes=routes)


class ThreadedDrill:
    """The drill cluster on its own event loop in a thread (a remote API server)."""

    def __init__(self, options: DrillOptions) -> None:
        self.loop = asyncio.new_event_loop()
        self.cluster = DrillCluster(options)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def start(self) -> None:
        self.thread.start()
        self.run(self.cluster.start())

    def snapshot(self, config: BreakerConfig) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            st = self.cluster.state
            return copy.deepcopy({
                "apps": {a: st.get(APPS, "argocd", a.rpartition("/")[2])["spec"]
                         for a in config.apps},
                "replicas": {d: st.get(DEPLOY, *d.split("/"))["spec"]["replicas"]
                             for d in config.deployments},
                "routes": {r.route: st.get(ROUTES, *r.ref)["spec"]["rules"]
                           for r in config.routes}})
        return self.run(read())

    def stop(self) -> None:
        self.run(self.cluster.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


async def _routes_programmed(conn: KubeConnection, config: BreakerConfig,
                             deadline: float) -> None:
    """Wait until the gateway controller has reported on every bench route."""
    while time.monotonic() < deadline:
        ok = 0
        for shift in config.routes:
            ns, name = shift.ref
            route = json.loads(await conn.get_raw(
                f"/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes/{name}"))
            ok += bool((route.get("status") or {}).get("parents"))
        if ok == len(config.routes):
            return
        await asyncio.sleep(0.05)
    raise SystemExit("the drill's gateway controller did not report on the bench routes")


async def bench(drill: ThreadedDrill, config: BreakerConfig, runs: int,
                state_dir: Path) -> list[dict[str, float]]:
    rows: list[dict[str, float]] = []
    assert drill.cluster.kubeconfig is not None
    journal = await Journal.open(state_dir / "journal.sqlite3")
    async with await connect(str(drill.cluster.kubeconfig), None) as conn:
        await _routes_programmed(conn, config, time.monotonic() + 30)
        gate = WriteGate(GatePolicy("drill", False, False, "bench"), conn, journal)
        poll = Poll(interval=0.02)
        for run in range(1, runs + 1):
            before = drill.snapshot(config)
            t0 = time.perf_counter()
            plan = await plan_engage(conn, gate, None, config, poll=poll)
            t1 = time.perf_counter()
            if not plan.ready:
                raise SystemExit("breaker plan refused: " + "; ".join(plan.refusals))
            result = await engage(gate, plan, reason="bench", confirm=Confirmation())
            t2 = time.perf_counter()
            if not result.ok:
                raise SystemExit(f"engage failed: {result.summary()}")
            state = await breaker_status(journal, "drill")
            t3 = time.perf_counter()
            done = await release(gate, journal, conn, "drill", reason="bench",
                                 confirm=Confirmation(), poll=poll)
            t4 = time.perf_counter()
            if not done.ok:
                raise SystemExit(f"release failed: {done.summary()}")
            if drill.snapshot(config) != before:
                raise SystemExit(f"run {run}: release did not restore every object exactly")
            rows.append({"plan": t1 - t0, "engage": t2 - t1, "status": t3 - t2,
                         "release": t4 - t3, "writes": float(plan.writes()),
                         "targets": float(len(state.targets))})
    await journal.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--speed", type=float, default=20.0,
                        help="drill scenario speed (controllers react this much faster)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-breaker-") as tmp:
        options = DrillOptions(kubeconfig=Path(tmp) / "kubeconfig", scenario="calm",
                               speed=args.speed, bookmark_interval=1.0)
        drill = ThreadedDrill(options)
        config = add_bench_objects(drill.cluster.state)
        drill.start()
        try:
            rows = asyncio.run(bench(drill, config, args.runs, Path(tmp)))
        finally:
            drill.stop()
    print(f"circuit breaker over {len(config.apps)} apps, {len(config.deployments)} "
          f"deployments, {len(config.routes)} routes "
          f"({int(rows[0]['targets'])} targets, {int(rows[0]['writes'])} writes per engage)")
    print(f"{'run':>4} {'plan s':>8} {'engage s':>9} {'status s':>9} {'release s':>10}")
    for i, r in enumerate(rows, start=1):
        print(f"{i:>4} {r['plan']:>8.3f} {r['engage']:>9.3f} {r['status']:>9.3f} "
              f"{r['release']:>10.3f}")
    engage_med = statistics.median(r["engage"] for r in rows)
    release_med = statistics.median(r["release"] for r in rows)
    print(f"{'med':>4} {statistics.median(r['plan'] for r in rows):>8.3f} {engage_med:>9.3f} "
          f"{statistics.median(r['status'] for r in rows):>9.3f} {release_med:>10.3f}")
    verdict = "OK" if engage_med < TARGET_SECONDS else "OVER TARGET"
    print(f"engage median {engage_med:.3f} s (target < {TARGET_SECONDS:g} s): {verdict}; "
          "every run restored every object exactly")
    return 0 if engage_med < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
