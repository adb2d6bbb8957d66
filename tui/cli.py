"""The ``controlroom`` command line.

Subcommands are parsed here and handed to ``backends`` (headless work) or to the Textual app.
Textual is imported only by the subcommands that open a screen, so headless commands start fast
and run where no terminal is attached.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from backends.demo.policy import Policy
from backends.demo.runner import DrillOptions


def _demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run the built-in drill cluster (and the control room on it)")
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
    p.add_argument("--static", action="store_true",
                   help="serve the seed platform without simulated controllers")
    p.add_argument("--bookmark-interval", type=float, default=5.0, help=argparse.SUPPRESS)
    p.add_argument("--watch-window", type=int, default=20_000, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="controlroom",
        description="A terminal control room for the on-call engineer during a production "
        "update of a Kubernetes GitOps platform.")
    sub = parser.add_subparsers(dest="command")
    _demo_parser(sub)
    return parser


def drill_options(args: argparse.Namespace, policy: Policy | None = None) -> DrillOptions:
    """The drill cluster's options from the ``demo`` flags."""
    return DrillOptions(
        host=args.host, port=args.port, policy=policy or Policy(),
        kubeconfig=args.kubeconfig_out, bookmark_interval=args.bookmark_interval,
        window=args.watch_window, simulate=not args.static, scenario=args.scenario,
        speed=args.speed)


async def _serve_headless(args: argparse.Namespace) -> int:
    from backends.demo.runner import DrillCluster

    try:
        policy = Policy.load(args.policy) if args.policy else Policy()
    except ValueError as exc:
        print(f"controlroom: {exc}", file=sys.stderr)
        return 2
    cluster = DrillCluster(drill_options(args, policy))
    try:
        await cluster.start()
    except OSError as exc:
        print(f"controlroom: cannot start the drill cluster: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"kubeconfig: {cluster.kubeconfig}", flush=True)
    print(f"api: {cluster.url}", flush=True)
    print(f"metrics: {cluster.metrics_url}", flush=True)
    await stop.wait()
    await cluster.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``controlroom`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from backends.demo.sim import scenarios

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
        if args.headless:
            return asyncio.run(_serve_headless(args))
        from tui.demo_app import run_demo

        return run_demo(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
