"""Run one planned action from the terminal: print it, dry-run it, or confirm and execute it.

The planning, the dry-run and the execution are the use cases' (:mod:`backends.usecases.run`);
this module renders them and maps the outcome to exit codes. Ctrl-C during a protected
context's cancel window calls the write off; after a write has gone it stops the plan before
the next one (:class:`~backends.usecases.run.StepCancel`). Nothing printed before the gate
has let a write through says it is being sent (:func:`~cli.render.step_text`): the gate may
still refuse it, or the operator call it off.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from backends.sanitize import clean
from cli.confirm import confirmed, sigint
from cli.render import STEP_START, out, render_exec, render_plan, render_previews, step_text
from cli.session import FAILED, Session, fail

if TYPE_CHECKING:
    from backends.ops.gate import DryRunResult
    from backends.ops.plan import ExecResult, Plan
    from backends.usecases.workspace import Action

__all__ = ["report_previews", "run_action"]


def report_previews(s: Session, previews: Sequence[tuple[str, Plan, Sequence[DryRunResult]]]
                    ) -> int:
    """Print the dry-run answers; exit 1 when any write would be refused or could not be
    previewed (read-only mode: none can)."""
    bad = ""
    for label, plan, results in previews:
        out((f"{clean(label, 200)}: " if label else "") + render_previews(plan, results))
        for w, r in zip(plan.writes, results, strict=True):
            if not bad and (not r.performed or not r.ok):
                bad = (f"{clean(w.request.target.describe(), 200)}: "
                       + (clean(r.message, 500) if not r.performed else
                          f"the server would refuse: {r.status} {clean(r.reason, 64)}: "
                          f"{clean(r.message, 800)}"))
    if s.gate.policy.read_only:
        fail(FAILED, f"refused: read-only mode: context {s.context!r} gets no request "
             "that writes, not even a dry-run; nothing was sent")
    if bad:
        fail(FAILED, bad)
    return 0


async def run_action(s: Session, action: Action) -> ExecResult | None:
    """Print the action's plan; dry-run it or confirm and execute it. Returns the execution
    result (None for a dry-run or nothing to do); raises :class:`~cli.session.Exit` for
    refusals and failures."""
    from backends.ops.gate import Confirmation
    from backends.usecases.run import StepCancel, cancel_window, preview, run

    plan, policy = action.plan, action.gate.policy
    out(render_plan(plan, context=s.context, protected=policy.protected,
                    read_only=policy.read_only))
    if plan.empty:
        return None
    if s.args.dry_run:
        report_previews(s, [("", plan, await preview(action))])
        if plan.blocked:
            fail(FAILED, "blocked: " + "; ".join(clean(b, 300) for b in plan.blocked))
        return None
    if plan.blocked:
        fail(FAILED, "not started: the access review forbids "
             + "; ".join(clean(b, 300) for b in plan.blocked) + "; nothing was sent")
    confirm = Confirmation(typed_context=s.args.confirm_context)
    await confirmed(action.gate, confirm, yes=s.args.yes, writes=len(plan.writes))

    cancel = StepCancel()
    window = cancel_window(action, confirm)

    def on_sigint() -> None:
        if cancel.stop():
            print("cancelling: the write is called off", file=sys.stderr, flush=True)
        else:
            print("a write is on its way: stopping after it", file=sys.stderr, flush=True)

    def progress(index: int, text: str) -> None:
        out(f"  [{index + 1}/{len(plan.writes)}] {clean(step_text(text), 800)}")
        if text.startswith(STEP_START) and window > 0:
            out(f"      protected context: the write waits {window:g} s first "
                "(Ctrl-C calls it off)")

    s.state.sending = True
    with sigint(on_sigint):
        result = await run(action, reason=s.reason, confirm=confirm, cancel_token_for=cancel,
                           on_progress=progress)
    out(render_exec(result))
    for step in result.results:
        for w in step.writes:
            if w.journal_error:
                print(f"warning: journal entry {w.journal_id} could not record the outcome: "
                      f"{clean(w.journal_error, 300)}", file=sys.stderr)
    if not result.ok:
        index = result.stopped_at or 0
        target = plan.writes[index].request.target.describe() if plan.writes else plan.title
        detail = (result.results[-1].detail if result.results
                  and result.results[-1].index == index else result.error)
        fail(FAILED, f"{clean(target, 200)}: {clean(detail, 1000)}")
    return result
