"""The MQTT team bus: what this control room does goes out, what the team says comes in.

One :class:`TeamBus` per App runs as one long-lived asyncio task (:meth:`TeamBus.start`):

- in: ``<prefix>/alerts/#`` (alerts forwarded by any tool) into the store kind ``alerts`` with
  source ``mqtt`` beside Prometheus and Alertmanager; ``<prefix>/pipeline/#`` into
  ``pipeline`` (latest event per environment and phase); ``<prefix>/breaker/#`` into
  ``teambreaker`` (every context's breaker: who engaged it, since when); ``<prefix>/actions``
  from other control rooms into ``teamactions`` (the most recent ``recent_actions``);
  ``<prefix>/summary/#`` into ``teamsummary`` (every context's summary, bus_summary.py);
- out, QoS 1: every journal entry on ``<prefix>/actions`` (:meth:`TeamBus.watch_journal`, an
  observer on :class:`~backends.ops.journal.JournalDB`), and this control room's breaker
  state RETAINED on ``<prefix>/breaker/<context>`` whenever it changes
  (:meth:`TeamBus.publish_breaker`), so a control room started later sees it at once.

Reliability: connection loss is normal (broker restarts, VPN drops). The task reconnects with
capped exponential backoff and jitter; our messages wait in a bounded :class:`Outbox` and are
sent in order after reconnect, each one removed only after its PUBACK (at-least-once;
receivers keep the latest row per key, so a resend changes nothing). While unreachable the
bus's alerts are kept, flagged stale, never cleared (an empty alerts panel would look like
"all clear"). Health for the header strip is the store's source ``mqtt``: connected, or
unreachable since T, with queued/dropped/rejected counts; the counters are also the
``teambus`` row.

Untrusted input: :func:`~backends.signals.bus_schema.decode` never raises and sanitizes; a
rejected payload is counted by reason. Nothing a payload contains can stop this task: the
loop catches everything, reports it as health and reconnects.

Why the breaker publish is "on change, and only once engaged": the breaker state comes from
this machine's journal, which knows nothing of a teammate's breaker on the same context. If
every control room published "not engaged" at start it would overwrite the teammate's
retained "engaged". So a control room publishes its first state only when it is engaged, and
afterwards every change (including the release).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiomqtt

from backends.backoff import Backoff
from backends.config import MqttSettings
from backends.sanitize import clean
from backends.signals.bus_schema import (
    ALERTS,
    PIPELINE,
    TEAMACTIONS,
    TEAMBREAKER,
    TEAMBUS,
    ActionMessage,
    AlertMessage,
    BreakerMessage,
    BusMessage,
    PipelineMessage,
    PipelineRow,
    Rejected,
    TeamBusRow,
    action_message,
    action_row,
    alert_row,
    breaker_row,
    context_from_topic,
    decode,
    encode,
    pipeline_row,
    rejected_pairs,
    topic_segment,
)
from backends.signals.bus_summary import accept_summary
from backends.signals.model import mark_stale
from backends.signals.outbox import Outbox
from backends.store import Store

if TYPE_CHECKING:
    from backends.ops.breaker import BreakerState
    from backends.ops.journal import JournalDB, JournalEntry

__all__ = ["SOURCE", "BrokerAddress", "TeamBus", "breaker_message_args", "parse_url"]

SOURCE = "mqtt"
"""The source name in the store's health map (the header's strip)."""


class BrokerAddress:
    """Host, port and whether to use TLS, parsed from ``mqtt://`` / ``mqtts://`` URLs."""

    def __init__(self, host: str, port: int, tls: bool) -> None:
        self.host, self.port, self.tls = host, port, tls

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


_URL = re.compile(r"(mqtts?)://(\[[0-9a-fA-F:.]+\]|[^/:\s\[\]]+)(?::(\d{1,5}))?/?")


def parse_url(url: str) -> BrokerAddress:
    """``mqtt://host[:1883]`` or ``mqtts://host[:8883]``; ValueError names what is wrong."""
    match = _URL.fullmatch(url.strip())
    if match is None:
        raise ValueError(f"mqtt url must look like mqtt://host:1883 or mqtts://host:8883,"
                         f" got {url!r}")
    scheme, host, port = match.groups()
    tls = scheme == "mqtts"
    number = int(port) if port else (8883 if tls else 1883)
    if not 0 < number < 65536:
        raise ValueError(f"mqtt url {url!r}: port {number} is out of range")
    return BrokerAddress(host.strip("[]"), number, tls)


def breaker_message_args(state: BreakerState) -> dict[str, Any]:
    """The :class:`BreakerMessage` fields of a journal breaker state (the journal's times are
    naive UTC; the wire format needs a zone)."""
    from datetime import UTC

    since = state.since
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return {"engaged": state.engaged, "by": state.by, "since": since,
            "targets": len(state.targets), "half_done": state.half_done,
            "operation_id": state.operation_id}


def _payload_bytes(payload: Any) -> bytes:
    """aiomqtt hands out bytes, but its type allows str/int/float/None too."""
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()


class TeamBus:
    """The team bus for one control room (see the module docstring).

    ``url`` overrides ``settings.url`` (the demo passes its drill broker). ``password`` is for
    tests; normally it is read from the environment variable ``settings.password_env``.
    The backoff and limits are parameters so tests can reconnect in well under a second.
    """

    def __init__(self, store: Store, settings: MqttSettings, *, url: str | None = None,
                 password: str | None = None, clock: Callable[[], float] = time.time,
                 backoff_base: float = 0.5, backoff_cap: float = 30.0,
                 publish_timeout: float = 10.0, recent_actions: int = 200,
                 max_alerts: int = 2000) -> None:
        self.store = store
        self.settings = settings
        self.address = parse_url(url or settings.url)
        self.prefix = settings.topic_prefix
        self.origin = clean(settings.client_id, 128) or \
            f"controlroom-{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.outbox = Outbox(settings.outbox_limit)
        self.rejected: dict[str, int] = {}
        """Rejected payloads by reason (``oversize``, ``malformed``, ``invalid``, ...)."""
        self.connected = False
        self._password = password
        self._clock = clock
        self._backoff = Backoff(backoff_base, backoff_cap, jitter=(0.8, 1.2), max_exponent=16)
        self._publish_timeout = publish_timeout
        self._recent_actions = recent_actions
        self._max_alerts = max_alerts
        self._task: asyncio.Task[None] | None = None
        self._down_since: float | None = None
        self._last_error = ""
        self._breakers: dict[str, BreakerMessage] = {}
        """The last breaker state we queued per context (publish only on change)."""
        self._action_keys: dict[str, None] = {}
        self._alert_keys: dict[str, None] = {}
        self._connected_event = asyncio.Event()
        self._watching: tuple[JournalDB, Callable[[], None]] | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Run the bus as one task on the running loop until :meth:`stop`."""
        if self._task is None:
            self._status()
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="mqtt team bus")

    async def stop(self, flush_timeout: float = 2.0) -> None:
        """Give queued messages ``flush_timeout`` seconds to go out, then disconnect."""
        if self._task is None:
            return
        if self.connected and len(self.outbox):
            try:
                await asyncio.wait_for(self.outbox.drained(), flush_timeout)
            except TimeoutError:
                pass
        task, self._task = self._task, None
        task.cancel()
        # A graceful DISCONNECT waits for the broker; a half-dead one must not hold up quit.
        _, pending = await asyncio.wait({task}, timeout=3.0)
        if pending:
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        self.connected = False

    async def wait_connected(self, timeout: float = 5.0) -> None:
        """Wait until the bus is connected and subscribed (for tests and start-up)."""
        await asyncio.wait_for(self._connected_event.wait(), timeout)

    @property
    def topics(self) -> list[str]:
        """What the bus subscribes to."""
        p = self.prefix
        return [f"{p}/{t}" for t in ("alerts/#", "pipeline/#", "breaker/#", "actions", "summary/#")]

    # ------------------------------------------------------------ publishing

    def publish(self, topic: str, message: BusMessage, *, retain: bool = False) -> None:
        """Queue one of our messages (sent in order, QoS 1, as soon as connected)."""
        self.outbox.put(topic, encode(message), retain=retain)
        self._status()

    def publish_entry(self, entry: JournalEntry) -> None:
        """Queue a journal entry for ``<prefix>/actions`` (call on the loop's thread)."""
        self.publish(f"{self.prefix}/actions", action_message(entry, self.origin))

    def watch_journal(self, db: JournalDB) -> Callable[[], None]:
        """Publish every entry ``db`` commits from now on; returns the function that stops
        it. The journal calls its observers from worker threads, so the entry is handed to
        this loop with ``call_soon_threadsafe`` (nothing else runs in that thread). Watching
        the same journal again is a no-op; another journal replaces it."""
        if self._watching is not None:
            if self._watching[0] is db:
                return self._watching[1]
            self._watching[1]()  # a new journal for the session: leave the old one
        loop = asyncio.get_running_loop()

        def observe(entry: JournalEntry) -> None:
            try:
                loop.call_soon_threadsafe(self.publish_entry, entry)
            except RuntimeError:  # the loop is closed: the App is gone
                pass

        def detach() -> None:
            db.remove_observer(observe)
            self._watching = None

        db.add_observer(observe)
        self._watching = (db, detach)
        return detach

    def publish_breaker(self, context: str, *, engaged: bool, by: str = "",
                        since: datetime | None = None, targets: int = 0,
                        half_done: bool = False, operation_id: str = "") -> bool:
        """Publish the breaker of ``context`` retained when it changed; True if queued.

        The first state is published only when engaged (module docstring: never overwrite a
        teammate's retained "engaged" with our ignorance of it).
        """
        message = BreakerMessage(origin=self.origin, context=context, engaged=engaged, by=by,
                                 since=since, targets=targets, half_done=half_done,
                                 operation_id=operation_id)
        previous = self._breakers.get(context)
        if previous == message or (previous is None and not engaged):
            return False
        self._breakers[context] = message
        self.publish(f"{self.prefix}/breaker/{topic_segment(context)}", message, retain=True)
        return True

    def assume_breaker(self, context: str, state: BreakerState) -> None:
        """Take ``state`` as what the team already knows of ``context``'s breaker, without
        publishing it. A command-line run calls it with the state before its writes, so that
        :meth:`publish_breaker` afterwards sends only a change it made (engaged, released),
        and never re-stamps a teammate's retained state with this run's origin."""
        fields = breaker_message_args(state)
        self._breakers[context] = BreakerMessage(origin=self.origin, context=context, **fields)

    def publish_breaker_state(self, context: str, state: BreakerState | None) -> bool:
        """:meth:`publish_breaker` from the journal's :class:`BreakerState` (the App's
        once-a-second sync and a command's end both call this one)."""
        if state is None:
            return False
        return self.publish_breaker(context, **breaker_message_args(state))

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait (at most ``timeout`` seconds) until every queued message got its PUBACK:
        a command-line run that exits at once would otherwise lose what it queued before the
        first connection. True when the outbox is empty."""
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            if len(self.outbox):
                await asyncio.wait_for(self._connected_event.wait(), timeout)
                left = max(deadline - asyncio.get_running_loop().time(), 0.01)
                await asyncio.wait_for(self.outbox.drained(), left)
        except TimeoutError:
            return False
        return not len(self.outbox)

    # ------------------------------------------------------------ the task

    async def _run(self) -> None:
        self._backoff.reset()
        while True:
            if self._down_since is None and not self.connected:
                # Only the very first attempt: later ones keep "unreachable since T" intact.
                self.store.set_health(SOURCE, "connecting")
            try:
                client = await self._client()
                async with client:
                    self._backoff.reset()
                    await client.subscribe([(topic, 1) for topic in self.topics])
                    self._on_connected()
                    await self._serve(client)
                reason = "disconnected"
            except asyncio.CancelledError:
                raise
            except aiomqtt.MqttError as exc:
                reason = self._explain(exc)
            except Exception as exc:  # noqa: BLE001 - whatever happens, report and retry
                reason = f"{type(exc).__name__}: {exc}"
            self._on_lost(reason)
            await asyncio.sleep(self._backoff.next())

    async def _client(self) -> aiomqtt.Client:
        """A fresh client for one connection attempt (TLS files are read in a thread)."""
        s = self.settings
        tls = await asyncio.to_thread(self._tls_context) if self.address.tls else None
        password = self._password
        if password is None and s.username and s.password_env:
            password = os.environ.get(s.password_env)
        # A fixed client id keeps a broker session: the team's messages sent while we were
        # away arrive on reconnect. A per-run id must not leave sessions behind on the broker.
        return aiomqtt.Client(
            self.address.host, self.address.port, identifier=self.origin,
            username=s.username or None, password=password, tls_context=tls,
            clean_session=not s.client_id, timeout=self._publish_timeout, keepalive=30)

    def _tls_context(self) -> ssl.SSLContext:
        s = self.settings
        context = ssl.create_default_context(cafile=s.ca_file or None)
        if s.cert_file:
            context.load_cert_chain(s.cert_file, s.key_file or None)
        return context

    def _explain(self, exc: aiomqtt.MqttError) -> str:
        text = str(exc)
        s = self.settings
        if "authori" in text.lower() or "password" in text.lower():
            if s.username and self._password is None and not os.environ.get(s.password_env):
                text += f" (the password env {s.password_env} is not set)"
        return text

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Receive and send until the connection fails (whichever side notices first)."""
        receiving = asyncio.create_task(self._receive(client), name="mqtt receive")
        sending = asyncio.create_task(self._send(client), name="mqtt send")
        try:
            done, _ = await asyncio.wait({receiving, sending},
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receiving, sending):
                task.cancel()
            await asyncio.gather(receiving, sending, return_exceptions=True)
        for task in done:
            task.result()  # re-raise the MqttError that ended the connection

    async def _send(self, client: aiomqtt.Client) -> None:
        """One message in flight at a time: order is kept across reconnects."""
        while True:
            message = await self.outbox.next()
            await client.publish(message.topic, message.payload, qos=1, retain=message.retain,
                                 timeout=self._publish_timeout)
            self.outbox.ack(message)
            self._status()

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            try:
                self.handle(message.topic.value, _payload_bytes(message.payload))
            except Exception as exc:  # noqa: BLE001 - a bug must not cost the connection
                # (a retained message that trips it would otherwise reconnect forever)
                self._reject(Rejected("invalid", f"could not apply: {clean(exc, 160)}"))

    # ------------------------------------------------------------ health

    def _on_connected(self) -> None:
        self.connected = True
        self._down_since = None
        self._last_error = ""
        mark_stale(self.store, ALERTS, SOURCE, stale=False)
        self._status()
        self._connected_event.set()

    def _on_lost(self, reason: str) -> None:
        self.connected = False
        self._connected_event.clear()
        if self._down_since is None:
            self._down_since = self._clock()
        self._last_error = clean(reason, 160)
        mark_stale(self.store, ALERTS, SOURCE)
        self._status()

    def _status(self) -> None:
        """Counters into the ``teambus`` row and the health strip's text."""
        total_rejected = sum(self.rejected.values())
        counts = []
        if len(self.outbox):
            counts.append(f"{len(self.outbox)} queued")
        if self.outbox.dropped:
            counts.append(f"{self.outbox.dropped} dropped")
        if total_rejected:
            counts.append(f"{total_rejected} rejected")
        detail = ", ".join(counts)
        if self.connected:
            self.store.set_health(SOURCE, "connected", detail)
        elif self._down_since is not None:
            since = time.strftime("%H:%M:%S", time.localtime(self._down_since))
            text = f"unreachable since {since}: {self._last_error}"
            self.store.set_health(SOURCE, "error", f"{text}; {detail}" if detail else text)
        row = TeamBusRow(key="bus", connected=self.connected, queued=len(self.outbox),
                         dropped=self.outbox.dropped, rejected=rejected_pairs(self.rejected))
        self.store.apply(TEAMBUS, [("MODIFIED", row)])

    # ------------------------------------------------------------ incoming

    def handle(self, topic: str, payload: bytes) -> None:
        """Route one received payload into the store; never raises (public for tests)."""
        head = f"{self.prefix}/"
        rest = topic[len(head):] if topic.startswith(head) else ""
        family, _, tail = rest.partition("/")
        expect = {"alerts": "alert", "pipeline": "pipeline", "breaker": "breaker",
                  "actions": "action", "summary": "summary"}.get(family)
        if family == "summary":  # issue 18: backends/signals/bus_summary.py
            rejected = accept_summary(self.store, tail, payload, self.settings.max_payload,
                                      self._clock())
            return self._reject(rejected) if rejected else self.store.note_event(SOURCE)
        if expect is None or (family == "actions" and tail) or (family == "breaker" and not tail):
            self._reject(Rejected("topic", f"not a team bus topic: {clean(topic, 120)}"))
            return
        if family == "breaker" and not payload:
            # An empty retained message is how MQTT deletes a retained state.
            gone = self.store.get(TEAMBREAKER, context_from_topic(tail))
            if gone is not None:
                self.store.apply(TEAMBREAKER, [("DELETED", gone)])
            return
        result = decode(payload, max_payload=self.settings.max_payload, expect=expect)
        if isinstance(result, Rejected):
            self._reject(result)
            return
        if isinstance(result, BreakerMessage) and result.context != context_from_topic(tail):
            self._reject(Rejected("topic", "breaker context differs from its topic"))
            return
        self.store.note_event(SOURCE)
        self._accept(result)

    def _accept(self, message: BusMessage) -> None:
        if isinstance(message, AlertMessage):
            row = alert_row(message)
            self._remember(self._alert_keys, row.key, ALERTS, self._max_alerts)
            self.store.apply(ALERTS, [("MODIFIED", row)])
        elif isinstance(message, PipelineMessage):
            prow = pipeline_row(message, arrived=self._clock())
            held = self.store.get(PIPELINE, prow.key)
            # A late redelivery of an older event loses; an event dated in the future is
            # ranked by arrival, so it cannot block every later one (times_against).
            mine, theirs = prow.times_against(held) if isinstance(held, PipelineRow) \
                else (0.0, 0.0)
            if held is None or theirs <= mine:
                self.store.apply(PIPELINE, [("MODIFIED", prow)])
        elif isinstance(message, BreakerMessage):
            self.store.apply(TEAMBREAKER, [("MODIFIED", breaker_row(
                message, mine=message.origin == self.origin))])
        elif isinstance(message, ActionMessage) and message.origin != self.origin:
            arow = action_row(message)
            self._remember(self._action_keys, arow.key, TEAMACTIONS, self._recent_actions)
            self.store.apply(TEAMACTIONS, [("MODIFIED", arow)])

    def _remember(self, keys: dict[str, None], key: str, kind: str, limit: int) -> None:
        """Keep the ``limit`` most recently updated keys of ``kind``; drop the oldest."""
        keys.pop(key, None)
        keys[key] = None
        while len(keys) > limit:
            oldest = next(iter(keys))
            del keys[oldest]
            row = self.store.get(kind, oldest)
            if row is not None:
                self.store.apply(kind, [("DELETED", row)])

    def _reject(self, rejected: Rejected) -> None:
        self.rejected[rejected.reason] = self.rejected.get(rejected.reason, 0) + 1
        self._status()

