"""The life of a polling source: one long-lived task, polls never overlapping.

Prometheus and Alertmanager alerts, the PromQL key signals and the health probes all poll an
HTTP API. What they share is here, once: the next poll starts ``interval`` after the previous
one ENDED (a slow server is never asked twice at once), the source shows "connecting" until
its first answer, and :meth:`PollLoop.stop` cancels the task and releases the subclass's
clients. Each subclass writes only :meth:`PollLoop.poll_once` (and :meth:`PollLoop.close`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from backends.store import Store

__all__ = ["PollLoop"]


class PollLoop:
    """Base of the pollers: ``source`` names the health entry and the task; ``clock``
    stamps the health; ``sleep`` waits between polls (tests pass their own to step
    through polls deterministically)."""

    def __init__(self, source: str, store: Store, *, interval: float,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval = interval
        self._source = source
        self._store = store
        self._clock = clock
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None

    async def poll_once(self) -> bool:
        """One poll; True when the source answered. Never raises for the source's own
        failures (they become its health)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release what the poller holds (HTTP clients); called once by :meth:`stop`."""

    async def run(self) -> None:
        """Poll until cancelled; the next poll starts ``interval`` after the last ended."""
        self._store.set_health(self._source, "connecting", now=self._clock())
        while True:
            await self.poll_once()
            await self._sleep(self.interval)

    def start(self) -> asyncio.Task[None]:
        """Run as a long-lived task on the current loop (stopped by :meth:`stop`)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name=f"poll-{self._source}")
        return self._task

    async def stop(self) -> None:
        """Cancel the task and close (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.close()
