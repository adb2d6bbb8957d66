"""``breaker plan|engage|release|status``: the circuit breaker from a terminal
(:mod:`backends.usecases.breaker`).

What is printed before anything is sent is exactly what is sent: engage lists the writes
:func:`~backends.ops.breaker.engage` builds (annotations included), release the writes of the
same planner :func:`~backends.ops.breaker.release` uses (annotation removals included), and
``--dry-run`` previews those very writes.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from backends.sanitize import clean, clean_multiline
from cli.confirm import confirmed
from cli.execute import report_previews
from cli.render import json_text, out, render_breaker_event, render_breaker_state, render_plan
from cli.session import (
    FAILED,
    OK,
    USAGE,
    CommandState,
    Exit,
    Session,
    connected,
    context_of,
    fail,
    journal_path,
    planned,
    run_session,
    settings_of,
)

if TYPE_CHECKING:
    from backends.breaker_scope import BreakerConfig
    from backends.ops.breaker import BreakerEvent, BreakerResult, BreakerState, LiveState
    from backends.ops.plan import Plan
    from backends.usecases.breaker import EngageAction

__all__ = ["breaker"]


def breaker(args: argparse.Namespace, state: CommandState) -> int:
    action = args.breaker_action
    if action == "status":
        return _status(args)
    if action == "plan":
        args.dry_run = True  # plans only: no reason needed, nothing is sent
        return run_session(args, state, _plan_only, writes=False)
    return run_session(args, state, _engage if action == "engage" else _release)


def _scope(s: Session) -> BreakerConfig | None:
    """The targets the flags name, or None (the use case then takes the config's
    ``[breaker]``, else proposes from the live state)."""
    from backends.breaker_scope import BreakerConfig

    a = s.args
    if a.app or a.deployment or a.route:
        try:
            return BreakerConfig(apps=list(a.app), deployments=list(a.deployment),
                                 routes=list(a.route))
        except ValueError as exc:
            fail(USAGE, str(exc))
    return None


async def _plan(s: Session) -> tuple[EngageAction, list[tuple[str, Plan]]]:
    """Plan the breaker and print it (phases, targets, every write engage sends, warnings,
    refusals, notes)."""
    from backends.ops.plan import PlanError
    from backends.usecases import breaker as usecase

    action = await planned(usecase.plan_engage(s.ws, _scope(s)))
    plan = action.plan
    out(clean_multiline(plan.describe()))
    try:
        writes = action.preview_plans()
    except PlanError as exc:
        out(f"  cannot engage: {clean(exc, 500)}")
        writes = []
    for label, target_plan in writes:
        for i, w in enumerate(target_plan.writes, 1):
            out(f"  {clean(label, 200)} {i}. {w.request.method} {clean(w.request.path, 300)}"
                f"  intent {json_text(w.intent)}  prior {json_text(w.prior)}")
    for line in plan.info:
        out(f"  note: {clean(line, 500)}")
    return action, writes


async def _plan_only(s: Session) -> int:
    await _plan(s)
    return OK


def _progress(event: BreakerEvent) -> None:
    out(render_breaker_event(event))


def _finish(result: BreakerResult) -> int:
    out(clean(result.summary(), 4000))
    if not result.ok:
        fail(FAILED, clean(result.error, 2000))
    return OK


async def _engage(s: Session) -> int:
    from backends.ops.gate import Confirmation
    from backends.ops.plan import preview
    from backends.usecases import breaker as usecase

    action, writes = await _plan(s)
    plan = action.plan
    if not plan.blocked and not plan.errors and plan.writes() == 0:
        out("nothing to do: every target is already in the emergency state")
        return OK
    if plan.refusals:
        fail(FAILED, "not started: " + "; ".join(clean(r, 400) for r in plan.refusals)
             + "; nothing was sent")
    if s.args.dry_run:
        return report_previews(s, [(label, p, await preview(action.gate, p))
                                   for label, p in writes])
    confirm = Confirmation(s.args.confirm_context, emergency=True)
    await confirmed(s.gate, confirm, yes=s.args.yes, writes=plan.writes())
    s.state.sending = True
    return _finish(await usecase.engage(s.ws, action, reason=s.reason, confirm=confirm,
                                        on_progress=_progress))


async def _release(s: Session) -> int:
    from backends.ops.gate import Confirmation
    from backends.usecases import breaker as usecase

    live = await usecase.live_status(s.ws)
    state = live.state
    out(render_breaker_state(state, live))
    if not state.engaged:
        return OK
    action = await planned(usecase.plan_release(s.ws, s.args.operation,
                                                restore_bad=s.args.restore_bad_sync))
    plan = action.preview_plan()
    out("Release restores, scale first and auto-sync last:")
    out(render_plan(plan))
    if plan.held:
        out("  (--restore-bad-sync restores auto-sync anyway)")
    if s.args.dry_run:
        return report_previews(s, [("", plan, await usecase.preview_release(action))])
    confirm = Confirmation(s.args.confirm_context, emergency=True)
    await confirmed(s.gate, confirm, yes=s.args.yes, writes=len(plan.writes))
    s.state.sending = True
    return _finish(await usecase.release(s.ws, action, reason=s.reason, confirm=confirm,
                                         on_progress=_progress))


def _status(args: argparse.Namespace) -> int:
    """The journal first (it is known even when the cluster is unreachable; exit 2 when it
    cannot be read), then, for an engaged breaker, each target read back from the cluster:
    the journal is only marked released once every restore verified, so after a killed
    release only the objects tell "partly released". A cluster that cannot be reached is
    named and the journal's state printed (exit 0)."""
    import asyncio

    from backends.ops.breaker import breaker_status_db
    from backends.ops.journal import JournalDB, JournalError

    settings_of(args)
    context, _cluster = context_of(args)
    path = journal_path(args)
    if not path.exists():
        out(f"breaker: off (no journal at {clean(path, 300)})")
        return OK
    try:
        with JournalDB.open(path) as db:
            state = breaker_status_db(db, context)
    except JournalError as exc:
        fail(USAGE, clean(exc, 500))
    live: LiveState | None = None
    if state.engaged:
        live = asyncio.run(_live(args, context, state))
    out(render_breaker_state(state, live))
    return OK


async def _live(args: argparse.Namespace, context: str, state: BreakerState) -> LiveState:
    """``state`` checked against the cluster, or the reason it could not be."""
    from backends.ops.breaker import LiveState, live_state

    try:
        conn = await connected(args, context)
    except Exit as exc:
        return LiveState(state, error=exc.message or "cannot connect")
    try:
        return await live_state(conn, state)
    finally:
        await conn.close()
