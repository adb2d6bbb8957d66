"""The headless write commands' parsers: ``pause-sync``, ``restore-sync``, ``scale``,
``rollout pause|resume``, ``rollback app|deployment``, ``weights``, ``breaker``, ``journal``,
``timeline`` (the post-mortem export).

Parsing only gathers input (which object, which revision, the reason, the typed context
name); each subcommand's ``headless`` default is the command function that runs it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cli import (
    commands_argocd,
    commands_breaker,
    commands_journal,
    commands_record,
    commands_rollout,
    commands_timeline,
    commands_traffic,
    commands_workloads,
)
from cli.session import REASON_ENV

if TYPE_CHECKING:
    from backends.breaker_scope import RouteShift

__all__ = ["ARGOCD_NAMESPACE", "register"]

ARGOCD_NAMESPACE: Final = "argocd"
"""Where Applications live when APP names no namespace (Argo CD's default)."""


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
    from backends.breaker_scope import MAX_REPLICAS

    if not 0 <= value <= MAX_REPLICAS:
        raise argparse.ArgumentTypeError(
            f"replicas must be 0 to {MAX_REPLICAS} (spec.replicas is an int32), got {value}")
    return value


def _weight(text: str) -> tuple[str, int]:
    """``BACKEND=WEIGHT``, the weight within the Gateway API's bounds."""
    from backends.breaker_scope import MAX_WEIGHT

    backend, eq, weight = text.partition("=")
    try:
        value = int(weight)
    except ValueError:
        value = -1
    if not eq or not backend.strip() or not 0 <= value <= MAX_WEIGHT:
        raise argparse.ArgumentTypeError(
            f"expected BACKEND=WEIGHT with a whole number from 0 to {MAX_WEIGHT}, got {text!r}")
    return backend.strip(), value


def _to(text: str) -> int | None:
    """``--to``: ``previous`` (None: the last known good, :mod:`backends.ops.revisions`)
    or a whole number from 0."""
    if text.strip().lower() == "previous":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'previous' or a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 'previous' or a number from 0, got {value}")
    return value


def _revision(text: str) -> int | None:
    """A rollout revision for ``rollback deployment --to``: 0 is kubectl's "previous",
    which here is the last known good too."""
    return _to(text) or None


def _route_shift(text: str) -> RouteShift:
    """``NS/NAME:BACKEND=W[,BACKEND=W]`` into a :class:`~backends.breaker_scope.RouteShift`."""
    from backends.breaker_scope import RouteShift

    route, sep, spec = text.partition(":")
    weights: dict[str, int] = {}
    try:
        for part in spec.split(",") if sep else ():
            backend, eq, weight = part.partition("=")
            if not eq or not backend.strip():
                raise ValueError(part)
            weights[backend.strip()] = int(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected NS/NAME:BACKEND=WEIGHT[,BACKEND=WEIGHT], got {text!r}") from None
    try:
        return RouteShift(route=route, weights=weights)
    except ValueError as exc:  # a bound or a reference the schema refuses: say which
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the headless subcommands to the ``controlroom`` parser's subparsers."""
    app = _ns_name(ARGOCD_NAMESPACE)
    deploy = _ns_name(None)

    p = sub.add_parser("pause-sync", help="pause Argo CD auto-sync of an app (journaled)",
                       description="Pause auto-sync of an Argo CD Application, recording the "
                       "exact prior policy in the journal and on the app (annotation).")
    p.add_argument("app", type=app, metavar="APP", help=f"NAME (in {ARGOCD_NAMESPACE}) or NS/NAME")
    _flags(p, writes=True)
    p.set_defaults(headless=commands_argocd.pause_sync)

    p = sub.add_parser("restore-sync", help="restore the exact auto-sync policy a pause saved",
                       description="Put back exactly the automated block recorded by the last "
                       "pause (from the journal, else from the app's annotation).")
    p.add_argument("app", type=app, metavar="APP", help=f"NAME (in {ARGOCD_NAMESPACE}) or NS/NAME")
    p.add_argument("--restore-bad-sync", action="store_true",
                   help="restore auto-sync even when Argo CD would then sync a revision "
                   "recorded as bad (by default it stays paused and the command exits 1)")
    _flags(p, writes=True)
    p.set_defaults(headless=commands_argocd.restore_sync)

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
    p.set_defaults(headless=commands_workloads.scale)

    p = sub.add_parser("rollout", help="pause or resume a Deployment's rollout (journaled)",
                       description="Pause or resume a Deployment's rollout (spec.paused), as "
                       "kubectl rollout pause|resume do; resume puts back the value the "
                       "journal recorded before the last pause. Pausing a paused Deployment "
                       "or resuming one that is not paused changes nothing and says so.")
    p.add_argument("rollout_action", choices=("pause", "resume"), metavar="{pause,resume}")
    p.add_argument("deployment", type=deploy, metavar="NS/DEPLOY")
    _flags(p, writes=True)
    p.set_defaults(headless=commands_rollout.rollout)

    p = sub.add_parser("rollback", help="roll back an Argo CD app or a Deployment",
                       description="Roll back an Argo CD Application to a history entry, or a "
                       "Deployment to a rollout revision (kubectl rollout undo).")
    kinds = p.add_subparsers(dest="rollback_kind", metavar="{app,deployment}", required=True)
    r = kinds.add_parser("app", help="Argo CD rollback (auto-sync must be paused first)")
    r.add_argument("app", type=app, metavar="NAME", help=f"NAME (in {ARGOCD_NAMESPACE}) or NS/NAME")
    r.add_argument("--to", type=_to, default=None, metavar="ID|previous",
                   help="history id; 'previous' (the default) is the last known good entry, "
                   "never one recorded as bad (the plan says which and why)")
    r.add_argument("--no-wait", action="store_true",
                   help="do not wait for the rollback operation to finish")
    r.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                   help="how long to wait for the operation (default: 300)")
    _flags(r, writes=True)
    r.set_defaults(headless=commands_argocd.rollback_app)
    r = kinds.add_parser("deployment", help="rollout undo (to the last known good revision)")
    r.add_argument("deployment", type=deploy, metavar="NS/NAME")
    r.add_argument("--to", type=_revision, default=None, metavar="REV|previous",
                   help="revision; 'previous' (the default, or 0) is the last known good "
                   "one, never one recorded as bad (the plan says which and why)")
    _flags(r, writes=True)
    r.set_defaults(headless=commands_workloads.rollback_deployment)

    p = sub.add_parser("weights", help="HTTPRoute backends: set weights, remove one, restore",
                       description="Set the backend weights of an HTTPRoute (verified by its "
                       "status), remove a backend reference (a backend that does not exist "
                       "keeps ResolvedRefs False even at weight 0), or put back exactly what "
                       "the last of those replaced (--restore, from the journal).")
    p.add_argument("route", type=deploy, metavar="NS/ROUTE")
    p.add_argument("weights", type=_weight, nargs="*", metavar="BACKEND=WEIGHT",
                   help="the new weight of each backend named")
    p.add_argument("--remove", default=None, metavar="BACKEND",
                   help="remove this backend reference from every rule that has it (refused "
                   "when it is a rule's last serving backend)")
    p.add_argument("--restore", action="store_true",
                   help="restore the backendRefs recorded before the last weights change or "
                   "removal")
    _flags(p, writes=True)
    p.set_defaults(headless=commands_traffic.weights)

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
    p.add_argument("--allow-no-backend", action="append", default=[], type=deploy,
                   metavar="NS/ROUTE",
                   help="accept leaving this HTTPRoute with no ready backend: a scale-down "
                   "that would empty it is otherwise held back (repeatable; with or without "
                   "scope flags)")
    p.add_argument("--operation", default=None, metavar="ID",
                   help="release: only this breaker (default: every engaged one, newest first)")
    p.add_argument("--restore-bad-sync", action="store_true",
                   help="release: restore auto-sync even of apps Argo CD would then sync to a "
                   "revision recorded as bad (by default they stay paused, said in the plan)")
    _flags(p, writes=True)
    p.set_defaults(headless=commands_breaker.breaker)

    p = sub.add_parser("journal", help="print the journal of writes",
                       description="Every write the control room made (or refused), oldest "
                       "first. With --context, only that context's.")
    p.add_argument("--since", default=None, metavar="WHEN",
                   help="only entries since a duration ago (30m, 1h, 2d) or a time (RFC 3339)")
    _flags(p, writes=False)
    p.set_defaults(headless=commands_journal.journal)

    p = sub.add_parser("record", help="record the incident timeline of a context (headless)",
                       description="Watch the context as the control room does and record "
                       "every meaningful change (who changed what, alerts, our writes) into "
                       "one timeline file per context, until SIGINT or SIGTERM. Resumes an "
                       "existing file of the same context.")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="the timeline file (default: <state dir>/timeline/<context>.timeline)")
    p.add_argument("--retention", default="72h", metavar="DURATION",
                   help="keep this long, the oldest pruned first (default: 72h)")
    p.add_argument("--max-mb", type=float, default=None, metavar="MB",
                   help="size budget of the file, the oldest pruned first (default: 2048)")
    p.add_argument("--namespace", "-n", action="append", default=argparse.SUPPRESS,
                   metavar="NS", help="record only this namespace (repeatable; default: all)")
    _flags(p, writes=False)
    p.set_defaults(headless=commands_record.record)

    p = sub.add_parser("timeline", help="export a timeline recording for the post-mortem",
                       description="Write a recording's entries (what changed, what fired "
                       "and the change each alert followed, what we did, when it recovered) "
                       "as a Markdown post-mortem draft, JSON or CSV. No cluster is "
                       "contacted.")
    p.add_argument("recording", metavar="FILE-or-CONTEXT",
                   help="a recording file, or a context name (its default recording under "
                   "--state-dir)")
    p.add_argument("--since", default=None, metavar="WHEN",
                   help="from a duration ago (30m, 2h, 1d) or a time (RFC 3339); default: "
                   "the start of the recording")
    p.add_argument("--until", default=None, metavar="WHEN",
                   help="up to a duration ago or a time; default: the end of the recording")
    p.add_argument("--format", choices=("md", "json", "csv"), default="md",
                   help="md: a post-mortem draft (default); json, csv: every field, exact")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="OUT",
                   help="write here (atomically) instead of to stdout")
    p.add_argument("--force", action="store_true",
                   help="replace OUT when it exists")
    _flags(p, writes=False)
    p.set_defaults(headless=commands_timeline.timeline)
