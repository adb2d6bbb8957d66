"""Text for the terminal: plans, dry-run answers, execution results, the breaker's state.

Every string that came from the cluster (names, messages, annotations) goes through
:func:`~backends.sanitize.clean` here, so the commands can print what they are given.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from backends.sanitize import clean

if TYPE_CHECKING:
    from backends.ops.breaker import BreakerEvent, BreakerState, LiveState
    from backends.ops.gate import DryRunResult
    from backends.ops.plan import ExecResult, Plan

__all__ = [
    "STEP_START",
    "json_text",
    "out",
    "red",
    "render_breaker_event",
    "render_breaker_state",
    "render_exec",
    "render_plan",
    "render_previews",
    "step_text",
]


STEP_START = "sending: "
"""How :func:`backends.ops.plan.execute` announces a step, before the gate has decided."""


def step_text(text: str) -> str:
    """A step's progress line as the terminal prints it: the step's start is named without
    "sending" (the gate has not let it through yet: it may refuse it, or wait out a cancel
    window); what follows (``verified``, ``done``, ``refused``...) is printed as is."""
    return text[len(STEP_START):] if text.startswith(STEP_START) else text


def out(text: str) -> None:
    print(text, flush=True)


def json_text(value: Any) -> str:
    return clean(json.dumps(value, sort_keys=True, separators=(",", ":")), 600)


def render_plan(plan: Plan, *, context: str = "", protected: bool = False,
                read_only: bool = False) -> str:
    """The plan as the terminal shows it before anything is sent: every write (method, path,
    prior state, intent, its own warnings), then what it holds back on purpose (auto-sync
    kept paused), the plan's warnings, blocked steps and notes. Every string is sanitized
    (names and messages come from the cluster)."""
    lines = [f"Plan: {clean(plan.title, 200)}"]
    if context:
        flags = [f for f, on in (("PROTECTED (production)", protected),
                                 ("read-only", read_only)) if on]
        lines.append(f"  context: {clean(context, 120)}" + (f" [{', '.join(flags)}]"
                                                              if flags else ""))
    if not plan.writes:
        lines.append("  no writes: nothing to do")
    for i, w in enumerate(plan.writes, 1):
        req = w.request
        lines.append(f"  {i}. {clean(w.title, 200)}")
        lines.append(f"     {req.method} {clean(req.path, 300)}  ({req.content_type})")
        lines.append(f"     target: {clean(req.target.describe(), 200)}"
                     + (f"  step: {clean(w.step, 60)}" if w.step else ""))
        lines.append(f"     prior:  {json_text(w.prior)}")
        lines.append(f"     intent: {json_text(w.intent)}")
        for warning in w.warnings:
            if warning not in plan.warnings:  # those are listed once, below
                lines.append(f"     ! {clean(warning, 500)}")
        if w.fallback is not None:
            fb = w.fallback
            lines.append(f"     if it does not hold: {clean(fb.title, 200)} "
                         f"({fb.request.method} {clean(fb.request.path, 300)}, "
                         f"intent {json_text(fb.intent)})")
    if plan.held:
        lines.append(red("HELD BACK (not done, on purpose):"))
        lines.extend(red(f"  x {clean(item, 800)}") for item in plan.held)
    for title, items, mark in (("warnings", plan.warnings, "!"),
                               ("blocked (RBAC forbids)", plan.blocked, "x"),
                               ("notes", plan.info, "-")):
        if items:
            lines.append(f"{title}:")
            lines.extend(f"  {mark} {clean(item, 800)}" for item in items)
    return "\n".join(lines)


def red(line: str) -> str:
    """``line`` in red on a terminal (not when piped, nor with ``$NO_COLOR`` set): what a
    plan holds back on purpose must not read like a note."""
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        return f"\x1b[31m{line}\x1b[0m"
    return line


def render_previews(plan: Plan, results: Sequence[DryRunResult]) -> str:
    """The server's dry-run answer for each write of ``plan``."""
    lines = ["Server dry-run (dryRun=All, nothing changed):"]
    for i, (w, r) in enumerate(zip(plan.writes, results, strict=True), 1):
        where = clean(w.request.target.describe(), 200)
        if not r.performed:
            lines.append(f"  {i}. {where}: not performed: {clean(r.message, 500)}")
        elif r.ok:
            lines.append(f"  {i}. {where}: ok ({r.status})")
        else:
            lines.append(f"  {i}. {where}: REFUSED {r.status} {clean(r.reason, 64)}: "
                         f"{clean(r.message, 800)}")
    return "\n".join(lines)


def render_exec(result: ExecResult) -> str:
    """What an execution did (its steps were printed as they happened) and its operation
    id, the journal's handle on it."""
    return (f"{clean(result.summary(), 2000)}\n"
            f"operation: {clean(result.operation_id, 80)}")


def render_breaker_event(event: BreakerEvent) -> str:
    """One line per breaker event: ``[scale] checkout/web: verified: spec.replicas=0``."""
    if not event.target:
        return f"  [{event.phase}] phase {event.state}: {clean(event.text, 800)}"
    where = clean(event.label, 200).partition(" ")[2] or clean(event.label, 200)
    state = "" if event.state == "progress" else f"{event.state}: "
    return f"  [{event.phase}] {where}: {state}{clean(step_text(event.text), 800)}"


def render_breaker_state(state: BreakerState, live: LiveState | None = None) -> str:
    """``controlroom breaker status``: the headline, then each target with the state the
    breaker recorded before it (what release puts back). With ``live`` (the cluster read
    back), the headline and each target say what the objects show, so a release killed
    halfway reads "partly released: k of n restored" and names which."""
    seen = {t.target.key: t for t in live.targets} if live is not None else {}
    lines = [clean(live.headline() if live is not None else state.headline(), 800)]
    if state.half_done:
        lines.append("  HALF-DONE: a write's outcome is unknown or the breaker stopped early; "
                     "release restores whatever may have applied")
    for t in state.targets:
        now = seen.get(t.key)
        lines.append(f"  {t.phase:<6} {clean(t.kind, 40)} {clean(t.namespace, 80)}/"
                     f"{clean(t.name, 120)}: "
                     + (f"{clean(now.describe(), 600)}; " if now is not None else "")
                     + (f"journal {t.status}" if t.source == "journal"
                        else "from its mark, not in this journal")
                     + (" (outcome unknown)" if t.unsettled else "")
                     + f"; prior {json_text(t.prior)}")
    if live is not None and live.error and state.engaged:
        lines.append("  cluster: unknown, the targets above are the journal's word")
    if live is not None and live.error and not state.engaged:
        lines.append(f"  cluster: unknown ({clean(live.error, 300)}): the marks breakers "
                     "leave on the objects were not checked")
    if state.engaged and state.source != "journal":
        lines.append("  known from the breaker marks on the objects"
                     + (" (not in this journal): any operator can release it"
                        if state.source == "cluster" else " and this journal"))
    for other in state.others:
        lines.append(f"  also engaged: {clean(other, 80)}")
    lines.extend(f"  ! {clean(note, 600)}" for note in state.notes)
    return "\n".join(lines)
