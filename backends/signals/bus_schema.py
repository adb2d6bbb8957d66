"""The team bus's wire format (version 1) and the store rows its messages become.

Every message on the MQTT team bus is one JSON object with a schema version ``v`` and a
``type`` tag; field names are camelCase on the wire (``operationId``, ``startsAt``). The README
section "Team bus (MQTT) message schema" documents topics and examples; this module is the
authority and the README is checked against it by the tests.

Why decoding is so defensive: payloads come from anyone who can publish to the broker (an
Alertmanager webhook bridge, a CI pipeline, another control room, a typo in ``mosquitto_pub``).
:func:`decode` therefore never raises: it returns a message or a :class:`Rejected` with a
short reason the bus counts and shows (``oversize``, ``malformed``, ``invalid``, ``version``,
``type``, ``topic``). Unknown *fields* are ignored so a sender may add optional fields without
a version bump; anything incompatible needs ``v: 2``, which this version rejects as
``version`` instead of misreading it.

Untrusted text (operations.md section 10): every string of a decoded message is passed through
:func:`backends.sanitize.clean` here, once, so the rows built from it and every widget that
shows them can rely on it. Nothing is markup-escaped; the UI renders these as plain text.

The row types live here too, beside the messages they are made from, because they are plain
data that widgets import; :mod:`backends.signals.mqtt` (which needs aiomqtt) stays out of the
widgets' imports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeAlias
from urllib.parse import quote, unquote

import msgspec

from backends.model import Row
from backends.sanitize import clean, clean_multiline
from backends.signals.model import ALERTS, AlertRow, AlertState, alert_key
from backends.timefmt import in_future

if TYPE_CHECKING:
    from backends.ops.journal import JournalEntry

__all__ = [
    "ALERTS",
    "PHASES",
    "PIPELINE",
    "SCHEMA_VERSION",
    "TEAMACTIONS",
    "TEAMBREAKER",
    "TEAMBUS",
    "ActionMessage",
    "AlertMessage",
    "BreakerMessage",
    "BusMessage",
    "PipelineMessage",
    "PipelineRow",
    "Rejected",
    "SummaryMessage",
    "TeamActionRow",
    "TeamBreakerRow",
    "TeamBusRow",
    "action_message",
    "action_row",
    "alert_row",
    "breaker_row",
    "context_from_topic",
    "decode",
    "encode",
    "pipeline_row",
    "rejected_pairs",
    "topic_segment",
]

SCHEMA_VERSION: Final = 1

PIPELINE: Final = "pipeline"
"""Store kind of :class:`PipelineRow`: the latest event per environment and phase."""
TEAMBREAKER: Final = "teambreaker"
"""Store kind of :class:`TeamBreakerRow`: the breaker of every context the team published."""
TEAMACTIONS: Final = "teamactions"
"""Store kind of :class:`TeamActionRow`: recent journal entries of other control rooms."""
TEAMBUS: Final = "teambus"
"""Store kind of the single :class:`TeamBusRow` (key ``"bus"``): queue and reject counters."""

Phase: TypeAlias = Literal[
    "pre-deployment-validation", "infrastructure", "platform-services", "applications"
]
PHASES: tuple[Phase, ...] = (
    "pre-deployment-validation", "infrastructure", "platform-services", "applications"
)
PipelineStatus: TypeAlias = Literal["started", "succeeded", "failed"]
ActionStatus: TypeAlias = Literal[
    "pending", "done", "failed", "refused", "verified", "verify_failed"
]
RejectReason: TypeAlias = Literal["oversize", "malformed", "invalid", "version", "type", "topic"]

# Bounds that make a hostile message cheap to hold: msgspec refuses these as ``invalid``.
_Text = Annotated[str, msgspec.Meta(max_length=4096)]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
_When = Annotated[datetime, msgspec.Meta(tz=True)]
_Labels = Annotated[dict[str, str], msgspec.Meta(max_length=64)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]

_REQUIRED_NAMES: Final = {"alert": ("alertname",), "breaker": ("context",),
                          "pipeline": ("environment",), "summary": ("context",)}
"""Fields that must stay non-empty after sanitizing (a name of only escapes is no name)."""
_MULTILINE: Final = frozenset({"description"})
"""Fields whose line breaks are kept (the detail view shows them as written)."""


class _Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", rename="camel"):
    """Fields every message carries. ``origin`` names the sending control room (its MQTT
    client id), so an instance can tell its own echo from a teammate's message."""

    v: int = SCHEMA_VERSION
    origin: Annotated[str, msgspec.Meta(max_length=256)] = ""


class ActionMessage(_Message, frozen=True, kw_only=True, tag="action"):
    """One journal entry of a control room, on ``<prefix>/actions``; sent again with the
    new status when the write finishes (receivers keep the latest per origin and id)."""

    id: Annotated[int, msgspec.Meta(ge=0)]
    time: _When
    operator: _Text
    context: _Text
    action: _Text
    target: _Text = ""
    status: ActionStatus
    operation_id: _Text = ""
    summary: _Text = ""
    """The reason the operator gave (the journal's ``reason``)."""


class BreakerMessage(_Message, frozen=True, kw_only=True, tag="breaker"):
    """The circuit breaker of one context, retained on ``<prefix>/breaker/<context>``."""

    context: _Name
    engaged: bool
    by: _Text = ""
    since: _When | None = None
    targets: _Count = 0
    half_done: bool = False
    operation_id: _Text = ""


class AlertMessage(_Message, frozen=True, kw_only=True, tag="alert"):
    """An alert forwarded by any tool, on ``<prefix>/alerts/...``."""

    alertname: _Name
    severity: _Text = ""
    state: AlertState = "firing"
    summary: _Text = ""
    description: _Text = ""
    labels: _Labels = msgspec.field(default_factory=dict)
    starts_at: _When | None = None
    source: _Text = ""
    """The forwarding tool (e.g. ``alertmanager-webhook``), for the detail view."""


class PipelineMessage(_Message, frozen=True, kw_only=True, tag="pipeline"):
    """A deployment pipeline phase event, on ``<prefix>/pipeline/...``."""

    phase: Phase
    status: PipelineStatus
    environment: _Name
    revision: _Text = ""
    time: _When
    url: _Text = ""


class SummaryMessage(_Message, frozen=True, kw_only=True, tag="summary"):
    """One context's state in one line (issue 18), retained on ``<prefix>/summary/<context>``
    and published again every few seconds by the control room or recorder watching it, so a
    fleet screen anywhere knows every context and how old its word is."""

    context: _Name
    time: _When
    verdict: Literal["ok", "failing", "unknown"]
    production: bool = False
    nodes_not_ready: _Count = 0
    failing_pods: _Count = 0
    degraded_apps: _Count = 0
    critical_alerts: _Count = 0
    breaker: Literal["engaged", "off", "unknown"] = "unknown"
    data_age: Annotated[float, msgspec.Meta(ge=0)] | None = None
    problem: _Text = ""


BusMessage: TypeAlias = (ActionMessage | BreakerMessage | AlertMessage | PipelineMessage
                         | SummaryMessage)
_TYPES: Final[dict[str, type[BusMessage]]] = {
    "action": ActionMessage, "breaker": BreakerMessage,
    "alert": AlertMessage, "pipeline": PipelineMessage, "summary": SummaryMessage,
}


class Rejected(msgspec.Struct, frozen=True):
    """A payload that was not accepted: ``reason`` is counted, ``detail`` is for the log."""

    reason: RejectReason
    detail: str = ""


class _Envelope(msgspec.Struct):
    """Read first, so an unknown version or type is named as such (not as a field error)."""

    v: int
    type: str


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_DECODERS: Final = {name: msgspec.json.Decoder(cls) for name, cls in _TYPES.items()}
_ENCODER = msgspec.json.Encoder()


def decode(payload: bytes, *, max_payload: int = 65536,
           expect: str | None = None) -> BusMessage | Rejected:
    """Decode and sanitize one payload; never raises.

    ``expect`` is the message type the topic carries (``"alert"`` on ``.../alerts/...``); a
    different type is rejected as ``topic`` so an alert cannot pose as a pipeline event.
    """
    if len(payload) > max_payload:
        return Rejected("oversize", f"{len(payload)} bytes > {max_payload}")
    try:
        envelope = _ENVELOPE.decode(payload)
    except msgspec.ValidationError as exc:
        return Rejected("invalid", clean(exc, 200))
    except Exception as exc:  # noqa: BLE001 - DecodeError, RecursionError, ...: all malformed
        return Rejected("malformed", clean(exc, 200))
    if envelope.v != SCHEMA_VERSION:
        return Rejected("version", f"v={envelope.v}, this control room reads v={SCHEMA_VERSION}")
    decoder = _DECODERS.get(envelope.type)
    if decoder is None:
        return Rejected("type", f"unknown type {clean(envelope.type, 60)!r}")
    if expect is not None and envelope.type != expect:
        return Rejected("topic", f"a {clean(envelope.type, 60)} message on a {expect} topic")
    try:
        message: BusMessage = decoder.decode(payload)
    except msgspec.ValidationError as exc:
        return Rejected("invalid", clean(exc, 200))
    except Exception as exc:  # noqa: BLE001 - same as above
        return Rejected("malformed", clean(exc, 200))
    message = _sanitized(message)
    for name in _REQUIRED_NAMES.get(envelope.type, ()):
        if not getattr(message, name):
            return Rejected("invalid", f"{name} is empty once control characters are removed")
    return message


def _sanitized(message: BusMessage) -> BusMessage:
    """The message with every string cleaned (label keys and values too)."""
    changes: dict[str, Any] = {}
    for name in message.__struct_fields__:
        value = getattr(message, name)
        if isinstance(value, str):
            cleaned = clean_multiline(value) if name in _MULTILINE else clean(value)
            if cleaned != value:
                changes[name] = cleaned
        elif isinstance(value, dict):
            changes[name] = {clean(k, 256): clean(v, 1024) for k, v in value.items()}
    return msgspec.structs.replace(message, **changes) if changes else message


def encode(message: BusMessage) -> bytes:
    """The JSON payload of a message (``type`` tag included by msgspec)."""
    return _ENCODER.encode(message)


# ------------------------------------------------------------------ topics

_TOPIC_UNSAFE: Final = frozenset("%/+#")


def topic_segment(context: str) -> str:
    """A context name as one topic level. Kube context names may contain ``/`` (EKS ARNs) or
    MQTT wildcards; those and control characters are %-escaped, so each context gets exactly
    one topic and :func:`context_from_topic` reverses it."""
    return "".join(quote(c, safe="", errors="replace")
                   if c in _TOPIC_UNSAFE or not c.isprintable() else c for c in context)


def context_from_topic(segment: str) -> str:
    """The (sanitized) context name from its topic level."""
    return clean(unquote(segment))


# ------------------------------------------------------------------ rows


class PipelineRow(Row, frozen=True, gc=False, kw_only=True):
    """The latest event of one phase in one environment; key ``"<environment>/<phase>"``."""

    environment: str
    phase: str
    status: str
    revision: str = ""
    time: float
    """What the message says (the pipeline's clock: may be wrong, even year 9999)."""
    url: str = ""
    arrived: float = 0.0
    """When we received it (our clock; 0 when unknown)."""

    @property
    def time_possible(self) -> bool:
        """False when the message's own time lies in the future of its arrival."""
        return not (self.arrived and in_future(self.time, self.arrived))

    def times_against(self, other: PipelineRow) -> tuple[float, float]:
        """(this, other) times to tell which event is newer: the messages' own times, or
        their arrivals when either own time is impossible (in the future). One message
        dated year 9999 must not outrank every later one and pin the strip (issue 13)."""
        if self.time_possible and other.time_possible:
            return self.time, other.time
        return self.arrived, other.arrived


class TeamBreakerRow(Row, frozen=True, gc=False, kw_only=True):
    """A context's breaker as the team bus last said; key is the context name."""

    context: str
    engaged: bool
    by: str = ""
    since: float | None = None
    targets: int = 0
    half_done: bool = False
    origin: str = ""
    mine: bool = False
    """Published by this control room (its own echo): the header shows only the others."""


class TeamActionRow(Row, frozen=True, gc=False, kw_only=True):
    """A teammate's journal entry; key ``"<origin>/<id>"`` (latest status wins)."""

    origin: str
    id: int
    time: float
    operator: str
    context: str
    action: str
    target: str = ""
    status: str
    operation_id: str = ""
    summary: str = ""


class TeamBusRow(Row, frozen=True, gc=False, kw_only=True):
    """The bus's own counters, key ``"bus"``: what the header's team line shows."""

    connected: bool = False
    queued: int = 0
    dropped: int = 0
    rejected: tuple[tuple[str, int], ...] = ()
    """(reason, count) pairs, sorted by reason."""

    @property
    def rejected_total(self) -> int:
        """All rejected payloads, whatever the reason."""
        return sum(n for _, n in self.rejected)


def alert_row(message: AlertMessage) -> AlertRow:
    """The alerts-panel row of a forwarded alert. Its identity is the label set (as in
    Alertmanager), so a re-sent or resolved alert updates the same row."""
    labels = dict(message.labels)
    labels.setdefault("alertname", message.alertname)
    pairs = tuple(sorted(labels.items()))
    digest = hashlib.sha256("\0".join(f"{k}={v}" for k, v in pairs).encode()).hexdigest()[:16]
    return AlertRow(
        key=alert_key("mqtt", digest), source="mqtt", alertname=message.alertname,
        severity=message.severity or labels.get("severity", ""), state=message.state,
        since=message.starts_at.timestamp() if message.starts_at else None,
        summary=message.summary, description=message.description, labels=pairs,
        fingerprint=digest, generator_url=message.source)


def pipeline_row(message: PipelineMessage, *, arrived: float = 0.0) -> PipelineRow:
    """The pipeline strip's row: one per environment and phase, the latest event wins;
    ``arrived`` is our clock at reception (see :attr:`PipelineRow.rank_time`)."""
    return PipelineRow(key=f"{message.environment}/{message.phase}",
                       environment=message.environment, phase=message.phase,
                       status=message.status, revision=message.revision,
                       time=message.time.timestamp(), url=message.url, arrived=arrived)


def breaker_row(message: BreakerMessage, *, mine: bool) -> TeamBreakerRow:
    """A context's breaker as the team sees it; ``mine`` marks our own echo."""
    return TeamBreakerRow(key=message.context, context=message.context,
                          engaged=message.engaged, by=message.by,
                          since=message.since.timestamp() if message.since else None,
                          targets=message.targets, half_done=message.half_done,
                          origin=message.origin, mine=mine)


def action_row(message: ActionMessage) -> TeamActionRow:
    """A teammate's journal entry; a later status of the same entry replaces the row."""
    return TeamActionRow(key=f"{message.origin}/{message.id}", origin=message.origin,
                         id=message.id, time=message.time.timestamp(),
                         operator=message.operator, context=message.context,
                         action=message.action, target=message.target, status=message.status,
                         operation_id=message.operation_id, summary=message.summary)


def rejected_pairs(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """Reject counters as a hashable, ordered value for a frozen row."""
    return tuple(sorted(counts.items()))


# ------------------------------------------------------------------ our messages


def action_message(entry: JournalEntry, origin: str) -> ActionMessage:
    """A journal entry as the team sees it: who did what where, and why; never the prior or
    intended object bodies (they stay in the journal: secrets may hide in them)."""
    action = entry.action + (f" [{entry.step}]" if entry.step else "")
    return ActionMessage(origin=origin, id=entry.id, time=entry.finished_ts or entry.ts,
                         operator=entry.operator, context=entry.context, action=action,
                         target=entry.target, status=entry.status,
                         operation_id=entry.operation_id, summary=entry.reason)
