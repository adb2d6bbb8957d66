"""Issue 17, points 5 and 6: replay frames in file format 3 rebuild the store exactly, compactly.

A seek (keyframe, the newest checkpoint after it, then the deltas after that, patched as
row mirrors) and playing forwards (frame by frame into a store) must both land on exactly
the rows the store held at that moment,
whatever happened in between: rows of the keyframe patched (named by their place in it, not
their key), rows new since the keyframe and then patched (named by key), rows removed, rows
removed and back, a part list that changed length. A delta that names a keyframe row
carries no key; a damaged delta is named, never applied half-way.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import msgspec
import pytest

from backends.model import ContainerInfo, PodRow
from backends.store import Store
from backends.timeline.frames import FrameError, FrameState
from backends.timeline.recorder import Recorder, recorded_state
from backends.timeline.replay import ReplaySource
from backends.timeline.store import TimelineReader
from backends.timeline.writer import TimelineWriter

KINDS = ("nodes", "deployments", "replicasets", "events", "applications", "gateways",
         "httproutes", "applicationloadbalancers", "pods")


def pod(i: int, *, ready: bool = True, restarts: int = 0, parts: int = 1) -> PodRow:
    containers = tuple(ContainerInfo(name=f"c{n}", image="reg/app:1", ready=ready,
                                     restarts=restarts, state="running")
                       for n in range(parts))
    return PodRow(key=f"team/pod-{i:05d}", namespace="team", name=f"pod-{i:05d}",
                  uid=f"uid-{i}", phase="Running", status="Running",
                  ready_containers=parts if ready else 0, total_containers=parts,
                  restarts=restarts, node=f"node-{i % 3}", containers=containers)


def snapshot(store: Store) -> dict[str, PodRow]:
    return dict(store.held("pods"))  # type: ignore[arg-type]


def test_a_seek_and_playing_forwards_rebuild_exactly_the_recorded_rows(tmp_path: Path) -> None:
    clock = [time.time()]
    store = Store(clock=lambda: clock[0])
    store.replace("pods", [pod(i) for i in range(50)])
    for kind in KINDS:
        store.set_health(kind, "connected", now=clock[0])
    path = tmp_path / "c.timeline"
    writer = TimelineWriter(path, "c")
    recorder = Recorder(store, writer, "c", clock=lambda: clock[0], checkpoint_interval=2.0)
    expected: dict[float, dict[str, PodRow]] = {}

    def step(*changes: tuple[str, PodRow]) -> None:
        clock[0] += 1.0
        store.apply("pods", changes)  # type: ignore[arg-type]
        recorder.tick()
        expected[clock[0]] = snapshot(store)

    step()  # the keyframe
    step(("MODIFIED", pod(3, ready=False, restarts=1)), ("MODIFIED", pod(40, restarts=2)))
    step(("ADDED", pod(100)), ("DELETED", pod(7)), ("MODIFIED", pod(3, restarts=1)))
    step(("MODIFIED", pod(100, ready=False)), ("ADDED", pod(7, restarts=5)))
    step(("MODIFIED", pod(40, restarts=2, parts=2)), ("MODIFIED", pod(7, restarts=6)),
         ("DELETED", pod(11)))
    step(("MODIFIED", pod(49, ready=False)), ("MODIFIED", pod(0, ready=False)))
    writer.close()

    with TimelineReader(path) as reader:
        deltas = reader.deltas(0.0, clock[0])
        checks = [at for at, kind, _ in reader.frames(0.0, clock[0]) if kind == "check"]
        assert len(checks) >= 2  # a seek past them starts from the newest
        for moment, rows in expected.items():
            assert recorded_state(reader, moment).tables.get("pods") == rows, moment
    second = zlib.decompress(deltas[0][1])
    assert b"pod-00003" not in second and b"pod-00040" not in second  # by place, not key
    assert b"ready_containers" not in second  # fields by place, not name

    source = ReplaySource(path)
    try:
        played = Store()
        first = min(expected)
        source.state_at(first).into(played)
        previous = first
        for moment, rows in sorted(expected.items())[1:]:
            source.apply(played, source.frames_between(previous, moment))
            assert snapshot(played) == rows, moment
            previous = moment
    finally:
        source.close()


def test_a_damaged_delta_is_named_not_applied_half_way(tmp_path: Path) -> None:
    clock = [time.time()]
    store = Store(clock=lambda: clock[0])
    store.replace("pods", [pod(i) for i in range(5)])
    for kind in KINDS:
        store.set_health(kind, "connected", now=clock[0])
    path = tmp_path / "c.timeline"
    writer = TimelineWriter(path, "c")
    recorder = Recorder(store, writer, "c", clock=lambda: clock[0])
    recorder.tick()
    clock[0] += 1.0
    store.apply("pods", [("MODIFIED", pod(2, ready=False))])
    recorder.tick()
    writer.close()
    with TimelineReader(path) as reader:
        key = reader.keyframe_before(clock[0])
        assert key is not None
        ((_, delta),) = reader.deltas(key[0], clock[0])
    frame = msgspec.msgpack.decode(zlib.decompress(delta))
    gaps, patches = frame["placed"]["pods"]
    state = FrameState()
    state.keyframe(key[1])
    past_the_end = {**frame, "placed": {"pods": [[999], patches]}}
    with pytest.raises(FrameError, match="a pods patch past its keyframe"):
        state.delta(zlib.compress(msgspec.msgpack.encode(past_the_end)))
    wrong_type = {**frame, "placed": {"pods": [gaps, [{"3": ["v", "x"]}]]}}
    with pytest.raises(FrameError):
        state.delta(zlib.compress(msgspec.msgpack.encode(wrong_type)))
    state.keyframe(key[1])
    bad_value = {**frame, "placed": {"pods": [gaps, [{4: ["v", 12]}]]}}  # status: an int
    state.delta(zlib.compress(msgspec.msgpack.encode(bad_value)))
    with pytest.raises(FrameError, match="damaged replay frame: pods"):
        state.rows()
    with pytest.raises(FrameError, match="damaged replay frame"):
        state.delta(delta[:-5])
