"""A container's log: ``GET /api/v1/namespaces/NS/pods/NAME/log``, read once or followed.

The request uses the API's own parameters (``container``, ``previous``, ``tailLines``,
``sinceSeconds``/``sinceTime``, ``limitBytes``, ``follow``, ``timestamps``) through the
project's connection: :meth:`~backends.kube.connection.KubeConnection.get_raw` for one read,
:meth:`~backends.kube.connection.KubeConnection.open_stream` for a follow, so auth, TLS, proxies
and the never-block rules are the connection's.

``timestamps=true`` is always asked for: every line then carries the kubelet's RFC 3339
timestamp, which the screen shows or hides (its timestamps toggle), and which lets a broken
follow resume where it stopped (``sinceTime`` of the last line, lines already seen dropped)
instead of repeating or losing lines. It also keeps empty log lines: with a timestamp in front
no line is empty, and the stream reader drops empty ones.

Log text is untrusted (operations.md section 10): each line is sanitized once, here, where it
enters (:func:`backends.sanitize.clean_multiline`: escape sequences and control characters
gone, tabs expanded; a bare CR starts a new line rather than overwriting one), cut at
:data:`LINE_MAX` characters, and must then be shown as plain text. Memory is bounded twice:
``limitBytes`` caps what the server sends for one read, and the caller keeps lines in a ring
(:class:`backends.logbuffer.LogBuffer`).

:class:`LogFollower` follows across broken streams and container restarts: it reconnects with
a capped backoff and reports every state change (:class:`FollowState`), so a stream that broke
says so with the time it broke ("never calm when unsure"); a forbidden read or a pod that is
gone stops it with the server's words.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple
from urllib.parse import quote

from backends.backoff import Backoff
from backends.kube.errors import KubeApiError, KubeError, KubeUnreachable
from backends.kube.wire import KubeTransport, Params
from backends.sanitize import clean, clean_multiline

__all__ = [
    "LIMIT_BYTES",
    "LINE_MAX",
    "FollowState",
    "LogFailure",
    "LogLine",
    "LogRequest",
    "LogFollower",
    "classify",
    "parse_lines",
    "read_logs",
    "stamp_key",
]

LINE_MAX: Final = 8192
"""Characters kept of one log line (a longer one ends in an ellipsis)."""
LIMIT_BYTES: Final = 8 * 1024 * 1024
"""``limitBytes`` of every read: what one answer may cost at most, whatever the tail."""

_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")


class LogLine(NamedTuple):
    """One line of a container's log: the kubelet's timestamp ("" when the server sent
    none) and the sanitized text (plain text: never markup)."""

    stamp: str
    text: str


def stamp_key(stamp: str) -> str:
    """A string that sorts like the moment: nine fractional digits (``RFC3339NanoFixed``, what
    the kubelet writes, sorts as it is; a shortened fraction is padded)."""
    match = _STAMP.fullmatch(stamp)
    if match is None or match.group(2) != "Z":
        return stamp
    return f"{stamp[:19]}.{(match.group(1) or '').ljust(9, '0')}Z"


def parse_lines(raw: Iterable[bytes], max_len: int = LINE_MAX) -> list[LogLine]:
    """Split ``stamp text`` lines and sanitize the text; a CR inside a line (a progress bar)
    makes more lines with the same stamp."""
    out: list[LogLine] = []
    for chunk in raw:
        text = chunk.decode("utf-8", "replace").rstrip("\r\n")
        head, sep, rest = text.partition(" ")
        if sep and _STAMP.fullmatch(head):
            stamp = head
        else:
            stamp, rest = "", text
        cleaned = clean_multiline(rest, max_len)
        if "\n" in cleaned:
            out.extend(LogLine(stamp, piece) for piece in cleaned.split("\n"))
        else:
            out.append(LogLine(stamp, cleaned))
    return out


@dataclass(frozen=True)
class LogRequest:
    """What to read: one container of one pod, current or previous instance, how much."""

    namespace: str
    pod: str
    container: str
    previous: bool = False
    tail_lines: int | None = 500
    """The last N lines (None: all the kubelet keeps, bounded by :data:`LIMIT_BYTES`)."""
    since_seconds: int | None = None
    """Only lines of the last N seconds (None: no limit)."""
    limit_bytes: int = LIMIT_BYTES

    def path(self) -> str:
        return (f"/api/v1/namespaces/{quote(self.namespace, safe='')}/pods/"
                f"{quote(self.pod, safe='')}/log")

    def params(self, *, follow: bool, since_time: str | None = None) -> Params:
        """The query; ``since_time`` (resuming a follow) replaces tail and ``sinceSeconds``."""
        resume = since_time is not None
        return {
            "container": self.container or None,
            "previous": True if self.previous else None,
            "follow": True if follow else None,
            "timestamps": True,
            "tailLines": None if resume else self.tail_lines,
            "sinceSeconds": None if resume else self.since_seconds,
            "sinceTime": since_time,
            "limitBytes": self.limit_bytes,
        }


async def read_logs(conn: KubeTransport, req: LogRequest) -> list[LogLine]:
    """The lines of one read (no follow). Raises :class:`KubeError`."""
    body = await conn.get_raw(req.path(), req.params(follow=False))
    if not body:
        return []
    return await asyncio.to_thread(parse_lines, body.rstrip(b"\n").split(b"\n")) \
        if len(body) > 256 * 1024 else parse_lines(body.rstrip(b"\n").split(b"\n"))


# ---------------------------------------------------------------------------- failures


@dataclass(frozen=True)
class LogFailure:
    """Why a read or a follow failed, in words for the screen."""

    kind: Literal["forbidden", "gone", "refused", "unreachable", "error"]
    message: str
    retry: bool
    """Worth trying again (a broken link, a container not started yet)."""


def classify(exc: KubeError) -> LogFailure:
    """The screen's view of a failed read: forbidden and gone stop, the rest may pass."""
    if isinstance(exc, KubeApiError):
        message = clean(exc.message, 500)
        if exc.status == 403:
            return LogFailure("forbidden", f"forbidden: {message}", False)
        if exc.status == 404:
            return LogFailure("gone", f"not found: {message}", False)
        if exc.status == 400:  # "previous terminated container ... not found", "waiting to start"
            return LogFailure("refused", message, "waiting to start" in message)
        return LogFailure("error", f"{exc.status} {clean(exc.reason, 64)}: {message}", True)
    return LogFailure("unreachable", clean(str(exc), 500), True)


# ---------------------------------------------------------------------------- following


@dataclass(frozen=True)
class FollowState:
    """Where a follow stands, with the moment that state began (epoch seconds)."""

    phase: Literal["connecting", "following", "ended", "broken", "stopped"]
    since: float
    message: str = ""
    failure: LogFailure | None = None


Sleep = Callable[[float], Awaitable[None]]


class LogFollower:
    """Follow one container's log until cancelled; see the module docstring.

    ``on_lines`` gets each batch of new lines (never one already delivered), ``on_state``
    each change of :class:`FollowState`. Cancel the task that runs :meth:`run` to stop.
    """

    def __init__(self, conn: KubeTransport, req: LogRequest, *,
                 on_lines: Callable[[list[LogLine]], None],
                 on_state: Callable[[FollowState], None],
                 clock: Callable[[], float] = time.time, sleep: Sleep = asyncio.sleep,
                 backoff: Backoff | None = None) -> None:
        self.conn = conn
        self.req = req
        self.on_lines = on_lines
        self.on_state = on_state
        self.clock = clock
        self.sleep = sleep
        self.backoff = backoff or Backoff(1.0, 30.0, reset_after=60.0)
        self.last_stamp = ""
        """The newest timestamp delivered: a reconnect asks from it and drops what it saw."""

    def _fresh(self, lines: list[LogLine]) -> list[LogLine]:
        if not self.last_stamp:
            fresh = lines
        else:
            last = stamp_key(self.last_stamp)
            fresh = [line for line in lines if not line.stamp or stamp_key(line.stamp) > last]
        for line in reversed(fresh):
            if line.stamp:
                self.last_stamp = line.stamp
                break
        return fresh

    async def run(self) -> None:
        broken_since: float | None = None
        self.on_state(FollowState("connecting", self.clock()))
        while True:
            since = f"{self.last_stamp[:19]}Z" if self.last_stamp else None
            try:
                stream = await self.conn.open_stream(
                    self.req.path(), self.req.params(follow=True, since_time=since))
                async with stream:
                    broken_since = None  # (the backoff starts short again by reset_after)
                    self.on_state(FollowState("following", self.clock()))
                    while batch := await stream.read_batch(window=0.05):
                        fresh = self._fresh(parse_lines(batch))
                        if fresh:
                            self.on_lines(fresh)
                # a clean end: the container stopped (kubectl -f returns here); a new instance
                # may start (a crash loop), so keep looking, and say so
                self.on_state(FollowState(
                    "ended", self.clock(), "the container stopped (or the server closed the "
                    "stream); following its next start"))
            except (KubeApiError, KubeUnreachable) as exc:
                failure = classify(exc)
                if not failure.retry:
                    self.on_state(FollowState("stopped", self.clock(), failure.message,
                                              failure))
                    return
                broken_since = broken_since or self.clock()
                self.on_state(FollowState("broken", broken_since, failure.message, failure))
            except KubeError as exc:  # anything else the connection raises: say it, retry
                broken_since = broken_since or self.clock()
                self.on_state(FollowState("broken", broken_since, clean(str(exc), 500),
                                          classify(exc)))
            await self.sleep(self.backoff.next())
