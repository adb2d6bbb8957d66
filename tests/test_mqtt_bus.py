"""The MQTT team bus against a real mosquitto: two control rooms, retained state, restarts.

Each test gets its own broker (the ``mosquitto`` fixture: a free loopback port, persistence in
a temp dir), so a restart keeps retained messages and persistent sessions like a production
broker does.
Waits poll the stores with a deadline (``until``); nothing sleeps blindly.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.config import ConfigError, MqttSettings, parse
from backends.ops.journal import JournalDB, JournalEntry
from backends.signals.bus_schema import (
    ALERTS,
    PIPELINE,
    TEAMACTIONS,
    TEAMBREAKER,
    TEAMBUS,
    ActionMessage,
    Rejected,
    decode,
    encode,
)
from backends.signals.mqtt import SOURCE, TeamBus, parse_url
from backends.signals.outbox import Outbox
from backends.store import Store
from drill.servers import free_port
from tests.conftest import Broker, require_program
from tests.waiting import await_until as until

PREFIX = "controlroom"


# ------------------------------------------------------------------ helpers


def make_bus(url: str, client_id: str = "", **kw: Any) -> tuple[TeamBus, Store]:
    store = Store()
    bus = TeamBus(store, MqttSettings(url=url, client_id=client_id, **kw),
                  backoff_base=0.05, backoff_cap=0.3, publish_timeout=3.0)
    return bus, store


def entry(i: int, status: str = "done") -> JournalEntry:
    now = datetime(2026, 11, 26, 10, 0, i % 60, tzinfo=UTC)
    return JournalEntry(
        id=i, ts=now, operator="alice", context="aks-prod", operation_id="op-1", step="",
        kind="Deployment", namespace="shop", name=f"web-{i}", action="patch scale",
        method="PATCH", path="/x", prior={}, intent={}, reason="INC-42 rollback",
        status=status, result=None, verification="", finished_ts=now)  # type: ignore[arg-type]


async def raw_publish(url: str, items: list[tuple[str, bytes]], retain: bool = False) -> None:
    addr = parse_url(url)
    async with aiomqtt.Client(addr.host, addr.port) as client:
        for topic, payload in items:
            await client.publish(topic, payload, qos=1, retain=retain)


# ------------------------------------------------------------------ outbox (no broker)


async def test_outbox_keeps_order_drops_oldest_and_coalesces_retained_state() -> None:
    box = Outbox(3)
    first = box.put("a", b"1")
    box.put("b", b"2")
    box.put("c", b"3")
    box.put("d", b"4")  # full: the oldest goes
    assert [m.payload for m in box.pending()] == [b"2", b"3", b"4"] and box.dropped == 1
    box.ack(first)  # dropped while "in flight": must not remove the new head
    assert len(box) == 3
    box.put("br/x", b"on", retain=True)
    box.put("br/x", b"off", retain=True)  # newer state replaces the queued one
    assert [m.payload for m in box.pending()] == [b"3", b"4", b"off"] and box.dropped == 2
    head = await box.next()
    box.ack(head)
    assert [m.payload for m in box.pending()] == [b"4", b"off"]
    with pytest.raises(ValueError, match="at least 1"):
        Outbox(0)


def test_journal_observer_sees_every_commit_in_order_and_cannot_break_a_write(
        tmp_path: Path) -> None:
    db = JournalDB.open(tmp_path / "j.sqlite3")
    seen: list[tuple[int, str]] = []
    db.add_observer(lambda e: seen.append((e.id, e.status)))

    def broken(e: JournalEntry) -> None:
        raise RuntimeError("observer bug")

    db.add_observer(broken)
    first = db.append(operator="a", context="c", action="patch", prior={}, intent={},
                      reason="r")
    db.finish(first, "done")
    second = db.append(operator="a", context="c", action="patch", prior={}, intent={},
                       reason="r", status="refused")
    assert seen == [(first, "pending"), (first, "done"), (second, "refused")]
    db.remove_observer(broken)
    db.remove_observer(broken)  # unknown: ignored
    db.close()


@pytest.mark.parametrize(("toml", "needle"), [
    ('url = "http://broker"', "url must look like mqtt://host:1883"),
    ('url = "mqtt://broker:70000"', "url must look like"),
    ('topic_prefix = "team/#"', "topic_prefix"),
    ('topic_prefix = ""', "topic_prefix"),
    ('url = "mqtts://b"\ncert_file = "c.pem"', "cert_file and key_file go together"),
    ('url = "mqtt://b"\nca_file = "ca.pem"', "need an mqtts:// url"),
    ("outbox_limit = 0", "outbox_limit"),
    ("max_payload = 10", "max_payload"),
    ("password = \"oops\"", "unknown field `password`"),
])
def test_bad_mqtt_settings_are_refused_with_the_key_named(toml: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(f"[mqtt]\n{toml}\n", "config.toml")
    assert needle in str(info.value) and "$.mqtt" in str(info.value)


def test_mqtt_settings_default_to_off() -> None:
    s = parse('[mqtt]\nurl = "mqtts://[::1]:8883"\nca_file = "ca.pem"\n')
    assert s.mqtt.url == "mqtts://[::1]:8883" and s.mqtt.topic_prefix == "controlroom"
    assert parse("").mqtt.url == "" and parse("").mqtt.outbox_limit == 1000


def test_bad_urls_are_named() -> None:
    assert (parse_url("mqtts://broker.example").port, parse_url("mqtt://h").port) == (8883, 1883)
    assert parse_url("mqtt://[::1]:1884").host == "::1"
    for bad in ("http://h", "mqtt://", "mqtt://h:99999", "mqtt://h/x"):
        with pytest.raises(ValueError, match="mqtt"):
            parse_url(bad)


# ------------------------------------------------------------------ against mosquitto


async def test_engage_and_journal_entries_of_one_instance_appear_on_another(
        mosquitto: Broker, tmp_path: Path) -> None:
    alice, alice_store = make_bus(mosquitto.url, "alice-room")
    bob, bob_store = make_bus(mosquitto.url, "bob-room")
    alice.start()
    bob.start()
    try:
        await asyncio.gather(alice.wait_connected(), bob.wait_connected())
        db = JournalDB.open(tmp_path / "journal.sqlite3")
        detach = alice.watch_journal(db)
        since = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
        assert alice.publish_breaker("aks-prod", engaged=True, by="alice", since=since,
                                     targets=4, operation_id="op-7")
        assert not alice.publish_breaker("aks-prod", engaged=True, by="alice", since=since,
                                         targets=4, operation_id="op-7")  # unchanged
        entry_id = await asyncio.to_thread(
            lambda: db.append(operator="alice", context="aks-prod", action="patch scale",
                              kind="Deployment", namespace="shop", name="web", prior={},
                              intent={}, reason="INC-42", operation_id="op-7"))
        await asyncio.to_thread(db.finish, entry_id, "verified")

        row = await until(lambda: bob_store.get(TEAMBREAKER, "aks-prod"), "bob sees breaker")
        assert (row.engaged, row.by, row.targets, row.since, row.mine, row.origin) == \
            (True, "alice", 4, since.timestamp(), False, "alice-room")
        action = await until(
            lambda: (r := bob_store.get(TEAMACTIONS, f"alice-room/{entry_id}")) is not None
            and r.status == "verified" and r, "bob sees the verified action")
        assert (action.operator, action.target, action.summary, action.operation_id) == \
            ("alice", "Deployment shop/web", "INC-42", "op-7")
        # alice's own echo: her breaker is marked mine, her actions are not "team" actions
        own = await until(lambda: alice_store.get(TEAMBREAKER, "aks-prod"), "alice's echo")
        assert own.mine and alice_store.count(TEAMACTIONS) == 0
        health = bob_store.health(SOURCE)
        assert health is not None and health.state == "connected"
        detach()
        db.close()
    finally:
        await alice.stop()
        await bob.stop()


async def test_the_retained_breaker_is_shown_to_an_instance_started_later(
        mosquitto: Broker) -> None:
    alice, _ = make_bus(mosquitto.url, "alice-room")
    alice.start()
    await alice.wait_connected()
    assert not alice.publish_breaker("aks-prod", engaged=False)  # never clobber with "off"
    alice.publish_breaker("aks-prod", engaged=True, by="alice", targets=2, half_done=True)
    await alice.stop()  # flushes the outbox first
    assert len(alice.outbox) == 0

    late, late_store = make_bus(mosquitto.url)
    late.start()
    try:
        row = await until(lambda: late_store.get(TEAMBREAKER, "aks-prod"), "retained state")
        assert row.engaged and row.half_done and row.by == "alice" and not row.mine
        # the release replaces the retained state for everyone
        alice2, _ = make_bus(mosquitto.url, "alice-room")
        alice2.start()
        alice2.publish_breaker("aks-prod", engaged=True, by="alice", targets=2)
        alice2.publish_breaker("aks-prod", engaged=False, by="alice")
        await until(lambda: not late_store.get(TEAMBREAKER, "aks-prod").engaged,
                    "the release")
        await alice2.stop()
        # an empty retained message deletes the state
        await raw_publish(mosquitto.url, [(f"{PREFIX}/breaker/aks-prod", b"")], retain=True)
        await until(lambda: late_store.get(TEAMBREAKER, "aks-prod") is None, "deletion")
    finally:
        await late.stop()


async def test_broker_restart_loses_nothing_we_published_and_keeps_order(
        mosquitto: Broker) -> None:
    addr = parse_url(mosquitto.url)
    # An observer with a persistent session: the broker queues for it across the restart.
    async with aiomqtt.Client(addr.host, addr.port, identifier="observer",
                              clean_session=False) as observer:
        await observer.subscribe(f"{PREFIX}/#", qos=1)
    bus, store = make_bus(mosquitto.url, "alice-room", outbox_limit=500)
    bus.start()
    try:
        await bus.wait_connected()
        await mosquitto.astop()
        await until(lambda: not bus.connected, "the bus notices the broker is gone")
        for i in range(1, 51):
            bus.publish_entry(entry(i))
        bus.publish_breaker("aks-prod", engaged=True, by="alice", targets=1)
        assert len(bus.outbox) == 51
        health = store.health(SOURCE)
        assert health is not None and health.state == "error"
        await until(lambda: "51 queued" in (store.health(SOURCE) or health).error
                    and "unreachable since" in (store.health(SOURCE) or health).error,
                    "health says unreachable with the queue")
        status = store.get(TEAMBUS, "bus")
        assert status is not None and status.queued == 51 and not status.connected

        await mosquitto.astart()  # same port, same persistence dir
        await until(lambda: bus.connected and len(bus.outbox) == 0, "reconnected and flushed")
        ids: list[int] = []
        retained: list[bytes] = []
        async with aiomqtt.Client(addr.host, addr.port, identifier="observer",
                                  clean_session=False) as observer:
            async def read() -> None:
                async for message in observer.messages:
                    payload = bytes(message.payload)  # type: ignore[arg-type]
                    if message.topic.value == f"{PREFIX}/actions":
                        decoded = decode(payload)
                        assert isinstance(decoded, ActionMessage)
                        ids.append(decoded.id)
                    else:
                        retained.append(payload)
                    if set(ids) >= set(range(1, 51)) and retained:
                        return

            await asyncio.wait_for(read(), 60)
        # QoS 1 is at-least-once: a message in flight at the restart may come twice. Nothing
        # is lost, and the first delivery of each is in the order published.
        assert set(ids) == set(range(1, 51)), f"lost: {sorted(set(range(1, 51)) - set(ids))}"
        assert list(dict.fromkeys(ids)) == list(range(1, 51)), ids
        assert b'"engaged":true' in retained[0]
        health = store.health(SOURCE)
        assert health is not None and health.state == "connected" and health.error == ""
    finally:
        await bus.stop()


async def test_alerts_and_pipeline_events_from_the_team_land_in_the_store(
        mosquitto: Broker) -> None:
    bus, store = make_bus(mosquitto.url)
    bus.start()
    try:
        await bus.wait_connected()
        alert = {"v": 1, "type": "alert", "alertname": "PodCrashLooping\x1b]52;c;ZXZpbA==\x07",
                 "severity": "critical", "state": "firing", "summary": "[bold]crash[/bold]",
                 "labels": {"namespace": "shop", "pod": "web-1\x1b[2J"},
                 "startsAt": "2026-11-26T10:00:00Z", "source": "am-bridge"}
        old = {"v": 1, "type": "pipeline", "phase": "applications", "status": "started",
               "environment": "prod", "revision": "abc", "time": "2026-11-26T10:00:00Z"}
        new = {**old, "status": "succeeded", "time": "2026-11-26T10:05:00Z"}
        await raw_publish(mosquitto.url, [
            (f"{PREFIX}/alerts/prod", json.dumps(alert).encode()),
            (f"{PREFIX}/pipeline/prod", json.dumps(new).encode()),
            (f"{PREFIX}/pipeline/prod", json.dumps(old).encode()),  # late: must not win
            (f"{PREFIX}/pipeline/prod", json.dumps(alert).encode()),  # wrong topic
        ])
        rows = await until(lambda: list(store.rows(ALERTS).values()), "the alert")
        row = rows[0]
        assert row.source == "mqtt" and row.key.startswith("mqtt/")
        assert row.alertname == "PodCrashLooping" and row.summary == "[bold]crash[/bold]"
        assert ("pod", "web-1") in row.labels and row.severity == "critical"
        await until(lambda: bus.rejected.get("topic") == 1, "the misplaced alert rejected")
        p = store.get(PIPELINE, "prod/applications")
        assert p is not None and p.status == "succeeded" and p.revision == "abc"
        # broker gone: the last alerts stay, flagged stale (dimmed), never cleared
        await mosquitto.astop()
        await until(lambda: store.get(ALERTS, row.key).stale, "the alert turns stale")
        await mosquitto.astart()
        await until(lambda: not store.get(ALERTS, row.key).stale, "fresh again")
    finally:
        await bus.stop()


async def test_oversized_payload_is_rejected_and_counted(mosquitto: Broker) -> None:
    bus, store = make_bus(mosquitto.url, max_payload=1024)
    bus.start()
    try:
        await bus.wait_connected()
        huge = encode(ActionMessage(id=1, time=datetime.now(UTC), operator="x" * 2000,
                                    context="c", action="a", status="done", origin="other"))
        await raw_publish(mosquitto.url, [(f"{PREFIX}/actions", huge)])
        await until(lambda: bus.rejected.get("oversize") == 1, "oversize counted")
        status = store.get(TEAMBUS, "bus")
        assert status is not None and status.rejected == (("oversize", 1),)
        assert store.count(TEAMACTIONS) == 0 and bus.connected
        health = store.health(SOURCE)
        assert health is not None and health.error == "1 rejected"
    finally:
        await bus.stop()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)
_payloads = st.one_of(
    st.binary(max_size=200),
    _json.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"v": st.sampled_from([1, 2, "1", None]),
                           "type": st.sampled_from(["alert", "pipeline", "breaker", "x"])},
                          optional={"alertname": _json, "phase": _json, "context": _json,
                                    "engaged": _json, "time": _json, "labels": _json})
    .map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(st.tuples(st.sampled_from(["alerts/x", "pipeline/y", "breaker/c",
                                                    "actions", "nonsense"]), _payloads),
                         min_size=1, max_size=15))
def test_fuzzed_payloads_are_rejected_cleanly_and_counted(
        mosquitto: Broker, payloads: list[tuple[str, bytes]]) -> None:
    """Whatever arrives, the bus keeps running, counts each rejection by reason, and still
    takes the next good message."""
    expected: dict[str, int] = {}
    for topic, payload in payloads:
        if topic == "nonsense" or (topic == "breaker/c" and not payload):
            continue  # not subscribed (never delivered); an empty breaker state is a deletion
        verdict = decode(payload, expect={"alerts/x": "alert", "pipeline/y": "pipeline",
                                          "breaker/c": "breaker", "actions": "action"}
                         .get(topic, "none"))
        if (topic == "breaker/c" and not isinstance(verdict, Rejected)
              and getattr(verdict, "context", "") != "c"):
            verdict = Rejected("topic")
        if isinstance(verdict, Rejected):
            expected[verdict.reason] = expected.get(verdict.reason, 0) + 1

    async def scenario(url: str) -> None:
        bus, store = make_bus(url)
        bus.start()
        try:
            await bus.wait_connected()
            good = encode(ActionMessage(id=99, time=datetime.now(UTC), operator="bob",
                                        context="c", action="a", status="done", origin="bob"))
            await raw_publish(url, [(f"{PREFIX}/{t}", p) for t, p in payloads]
                              + [(f"{PREFIX}/actions", good)])
            await until(lambda: store.get(TEAMACTIONS, "bob/99"), "the good message after")
            assert bus.rejected == expected
            assert bus.connected
        finally:
            await bus.stop()

    asyncio.run(scenario(mosquitto.url))


# ------------------------------------------------------------------ TLS, client cert, password


def _openssl(*args: str, cwd: Path) -> None:
    exe = require_program("openssl")
    subprocess.run([exe, *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _make_pki(d: Path) -> None:
    """A throwaway CA, a server cert for 127.0.0.1 and a client cert, with openssl."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
             "-subj", "/CN=controlroom test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        (d / f"{name}.ext").write_text(ext)
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", "1",
                 "-extfile", f"{name}.ext", cwd=d)


async def test_tls_with_client_certificate_and_password_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mosquitto_exe = require_program("mosquitto")
    passwd = require_program("mosquitto_passwd")
    await asyncio.to_thread(_make_pki, tmp_path)
    subprocess.run([passwd, "-b", "-c", str(tmp_path / "passwd"), "oncall", "s3cret"],
                   check=True, capture_output=True, timeout=30)
    port = free_port()
    user = "user root\n" if os.geteuid() == 0 else ""  # as root it would drop to 'mosquitto'
    (tmp_path / "m.conf").write_text(
        f"{user}log_dest none\nper_listener_settings true\nlistener {port} 127.0.0.1\n"
        f"cafile {tmp_path}/ca.crt\ncertfile {tmp_path}/server.crt\n"
        f"keyfile {tmp_path}/server.key\nrequire_certificate true\n"
        f"allow_anonymous false\npassword_file {tmp_path}/passwd\n")
    proc = subprocess.Popen([mosquitto_exe, "-c", str(tmp_path / "m.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"mqtts://127.0.0.1:{port}"
    tls = {"ca_file": str(tmp_path / "ca.crt"), "cert_file": str(tmp_path / "client.crt"),
           "key_file": str(tmp_path / "client.key"), "username": "oncall",
           "password_env": "TEST_MQTT_PASSWORD"}
    try:
        # no password in the environment: refused, and the health text says which variable
        monkeypatch.delenv("TEST_MQTT_PASSWORD", raising=False)
        bus, store = make_bus(url, **tls)
        bus.start()
        await until(lambda: "TEST_MQTT_PASSWORD is not set" in
                    ((h := store.health(SOURCE)) and h.error or ""), "the refusal, explained")
        await bus.stop()

        monkeypatch.setenv("TEST_MQTT_PASSWORD", "s3cret")
        bus, store = make_bus(url, "alice-room", **tls)
        bus.start()
        try:
            await bus.wait_connected()
            bus.publish_breaker("aks-prod", engaged=True, by="alice")
            await until(lambda: store.get(TEAMBREAKER, "aks-prod"), "our own echo over TLS")
        finally:
            await bus.stop()
    finally:
        proc.terminate()
        proc.wait(10)


async def test_a_pipeline_message_dated_year_9999_does_not_hide_a_later_failure(
        mosquitto: Broker) -> None:
    """Issue 13 point 13: the year-9999 "succeeded" of a phase must not block the later real
    "failed" of the same phase (the late-redelivery check compared the message times)."""
    bus, store = make_bus(mosquitto.url)
    bus.start()
    try:
        await bus.wait_connected()
        bogus = {"v": 1, "type": "pipeline", "phase": "applications", "status": "succeeded",
                 "environment": "prod", "revision": "abc", "time": "9999-12-31T23:59:59Z"}
        await raw_publish(mosquitto.url, [(f"{PREFIX}/pipeline/prod", json.dumps(bogus).encode())])
        await until(lambda: store.get(PIPELINE, "prod/applications"), "the bogus event")
        real = {**bogus, "status": "failed",
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        await raw_publish(mosquitto.url, [(f"{PREFIX}/pipeline/prod", json.dumps(real).encode())])
        await until(lambda: getattr(store.get(PIPELINE, "prod/applications"), "status", "")
                    == "failed", "the later real failure replaces the year-9999 event")
    finally:
        await bus.stop()
