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
    from backends.ops.breaker import BreakerEvent, BreakerResult, LiveState
    from backends.ops.journal import OpenOperation
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

    action = await planned(usecase.plan_engage(
        s.ws, _scope(s), allow_no_backend=getattr(s.args, "allow_no_backend", None) or ()))
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
    if not plan.blocked and not plan.errors and not plan.dark and plan.writes() == 0:
        held = [t for t in plan.targets if t.held and not t.include]
        if held:  # the breaker did not engage: a pipeline must not read success
            fail(FAILED, "not started: every target that needs a change is held back ("
                 + "; ".join(clean(f"{t.label}: {t.held}", 300) for t in held)
                 + "); accept it with --allow-no-backend NS/ROUTE; nothing was sent")
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
    """The journal (when there is one) and the breaker marks the cluster carries, then each
    engaged target read back from the cluster: another operator's breaker, or one whose
    journal is gone, shows from its marks; the journal is only marked released once every
    restore verified, so after a killed release only the objects tell "partly released".
    A journal that cannot be read (empty, cut short, damaged, unreadable) is exit 2 naming
    it, after what the cluster shows; it is never replaced. A cluster that cannot be reached
    is named and the journal's state printed (exit 0)."""
    import asyncio

    from backends.ops.journal import JournalDB, JournalError

    settings_of(args)
    context, _cluster = context_of(args)
    path = journal_path(args)
    ops: list[OpenOperation] = []
    problem = ""
    if path.exists() or path.is_symlink():
        try:
            with JournalDB.open(path) as db:
                ops = db.open_operations(context)
        except JournalError as exc:
            problem = clean(exc, 500)
    live = asyncio.run(_live(args, context, ops))
    text = render_breaker_state(live.state, live)
    if problem and not live.state.engaged:  # never calm when the record cannot be read
        head = ("breaker: unknown: the journal cannot be read (below), and the cluster "
                + ("could not be read" if live.error else "carries no breaker mark"))
        text = "\n".join([head, *text.splitlines()[1:]])
    out(text)
    if not path.exists() and not problem:
        out(f"  journal: none at {clean(path, 300)}")
    if problem:
        fail(USAGE, f"{problem} (the breaker state above is the cluster's alone)")
    return OK


async def _live(args: argparse.Namespace, context: str,
                ops: list[OpenOperation]) -> LiveState:
    """The journal's open operations and the cluster's breaker marks, checked against the
    objects; the journal's state and the reason when the cluster cannot be reached."""
    from backends.ops.breaker import LiveState, combined_state
    from backends.usecases.breaker import cluster_status

    try:
        conn = await connected(args, context)
    except Exit as exc:
        return LiveState(combined_state(ops, None), error=exc.message or "cannot connect")
    try:
        return await cluster_status(conn, ops)
    finally:
        await conn.close()
