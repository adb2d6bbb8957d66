"""What every headless command shares: exit codes, the one-line failure, flags to settings,
and the session a write command runs in (context, connection, journal, gate).

A session is opened in this order, and each failure is exit 2 with one line, never a
traceback (a pipeline must tell "could not even try" from "tried and was refused"): the
reason (writes need one), the config, the kube context, the connection and ``/version``,
the journal. The session then holds a :class:`~backends.usecases.workspace.Workspace`, which
is all the use cases need; this module never plans or writes anything itself.

State that outlives the event loop (did a write start before Ctrl-C?) lives in the
:class:`CommandState` the dispatcher creates per command, not in module globals.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn, TypeVar

from backends.sanitize import clean

if TYPE_CHECKING:
    from backends.config import Settings
    from backends.kube.connection import KubeConnection
    from backends.ops.gate import WriteGate
    from backends.ops.journal import Journal
    from backends.signals.mqtt import TeamBus
    from backends.usecases.workspace import Workspace

__all__ = [
    "FAILED",
    "OK",
    "REASON_ENV",
    "USAGE",
    "CommandState",
    "Exit",
    "Session",
    "connected",
    "fail",
    "journal_path",
    "planned",
    "run_session",
    "settings_of",
]

OK: Final = 0
FAILED: Final = 1
USAGE: Final = 2
REASON_ENV: Final = "CONTROLROOM_REASON"

T = TypeVar("T")


class Exit(Exception):
    """Leave a command with ``code``, printing ``message`` (one line) on stderr."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def fail(code: int, message: str) -> NoReturn:
    raise Exit(code, message)


@dataclass
class CommandState:
    """One command's state that the dispatcher reads after ``asyncio.run`` ended (by an
    interruption, say): ``sending`` is set once writes start, so "interrupted" can say
    whether a write may have been on its way."""

    sending: bool = False


@dataclass
class Session:
    """What a write command works with: its flags, the workspace the use cases act in, the
    reason, and the command's state."""

    args: argparse.Namespace
    ws: Workspace
    reason: str
    state: CommandState

    @property
    def context(self) -> str:
        return self.ws.context

    @property
    def settings(self) -> Settings:
        return self.ws.settings

    @property
    def conn(self) -> KubeConnection:
        return self.ws.conn

    @property
    def gate(self) -> WriteGate:
        return self.ws.gate

    @property
    def journal(self) -> Journal:
        assert self.ws.journal is not None  # a session is only opened with a journal
        return self.ws.journal


def reason_of(args: argparse.Namespace, *, needed: bool) -> str:
    reason = (args.reason if args.reason is not None else os.environ.get(REASON_ENV, "")).strip()
    if needed and not reason and not args.dry_run:
        fail(USAGE, f"--reason TEXT is required for writes (change or incident id), or set "
             f"${REASON_ENV}")
    return reason


def settings_of(args: argparse.Namespace) -> Settings:
    from backends.config import ConfigError, load

    try:
        settings, _path = load(getattr(args, "config", None))
    except ConfigError as exc:
        fail(USAGE, f"bad configuration: {exc}")
    return settings


def journal_path(args: argparse.Namespace) -> Path:
    from backends.ops.journal import default_journal_path

    return default_journal_path(getattr(args, "state_dir", None))


def context_of(args: argparse.Namespace, code: int = USAGE) -> tuple[str, str]:
    """(context, cluster) the flags and the kubeconfig name; exit ``code`` when they
    cannot."""
    from backends.kube.kubeconfig import KubeconfigError, describe_context

    try:
        return describe_context(getattr(args, "kubeconfig", None),
                                getattr(args, "context", None))
    except KubeconfigError as exc:
        fail(code, clean(exc, 500))


async def connected(args: argparse.Namespace, context: str, code: int = USAGE
                    ) -> KubeConnection:
    """A connection to ``context`` that answered ``/version``; exit ``code`` when there is
    none (unreachable, or the credentials refused). The caller closes it."""
    from backends.cleartext import config_warnings
    from backends.kube.connection import connect
    from backends.kube.errors import KubeApiError, KubeconfigError, KubeUnreachable

    settings = settings_of(args)
    try:
        conn = await connect(getattr(args, "kubeconfig", None), context, request_timeout=60.0,
                             connect_timeout=10.0,
                             allow_http_credentials=settings.context(context)
                             .allow_http_credentials)
    except KubeconfigError as exc:
        fail(code, clean(exc, 500))
    for warning in (*conn.warnings, *config_warnings(settings)):
        print(f"warning: {clean(warning, 500)}", file=sys.stderr)
    try:
        await conn.get_raw("/version")
    except KubeUnreachable as exc:
        await conn.close()
        fail(code, f"cannot reach context {context!r} ({conn.cluster}): {clean(exc, 300)}")
    except KubeApiError as exc:
        if exc.status == 401:
            await conn.close()
            if conn.credentials_withheld:
                fail(code, f"context {context!r}: the server wants credentials, and they are "
                     f"not sent to a plain http:// server ({clean(conn.cluster, 200)}); use "
                     "https://, or allow it explicitly (see the warning above)")
            fail(code, f"context {context!r}: the server refused the credentials: "
                 f"{clean(exc.message, 300)}")
        if exc.status == 404:
            # kubectl: "the server could not find the requested resource". A wrong URL or a
            # proxy in front answers 404 to everything; every list would then look empty.
            await conn.close()
            fail(code, f"context {context!r} ({clean(conn.cluster, 200)}): the server could "
                 "not find the requested resource (GET /version: 404): not a Kubernetes API "
                 "server at this URL?")
    return conn


def run_session(args: argparse.Namespace, state: CommandState,
                body: Callable[[Session], Awaitable[int]], *, writes: bool = True) -> int:
    """Resolve flags, config and context, then run ``body`` in one ``asyncio.run``."""
    reason = reason_of(args, needed=writes)
    settings = settings_of(args)
    context, _cluster = context_of(args)
    # Its own alert sources, Argo CD and endpoints ([contexts."name"], issue 18).
    settings = settings.for_context(context)
    return asyncio.run(_session(args, settings, context, reason, state, body))


async def _session(args: argparse.Namespace, settings: Settings, context: str, reason: str,
                   state: CommandState, body: Callable[[Session], Awaitable[int]]) -> int:
    from backends.ops.gate import WriteGate, policy_for
    from backends.ops.journal import Journal, JournalError
    from backends.usecases.workspace import Workspace

    conn = await connected(args, context)
    try:
        try:
            journal = await Journal.open(journal_path(args))
        except JournalError as exc:
            fail(USAGE, f"{clean(exc, 500)} (writes need a journal)")
        bus = await _team_bus(settings, journal, context)
        try:
            policy = policy_for(settings, context, bool(getattr(args, "read_only", False)))
            ws = Workspace(conn, WriteGate(policy, conn, journal), journal, settings)
            return await body(Session(args, ws, reason, state))
        finally:
            if bus is not None:
                await _publish_and_stop(bus, journal, context)
            await journal.close()
    finally:
        await conn.close()


async def _team_bus(settings: Settings, journal: Journal, context: str) -> TeamBus | None:
    """With ``[mqtt] url`` configured, the team sees this command's writes as it sees the
    App's (issue 13): every journal entry it commits goes to ``<prefix>/actions`` and the
    breaker state, if the command changed it, to ``<prefix>/breaker/<context>`` (retained).
    A bad URL or broker never stops the command: the journal is the record; the bus is best
    effort and says so on stderr."""
    import sys

    from backends.ops.breaker import breaker_status
    from backends.ops.journal import JournalError
    from backends.signals.mqtt import TeamBus
    from backends.store import Store

    if not settings.mqtt.url:
        return None
    try:
        bus = TeamBus(Store(), settings.mqtt)
    except ValueError as exc:
        print(f"warning: team bus: {clean(exc, 300)}; not published", file=sys.stderr)
        return None
    try:
        bus.assume_breaker(context, await breaker_status(journal, context))
    except JournalError:
        pass  # the command itself reports an unreadable journal
    bus.start()
    bus.watch_journal(journal.db)
    return bus


BUS_FLUSH_S: Final = 5.0
"""How long a command waits at its end for the broker to take what it published."""


async def _publish_and_stop(bus: TeamBus, journal: Journal, context: str) -> None:
    """Publish the breaker state after the command (only a change is sent), wait a bounded
    time for the broker's acknowledgements, and stop the bus."""
    import sys

    from backends.ops.breaker import breaker_status
    from backends.ops.journal import JournalError

    try:
        bus.publish_breaker_state(context, await breaker_status(journal, context))
    except JournalError:
        pass
    # Entries committed in worker threads reach the loop by call_soon_threadsafe: let them.
    await asyncio.sleep(0)
    if not await bus.flush(BUS_FLUSH_S):
        print(f"warning: team bus {bus.address}: {len(bus.outbox)} message(s) not "
              f"acknowledged within {BUS_FLUSH_S:g} s; the journal has them",
              file=sys.stderr)
    await bus.stop(flush_timeout=0.5)


async def planned(build: Awaitable[T]) -> T:
    """Await a use case's planner; a PlanError is exit 1 (or 2 when the cause is a lost
    server)."""
    from backends.kube.errors import KubeUnreachable
    from backends.ops.plan import PlanError

    try:
        return await build
    except PlanError as exc:
        code = USAGE if isinstance(exc.__cause__, KubeUnreachable) else FAILED
        fail(code, clean(exc, 1000))
