"""Entry point of the ``controlroom`` console script (see the package docstring for why)."""

from __future__ import annotations

import argparse
import sys

from backends.kube.gcpause import hold_until_startup_frozen, release_startup_hold
from cli.main import build_parser, load_settings, run


def main(argv: list[str] | None = None) -> int:
    """Parse, run a headless command in :mod:`cli`, or open the control room's screen."""
    args = build_parser().parse_args(argv)
    code = run(args)
    if code is not None:
        return code
    # No collections while the screen's modules import; the App freezes that heap and
    # turns the collector back on (backends/kube/gcpause.py). The finally: however we end.
    hold_until_startup_frozen()
    try:
        return _open_screen(args)
    finally:
        release_startup_hold()


def _open_screen(args: argparse.Namespace) -> int:
    """The commands that open a screen: ``controlroom [cluster]``, ``demo`` and ``replay``."""
    loaded = load_settings(args)
    if loaded is None:
        return 2
    # Textual is imported only here, for the two commands that open a screen.
    from tui.run import run_cluster, run_demo

    if args.command == "replay":
        from tui.replay import run_replay

        return run_replay(args, *loaded)
    if args.command == "demo":
        if args.clusters:
            from tui.run_fleet import run_demo_fleet

            return run_demo_fleet(args, *loaded)
        return run_demo(args, *loaded)
    from tui.run_fleet import contexts_of, run_several

    contexts = contexts_of(args, loaded[0])
    if len(contexts) > 1:
        return run_several(args, *loaded, contexts)
    args.context = contexts[0] if contexts else None
    return run_cluster(args, *loaded)


if __name__ == "__main__":
    sys.exit(main())
