"""Headless commands: the control room's actions for pipelines and terminals without a screen.

``controlroom pause-sync|restore-sync|scale|rollback|breaker|journal ...`` run the SAME planners
(:mod:`backends.ops`) and the SAME write gate as the keys of the control room; only the face
differs. They exist for the update strategy's "Rollback on Failure" step (a CI job that must
put production back without a human at a screen) and for an on-call engineer on a jump host.

What every write command does, in this order, and why:

1. check the flags (a missing ``--reason`` is a usage error, exit 2, before anything is read:
   the journal and the next on-call need to know why);
2. read the config and the kubeconfig, connect and ask the server for ``/version`` (a bad
   config, an unknown context or an unreachable server is exit 2 with one line, never a
   traceback: a pipeline must tell "could not even try" from "tried and was refused");
3. plan (GETs only) and print the plan: every write with its method, path, prior state and
   intent, the warnings, the steps RBAC forbids, the notes;
4. ``--dry-run``: send each write with ``dryRun=All`` and print the server's answers; nothing
   else is sent;
5. otherwise confirm: ``--yes``, or a ``y`` typed on a terminal (a pipeline without ``--yes``
   is refused: stdin that is not a TTY cannot say yes). Protected (production) contexts also
   need ``--confirm-context NAME``, the exact context name, as the confirm screen asks it to be
   typed: a muscle-memory ``--yes`` copied from a staging job must not scale production;
6. execute through the gate (read-only mode and the protected-context check are the gate's,
   so a refused attempt is journaled like any other); each step is verified by reading back.
   Ctrl-C during a protected context's cancel window calls the write off, and after a write
   has gone stops the plan before the next one.

Exit codes (as the ``controlroom`` command): 0 done (or nothing to do), 1 refused or failed
(stderr names the target and the server's reason), 2 usage, configuration or connection error.

Each command runs one ``asyncio.run`` and closes its connection and journal on the way out.
Textual is never imported here: these commands start fast and run where no terminal is
attached. Every string that came from the cluster is passed through
:func:`~backends.sanitize.clean` before it reaches the terminal.

Wiring (``cli/main.py``): :func:`register` adds the subcommands to the main parser's
subparsers; :func:`dispatch` runs one and returns its exit code, or None when the parsed
command is not a headless one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

from backends.sanitize import clean, clean_multiline

if TYPE_CHECKING:
    from backends.config import Settings
    from backends.kube.connection import KubeConnection
    from backends.ops.breaker import (
        BreakerConfig,
        BreakerEvent,
        BreakerPlan,
        BreakerState,
        RouteShift,
    )
    from backends.ops.gate import CancelToken, DryRunResult, WriteGate
    from backends.ops.journal import Journal
    from backends.ops.plan import ExecResult, Plan

__all__ = [
    "COMMANDS",
    "REASON_ENV",
    "dispatch",
    "register",
    "render_breaker_state",
    "render_exec",
    "render_plan",
    "render_previews",
]

COMMANDS: Final = ("pause-sync", "restore-sync", "scale", "rollback", "breaker", "journal")
REASON_ENV: Final = "CONTROLROOM_REASON"
ARGOCD_NAMESPACE: Final = "argocd"
"""Where Applications live when APP names no namespace (Argo CD's default)."""

_OK, _FAILED, _USAGE = 0, 1, 2


_sending = False
"""Set once a command starts executing writes: an interruption after that point may have
left a write whose outcome is unknown (the journal row says so)."""


class _Exit(Exception):
    """Leave a command with ``code``, printing ``message`` (one line) on stderr."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _fail(code: int, message: str) -> NoReturn:
    raise _Exit(code, message)


# --------------------------------------------------------------------------- the parser


def _flags(p: argparse.ArgumentParser, *, writes: bool) -> None:
    """The main command's connection flags, ``--state-dir``, and for write commands the
    confirmation flags. Connection flags default to SUPPRESS so that a value given before the
    subcommand (``controlroom --context prod scale ...``) is not overwritten by an absent one
    after it (argparse copies a subparser's defaults over the main parser's values)."""
    s = argparse.SUPPRESS
    g = p.add_argument_group("connection")
    g.add_argument("--kubeconfig", default=s,
                   help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    g.add_argument("--context", default=s, help="kube context (default: current)")
    g.add_argument("--config", type=Path, default=s,
                   help="configuration file (default: the platform config dir)")
    g.add_argument("--read-only", action="store_true", default=s,
                   help="refuse every write, whatever the config says")
    g.add_argument("--state-dir", type=Path, default=s,
                   help="where the journal lives (default: $CONTROLROOM_STATE_DIR or the "
                   "user state dir)")
    if not writes:
        return
    w = p.add_argument_group("writes")
    w.add_argument("--reason", default=None, metavar="TEXT",
                   help=f"why (change or incident id); required (default: ${REASON_ENV})")
    w.add_argument("--yes", "-y", action="store_true",
                   help="do not ask for confirmation (needed when stdin is not a terminal)")
    w.add_argument("--confirm-context", default=None, metavar="NAME",
                   help="the context name, typed out: required on protected (production) "
                   "contexts")
    w.add_argument("--dry-run", action="store_true",
                   help="only send server-side dry-runs (dryRun=All) and print their answers")


def _ns_name(default_ns: str | None) -> Callable[[str], tuple[str, str]]:
    """An argparse type for ``NS/NAME`` (or ``NAME`` when ``default_ns`` is given)."""

    def parse(text: str) -> tuple[str, str]:
        ns, sep, name = text.partition("/")
        if not sep:
            ns, name = default_ns or "", text
        if not ns or not name or "/" in name:
            want = "NAME or NAMESPACE/NAME" if default_ns else "NAMESPACE/NAME"
            raise argparse.ArgumentTypeError(f"expected {want}, got {text!r}")
        return ns, name

    parse.__name__ = "NAMESPACE/NAME"
    return parse


def _replicas(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"replicas must be >= 0, got {value}")
    return value


def _route_shift(text: str) -> RouteShift:
    """``NS/NAME:BACKEND=W[,BACKEND=W]`` into a :class:`~backends.ops.breaker.RouteShift`."""
    from backends.ops.breaker import RouteShift

    route, sep, spec = text.partition(":")
    weights: dict[str, int] = {}
    try:
        for part in spec.split(",") if sep else ():
            backend, eq, weight = part.partition("=")
            if not eq or not backend.strip():
                raise ValueError(part)
            weights[backend.strip()] = int(weight)
        return RouteShift(route=route, weights=weights)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected NS/NAME:BACKEND=WEIGHT[,BACKEND=WEIGHT], got {text!r}") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the headless subcommands to the ``controlroom`` parser's subparsers."""
    app = _ns_name(ARGOCD_NAMESPACE)
    deploy = _ns_name(None)

    p = sub.add_parser("pause-sync", help="pause Argo CD auto-sync of an app (journaled)",
                       description="Pause auto-sync of an Argo CD Application, recording the "
                       "exact prior policy in the journal and on the app (annotation).")
    p.add_argument("app", type=app, metavar="APP", help=f"NAME (in {ARGOCD_NAMESPACE}) or NS/NAME")
    _flags(p, writes=True)
    p.set_defaults(headless=_pause_sync)

    p = sub.add_parser("restore-sync", help="restore the exact auto-sync policy a pause saved",
                       description="Put back exactly the automated block recorded by the last "
                       "pause (from the journal, else from the app's annotation).")
    p.add_argument("app", type=app, metavar="APP", help=f"NAME (in {ARGOCD_NAMESPACE}) or NS/NAME")
    _flags(p, writes=True)
    p.set_defaults(headless=_restore_sync)

    p = sub.add_parser("scale", help="scale a Deployment (scale subresource, journaled)",
                       description="Set a Deployment's replicas through its scale subresource; "
                       "--restore sets the count recorded before the last scale.")
    p.add_argument("deployment", type=deploy, metavar="NS/DEPLOY")
    count = p.add_mutually_exclusive_group(required=True)
    count.add_argument("replicas", type=_replicas, nargs="?", metavar="N",
                       help="the replica count to set")
    count.add_argument("--restore", action="store_true",
                       help="restore the replicas the journal recorded before the last scale")
    _flags(p, writes=True)
    p.set_defaults(headless=_scale)

    p = sub.add_parser("rollback", help="roll back an Argo CD app or a Deployment",
                       description="Roll back an Argo CD Application to a history entry, or a "
                       "Deployment to a rollout revision (kubectl rollout undo).")
    kinds = p.add_subparsers(dest="rollback_kind", metavar="{app,deployment}", required=True)
    r = kinds.add_parser("app", help="Argo CD rollback (auto-sync must be paused first)")
    r.add_argument("app", type=app, metavar="NAME", help=f"NAME (in {ARGOCD_NAMESPACE}) or NS/NAME")
    r.add_argument("--to", type=int, default=None, metavar="ID",
                   help="history id (default: the previous entry)")
    r.add_argument("--no-wait", action="store_true",
                   help="do not wait for the rollback operation to finish")
    r.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                   help="how long to wait for the operation (default: 300)")
    _flags(r, writes=True)
    r.set_defaults(headless=_rollback_app)
    r = kinds.add_parser("deployment", help="rollout undo (to the previous revision)")
    r.add_argument("deployment", type=deploy, metavar="NS/NAME")
    r.add_argument("--to", type=int, default=None, metavar="REV",
                   help="revision (default: the previous one)")
    _flags(r, writes=True)
    r.set_defaults(headless=_rollback_deployment)

    p = sub.add_parser("breaker", help="the circuit breaker: plan, engage, release, status",
                       description="Circuit breaker: pause auto-sync, shift traffic to healthy "
                       "backends, scale down, verified; release undoes it from the journal.")
    p.add_argument("breaker_action", choices=("plan", "engage", "release", "status"),
                   metavar="{plan,engage,release,status}")
    scope = p.add_argument_group(
        "scope", "Targets given here replace the config's [breaker] table; with neither, the "
        "breaker proposes targets from the live state (Degraded apps, failing Deployments).")
    scope.add_argument("--app", action="append", default=[], metavar="APP",
                       help=f"Argo CD app to freeze: NAME (in {ARGOCD_NAMESPACE}) or NS/NAME "
                       "(repeatable)")
    scope.add_argument("--deployment", action="append", default=[], metavar="NS/NAME",
                       help="Deployment to scale to 0 (repeatable)")
    scope.add_argument("--route", action="append", default=[], type=_route_shift,
                       metavar="NS/NAME:BACKEND=W[,BACKEND=W]",
                       help="emergency weights for an HTTPRoute (repeatable)")
    p.add_argument("--operation", default=None, metavar="ID",
                   help="release: only this breaker (default: every engaged one, newest first)")
    _flags(p, writes=True)
    p.set_defaults(headless=_breaker)

    p = sub.add_parser("journal", help="print the journal of writes",
                       description="Every write the control room made (or refused), oldest "
                       "first. With --context, only that context's.")
    p.add_argument("--since", default=None, metavar="WHEN",
                   help="only entries since a duration ago (30m, 1h, 2d) or a time (RFC 3339)")
    _flags(p, writes=False)
    p.set_defaults(headless=_journal)


# --------------------------------------------------------------------------- dispatch


def dispatch(args: argparse.Namespace) -> int | None:
    """Run the parsed headless command and return its exit code; None when ``args`` is not
    a headless command (the caller handles it)."""
    handler = getattr(args, "headless", None)
    if getattr(args, "command", None) not in COMMANDS or handler is None:
        return None
    from backends.kube.errors import KubeError, KubeUnreachable

    name = _command_name(args)
    try:
        code: int = handler(args)
        return code
    except _Exit as exc:
        if exc.message:
            print(f"{name}: {exc.message}", file=sys.stderr)
        return exc.code
    except KubeUnreachable as exc:  # the server went away between two steps
        print(f"{name}: lost the server: {clean(exc, 300)}; check `controlroom journal` for "
              "writes whose outcome is unknown", file=sys.stderr)
        return _USAGE
    except KubeError as exc:
        print(f"{name}: {clean(exc, 500)}", file=sys.stderr)
        return _FAILED
    except KeyboardInterrupt:
        print(f"{name}: interrupted; " + (
            "a write may have been on its way: check `controlroom journal`" if _sending
            else "nothing was sent"), file=sys.stderr)
        return _FAILED


def _command_name(args: argparse.Namespace) -> str:
    parts = ["controlroom", str(args.command)]
    for extra in ("rollback_kind", "breaker_action"):
        if getattr(args, extra, None):
            parts.append(str(getattr(args, extra)))
    return " ".join(parts)


# --------------------------------------------------------------------------- the session


@dataclass
class _Session:
    """What a write command works with: one connection, one journal, one gate."""

    args: argparse.Namespace
    settings: Settings
    context: str
    conn: KubeConnection
    journal: Journal
    gate: WriteGate
    reason: str


def _reason(args: argparse.Namespace, *, needed: bool) -> str:
    reason = (args.reason if args.reason is not None else os.environ.get(REASON_ENV, "")).strip()
    if needed and not reason and not args.dry_run:
        _fail(_USAGE, f"--reason TEXT is required for writes (change or incident id), or set "
              f"${REASON_ENV}")
    return reason


def _settings(args: argparse.Namespace) -> Settings:
    from backends.config import ConfigError, load

    try:
        settings, _path = load(getattr(args, "config", None))
    except ConfigError as exc:
        _fail(_USAGE, f"bad configuration: {exc}")
    return settings


def _journal_path(args: argparse.Namespace) -> Path:
    from backends.ops.journal import default_journal_path

    return default_journal_path(getattr(args, "state_dir", None))


def _run(args: argparse.Namespace, body: Callable[[_Session], Awaitable[int]], *,
         writes: bool = True) -> int:
    """Resolve flags, config and context, then run ``body`` in one ``asyncio.run``."""
    from backends.kube.kubeconfig import KubeconfigError, describe_context

    reason = _reason(args, needed=writes)
    settings = _settings(args)
    try:
        context, _cluster = describe_context(getattr(args, "kubeconfig", None),
                                             getattr(args, "context", None))
    except KubeconfigError as exc:
        _fail(_USAGE, str(exc))
    return asyncio.run(_session(args, settings, context, reason, body))


async def _session(args: argparse.Namespace, settings: Settings, context: str, reason: str,
                   body: Callable[[_Session], Awaitable[int]]) -> int:
    from backends.kube.connection import connect
    from backends.kube.errors import KubeApiError, KubeconfigError, KubeUnreachable
    from backends.ops.gate import WriteGate, policy_for
    from backends.ops.journal import Journal, JournalError

    try:
        conn = await connect(getattr(args, "kubeconfig", None), context, request_timeout=60.0,
                             connect_timeout=10.0)
    except KubeconfigError as exc:
        _fail(_USAGE, str(exc))
    try:
        try:
            await conn.get_raw("/version")
        except KubeUnreachable as exc:
            _fail(_USAGE, f"cannot reach context {context!r} ({conn.cluster}): {clean(exc, 300)}")
        except KubeApiError as exc:
            if exc.status == 401:
                _fail(_USAGE, f"context {context!r}: the server refused the credentials: "
                      f"{exc.message}")
        try:
            journal = await Journal.open(_journal_path(args))
        except JournalError as exc:
            _fail(_USAGE, f"{clean(exc, 500)} (writes need a journal)")
        try:
            policy = policy_for(settings, context, bool(getattr(args, "read_only", False)))
            gate = WriteGate(policy, conn, journal)
            return await body(_Session(args, settings, context, conn, journal, gate, reason))
        finally:
            await journal.close()
    finally:
        await conn.close()


async def _planned(build: Awaitable[Plan]) -> Plan:
    """Await a planner; a PlanError is exit 1 (or 2 when the cause is a lost server)."""
    from backends.kube.errors import KubeUnreachable
    from backends.ops.plan import PlanError

    try:
        return await build
    except PlanError as exc:
        code = _USAGE if isinstance(exc.__cause__, KubeUnreachable) else _FAILED
        _fail(code, clean(exc, 1000))


# --------------------------------------------------------------------------- rendering


def _json(value: Any) -> str:
    return clean(json.dumps(value, sort_keys=True, separators=(",", ":")), 600)


def render_plan(plan: Plan, *, context: str = "", protected: bool = False,
                read_only: bool = False) -> str:
    """The plan as the terminal shows it before anything is sent: every write (method, path,
    prior state, intent, its own warnings), then the plan's warnings, blocked steps and
    notes. Every string is sanitized (names and messages come from the cluster)."""
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
        lines.append(f"     prior:  {_json(w.prior)}")
        lines.append(f"     intent: {_json(w.intent)}")
        for warning in w.warnings:
            if warning not in plan.warnings:  # those are listed once, below
                lines.append(f"     ! {clean(warning, 500)}")
        if w.fallback is not None:
            fb = w.fallback
            lines.append(f"     if it does not hold: {clean(fb.title, 200)} "
                         f"({fb.request.method} {clean(fb.request.path, 300)}, "
                         f"intent {_json(fb.intent)})")
    for title, items, mark in (("warnings", plan.warnings, "!"),
                               ("blocked (RBAC forbids)", plan.blocked, "x"),
                               ("notes", plan.info, "-")):
        if items:
            lines.append(f"{title}:")
            lines.extend(f"  {mark} {clean(item, 800)}" for item in items)
    return "\n".join(lines)


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


def _out(text: str) -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- run a plan


async def _confirmed(s: _Session, writes: int) -> None:
    """Ask on the terminal unless ``--yes``; refuse (exit 1) when nobody can answer. Nothing
    is asked when the gate will refuse anyway (read-only, wrong or missing context name)."""
    policy = s.gate.policy
    if policy.read_only or (policy.protected and s.args.confirm_context != policy.context):
        return
    if s.args.yes:
        return
    if sys.stdin is None or not sys.stdin.isatty():
        _fail(_FAILED, "refused: stdin is not a terminal and --yes was not given; nothing "
              "was sent")
    answer = await _ask(f"Send {writes} write(s) to context {policy.context!r}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        _fail(_FAILED, "not confirmed; nothing was sent")


async def _ask(prompt: str) -> str:
    """Read one line from the terminal without blocking the loop. Not ``input()`` in a
    thread: Ctrl-C would then leave ``asyncio.run`` waiting for that thread (for Enter);
    here it cancels the command like anywhere else."""
    loop = asyncio.get_running_loop()
    print(prompt, end="", flush=True)
    line: asyncio.Future[str] = loop.create_future()
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not line.done():
            line.set_result(sys.stdin.readline())

    try:
        loop.add_reader(fd, readable)
    except (NotImplementedError, OSError, ValueError):  # no reader support: plain blocking
        return sys.stdin.readline()
    try:
        return await line
    finally:
        loop.remove_reader(fd)


async def _run_plan(s: _Session, plan: Plan) -> ExecResult | None:
    """Print ``plan``; dry-run it or confirm and execute it. Returns the execution result
    (None for a dry-run or nothing to do); raises :class:`_Exit` for refusals and failures."""
    from backends.ops.gate import CancelToken, Confirmation
    from backends.ops.plan import execute

    policy = s.gate.policy
    _out(render_plan(plan, context=s.context, protected=policy.protected,
                     read_only=policy.read_only))
    if plan.empty:
        return None
    if s.args.dry_run:
        await _preview_all(s, [("", plan)])
        if plan.blocked:
            _fail(_FAILED, "blocked: " + "; ".join(clean(b, 300) for b in plan.blocked))
        return None
    if plan.blocked:
        _fail(_FAILED, "not started: the access review forbids "
              + "; ".join(clean(b, 300) for b in plan.blocked) + "; nothing was sent")
    await _confirmed(s, len(plan.writes))

    tokens: list[CancelToken] = []
    stop = False

    def token_for(index: int) -> CancelToken:
        token = CancelToken()
        if stop:
            token.cancel()
        tokens.append(token)
        return token

    def on_sigint() -> None:
        nonlocal stop
        stop = True
        if tokens and tokens[-1].cancel():
            print("cancelling: the write is called off", file=sys.stderr, flush=True)
        else:
            print("a write is on its way: stopping after it", file=sys.stderr, flush=True)

    def progress(index: int, text: str) -> None:
        _out(f"  [{index + 1}/{len(plan.writes)}] {clean(text, 800)}")
        if (text.startswith("sending") and policy.protected and policy.cancel_window > 0
                and not policy.read_only and s.args.confirm_context == policy.context):
            _out(f"      protected context: sending in {policy.cancel_window:g} s "
                 "(Ctrl-C calls it off)")

    global _sending
    _sending = True
    with _sigint(on_sigint):
        result = await execute(
            s.gate, plan, reason=s.reason,
            confirm=Confirmation(typed_context=s.args.confirm_context),
            cancel=token_for, on_progress=progress)
    _out(render_exec(result))
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
        _fail(_FAILED, f"{clean(target, 200)}: {clean(detail, 1000)}")
    return result


@contextmanager
def _sigint(handler: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C runs ``handler`` on the loop inside the block; outside it, whatever was there
    before (``asyncio.run``'s own handler, which cancels the command)."""
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, handler)
    except (NotImplementedError, RuntimeError, ValueError):
        yield  # not the main thread, or a platform without signal handlers
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


# --------------------------------------------------------------------------- commands


def _pause_sync(args: argparse.Namespace) -> int:
    async def body(s: _Session) -> int:
        from backends.ops import argocd

        ns, name = args.app
        plan = await _planned(argocd.plan_pause(s.conn, s.gate, ns, name))
        await _run_plan(s, plan)
        return _OK

    return _run(args, body)


def _restore_sync(args: argparse.Namespace) -> int:
    async def body(s: _Session) -> int:
        from backends.ops import argocd

        ns, name = args.app
        prior = await argocd.prior_from_journal(s.journal, s.context, ns, name)
        if prior is not None:
            _out(f"restoring the policy journaled before the last pause: {_json(prior)}")
        plan = await _planned(argocd.plan_restore(s.conn, s.gate, (ns, name), prior))
        await _run_plan(s, plan)
        return _OK

    return _run(args, body)


SCALE_STEPS: Final = ("scale-down", "scale")


async def recorded_replicas(journal: Journal, context: str, ns: str, name: str) -> int | None:
    """The replicas recorded before the newest scale of Deployment ``ns/name`` that may have
    applied (what ``scale --restore`` puts back), or None."""
    for entry in reversed(await journal.entries(context=context)):
        if (entry.kind, entry.namespace, entry.name) != ("Deployment", ns, name):
            continue
        if entry.step not in SCALE_STEPS or not entry.may_have_applied:
            continue
        prior = entry.prior.get("replicas") if isinstance(entry.prior, dict) else None
        if isinstance(prior, int) and not isinstance(prior, bool):
            return prior
    return None


def _scale(args: argparse.Namespace) -> int:
    async def body(s: _Session) -> int:
        from backends.ops import workloads

        ns, name = args.deployment
        if args.restore:
            recorded = await recorded_replicas(s.journal, s.context, ns, name)
            if recorded is None:
                _fail(_FAILED, f"Deployment {ns}/{name}: the journal records no scale to "
                      "restore; give N instead")
            build = workloads.plan_scale_restore(s.conn, s.gate, ns, name, recorded)
        else:
            build = workloads.plan_scale(s.conn, s.gate, ns, name, args.replicas, step="scale")
        await _run_plan(s, await _planned(build))
        return _OK

    return _run(args, body)


def _rollback_app(args: argparse.Namespace) -> int:
    async def body(s: _Session) -> int:
        from backends.ops import argocd

        ns, name = args.app
        plan = await _planned(argocd.plan_rollback(s.conn, s.gate, (ns, name), args.to,
                                                   reason=s.reason))
        result = await _run_plan(s, plan)
        if result is None or args.no_wait:
            return _OK
        return await _follow(s, ns, name, args.timeout)

    return _run(args, body)


async def _follow(s: _Session, ns: str, name: str, timeout: float) -> int:
    """Wait for the rollback operation the controller picks up; 1 unless it Succeeded."""
    from backends.kube.errors import KubeError
    from backends.ops import argocd
    from backends.ops.plan import PlanError

    last = None
    try:
        async for state in argocd.follow_operation(s.conn, (ns, name), timeout):
            last = state
            msg = f": {clean(state.message, 500)}" if state.message else ""
            _out(f"  operation: {state.phase}{msg}")
    except TimeoutError as exc:
        _fail(_FAILED, f"Application {ns}/{name}: {clean(exc, 300)}")
    except (PlanError, KubeError) as exc:
        _fail(_FAILED, f"Application {ns}/{name}: could not follow the operation: "
              f"{clean(exc, 300)}")
    if last is None or last.phase != "Succeeded":
        phase = last.phase if last is not None else "Unknown"
        _fail(_FAILED, f"Application {ns}/{name}: rollback operation {phase}"
              + (f": {clean(last.message, 500)}" if last is not None and last.message else ""))
    return _OK


def _rollback_deployment(args: argparse.Namespace) -> int:
    async def body(s: _Session) -> int:
        from backends.ops import workloads

        ns, name = args.deployment
        plan = await _planned(workloads.plan_rollout_undo(s.conn, s.gate, ns, name, args.to))
        await _run_plan(s, plan)
        return _OK

    return _run(args, body)


def _breaker(args: argparse.Namespace) -> int:
    action = args.breaker_action
    if action == "status":
        return _breaker_status(args)
    if action == "plan":
        args.dry_run = True  # plans only: no reason needed, nothing is sent
        return _run(args, _breaker_plan, writes=False)
    return _run(args, _breaker_engage if action == "engage" else _breaker_release)


def _breaker_scope(s: _Session) -> BreakerConfig | None:
    """The breaker's targets: the flags, else the config's ``[breaker]``, else None (a
    proposal from the live state)."""
    from backends.ops.breaker import BreakerConfig

    a = s.args
    if a.app or a.deployment or a.route:
        try:
            return BreakerConfig(apps=list(a.app), deployments=list(a.deployment),
                                 routes=list(a.route))
        except ValueError as exc:
            _fail(_USAGE, str(exc))
    return getattr(s.settings, "breaker", None)


async def _plan_breaker(s: _Session) -> BreakerPlan:
    """Plan the breaker and print it (phases, targets, writes, warnings, refusals)."""
    from backends.ops.breaker import fill_store, plan_engage
    from backends.store import Store

    config = _breaker_scope(s)
    store: Store | None = None
    if config is None:
        store = Store()
        for missing in await fill_store(s.conn, store):
            _out(f"note: could not list {clean(missing, 300)}")
    plan = await plan_engage(s.conn, s.gate, store, config)
    _out(clean_multiline(plan.describe()))
    for t in plan.included():
        if t.plan is None:
            continue
        for i, w in enumerate(t.plan.writes, 1):
            _out(f"  {clean(t.label, 200)} {i}. {w.request.method} "
                 f"{clean(w.request.path, 300)}  intent {_json(w.intent)}  prior {_json(w.prior)}")
    for line in plan.info:
        _out(f"  note: {clean(line, 500)}")
    return plan


async def _breaker_plan(s: _Session) -> int:
    await _plan_breaker(s)
    return _OK


def _breaker_progress(event: BreakerEvent) -> None:
    """One line per breaker event: ``[scale] checkout/web: verified: spec.replicas=0``."""
    if not event.target:
        _out(f"  [{event.phase}] phase {event.state}: {clean(event.text, 800)}")
        return
    where = clean(event.label, 200).partition(" ")[2] or clean(event.label, 200)
    state = "" if event.state == "progress" else f"{event.state}: "
    _out(f"  [{event.phase}] {where}: {state}{clean(event.text, 800)}")


async def _breaker_engage(s: _Session) -> int:
    from backends.ops.breaker import engage
    from backends.ops.gate import Confirmation

    plan = await _plan_breaker(s)
    if not plan.blocked and not plan.errors and plan.writes() == 0:
        _out("nothing to do: every target is already in the emergency state")
        return _OK
    if plan.refusals:
        _fail(_FAILED, "not started: " + "; ".join(clean(r, 400) for r in plan.refusals)
              + "; nothing was sent")
    if s.args.dry_run:
        return await _preview_all(s, [(t.label, t.plan) for t in plan.included()
                                      if t.plan is not None and t.plan.writes])
    await _confirmed(s, plan.writes())
    global _sending
    _sending = True
    result = await engage(s.gate, plan, reason=s.reason,
                          confirm=Confirmation(s.args.confirm_context, emergency=True),
                          on_progress=_breaker_progress)
    _out(clean(result.summary(), 4000))
    if not result.ok:
        _fail(_FAILED, clean(result.error, 2000))
    return _OK


async def _preview_all(s: _Session, plans: Sequence[tuple[str, Plan]]) -> int:
    """Dry-run every plan and print the answers; exit 1 when any write would be refused or
    could not be previewed (read-only mode: none can)."""
    from backends.ops.plan import preview

    bad = ""
    for label, plan in plans:
        results = await preview(s.gate, plan)
        _out((f"{clean(label, 200)}: " if label else "") + render_previews(plan, results))
        for w, r in zip(plan.writes, results, strict=True):
            if not bad and (not r.performed or not r.ok):
                bad = (f"{clean(w.request.target.describe(), 200)}: "
                       + (clean(r.message, 500) if not r.performed else
                          f"the server would refuse: {r.status} {clean(r.reason, 64)}: "
                          f"{clean(r.message, 800)}"))
    if s.gate.policy.read_only:
        _fail(_FAILED, f"refused: read-only mode: context {s.context!r} gets no request "
              "that writes, not even a dry-run; nothing was sent")
    if bad:
        _fail(_FAILED, bad)
    return _OK


async def _release_plans(s: _Session, state: BreakerState) -> list[tuple[str, Plan]]:
    """What release would write, per engaged target, planned with the same public
    planners release uses (for printing and ``--dry-run``; release plans again itself)."""
    from backends.ops import argocd, traffic, workloads
    from backends.ops.plan import PlanError

    out: list[tuple[str, Plan]] = []
    for t in reversed(state.targets):  # the order release runs in
        prior = t.prior if isinstance(t.prior, dict) else {}
        try:
            if t.phase == "freeze":
                block = prior.get("automated")
                plan = await argocd.plan_restore(s.conn, s.gate, (t.namespace, t.name),
                                                 block if isinstance(block, dict) else None)
            elif t.phase == "shift":
                plan = await traffic.plan_backends_restore(s.conn, s.gate, t.namespace,
                                                           t.name, prior)
            elif isinstance(prior.get("replicas"), int):
                plan = await workloads.plan_scale_restore(s.conn, s.gate, t.namespace, t.name,
                                                          int(prior["replicas"]))
            else:
                continue
        except PlanError as exc:
            _out(f"  {clean(t.label, 200)}: cannot plan its restore: {clean(exc, 500)}")
            continue
        out.append((t.label, plan))
    return out


async def _breaker_release(s: _Session) -> int:
    from backends.ops.breaker import breaker_status, release
    from backends.ops.gate import Confirmation

    state = await breaker_status(s.journal, s.context)
    _out(render_breaker_state(state))
    if not state.engaged:
        return _OK
    plans = await _release_plans(s, state)
    _out("Release restores, scale first and auto-sync last:")
    for _label, plan in plans:
        _out(render_plan(plan))
    if s.args.dry_run:
        return await _preview_all(s, [(label, p) for label, p in plans if p.writes])
    await _confirmed(s, sum(len(p.writes) for _label, p in plans))
    global _sending
    _sending = True
    result = await release(s.gate, s.journal, s.conn, s.context, s.args.operation,
                           reason=s.reason,
                           confirm=Confirmation(s.args.confirm_context, emergency=True),
                           on_progress=_breaker_progress)
    _out(clean(result.summary(), 4000))
    if not result.ok:
        _fail(_FAILED, clean(result.error, 2000))
    return _OK


def render_breaker_state(state: BreakerState) -> str:
    """``controlroom breaker status``: the headline, then each target with the state the
    breaker recorded before it (what release puts back)."""
    lines = [clean(state.headline(), 500)]
    if state.half_done:
        lines.append("  HALF-DONE: a write's outcome is unknown or the breaker stopped early; "
                     "release restores whatever may have applied")
    for t in state.targets:
        lines.append(f"  {t.phase:<6} {clean(t.kind, 40)} {clean(t.namespace, 80)}/"
                     f"{clean(t.name, 120)}: {t.status}"
                     + (" (outcome unknown)" if t.unsettled else "")
                     + f"; prior {_json(t.prior)}")
    for other in state.others:
        lines.append(f"  also engaged: {clean(other, 80)}")
    return "\n".join(lines)


def _breaker_status(args: argparse.Namespace) -> int:
    """Read the journal only: the status is known even when the cluster is unreachable."""
    from backends.kube.kubeconfig import KubeconfigError, describe_context
    from backends.ops.breaker import breaker_status_db
    from backends.ops.journal import JournalDB, JournalError

    _settings(args)
    try:
        context, _cluster = describe_context(getattr(args, "kubeconfig", None),
                                             getattr(args, "context", None))
    except KubeconfigError as exc:
        _fail(_USAGE, str(exc))
    path = _journal_path(args)
    if not path.exists():
        _out(f"breaker: off (no journal at {path})")
        return _OK
    try:
        with JournalDB.open(path) as db:
            state = breaker_status_db(db, context)
    except JournalError as exc:
        _fail(_USAGE, clean(exc, 500))
    _out(render_breaker_state(state))
    return _OK


def _journal(args: argparse.Namespace) -> int:
    """Print the journal; no cluster is contacted. A journal that does not exist yet is
    empty (reading must not create the file)."""
    from backends.ops.journal import JournalDB, JournalError
    from backends.ops.journal_view import format_entries, parse_since

    since = None
    if args.since is not None:
        try:
            since = parse_since(args.since)
        except ValueError as exc:
            _fail(_USAGE, str(exc))
    _settings(args)  # a bad --config is reported like everywhere else
    path = _journal_path(args)
    if not path.exists():
        return _OK
    try:
        with JournalDB.open(path) as db:
            entries = db.entries(since=since, context=getattr(args, "context", None))
    except JournalError as exc:
        _fail(_USAGE, clean(exc, 500))
    text = format_entries(entries)
    if text:
        _out(text)
    return _OK
