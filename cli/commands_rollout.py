"""``rollout pause|resume``: a Deployment's rollout paused or resumed from a terminal, as
``kubectl rollout pause|resume`` do, journaled (:mod:`backends.usecases.rollout`)."""

from __future__ import annotations

import argparse

from cli.execute import run_action
from cli.session import OK, CommandState, Session, planned, run_session

__all__ = ["rollout"]


def rollout(args: argparse.Namespace, state: CommandState) -> int:
    """Pause or resume: the plan is printed (an empty one says "already paused" / "not
    paused: nothing to do" and exits 0, sending nothing), then confirmed and executed."""
    async def body(s: Session) -> int:
        from backends.usecases import rollout as usecase

        ns, name = args.deployment
        build = (usecase.plan_pause_rollout if args.rollout_action == "pause"
                 else usecase.plan_resume_rollout)
        await run_action(s, await planned(build(s.ws, ns, name)))
        return OK

    return run_session(args, state, body)
