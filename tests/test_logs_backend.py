"""Reading container logs (backends/kube/logs.py) and holding them (backends/logbuffer.py):
sanitizing where the text enters, the API's parameters, following across a broken stream
without repeating or losing lines, and a ring whose memory stays bounded."""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path

import pytest

from backends.backoff import Backoff
from backends.kube.connection import KubeConnection, connect
from backends.kube.errors import KubeApiError, KubeUnreachable
from backends.kube.logs import (
    LINE_MAX,
    FollowState,
    LogFollower,
    LogLine,
    LogRequest,
    classify,
    parse_lines,
    read_logs,
    stamp_key,
)
from backends.logbuffer import LogBuffer
from drill.policy import Policy
from drill.resources import BY_KEY
from drill.runner import DrillCluster
from tests.ops_support import drill_options, started
from tests.waiting import await_until

PODS = BY_KEY["pods"]


def test_lines_are_sanitized_once_where_they_enter() -> None:
    raw = [b"2026-11-26T15:00:03.123456789Z \x1b[32minfo\x1b[39m: ok",
           b"2026-11-26T15:00:04.000000000Z [bold red]pwned[/] \x1b]52;c;aGk=\x07 ua",
           b"no stamp here\twith a tab",
           b"2026-11-26T15:00:05.5Z 10%\r50%\r100% \xff done",
           b"2026-11-26T15:00:06.000000000Z ",
           b"2026-11-26T15:00:07.000000000Z " + b"x" * (LINE_MAX + 50)]
    lines = parse_lines(raw)
    assert lines[0] == LogLine("2026-11-26T15:00:03.123456789Z", "info: ok")
    assert lines[1].text == "[bold red]pwned[/]  ua"  # markup stays text, OSC 52 is gone
    assert lines[2] == LogLine("", "no stamp here   with a tab")
    assert [line.text for line in lines[3:6]] == ["10%", "50%", "100% \ufffd done"]
    assert {line.stamp for line in lines[3:6]} == {"2026-11-26T15:00:05.5Z"}
    assert lines[6] == LogLine("2026-11-26T15:00:06.000000000Z", "")  # empty lines are kept
    assert len(lines[7].text) == LINE_MAX and lines[7].text.endswith("\u2026")
    assert all("\x1b" not in line.text and "\x07" not in line.text for line in lines)


def test_stamps_sort_like_the_moments_they_name() -> None:
    assert stamp_key("2026-11-26T15:00:05.5Z") == "2026-11-26T15:00:05.500000000Z"
    assert stamp_key("2026-11-26T15:00:05Z") < stamp_key("2026-11-26T15:00:05.000000001Z")


def test_the_request_uses_the_apis_parameters() -> None:
    req = LogRequest("shop", "web-1", "web", previous=True, tail_lines=100, since_seconds=300)
    assert req.path() == "/api/v1/namespaces/shop/pods/web-1/log"
    assert req.params(follow=False) == {
        "container": "web", "previous": True, "follow": None, "timestamps": True,
        "tailLines": 100, "sinceSeconds": 300, "sinceTime": None, "limitBytes": 8 * 1024 * 1024}
    resumed = req.params(follow=True, since_time="2026-11-26T15:00:03Z")
    assert (resumed["follow"], resumed["sinceTime"], resumed["tailLines"],
            resumed["sinceSeconds"]) == (True, "2026-11-26T15:00:03Z", None, None)


def test_failures_in_words() -> None:
    forbidden = classify(KubeApiError(403, "Forbidden", 'pods "x" is forbidden'))
    assert (forbidden.kind, forbidden.retry) == ("forbidden", False)
    assert forbidden.message == 'forbidden: pods "x" is forbidden'
    assert classify(KubeApiError(404, "NotFound", "gone")).retry is False
    waiting = classify(KubeApiError(400, "BadRequest", 'container "c" in pod "p" is waiting '
                                                       "to start: ContainerCreating"))
    assert (waiting.kind, waiting.retry) == ("refused", True)
    previous = classify(KubeApiError(400, "BadRequest", 'previous terminated container "c" '
                                                        'in pod "p" not found'))
    assert (previous.kind, previous.retry) == ("refused", False)
    assert classify(KubeUnreachable("the stream broke")).retry is True


async def test_read_logs_through_the_connection(sim: DrillCluster, conn: KubeConnection
                                                ) -> None:
    sim.sim.advance(120)
    web = sorted(p["metadata"]["name"] for p in sim.state.objects(PODS, "frontend")
                 if p["metadata"]["name"].startswith("web"))[0]
    lines = await read_logs(conn, LogRequest("frontend", web, "web", tail_lines=200))
    assert len(lines) == 200 and all(line.stamp for line in lines)
    hostile = [line.text for line in lines if "pwned" in line.text]
    assert hostile and all(text.startswith('warn: blocked bot user-agent="[bold red]pwned[/] ')
                           for text in hostile)
    assert not any("\x1b" in line.text for line in lines)


async def test_a_follow_survives_a_broken_stream_without_repeating_or_losing_lines(
        sim: DrillCluster, conn: KubeConnection) -> None:
    pod = sorted(sim.state.objects(PODS, "catalog"), key=lambda p: p["metadata"]["name"])[0]
    name, node = pod["metadata"]["name"], pod["spec"]["nodeName"]
    got: list[LogLine] = []
    states: list[FollowState] = []
    follower = LogFollower(conn, LogRequest("catalog", name, "catalog", tail_lines=3),
                           on_lines=got.extend, on_state=states.append,
                           backoff=Backoff(0.01, 0.05))
    task = asyncio.create_task(follower.run())
    try:
        await await_until(lambda: len(got) == 3 and states[-1].phase == "following",
                          "the first three lines, following")
        sim.sim.advance(10)
        await await_until(lambda: len(got) == 5, "two new lines")
        sim.config.down_nodes.add(node)  # the kubelet dies: the stream breaks mid-way
        broken = await await_until(lambda: next((s for s in states if s.phase == "broken"),
                                                None), "the follow to say it broke")
        sim.sim.advance(20)  # lines the container writes while we are cut off
        await await_until(lambda: sum(s.phase == "broken" for s in states) >= 2,
                          "a failed reconnect (the node is still down)")
        assert {s.since for s in states if s.phase == "broken"} == {broken.since}
        assert "500" in states[-1].message and "no route to host" in states[-1].message
        sim.config.down_nodes.discard(node)
        await await_until(lambda: states[-1].phase == "following" and len(got) >= 9,
                          "the follow back, with what was written meanwhile")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    keys = [stamp_key(line.stamp) for line in got]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)  # nothing twice
    gaps = {(int(b[17:19]) - int(a[17:19])) % 60 for a, b in zip(keys, keys[1:], strict=False)}
    assert gaps == {5}  # one request line every 5 s, none lost across the break


async def test_a_forbidden_follow_stops_and_says_forbidden(tmp_path: Path) -> None:
    policy = Policy.from_dict({"rules": [{"verbs": ["get"], "resources": ["pods/log"],
                                          "allow": False}]})
    cluster = await started(drill_options(tmp_path, policy=policy))
    try:
        async with await connect(str(cluster.kubeconfig), None) as c:
            name = cluster.state.objects(PODS, "catalog")[0]["metadata"]["name"]
            states: list[FollowState] = []
            follower = LogFollower(c, LogRequest("catalog", name, "catalog"),
                                   on_lines=lambda lines: None, on_state=states.append)
            await asyncio.wait_for(follower.run(), timeout=30)  # returns: nothing to retry
    finally:
        await cluster.stop()
    assert states[-1].phase == "stopped" and states[-1].failure is not None
    assert states[-1].failure.kind == "forbidden"
    assert states[-1].message.startswith("forbidden: ")


def _fill(buffer: LogBuffer, count: int) -> None:
    buffer.extend(LogLine("2026-11-26T15:00:03.123456789Z", f"line {i:08d} " + "x" * 80)
                  for i in range(count))


def test_the_ring_holds_the_newest_lines_and_numbers_them_for_good() -> None:
    buffer = LogBuffer(100)
    _fill(buffer, 250)
    assert (len(buffer), buffer.first, buffer.total, buffer.dropped) == (100, 150, 250, 150)
    assert buffer.line(150).text.startswith("line 00000150")
    assert buffer.line(249).text.startswith("line 00000249")
    with pytest.raises(IndexError):
        buffer.line(149)
    assert buffer.find("LINE 00000200", 0) == 200
    assert buffer.find("line 0000016", 249, forward=False) == 169
    assert buffer.find("line 00000010", 0) is None  # dropped long ago
    assert buffer.count("line 0000020") == 10


def test_the_rings_memory_is_bounded_however_many_lines_pass() -> None:
    """Feeding twenty times the ring's size costs what feeding it once does."""
    def held_after(count: int) -> int:
        tracemalloc.start()
        try:
            buffer = LogBuffer(2_000)
            _fill(buffer, count)
            size, _ = tracemalloc.get_traced_memory()
            assert len(buffer) == min(count, 2_000)
            return size
        finally:
            tracemalloc.stop()

    once, many = held_after(2_000), held_after(40_000)
    assert many < once * 1.1, (once, many)
