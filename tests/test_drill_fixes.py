"""The drill rewards the right fix: each scenario turns green within two simulated minutes.

Each test runs a scenario on a manual clock until its incident is in full swing, applies the
documented fix (README, "Which fix turns each scenario green") through the drill's API the way
a client does (HTTP with the drill's token: the same writes the control room's keys and CLI
send), then advances scenario time in steps until everything an on-call engineer and the
validation look at is green, failing with what is still red after 120 s:

- the app's Argo CD health is Healthy;
- its health endpoint answers 200;
- every Deployment of the app has its desired replicas available (and no more or fewer
  replicas than desired: DeploymentReplicasMismatch);
- no alert-driving series stays bad: the 5xx share of every app over the last 30 s is under
  AppHighErrorRatio's 5%, the error-ratio gauges are under it, no container is in
  CrashLoopBackOff or restarting (PodCrashLooping), every node is Ready (NodeNotReady).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from drill.controllers.endpoints import ERROR_RATIO_DOWN
from drill.controllers.exporter import PART_OF
from drill.resources import BY_KEY
from drill.runner import DrillCluster, DrillOptions
from tests.ops_support import START

APPS = BY_KEY["applications.argoproj.io"]
DEPLOY = BY_KEY["deployments.apps"]
PODS = BY_KEY["pods"]
NODES = BY_KEY["nodes"]
MERGE = {"Content-Type": "application/merge-patch+json"}
APP_PATH = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/{}"
ROUTE_PATH = "/apis/gateway.networking.k8s.io/v1/namespaces/{}/httproutes/{}"
WINDOW = 30.0
BUDGET = 120.0


class Drill:
    """A scenario on a manual clock, served on loopback, with an HTTP client on it."""

    def __init__(self, cluster: DrillCluster, http: httpx.AsyncClient) -> None:
        self.c = cluster
        self.http = http
        #: (scenario seconds, {(namespace, app): (5xx, total)}) per step, for rates.
        self.samples: list[tuple[float, dict[tuple[str, str], tuple[float, float]]]] = []

    async def ok(self, r: httpx.Response) -> Any:
        assert r.status_code < 300, f"{r.request.method} {r.request.url}: {r.text}"
        return r.json()

    # ------------------------------------------------------------ the fixes, as a client

    async def pause_sync(self, app: str) -> None:
        """``p`` / ``controlroom pause-sync``: the merge patch any Argo CD version honours."""
        await self.ok(await self.http.patch(APP_PATH.format(app), headers=MERGE, content=json.dumps(
            {"spec": {"syncPolicy": {"automated": None}}})))

    async def rollback(self, app: str) -> None:
        """``r`` / ``controlroom rollback app``: an update adding the rollback ``operation``
        to the previous history entry, conditional on the resourceVersion read."""
        live = await self.ok(await self.http.get(APP_PATH.format(app)))
        entry = live["status"]["history"][-2]
        body = copy.deepcopy(live)
        body["operation"] = {
            "initiatedBy": {"username": "oncall"},
            "info": [{"name": "reason", "value": "INC-13 drill"}],
            "sync": {"revision": entry["revision"], "source": entry["source"],
                     "syncStrategy": {"apply": {}}, "prune": False}}
        body["status"].pop("operationState", None)
        await self.ok(await self.http.put(APP_PATH.format(app), json=body))

    # ------------------------------------------------------------ what green means

    def counters(self) -> dict[tuple[str, str], tuple[float, float]]:
        out: dict[tuple[str, str], tuple[float, float]] = {}
        text = self.c.exporter.render().decode()
        for family in text_string_to_metric_families(text):
            if family.name != "http_requests":
                continue
            for s in family.samples:
                if not s.name.endswith("_total"):
                    continue
                key = (s.labels["namespace"], s.labels["app"])
                bad, total = out.get(key, (0.0, 0.0))
                errors = s.value if s.labels["code"].startswith("5") else 0.0
                out[key] = (bad + errors, total + s.value)
        return out

    def red(self, app: str) -> list[str]:
        """What is not green yet (empty: green)."""
        c, problems = self.c, []
        health = c.state.get(APPS, "argocd", app)["status"]["health"]["status"]
        if health != "Healthy":
            problems.append(f"Argo CD health {health}")
        for d in c.state.objects(DEPLOY):
            meta, spec, status = d["metadata"], d["spec"], d.get("status") or {}
            where = f"{meta['namespace']}/{meta['name']}"
            if (meta.get("labels") or {}).get(PART_OF) == app and \
                    int(status.get("availableReplicas") or 0) < int(spec.get("replicas", 1)):
                problems.append(f"{where} available {status.get('availableReplicas')}")
            if int(status.get("replicas") or 0) != int(spec.get("replicas", 1)):
                problems.append(f"{where} replicas {status.get('replicas')} (mismatch)")
        for pod in c.state.objects(PODS):
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                if ((cs.get("state") or {}).get("waiting") or {}).get(
                        "reason") == "CrashLoopBackOff":
                    problems.append(f"{pod['metadata']['name']} CrashLoopBackOff")
        for node in c.state.objects(NODES):
            if not any(k.get("type") == "Ready" and k.get("status") == "True"
                       for k in node["status"].get("conditions") or []):
                problems.append(f"node {node['metadata']['name']} not Ready")
        for (ns, workload), traffic in c.exporter.traffic.apps.items():
            if traffic.error_ratio >= ERROR_RATIO_DOWN:
                problems.append(f"{ns}/{workload} error ratio {traffic.error_ratio:.0%}")
        now = c.clock.elapsed()
        current = self.counters()
        self.samples.append((now, current))
        old = next((s for t, s in reversed(self.samples) if t <= now - WINDOW), None)
        if old is None:
            problems.append("less than 30 s of traffic observed since the fix")
        else:
            for key, (bad, total) in current.items():
                b0, t0 = old.get(key, (0.0, 0.0))
                if total > t0 and (bad - b0) / (total - t0) > ERROR_RATIO_DOWN:
                    problems.append(f"{key[0]}/{key[1]} 5xx {(bad - b0) / (total - t0):.0%} "
                                    "over 30 s")
        return problems

    async def validate(self, *args: str) -> tuple[int, str]:
        """``controlroom ARGS`` as a pipeline runs it, against this drill: in a thread (the
        command runs its own event loop; the drill serves on this one), with an empty config
        and a state dir of its own. (exit code, what it printed)."""
        import contextlib
        import io

        from controlroom.launch import main

        out = io.StringIO()

        def run() -> int:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                try:
                    return main([*args, "--kubeconfig", str(self.c.kubeconfig)])
                except SystemExit as exc:
                    return int(exc.code or 0)

        code = await asyncio.to_thread(run)
        return code, out.getvalue()

    async def validated_within(self, baseline: Path, budget: float = BUDGET) -> float:
        """Advance 10 s at a time until ``controlroom validate --baseline <calm baseline>``
        exits 0; the scenario seconds it took. Fails with the last report."""
        start = self.c.clock.elapsed()
        code, report = -1, "not run"
        while self.c.clock.elapsed() - start <= budget:
            code, report = await self.validate("validate", "--baseline", str(baseline))
            if code == 0:
                return self.c.clock.elapsed() - start
            self.c.sim.advance(10)
        raise AssertionError(f"validate still exits {code} {budget:.0f} s after the fix:\n"
                             f"{report}")

    async def green_within(self, app: str, budget: float = BUDGET) -> float:
        """Advance 5 s at a time until :meth:`red` is empty and the app's health endpoint
        answers 200; the scenario seconds it took. Fails with what stayed red."""
        start = self.c.clock.elapsed()
        self.samples.clear()
        problems: list[str] = ["not checked"]
        while self.c.clock.elapsed() - start <= budget:
            problems = self.red(app)
            r = await self.http.get(f"/drill/apps/{app}/health")
            if r.status_code != 200:
                problems.append(f"health endpoint {r.status_code} {r.text}")
            if not problems:
                return self.c.clock.elapsed() - start
            self.c.sim.advance(5)
        raise AssertionError(f"{app} not green {budget:.0f} s after the fix: {problems}")


@pytest.fixture
async def make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    (tmp_path / "config.toml").write_text("")
    monkeypatch.setenv("CONTROLROOM_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("CONTROLROOM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CONTROLROOM_SNAPSHOT_DIR", str(tmp_path / "snapshots"))
    clusters: list[DrillCluster] = []
    clients: list[httpx.AsyncClient] = []

    async def build(scenario: str) -> Drill:
        cluster = DrillCluster(DrillOptions(
            kubeconfig=tmp_path / f"{scenario}.kubeconfig", scenario=scenario,
            manual_clock=True, bookmark_interval=0.2, start=START))
        cluster.endpoints.slowness = 0.0
        await cluster.start()
        clusters.append(cluster)
        http = httpx.AsyncClient(base_url=cluster.url, timeout=10, headers={
            "Authorization": f"Bearer {cluster.server.token}"})
        clients.append(http)
        return Drill(cluster, http)

    try:
        yield build
    finally:
        for http in clients:
            await http.aclose()
        for cluster in clusters:
            await cluster.stop()


async def calm_baseline(d: Drill, tmp_path: Path) -> Path:
    """The baseline an engineer takes before the update: the drill at its start, calm."""
    path = tmp_path / f"calm-{d.c.options.scenario}.json"
    code, report = await d.validate("snapshot", "-o", str(path))
    assert code == 0, report
    return path


async def broken(d: Drill, app: str, seconds: float) -> None:
    """Run the scenario until the incident is in full swing, and prove it is red."""
    d.c.sim.advance(seconds)
    assert d.red(app), "the scenario did not break anything"
    assert (await d.http.get(f"/drill/apps/{app}/health")).status_code == 503


async def test_bad_rollout_turns_green_after_pause_and_argocd_rollback(
        make: Any, tmp_path: Path) -> None:
    d = await make("bad-rollout")
    calm = await calm_baseline(d, tmp_path)
    await broken(d, "checkout", 150)
    assert (await d.validate("validate", "--baseline", str(calm)))[0] == 1
    await d.pause_sync("checkout")
    await d.rollback("checkout")
    await d.green_within("checkout")
    await d.validated_within(calm)
    assert d.c.sim.errors == []


@pytest.mark.parametrize("fix", ["argocd-rollback", "route-backend"])
async def test_route_misconfig_turns_green_after_the_fix(make: Any, fix: str,
                                                        tmp_path: Path) -> None:
    d = await make("route-misconfig")
    calm = await calm_baseline(d, tmp_path)
    await broken(d, "checkout", 60)
    assert (await d.validate("validate", "--baseline", str(calm)))[0] == 1
    await d.pause_sync("checkout")
    if fix == "argocd-rollback":
        await d.rollback("checkout")
    else:
        # Fix the route by hand (sync paused, so selfHeal does not revert it): the mistyped
        # backend gets its real name. Weights alone (``w``: checkout-cnry to 0) stop the
        # errors, but the route keeps ResolvedRefs False (BackendNotFound) and Argo CD keeps
        # the app Degraded, as Gateway API and Argo CD do for a reference that resolves to
        # nothing.
        path = ROUTE_PATH.format("checkout", "checkout")
        route = await d.ok(await d.http.get(path))
        rules = route["spec"]["rules"]
        for rule in rules:
            for ref in rule["backendRefs"]:
                if ref["name"] == "checkout-cnry":
                    ref["name"] = "checkout-canary"
        await d.ok(await d.http.patch(path, headers=MERGE, content=json.dumps(
            {"spec": {"rules": rules}})))
    await d.green_within("checkout")
    await d.validated_within(calm)
    assert d.c.sim.errors == []


async def test_node_loss_turns_green_after_cordon_drain_and_removing_the_dead_node(
        make: Any, tmp_path: Path) -> None:
    d = await make("node-loss")
    calm = await calm_baseline(d, tmp_path)
    await broken(d, "checkout", 60)
    assert (await d.validate("validate", "--baseline", str(calm)))[0] == 1
    lost = sorted(d.c.config.down_nodes)[0]
    # kubectl cordon, then kubectl drain --force --grace-period=0 (the kubelet is gone, so
    # nothing would finish a graceful termination), then kubectl delete node: what AKS node
    # auto-repair does with a node that stopped reporting (it is replaced).
    await d.ok(await d.http.patch(f"/api/v1/nodes/{lost}", headers=MERGE,
                                  content=json.dumps({"spec": {"unschedulable": True}})))
    pods = await d.ok(await d.http.get("/api/v1/pods", params={
        "fieldSelector": f"spec.nodeName={lost}"}))
    for pod in pods["items"]:
        meta = pod["metadata"]
        await d.ok(await d.http.delete(
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
            params={"gracePeriodSeconds": "0"}))
    await d.ok(await d.http.delete(f"/api/v1/nodes/{lost}"))
    await d.green_within("checkout")
    await d.validated_within(calm)
    assert d.c.sim.errors == []


async def test_oom_turns_green_after_pause_and_argocd_rollback(make: Any, tmp_path: Path) -> None:
    """MLflow v3.4.0 is OOMKilled in a loop; rolling the ai-ml app back to v3.3.2 (after
    pausing auto-sync, which would redeploy the commit) ends it."""
    d = await make("oom")
    calm = await calm_baseline(d, tmp_path)
    await broken(d, "ai-ml", 90)
    assert (await d.validate("validate", "--baseline", str(calm)))[0] == 1
    await d.pause_sync("ai-ml")
    await d.rollback("ai-ml")
    await d.green_within("ai-ml")
    await d.validated_within(calm)
    assert d.c.sim.errors == []
