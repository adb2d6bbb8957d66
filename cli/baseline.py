"""Headless ``snapshot``, ``diff`` and ``validate``: the baseline keys for pipelines.

``controlroom snapshot [-o FILE] [--change-id ID]`` takes a baseline before an update;
``controlroom diff BASELINE [CURRENT]`` says what got worse, better or changed since (CURRENT
omitted: a live snapshot now); ``controlroom validate [--baseline FILE] [--format
text|json|junit] [-o FILE]`` runs the post-update checks. They share the main command's
``--kubeconfig``, ``--context``, ``--namespace`` and ``--config``, and take ``--prometheus`` /
``--alertmanager`` URLs to override the config (the drill prints its servers' URLs).

Exit codes, so a pipeline can tell "it is broken" from "I could not look":

- ``snapshot``: 0 written; 2 cannot run.
- ``diff``: 0 nothing got worse; 1 something got worse in a way validation would fail
  (the ``[validate] regressions`` kinds: warning events alone do not); 2 cannot run.
- ``validate``: 0 every check passed; 1 a check failed; 2 cannot run.

"Cannot run" is a bad config, a bad kubeconfig or context, an unreachable cluster or one that
refuses the credentials, an unreadable baseline (named with the problem: not JSON, truncated,
written by a newer controlroom, a field of the wrong type...), or an output file that exists
(baselines are never overwritten) or is the baseline itself.

The live path (:func:`live_baseline`) fills a fresh store once with
:func:`backends.baseline.collect.collect` and captures it with the same
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
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from backends.sanitize import clean
from cli.headless import _Exit, _fail, _settings

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
    except _Exit as exc:
        if exc.message:
            print(f"{name}: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{name}: interrupted; nothing was written", file=sys.stderr)
        return _CANNOT


# --------------------------------------------------------------------------- live capture


def live_baseline(args: argparse.Namespace, settings: Settings, change_id: str = "") -> Baseline:
    """A baseline of the live cluster now (exit 2 through :class:`_Exit` when it cannot)."""
    from backends.kube.kubeconfig import KubeconfigError, describe_context

    try:
        context, cluster = describe_context(getattr(args, "kubeconfig", None),
                                            getattr(args, "context", None))
    except KubeconfigError as exc:
        _fail(_CANNOT, clean(exc, 500))
    return asyncio.run(_capture(args, settings, context, cluster, change_id))


async def _capture(args: argparse.Namespace, settings: Settings, context: str, cluster: str,
                   change_id: str) -> Baseline:
    from backends.baseline.capture import capture, make_meta, with_checklist
    from backends.baseline.collect import collect
    from backends.baseline.runbook import default_checklist
    from backends.kube.connection import connect
    from backends.kube.errors import KubeApiError, KubeconfigError, KubeUnreachable
    from backends.store import Store

    try:
        conn = await connect(getattr(args, "kubeconfig", None), context, request_timeout=60.0,
                             connect_timeout=10.0)
    except KubeconfigError as exc:
        _fail(_CANNOT, clean(exc, 500))
    try:
        try:
            await conn.get_raw("/version")
        except KubeUnreachable as exc:
            _fail(_CANNOT, f"cannot reach context {context!r} ({conn.cluster}): "
                  f"{clean(exc, 300)}")
        except KubeApiError as exc:
            if exc.status == 401:
                _fail(_CANNOT, f"context {context!r}: the server refused the credentials: "
                      f"{clean(exc.message, 300)}")
        store = Store()
        namespaces = getattr(args, "namespace", None) or settings.context(context).namespaces
        notes = await collect(conn, store, settings,
                              prometheus_url=args.prometheus or settings.prometheus.url,
                              alertmanager_url=args.alertmanager or settings.alertmanager.url,
                              namespaces=namespaces or None, timeout=args.timeout)
        for note in notes:
            print(f"controlroom {args.command}: note: {clean(note, 500)}", file=sys.stderr)
        baseline = capture(store, make_meta(context, cluster, change_id), time.time())
        return with_checklist(baseline, default_checklist(change_id=baseline.change_id), store)
    finally:
        await conn.close()


def _load(path: Path) -> Baseline:
    from backends.baseline.io import BaselineError, load_baseline

    try:
        return load_baseline(path)
    except BaselineError as exc:
        _fail(_CANNOT, f"cannot use the baseline: {exc}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


# --------------------------------------------------------------------------- commands


def _snapshot(args: argparse.Namespace) -> int:
    from backends.baseline.io import BaselineError, write_baseline
    from backends.baseline.report import render_baseline_summary

    settings = _settings(args)
    if args.output is not None and args.output.exists():
        _fail(_CANNOT, f"{clean(str(args.output), 300)} already exists; a baseline is never "
              "overwritten (choose another name)")
    baseline = live_baseline(args, settings, args.change_id)
    try:
        path = write_baseline(baseline, args.output)
    except BaselineError as exc:
        _fail(_CANNOT, clean(str(exc), 800))
    print(f"snapshot: {path}", flush=True)
    print(render_baseline_summary(baseline), flush=True)
    return _OK


def _diff(args: argparse.Namespace) -> int:
    from backends.baseline.diff import diff
    from backends.baseline.report import render_diff_json, render_diff_text
    from backends.baseline.validate import regressions

    settings = _settings(args)
    baseline = _load(args.baseline)
    current = _load(args.current) if args.current is not None else live_baseline(args, settings)
    result = diff(baseline, current)
    print(render_diff_json(result) if args.format == "json" else render_diff_text(result),
          flush=True)
    return _FAILED if regressions(result, settings.validate) else _OK


def _validate(args: argparse.Namespace) -> int:
    from backends.baseline.io import BaselineError, write_atomic
    from backends.baseline.report import render_validation, render_validation_text
    from backends.baseline.validate import validate

    settings = _settings(args)
    for source in (args.baseline, args.current):
        if args.output is not None and source is not None and _same_file(args.output, source):
            _fail(_CANNOT, f"--output {clean(str(args.output), 300)} is the snapshot being "
                  "read; refusing to overwrite it")
    baseline = _load(args.baseline) if args.baseline is not None else None
    current = _load(args.current) if args.current is not None else live_baseline(args, settings)
    result = validate(current, settings.validate, baseline)
    report = render_validation(result, args.format)
    if args.output is None:
        print(report, flush=True)
    else:
        try:
            write_atomic(args.output, report.encode() + b"\n", overwrite=True)
        except BaselineError as exc:
            _fail(_CANNOT, clean(str(exc), 800))
        print(render_validation_text(result), flush=True)
        print(f"report: {args.output}", flush=True)
    return _OK if result.passed else _FAILED
