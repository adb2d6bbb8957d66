"""Headless ``snapshot``, ``diff`` and ``validate``: the baseline keys for pipelines.

``controlroom snapshot [-o FILE] [--change-id ID]`` takes a baseline before an update;
``controlroom diff BASELINE [CURRENT]`` says what got worse, better or changed since (CURRENT
omitted: a live snapshot now); ``controlroom validate [--baseline FILE] [--format
text|json|junit] [-o FILE]`` runs the post-update checks. They share the main command's
``--kubeconfig``, ``--context``, ``--namespace`` and ``--config``, and take ``--prometheus`` /
``--alertmanager`` URLs to override the config (the drill prints its servers' URLs).

Exit codes, so a pipeline can tell "it is broken" from "I could not look":

- ``snapshot``: 0 written; 2 cannot run, or the baseline would be incomplete (nodes,
  workloads or pods could not be read: nothing is written, the previous baseline stays the
  newest).
- ``diff``: 0 nothing got worse; 1 something got worse in a way validation would fail
  (the ``[validate] regressions`` kinds: warning events alone do not); 2 cannot run, or
  "cannot compare" (the baseline or the cluster now lacks nodes, workloads or pods).
- ``validate``: 0 every check passed; 1 a check failed; 2 cannot run, "cannot compare"
  (the baseline lacks a required section), or nothing failed but a check could not be made
  (``????``: its data could not be read; never a pass). A circuit breaker engaged on the
  context (the journal says so) fails ``breaker-released``.

An API that answers nothing useful is not an empty cluster: a server that answers 404 to
``/version`` is refused at connection, one whose discovery is empty or that does not serve
nodes or pods leaves those sections missing, so ``snapshot`` refuses and ``diff`` /
``validate`` exit 2 naming the problem; never a baseline of zeros.

Everything printed goes through :func:`~backends.sanitize.clean` (one-line errors) or
:func:`~backends.sanitize.clean_multiline` (reports): the context name comes from a
kubeconfig and may carry terminal escapes as well as any cluster string.

"Cannot run" is a bad config, a bad kubeconfig or context, an unreachable cluster or one that
refuses the credentials, an unreadable baseline (named with the problem: not JSON, truncated,
written by a newer controlroom, a field of the wrong type...), or an output file that exists
(baselines are never overwritten) or is the baseline itself.

The live path (:func:`live_baseline`) is the use case
:func:`backends.usecases.baseline.live_baseline`: a fresh store filled once with
:func:`~backends.usecases.baseline.list_cluster`, captured with the same
:func:`~backends.baseline.capture.capture` as the control room's ``b`` key. Nothing here writes
to the cluster, and Textual is never imported.

Wiring (``cli/main.py``): :func:`register` adds the subcommands; :func:`dispatch` runs one and
returns its exit code, or None when the parsed command is not one of these.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

from backends.sanitize import clean, clean_multiline
from cli.session import Exit, connected, context_of, fail, journal_path, settings_of

if TYPE_CHECKING:
    from backends.baseline.model import Baseline
    from backends.config import Settings

__all__ = ["COMMANDS", "dispatch", "live_baseline", "register"]

COMMANDS: Final = ("snapshot", "diff", "validate")

_OK, _FAILED, _CANNOT = 0, 1, 2


def _url(text: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text.strip()):
        raise argparse.ArgumentTypeError(f"expected http://host:port or https://host, got "
                                         f"{text!r}")
    return text.strip()


def _live_flags(p: argparse.ArgumentParser) -> None:
    """The main command's connection flags (SUPPRESS: a value given before the subcommand
    is not overwritten by an absent one after it) and the alert-source URLs."""
    s = argparse.SUPPRESS
    g = p.add_argument_group("connection")
    g.add_argument("--kubeconfig", default=s,
                   help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    g.add_argument("--context", default=s, help="kube context (default: current)")
    g.add_argument("--namespace", "-n", action="append", default=s, metavar="NS",
                   help="only this namespace's pods and workloads (repeatable; default: all)")
    g.add_argument("--config", type=Path, default=s,
                   help="configuration file (default: the platform config dir)")
    a = p.add_argument_group("signals")
    a.add_argument("--prometheus", type=_url, default=None, metavar="URL",
                   help="Prometheus for alerts and key signals (default: [prometheus] url)")
    a.add_argument("--alertmanager", type=_url, default=None, metavar="URL",
                   help="Alertmanager for alerts (default: [alertmanager] url)")
    a.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="how long to wait for every list to complete (default: 60)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``snapshot``, ``diff`` and ``validate`` to the ``controlroom`` subparsers."""
    p = sub.add_parser("snapshot", help="take a pre-update baseline (JSON, written atomically)",
                       description="Capture nodes, workloads, pods, warning events, Argo CD "
                       "apps, gateways and routes, alerts, health endpoints and key signals "
                       "into one versioned JSON file (mode 0600). Secrets are never captured.")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="FILE",
                   help="where to write (default: a timestamped file in the snapshots dir); "
                   "an existing file is never overwritten")
    p.add_argument("--change-id", default="", metavar="ID",
                   help="the change this baseline is for (ticket, pipeline run)")
    _live_flags(p)
    p.set_defaults(baseline_command=_snapshot)

    p = sub.add_parser("diff", help="what got worse, better or changed since a baseline",
                       description="Compare a baseline with another snapshot, or with the "
                       "live cluster now. Exit 0: nothing worse; 1: something got worse (a "
                       "regression validate would fail on).")
    p.add_argument("baseline", type=Path, metavar="BASELINE")
    p.add_argument("current", type=Path, nargs="?", default=None, metavar="CURRENT",
                   help="a later snapshot (default: take one of the live cluster now)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    _live_flags(p)
    p.set_defaults(baseline_command=_diff)

    p = sub.add_parser("validate", help="post-update validation (exit 0 pass, 1 fail)",
                       description="Every node Ready, critical namespaces Running, health "
                       "endpoints answering, the [validate] rules, and with --baseline no "
                       "regression against it. Exit 0: passed; 1: a check failed; 2: could "
                       "not run.")
    p.add_argument("--baseline", type=Path, default=None, metavar="FILE",
                   help="also fail on anything worse than this baseline")
    p.add_argument("--current", type=Path, default=None, metavar="FILE",
                   help="validate this snapshot instead of the live cluster")
    p.add_argument("--format", choices=("text", "json", "junit"), default="text")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="FILE",
                   help="write the report here (replaced atomically; the text verdict is "
                   "still printed)")
    _live_flags(p)
    p.set_defaults(baseline_command=_validate)


def dispatch(args: argparse.Namespace) -> int | None:
    """Run the parsed command and return its exit code; None when it is not one of ours."""
    handler = getattr(args, "baseline_command", None)
    if getattr(args, "command", None) not in COMMANDS or handler is None:
        return None
    name = f"controlroom {args.command}"
    try:
        code: int = handler(args)
        return code
    except Exit as exc:
        if exc.message:
            print(f"{name}: {clean(exc.message, 4000)}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{name}: interrupted; nothing was written", file=sys.stderr)
        return _CANNOT


# --------------------------------------------------------------------------- live capture


def live_baseline(args: argparse.Namespace, settings: Settings, change_id: str = "") -> Baseline:
    """A baseline of the live cluster now (exit 2 through :class:`~cli.session.Exit` when it
    cannot): :func:`backends.usecases.baseline.live_baseline`, the notes on stderr."""
    context, cluster = context_of(args, _CANNOT)
    # Its own Prometheus, Alertmanager and endpoints ([contexts."name"], issue 18).
    return asyncio.run(_capture(args, settings.for_context(context), context, cluster,
                                change_id))


async def _capture(args: argparse.Namespace, settings: Settings, context: str, cluster: str,
                   change_id: str) -> Baseline:
    from backends.usecases.baseline import live_baseline as capture_live

    conn = await connected(args, context, _CANNOT)
    try:
        namespaces = getattr(args, "namespace", None) or settings.context(context).namespaces
        baseline, notes = await capture_live(
            conn, settings, context, cluster, change_id,
            prometheus_url=args.prometheus or "", alertmanager_url=args.alertmanager or "",
            namespaces=namespaces or None, timeout=args.timeout)
        for note in notes:
            print(f"controlroom {args.command}: note: {clean(note, 500)}", file=sys.stderr)
        return baseline
    finally:
        await conn.close()


def _out(text: str) -> None:
    """Print a report: every line safe for a terminal, none cut."""
    print(clean_multiline(text, len(text) + 1), flush=True)


def _comparable(baseline: Baseline, what: str) -> None:
    """Exit 2 ("cannot compare") when ``baseline`` lacks nodes, workloads or pods."""
    from backends.usecases.baseline import IncompleteBaseline, refuse_incomplete

    try:
        refuse_incomplete(baseline, f"cannot compare: {what} lacks required sections")
    except IncompleteBaseline as exc:
        fail(_CANNOT, str(exc))


def _load(path: Path) -> Baseline:
    from backends.baseline.io import BaselineError, load_baseline

    try:
        return load_baseline(path)
    except BaselineError as exc:
        fail(_CANNOT, f"cannot use the baseline: {exc}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


# --------------------------------------------------------------------------- commands


def _snapshot(args: argparse.Namespace) -> int:
    from backends.baseline.io import BaselineError, write_baseline
    from backends.baseline.report import render_baseline_summary

    settings = settings_of(args)
    if args.output is not None and args.output.exists():
        fail(_CANNOT, f"{clean(str(args.output), 300)} already exists; a baseline is never "
              "overwritten (choose another name)")
    from backends.usecases.baseline import IncompleteBaseline, refuse_incomplete

    baseline = live_baseline(args, settings, args.change_id)
    try:
        refuse_incomplete(baseline, "refusing to write an incomplete baseline (nothing was "
                          "written)")
    except IncompleteBaseline as exc:
        fail(_CANNOT, str(exc))
    try:
        path = write_baseline(baseline, args.output)
    except BaselineError as exc:
        fail(_CANNOT, clean(str(exc), 800))
    _out(f"snapshot: {path}")
    _out(render_baseline_summary(baseline))
    return _OK


def _diff(args: argparse.Namespace) -> int:
    from backends.baseline.report import render_diff_json, render_diff_text
    from backends.usecases.baseline import compare

    settings = settings_of(args)
    baseline = _load(args.baseline)
    _comparable(baseline, f"the baseline {args.baseline}")
    current = _load(args.current) if args.current is not None else live_baseline(args, settings)
    _comparable(current, f"{args.current}" if args.current is not None
                else "the cluster now (what could not be read)")
    result, regressed = compare(baseline, current, settings)
    _out(render_diff_json(result) if args.format == "json" else render_diff_text(result))
    return _FAILED if regressed else _OK


def _validate(args: argparse.Namespace) -> int:
    from backends.baseline.io import BaselineError, write_atomic
    from backends.baseline.report import render_validation, render_validation_text
    from backends.usecases.baseline import validate_now

    settings = settings_of(args)
    for source in (args.baseline, args.current):
        if args.output is not None and source is not None and _same_file(args.output, source):
            fail(_CANNOT, f"--output {clean(str(args.output), 300)} is the snapshot being "
                  "read; refusing to overwrite it")
    baseline = _load(args.baseline) if args.baseline is not None else None
    if baseline is not None:
        _comparable(baseline, f"the baseline {args.baseline}")
    current = _load(args.current) if args.current is not None else live_baseline(args, settings)
    breakers, breakers_unknown = _breakers(args, current.context)
    result = validate_now(current, settings, baseline, breakers=breakers,
                          breakers_unknown=breakers_unknown)
    report = render_validation(result, args.format)
    if args.output is None:
        _out(report)
    else:
        try:
            write_atomic(args.output, report.encode() + b"\n", overwrite=True)
        except BaselineError as exc:
            fail(_CANNOT, clean(str(exc), 800))
        _out(render_validation_text(result))
        _out(f"report: {args.output}")
    return {"passed": _OK, "failed": _FAILED, "unknown": _CANNOT}[result.verdict]


def _breakers(args: argparse.Namespace, context: str) -> tuple[list[str] | None, str]:
    """(engaged breakers on ``context``, why they could not be read): from the journal,
    which is local state (``--state-dir``), so it answers even for ``--current`` files."""
    from backends.ops.journal import JournalError
    from backends.usecases.baseline import engaged_breakers

    try:
        return engaged_breakers(journal_path(args), context), ""
    except JournalError as exc:
        return None, clean(exc, 500)
