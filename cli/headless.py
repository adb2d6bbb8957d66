"""Headless commands: the control room's actions for pipelines and terminals without a screen.

``controlroom pause-sync|restore-sync|scale|rollout|rollback|weights|breaker|journal ...`` run
the SAME planners (:mod:`backends.ops`) and the SAME write gate as the keys of the control
room; only the face differs. They exist for the update strategy's "Rollback on Failure" step (a CI job that must
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

Where each job lives: :mod:`cli.parser` (the subcommands and their flags),
:mod:`cli.session` (flags to context, connection, journal, gate; exit codes),
:mod:`cli.execute` and :mod:`cli.confirm` (print, dry-run, confirm, execute, Ctrl-C),
:mod:`cli.render` (the text), ``cli/commands_*.py`` (one module per command family, each
calling the use cases of :mod:`backends.usecases`). This module is the dispatcher.

Wiring (``cli/main.py``): :func:`register` adds the subcommands to the main parser's
subparsers; :func:`dispatch` runs one and returns its exit code, or None when the parsed
command is not a headless one.
"""

from __future__ import annotations

import argparse
import sys
from typing import Final

from backends.sanitize import clean
from cli.parser import register
from cli.session import FAILED, REASON_ENV, USAGE, CommandState, Exit

__all__ = ["COMMANDS", "REASON_ENV", "dispatch", "register"]

COMMANDS: Final = ("pause-sync", "restore-sync", "scale", "rollout", "rollback", "weights",
                   "breaker",
                   "journal", "record", "timeline")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run the parsed headless command and return its exit code; None when ``args`` is not
    a headless command (the caller handles it)."""
    handler = getattr(args, "headless", None)
    if getattr(args, "command", None) not in COMMANDS or handler is None:
        return None
    name = _command_name(args)
    state = CommandState()
    try:
        code: int = handler(args, state)
        return code
    except Exit as exc:
        if exc.message:
            print(f"{name}: {clean(exc.message, 4000)}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{name}: interrupted; " + (
            "a write may have been on its way: check `controlroom journal`" if state.sending
            else "nothing was sent"), file=sys.stderr)
        return FAILED
    except Exception as exc:
        failed = _known_failure(name, exc)
        if failed is None:
            raise
        return failed


def _known_failure(name: str, exc: Exception) -> int | None:
    """Say a connection or journal failure in one line and return its exit code; None for
    anything else. Imported here, on the failure path: the Kubernetes client's modules cost
    about half a second to import, which commands that never connect (``journal``,
    ``timeline``) should not pay."""
    from backends.kube.errors import KubeError, KubeUnreachable
    from backends.ops.journal import JournalError

    if isinstance(exc, KubeUnreachable):  # the server went away between two steps
        print(f"{name}: lost the server: {clean(exc, 300)}; check `controlroom journal` for "
              "writes whose outcome is unknown", file=sys.stderr)
        return USAGE
    if isinstance(exc, KubeError):
        print(f"{name}: {clean(exc, 500)}", file=sys.stderr)
        return FAILED
    if isinstance(exc, JournalError):  # a journal that went bad under a running command
        print(f"{name}: {clean(exc, 500)}", file=sys.stderr)
        return USAGE
    return None


def _command_name(args: argparse.Namespace) -> str:
    parts = ["controlroom", str(args.command)]
    for extra in ("rollout_action", "rollback_kind", "breaker_action"):
        if getattr(args, extra, None):
            parts.append(str(getattr(args, extra)))
    return " ".join(parts)
