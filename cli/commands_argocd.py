"""``pause-sync``, ``restore-sync`` and ``rollback app``: the Argo CD use cases from a
terminal (:mod:`backends.usecases.argocd`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from backends.sanitize import clean
from cli.execute import run_action
from cli.render import out
from cli.session import FAILED, OK, CommandState, Session, fail, planned, run_session

if TYPE_CHECKING:
    from backends.usecases.workspace import Action

__all__ = ["pause_sync", "restore_sync", "rollback_app"]


def pause_sync(args: argparse.Namespace, state: CommandState) -> int:
    async def body(s: Session) -> int:
        from backends.usecases import argocd

        ns, name = args.app
        await run_action(s, await planned(argocd.plan_pause_sync(s.ws, ns, name)))
        return OK

    return run_session(args, state, body)


def restore_sync(args: argparse.Namespace, state: CommandState) -> int:
    async def body(s: Session) -> int:
        from backends.usecases import argocd

        ns, name = args.app
        action = await planned(argocd.plan_restore_sync(s.ws, ns, name,
                                                        restore_bad=args.restore_bad_sync))
        await run_action(s, action)
        if action.plan.held:
            fail(FAILED, "; ".join(clean(h, 2000) for h in action.plan.held)
                 + " (--restore-bad-sync restores it anyway); nothing was sent")
        return OK

    return run_session(args, state, body)


def rollback_app(args: argparse.Namespace, state: CommandState) -> int:
    async def body(s: Session) -> int:
        from backends.usecases import argocd

        ns, name = args.app
        action = await planned(argocd.plan_rollback_app(s.ws, ns, name, args.to,
                                                        reason=s.reason))
        result = await run_action(s, action)
        if result is None or args.no_wait:
            return OK
        return await _follow(s, ns, name, action, args.timeout)

    return run_session(args, state, body)


async def _follow(s: Session, ns: str, name: str, action: Action, timeout: float) -> int:
    """Wait for the rollback operation the controller picks up; 1 unless it Succeeded."""
    from backends.kube.errors import KubeError
    from backends.ops.plan import PlanError
    from backends.usecases import argocd

    last = None
    try:
        async for st in argocd.follow_rollback(s.ws, ns, name, action, timeout=timeout):
            last = st
            msg = f": {clean(st.message, 500)}" if st.message else ""
            out(f"  operation: {st.phase}{msg}")
    except TimeoutError as exc:
        fail(FAILED, f"Application {ns}/{name}: {clean(exc, 300)}")
    except (PlanError, KubeError) as exc:
        fail(FAILED, f"Application {ns}/{name}: could not follow the operation: "
             f"{clean(exc, 300)}")
    if last is None or last.phase != "Succeeded":
        phase = last.phase if last is not None else "Unknown"
        fail(FAILED, f"Application {ns}/{name}: rollback operation {phase}"
             + (f": {clean(last.message, 500)}" if last is not None and last.message else ""))
    return OK
