"""Several drill clusters at once (``controlroom demo --clusters staging,prod``, issue 18).

Each cluster is a whole :class:`~drill.runner.DrillCluster` (its own API server, state,
scenario and, when installed, its own Prometheus and Alertmanager), so the two really are two
clusters: a write to one can be seen (or not) in the other's request log. One kubeconfig holds
every cluster as a context of the same name, as a real platform's kubeconfig holds its
staging and production contexts; ``kubectl --context prod`` reaches prod alone.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from drill.controllers import scenarios
from drill.runner import DrillCluster, DrillOptions, write_kubeconfig

#: Scenarios of ``--clusters a,b`` that name none: a production context rehearses the bad
#: rollout, every other one is calm (the update strategy's staging is healthy).
DEFAULT_BAD = "bad-rollout"
DEFAULT_CALM = "calm"

_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")


def parse_clusters(text: str) -> list[tuple[str, str]]:
    """``staging,prod`` or ``staging=calm,prod=bad-rollout`` into (context, scenario) pairs;
    ValueError naming the bad part. Unnamed scenarios: ``bad-rollout`` for a context whose
    name says production (``prod`` in it), ``calm`` otherwise."""
    pairs: list[tuple[str, str]] = []
    for part in text.split(","):
        name, has_scenario, scenario = (p.strip() for p in part.partition("="))
        if not _NAME.fullmatch(name):
            raise ValueError(f"--clusters: {name!r} is not a context name (letters, digits,"
                             " '.', '_', '-'; e.g. staging,prod or staging=calm,prod=bad-rollout)")
        if not has_scenario:
            scenario = DEFAULT_BAD if "prod" in name.casefold() else DEFAULT_CALM
        if scenario not in scenarios.SCENARIOS:
            raise ValueError(f"--clusters: unknown scenario {scenario!r} for {name!r}; choose"
                             " one of: " + ", ".join(scenarios.SCENARIOS))
        pairs.append((name, scenario))
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError(f"--clusters: each context once, got {', '.join(names)}")
    if len(pairs) > 20:
        raise ValueError(f"--clusters: at most 20 drill clusters, got {len(pairs)}")
    return pairs


class DrillFleet:
    """The drill clusters of ``--clusters``, started and stopped together, and their one
    kubeconfig (every context; the first is the current one)."""

    def __init__(self, options: DrillOptions, clusters: list[tuple[str, str]]) -> None:
        self.options = options
        self.clusters: dict[str, DrillCluster] = {}
        for index, (name, scenario) in enumerate(clusters):
            # One team bus broker for the fleet (the first cluster's), as a team runs one.
            names = options.server_names if index == 0 else tuple(
                n for n in options.server_names if n != "mqtt")
            self.clusters[name] = DrillCluster(replace(
                options, context=name, scenario=scenario, kubeconfig=None,
                port=options.port + index if options.port else 0, server_names=names))
        self.kubeconfig: Path | None = None
        self._tmpdir: str | None = None

    @property
    def scenarios(self) -> dict[str, str]:
        return {name: c.options.scenario for name, c in self.clusters.items()}

    async def start(self) -> None:
        started: list[DrillCluster] = []
        try:
            for cluster in self.clusters.values():
                await cluster.start()
                started.append(cluster)
        except BaseException:
            for cluster in started:
                await cluster.stop()
            raise
        path = self.options.kubeconfig
        if path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="controlroom-fleet-")
            path = Path(self._tmpdir) / "kubeconfig"
        write_kubeconfig(path, self.kubeconfig_dict())
        self.kubeconfig = path

    async def stop(self) -> None:
        for cluster in self.clusters.values():
            await cluster.stop()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def kubeconfig_dict(self) -> dict[str, Any]:
        """Every cluster's kubeconfig merged: one cluster and one context per drill cluster,
        one user (the drill operator, anonymous on loopback)."""
        merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [],
                                  "users": [{"name": "drill-operator", "user": {}}],
                                  "contexts": [], "current-context": next(iter(self.clusters)),
                                  "preferences": {}}
        for cluster in self.clusters.values():
            own = cluster.kubeconfig_dict()
            merged["clusters"] += own["clusters"]
            merged["contexts"] += own["contexts"]
        return merged

    def announce(self) -> list[str]:
        """The startup block: ``kubeconfig:``, ``contexts:``, then per context its API
        server, scenario and real servers (``api prod: URL``)."""
        lines = [f"kubeconfig: {self.kubeconfig}", f"contexts: {','.join(self.clusters)}"]
        for name, cluster in self.clusters.items():
            lines.append(f"api {name}: {cluster.url} (scenario {cluster.options.scenario})")
            if cluster.servers is not None:
                lines += [f"{key} {name}:{value}" for key, _, value in
                          (line.partition(":") for line in cluster.servers.announce())]
        return lines
