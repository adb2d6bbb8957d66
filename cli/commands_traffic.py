"""``weights``: an HTTPRoute's backends from a terminal (:mod:`backends.usecases.traffic`):
set their weights, remove a backend reference, or put back what the last of those replaced.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cli.execute import run_action
from cli.session import FAILED, OK, USAGE, CommandState, Session, fail, planned, run_session

if TYPE_CHECKING:
    from backends.usecases.workspace import Action

__all__ = ["weights"]


def weights(args: argparse.Namespace, state: CommandState) -> int:
    chosen = [bool(args.weights), args.remove is not None, args.restore]
    if sum(chosen) != 1:
        fail(USAGE, "give BACKEND=WEIGHT pairs, --remove BACKEND or --restore (one of them)")

    async def body(s: Session) -> int:
        from backends.sanitize import clean
        from backends.usecases import traffic

        ns, name = args.route

        async def restore() -> Action:
            try:
                return await traffic.plan_restore_backends(s.ws, ns, name)
            except traffic.NothingToRestore as exc:
                fail(FAILED, clean(exc, 500))

        if args.restore:
            action = await planned(restore())
        elif args.remove is not None:
            action = await planned(traffic.plan_remove_backend(s.ws, ns, name, args.remove))
        else:
            action = await planned(traffic.plan_shift(s.ws, ns, name, dict(args.weights)))
        await run_action(s, action)
        return OK

    return run_session(args, state, body)
