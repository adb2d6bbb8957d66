"""Open the control room: on a real cluster from a kubeconfig, or on the in-process drill.

Both paths build the same App; they differ only in how sources are started: the demo first
starts the drill cluster on the App's own event loop and then connects to it exactly as to a
real cluster (through its kubeconfig), so the demo exercises the real code path end to end.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from backends.config import Settings
from backends.kube.connection import connect
from backends.kube.kubeconfig import KubeconfigError, describe_context
from backends.kube.source import start_all
from backends.ops.journal import default_journal_path
from backends.store import Store
from tui.app import ControlRoomApp, Session, Target

Stopper = Callable[[], Awaitable[None]]


def _sources(kubeconfig: Callable[[], str | None], context: str | None,
             namespaces: list[str] | None, *,
             before: Callable[[], Awaitable[None]] | None = None,
             after: Stopper | None = None) -> Callable[[Store], Awaitable[Session]]:
    """A SourceStarter: (prepare,) connect, start one source per kind; returns the stopper.

    ``kubeconfig`` is a callable because the drill's kubeconfig exists only after ``before``.
    """

    async def start(store: Store) -> Session:
        if before is not None:
            await before()
        conn = await connect(kubeconfig(), context)
        sources = await start_all(conn, store, namespaces or None)

        async def stop() -> None:
            await sources.stop()
            await conn.close()
            if after is not None:
                await after()

        return Session(stop, conn)

    return start


def run_cluster(args: argparse.Namespace, settings: Settings, settings_path: Path) -> int:
    """``controlroom [--kubeconfig] [--context] [--namespace ...]``: a real cluster."""
    try:
        context, cluster = describe_context(args.kubeconfig, args.context)
    except KubeconfigError as exc:
        print(f"controlroom: {exc}", file=sys.stderr)
        return 2
    namespaces = args.namespace or settings.context(context).namespaces
    target = Target(cluster=cluster, context=context,
                    production=settings.is_production(context),
                    read_only=args.read_only or settings.is_read_only(context),
                    namespaces=list(namespaces))
    app = ControlRoomApp(settings, settings_path, target,
                         _sources(lambda: args.kubeconfig, context, namespaces),
                         theme=args.theme, journal_path=default_journal_path(args.state_dir))
    return app.run() or 0


def run_demo(args: argparse.Namespace, settings: Settings, settings_path: Path) -> int:
    """``controlroom demo``: the drill cluster in-process and the control room on it."""
    from backends.demo.runner import CONTEXT, DrillCluster
    from tui.cli import drill_options

    drill = DrillCluster(drill_options(args))
    target = Target(cluster=f"drill cluster, scenario {args.scenario}", context=CONTEXT,
                    production=settings.is_production(CONTEXT),
                    read_only=args.read_only or settings.is_read_only(CONTEXT))
    starter = _sources(lambda: str(drill.kubeconfig), CONTEXT, None,
                       before=drill.start, after=drill.stop)
    app = ControlRoomApp(settings, settings_path, target, starter, theme=args.theme,
                         journal_path=default_journal_path(args.state_dir))
    return app.run() or 0
