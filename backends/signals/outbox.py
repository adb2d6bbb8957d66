"""The bus's outbox: our messages, in order, until the broker has acknowledged them.

Why an outbox of our own instead of paho's internal queue: the bus makes a fresh MQTT client
for every connection, so whatever paho held for the old one is gone; and paho's queue has no
bound we could show. Here every message stays at the head until the broker's PUBACK (QoS 1)
for exactly that message arrived, then it is removed. A message in flight when the connection
dies is therefore sent again after reconnect: at-least-once, like QoS 1 itself, and in the
original order (one message in flight at a time). Receivers deduplicate by key.

Bounds, and which message goes: when the outbox is full the OLDEST message is dropped and
counted (drop-oldest). During a long outage the team wants to know what the control room is
doing now, not what it did an hour ago (the journal keeps the full history anyway), and a
stuck publisher must never block the write path that feeds it. Retained state messages
(the breaker of a context) are coalesced instead: a newer state for the same topic replaces
the queued older one, because only the latest state means anything, so a flapping breaker
cannot push actions out of the queue.

Pure asyncio, no MQTT: the bus and the tests drive it directly.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field

__all__ = ["Outbox", "OutMessage"]


@dataclass(frozen=True)
class OutMessage:
    """One message to publish. ``seq`` identifies it for :meth:`Outbox.ack`."""

    topic: str
    payload: bytes
    retain: bool = False
    seq: int = field(default=0, compare=False)


class Outbox:
    """A bounded FIFO of :class:`OutMessage` with drop-oldest and retained coalescing."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"outbox limit must be at least 1, got {limit}")
        self.limit = limit
        self.dropped = 0
        """Messages dropped because the outbox was full (shown in the header)."""
        self._queue: deque[OutMessage] = deque()
        self._seq = itertools.count(1)
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, topic: str, payload: bytes, *, retain: bool = False) -> OutMessage:
        """Queue a message at the end; returns it. Never blocks, never raises when full."""
        message = OutMessage(topic, payload, retain, next(self._seq))
        if retain:
            # Coalesce: only the newest retained state of a topic is worth sending.
            for old in [m for m in self._queue if m.retain and m.topic == topic]:
                self._queue.remove(old)
        if len(self._queue) >= self.limit:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(message)
        self._ready.set()
        return message

    async def next(self) -> OutMessage:
        """The message at the head, waiting until there is one. It stays queued until
        :meth:`ack`: a connection lost before the PUBACK sends it again."""
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        return self._queue[0]

    def ack(self, message: OutMessage) -> None:
        """The broker acknowledged ``message``: remove it. A no-op when it was dropped or
        coalesced while in flight (the head is then another message, which stays)."""
        if self._queue and self._queue[0].seq == message.seq:
            self._queue.popleft()

    def pending(self) -> list[OutMessage]:
        """A copy of what waits, oldest first (for tests and diagnostics)."""
        return list(self._queue)

    async def drained(self) -> None:
        """Wait until everything queued has been acknowledged (polls: used at shutdown
        only, under a timeout)."""
        while self._queue:
            await asyncio.sleep(0.02)
