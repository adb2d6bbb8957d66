"""Simulated health endpoints of the drill cluster: what ``curl -f .../health`` would say.

The update strategy's checks probe Argo CD ``/api/version``, Grafana ``/api/health`` and each
application's ``/health``. In the drill they are served by the drill's own API server (as
extra routes, no token needed, like a real health endpoint) and answer from the simulated
state, so the health panel, baselines and validation see a bad rollout the way they would in
production:

- ``/drill/argocd/api/version``: Argo CD's version JSON while ``argocd-server`` has a ready
  pod, else 503;
- ``/drill/grafana/api/health``: Grafana's health JSON while ``grafana`` has a ready pod;
- ``/drill/apps/<app>/health``: one per Argo CD Application; 503 when a Deployment of the app
  wants pods but has none ready, or when the traffic model's error ratio of the app reaches
  5% (a crash-looping rollout). A failing app also answers slower, by its simulated p99
  latency (capped at a second), because that is what a struggling service does.

An app's Deployments are those labelled ``app.kubernetes.io/part-of: <app>`` (how the drill
seeds them, and how the traffic model labels its series). Routes are registered for the
Applications present when the drill starts; one created later has no endpoint.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from backends.config import EndpointSettings
from drill.controllers.exporter import PART_OF, TrafficModel, _ready_pods
from drill.resources import BY_KEY
from drill.state import ClusterState, Obj

__all__ = ["ERROR_RATIO_DOWN", "DrillEndpoints", "Handler"]

APPLICATIONS = BY_KEY["applications.argoproj.io"]
DEPLOYMENTS = BY_KEY["deployments.apps"]
ROUTES = BY_KEY["httproutes.gateway.networking.k8s.io"]

ERROR_RATIO_DOWN: Final = 0.05
"""An app answering at least this share of errors reports itself down (503)."""
MAX_DELAY: Final = 1.0

ARGOCD_VERSION: Final = {
    "Version": "v2.13.1+drill", "BuildDate": "2024-11-20T00:00:00Z",
    "GitCommit": "drill", "GitTreeState": "clean", "GoVersion": "go1.23.3",
    "Compiler": "gc", "Platform": "linux/amd64",
}
GRAFANA_HEALTH: Final = {"commit": "drill", "database": "ok", "version": "11.3.1"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(status: int, body: object) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


class DrillEndpoints:
    """The simulated endpoints of one drill cluster.

    ``slowness`` scales the delay of failing answers (tests set 0 to stay fast).
    """

    def __init__(self, state: ClusterState, traffic: TrafficModel, *,
                 slowness: float = 1.0) -> None:
        self.state = state
        self.traffic = traffic
        self.slowness = slowness

    # ------------------------------------------------------------------ state

    def _deployments_of(self, app: str) -> list[Obj]:
        return [d for d in self.state.readable(DEPLOYMENTS)
                if ((d["metadata"].get("labels") or {}).get(PART_OF)) == app]

    def _workload_down(self, namespace: str, name: str) -> str:
        """Why a platform workload is down ("" when it has a ready pod)."""
        deploy = self.state.find_readable(DEPLOYMENTS, namespace, name)
        if deploy is None:
            return f"{namespace}/{name} does not exist"
        ready, _ = _ready_pods(self.state, deploy)
        return "" if ready else f"{namespace}/{name} has no ready pods"

    def app_health(self, app: str) -> tuple[bool, str, float]:
        """(up, reason, p99 seconds) of an Argo CD app from its Deployments and traffic."""
        reasons: list[str] = []
        for deploy in self._deployments_of(app):
            meta = deploy["metadata"]
            wanted = int((deploy.get("spec") or {}).get("replicas", 1) or 0)
            ready, total = _ready_pods(self.state, deploy)
            if wanted > 0 and ready == 0:
                reasons.append(f"{meta['name']}: no ready pods ({total} total)")
        ratio, p99 = 0.0, 0.05
        for traffic in self.traffic.apps.values():
            if traffic.part_of == app and traffic.rps > 0:
                ratio = max(ratio, traffic.error_ratio)
                p99 = max(p99, traffic.latency_p99)
        if ratio >= ERROR_RATIO_DOWN:
            reasons.append(f"error ratio {ratio:.0%}")
        return not reasons, "; ".join(reasons), p99

    def apps(self) -> list[str]:
        """Names of the Argo CD Applications (in the ``argocd`` namespace), sorted."""
        return sorted(a["metadata"]["name"] for a in self.state.readable(APPLICATIONS))

    def routed_apps(self) -> list[str]:
        """Apps with a Deployment in a namespace that has an HTTPRoute (user-facing apps)."""
        routed = {r["metadata"]["namespace"] for r in self.state.readable(ROUTES)}
        return [app for app in self.apps()
                if any(d["metadata"]["namespace"] in routed for d in self._deployments_of(app))]

    # ------------------------------------------------------------------ HTTP

    async def _slow(self, p99: float) -> None:
        delay = min(p99, MAX_DELAY) * self.slowness
        if delay > 0:
            await asyncio.sleep(delay)

    async def argocd_version(self, request: web.Request) -> web.StreamResponse:
        down = self._workload_down("argocd", "argocd-server")
        if down:
            return _json(503, {"error": down})
        return _json(200, ARGOCD_VERSION)

    async def grafana_health(self, request: web.Request) -> web.StreamResponse:
        down = self._workload_down("monitoring", "grafana")
        if down:
            return _json(503, {"database": "failing", "message": down})
        return _json(200, GRAFANA_HEALTH)

    def _app_handler(self, app: str) -> Handler:
        async def health(request: web.Request) -> web.StreamResponse:
            up, reason, p99 = self.app_health(app)
            if up:
                return _json(200, {"status": "UP", "app": app})
            await self._slow(p99)
            return _json(503, {"status": "DOWN", "app": app, "reason": reason})

        return health

    def routes(self) -> dict[str, Handler]:
        """Path -> handler for the drill API server's ``extra_routes``."""
        routes: dict[str, Handler] = {
            "/drill/argocd/api/version": self.argocd_version,
            "/drill/grafana/api/health": self.grafana_health,
        }
        for app in self.apps():
            routes[f"/drill/apps/{app}/health"] = self._app_handler(app)
        return routes

    def settings(self, base_url: str) -> list[EndpointSettings]:
        """The endpoints the control room probes in the demo when the config names none:
        Argo CD, Grafana and every user-facing app."""
        base = base_url.rstrip("/")
        endpoints = [
            EndpointSettings(name="argocd", url=f"{base}/drill/argocd/api/version", timeout=3),
            EndpointSettings(name="grafana", url=f"{base}/drill/grafana/api/health", timeout=3),
        ]
        endpoints += [EndpointSettings(name=f"app {app}", url=f"{base}/drill/apps/{app}/health",
                                       timeout=3)
                      for app in self.routed_apps()]
        return endpoints
