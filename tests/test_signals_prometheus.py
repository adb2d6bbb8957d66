"""Prometheus as an alert source: the decoders on real upstream answers and hostile text, and
the poller's contract (no overlap, stale-but-kept on failure, recovery) over a MockTransport.

The fixtures are the upstream documentation's and OpenAPI golden file's answers
(tests/fixtures/SOURCES.md); the end-to-end run against a real Prometheus is in
tests/test_app_alerts.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import yaml

from backends.signals.model import ALERT_RULES, ALERTS, AlertRow, RuleRow
from backends.signals.prometheus import (
    Decoded,
    SourceError,
    decode_alerts,
    decode_rules,
    prometheus_poller,
)
from backends.store import Store
from tests.kubefixtures import FIXTURES as KUBE_FIXTURES
from tests.waiting import await_until

FIXTURES = KUBE_FIXTURES / "prometheus"
HOSTILE = "\x1b]52;c;cm0gLXJmIC8=\x07[red]boom[/red]\x1b[2J[@click=app.quit]x\u202e"


def fixture(name: str) -> bytes:
    path = FIXTURES / name
    if path.suffix == ".yaml":
        return json.dumps(yaml.safe_load(path.read_text())).encode()
    return path.read_bytes()


def envelope(**data: Any) -> bytes:
    return json.dumps({"status": "success", "data": data}).encode()


# --------------------------------------------------------------------------- decoders


def test_documented_alerts_answer_decodes() -> None:
    rows = decode_alerts(fixture("prometheus-docs-api-v1-alerts.json")).rows[ALERTS]
    assert len(rows) == 1
    row = rows[0]
    assert isinstance(row, AlertRow)
    assert (row.source, row.alertname, row.state, row.value) == \
        ("prometheus", "my-alert", "firing", "1e+00")
    # "2018-07-04T20:27:12.60602144+02:00": offset and nanoseconds honoured
    assert row.since == pytest.approx(1530728832.606, abs=0.001)
    assert row.labels == (("alertname", "my-alert"),)
    assert row.key.startswith("prometheus/") and row.key == f"prometheus/{row.fingerprint}"


def test_openapi_example_alert_decodes_with_annotations() -> None:
    row = decode_alerts(fixture("prometheus-openapi-example-alerts.yaml")).rows[ALERTS][0]
    assert isinstance(row, AlertRow)
    assert (row.alertname, row.severity, row.state) == ("Watchdog", "warning", "firing")
    assert row.summary == "Ensure entire alerting pipeline is functional"
    assert row.description.startswith("This is an alert meant to ensure")
    assert row.since == 1767360600.0  # 2026-01-02T13:30:00.000Z


def test_documented_rules_answer_keeps_only_alerting_rules() -> None:
    decoded = decode_rules(fixture("prometheus-docs-api-v1-rules.json"))
    rules = decoded.rows[ALERT_RULES]
    assert [r.name for r in rules if isinstance(r, RuleRow)] == ["HighRequestLatency"]
    rule = rules[0]
    assert isinstance(rule, RuleRow)
    assert (rule.group, rule.file, rule.health, rule.severity, rule.active, rule.duration) == \
        ("example", "/rules.yaml", "ok", "page", 1, 600.0)
    assert rule.summary == "High request latency"
    assert "job:request_latency_seconds:mean5m" in rule.query


def test_newer_rules_answer_with_evaluation_times() -> None:
    rule = decode_rules(fixture("prometheus-openapi-example-rules.yaml")).rows[ALERT_RULES][0]
    assert isinstance(rule, RuleRow)
    assert (rule.name, rule.state, rule.health) == ("Watchdog", "firing", "ok")
    assert rule.last_evaluation is not None and rule.last_evaluation > 1.7e9


def test_rule_errors_are_kept_and_never_evaluated_is_none() -> None:
    body = envelope(groups=[{"name": "g", "file": "f.yml", "rules": [{
        "name": "Broken", "type": "alerting", "state": "inactive", "health": "err",
        "lastError": "vector contains metrics with the same labelset after applying "
                     "alert labels", "query": "x", "duration": 300,
        "lastEvaluation": "0001-01-01T00:00:00Z", "alerts": []}]}])
    rule = decode_rules(body).rows[ALERT_RULES][0]
    assert isinstance(rule, RuleRow)
    assert rule.health == "err" and "same labelset" in rule.last_error
    assert rule.last_evaluation is None


def test_hostile_text_is_sanitized_once_at_decode() -> None:
    body = envelope(alerts=[{
        "labels": {"alertname": "Evil" + HOSTILE, "pod": HOSTILE, "severity": "critical"},
        "annotations": {"summary": HOSTILE, "description": "line1\nline2" + HOSTILE},
        "state": "firing", "activeAt": "2026-01-01T00:00:00Z", "value": HOSTILE}])
    row = decode_alerts(body).rows[ALERTS][0]
    assert isinstance(row, AlertRow)
    texts = [row.alertname, row.summary, row.description, row.value,
             *[v for pair in row.labels for v in pair]]
    for text in texts:
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
        assert "\n" not in text
    # markup is NOT escaped here (the UI renders plain text): it survives literally
    assert "[red]boom[/red]" in row.summary and "[@click=app.quit]" in row.summary
    assert row.label("pod") == row.summary


def test_one_malformed_alert_is_counted_the_others_are_kept() -> None:
    body = envelope(alerts=[
        {"labels": {"alertname": "Good"}, "state": "firing"},
        {"labels": {"alertname": 5}, "state": "firing"},
        {"labels": {"alertname": "Odd"}, "state": "weird"},
        "not an object"])
    decoded = decode_alerts(body)
    names = [r.alertname for r in decoded.rows[ALERTS] if isinstance(r, AlertRow)]
    assert names == ["Good", "Odd"]
    assert decoded.rejected == 3  # the wrong type, the unknown state, the non-object
    assert any("alert 1" in p for p in decoded.problems)


def test_same_labels_twice_get_distinct_keys() -> None:
    alert = {"labels": {"alertname": "Dup"}, "state": "firing"}
    rows = decode_alerts(envelope(alerts=[alert, alert])).rows[ALERTS]
    assert len({r.key for r in rows}) == 2


@pytest.mark.parametrize("body, problem", [
    (b"<html>502 Bad Gateway</html>", "bad answer"),
    (b'{"status": "error", "errorType": "bad_data", "error": "boom", "data": {}}', "boom"),
    (b'{"status": "success", "data": {"alerts": {"not": "a list"}}}', "data.alerts"),
    (b"[]", "bad answer"),
])
def test_unreadable_answers_raise_a_named_error(body: bytes, problem: str) -> None:
    with pytest.raises(SourceError, match=problem) as info:
        decode_alerts(body)
    assert info.value.unreachable is False


# --------------------------------------------------------------------------- the poller


class FakePrometheus:
    """A MockTransport handler serving the documented answers, switchable to down."""

    def __init__(self) -> None:
        self.alerts = fixture("prometheus-docs-api-v1-alerts.json")
        self.rules = fixture("prometheus-docs-api-v1-rules.json")
        self.down = False
        self.status = 200
        self.in_flight = 0
        self.max_in_flight = 0
        self.paths: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            self.paths.append(f"{request.url.path}?{request.url.query.decode()}")
            if self.down:
                raise httpx.ConnectError("connection refused", request=request)
            if request.url.path == "/api/v1/alerts":
                return httpx.Response(self.status, content=self.alerts)
            if request.url.path == "/api/v1/rules":
                return httpx.Response(self.status, content=self.rules)
            return httpx.Response(404, content=b"not found")
        finally:
            self.in_flight -= 1


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_poll_replaces_rows_and_reports_health() -> None:
    server, clock = FakePrometheus(), Clock()
    store = Store(clock=clock)
    poller = prometheus_poller(store, "http://prom.test:9090",
                               transport=httpx.MockTransport(server), clock=clock)
    try:
        assert await poller.poll_once() is True
        assert store.count(ALERTS) == 1 and store.count(ALERT_RULES) == 1
        health = store.health("prometheus")
        assert health is not None and health.state == "connected"
        assert health.last_event == 1_000.0
        assert "/api/v1/rules?type=alert" in server.paths
        # the alert resolves: the next answer replaces the set (no ghost row)
        server.alerts = envelope(alerts=[])
        assert await poller.poll_once() is True
        assert store.count(ALERTS) == 0
    finally:
        await poller.stop()


async def test_unreachable_keeps_last_alerts_stale_and_recovers() -> None:
    server, clock = FakePrometheus(), Clock()
    store = Store(clock=clock)
    poller = prometheus_poller(store, "http://prom.test:9090",
                               transport=httpx.MockTransport(server), clock=clock)
    try:
        await poller.poll_once()
        key = next(iter(store.rows(ALERTS)))
        server.down = True
        clock.now = 1_010.0
        assert await poller.poll_once() is False
        clock.now = 1_020.0
        await poller.poll_once()
        row = store.get(ALERTS, key)
        assert isinstance(row, AlertRow) and row.stale  # kept, flagged
        rule = next(iter(store.rows(ALERT_RULES).values()))
        assert isinstance(rule, RuleRow) and rule.stale
        health = store.health("prometheus")
        assert health is not None and health.state == "stale"
        assert health.since == 1_010.0  # the FIRST failure, not the latest
        assert health.error.startswith("unreachable") and "connection refused" in health.error
        server.down = False
        clock.now = 1_030.0
        assert await poller.poll_once() is True
        row = store.get(ALERTS, key)
        assert isinstance(row, AlertRow) and not row.stale
        health = store.health("prometheus")
        assert health is not None and health.state == "connected" and health.since == 1_030.0
    finally:
        await poller.stop()


async def test_http_error_and_never_reached_say_so() -> None:
    server, clock = FakePrometheus(), Clock()
    server.status = 503
    store = Store(clock=clock)
    poller = prometheus_poller(store, "http://prom.test:9090",
                               transport=httpx.MockTransport(server), clock=clock)
    try:
        assert await poller.poll_once() is False
        health = store.health("prometheus")
        assert health is not None and health.state == "error"  # never had data: not "stale"
        assert "HTTP 503" in health.error
        assert store.count(ALERTS) == 0
    finally:
        await poller.stop()


async def test_partial_answer_keeps_the_good_alerts_and_names_the_bad() -> None:
    server, clock = FakePrometheus(), Clock()
    server.alerts = envelope(alerts=[{"labels": {"alertname": "Good"}, "state": "firing"},
                                     {"labels": [], "state": "firing"}])
    store = Store(clock=clock)
    poller = prometheus_poller(store, "http://prom.test:9090",
                               transport=httpx.MockTransport(server), clock=clock)
    try:
        assert await poller.poll_once() is True
        assert store.count(ALERTS) == 1
        health = store.health("prometheus")
        assert health is not None and health.state == "error"
        assert "1 item(s) could not be read" in health.error
    finally:
        await poller.stop()


async def test_polls_never_overlap_and_wait_after_the_previous_ended() -> None:
    """The loop sleeps ``interval`` after each poll ends; with a slow server, polls still
    never run concurrently (each poll's two requests may, by design)."""
    server, clock = FakePrometheus(), Clock()
    store = Store(clock=clock)
    sleeps: list[float] = []
    polls_at_sleep: list[int] = []
    poller: Any = None

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        polls_at_sleep.append(poller.polls)
        if len(sleeps) >= 3:
            raise asyncio.CancelledError
        await asyncio.sleep(0)

    poller = prometheus_poller(store, "http://prom.test:9090", interval=7.0,
                               transport=httpx.MockTransport(server), clock=clock, sleep=sleep)
    try:
        with pytest.raises(asyncio.CancelledError):
            await poller.run()
        assert sleeps == [7.0, 7.0, 7.0]
        assert polls_at_sleep == [1, 2, 3]  # each sleep starts after its poll completed
        assert server.max_in_flight <= 2  # the alerts and rules of ONE poll at most
    finally:
        await poller.stop()


async def test_start_and_stop_a_long_lived_task() -> None:
    server, clock = FakePrometheus(), Clock()
    store = Store(clock=clock)
    poller = prometheus_poller(store, "http://prom.test:9090", interval=0.5,
                               transport=httpx.MockTransport(server), clock=clock)
    task = poller.start()
    await await_until(lambda: poller.polls, "the poller's first round")
    assert poller.polls >= 1 and store.count(ALERTS) == 1
    await poller.stop()
    assert task.done()


def test_decoded_defaults_are_independent() -> None:
    a, b = Decoded(), Decoded()
    a.rows["x"] = []
    assert b.rows == {}


def test_a_url_is_required() -> None:
    with pytest.raises(ValueError, match="no URL"):
        prometheus_poller(Store(), "  ")
