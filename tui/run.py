"""Open the control room: on a real cluster from a kubeconfig, or on the in-process drill.

Both paths build the same App; they differ only in how sources are started: the demo first
starts the drill cluster on the App's own event loop and then connects to it exactly as to a
real cluster (through its kubeconfig), so the demo exercises the real code path end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from backends.config import EndpointSettings, Settings
from backends.kube.gcpause import LoadPause
from backends.kube.kubeconfig import KubeconfigError, describe_context
from backends.kube.source_set import SourceOptions, start_all
from backends.ops.journal import default_journal_path
from backends.signals.health import start_health
from backends.signals.promql import start_signals
from backends.store import Store
from backends.timeline.store import default_path
from tui.app import ControlRoomApp, Session, Target
from tui.bus_wiring import team_bus_starter

if TYPE_CHECKING:
    from backends.kube.connection import KubeConnection
    from backends.signals.alertmanager import AlertmanagerClient
    from backends.signals.prometheus import Poller

Stopper = Callable[[], Awaitable[None]]
ConnectFn = Callable[..., Awaitable["KubeConnection"]]


async def _import_connect() -> ConnectFn:
    """:func:`backends.kube.connection.connect`, its module imported in a worker thread.

    Why not at the top: that import brings kubernetes.aio's loader and session (with
    pydantic, ~0.1 s of CPU), which the first frame does not need; imported here, it runs
    while Textual lays out and paints the first frame (issue 16: the first frame comes
    before the connection), and in a thread so that it does not block the event loop.
    """

    def load() -> ConnectFn:
        from backends.kube.connection import connect

        return connect

    return await asyncio.to_thread(load)


@dataclass(frozen=True)
class AlertUrls:
    """Where the alert sources are: from the config, or the drill's own servers."""

    prometheus: str = ""
    alertmanager: str = ""


def _alert_urls(settings: Settings, drill_urls: Callable[[], AlertUrls] | None = None
                ) -> AlertUrls:
    """The configured URLs; an empty one falls back to the drill's server (demo only)."""
    fallback = drill_urls() if drill_urls is not None else AlertUrls()
    return AlertUrls(prometheus=settings.prometheus.url or fallback.prometheus,
                     alertmanager=settings.alertmanager.url or fallback.alertmanager)


def start_alert_pollers(store: Store, settings: Settings,
                        urls: AlertUrls) -> tuple[list[Poller], AlertmanagerClient | None]:
    """Start a poller per alert source with a URL (each a long-lived task on this loop).

    Returns the pollers (stop them with the session) and the Alertmanager client, which the
    silence action sends through (behind its own write gate).
    """
    from backends.signals.alertmanager import AlertmanagerClient, alertmanager_poller
    from backends.signals.prometheus import prometheus_poller

    pollers: list[Poller] = []
    am_client: AlertmanagerClient | None = None
    if urls.prometheus:
        cfg = settings.prometheus
        pollers.append(prometheus_poller(store, urls.prometheus, interval=cfg.interval,
                                         timeout=cfg.timeout, verify_tls=cfg.verify_tls))
    if urls.alertmanager:
        am = settings.alertmanager
        poller = alertmanager_poller(store, urls.alertmanager, interval=am.interval,
                                     timeout=am.timeout, verify_tls=am.verify_tls)
        assert isinstance(poller.client, AlertmanagerClient)
        am_client = poller.client
        pollers.append(poller)
    for poller in pollers:
        poller.start()
    return pollers, am_client


def _sources(kubeconfig: Callable[[], str | None], context: str | None,
             namespaces: list[str] | None, *,
             settings: Settings | None = None,
             drill_urls: Callable[[], AlertUrls] | None = None,
             bus_url: Callable[[], str | None] | None = None,
             drill_endpoints: Callable[[], list[EndpointSettings]] | None = None,
             before: Callable[[], Awaitable[None]] | None = None,
             after: Stopper | None = None,
             options: SourceOptions | None = None,
             timeline: Path | None = None,
             journal: Path | None = None) -> Callable[[Store], Awaitable[Session]]:
    """A SourceStarter: (prepare,) connect, start one source per kind and the alert
    pollers; returns the session, whose ``stop`` ends them all.

    ``kubeconfig``, ``drill_urls`` and ``drill_endpoints`` are callables because the drill's
    kubeconfig, servers and endpoints exist only after ``before``. The health endpoints are
    the configured ones, else (demo only) the drill's simulated ones.

    A start that fails is tried again by the App (``ControlRoomApp.run_sources``): ``before``
    runs once however often, and a connection opened by a failed try is closed.

    ``timeline``: the file the App records the incident timeline into as it watches (issue
    17; :mod:`backends.timeline.live`), None: not recorded.
    """
    prepared = False
    # This context's own alert sources, Argo CD and endpoints ([contexts."name"], issue 18):
    # resolved here, where the context is known, so no poller can read the global one.
    if settings is not None and context:
        settings = settings.for_context(context)

    async def start(store: Store) -> Session:
        nonlocal prepared
        if before is not None and not prepared:
            await before()
            prepared = True
        # The collector pause of the first lists (backends/kube/gcpause.py) starts here,
        # before connecting: a full collection during connect() cost ~55 ms of the time to
        # the first rows. Pauses nest, so the source set's own pause takes over and ours ends.
        connecting = LoadPause(("connect",), limit=10.0)
        connecting.start()
        try:
            connect = await _import_connect()
            conn = await connect(kubeconfig(), context, allow_http_credentials=(
                settings or Settings()).context(context or "").allow_http_credentials)
            try:
                sources = await start_all(conn, store, namespaces or None, options=options)
            except BaseException:
                await conn.close()
                raise
        finally:
            connecting.end()
        urls = _alert_urls(settings or Settings(), drill_urls)
        pollers, am_client = start_alert_pollers(store, settings or Settings(), urls)
        stop_signals = start_signals(store, settings or Settings(), urls.prometheus)
        cfg = settings or Settings()
        endpoints = cfg.endpoints or (drill_endpoints() if drill_endpoints else [])
        stop_health = start_health(store, endpoints, interval=cfg.endpoints_interval)
        bus = await team_bus_starter(settings or Settings(), bus_url)(store)
        stop_timeline = None
        if timeline:
            # Here, not at the top: the recorder is not needed for the first rows (issue 16).
            from backends.timeline.live import record_in_background

            stop_timeline = await record_in_background(store, timeline, context or "",
                                                       journal_path=journal)

        async def stop() -> None:
            if stop_timeline is not None:
                await stop_timeline()  # first: it records what the others saw last
            if bus is not None:
                await bus.stop()  # first: it flushes what is queued while the rest still runs
            for poller in pollers:
                await poller.stop()
            await stop_signals()
            await stop_health()
            await sources.stop()
            await conn.close()
            if after is not None:
                await after()

        return Session(stop, conn, alertmanager=am_client, bus=bus, retry=sources.retry_now)

    return start


def no_terminal() -> str:
    """Why the screen cannot open here ("" when it can): stdin or stdout is not a terminal."""
    for name, stream in (("standard input", sys.stdin), ("standard output", sys.stdout)):
        if stream is None or not stream.isatty():
            return f"{name} is not a terminal"
    return ""


def run_app(app: ControlRoomApp) -> int:
    """Run the App in this terminal, or exit 2 at once when there is none: without one the
    App can neither read a key nor draw a frame (Textual would spin on the closed input at a
    full core until killed), so say so and point at the headless commands."""
    missing = no_terminal()
    if missing:
        print(f"controlroom: the control room needs a terminal, but {missing}; pipelines use "
              "the headless commands (controlroom --help)", file=sys.stderr)
        return 2
    return app.run() or 0


def run_cluster(args: argparse.Namespace, settings: Settings, settings_path: Path) -> int:
    """``controlroom [--kubeconfig] [--context] [--namespace ...]``: a real cluster."""
    try:
        context, cluster = describe_context(args.kubeconfig, args.context)
    except KubeconfigError as exc:
        print(f"controlroom: {exc}", file=sys.stderr)
        return 2
    # Its own alert sources, Argo CD and endpoints ([contexts."name"], issue 18).
    settings = settings.for_context(context)
    namespaces = args.namespace or settings.context(context).namespaces
    target = Target(cluster=cluster, context=context,
                    production=settings.is_production(context),
                    read_only=args.read_only or settings.is_read_only(context),
                    namespaces=list(namespaces))
    journal = default_journal_path(args.state_dir)
    app = ControlRoomApp(settings, settings_path, target,
                         _sources(lambda: args.kubeconfig, context, namespaces,
                                  settings=settings, journal=journal,
                                  timeline=default_path(journal.parent, context)),
                         theme=args.theme, journal_path=journal)
    return run_app(app)


def run_demo(args: argparse.Namespace, settings: Settings, settings_path: Path) -> int:
    """``controlroom demo``: the drill cluster in-process and the control room on it."""
    from drill.runner import CONTEXT, DrillCluster, options_from_args

    drill = DrillCluster(options_from_args(args))
    settings = settings.for_context(CONTEXT)
    target = Target(cluster=f"drill cluster, scenario {args.scenario}", context=CONTEXT,
                    production=settings.is_production(CONTEXT),
                    read_only=args.read_only or settings.is_read_only(CONTEXT))

    def drill_urls() -> AlertUrls:
        servers = drill.servers
        if servers is None:
            return AlertUrls()
        return AlertUrls(prometheus=servers.prometheus_url or "",
                         alertmanager=servers.alertmanager_url or "")

    journal = default_journal_path(args.state_dir)
    starter = _sources(lambda: str(drill.kubeconfig), CONTEXT, None, settings=settings,
                       journal=journal, timeline=fresh_demo_timeline(journal.parent, CONTEXT),
                       drill_urls=drill_urls, before=drill.start, after=drill.stop,
                       bus_url=lambda: drill.servers.mqtt_url if drill.servers else None,
                       drill_endpoints=lambda: drill.health_endpoints,
                       # the drill's bookmarks come every --bookmark-interval, not every minute
                       options=SourceOptions(bookmark_interval=drill.options.bookmark_interval))
    app = ControlRoomApp(settings, settings_path, target, starter, theme=args.theme,
                         journal_path=journal)
    return run_app(app)


def fresh_demo_timeline(state_dir: Path, context: str) -> Path:
    """The file the demo records its timeline into (``i`` reads it, as on a real cluster):
    the context's usual file, new for this run. A drill starts from its seed every time, so
    resuming the last run's file would record the whole difference between two drills as
    changes; that file (with its WAL) is moved aside to ``<context>-<mtime>.timeline``,
    never deleted."""
    import time

    path = default_path(state_dir, context)
    if path.exists():
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(path.stat().st_mtime))
        aside = path.with_name(f"{path.stem}-{stamp}{path.suffix}")
        for suffix in ("", "-wal", "-shm"):
            old = Path(f"{path}{suffix}")
            if old.exists():
                old.rename(f"{aside}{suffix}")
    return path
