"""PromQL key signals: a few range queries per app, polled in a thread, kept in the store.

What: every configured signal (``[[signals]]`` in the config, by default the error ratio and
the p99 latency per app) is evaluated with ``/api/v1/query_range`` over its ``range`` every
``step``, and each returned series becomes one :class:`~backends.signals.model.SignalRow`
(store kind ``signals``, key ``<signal>/<app>``), which the Argo CD panel draws as a sparkline
next to the app. The source's health is ``promql`` in the header strip.

Why it is built this way:

- prometheus-api-client is synchronous (``requests``), so each poll runs in a worker thread
  (:func:`asyncio.to_thread`); the event loop never waits on the network. The thread builds
  frozen rows and hands back an immutable :class:`SignalAnswer` per signal; only the loop
  touches the store (the store is not thread-safe, and widgets are never touched at all).
  The client (and the 0.1 s import of the library) is created lazily in that thread too.
- Polls never overlap: the next starts ``signals_interval`` seconds after the previous one
  ended (as the alert pollers do), so a slow Prometheus is never hit by a pile of queries.
- The client gets no retries of its own (the library's default retries with backoff would
  hold a failing poll for seconds); the next poll is the retry.
- Points are placed on the ``start + k * step`` grid of the query, so a point Prometheus left
  out is a gap (NaN) in the right place, not a shifted line.
- Bad answers never crash and never pass for good ones: a query that fails keeps that
  signal's last rows, flagged stale; samples that are not numbers, NaN or Inf, series without
  the join label, duplicates and empty answers are named in the health ("error"), and the
  affected app's status is "unknown", never "ok". When Prometheus is unreachable every row
  stays, stale, and the health says "stale since T", never an empty panel that looks fine.

Every label value is sanitized once here (:func:`backends.sanitize.clean`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

import msgspec

from backends.config import SignalSettings
from backends.sanitize import clean
from backends.signals.model import (
    SIGNALS,
    SignalRow,
    SignalStatus,
    mark_stale,
    replace_source,
    signal_key,
)
from backends.signals.polling import PollLoop
from backends.store import SourceState, Store

if TYPE_CHECKING:
    from backends.config import Settings

__all__ = [
    "SOURCE",
    "QueryRange",
    "SignalAnswer",
    "SignalPoller",
    "decode_matrix",
    "signal_status",
    "start_signals",
]

log = logging.getLogger(__name__)

SOURCE: Final = "promql"
"""Name of the source's health in the header strip."""
NAN: Final = float("nan")
"""The one NaN every gap refers to (see :class:`~backends.signals.model.SignalRow`)."""

_LABEL_MAX: Final = 256
_MAX_PROBLEMS: Final = 3
_PROMETHEUS_ERROR = re.compile(r'"error"\s*:\s*"((?:[^"\\]|\\.)*)"')

Stopper = Callable[[], Awaitable[None]]


class QueryRange(Protocol):
    """What the poller needs of ``prometheus_api_client.PrometheusConnect`` (tests fake it)."""

    def custom_query_range(self, query: str, start_time: datetime, end_time: datetime,
                           step: str, params: dict[str, Any] | None = None) -> Any: ...


class SignalAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What one signal's query brought, built in the worker thread and handed to the loop.

    ``error`` is set when the query brought no usable answer (then ``rows`` is empty and the
    last known rows are kept); ``problems`` name what was wrong in an answer that was used.
    """

    signal: str
    rows: tuple[SignalRow, ...] = ()
    problems: tuple[str, ...] = ()
    error: str = ""
    unreachable: bool = False


NO_SERIES = "no series"
"""How :func:`decode_matrix` names an empty answer (a problem only once data was seen)."""
WAITING = "waiting for first data"
"""What the health says while a signal has never had a series: Prometheus has not scraped
(or evaluated) yet at start-up, which is not an error worth a red header (issue 13)."""


def signal_status(value: float | None, warn: float | None, crit: float | None) -> SignalStatus:
    """``value`` against the thresholds: higher is worse, unless ``crit < warn``.

    No value (a gap, NaN) is "unknown", never "ok": a signal that cannot be computed says
    nothing good about the app.
    """
    if value is None or not math.isfinite(value):
        return "unknown"
    if warn is not None and crit is not None and crit < warn:  # lower is worse
        return "crit" if value <= crit else "warn" if value <= warn else "ok"
    if crit is not None and value >= crit:
        return "crit"
    if warn is not None and value >= warn:
        return "warn"
    return "ok"


def _sample(raw: Any) -> float:
    """A sample value as Prometheus writes it (a string: ``"0.5"``, ``"NaN"``, ``"+Inf"``)."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValueError(f"not a number: {clean(repr(raw), 40)}")
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"not a number: {clean(repr(raw), 40)}") from None


def decode_matrix(spec: SignalSettings, order: int, result: Any, start: float, step: float,
                  count: int) -> tuple[tuple[SignalRow, ...], tuple[str, ...]]:
    """A ``query_range`` result (a matrix: ``[{"metric": {...}, "values": [[t, "v"], ...]}]``)
    into one row per app and the problems found (pure; runs in the worker thread).

    ``count`` points are expected at ``start + k * step``. A malformed series is skipped and
    named; a malformed sample is a gap and named.
    """
    problems: list[str] = []
    bad_samples = non_finite = 0
    if not isinstance(result, list):
        return (), (f"not a matrix: got {type(result).__name__}",)
    if not result:
        return (), (f"{NO_SERIES} (does the query return any, grouped by {spec.label}?)",)
    rows: dict[str, SignalRow] = {}
    for index, series in enumerate(result):
        metric = series.get("metric") if isinstance(series, dict) else None
        points = series.get("values") if isinstance(series, dict) else None
        if not isinstance(metric, dict) or not isinstance(points, list):
            problems.append(f"series {index}: not a range-query series")
            continue
        raw_app = metric.get(spec.label)
        if not isinstance(raw_app, str) or not raw_app:
            labels = ",".join(sorted(clean(str(k), 40) for k in metric))
            problems.append(f"series {index} has no label {spec.label!r} "
                            f"(labels: {labels or 'none'}); group the query by it")
            continue
        app = clean(raw_app, _LABEL_MAX)
        if app in rows:
            problems.append(f"two series for {spec.label}={app}; group the query by "
                            f"{spec.label} alone")
            continue
        values = [NAN] * count
        for point in points:
            try:
                if not isinstance(point, list | tuple) or len(point) != 2:
                    raise ValueError("not a [time, value] pair")
                at, value = _sample(point[0]), _sample(point[1])
                slot = round((at - start) / step)
                if not 0 <= slot < count:
                    raise ValueError(f"time {at:.0f} outside the queried range")
            except (ValueError, OverflowError) as exc:  # round(inf) overflows
                bad_samples += 1
                if bad_samples == 1:
                    problems.append(f"{spec.label}={app}: {exc}")
                continue
            if math.isfinite(value):
                values[slot] = value
            else:
                non_finite += 1
        last = values[-1] if count else NAN
        latest = last if math.isfinite(last) else None
        rows[app] = SignalRow(
            key=signal_key(spec.name, app), signal=spec.name, app=app, values=tuple(values),
            latest=latest, at=start + (count - 1) * step,
            status=signal_status(latest, spec.warn, spec.crit), unit=spec.unit, order=order,
            warn=spec.warn, crit=spec.crit)
    if bad_samples > 1:
        problems.append(f"{bad_samples} unreadable samples in all")
    if non_finite:
        problems.append(f"{non_finite} NaN/Inf sample(s) shown as gaps (a ratio of no "
                        "traffic, or a quantile of no requests)")
    return tuple(rows.values()), tuple(problems)


def _describe(exc: Exception) -> tuple[str, bool]:
    """(message, unreachable) for an exception of the client."""
    import requests  # lazily: loaded by the client in the worker thread anyway

    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return f"unreachable: {clean(exc, 300)}", True
    text = clean(exc, 600)
    found = _PROMETHEUS_ERROR.search(text)
    if found:  # "HTTP Status Code 400 (b'{"status":"error",...,"error":"parse error..."}')"
        status = text.split(" (", 1)[0]
        text = f"{status}: {found.group(1)}"
    return f"bad answer: {clean(text, 300)}", False


class SignalPoller(PollLoop):
    """Polls the configured signals without overlap and keeps their rows in the store.

    ``client_factory`` makes the PromQL client; it is called in the worker thread on the
    first poll (tests pass a fake). ``clock`` gives the end of every range and stamps the
    health; ``sleep`` waits between polls.
    """

    def __init__(self, store: Store, signals: Sequence[SignalSettings],
                 client_factory: Callable[[], QueryRange], *, interval: float = 15.0,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 on_close: Callable[[], None] | None = None) -> None:
        super().__init__(SOURCE, store, interval=interval, clock=clock, sleep=sleep)
        self.signals = tuple(signals)
        self._factory = client_factory
        self._client: QueryRange | None = None
        self._on_close = on_close
        self._ever_ok = False
        self._had_data: set[str] = set()
        """Signals that returned a series at least once: an empty answer after that is a
        problem; before it, Prometheus is still waiting for its first scrape."""
        self.polls = 0
        """Completed polls, good or bad (tests wait on it)."""

    # ------------------------------------------------------------ worker thread

    def _query_all(self, now: float) -> tuple[SignalAnswer, ...]:
        """Every signal's range query and decoding; runs in the worker thread."""
        try:
            if self._client is None:
                self._client = self._factory()
            client = self._client
        except Exception as exc:  # noqa: BLE001 - reported, never raised into the loop
            message = f"bad answer: cannot create the client: {clean(exc, 300)}"
            return tuple(SignalAnswer(signal=s.name, error=message) for s in self.signals)
        end = math.floor(now)
        answers = []
        for order, spec in enumerate(self.signals):
            step = spec.step_seconds
            count = int(spec.range_seconds // step) + 1
            # Whole seconds: the client rounds the times it sends, and the grid must match.
            start = end - math.ceil((count - 1) * step)
            try:
                result = client.custom_query_range(
                    spec.query, start_time=datetime.fromtimestamp(start, UTC),
                    end_time=datetime.fromtimestamp(end, UTC), step=f"{step:g}")
                rows, problems = decode_matrix(spec, order, result, start, step, count)
            except Exception as exc:  # noqa: BLE001 - the poller survives anything it reads
                message, unreachable = _describe(exc)
                answers.append(SignalAnswer(signal=spec.name, error=message,
                                            unreachable=unreachable))
                continue
            answers.append(SignalAnswer(signal=spec.name, rows=rows, problems=problems))
        return tuple(answers)

    # ------------------------------------------------------------ event loop

    async def poll_once(self) -> bool:
        """One poll of every signal; True when at least one answered. Never raises for the
        source's own failures."""
        now = self._clock()
        # A cancelled poll (stop) is not counted: its thread may still finish after us.
        answers = await asyncio.to_thread(self._query_all, now)
        self.polls += 1
        self.apply(answers, now)
        return any(not answer.error for answer in answers)

    def apply(self, answers: Sequence[SignalAnswer], now: float) -> None:
        """Put one poll's answers into the store and set the health (on the loop)."""
        store = self._store
        notes: list[str] = []
        waiting: list[str] = []
        for answer in answers:
            if answer.error:
                mark_stale(store, SIGNALS, answer.signal)
                notes.append(f"{answer.signal}: {answer.error}")
                continue
            replace_source(store, SIGNALS, answer.signal, answer.rows)
            if answer.rows:
                self._had_data.add(answer.signal)
            for problem in answer.problems:
                if problem.startswith(NO_SERIES) and answer.signal not in self._had_data:
                    waiting.append(answer.signal)
                else:
                    notes.append(f"{answer.signal}: {problem}")
        answered = [answer for answer in answers if not answer.error]
        if answers and not answered and all(answer.unreachable for answer in answers):
            state: SourceState = "stale" if self._ever_ok else "error"
            store.set_health(SOURCE, state, answers[0].error, now=now)
            log.info("%s: %s", SOURCE, answers[0].error)
            return
        if notes:
            more = f" (+{len(notes) - _MAX_PROBLEMS} more)" if len(notes) > _MAX_PROBLEMS else ""
            store.set_health(SOURCE, "error", "; ".join(notes[:_MAX_PROBLEMS]) + more, now=now)
        elif waiting:
            store.set_health(SOURCE, "connecting", f"{WAITING}: {', '.join(waiting)}", now=now)
        else:
            store.set_health(SOURCE, "connected", now=now)
        if answered:
            self._ever_ok = True
            store.note_event(SOURCE, now=now)

    async def close(self) -> None:
        """Close the client's session. A query already running in the thread finishes on
        its own (bounded by the client's timeout); its answer is dropped."""
        if self._on_close is not None:
            close, self._on_close = self._on_close, None
            close()


def _client_factory(url: str, timeout: float, verify_tls: bool,
                    on_session: Callable[[Any], None]) -> Callable[[], QueryRange]:
    """A factory of the real client: our own session (so we can close it), no retries."""

    def make() -> QueryRange:
        import requests
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        session = requests.Session()
        session.verify = verify_tls
        on_session(session)
        client: QueryRange = PrometheusConnect(
            url=url.strip().rstrip("/"), session=session, timeout=timeout,
            retry=Retry(total=0, raise_on_status=False))
        return client

    return make


def start_signals(store: Store, settings: Settings, prometheus_url: str) -> Stopper:
    """Start polling the configured signals against ``prometheus_url``; returns the stopper.

    Nothing starts (and no health is shown) without a URL or without signals.
    """
    if not prometheus_url.strip() or not settings.signals:

        async def nothing() -> None:
            return None

        return nothing
    sessions: list[Any] = []
    factory = _client_factory(prometheus_url, settings.prometheus.timeout,
                              settings.prometheus.verify_tls, sessions.append)

    def close() -> None:
        for session in sessions:
            session.close()

    poller = SignalPoller(store, settings.signals, factory,
                          interval=settings.signals_interval, on_close=close)
    poller.start()
    return poller.stop
