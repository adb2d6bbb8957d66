"""``scale`` and ``rollback deployment``: the Deployment use cases from a terminal
(:mod:`backends.usecases.workloads`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cli.execute import run_action
from cli.session import FAILED, OK, CommandState, Session, fail, planned, run_session

if TYPE_CHECKING:
    from backends.usecases.workspace import Action

__all__ = ["rollback_deployment", "scale"]


def scale(args: argparse.Namespace, state: CommandState) -> int:
    async def body(s: Session) -> int:
        from backends.sanitize import clean
        from backends.usecases import workloads

        ns, name = args.deployment

        async def restore() -> Action:
            try:
                return await workloads.plan_scale_restore(s.ws, ns, name)
            except workloads.NothingToRestore as exc:
                fail(FAILED, f"{clean(exc, 500)}; give N instead")

        action = await planned(restore() if args.restore
                               else workloads.plan_scale(s.ws, ns, name, args.replicas))
        await run_action(s, action)
        return OK

    return run_session(args, state, body)


def rollback_deployment(args: argparse.Namespace, state: CommandState) -> int:
    async def body(s: Session) -> int:
        from backends.usecases import workloads

        ns, name = args.deployment
        await run_action(s, await planned(workloads.plan_rollout_undo(s.ws, ns, name,
                                                                      args.to)))
        return OK

    return run_session(args, state, body)
