"""The team bus schema: strict decoding that never raises, sanitizing, and the README's word.

No broker here: these are the decisions :func:`decode` makes on bytes, fuzzed with hypothesis.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.ops.journal import JournalEntry
from backends.sanitize import clean
from backends.signals.bus_schema import (
    PHASES,
    ActionMessage,
    AlertMessage,
    BreakerMessage,
    BusMessage,
    PipelineMessage,
    PipelineRow,
    Rejected,
    SummaryMessage,
    TeamBreakerRow,
    TeamBusRow,
    action_message,
    alert_row,
    context_from_topic,
    decode,
    encode,
    topic_segment,
)
from widgets.pipeline import latest_per_environment, pipeline_text, team_text

README = Path(__file__).resolve().parent.parent / "README.md"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

EXAMPLES: list[BusMessage] = [
    ActionMessage(id=7, time=NOW, operator="alice", context="aks-prod", action="patch scale",
                  target="Deployment shop/web", status="verified", operation_id="op-1",
                  summary="INC-1", origin="room-a"),
    BreakerMessage(context="aks-prod", engaged=True, by="alice", since=NOW, targets=3,
                   half_done=True, operation_id="op-1"),
    AlertMessage(alertname="PodCrashLooping", severity="critical", labels={"pod": "web-1"},
                 starts_at=NOW, description="line one\nline two"),
    PipelineMessage(phase="applications", status="failed", environment="prod",
                    revision="abc", time=NOW, url="https://ci/1"),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_every_type_round_trips(message: BusMessage) -> None:
    payload = encode(message)
    wire = json.loads(payload)
    assert wire["v"] == 1 and wire["type"] in {"action", "breaker", "alert", "pipeline"}
    assert "operationId" in wire or "startsAt" in wire or "environment" in wire
    assert decode(payload) == message


@pytest.mark.parametrize(("payload", "reason", "detail"), [
    (b"x" * 70_000, "oversize", "70000 bytes"),
    (b"{not json", "malformed", "malformed"),
    (b"\xff\xfe\x00", "malformed", ""),
    (b"", "malformed", ""),
    (b"[1, 2]", "invalid", "object"),
    (b'{"type": "alert"}', "invalid", "v"),
    (b'{"v": 2, "type": "alert", "alertname": "A"}', "version", "v=2"),
    (b'{"v": "1", "type": "alert", "alertname": "A"}', "invalid", "$.v"),
    (b'{"v": 1, "type": "launch", "alertname": "A"}', "type", "launch"),
    (b'{"v": 1, "type": "alert"}', "invalid", "alertname"),
    (b'{"v": 1, "type": "alert", "alertname": ""}', "invalid", "alertname"),
    (b'{"v": 1, "type": "alert", "alertname": "\\u001b[2J"}', "invalid", "alertname is empty"),
    (b'{"v": 1, "type": "breaker", "context": "c", "engaged": "yes"}', "invalid", "engaged"),
    (b'{"v": 1, "type": "breaker", "context": "c", "engaged": true, "targets": -1}',
     "invalid", "targets"),
    (b'{"v": 1, "type": "pipeline", "phase": "deploy", "status": "started",'
     b' "environment": "p", "time": "2026-11-26T10:00:00Z"}', "invalid", "phase"),
    (b'{"v": 1, "type": "pipeline", "phase": "applications", "status": "started",'
     b' "environment": "p", "time": "2026-11-26T10:00:00"}', "invalid", "timezone"),
    (b'{"v": 1, "type": "alert", "alertname": "A", "labels": {"a": 1}}', "invalid", "labels"),
    (b'{"v": 1, "type": "breaker", "context": "c", "engaged": true, "x": '
     + b"[" * 20_000 + b"]" * 20_000 + b"}", "malformed", "recursion"),
])
def test_bad_payloads_are_rejected_with_a_reason(payload: bytes, reason: str,
                                                 detail: str) -> None:
    result = decode(payload)
    assert isinstance(result, Rejected), result
    assert result.reason == reason and detail in result.detail


def test_a_type_on_the_wrong_topic_is_rejected() -> None:
    result = decode(encode(EXAMPLES[2]), expect="pipeline")
    assert result == Rejected("topic", "a alert message on a pipeline topic")


def test_every_string_is_sanitized_and_markup_stays_plain_text() -> None:
    payload = json.dumps({
        "v": 1, "type": "alert", "alertname": "Crash\x1b[2J\x1b]52;c;ZXZpbA==\x07Loop",
        "summary": "[@click=app.quit]boom[/] \u202eevil", "description": "a\r\nb\tc\x07",
        "labels": {"pod\x1b[31m": "web\u009b1m-1"}, "source": "bridge\x00",
        "origin": "\x1b]0;title\x07room"}).encode()
    message = decode(payload)
    assert isinstance(message, AlertMessage)
    assert message.alertname == "CrashLoop"
    assert message.summary == "[@click=app.quit]boom[/] evil"  # markup kept, as text
    assert message.description == "a\nb       c"
    assert message.labels == {"pod": "web-1"} and message.source == "bridge"
    assert message.origin == "room"


def test_alert_rows_are_identified_by_their_label_set() -> None:
    firing = AlertMessage(alertname="A", labels={"pod": "x"}, severity="warning")
    resolved = AlertMessage(alertname="A", labels={"pod": "x"}, state="resolved")
    other = AlertMessage(alertname="A", labels={"pod": "y"})
    assert alert_row(firing).key == alert_row(resolved).key != alert_row(other).key
    row = alert_row(firing)
    assert row.source == "mqtt" and row.key.startswith("mqtt/")
    assert row.labels == (("alertname", "A"), ("pod", "x")) and row.severity == "warning"
    labelled = alert_row(AlertMessage(alertname="B", labels={"severity": "critical"}))
    assert labelled.severity == "critical"


def test_a_journal_entry_becomes_an_action_without_its_object_bodies() -> None:
    entry = JournalEntry(
        id=3, ts=NOW, operator="alice", context="aks-prod", operation_id="op", step="scale-down",
        kind="Deployment", namespace="shop", name="web", action="patch scale", method="PATCH",
        path="/apis/apps/v1/...", prior={"secret": "s3cret"}, intent={"spec": 1},
        reason="INC-7", status="done", result=None, verification="", finished_ts=None)
    message = action_message(entry, "room-a")
    assert (message.id, message.target, message.action, message.summary, message.origin) == \
        (3, "Deployment shop/web", "patch scale [scale-down]", "INC-7", "room-a")
    assert b"s3cret" not in encode(message)


@given(st.text(min_size=1, max_size=40))
def test_context_topic_segments_are_one_level_and_reversible(context: str) -> None:
    segment = topic_segment(context)
    assert not {"/", "+", "#"} & set(segment) and segment.isprintable()
    assert unquote(segment) == context
    assert context_from_topic(segment) == clean(context)


# ------------------------------------------------------------------ fuzzing

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=5),
    max_leaves=20)
_fields = ["v", "type", "alertname", "labels", "context", "engaged", "phase", "status",
           "environment", "time", "id", "operator", "action", "since", "targets", "startsAt"]
_shaped = st.dictionaries(st.sampled_from(_fields), _json | st.sampled_from(
    [1, "alert", "breaker", "pipeline", "action", "applications", "started",
     "2026-11-26T10:00:00Z"]), max_size=10)


def _only_printable(message: BusMessage) -> bool:
    for name in message.__struct_fields__:
        value = getattr(message, name)
        texts = [value] if isinstance(value, str) else (
            [*value, *value.values()] if isinstance(value, dict) else [])
        for text in texts:
            if not text.replace("\n", "").isprintable():
                return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 _json.map(lambda v: json.dumps(v).encode()),
                 _shaped.map(lambda v: json.dumps(v).encode())),
       st.sampled_from([None, "alert", "breaker", "pipeline", "action"]))
def test_fuzzed_payloads_never_raise_and_what_passes_is_clean(payload: bytes,
                                                              expect: str | None) -> None:
    result = decode(payload, expect=expect)
    if isinstance(result, Rejected):
        assert result.reason in {"oversize", "malformed", "invalid", "version", "type", "topic"}
    else:
        assert result.v == 1 and _only_printable(result)
        assert expect is None or encode(result).startswith(f'{{"type":"{expect}"'.encode())


@settings(max_examples=100, deadline=None)
@given(st.builds(PipelineMessage, phase=st.sampled_from(PHASES),
                 status=st.sampled_from(["started", "succeeded", "failed"]),
                 environment=st.text(min_size=1, max_size=20), revision=st.text(max_size=20),
                 time=st.datetimes(timezones=st.just(UTC)), url=st.text(max_size=20)))
def test_valid_messages_with_any_text_decode_to_their_sanitized_selves(
        message: PipelineMessage) -> None:
    result = decode(encode(message))
    if not clean(message.environment):  # a name made only of control characters is no name
        assert result == Rejected("invalid",
                                  "environment is empty once control characters are removed")
        return
    assert isinstance(result, PipelineMessage), result
    assert (result.phase, result.status, result.time) == \
        (message.phase, message.status, message.time)
    assert _only_printable(result)


# ------------------------------------------------------------------ what the UI makes of it


def test_pipeline_text_shows_the_latest_phase_per_environment() -> None:
    def row(env: str, phase: str, status: str, t: float, rev: str = "") -> PipelineRow:
        return PipelineRow(key=f"{env}/{phase}", environment=env, phase=phase, status=status,
                           time=t, revision=rev)

    rows = [row("prod", "infrastructure", "succeeded", 1.0, "abc123"),
            row("prod", "applications", "succeeded", 5.0, "abc123"),
            row("staging", "platform-services", "failed", 3.0),
            row("staging", "infrastructure", "succeeded", 2.0),
            row("dev", "applications", "started", 9.0, "[bold]x" * 5)]
    assert [r.phase for r in latest_per_environment(rows)] == \
        ["applications", "applications", "platform-services"]
    assert pipeline_text(rows).plain == (
        "dev: applications ▶ running rev [bold]x[bold  ·  prod: applications ✓ rev abc123"
        "  ·  staging: platform-services ✗ failed")


def test_team_text_shows_only_other_instances_and_bus_trouble() -> None:
    mine = TeamBreakerRow(key="a", context="a", engaged=True, by="me", mine=True)
    off = TeamBreakerRow(key="b", context="b", engaged=False, by="bob")
    theirs = TeamBreakerRow(key="c", context="c", engaged=True, by="alice", targets=2,
                            since=None, half_done=True)
    assert team_text([mine, off], None).plain == ""
    bus = TeamBusRow(key="bus", queued=3, dropped=1, rejected=(("invalid", 1), ("oversize", 2)))
    assert team_text([mine, theirs], bus).plain == (
        "TEAM: breaker HALF-DONE on c by alice since ? (2 targets)  team bus: 3 queued,"
        " 1 dropped, 3 rejected (invalid 1, oversize 2)")


# ------------------------------------------------------------------ the README


def _readme_examples() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Team bus (MQTT) message schema"):]
    return re.findall(r"```json\n(.*?)```", section, re.S)


def test_the_readme_documents_each_type_with_an_example_that_decodes() -> None:
    examples = _readme_examples()
    decoded = [decode(block.encode()) for block in examples]
    assert [type(m) for m in decoded] == [ActionMessage, BreakerMessage, AlertMessage,
                                          PipelineMessage, SummaryMessage]
    section = README.read_text().split("## Team bus (MQTT) message schema")[1]
    for topic in ("<prefix>/actions", "<prefix>/breaker/<context>", "<prefix>/alerts/",
                  "<prefix>/pipeline/", "<prefix>/summary/<context>"):
        assert topic in section


def test_a_pipeline_event_dated_year_9999_does_not_pin_the_strip() -> None:
    """Issue 13 point 13: the strip ranks an impossible (future) time by its arrival, so a
    later real failure is shown, not the year-9999 "✓"."""
    bogus = PipelineRow(key="prod/applications", environment="prod", phase="applications",
                        status="succeeded", time=253402300799.0, arrived=1000.0)
    failure = PipelineRow(key="prod/infrastructure", environment="prod",
                          phase="infrastructure", status="failed", time=1010.0,
                          arrived=1011.0)
    assert not bogus.time_possible and failure.times_against(bogus) == (1011.0, 1000.0)
    assert [r.status for r in latest_per_environment([bogus, failure])] == ["failed"]
    assert pipeline_text([bogus, failure]).plain == "prod: infrastructure ✗ failed"


def test_team_breaker_since_in_the_future_says_clock_skew() -> None:
    theirs = TeamBreakerRow(key="c", context="c", engaged=True, by="alice", targets=1,
                            since=253402300799.0)
    assert team_text([theirs], None, now=1000.0).plain == (
        "TEAM: breaker engaged on c by alice since ? (clock skew: in the future) (1 targets)")
