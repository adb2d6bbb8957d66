"""How a big cluster loads: list pages requested ahead, core kinds before API-group discovery,
and the garbage collector paused, then frozen, around the first lists (bench/bench_live.py
measures the effect; these tests pin the behaviour)."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backends.kube import gcpause as collector
from backends.kube import source as source_module
from backends.kube.errors import KubeApiError
from backends.kube.gcpause import LoadPause, collector_paused
from backends.kube.source import WatchSource, peek_continue
from backends.kube.source_set import SourceOptions, SourceSet
from backends.store import Store
from tests.test_kube_sources import FakeStream, until

OPTIONS = SourceOptions(backoff_initial=0.01, backoff_cap=0.05, watch_timeout=30.0,
                        metrics=False, gc_pause_limit=30.0)


def page(rv: str, names: list[str], token: str | None) -> bytes:
    """A list body as the API server writes it: metadata first, then the items."""
    meta: dict[str, Any] = {"resourceVersion": rv}
    if token:
        meta["continue"] = token
    return json.dumps({
        "kind": "PodList", "apiVersion": "v1", "metadata": meta,
        "items": [{"metadata": {"name": n, "namespace": "ns", "resourceVersion": rv}}
                  for n in names]}).encode()


class PagedApi:
    """Serves ``pages`` of one collection by continue token and logs what happens when."""

    def __init__(self, pages: int, per_page: int = 3) -> None:
        self.log: list[str] = []
        self.pages = pages
        self.per_page = per_page
        self.expire: set[str] = set()
        """Continue tokens answered with 410 Expired (once each)."""
        self.gates: dict[str, asyncio.Event] = {}
        """Paths that wait for their event before answering."""
        self.docs: dict[str, bytes] = {}

    def body(self, index: int) -> bytes:
        names = [f"p{index}-{i}" for i in range(self.per_page)]
        token = f"t{index + 1}" if index + 1 < self.pages else None
        return page("7", names, token)

    async def get_raw(self, path: str, params: Any = None) -> bytes:
        token = (params or {}).get("continue")
        self.log.append(f"get {path} {token or '-'}")
        gate = self.gates.get(path)
        if gate is not None:
            await gate.wait()
        await asyncio.sleep(0.001)  # an answer takes a moment
        if path in self.docs:
            return self.docs[path]
        if token in self.expire:
            self.expire.discard(token)
            raise KubeApiError(410, "Expired", "continue token expired")
        return self.body(int(token[1:]) if token else 0)

    async def open_stream(self, path: str, params: Any = None) -> FakeStream:
        self.log.append(f"watch {path}")
        return FakeStream(None)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[PagedApi], None]]:
    """Log each page decode into the API's log, to see what overlapped with what."""
    apis: list[PagedApi] = []
    original = source_module.decode_list

    def logging_decode(kind: str, raw: bytes) -> Any:
        decoded = original(kind, raw)
        for api in apis:
            api.log.append(f"decoded {decoded.continue_token or 'last'}")
        return decoded

    monkeypatch.setattr(source_module, "decode_list", logging_decode)
    yield apis.append


def test_peek_continue_reads_the_token_from_the_head_only() -> None:
    assert peek_continue(page("1", ["a"], "eyJ2IjoibWV0YS5rOHMuaW8vdjEi==")) == (
        "eyJ2IjoibWV0YS5rOHMuaW8vdjEi==")
    assert peek_continue(page("1", ["a"], None)) is None
    # Items before metadata (not how the API server writes): no hint, no read-ahead.
    body = b'{"items": [], "metadata": {"continue": "abc"}}'
    assert peek_continue(body) is None
    # A "continue" inside an item is never taken for the list's.
    body = b'{"metadata": {}, "items": [{"metadata": {"continue": "x"}}]}'
    assert peek_continue(body) is None
    assert peek_continue(b'{"metadata": {"continue": "a\\"b"}, "items": []}') is None
    assert peek_continue(b"") is None


async def test_the_next_page_is_requested_before_this_one_is_decoded(
        decodes: Callable[[PagedApi], None]) -> None:
    api = PagedApi(pages=3)
    decodes(api)
    store = Store()
    source = WatchSource(api, store, "pods", "/api/v1/pods", rng=random.Random(1))
    task = asyncio.create_task(source.run())
    try:
        await until(lambda: source.lists == 1, "the list")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert api.log[:6] == [
        "get /api/v1/pods -", "get /api/v1/pods t1", "decoded t1",
        "get /api/v1/pods t2", "decoded t2", "decoded last",
    ]
    assert store.count("pods") == 9
    assert source.resource_version == "7"


async def test_a_wrong_hint_is_dropped_and_the_decoded_token_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    api = PagedApi(pages=2)
    monkeypatch.setattr(source_module, "peek_continue", lambda raw: "bogus")
    store = Store()
    source = WatchSource(api, store, "pods", "/api/v1/pods", rng=random.Random(1))
    task = asyncio.create_task(source.run())
    try:
        await until(lambda: source.lists == 1, "the list")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    gets = [line for line in api.log if line.startswith("get")]
    assert gets[:3] == ["get /api/v1/pods -", "get /api/v1/pods bogus",
                        "get /api/v1/pods t1"]
    assert store.count("pods") == 6  # both pages, nothing from the bogus request


async def test_an_expired_token_on_a_page_read_ahead_restarts_the_list() -> None:
    api = PagedApi(pages=3)
    api.expire.add("t2")
    store = Store()
    source = WatchSource(api, store, "pods", "/api/v1/pods", rng=random.Random(1))
    task = asyncio.create_task(source.run())
    try:
        await until(lambda: source.lists == 1, "the list")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    gets = [line for line in api.log if line.startswith("get")]
    assert gets[:4] == ["get /api/v1/pods -", "get /api/v1/pods t1", "get /api/v1/pods t2",
                        "get /api/v1/pods -"]
    assert store.count("pods") == 9 and state_of(store) == "connected"


def state_of(store: Store) -> str | None:
    health = store.health("pods")
    return health.state if health is not None else None


# ------------------------------------------------------------------------ the collector


@pytest.fixture
def freezes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Record gc.freeze() instead of freezing the test process's heap."""
    calls: list[bool] = []
    monkeypatch.setattr(collector.gc, "freeze", lambda: calls.append(gc.isenabled()))
    assert gc.isenabled() and not collector_paused()
    yield calls
    assert gc.isenabled() and not collector_paused()


def test_the_startup_heap_is_frozen_once_when_the_app_is_built(
    freezes: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The App freezes what the imports left alive before it builds its screen, so the
    full collection that building triggers does not walk ~250,000 long-lived objects while
    the first lists load; only once per process (later Apps' garbage stays collectable)."""
    from backends.config import Settings
    from tui.app import ControlRoomApp, Target

    async def never(store: object) -> Any:
        raise AssertionError("not started in this test")

    monkeypatch.setattr(collector, "_startup_frozen", False)
    ControlRoomApp(Settings(), None, Target(cluster="c", context="x"), never)
    assert freezes == [True], "frozen once, with the collector enabled"
    ControlRoomApp(Settings(), None, Target(cluster="c", context="x"), never)
    assert collector.freeze_startup_heap() is False
    assert len(freezes) == 1


def test_the_launcher_holds_the_collector_until_the_startup_heap_is_frozen(
    freezes: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16 (spawn to first rows): no collections while the screen's modules import;
    the App's freeze turns the collector back on, and a launcher that ends without an App
    (a bad kubeconfig) turns it back on too."""
    monkeypatch.setattr(collector, "_startup_frozen", False)
    collector.hold_until_startup_frozen()
    try:
        assert not gc.isenabled(), "held while importing"
        assert collector.freeze_startup_heap() is True
        assert freezes == [False], "frozen while still held (nothing collected in between)"
        assert gc.isenabled(), "the freeze turns the collector back on"
        collector.hold_until_startup_frozen()
        assert gc.isenabled(), "never held again once the heap is frozen"
        monkeypatch.setattr(collector, "_startup_frozen", False)
        collector.hold_until_startup_frozen()
        assert not gc.isenabled()
    finally:
        collector.release_startup_hold()
    assert gc.isenabled(), "released without a freeze"
    collector.release_startup_hold()
    assert gc.isenabled()


async def test_pause_until_every_first_list_then_freeze_and_enable(
        freezes: list[bool]) -> None:
    pause = LoadPause(["pods", "nodes"], limit=30)
    pause.start()
    assert not gc.isenabled() and collector_paused() and pause.active
    pause.listed("pods")
    pause.listed("pods")  # twice is harmless
    assert not gc.isenabled() and freezes == []
    pause.listed("nodes")
    assert gc.isenabled() and freezes == [False]  # frozen while still disabled
    pause.end()
    assert freezes == [False] and not pause.active


async def test_pauses_nest_and_a_collector_disabled_by_others_is_left_alone(
        freezes: list[bool]) -> None:
    first, second = LoadPause(["a"], limit=30), LoadPause(["b"], limit=30)
    first.start()
    second.start()
    first.end()
    assert not gc.isenabled()  # the second still loads
    second.end()
    assert gc.isenabled() and len(freezes) == 1
    gc.disable()
    try:
        third = LoadPause(["c"], limit=30)
        third.start()
        third.end()
        assert not gc.isenabled() and len(freezes) == 1  # not ours to enable
    finally:
        gc.enable()
    nothing = LoadPause([], limit=30)
    nothing.start()
    off = LoadPause(["d"], limit=0)
    off.start()
    assert gc.isenabled() and not nothing.active and not off.active


async def test_the_pause_ends_after_its_limit(freezes: list[bool]) -> None:
    pause = LoadPause(["slow"], limit=0.05)
    pause.start()
    assert not gc.isenabled()
    await until(lambda: gc.isenabled(), "the limit to re-enable the collector")
    assert freezes == [False] and not pause.active


# ------------------------------------------------------------------------ the source set


def discovery_docs() -> dict[str, bytes]:
    def resources(*names: str) -> bytes:
        return json.dumps({"resources": [
            {"name": n, "namespaced": n != "nodes", "verbs": ["get", "list", "watch"]}
            for n in names]}).encode()

    return {
        "/api/v1": resources("pods", "nodes", "events"),
        "/apis": json.dumps({"groups": [
            {"name": "apps", "versions": [{"version": "v1"}]}]}).encode(),
        "/apis/apps/v1": resources("deployments", "replicasets"),
        "/apis/apps/v1/deployments": page("3", [], None),
        "/apis/apps/v1/replicasets": page("3", [], None),
    }


async def test_core_kinds_list_while_api_groups_are_discovered(freezes: list[bool]) -> None:
    api = PagedApi(pages=2)
    api.docs.update(discovery_docs())
    api.gates["/apis"] = gate = asyncio.Event()
    store = Store()
    sources = SourceSet(api, store, options=OPTIONS, close_connection=False,
                        kinds={"pods", "nodes", "deployments", "replicasets", "applications"},
                        rng=random.Random(3))
    starting = asyncio.create_task(sources.start())
    try:
        await until(lambda: store.count("pods") == 6, "the pods, before /apis answers")
        assert not starting.done() and not gate.is_set()
        assert collector_paused() and not gc.isenabled()
        gate.set()
        await starting
        await until(lambda: not collector_paused(), "every first list")
        assert gc.isenabled() and freezes == [False]
        assert sources.discovery is not None
        assert sources.discovery.missing == {"applications"}
        assert {s.name for s in sources.sources} == {
            "pods", "nodes", "deployments", "replicasets", "applications"}
        assert api.log.index("get /api/v1/pods -") < api.log.index("get /apis -")
        health = store.health("applications")
        assert health is not None and health.state == "not_installed"
    finally:
        await sources.stop()
    assert gc.isenabled()


async def test_stopping_while_loading_ends_the_pause(freezes: list[bool]) -> None:
    api = PagedApi(pages=2)
    api.docs.update(discovery_docs())
    api.gates["/api/v1/pods"] = asyncio.Event()  # never answers
    sources = SourceSet(api, Store(), options=OPTIONS, close_connection=False,
                        kinds={"pods"}, rng=random.Random(3))
    await sources.start()
    assert collector_paused()
    await sources.stop()
    assert gc.isenabled() and freezes == [False]


async def test_a_seek_holds_the_collector_and_gives_it_back_unfrozen(
        freezes: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17 (seek under 1 s): a replay's seek builds 30,000 rows with the collector off
    and turns it back on after, without freezing (the next seek replaces those rows); a
    collector someone else disabled stays off, and a LoadPause that began meanwhile is the
    one that turns it back on."""
    from backends.timeline import replay

    with collector.collector_held():
        assert not gc.isenabled()
    assert gc.isenabled() and freezes == []
    gc.disable()
    try:
        with collector.collector_held():
            pass
        assert not gc.isenabled(), "not ours to enable"
    finally:
        gc.enable()
    pause = LoadPause(["pods"], limit=30)
    with collector.collector_held():
        pause.start()
    assert not gc.isenabled(), "the load still holds it"
    pause.listed("pods")
    assert gc.isenabled() and len(freezes) == 1

    seen: list[bool] = []

    def failing_state(reader: object, moment: float) -> Any:
        seen.append(gc.isenabled())
        raise replay.TimelineFileError("hour.timeline", "damaged")

    monkeypatch.setattr(replay, "recorded_state", failing_state)
    source = object.__new__(replay.ReplaySource)  # no file: the seek itself is the spy
    vars(source).update(_lock=threading.Lock(), _reader=None)
    with pytest.raises(replay.TimelineFileError):
        source.state_at(0.0)
    assert seen == [False] and gc.isenabled(), "off during the seek, on after, even on error"
    replay.copy_state(replay.RecordedState(), Store())
    assert gc.isenabled() and len(freezes) == 1
