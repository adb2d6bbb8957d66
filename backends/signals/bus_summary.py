"""Context summaries on the team bus (issue 18): a fleet without one process watching
everything.

Out: every control room (and headless recorder) publishes, every :data:`SUMMARY_INTERVAL_S`
seconds, each watched context's :class:`~backends.fleet_summary.ContextSummary` RETAINED on
``<prefix>/summary/<context>``: the broker then holds the latest word of every context, so a
control room that starts later sees the whole fleet at once. In: each becomes a
:class:`TeamSummaryRow` (store kind ``teamsummary``) with its arrival time; the fleet screen
shows its age and calls it stale beyond :data:`STALE_AFTER_S`, so a recorder that died is
never taken for a calm cluster.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Protocol

from backends.fleet_summary import ContextSummary
from backends.model import Row
from backends.signals.bus_schema import (
    BusMessage,
    Rejected,
    SummaryMessage,
    context_from_topic,
    decode,
    topic_segment,
)
from backends.store import Store


class Publisher(Protocol):
    """What publishing needs of :class:`backends.signals.mqtt.TeamBus` (which imports this
    module to read summaries: named structurally, no import circle)."""

    prefix: str
    origin: str

    def publish(self, topic: str, message: BusMessage, *, retain: bool = False) -> None: ...

TEAMSUMMARY: Final = "teamsummary"
SUMMARY_INTERVAL_S: Final = 5.0
"""How often each watched context's summary is published."""
STALE_AFTER_S: Final = 3 * SUMMARY_INTERVAL_S
"""A summary older than three publishing intervals is stale: its publisher stopped."""


class TeamSummaryRow(Row, frozen=True, gc=False, kw_only=True):
    """The latest summary of one context on the bus; key is the context name."""

    context: str
    summary: ContextSummary
    time: float
    """When its publisher made it (the publisher's clock)."""
    arrived: float
    """When we received it (our clock): the age shown is ``now - arrived`` for a summary
    received live, and ``now - time`` for a retained one (whichever is older)."""
    origin: str = ""

    def age(self, now: float) -> float:
        return max(0.0, now - min(self.time, self.arrived))


def summary_message(summary: ContextSummary, origin: str, now: float) -> SummaryMessage:
    return SummaryMessage(
        origin=origin, context=summary.context, time=datetime.fromtimestamp(now, UTC),
        verdict=summary.verdict, production=summary.production,
        nodes_not_ready=summary.nodes_not_ready, failing_pods=summary.failing_pods,
        degraded_apps=summary.degraded_apps, critical_alerts=summary.critical_alerts,
        breaker=summary.breaker,  # type: ignore[arg-type]
        data_age=None if summary.data_age is None else max(0.0, summary.data_age),
        problem=summary.problem)


def publish_summary(bus: Publisher, summary: ContextSummary, now: float) -> None:
    """Queue ``summary`` retained on ``<prefix>/summary/<context>``."""
    bus.publish(f"{bus.prefix}/summary/{topic_segment(summary.context)}",
                summary_message(summary, bus.origin, now), retain=True)


def accept_summary(store: Store, tail: str, payload: bytes, max_payload: int,
                   now: float) -> Rejected | None:
    """One payload received on ``<prefix>/summary/<tail>`` into the store; the rejection,
    if any (the bus counts it). An empty payload deletes the retained summary."""
    if not tail or "/" in tail:
        return Rejected("topic", "a summary topic names one context")
    context = context_from_topic(tail)
    if not payload:
        gone = store.get(TEAMSUMMARY, context)
        if gone is not None:
            store.apply(TEAMSUMMARY, [("DELETED", gone)])
        return None
    message = decode(payload, max_payload=max_payload, expect="summary")
    if isinstance(message, Rejected):
        return message
    assert isinstance(message, SummaryMessage)
    if message.context != context:
        return Rejected("topic", "summary context differs from its topic")
    summary = ContextSummary(
        context=message.context, production=message.production, verdict=message.verdict,
        nodes_not_ready=message.nodes_not_ready, failing_pods=message.failing_pods,
        degraded_apps=message.degraded_apps, critical_alerts=message.critical_alerts,
        breaker=message.breaker, data_age=message.data_age, problem=message.problem)
    store.apply(TEAMSUMMARY, [("MODIFIED", TeamSummaryRow(
        key=context, context=context, summary=summary, time=message.time.timestamp(),
        arrived=now, origin=message.origin))])
    return None
