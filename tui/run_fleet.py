"""Open the control room on several contexts at once (issue 18): ``controlroom --context
staging --context prod`` (or ``watch = [...]`` in the config) on real clusters, and
``controlroom demo --clusters staging,prod`` on drill clusters. Each context gets its own
resolved settings (``[contexts."name"]``), target (production and read-only per context),
namespaces and source starter; :mod:`tui.fleet` runs them side by side."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from backends.config import Settings
from backends.kube.kubeconfig import KubeconfigError, describe_context
from backends.kube.source_set import SourceOptions
from backends.ops.journal import default_journal_path
from tui.app import ControlRoomApp, Target
from tui.fleet import FleetMember
from tui.run import AlertUrls, _sources, run_app


def contexts_of(args: argparse.Namespace, settings: Settings) -> list[str]:
    """The contexts to watch: every ``--context``, else the config's ``watch`` list."""
    given = args.context if isinstance(args.context, list) else (
        [args.context] if args.context else [])
    return list(dict.fromkeys(given or settings.watch))


def _member(settings: Settings, context: str, cluster: str, read_only: bool,
            namespaces: list[str], starter_args: dict[str, object]) -> FleetMember:
    own = settings.for_context(context)
    target = Target(cluster=cluster, context=context, production=settings.is_production(context),
                    read_only=read_only or settings.is_read_only(context),
                    namespaces=list(namespaces))
    return FleetMember(target, own, _sources(settings=own, **starter_args))  # type: ignore[arg-type]


def run_several(args: argparse.Namespace, settings: Settings, settings_path: Path,
                contexts: list[str]) -> int:
    """The control room on every context of ``contexts`` (the first shown first)."""
    members: list[FleetMember] = []
    for context in contexts:
        try:
            name, cluster = describe_context(args.kubeconfig, context)
        except KubeconfigError as exc:
            print(f"controlroom: {exc}", file=sys.stderr)
            return 2
        namespaces = args.namespace or settings.context(name).namespaces
        members.append(_member(settings, name, cluster, args.read_only, namespaces, {
            "kubeconfig": lambda: args.kubeconfig, "context": name,
            "namespaces": namespaces}))
    return _open(args, settings_path, members)


def _open(args: argparse.Namespace, settings_path: Path, members: list[FleetMember]) -> int:
    first, *others = members
    app = ControlRoomApp(first.settings, settings_path, first.target, first.starter,
                         theme=args.theme, journal_path=default_journal_path(args.state_dir),
                         watch=others)
    return run_app(app)


class SharedDrillFleet:
    """The drill fleet started by whichever member's sources start first, and stopped once
    every member has stopped (each member's ``after``)."""

    def __init__(self, fleet: object, members: int) -> None:
        from drill.fleet import DrillFleet

        assert isinstance(fleet, DrillFleet)
        self.fleet = fleet
        self._left = members
        self._lock = asyncio.Lock()
        self._started = False

    async def start(self) -> None:
        async with self._lock:
            if not self._started:
                await self.fleet.start()
                self._started = True

    async def release(self) -> None:
        self._left -= 1
        if self._left == 0 and self._started:
            await self.fleet.stop()


def demo_members(args: argparse.Namespace, settings: Settings) -> list[FleetMember]:
    """One member per drill cluster of ``--clusters`` (each with its own drill Prometheus,
    Alertmanager and endpoints unless the config names its own)."""
    from drill.fleet import DrillFleet, parse_clusters
    from drill.runner import options_from_args

    drill = DrillFleet(options_from_args(args), parse_clusters(args.clusters))
    shared = SharedDrillFleet(drill, len(drill.clusters))
    members: list[FleetMember] = []
    for name, cluster in drill.clusters.items():
        def urls(cluster: object = cluster) -> AlertUrls:
            servers = getattr(cluster, "servers", None)
            if servers is None:
                return AlertUrls()
            return AlertUrls(prometheus=servers.prometheus_url or "",
                             alertmanager=servers.alertmanager_url or "")

        members.append(_member(
            settings, name, f"drill cluster {name}, scenario {cluster.options.scenario}",
            args.read_only, [], {
                "kubeconfig": lambda: str(drill.kubeconfig), "context": name,
                "namespaces": None, "drill_urls": urls,
                "before": shared.start, "after": shared.release,
                "bus_url": lambda c=cluster: c.servers.mqtt_url if c.servers else None,
                "drill_endpoints": lambda c=cluster: c.health_endpoints,
                "options": SourceOptions(bookmark_interval=cluster.options.bookmark_interval)}))
    return members


def run_demo_fleet(args: argparse.Namespace, settings: Settings, settings_path: Path) -> int:
    """``controlroom demo --clusters staging,prod``: the drill fleet and the room on it."""
    return _open(args, settings_path, demo_members(args, settings))
