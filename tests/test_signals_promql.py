"""PromQL key signals: decoding, thresholds, the poller's store and health, and a real run.

The unit tests drive :class:`SignalPoller` with a fake ``PrometheusConnect`` (same method,
same exceptions); the last test runs the real client against the drill's real Prometheus
during ``bad-rollout`` (``prom_stack``: skipped without the binary, failing under CI=true).
"""

from __future__ import annotations

import asyncio
import math
import threading
from datetime import datetime
from typing import Any

import pytest
import requests
from prometheus_api_client import PrometheusApiClientException

from backends.config import ConfigError, Settings, SignalSettings, parse, parse_duration
from backends.signals.model import SIGNALS, SignalRow
from backends.signals.promql import (
    NAN,
    SOURCE,
    SignalPoller,
    decode_matrix,
    signal_status,
    start_signals,
)
from backends.store import Store
from drill.controllers.exporter import LATENCY_BUCKETS, latency_shares
from drill.runner import DrillCluster, DrillOptions
from tests.waiting import await_until

NOW = 1_700_000_000.0
ERR = SignalSettings(name="error ratio", query="sum by (part_of) (errors)", unit="percent",
                     warn=0.01, crit=0.05, range="5m", step="1m")
P99 = SignalSettings(name="p99 latency", query="p99 by (part_of)", unit="seconds", warn=0.25,
                     crit=1.0, range="5m", step="1m")


def matrix(*series: tuple[str, list[Any]], start: float = NOW - 300, step: float = 60,
           label: str = "part_of") -> list[dict[str, Any]]:
    """A query_range result: one series per (app, values); None values are left out."""
    return [{"metric": {label: app},
             "values": [[start + i * step, str(v)] for i, v in enumerate(values)
                        if v is not None]}
            for app, values in series]


class FakePrometheus:
    """Stands in for PrometheusConnect: answers (or raises) per query, records the calls."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[dict[str, Any]] = []

    def custom_query_range(self, query: str, start_time: datetime, end_time: datetime,
                           step: str, params: dict[str, Any] | None = None) -> Any:
        self.calls.append({"query": query, "start": start_time.timestamp(),
                           "end": end_time.timestamp(), "step": step,
                           "thread": threading.get_ident()})
        answer = self.answers[query]
        if isinstance(answer, Exception):
            raise answer
        return answer


def poller(store: Store, fake: FakePrometheus, *signals: SignalSettings) -> SignalPoller:
    return SignalPoller(store, signals or (ERR, P99), lambda: fake, clock=lambda: NOW + 0.7)


def state(store: Store) -> str:
    health = store.health(SOURCE)
    return health.state if health is not None else "never reported"


def row(store: Store, key: str) -> SignalRow:
    found = store.get(SIGNALS, key)
    assert isinstance(found, SignalRow), f"no signal row {key!r}: {list(store.rows(SIGNALS))}"
    return found


# ----------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize(("value", "warn", "crit", "expected"), [
    (0.0, 0.01, 0.05, "ok"),
    (0.01, 0.01, 0.05, "warn"),
    (0.2, 0.01, 0.05, "crit"),
    (0.3, None, 0.05, "crit"),
    (0.3, 0.5, None, "ok"),
    (0.999, 0.99, 0.95, "ok"),      # crit below warn: lower is worse (availability)
    (0.97, 0.99, 0.95, "warn"),
    (0.9, 0.99, 0.95, "crit"),
    (None, 0.01, 0.05, "unknown"),
    (math.nan, 0.01, 0.05, "unknown"),
    (math.inf, 0.01, 0.05, "unknown"),
    (-1.0, None, None, "ok"),
])
def test_signal_status_against_thresholds(value: float | None, warn: float | None,
                                          crit: float | None, expected: str) -> None:
    assert signal_status(value, warn, crit) == expected


# ----------------------------------------------------------------------------- decoding


def test_decode_places_points_on_the_grid_with_gaps() -> None:
    start = NOW - 300
    result = matrix(("checkout", [0.0, None, 0.02, "NaN", 0.06, 0.08]),
                    ("catalog", [0, 0, 0, 0, 0, 0]), start=start)
    rows, problems = decode_matrix(ERR, 0, result, start, 60, 6)
    by_app = {r.app: r for r in rows}
    checkout = by_app["checkout"]
    assert checkout.key == "error ratio/checkout"
    assert checkout.values[0] == 0.0 and checkout.values[2] == 0.02
    assert math.isnan(checkout.values[1]) and math.isnan(checkout.values[3])
    assert checkout.values[1] is NAN  # one shared NaN: unchanged polls compare equal
    assert checkout.latest == 0.08 and checkout.status == "crit"
    assert checkout.at == start + 300 and checkout.unit == "percent"
    assert by_app["catalog"].status == "ok" and by_app["catalog"].latest == 0.0
    assert problems == ("1 NaN/Inf sample(s) shown as gaps (a ratio of no traffic, or a "
                        "quantile of no requests)",)


def test_decode_latest_gap_is_unknown_not_ok() -> None:
    rows, _ = decode_matrix(ERR, 0, matrix(("web", [0.0, 0.0, 0.0, 0.0, 0.0, None])),
                            NOW - 300, 60, 6)
    assert rows[0].latest is None and rows[0].status == "unknown"


@pytest.mark.parametrize(("result", "needle"), [
    ([], "no series"),
    (None, "not a matrix"),
    ({"resultType": "matrix"}, "not a matrix"),
    ("[bold]x", "not a matrix"),
    ([{"metric": {"app": "web"}, "values": [[NOW, "1"]]}], "no label 'part_of'"),
    ([{"metric": {"part_of": "web"}}], "not a range-query series"),
    ([{"metric": {"part_of": "web"}, "values": [[NOW - 300, "abc"]]}], "not a number"),
    ([{"metric": {"part_of": "web"}, "values": [[NOW - 300, None]]}], "not a number"),
    ([{"metric": {"part_of": "web"}, "values": [[NOW - 300, True]]}], "not a number"),
    ([{"metric": {"part_of": "web"}, "values": [["x", "1"]]}], "not a number"),
    ([{"metric": {"part_of": "web"}, "values": [[NOW - 300]]}], "not a [time, value] pair"),
    ([{"metric": {"part_of": "web"}, "values": [["+Inf", "1"]]}], "web: cannot convert"),
    ([{"metric": {"part_of": "web"}, "values": [["NaN", "1"]]}], "web: cannot convert"),
    ([{"metric": {"part_of": "web"}, "values": [[NOW + 9000, "1"]]}], "outside the queried"),
    ([{"metric": {"part_of": "web"}, "values": []},
      {"metric": {"part_of": "web"}, "values": []}], "two series for part_of=web"),
    ([{"metric": {"part_of": "web"}, "values": [[NOW - 300, "+Inf"]]}], "NaN/Inf"),
    ([17], "not a range-query series"),
])
def test_decode_bad_answers_are_named_never_raised(result: Any, needle: str) -> None:
    rows, problems = decode_matrix(ERR, 0, result, NOW - 300, 60, 6)
    assert any(needle in p for p in problems), problems
    assert all(r.status in ("unknown", "ok") for r in rows)


def test_decode_sanitizes_label_values() -> None:
    rows, _ = decode_matrix(ERR, 0, matrix(("evil\x1b[2J[bold]", [0.0] * 6)), NOW - 300, 60, 6)
    assert rows[0].app == "evil[bold]"
    assert "\x1b" not in rows[0].key


# ----------------------------------------------------------------------------- the poller


async def test_poll_fills_the_store_off_the_event_loop_with_the_configured_range() -> None:
    start = NOW - 300
    fake = FakePrometheus({
        ERR.query: matrix(("checkout", [0, 0, 0.01, 0.04, 0.09, 0.12]),
                          ("catalog", [0, 0, 0, 0, 0, 0]), start=start),
        P99.query: matrix(("checkout", [0.05, 0.05, 0.2, 0.3, 0.4, 0.45]), start=start),
    })
    store = Store(clock=lambda: NOW)
    p = poller(store, fake)
    assert await p.poll_once() is True
    assert row(store, "error ratio/checkout").status == "crit"
    assert row(store, "error ratio/catalog").status == "ok"
    latency = row(store, "p99 latency/checkout")
    assert latency.status == "warn" and latency.latest == 0.45 and latency.order == 1
    health = store.health(SOURCE)
    assert health is not None and health.state == "connected" and health.last_event == NOW + 0.7
    call = fake.calls[0]
    assert call["end"] == NOW and call["start"] == NOW - 300 and call["step"] == "60"
    assert all(c["thread"] != threading.get_ident() for c in fake.calls)
    # The same answer again changes no row (only the health's data age): no redraw.
    version = store.version
    await p.poll_once()
    changes = store.changes_since(version)
    assert not changes.upserted and not changes.removed and set(changes.health) == {SOURCE}


async def test_unreachable_keeps_last_values_stale_and_recovers() -> None:
    fake = FakePrometheus({ERR.query: matrix(("checkout", [0, 0, 0, 0, 0.02, 0.09]))})
    store = Store(clock=lambda: NOW)
    p = poller(store, fake, ERR)
    await p.poll_once()
    down = requests.exceptions.ConnectionError("Connection refused [bold]")
    fake.answers[ERR.query] = down
    assert await p.poll_once() is False
    kept = row(store, "error ratio/checkout")
    assert kept.stale and kept.latest == 0.09 and kept.status == "crit"
    health = store.health(SOURCE)
    assert health is not None and health.state == "stale" and health.since == NOW + 0.7
    assert health.error.startswith("unreachable: Connection refused [bold]")
    fake.answers[ERR.query] = matrix(("checkout", [0.09, 0.05, 0.01, 0, 0, 0]))
    assert await p.poll_once() is True
    back = row(store, "error ratio/checkout")
    assert not back.stale and back.status == "ok"
    assert state(store) == "connected"


async def test_unreachable_from_the_start_is_an_error_not_stale() -> None:
    fake = FakePrometheus({ERR.query: requests.exceptions.ConnectTimeout("timed out")})
    store = Store(clock=lambda: NOW)
    await poller(store, fake, ERR).poll_once()
    health = store.health(SOURCE)
    assert health is not None and health.state == "error" and "unreachable" in health.error
    assert store.count(SIGNALS) == 0


async def test_a_failing_query_is_named_and_the_other_signals_still_update() -> None:
    bad = PrometheusApiClientException(
        "HTTP Status Code 400 (b'{\"status\":\"error\",\"errorType\":\"bad_data\","
        "\"error\":\"1:9: parse error: unexpected identifier\"}')")
    fake = FakePrometheus({ERR.query: matrix(("web", [0.0] * 6)),
                           P99.query: matrix(("web", [0.05] * 6))})
    store = Store(clock=lambda: NOW)
    p = poller(store, fake)
    await p.poll_once()
    fake.answers[P99.query] = bad
    fake.answers[ERR.query] = matrix(("web", [0.0, 0, 0, 0, 0, 0.02]))
    assert await p.poll_once() is True
    health = store.health(SOURCE)
    assert health is not None and health.state == "error"
    assert health.error == ("p99 latency: bad answer: HTTP Status Code 400: 1:9: parse error: "
                            "unexpected identifier")
    assert row(store, "p99 latency/web").stale
    fresh = row(store, "error ratio/web")
    assert not fresh.stale and fresh.status == "warn"


@pytest.mark.parametrize("answer", [
    None, 42, "garbage", {"data": []}, [None], [{"metric": None, "values": None}],
    [{"metric": {"part_of": "web"}, "values": [["NaN", "NaN"], [1, 2, 3], "x"]}],
    ValueError("Expecting value: line 1 column 1"), KeyError("data"), RuntimeError("boom"),
])
async def test_garbage_answers_never_crash_and_show_in_health(answer: Any) -> None:
    store = Store(clock=lambda: NOW)
    await poller(store, FakePrometheus({ERR.query: answer}), ERR).poll_once()
    health = store.health(SOURCE)
    assert health is not None and health.state == "error" and health.error.startswith(
        "error ratio: "), health
    rows = [r for r in store.rows(SIGNALS).values() if isinstance(r, SignalRow)]
    assert all(r.status == "unknown" for r in rows), "a bad answer must never look ok"


async def test_a_client_that_cannot_be_built_is_an_error() -> None:
    def broken() -> Any:
        raise ValueError("Invalid URL 'htp:/x'")

    store = Store(clock=lambda: NOW)
    await SignalPoller(store, (ERR,), broken, clock=lambda: NOW).poll_once()
    health = store.health(SOURCE)
    assert health is not None and health.state == "error" and "Invalid URL" in health.error


async def test_polls_never_overlap_and_stop_ends_the_task() -> None:
    fake = FakePrometheus({ERR.query: matrix(("web", [0.0] * 6))})
    store = Store(clock=lambda: NOW)
    gate = asyncio.Event()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= 3:
            gate.set()
        await asyncio.sleep(0)

    closed: list[bool] = []
    p = SignalPoller(store, (ERR,), lambda: fake, interval=15.0, clock=lambda: NOW,
                     sleep=sleep, on_close=lambda: closed.append(True))
    p.start()
    await asyncio.wait_for(gate.wait(), 30)
    await p.stop()
    assert sleeps[:3] == [15.0, 15.0, 15.0] and p.polls >= 3
    # One query per completed poll; the poll cancelled by stop() may still have sent its
    # query from the worker thread.
    assert p.polls <= len(fake.calls) <= p.polls + 1
    assert closed == [True]


async def test_start_signals_without_a_url_starts_nothing() -> None:
    store = Store()
    stop = start_signals(store, Settings(), "")
    await stop()
    assert store.health(SOURCE) is None


# ----------------------------------------------------------------------------- config


def test_default_signals_match_the_drill_exporter() -> None:
    names = [s.name for s in Settings().signals]
    assert names == ["error ratio", "p99 latency"]
    assert all(s.label == "part_of" and "by (part_of" in s.query for s in Settings().signals)
    assert Settings().signals_interval == 15.0
    assert parse_duration("1h30m") == 5400 and parse_duration("500ms") == 0.5


@pytest.mark.parametrize(("text", "needle"), [
    ('[[signals]]\nname = "a/b"\nquery = "up"', "without '/'"),
    ('[[signals]]\nname = "x"\nquery = " "', "query of signal 'x' is empty"),
    ('[[signals]]\nname = "x"\nquery = "up"\nlabel = "part-of"', "Prometheus label name"),
    ('[[signals]]\nname = "x"\nquery = "up"\nrange = "5 minutes"', "not a duration"),
    ('[[signals]]\nname = "x"\nquery = "up"\nstep = "10m"\nrange = "5m"', "at most range"),
    ('[[signals]]\nname = "x"\nquery = "up"\nunit = "kg"', "$.signals[0].unit"),
    ('[[signals]]\nname = "x"\nquery = "up"\nwarn = nan', "finite"),
    ('[[signals]]\nname = "x"\nquery = "up"\n[[signals]]\nname = "x"\nquery = "up"',
     "unique"),
    ("signals_interval = 0.1", "signals_interval must be 1 to 3600"),
])
def test_bad_signal_config_is_refused_with_the_key(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match="c.toml") as err:
        parse(text, "c.toml")
    assert needle in str(err.value)


# ----------------------------------------------------------------------------- exporter


def test_latency_histogram_shares_put_the_99th_percentile_at_p99() -> None:
    shares = latency_shares(0.25)
    assert shares[-1] == 1.0 and list(shares) == sorted(shares)
    assert shares[LATENCY_BUCKETS.index(0.25)] == pytest.approx(0.99)


def test_exporter_labels_traffic_with_the_argocd_app() -> None:
    cluster = DrillCluster(DrillOptions(scenario="calm", manual_clock=True))
    cluster.sim.step()
    cluster.sim.advance(10)
    text = cluster.exporter.render().decode()
    assert ('http_requests_total{app="checkout-canary",code="200",namespace="checkout",'
            'part_of="checkout"}') in text
    assert 'http_request_duration_seconds_bucket{app="web",le="+Inf",namespace="frontend",' \
           'part_of="frontend"}' in text
    assert 'app="coredns",code="200",namespace="kube-system",part_of="kube-system"' in text


# ----------------------------------------------------------------------------- real server


async def wait_for(check: Any, what: str, timeout: float = 60) -> Any:
    """Await until ``check()`` is truthy (the poller runs as a task meanwhile)."""
    return await await_until(check, what, timeout, interval=0.25)


async def test_bad_rollout_raises_checkouts_signals_in_real_prometheus(prom_stack: Any) -> None:
    """start_signals with the real client against the drill's real Prometheus: checkout's
    error ratio rises past its thresholds while a healthy app stays ok; then Prometheus stops,
    the rows stay (stale) and the health says unreachable."""
    window = "[10s]"
    signals = [
        SignalSettings(name="error ratio", unit="percent", warn=0.01, crit=0.05, range="1m",
                       step="2s",
                       query=f'sum by (part_of) (rate(http_requests_total{{code=~"5.."}}'
                             f'{window})) / sum by (part_of) (rate(http_requests_total{window}))'),
        SignalSettings(name="p99 latency", unit="seconds", warn=0.25, crit=1.0, range="1m",
                       step="2s",
                       query="histogram_quantile(0.99, sum by (part_of, le) "
                             f"(rate(http_request_duration_seconds_bucket{window})))"),
    ]
    store = Store()
    stop = start_signals(store, Settings(signals=signals, signals_interval=1.0),
                         prom_stack.prometheus_url)
    try:
        def broken() -> SignalRow | None:
            found = store.get(SIGNALS, "error ratio/checkout")
            if isinstance(found, SignalRow) and found.status in ("warn", "crit"):
                return found
            return None

        checkout = await wait_for(broken, "checkout's error ratio past warn")
        assert checkout.latest > 0.01 and max(v for v in checkout.values if v == v) > 0.01
        catalog = row(store, "error ratio/catalog")
        assert catalog.status == "ok" and catalog.latest == 0.0
        slow, fast = row(store, "p99 latency/checkout"), row(store, "p99 latency/catalog")
        assert slow.latest is not None and fast.latest is not None
        assert slow.latest > fast.latest
        assert state(store) == "connected"

        await prom_stack.astop("prometheus")
        health = await wait_for(
            lambda: (h := store.health(SOURCE)) is not None and h.state == "stale" and h,
            "promql stale after Prometheus stopped")
        assert "unreachable" in health.error
        kept = row(store, "error ratio/checkout")
        assert kept.stale and kept.latest is not None and kept.status in ("warn", "crit")
    finally:
        await stop()


async def test_no_series_before_the_first_scrape_is_waiting_not_an_error() -> None:
    """Issue 13 point 7: at start-up Prometheus has no series yet; the health says "waiting
    for first data", not a PromQL "no series" error. Once a series was seen, an empty answer
    is a real problem again."""
    store = Store()
    fake = FakePrometheus({ERR.query: []})
    p = poller(store, fake, ERR)
    await p.poll_once()
    health = store.health(SOURCE)
    assert health is not None and health.state == "connecting"
    assert health.error == "waiting for first data: error ratio"
    assert "no series" not in health.error
    fake.answers[ERR.query] = matrix(("checkout", [0.0] * 6))
    await p.poll_once()
    assert state(store) == "connected"
    fake.answers[ERR.query] = []
    await p.poll_once()
    health = store.health(SOURCE)
    assert health is not None and health.state == "error" and "no series" in health.error
