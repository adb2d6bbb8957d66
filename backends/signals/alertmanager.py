"""Alertmanager as an alert source, and its client for silences.

Polled like Prometheus (see :mod:`backends.signals.prometheus`: no overlap, rows replaced per
answer, last known rows kept and flagged stale when unreachable): ``GET /api/v2/alerts``
(operations.md section 8) gives what Prometheus cannot: whether an alert is silenced or
inhibited (``status.state`` active / suppressed / unprocessed, ``silencedBy``,
``inhibitedBy``) and which receivers it goes to.

:class:`AlertmanagerClient` is also the :class:`~backends.ops.gate.Sender` of the silence
action (``POST /api/v2/silences``, ``DELETE /api/v2/silence/{id}``). It never writes by
itself: :mod:`backends.ops.silence` plans the writes and a ``WriteGate`` with the session's
policy and journal sends them, so read-only mode refuses a silence like any cluster write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Final

import msgspec

from backends.model import Row
from backends.sanitize import clean
from backends.signals.model import ALERTS, AlertRow, AlertState, alert_key
from backends.signals.prometheus import (
    Decoded,
    Poller,
    SignalClient,
    SourceError,
    epoch,
    fetch,
    label_digest,
    labels_of,
    summary_of,
)
from backends.store import Store

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ALERTS_PATH",
    "SILENCES_PATH",
    "AlertmanagerClient",
    "Matcher",
    "Silence",
    "alertmanager_poller",
    "decode_alerts",
    "decode_silences",
    "matches",
    "silence_path",
]

SOURCE: Final = "alertmanager"
ALERTS_PATH: Final = "/api/v2/alerts"
SILENCES_PATH: Final = "/api/v2/silences"

_LABEL_MAX: Final = 512


def silence_path(silence_id: str) -> str:
    """``/api/v2/silence/{id}`` (singular: the API's own inconsistency), id URL-quoted."""
    from urllib.parse import quote

    return f"/api/v2/silence/{quote(silence_id, safe='')}"


class AlertmanagerClient(SignalClient):
    """The Alertmanager API over httpx: a Sender for its gate, a Reader for the planners."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, verify_tls: bool = True,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, name="Alertmanager", timeout=timeout,
                         verify_tls=verify_tls, transport=transport)


# --------------------------------------------------------------------------- alerts


class _Receiver(msgspec.Struct):
    name: str = ""


class _Status(msgspec.Struct):
    state: str = ""
    silencedBy: list[str] = msgspec.field(default_factory=list)  # noqa: N815 - API names
    inhibitedBy: list[str] = msgspec.field(default_factory=list)  # noqa: N815
    mutedBy: list[str] = msgspec.field(default_factory=list)  # noqa: N815


class _AmAlert(msgspec.Struct):
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    startsAt: str | None = None  # noqa: N815
    endsAt: str | None = None  # noqa: N815
    fingerprint: str = ""
    receivers: list[_Receiver] = msgspec.field(default_factory=list)
    status: _Status = msgspec.field(default_factory=_Status)
    generatorURL: str = ""  # noqa: N815


_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_ALERT = msgspec.json.Decoder(_AmAlert)
_AM_STATES: Final[dict[str, AlertState]] = {
    "active": "active", "suppressed": "suppressed", "unprocessed": "unprocessed"}


def decode_alerts(body: bytes) -> Decoded:
    """``/api/v2/alerts`` (a JSON list of GettableAlert) into :class:`AlertRow` values.

    Raises :class:`SourceError` when the body is not a list; a malformed alert is counted
    and skipped. The key is Alertmanager's fingerprint (a digest of the labels when absent).
    """
    try:
        items = _RAW_LIST.decode(body)
    except msgspec.DecodeError as exc:
        raise SourceError(f"bad answer: {ALERTS_PATH}: {clean(exc, 200)}",
                          unreachable=False) from exc
    decoded = Decoded()
    rows: list[Row] = decoded.rows.setdefault(ALERTS, [])
    seen: set[str] = set()
    for index, raw in enumerate(items):
        try:
            alert = _ALERT.decode(raw)
        except msgspec.DecodeError as exc:
            decoded.rejected += 1
            if len(decoded.problems) < 3:
                decoded.problems.append(f"alert {index}: {clean(exc, 200)}")
            continue
        ident = clean(alert.fingerprint, 64) or label_digest(alert.labels)
        key, n = alert_key(SOURCE, ident), 1
        while key in seen:
            n += 1
            key = alert_key(SOURCE, f"{ident}-{n}")
        seen.add(key)
        state = _AM_STATES.get(alert.status.state, "unprocessed")
        summary, description = summary_of(alert.annotations)
        rows.append(AlertRow(
            key=key, source=SOURCE,
            alertname=clean(alert.labels.get("alertname", ""), _LABEL_MAX),
            severity=clean(alert.labels.get("severity", ""), _LABEL_MAX), state=state,
            since=epoch(alert.startsAt), ends=epoch(alert.endsAt), summary=summary,
            description=description, labels=labels_of(alert.labels), fingerprint=ident,
            silenced_by=tuple(clean(s, 64) for s in alert.status.silencedBy),
            inhibited_by=tuple(clean(s, 64) for s in alert.status.inhibitedBy),
            receivers=tuple(clean(r.name, 128) for r in alert.receivers),
            generator_url=clean(alert.generatorURL, 1024)))
    return decoded


async def fetch_alertmanager(client: SignalClient) -> Decoded:
    """One poll: every alert, silenced and inhibited ones included (the API's defaults)."""
    return decode_alerts(await fetch(client, ALERTS_PATH))


def alertmanager_poller(store: Store, url: str, *, interval: float = 5.0,
                        timeout: float = 10.0, verify_tls: bool = True,
                        transport: httpx.AsyncBaseTransport | None = None,
                        clock: Callable[[], float] = time.time,
                        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> Poller:
    """A :class:`Poller` of Alertmanager at ``url`` (source name ``alertmanager``). Its
    ``client`` is an :class:`AlertmanagerClient`, shared with the silence action."""
    client = AlertmanagerClient(url, timeout=timeout, verify_tls=verify_tls,
                                transport=transport)
    return Poller(SOURCE, store, client, fetch_alertmanager, kinds=(ALERTS,),
                  interval=interval, clock=clock, sleep=sleep)


# --------------------------------------------------------------------------- silences


class Matcher(msgspec.Struct, frozen=True):
    """One silence matcher as the API spells it."""

    name: str
    value: str
    isRegex: bool = False  # noqa: N815
    isEqual: bool = True  # noqa: N815


class _SilenceStatus(msgspec.Struct, frozen=True):
    state: str = ""


class Silence(msgspec.Struct, frozen=True):
    """A silence from ``GET /api/v2/silences`` (strings NOT sanitized: they are compared
    with what we sent and written back verbatim; clean before display)."""

    id: str
    matchers: tuple[Matcher, ...] = ()
    startsAt: str = ""  # noqa: N815
    endsAt: str = ""  # noqa: N815
    createdBy: str = ""  # noqa: N815
    comment: str = ""
    status: _SilenceStatus = msgspec.field(default_factory=_SilenceStatus)

    @property
    def state(self) -> str:
        """active | pending | expired."""
        return self.status.state


_SILENCES = msgspec.json.Decoder(list[Silence])


def decode_silences(body: bytes) -> list[Silence]:
    """``/api/v2/silences`` into :class:`Silence` values; ValueError naming the problem."""
    try:
        return _SILENCES.decode(body)
    except msgspec.DecodeError as exc:
        raise ValueError(f"bad answer from {SILENCES_PATH}: {clean(exc, 200)}") from exc


def matches(matchers: Iterable[Matcher], labels: Iterable[tuple[str, str]]) -> bool:
    """Whether exact (non-regex) ``matchers`` all match ``labels``: enough to find the
    silences the control room made, which never use regexes. A regex matcher never matches
    here (we cannot promise Go's regexp semantics)."""
    have = dict(labels)
    for m in matchers:
        if m.isRegex:
            return False
        equal = have.get(m.name, "") == m.value
        if equal != m.isEqual:
            return False
    return True
