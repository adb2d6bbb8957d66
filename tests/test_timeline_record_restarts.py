"""Issue 17, point 2: ``controlroom record`` runs unattended for 24-48 hours, so it outlives
what restarts under it, judged from outside: the real command as a child process against
the drill, the recording read back with the store's own reader.

- the API server goes away (connections refused) and comes back on the same port: the loss
  and the return are recorded, and changes made while it was away and after it came back
  are recorded (the watches relisted);
- the team bus's broker (a real mosquitto, persistence on) restarts: a teammate's action
  published right after the restart, before the recorder is back, is recorded (the
  recorder's session lasts on the broker), the return is recorded, and the recorder
  publishes its context's summary again;
- the recorder itself is SIGKILLed and restarted: what changed meanwhile (a Deployment
  scaled, another deleted, our own write through the journal) is recorded after the relist.

Every wait is on a condition (the recording holding the entry), never on the clock.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backends.signals.bus_schema import ActionMessage, encode
from backends.signals.bus_summary import TEAMSUMMARY, TeamSummaryRow
from backends.timeline.entry import TimelineEntry
from backends.timeline.store import read_entries
from tests.conftest import ROOT, Broker, ThreadedDrill
from tests.test_mqtt_bus import make_bus, raw_publish
from tests.timeline_support import COMMAND, DEPLOYMENTS, Recording, find, killed_at_the_end
from tests.waiting import await_until, wait_until

OPERATOR = "bob-oncall"
DOWN_FOR_S = 8.0
"""How long the SIGKILLed recorder stays down (longer than the journal's start margin)."""


@pytest.fixture
def recordings() -> Iterator[list[Recording]]:
    yield from killed_at_the_end()


def _scale(drill: ThreadedDrill, where: str, replicas: int) -> None:
    """Set a Deployment's replicas in the drill's state (``namespace/name``)."""
    namespace, name = where.split("/")

    def put(d: dict[str, object]) -> dict[str, object]:
        d["spec"]["replicas"] = replicas  # type: ignore[index]
        return d
    drill.call(drill.cluster.state.mutate, DEPLOYMENTS, namespace, name, put)


def _scaled(output: Path, name: str, replicas: int) -> TimelineEntry | None:
    return find(output, lambda e: e.kind == "spec" and e.object_kind == "Deployment"
                and e.name == name and "replicas" in e.change
                and e.after.startswith(str(replicas)))


def _source(output: Path, words: str) -> TimelineEntry | None:
    return find(output, lambda e: e.kind == "source" and words in e.change)


def test_record_survives_an_api_server_restart(
        tdrill: ThreadedDrill, tmp_path: Path, recordings: list[Recording]) -> None:
    output = tmp_path / "api.timeline"
    rec = Recording(tdrill.kubeconfig, tmp_path, output)
    recordings.append(rec)
    rec.started()
    _scale(tdrill, "catalog/catalog", 4)
    wait_until(lambda: _scaled(output, "catalog", 4), "a change before the restart",
               timeout=30, interval=0.2)

    port = int(tdrill.cluster.url.rsplit(":", 1)[1])
    tdrill.run(tdrill.cluster.server.stop())  # every watch breaks, connections are refused
    try:
        wait_until(lambda: _source(output, "deployments"), "the lost API server recorded",
                   timeout=60, interval=0.2)
        assert rec.proc.poll() is None, rec.err.text
        _scale(tdrill, "catalog/catalog", 5)  # while it is away
    finally:
        tdrill.run(tdrill.cluster.server.start("127.0.0.1", port))
    wait_until(lambda: _scaled(output, "catalog", 5), "the change made while it was away",
               timeout=60, interval=0.2)
    _scale(tdrill, "frontend/web", 6)  # after it came back
    wait_until(lambda: _scaled(output, "web", 6), "a change after the restart",
               timeout=60, interval=0.2)
    wait_until(lambda: _source(output, "connected again"), "the return recorded",
               timeout=30, interval=0.2)
    assert rec.proc.poll() is None, rec.err.text
    assert "recorded: " in rec.stop()


async def test_record_survives_a_broker_restart(
        tdrill: ThreadedDrill, tmp_path: Path, mosquitto: Broker,
        recordings: list[Recording]) -> None:
    output = tmp_path / "bus.timeline"
    rec = Recording(tdrill.kubeconfig, tmp_path, output,
                    config_text=f'[mqtt]\nurl = "{mosquitto.url}"\n')
    recordings.append(rec)
    await asyncio.to_thread(rec.started)

    def action(n: int) -> tuple[str, bytes]:
        message = ActionMessage(origin="teammate-room", id=n, time=datetime.now(UTC),
                                operator="carol", context="drill", action="rollback",
                                target=f"Deployment shop/web-{n}", status="done",
                                operation_id=f"op-{n}", summary=f"INC-{n}")
        return "controlroom/actions", encode(message)

    def recorded(n: int) -> TimelineEntry | None:
        return find(output, lambda e: e.kind == "bus" and f"web-{n}" in e.name
                    and e.actor == "bus: carol")

    await raw_publish(mosquitto.url, [action(1)])
    await await_until(lambda: recorded(1), "an action before the restart", 30)

    await mosquitto.arestart()
    restarted = time.time()
    await raw_publish(mosquitto.url, [action(2)])
    hit = await await_until(lambda: recorded(2), "an action published after the restart", 60)
    assert hit.detail == "INC-2"
    await await_until(lambda: _source(output, "mqtt connected again"),
                      "the bus's return recorded", 30)

    # The recorder publishes its summary again (a teammate started now reads a fresh one).
    bus, store = make_bus(mosquitto.url)
    bus.start()
    try:
        row = await await_until(lambda: next((
            r for r in store.rows(TEAMSUMMARY).values()
            if isinstance(r, TeamSummaryRow) and r.context == "drill"
            and r.time >= restarted), None),
            "the recorder's summary published after the restart", 60)
        assert row.summary.context == "drill"
    finally:
        await bus.stop()
    assert rec.proc.poll() is None, rec.err.text
    assert "recorded: " in await asyncio.to_thread(rec.stop)


def _scale_through_the_gate(drill: ThreadedDrill, tmp: Path, env: dict[str, str], where: str,
                            replicas: int, reason: str) -> None:
    """``controlroom scale`` as the operator runs it: journaled, then written."""
    done = subprocess.run(
        [*COMMAND, "scale", where, str(replicas), "--reason", reason, "--yes",
         "--kubeconfig", str(drill.kubeconfig), "--config", str(tmp / "config.toml"),
         "--state-dir", str(tmp / "state")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**env, "LOGNAME": OPERATOR, "USER": OPERATOR})
    assert done.returncode == 0, done.stdout + done.stderr


def _journal(output: Path, name: str) -> list[TimelineEntry]:
    return [e for e in read_entries(output, kinds=["journal"]) if e.name == name]


def test_a_sigkilled_recorder_restarted_records_what_changed_meanwhile(
        tdrill: ThreadedDrill, tmp_path: Path, recordings: list[Recording]) -> None:
    output = tmp_path / "kill.timeline"
    rec = Recording(tdrill.kubeconfig, tmp_path, output)
    recordings.append(rec)
    rec.started()
    _scale_through_the_gate(tdrill, tmp_path, rec.env, "catalog/catalog", 4, "INC-2 before")
    wait_until(lambda: _journal(output, "catalog"), "our write before the kill", timeout=30,
               interval=0.2)
    rec.proc.kill()
    rec.proc.wait(10)

    # While nobody records: a scale, a deletion, and our own write through the gate.
    _scale(tdrill, "catalog/catalog", 3)
    tdrill.call(tdrill.cluster.state.delete, DEPLOYMENTS, "frontend", "web")
    _scale_through_the_gate(tdrill, tmp_path, rec.env, "payments/payments", 5,
                            "INC-2 meanwhile")
    # The recorder stays down a while, as a real one does (a node drained, a deploy): the
    # write must be older than the few seconds of journal any fresh start reads. The one
    # wait on the clock here sets the scene; what is judged below waits on the recording.
    written = time.time()
    wait_until(lambda: time.time() - written > DOWN_FOR_S, "the recorder down a while",
               timeout=DOWN_FOR_S + 5, interval=0.5)

    again = Recording(tdrill.kubeconfig, tmp_path, output)
    recordings.append(again)
    again.out.wait_for("(resumed)", timeout=60)
    wait_until(lambda: _scaled(output, "catalog", 3), "the scale made meanwhile",
               timeout=60, interval=0.2)
    gone = wait_until(lambda: find(output, lambda e: e.kind == "spec" and e.name == "web"
                                   and "deleted" in e.change),
                      "the deletion made meanwhile", timeout=60, interval=0.2)
    assert gone.namespace == "frontend"
    (ours,) = wait_until(lambda: _journal(output, "payments"),
                         "our write made meanwhile, from the journal", timeout=60,
                         interval=0.2)
    assert ours.actor == f"controlroom: {OPERATOR}" and "INC-2 meanwhile" in ours.detail
    scaled = wait_until(lambda: _scaled(output, "payments", 5), "our scale itself",
                        timeout=30, interval=0.2)
    assert scaled.actor.startswith("controlroom")
    # The journal was read again from before the recording's end: the write recorded before
    # the kill is there once, not twice.
    again.stop()
    assert len(_journal(output, "catalog")) == 1, _journal(output, "catalog")
