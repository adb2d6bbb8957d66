"""Start and stop the drill cluster: state, seed platform, API server and its kubeconfig.

``controlroom demo --headless`` and the in-process demo of the control room both go through
:class:`DrillCluster`, so what a newcomer sees on screen is exactly what kubectl sees.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from backends.config import EndpointSettings
from drill.controllers import scenarios
from drill.controllers.argocd import ArgoCDController
from drill.controllers.config import SimConfig
from drill.controllers.core import EventRecorder, SimClock, Simulation
from drill.controllers.endpoints import DrillEndpoints
from drill.controllers.exporter import Exporter
from drill.controllers.gateway import GatewayController
from drill.controllers.gitrepo import GitRepo
from drill.controllers.workloads import controllers as workload_controllers
from drill.logs import DrillLogs
from drill.policy import Policy
from drill.seed import seed_objects
from drill.server import DrillApiServer
from drill.server_configs import Intervals
from drill.servers import PROGRAMS as SERVER_PROGRAMS
from drill.servers import DrillServers
from drill.state import ClusterState

CONTEXT = "drill"


@dataclass
class DrillOptions:
    """What the drill cluster is started with (the CLI's ``demo`` flags)."""

    host: str = "127.0.0.1"
    port: int = 0
    policy: Policy = field(default_factory=Policy)
    bookmark_interval: float = 5.0
    window: int = 20_000
    kubeconfig: Path | None = None
    seed: bool = True
    #: Run the simulated controllers (False: a static seed, for API-semantics tests).
    simulate: bool = True
    scenario: str = scenarios.DEFAULT
    #: Scenario time multiplier (tests run drills faster than real time).
    speed: float = 1.0
    #: Scenario time moves only through ``DrillCluster.sim.advance`` (deterministic tests).
    manual_clock: bool = False
    sim_config: SimConfig = field(default_factory=SimConfig)
    #: Scenario start (and seed creation times); now by default, fixed in snapshot tests.
    start: datetime | None = None
    #: Bring Prometheus, Alertmanager and Mosquitto when installed (the CLI demo does; most
    #: tests do not, they would only be slower). See :mod:`drill.servers`.
    servers: bool = False
    #: Which of them (``prometheus``, ``alertmanager``, ``mqtt``).
    server_names: tuple[str, ...] = ("prometheus", "alertmanager", "mqtt")
    #: Scrape, evaluation and grouping intervals of the drill's Prometheus and Alertmanager.
    server_intervals: Intervals = field(default_factory=Intervals)
    #: The kube context (and cluster) name of its kubeconfig; several drill clusters in one
    #: kubeconfig (``demo --clusters``, drill/fleet.py) each have their own.
    context: str = CONTEXT


def options_from_args(args: argparse.Namespace, policy: Policy | None = None) -> DrillOptions:
    """The drill cluster's options from the ``demo`` flags (the headless drill and the App's
    demo read the same flags; both faces call this one function)."""
    return DrillOptions(
        host=args.host, port=args.port, policy=policy or Policy(),
        kubeconfig=args.kubeconfig_out, bookmark_interval=args.bookmark_interval,
        window=args.watch_window, simulate=not args.static, scenario=args.scenario,
        speed=args.speed,
        servers=not (getattr(args, "no_servers", False) or getattr(args, "bulk", None)))


class DrillCluster:
    """The whole drill cluster, started on the running event loop."""

    def __init__(self, options: DrillOptions | None = None) -> None:
        self.options = opts = options or DrillOptions()
        if opts.scenario not in scenarios.SCENARIOS:
            raise ValueError(f"unknown scenario {opts.scenario!r}; choose one of: "
                             + ", ".join(scenarios.SCENARIOS))
        unknown = sorted(set(opts.server_names) - set(SERVER_PROGRAMS))
        if unknown:
            raise ValueError(f"unknown drill servers {unknown}; choose from: "
                             + ", ".join(SERVER_PROGRAMS))
        start = (opts.start or datetime.now(UTC)).replace(microsecond=0)
        self.clock = SimClock(start, speed=opts.speed, manual=opts.manual_clock)
        self.state = ClusterState(window=opts.window, clock=self.clock.now)
        self.server = DrillApiServer(self.state, policy=opts.policy,
                                     bookmark_interval=opts.bookmark_interval,
                                     logs=DrillLogs(self.state, opts.sim_config))
        self.config = opts.sim_config
        self.exporter = Exporter(self.state)
        self.server.extra_routes["/metrics"] = self._metrics
        self.git = GitRepo.from_seed(start, self.clock.now)
        self.recorder = EventRecorder(self.state, self.clock.now)
        self.sim = Simulation(self.state, self.clock, [])
        self.scenario: scenarios.ScenarioRunner | None = None
        self.kubeconfig: Path | None = None
        #: The real servers once started (None with ``servers=False``); their URLs are None
        #: for a server whose binary is missing, see ``servers.problems``.
        self.servers: DrillServers | None = None
        self._tmpdir: str | None = None
        if opts.seed:
            self.state.load(seed_objects(start))
        #: Simulated health endpoints (Argo CD, Grafana, one per app), served as extra routes.
        self.endpoints = DrillEndpoints(self.state, self.exporter.traffic)
        self.server.extra_routes.update(self.endpoints.routes())
        if opts.simulate:
            self._build_simulation(start)

    def _build_simulation(self, start: datetime) -> None:
        """Wire controllers, the scenario and the traffic model into the simulation loop."""
        ctl: list[Any] = [*workload_controllers(self.state, self.recorder, self.config),
                          ArgoCDController(self.state, self.recorder, self.config, self.git),
                          GatewayController(self.state, self.recorder, self.config)]
        self.sim.controllers = ctl
        ctx = scenarios.ScenarioContext(self.state, self.config, self.git)
        self.scenario = scenarios.ScenarioRunner(
            scenarios.SCENARIOS[self.options.scenario], ctx, start)
        self.sim.hooks += [self.scenario, self.exporter.traffic.tick, self.recorder.expire]

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=self.exporter.render(),
                            content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def start(self) -> None:
        await self.server.start(self.options.host, self.options.port)
        self.kubeconfig = self._write_kubeconfig()
        if self.options.simulate:
            self.sim.step()
            self.sim.start()
        if self.options.servers:
            self.servers = DrillServers(self.metrics_url, intervals=self.options.server_intervals,
                                        enable=self.options.server_names)
            await self.servers.start()

    @property
    def metrics_url(self) -> str:
        return f"{self.server.url}/metrics"

    @property
    def health_endpoints(self) -> list[EndpointSettings]:
        """The endpoints the demo probes when the config names none (after :meth:`start`)."""
        return self.endpoints.settings(self.server.url)

    async def stop(self) -> None:
        if self.servers is not None:
            await self.servers.stop()
        await self.sim.stop()
        await self.server.stop()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    @property
    def url(self) -> str:
        return self.server.url

    def kubeconfig_dict(self) -> dict[str, Any]:
        """A kubeconfig for the drill cluster. Its user holds no token: the drill listens on
        plain http on loopback, where kubectl sends none and neither do we
        (backends/cleartext.py), so anonymous requests are the drill operator. A test that
        wants a token on the wire writes its own kubeconfig with the allow extension."""
        name = self.options.context
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": self.server.url}}],
            "users": [{"name": "drill-operator", "user": {}}],
            "contexts": [{"name": name, "context": {"cluster": name,
                                                    "user": "drill-operator",
                                                    "namespace": "default"}}],
            "current-context": name,
            "preferences": {},
        }

    def _write_kubeconfig(self) -> Path:
        path = self.options.kubeconfig
        if path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="controlroom-drill-")
            path = Path(self._tmpdir) / "kubeconfig"
        write_kubeconfig(path, self.kubeconfig_dict())
        return path


def write_kubeconfig(path: Path, config: dict[str, Any]) -> None:
    """Write a kubeconfig atomically, readable by its owner only (it names the servers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    os.replace(tmp, path)
