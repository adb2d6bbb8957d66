"""Prometheus as an alert source, and the polling machinery the HTTP alert sources share.

What is polled (operations.md section 8): ``GET /api/v1/alerts`` (every pending and firing
alert: labels, annotations, state, activeAt, value) and ``GET /api/v1/rules?type=alert``
(every alerting rule with its ``health`` and ``lastError``). The rules matter as much as the
alerts: a rule whose query errors never fires, which looks exactly like a quiet platform.

Why polling the way it is done here:

- Without overlap (Dolphie's worker manager): the next poll starts ``interval`` seconds after
  the previous one *ended*, so a slow Prometheus is never hit by a pile of concurrent polls
  and the store never sees two answers out of order.
- Each answer replaces the source's rows wholesale (:func:`~backends.signals.model.
  replace_source`): an alert that stopped firing disappears; rows equal to what is held are
  not stamped, so a quiet poll wakes nobody.
- On failure the last known rows STAY, flagged ``stale`` (the panel dims them), and the
  source's health says since when it is unreachable. Clearing them would make the panel look
  like "all clear" exactly when the on-call cannot see. The next good answer replaces them,
  so recovery needs no restart.
- Items are decoded one by one (msgspec, from raw bytes): one malformed alert is counted and
  named in the health text, the others are still shown.

Every string is sanitized once here (:func:`backends.sanitize.clean`); nothing downstream
parses it as markup. ``httpx`` is imported inside functions: importing it at module level
would load rich (and the layering contract forbids UI libraries in ``backends``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import msgspec

from backends.httpclient import JsonHttpClient
from backends.kube.decode import parse_time
from backends.kube.errors import KubeApiError, KubeError
from backends.kube.wire import Params
from backends.model import Row
from backends.sanitize import clean
from backends.signals.model import (
    ALERT_RULES,
    ALERTS,
    AlertRow,
    AlertState,
    RuleRow,
    alert_key,
    mark_stale,
    replace_source,
)
from backends.signals.polling import PollLoop
from backends.store import SourceState, Store

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ALERTS_PATH",
    "RULES_PATH",
    "Decoded",
    "Poller",
    "SignalClient",
    "SourceError",
    "decode_alerts",
    "decode_rules",
    "epoch",
    "prometheus_poller",
]

log = logging.getLogger(__name__)

SOURCE: Final = "prometheus"
ALERTS_PATH: Final = "/api/v1/alerts"
RULES_PATH: Final = "/api/v1/rules"

_LABEL_MAX: Final = 512
_TEXT_MAX: Final = 2000
_MAX_PROBLEMS: Final = 3


# --------------------------------------------------------------------------- transport


class SourceError(Exception):
    """A poll that brought no usable answer. ``unreachable`` False means the server answered
    but the answer could not be read (the health then says "bad answer", not "unreachable")."""

    def __init__(self, message: str, *, unreachable: bool = True) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class SignalClient(JsonHttpClient):
    """httpx client of one HTTP signal source (Prometheus, Alertmanager): the shared
    :class:`~backends.httpclient.JsonHttpClient`, refusing an empty URL by name."""

    def __init__(self, base_url: str, *, name: str, timeout: float = 10.0,
                 verify_tls: bool = True,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not base_url.strip():
            raise ValueError(f"{name}: no URL configured")
        super().__init__(base_url.strip().rstrip("/"), name=name, timeout=timeout,
                         verify_tls=verify_tls, transport=transport)


async def fetch(client: SignalClient, path: str, params: Params | None = None) -> bytes:
    """GET for a poller: every failure becomes a :class:`SourceError` naming the path."""
    try:
        return await client.get_raw(path, params)
    except KubeApiError as exc:
        raise SourceError(f"unreachable: {path}: HTTP {exc.status} {exc.reason}: "
                          f"{clean(exc.message, 200)}") from exc
    except KubeError as exc:
        raise SourceError(f"unreachable: {clean(exc, 300)}") from exc


# --------------------------------------------------------------------------- polling


@dataclass
class Decoded:
    """One poll's rows per store kind, and what could not be decoded (for the health)."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    rejected: int = 0


Fetcher = Callable[[SignalClient], Awaitable[Decoded]]


class Poller(PollLoop):
    """Polls one source without overlap and keeps its rows and health in the store.

    ``kinds`` are the store kinds the source owns a slice of (its keys start with
    ``source/``). ``clock`` stamps the health; ``sleep`` waits between polls (tests pass
    their own to step through polls deterministically).
    """

    def __init__(self, source: str, store: Store, client: SignalClient, fetcher: Fetcher, *,
                 kinds: Iterable[str], interval: float = 5.0,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        super().__init__(source, store, interval=interval, clock=clock, sleep=sleep)
        self.source = source
        self.client = client
        self._fetch = fetcher
        self._kinds = tuple(kinds)
        self._ever_ok = False
        self.polls = 0
        """Completed polls, good or bad, counted once the store holds the outcome."""

    async def poll_once(self) -> bool:
        """One poll; True when it brought an answer (rows replaced), False when not (rows
        kept and flagged stale). Never raises for the source's own failures."""
        store, now = self._store, self._clock()
        try:
            decoded = await self._fetch(self.client)
        except SourceError as exc:
            self._failed(str(exc), now)
            return False
        except Exception as exc:  # noqa: BLE001 - a poller must survive anything it reads
            log.exception("%s: poll failed", self.source)
            self._failed(f"bad answer: {clean(exc, 300)}", now)
            return False
        self.polls += 1
        for kind in self._kinds:
            replace_source(store, kind, self.source, decoded.rows.get(kind, ()))
        self._ever_ok = True
        if decoded.problems:
            store.set_health(self.source, "error",
                             f"bad answer: {decoded.rejected} item(s) could not be read; "
                             f"first: {decoded.problems[0]}", now=now)
        else:
            store.set_health(self.source, "connected", now=now)
        store.note_event(self.source, now=now)
        return True

    def _failed(self, why: str, now: float) -> None:
        """Keep the last known rows, flagged stale; the health says since when."""
        for kind in self._kinds:
            mark_stale(self._store, kind, self.source)
        state: SourceState = "stale" if self._ever_ok else "error"
        self._store.set_health(self.source, state, why, now=now)
        self.polls += 1
        log.info("%s: %s", self.source, why)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.close()


# --------------------------------------------------------------------------- decoding


class _Envelope(msgspec.Struct):
    """``{"status": "success", "data": {...}}`` around every Prometheus API answer."""

    status: str = ""
    data: dict[str, msgspec.Raw] = msgspec.field(default_factory=dict)
    error: str = ""

    def items(self, name: str, what: str) -> list[msgspec.Raw]:
        """The list ``data[name]`` as raw items (decoded one by one by the caller); other
        keys of ``data`` (pagination tokens of newer servers) are ignored."""
        raw = self.data.get(name)
        if raw is None:
            return []
        try:
            return _RAW_LIST.decode(raw) or []
        except msgspec.DecodeError as exc:
            raise SourceError(f"bad answer: {what}: data.{name}: {clean(exc, 200)}",
                              unreachable=False) from exc


class _PromAlert(msgspec.Struct):
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    state: str = ""
    activeAt: str | None = None  # noqa: N815 - the API's name
    value: str = ""


class _PromRule(msgspec.Struct):
    name: str = ""
    type: str = "alerting"
    state: str = ""
    health: str = ""
    lastError: str = ""  # noqa: N815
    query: str = ""
    duration: float = 0.0
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    alerts: list[msgspec.Raw] = msgspec.field(default_factory=list)
    lastEvaluation: str | None = None  # noqa: N815


class _PromGroup(msgspec.Struct):
    name: str = ""
    file: str = ""
    rules: list[msgspec.Raw] = msgspec.field(default_factory=list)


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw] | None)
_ALERT = msgspec.json.Decoder(_PromAlert)
_RULE = msgspec.json.Decoder(_PromRule)
_GROUP = msgspec.json.Decoder(_PromGroup)


def epoch(text: str | None) -> float | None:
    """Epoch seconds of an RFC3339 time, None when absent, unreadable or Go's zero time
    (``0001-01-01T00:00:00Z``, what Prometheus sends for "never evaluated")."""
    if not text:
        return None
    try:
        value = parse_time(text)
    except ValueError:
        return None
    return value if value > 0 else None


def labels_of(raw: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Sorted, sanitized label pairs."""
    return tuple(sorted((clean(k, _LABEL_MAX), clean(v, _LABEL_MAX)) for k, v in raw.items()))


def label_digest(raw: Mapping[str, str]) -> str:
    """A stable id for a label set (Prometheus alerts have no fingerprint): 16 hex digits of
    a hash of the raw sorted pairs."""
    h = hashlib.blake2b(digest_size=8)
    for k, v in sorted(raw.items()):
        h.update(k.encode("utf-8", "replace") + b"\x00" + v.encode("utf-8", "replace") + b"\x01")
    return h.hexdigest()


def summary_of(annotations: Mapping[str, str]) -> tuple[str, str]:
    """(summary, description): ``summary`` or else ``message``/``description``'s first line."""
    description = annotations.get("description", "")
    summary = annotations.get("summary") or annotations.get("message") or \
        description.strip().split("\n", 1)[0]
    return clean(summary, _TEXT_MAX), clean(description, _TEXT_MAX)


def _envelope(body: bytes, what: str) -> _Envelope:
    try:
        env = _ENVELOPE.decode(body)
    except msgspec.DecodeError as exc:
        raise SourceError(f"bad answer: {what}: {clean(exc, 200)}", unreachable=False) from exc
    if env.status != "success":
        raise SourceError(f"bad answer: {what}: status {clean(env.status, 40)!r} "
                          f"{clean(env.error, 200)}", unreachable=False)
    return env


def _problem(decoded: Decoded, what: str, exc: Exception) -> None:
    decoded.rejected += 1
    if len(decoded.problems) < _MAX_PROBLEMS:
        decoded.problems.append(f"{what}: {clean(exc, 200)}")


_PROM_STATES: Final[frozenset[str]] = frozenset({"pending", "firing"})


def decode_alerts(body: bytes, decoded: Decoded | None = None) -> Decoded:
    """``/api/v1/alerts`` into :class:`AlertRow` values (kind ``alerts``).

    Raises :class:`SourceError` when the envelope cannot be read; a malformed alert is
    counted in ``problems`` and skipped. Two alerts with the same label set (the same rule in
    two groups) get distinct keys, so neither hides the other.
    """
    decoded = decoded if decoded is not None else Decoded()
    env = _envelope(body, ALERTS_PATH)
    rows: list[Row] = decoded.rows.setdefault(ALERTS, [])
    seen: set[str] = set()
    for index, raw in enumerate(env.items("alerts", ALERTS_PATH)):
        try:
            alert = _ALERT.decode(raw)
        except msgspec.DecodeError as exc:
            _problem(decoded, f"alert {index}", exc)
            continue
        ident = label_digest(alert.labels)
        key, n = alert_key(SOURCE, ident), 1
        while key in seen:
            n += 1
            key = alert_key(SOURCE, f"{ident}-{n}")
        seen.add(key)
        state: AlertState = "pending" if alert.state == "pending" else "firing"
        if alert.state not in _PROM_STATES:
            _problem(decoded, f"alert {index}", ValueError(f"unknown state {alert.state!r}"))
        summary, description = summary_of(alert.annotations)
        rows.append(AlertRow(
            key=key, source=SOURCE, alertname=clean(alert.labels.get("alertname", ""),
                                                    _LABEL_MAX),
            severity=clean(alert.labels.get("severity", ""), _LABEL_MAX), state=state,
            since=epoch(alert.activeAt), summary=summary, description=description,
            labels=labels_of(alert.labels), fingerprint=ident, value=clean(alert.value, 64)))
    return decoded


def decode_rules(body: bytes, decoded: Decoded | None = None) -> Decoded:
    """``/api/v1/rules`` into :class:`RuleRow` values (kind ``alertrules``); recording
    rules are skipped. Same error policy as :func:`decode_alerts`."""
    decoded = decoded if decoded is not None else Decoded()
    env = _envelope(body, RULES_PATH)
    rows: list[Row] = decoded.rows.setdefault(ALERT_RULES, [])
    seen: set[str] = set()
    for gindex, graw in enumerate(env.items("groups", RULES_PATH)):
        try:
            group = _GROUP.decode(graw)
        except msgspec.DecodeError as exc:
            _problem(decoded, f"rule group {gindex}", exc)
            continue
        gname, gfile = clean(group.name, _LABEL_MAX), clean(group.file, _LABEL_MAX)
        for rindex, rraw in enumerate(group.rules):
            try:
                rule = _RULE.decode(rraw)
            except msgspec.DecodeError as exc:
                _problem(decoded, f"rule {rindex} of group {gname!r}", exc)
                continue
            if rule.type != "alerting":
                continue
            name = clean(rule.name, _LABEL_MAX)
            base = alert_key(SOURCE, f"{gfile}:{gname}:{name}")
            key, n = base, 1
            while key in seen:
                n += 1
                key = f"{base}#{n}"
            seen.add(key)
            summary, _ = summary_of(rule.annotations)
            rows.append(RuleRow(
                key=key, source=SOURCE, group=gname, file=gfile, name=name,
                state=clean(rule.state, 32), health=clean(rule.health, 32),
                last_error=clean(rule.lastError, _TEXT_MAX), query=clean(rule.query, _TEXT_MAX),
                duration=rule.duration, severity=clean(rule.labels.get("severity", ""),
                                                       _LABEL_MAX),
                summary=summary, active=len(rule.alerts),
                last_evaluation=epoch(rule.lastEvaluation)))
    return decoded


async def fetch_prometheus(client: SignalClient) -> Decoded:
    """Both endpoints of one poll, concurrently; either failing fails the poll (a half
    answer would drop the rules' rows or the alerts' rows from the store)."""
    alerts, rules = await asyncio.gather(
        fetch(client, ALERTS_PATH), fetch(client, RULES_PATH, {"type": "alert"}))
    decoded = decode_alerts(alerts)
    return decode_rules(rules, decoded)


def prometheus_poller(store: Store, url: str, *, interval: float = 5.0, timeout: float = 10.0,
                      verify_tls: bool = True, transport: httpx.AsyncBaseTransport | None = None,
                      clock: Callable[[], float] = time.time,
                      sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> Poller:
    """A :class:`Poller` of Prometheus at ``url`` (source name ``prometheus``)."""
    client = SignalClient(url, name="Prometheus", timeout=timeout, verify_tls=verify_tls,
                          transport=transport)
    return Poller(SOURCE, store, client, fetch_prometheus, kinds=(ALERTS, ALERT_RULES),
                  interval=interval, clock=clock, sleep=sleep)
