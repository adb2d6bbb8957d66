"""Bounded waits on a condition, shared by the tests.

A test that needs something to happen polls the state itself (the store, the screen, a
server's answer, a child's output) until it holds, under a generous outer limit, and fails
with a message naming what it waited for and the last value it saw. Nothing sleeps for a fixed
time hoping the machine was fast enough, and no wall-clock duration is asserted: on a loaded
2-core machine everything is slower, but the order of events is the same. Latency numbers
belong in ``bench/``.
"""

from __future__ import annotations

import asyncio
import codecs
import inspect
import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import IO, Any, TypeVar

T = TypeVar("T")

#: The default outer limit. Generous on purpose: a wait that holds returns as soon as it does,
#: so the limit only matters when something is really wrong.
TIMEOUT = 30.0


def _timed_out(what: str, timeout: float, last: object) -> AssertionError:
    return AssertionError(f"timed out after {timeout:g} s waiting for {what}; last: {last!r}")


def wait_until(check: Callable[[], T], what: str, timeout: float = TIMEOUT,
               interval: float = 0.05) -> T:
    """Poll ``check()`` until it returns something truthy, and return that; fail naming
    ``what`` after ``timeout`` seconds. For synchronous tests (blocks the thread)."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise _timed_out(what, timeout, last)
        time.sleep(interval)


async def await_until(check: Callable[[], T | Awaitable[T]], what: str,
                      timeout: float = TIMEOUT, interval: float = 0.02,
                      pause: Callable[[float], Awaitable[Any]] | None = None) -> T:
    """:func:`wait_until` for a coroutine: yields to the event loop between polls (with
    ``pause``, ``asyncio.sleep`` by default). ``check`` may return an awaitable (an async
    check, or ``asyncio.to_thread`` of a blocking one), which is awaited."""
    sleep = pause or asyncio.sleep
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        last = await result if inspect.isawaitable(result) else result
        if last:
            return last
        if time.monotonic() >= deadline:
            raise _timed_out(what, timeout, last)
        await sleep(interval)


async def pilot_until(pilot: Any, check: Callable[[], T | Awaitable[T]], what: str,
                      timeout: float = TIMEOUT, interval: float = 0.05) -> T:
    """:func:`await_until` for a Textual Pilot test: ``pilot.pause`` between polls, so the
    App processes its messages and refreshes while the test waits."""
    return await await_until(check, what, timeout, interval, pause=pilot.pause)


class StreamReader:
    """Reads a child process's pipe on a thread, so a test can wait for a piece of output
    (a prompt without a newline, a first line) with a bound, and still read everything the
    child wrote once it has exited."""

    def __init__(self, stream: IO[str] | IO[bytes] | None, name: str = "output") -> None:
        assert stream is not None, f"{name}: the pipe was not opened"
        self.name = name
        # Held so the pipe is not closed (and its descriptor reused) while the thread reads.
        self._stream = stream
        self._fd = stream.fileno()
        self._chunks: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            try:
                data = os.read(self._fd, 4096)
            except OSError:
                data = b""
            text = decoder.decode(data, final=not data)
            if text:
                with self._lock:
                    self._chunks.append(text)
            if not data:
                return

    @property
    def text(self) -> str:
        """Everything read so far."""
        with self._lock:
            return "".join(self._chunks)

    @property
    def closed(self) -> bool:
        """The child closed the pipe (exited) and everything has been read."""
        return not self._thread.is_alive()

    def wait_for(self, needle: str, timeout: float = TIMEOUT) -> str:
        """Wait until ``needle`` has been written; returns all the text so far. Fails at once
        if the pipe closes without it."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text
            if needle in text:
                return text
            if self.closed:
                text = self.text
                if needle in text:
                    return text
                raise AssertionError(f"{self.name} closed without {needle!r}:\n{text}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {needle!r} "
                                     f"on {self.name}; so far:\n{text}")
            time.sleep(0.02)

    def finish(self, timeout: float = TIMEOUT) -> str:
        """Wait until the pipe closes; returns everything written."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"{self.name} still open after {timeout:g} s:\n{self.text}")
        return self.text
