"""The ``controlroom`` command line: the parser and the headless commands.

``controlroom [connection flags]`` opens the control room on a real cluster; ``controlroom demo``
opens it on the built-in drill cluster; ``controlroom demo --headless`` serves only the drill.
This room never imports Textual or the App (an import-linter contract and a fresh-interpreter
test hold it to that): :func:`run` answers every headless command and returns ``None`` for
the two that open a screen, which :mod:`controlroom.launch` hands to :mod:`tui.run`. So headless
commands start fast and run where no terminal is attached.

Exit codes: 0 done, 1 refused or failed, 2 usage, configuration or connection error.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from backends.config import ConfigError, Settings, load
from cli import baseline as headless_baseline
from cli import headless

if TYPE_CHECKING:
    from drill.runner import DrillCluster


def _common(parser: argparse.ArgumentParser) -> None:
    """Flags every way of opening the control room shares."""
    parser.add_argument("--config", type=Path, default=None,
                        help="configuration file (default: the platform config dir)")
    parser.add_argument("--theme", default=None, help="theme name (t cycles themes)")
    parser.add_argument("--read-only", action="store_true",
                        help="refuse every write, whatever the config says")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="where the journal lives (default: the platform state dir)")


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None,
                        help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", action="append", default=None,
                        help="kube context (default: current; repeat to watch several side "
                        "by side, or list them in the config's watch)")
    parser.add_argument("--namespace", "-n", action="append", default=None, metavar="NS",
                        help="watch only this namespace (repeatable; default: all)")


def _demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run the built-in drill cluster (and the control room on it)")
    _common(p)
    p.add_argument("--headless", action="store_true",
                   help="serve the drill cluster only: print its kubeconfig path and wait")
    p.add_argument("--port", type=int, default=0, help="API server port (default: a free one)")
    p.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    p.add_argument("--kubeconfig-out", type=Path, default=None,
                   help="write the drill kubeconfig here (default: a temporary directory)")
    p.add_argument("--policy", type=Path, default=None,
                   help="JSON allow/deny policy answered to SelfSubjectAccessReviews and "
                   "enforced on requests")
    p.add_argument("--scenario", default="bad-rollout",
                   help="incident to rehearse (default: bad-rollout); 'list' prints them")
    p.add_argument("--speed", type=float, default=1.0,
                   help="scenario time multiplier (e.g. 10 runs a drill ten times faster)")
    p.add_argument("--clusters", default=None, metavar="CTX[=SCENARIO],...",
                   help="several drill clusters, one kubeconfig context each, e.g. "
                   "staging,prod or staging=calm,prod=bad-rollout (default scenarios: "
                   "bad-rollout where the name has 'prod', calm elsewhere)")
    p.add_argument("--static", action="store_true",
                   help="serve the seed platform without simulated controllers")
    p.add_argument("--no-servers", action="store_true",
                   help="do not start Prometheus, Alertmanager and Mosquitto (by default each "
                   "is started on a free loopback port when its binary is installed)")
    p.add_argument("--bookmark-interval", type=float, default=5.0, help=argparse.SUPPRESS)
    p.add_argument("--watch-window", type=int, default=20_000, help=argparse.SUPPRESS)
    p.add_argument("--bulk", default=None, metavar="NODES,PODS,DEPLOYMENTS",
                   help="benchmarks: add a generated cluster of this size (use with --static; "
                   "implies --no-servers, a Prometheus scraping it every second would skew the "
                   "numbers)")
    p.add_argument("--flood", type=float, default=0.0, metavar="RATE",
                   help="benchmarks: modify RATE pods per second once started")
    p.add_argument("--flood-on-signal", action="store_true",
                   help="benchmarks: start the --flood only when SIGUSR1 arrives (each "
                   "SIGUSR1 starts one), and print 'flood: N writes in S s' when it ends")
    p.add_argument("--flood-seconds", type=float, default=None, metavar="S",
                   help="benchmarks: end each flood after S seconds (default: never)")


def _replay_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("replay", help="open the control room on a timeline recording "
                       "(read-only, with a time cursor)",
                       description="Open the control room on a recording made by `controlroom "
                       "record` (or the control room itself): every panel shows the state at "
                       "the cursor; o plays, < > set the speed (1x-60x), [ ] step 10 s, "
                       "{ } a minute, home/end jump. Nothing is connected: nothing can be "
                       "written.")
    _common(p)
    p.add_argument("file", type=Path, help="the timeline file")
    p.add_argument("--at", default=None, metavar="WHEN",
                   help="start at an offset from the recording's start (90s, 5m) or a time "
                   "(RFC 3339); default: its start")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="controlroom",
        description="A terminal control room for the on-call engineer during a production "
        "update of a Kubernetes GitOps platform.")
    _common(parser)
    _connection(parser)
    sub = parser.add_subparsers(dest="command")
    _demo_parser(sub)
    _replay_parser(sub)
    headless.register(sub)
    headless_baseline.register(sub)
    return parser


def load_settings(args: argparse.Namespace) -> tuple[Settings, Path] | None:
    """Settings from ``--config`` or the default file; prints the problem and returns None."""
    try:
        return load(args.config)
    except ConfigError as exc:
        print(f"controlroom: bad configuration: {exc}", file=sys.stderr)
        return None


async def _serve_headless(args: argparse.Namespace) -> int:
    # The drill (aiohttp, the simulated controllers) is imported only to serve it: every other
    # command starts ~1 s sooner without it (bench/bench_timeline_export.py, end to end).
    from drill.policy import Policy
    from drill.runner import DrillCluster, options_from_args

    try:
        policy = Policy.load(args.policy) if args.policy else Policy()
    except ValueError as exc:
        print(f"controlroom: {exc}", file=sys.stderr)
        return 2
    cluster = DrillCluster(options_from_args(args, policy))
    if args.bulk:
        from datetime import UTC, datetime

        from drill.bulk import populate

        try:
            nodes, pods, deployments = (int(x) for x in args.bulk.split(","))
        except ValueError:
            print("controlroom: --bulk takes NODES,PODS,DEPLOYMENTS", file=sys.stderr)
            return 2
        populate(cluster.state, nodes, pods, deployments, datetime.now(UTC))
    try:
        await cluster.start()
    except OSError as exc:
        print(f"controlroom: cannot start the drill cluster: {exc}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    floods: list[asyncio.Task[int]] = []
    if args.flood > 0:
        from drill.bulk import flood

        def start_flood() -> None:
            if any(not task.done() for task in floods):
                return  # one flood at a time
            started = loop.time()

            def report(task: asyncio.Task[int]) -> None:
                if not task.cancelled() and task.exception() is None:
                    print(f"flood: {task.result()} writes in {loop.time() - started:.2f} s",
                          flush=True)

            task = loop.create_task(flood(cluster.state, args.flood, args.flood_seconds))
            task.add_done_callback(report)
            floods.append(task)
            print("flood: started", flush=True)

        if args.flood_on_signal:
            loop.add_signal_handler(signal.SIGUSR1, start_flood)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"kubeconfig: {cluster.kubeconfig}", flush=True)
    print(f"api: {cluster.url}", flush=True)
    announce_servers(cluster)
    print(f"metrics: {cluster.metrics_url}", flush=True)  # the last line of the startup block
    if args.flood > 0 and not args.flood_on_signal:
        start_flood()
    await stop.wait()
    for task in floods:
        task.cancel()
    await cluster.stop()
    return 0


def announce_servers(cluster: DrillCluster) -> None:
    """``prometheus: URL``, ``alertmanager: URL``, ``mqtt: URL`` for each server started, and
    on stderr each one that is missing (with the install command) or failed to start."""
    if cluster.servers is None:
        return
    for line in cluster.servers.announce():
        print(line, flush=True)
    announce_problems(cluster)


def announce_problems(cluster: DrillCluster) -> None:
    """On stderr, each real server that is missing (with the install command) or failed."""
    if cluster.servers is None:
        return
    for problem in cluster.servers.problems:
        print(f"controlroom: {problem.line()}", file=sys.stderr, flush=True)


def _demo(args: argparse.Namespace) -> int | None:
    from drill.controllers import scenarios

    if args.scenario == "list":
        print(scenarios.describe())
        return 0
    if args.scenario not in scenarios.SCENARIOS:
        print(f"controlroom: unknown scenario {args.scenario!r}; see --scenario list",
              file=sys.stderr)
        return 2
    if args.speed <= 0:
        print("controlroom: --speed must be greater than 0", file=sys.stderr)
        return 2
    if args.clusters is not None:
        from drill.fleet import parse_clusters

        try:
            parse_clusters(args.clusters)
        except ValueError as exc:
            print(f"controlroom: {exc}", file=sys.stderr)
            return 2
        if args.bulk or args.flood:
            print("controlroom: --clusters does not go with --bulk or --flood", file=sys.stderr)
            return 2
    if args.headless:
        return asyncio.run(_serve_fleet(args) if args.clusters else _serve_headless(args))
    return None


async def _serve_fleet(args: argparse.Namespace) -> int:
    """``demo --headless --clusters staging,prod``: every drill cluster of the list, one
    kubeconfig with a context each, until SIGINT or SIGTERM."""
    from drill.fleet import DrillFleet, parse_clusters
    from drill.policy import Policy
    from drill.runner import options_from_args

    try:
        policy = Policy.load(args.policy) if args.policy else Policy()
    except ValueError as exc:
        print(f"controlroom: {exc}", file=sys.stderr)
        return 2
    fleet = DrillFleet(options_from_args(args, policy), parse_clusters(args.clusters))
    try:
        await fleet.start()
    except OSError as exc:
        print(f"controlroom: cannot start the drill clusters: {exc}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for line in fleet.announce():
        print(line, flush=True)
    for cluster in fleet.clusters.values():
        announce_problems(cluster)
    # The last line of the startup block, as for one cluster.
    print("metrics: " + " ".join(c.metrics_url for c in fleet.clusters.values()), flush=True)
    await stop.wait()
    await fleet.stop()
    return 0


def run(args: argparse.Namespace) -> int | None:
    """Run a headless command (its exit code), or ``None`` when ``args`` ask for a screen:
    ``controlroom`` on a cluster, or ``controlroom demo`` without ``--headless`` (after its
    flags were checked here, so a bad scenario is refused before any screen opens), or
    ``controlroom replay FILE`` (after the file was checked: a damaged one is refused here,
    with the problem, before any screen opens)."""
    if isinstance(getattr(args, "context", None), list) and args.command is not None:
        # Several --context open the control room only; a headless command acts on one.
        if len(args.context) > 1:
            print("controlroom: several --context are for the control room; a command acts "
                  "on one context", file=sys.stderr)
            return 2
        args.context = args.context[0]
    code = headless.dispatch(args)
    if code is None:
        code = headless_baseline.dispatch(args)
    if code is not None:
        return code
    if args.command == "demo":
        return _demo(args)
    if args.command == "replay":
        return _check_recording(args.file)
    return None


def _check_recording(path: Path) -> int | None:
    """Exit 2 naming the problem when ``path`` is no usable recording; None when it is."""
    from backends.timeline.store import TimelineFileError, read_meta

    try:
        read_meta(path)
    except TimelineFileError as exc:
        print(f"controlroom replay: {exc}", file=sys.stderr)
        return 2
    return None
