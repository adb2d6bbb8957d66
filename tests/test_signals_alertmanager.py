"""Alertmanager as an alert source, and the silence action against a REAL Alertmanager.

Decoders run on the alerts and silences a real Alertmanager 0.31 answered (karma's recorded
mocks, tests/fixtures/SOURCES.md). The silence tests start the Debian
``prometheus-alertmanager`` (through the drill's :class:`~drill.servers.DrillServers`,
Alertmanager only), post alerts to it the way Prometheus does, and prove every claim with
Alertmanager's own answers: the alert turns suppressed, expiring restores it, read-only mode
leaves its silence list empty.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from backends.ops.gate import Confirmation, GatePolicy, WriteGate
from backends.ops.journal import Journal
from backends.ops.plan import PlanError, execute
from backends.ops.silence import (
    CREATE_STEP,
    EXPIRE_STEP,
    describe_matchers,
    matchers_for,
    plan_expire,
    plan_silence,
)
from backends.signals.alertmanager import (
    AlertmanagerClient,
    Matcher,
    alertmanager_poller,
    decode_alerts,
    decode_silences,
    matches,
)
from backends.signals.model import ALERTS, AlertRow
from backends.signals.prometheus import SourceError
from backends.store import Store
from drill.servers import DrillServers
from tests.conftest import require_program
from tests.kubefixtures import FIXTURES as KUBE_FIXTURES
from tests.waiting import await_until

FIXTURES = KUBE_FIXTURES / "alertmanager"
HOSTILE = "\x1b]8;;http://evil\x07[bold red]x[/]\x1b[1A\x9b2J"


def flat_alerts() -> list[dict[str, Any]]:
    """The alerts of the recorded ``/api/v2/alerts/groups`` answer, each once (an alert in
    two groups appears twice there; ``/api/v2/alerts`` lists it once)."""
    groups = json.loads((FIXTURES / "karma-am-0.31.0-api-v2-alerts-groups.json").read_bytes())
    seen: dict[str, dict[str, Any]] = {}
    for group in groups:
        for alert in group["alerts"]:
            seen.setdefault(alert["fingerprint"], alert)
    return list(seen.values())


# --------------------------------------------------------------------------- decoders


def test_real_alertmanager_alerts_decode() -> None:
    alerts = flat_alerts()
    rows = [r for r in decode_alerts(json.dumps(alerts).encode()).rows[ALERTS]
            if isinstance(r, AlertRow)]
    assert len(rows) == len(alerts)
    by_fp = {r.fingerprint: r for r in rows}
    silenced = by_fp["54c2f185e49cfccb"]
    assert silenced.key == "alertmanager/54c2f185e49cfccb"
    assert (silenced.alertname, silenced.state) == ("HTTP_Probe_Failed", "suppressed")
    assert silenced.silenced_by == ("810ccf7f-c957-474a-b383-7e76d66a4d3b",)
    assert silenced.receivers == ("by-cluster-service", "by-name")
    assert silenced.summary == "Example summary"
    assert silenced.since == datetime(2026, 3, 11, 12, 48, 38, 413000, UTC).timestamp()
    assert silenced.ends is not None and silenced.ends > silenced.since
    active = by_fp["aae7a1432b5d2f1b"]
    assert active.state == "active" and active.silenced_by == () and active.label("disk") == "sda"
    for alert in alerts:  # every alert's status carried over as Alertmanager said it
        row = by_fp[alert["fingerprint"]]
        assert row.state == alert["status"]["state"]
        assert list(row.silenced_by) == alert["status"]["silencedBy"]
        assert list(row.inhibited_by) == alert["status"]["inhibitedBy"]


def test_real_silences_decode_and_match() -> None:
    silences = decode_silences(
        (FIXTURES / "karma-am-0.31.0-api-v2-silences.json").read_bytes())
    assert len(silences) == 3
    first = silences[0]
    assert first.id == "810ccf7f-c957-474a-b383-7e76d66a4d3b" and first.state == "active"
    assert first.matchers == (Matcher("instance", "web1"),)
    assert matches(first.matchers, [("alertname", "X"), ("instance", "web1")])
    assert not matches(first.matchers, [("instance", "web2")])
    assert not matches([Matcher("a", "b", isEqual=False)], [("a", "b")])
    assert matches([Matcher("a", "b", isEqual=False)], [("a", "c")])
    assert not matches([Matcher("a", ".*", isRegex=True)], [("a", "anything")])


def test_hostile_alertmanager_text_is_sanitized() -> None:
    body = json.dumps([{"labels": {"alertname": HOSTILE, "pod": HOSTILE},
                        "annotations": {"summary": HOSTILE},
                        "fingerprint": "ab\x1b[31mcd", "receivers": [{"name": HOSTILE}],
                        "status": {"state": "active", "silencedBy": [HOSTILE],
                                   "inhibitedBy": []}}]).encode()
    row = decode_alerts(body).rows[ALERTS][0]
    assert isinstance(row, AlertRow)
    for text in (row.alertname, row.summary, row.fingerprint, row.key, *row.receivers,
                 *row.silenced_by, *(v for pair in row.labels for v in pair)):
        assert not any(c in text for c in "\x1b\x07\x9b")
    assert "[bold red]x[/]" in row.summary  # literal: never parsed as markup downstream


def test_malformed_alertmanager_answers() -> None:
    with pytest.raises(SourceError, match="bad answer"):
        decode_alerts(b'{"alerts": []}')
    decoded = decode_alerts(json.dumps([{"labels": {"alertname": "ok"}},
                                        {"labels": "nope"},
                                        {"labels": {"alertname": "x"},
                                         "status": {"state": "banana"}}]).encode())
    rows = decoded.rows[ALERTS]
    assert decoded.rejected == 1 and len(rows) == 2
    assert {r.state for r in rows if isinstance(r, AlertRow)} == {"unprocessed"}
    with pytest.raises(ValueError, match="silences"):
        decode_silences(b'[{"matchers": []}]')  # a silence without an id


async def test_poller_over_recorded_answer_and_outage() -> None:
    body = json.dumps(flat_alerts()).encode()
    state = {"down": False}

    def handler(request: httpx.Request) -> httpx.Response:
        if state["down"]:
            raise httpx.ConnectTimeout("timed out", request=request)
        assert request.url.path == "/api/v2/alerts"
        return httpx.Response(200, content=body)

    now = [100.0]
    store = Store(clock=lambda: now[0])
    poller = alertmanager_poller(store, "http://am.test:9093/",
                                 transport=httpx.MockTransport(handler), clock=lambda: now[0])
    try:
        assert await poller.poll_once()
        count = store.count(ALERTS)
        assert count == len(flat_alerts())
        state["down"] = True
        now[0] = 130.0
        assert not await poller.poll_once()
        assert store.count(ALERTS) == count
        assert all(getattr(r, "stale", False) for r in store.rows(ALERTS).values())
        health = store.health("alertmanager")
        assert health is not None and health.state == "stale" and health.since == 130.0
    finally:
        await poller.stop()


def test_other_sources_rows_survive_a_replace() -> None:
    """Each source replaces only its own slice of the shared ``alerts`` kind."""
    from backends.signals.model import replace_source

    store = Store()
    mqtt = AlertRow(key="mqtt/1", source="mqtt", alertname="FromBus")
    store.apply(ALERTS, [("ADDED", mqtt)])
    replace_source(store, ALERTS, "alertmanager",
                   [AlertRow(key="alertmanager/a", source="alertmanager", alertname="A")])
    replace_source(store, ALERTS, "alertmanager", [])
    assert list(store.rows(ALERTS)) == ["mqtt/1"]


# --------------------------------------------------------------------------- matchers


def test_matchers_are_scoped_and_exact() -> None:
    labels = [("alertname", "PodCrashLooping"), ("namespace", "shop"), ("pod", "web-1"),
              ("severity", "warning"), ("job", "kube-state-metrics")]
    found = matchers_for(labels)
    assert [(m.name, m.value) for m in found] == [
        ("alertname", "PodCrashLooping"), ("namespace", "shop"), ("pod", "web-1")]
    assert all(m.isEqual and not m.isRegex for m in found)
    assert describe_matchers(found) == 'PodCrashLooping{namespace="shop", pod="web-1"}'
    # nothing identifying: every label, never alertname alone
    loose = matchers_for([("alertname", "Odd"), ("team", "a"), ("severity", "info")])
    assert {m.name for m in loose} == {"alertname", "team", "severity"}
    with pytest.raises(PlanError, match="alertname"):
        matchers_for([("pod", "x")])


# --------------------------------------------------------------------------- real server


@pytest.fixture
async def alertmanager() -> AsyncIterator[str]:
    """A real Alertmanager on a free loopback port (no gossip), for one test."""
    require_program("prometheus-alertmanager")
    servers = DrillServers(enable=("alertmanager",))
    await servers.start()
    try:
        if servers.alertmanager_url is None:
            pytest.fail("; ".join(p.line() for p in servers.problems))
        yield servers.alertmanager_url
    finally:
        await servers.stop()


def crashloop(pod: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"labels": {"alertname": "PodCrashLooping", "namespace": "shop", "pod": pod,
                       "severity": "warning", "job": "drill"},
            "annotations": {"summary": f"{pod} restarts"},
            "startsAt": (now - timedelta(minutes=1)).isoformat(),
            "endsAt": (now + timedelta(minutes=10)).isoformat()}


async def post_alerts(url: str, *alerts: dict[str, Any]) -> None:
    """What Prometheus does: POST the alerts to Alertmanager (test setup, not the app)."""
    async with httpx.AsyncClient() as http:
        resp = await http.post(f"{url}/api/v2/alerts", json=list(alerts))
        assert resp.status_code == 200, resp.text


async def am_state(url: str) -> dict[str, tuple[str, list[str]]]:
    async with httpx.AsyncClient() as http:
        alerts = (await http.get(f"{url}/api/v2/alerts")).json()
    return {a["labels"]["pod"]: (a["status"]["state"], a["status"]["silencedBy"])
            for a in alerts}


async def am_silences(url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        return list((await http.get(f"{url}/api/v2/silences")).json())


async def rows_of(url: str) -> list[AlertRow]:
    store = Store()
    poller = alertmanager_poller(store, url)
    try:
        assert await poller.poll_once()
    finally:
        await poller.stop()
    return sorted((r for r in store.rows(ALERTS).values() if isinstance(r, AlertRow)),
                  key=lambda r: r.label("pod"))


async def wait_for(check: Any, what: str, timeout: float = 30.0) -> Any:
    """Await ``check()`` (a coroutine function) until it returns something truthy."""
    return await await_until(check, what, timeout, interval=0.1)


def policy(read_only: bool = False) -> GatePolicy:
    return GatePolicy(context="drill", read_only=read_only, protected=False,
                      operator="oncall-anna")


async def test_silence_suppresses_and_expire_restores(alertmanager: str,
                                                      tmp_path: Path) -> None:
    url = alertmanager
    await post_alerts(url, crashloop("web-1"), crashloop("web-2"))
    await wait_for(lambda: _states(url, {"web-1": "active", "web-2": "active"}),
                   "both alerts active")
    rows = await rows_of(url)
    web1 = next(r for r in rows if r.label("pod") == "web-1")
    journal = await Journal.open(tmp_path / "journal.sqlite3")
    client = AlertmanagerClient(url)
    gate = WriteGate(policy(), client, journal, dry_run=False, access_reviews=False)
    try:
        plan = await plan_silence(client, gate, [web1], hours=2)
        assert len(plan.writes) == 1 and not plan.blocked
        write = plan.writes[0]
        assert write.step == CREATE_STEP
        assert write.prior["alert"]["state"] == "active"
        assert [m["name"] for m in write.intent["matchers"]] == ["alertname", "namespace", "pod"]
        result = await execute(gate, plan, reason="CHG-4711", confirm=Confirmation())
        assert result.ok, result.summary()
        assert result.results[0].writes[0].verified is True

        # Alertmanager's own word: web-1 suppressed by our silence, web-2 untouched
        states = await wait_for(lambda: _states(url, {"web-1": "suppressed"}),
                                "web-1 suppressed")
        assert states["web-2"][0] == "active"
        silences = [s for s in await am_silences(url) if s["status"]["state"] == "active"]
        assert len(silences) == 1
        silence = silences[0]
        assert silence["createdBy"] == "oncall-anna" and silence["comment"] == "CHG-4711"
        assert states["web-1"][1] == [silence["id"]]
        assert {(m["name"], m["value"], m["isEqual"], m["isRegex"])
                for m in silence["matchers"]} == {
            ("alertname", "PodCrashLooping", True, False), ("namespace", "shop", True, False),
            ("pod", "web-1", True, False)}
        ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
        starts = datetime.fromisoformat(silence["startsAt"].replace("Z", "+00:00"))
        assert timedelta(hours=1, minutes=59) < ends - starts <= timedelta(hours=2, seconds=5)

        # the journal holds the prior status and the silenceID
        entries = [e for e in await journal.entries(context="drill") if e.step == CREATE_STEP]
        assert len(entries) == 1 and entries[0].status == "verified"
        assert entries[0].prior["alert"]["state"] == "active"
        assert entries[0].result["response"]["silenceID"] == silence["id"]
        assert entries[0].reason == "CHG-4711" and entries[0].operator == "oncall-anna"

        # expire: found back through the journal, verified, and the alert is active again
        rows = await rows_of(url)
        web1 = next(r for r in rows if r.label("pod") == "web-1")
        assert web1.state == "suppressed" and web1.silenced_by == (silence["id"],)
        plan = await plan_expire(client, gate, journal, [web1])
        assert [w.step for w in plan.writes] == [EXPIRE_STEP]
        assert plan.writes[0].prior["silence"]["id"] == silence["id"]
        result = await execute(gate, plan, reason="CHG-4711 done", confirm=Confirmation())
        assert result.ok, result.summary()
        await wait_for(lambda: _states(url, {"web-1": "active", "web-2": "active"}),
                       "web-1 active again")
        assert all(s["status"]["state"] == "expired" for s in await am_silences(url))
        # nothing left to expire: an empty plan that says so
        plan = await plan_expire(client, gate, journal, [web1])
        assert plan.empty and any("nothing to do" in i for i in plan.info)
    finally:
        await client.close()
        await journal.close()


async def test_group_silence_and_others_silences_are_left_alone(alertmanager: str,
                                                                tmp_path: Path) -> None:
    url = alertmanager
    await post_alerts(url, crashloop("web-1"), crashloop("web-2"))
    await wait_for(lambda: _states(url, {"web-1": "active", "web-2": "active"}), "active")
    # somebody else silenced web-2 by hand
    now = datetime.now(UTC)
    async with httpx.AsyncClient() as http:
        resp = await http.post(f"{url}/api/v2/silences", json={
            "matchers": [{"name": "pod", "value": "web-2", "isRegex": False, "isEqual": True}],
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "someone-else", "comment": "theirs"})
        theirs = resp.json()["silenceID"]
    rows = await rows_of(url)
    journal = await Journal.open(tmp_path / "journal.sqlite3")
    client = AlertmanagerClient(url)
    gate = WriteGate(policy(), client, journal, dry_run=False, access_reviews=False)
    try:
        plan = await plan_silence(client, gate, rows, hours=1)  # the whole group
        assert len(plan.writes) == 2
        assert (await execute(gate, plan, reason="INC-9", confirm=Confirmation())).ok
        plan = await plan_expire(client, gate, journal, rows)
        assert len(plan.writes) == 2  # ours, one per alert; theirs listed, not expired
        assert any(theirs in i and "someone-else" in i for i in plan.info)
        assert (await execute(gate, plan, reason="INC-9", confirm=Confirmation())).ok
        states = {s["id"]: s["status"]["state"] for s in await am_silences(url)}
        assert states.pop(theirs) == "active"
        assert set(states.values()) == {"expired"}
    finally:
        await client.close()
        await journal.close()


async def test_read_only_sends_no_silence(alertmanager: str, tmp_path: Path) -> None:
    url = alertmanager
    await post_alerts(url, crashloop("web-1"))
    await wait_for(lambda: _states(url, {"web-1": "active"}), "active")
    rows = await rows_of(url)
    journal = await Journal.open(tmp_path / "journal.sqlite3")
    client = AlertmanagerClient(url)
    gate = WriteGate(policy(read_only=True), client, journal, dry_run=False,
                     access_reviews=False)
    try:
        plan = await plan_silence(client, gate, rows, hours=1)
        result = await execute(gate, plan, reason="CHG-1", confirm=Confirmation())
        assert not result.ok and "read-only" in result.error
        assert await am_silences(url) == []  # Alertmanager's own list: nothing was sent
        assert (await am_state(url))["web-1"][0] == "active"
        entries = await journal.entries(context="drill")
        assert [e.status for e in entries] == ["refused"]
    finally:
        await client.close()
        await journal.close()


async def test_bad_durations_and_empty_selections_are_refused() -> None:
    client = AlertmanagerClient("http://127.0.0.1:9")  # never contacted
    gate = WriteGate(policy(), client, None, dry_run=False, access_reviews=False)
    row = AlertRow(key="alertmanager/x", source="alertmanager", alertname="A",
                   labels=(("alertname", "A"),))
    try:
        for hours in (0, -1, 24 * 15, float("nan"), True):
            with pytest.raises(PlanError, match="duration"):
                await plan_silence(client, gate, [row], hours=hours)
        with pytest.raises(PlanError, match="nothing to silence"):
            await plan_silence(client, gate, [], hours=1)
        with pytest.raises(PlanError, match="unreachable"):
            await plan_silence(client, gate, [row], hours=1)
    finally:
        await client.close()


async def _states(url: str, want: dict[str, str]) -> dict[str, tuple[str, list[str]]] | None:
    states = await am_state(url)
    ok = all(states.get(pod, ("", []))[0] == state for pod, state in want.items())
    return states if ok else None


async def test_same_alert_from_two_sources_is_one_silence_and_the_cap() -> None:
    """Alertmanager answers with nothing live (MockTransport): rows still plan, merged."""
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"[]")

    client = AlertmanagerClient("http://am.test", transport=httpx.MockTransport(handler))
    gate = WriteGate(policy(), client, None, dry_run=False, access_reviews=False)

    def row(source: str, pod: str) -> AlertRow:
        return AlertRow(key=f"{source}/{pod}", source=source,  # type: ignore[arg-type]
                        alertname="PodCrashLooping",
                        labels=(("alertname", "PodCrashLooping"), ("pod", pod)))

    try:
        plan = await plan_silence(client, gate, [row("prometheus", "a"),
                                                 row("alertmanager", "a")], hours=1)
        assert len(plan.writes) == 1
        assert any("not in Alertmanager" in w for w in plan.warnings)
        many = [row("prometheus", f"p{i}") for i in range(51)]
        with pytest.raises(PlanError, match="51 distinct alerts"):
            await plan_silence(client, gate, many, hours=1)
        # the body carries the reason typed later, and endsAt is computed when sent
        req = plan.writes[0].request_for("INC-1")
        body = json.loads(req.body or b"{}")
        assert body["comment"] == "INC-1" and body["createdBy"] == "oncall-anna"
        starts = datetime.fromisoformat(body["startsAt"].replace("Z", "+00:00"))
        ends = datetime.fromisoformat(body["endsAt"].replace("Z", "+00:00"))
        assert ends - starts == timedelta(hours=1)
    finally:
        await client.close()
