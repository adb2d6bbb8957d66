"""Nothing vanishes silently (issue 13, point 11): an object that fails to decode is counted
and named (kind, namespace, name, why) per source, shown in the header and on the status line
of its panel, and makes the validation of its kind "cannot check", while the source stays
live and every other object of its list is shown. A later version that decodes, or the
object's deletion, clears the flag.

The watch source is driven by a scripted transport (:class:`tests.test_kube_sources.FakeApi`)
for the list and watch paths, and the whole App by the drill cluster, into which a bad pod is
smuggled past the write checks (``ClusterState.store_unchecked``).
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import time
from typing import Any

from backends.baseline.capture import capture, make_meta
from backends.baseline.validate import validate
from backends.config import ValidateSettings
from backends.kube.source import WatchSource
from backends.kube.unreadable import UNDECODABLE_NAMED
from backends.store import UNDECODABLE_SHOWN, SourceHealth, Store
from drill.resources import BY_KEY
from drill.runner import DrillCluster
from tests.test_app import panel, shown, until
from tests.test_funnel import funnel_app, problems, status
from tests.test_kube_sources import FakeApi, RecordingStore, cancel
from tests.test_kube_sources import until as await_store
from widgets.header import health_text
from widgets.panels import PodsPanel
from widgets.sourcestate import problem_lines, unreadable_status

PODS = BY_KEY["pods"]
WHY = "Expected `str`, got `int` - at `$.status.phase`"


def pod(name: str, rv: str = "5", phase: Any = "Running",
        namespace: str = "payments") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": rv},
            "status": {"phase": phase}}


def pod_list(*items: dict[str, Any], rv: str = "5") -> dict[str, Any]:
    return {"kind": "PodList", "metadata": {"resourceVersion": rv}, "items": list(items)}


def event(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode()


def source(api: FakeApi, store: Store) -> WatchSource:
    return WatchSource(api, store, "pods", "/api/v1/pods", backoff_initial=0.01,
                       backoff_cap=0.05, rng=random.Random(1))


def health(store: Store) -> SourceHealth:
    h = store.health("pods")
    assert h is not None
    return h


# ------------------------------------------------------------------------- the source


async def test_a_bad_pod_is_named_on_the_health_and_a_good_version_clears_it() -> None:
    """The list's good pods are shown, the source stays connected and names the bad one;
    a MODIFIED that decodes takes it out, without a re-list."""
    gate = asyncio.Event()
    api = FakeApi({"/api/v1/pods": pod_list(pod("web-0"), pod("web-1", phase=7),
                                            pod("web-2"))},
                  streams=[[event("MODIFIED", pod("web-1", rv="6"))], None])
    store = RecordingStore()
    original = api.open_stream

    async def gated(path: str, params: Any = None) -> Any:
        await gate.wait()  # look at the list's outcome before the watch delivers
        return await original(path, params)

    api.open_stream = gated  # type: ignore[method-assign]
    task = asyncio.create_task(source(api, store).run())
    try:
        await await_store(lambda: store.health("pods") is not None
                          and health(store).undecodable == 1, "the bad pod counted")
        assert set(store.rows("pods")) == {"payments/web-0", "payments/web-2"}
        assert health(store).state == "connected" and not health(store).error
        assert health(store).undecodable_objects == (f"pods payments/web-1: {WHY}",)
        gate.set()
        await await_store(lambda: health(store).undecodable == 0, "the flag cleared")
        assert health(store).undecodable_objects == ()
        assert "payments/web-1" in store.rows("pods")
        assert store.states["pods"] == ["connecting", "connected"]  # never "error"
        assert api.asked.count("/api/v1/pods") == 1  # no re-list
    finally:
        await cancel(task)


async def test_a_bad_watch_event_is_named_without_a_relist_and_its_deletion_clears_it(
) -> None:
    bad = pod("web-0", rv="6", phase=["x"])
    api = FakeApi({"/api/v1/pods": pod_list(pod("web-0"), pod("web-1"))},
                  streams=[[event("MODIFIED", bad)], [event("DELETED", bad)], None])
    store = RecordingStore()
    watch = source(api, store)
    seen: list[SourceHealth] = []
    original = store.set_undecodable

    def recording(name: str, count: int, objects: Any = (), **kw: Any) -> None:
        original(name, count, objects, **kw)
        seen.append(health(store))

    store.set_undecodable = recording  # type: ignore[method-assign]
    task = asyncio.create_task(watch.run())
    try:
        await await_store(lambda: len(seen) == 2, "the bad pod named, then deleted")
        assert [h.undecodable for h in seen] == [1, 0]
        assert seen[0].undecodable_objects == (
            "pods payments/web-0: Expected `str`, got `array` - at `$.object.status.phase`",)
        assert set(store.rows("pods")) == {"payments/web-1"}
        assert watch.lists == 1 and watch.resource_version == "6"
        assert store.states["pods"] == ["connecting", "connected"]
    finally:
        await cancel(task)


async def test_many_bad_objects_are_counted_and_only_a_few_named() -> None:
    bad = [pod(f"bad-{i:03}", phase=7) for i in range(UNDECODABLE_NAMED + 50)]
    api = FakeApi({"/api/v1/pods": pod_list(pod("good"), *bad)}, streams=[None])
    store = Store()
    watch = source(api, store)
    task = asyncio.create_task(watch.run())
    try:
        await await_store(lambda: watch.lists == 1, "the list")
        assert health(store).undecodable == UNDECODABLE_NAMED + 50
        assert len(health(store).undecodable_objects) == UNDECODABLE_SHOWN
        assert health(store).undecodable_objects[0].startswith("pods payments/bad-000: ")
        assert set(store.rows("pods")) == {"payments/good"}
    finally:
        await cancel(task)


# ------------------------------------------------------------------------- the words


def test_the_header_and_the_panel_name_the_objects_in_words() -> None:
    store = Store(clock=lambda: 1000.0)
    store.set_health("pods@payments", "connected")
    store.set_undecodable("pods@payments", 4, [
        "pods payments/web-1: Expected `str`, got `int` - at `$.items[1].status.phase`",
        "pods payments/web-2: bad \x1b]52;c;aGk=\x07 reason",
        "pods payments/web-3: x", "pods payments/web-4: y"])
    store.set_health("nodes", "connected")
    everything = store.all_health()
    assert problem_lines(everything) == [(
        "pods@payments",
        "4 objects could not be read (payments/web-1: Expected `str`, got `int` - at "
        "`$.items[1].status.phase`; payments/web-2: bad  reason; payments/web-3: x; 1 more)")]
    assert unreadable_status(everything, {"pods"}) == (
        "4 objects could not be read: payments/web-1: Expected `str`, got `int` - at "
        "`$.items[1].status.phase`; payments/web-2: bad  reason; payments/web-3: x; 1 more")
    assert unreadable_status(everything, {"deployments", "pods"}).startswith(
        "4 objects could not be read: pods payments/web-1: ")
    assert unreadable_status(everything, {"nodes"}) == ""
    assert "pods@payments ● " in health_text(everything, 1001.0).plain
    assert "(4 unreadable)" in health_text(everything, 1001.0).plain
    # A state change keeps the objects (a stale source still holds them), and 0 clears.
    store.set_health("pods@payments", "stale", "connection lost")
    assert problem_lines(store.all_health())[-1][1].startswith("4 objects could not be read")
    store.set_undecodable("pods@payments", 0)
    assert not any("could not be read" in what for _, what in problem_lines(store.all_health()))
    assert unreadable_status(store.all_health(), {"pods"}) == ""


# ------------------------------------------------------------------------- the App


def good_pod(drill: DrillCluster, name: str) -> dict[str, Any]:
    """A copy of a seeded payments pod under a new name (valid by construction)."""
    template = copy.deepcopy(drill.state.objects(PODS, "payments")[0])
    meta = template["metadata"]
    for field in ("uid", "resourceVersion", "creationTimestamp", "ownerReferences"):
        meta.pop(field, None)
    meta["name"] = name
    return template


def pods_missing(app: Any) -> str:
    """Why the pods section of a baseline taken now is missing ("" when it is not)."""
    return capture(app.store, make_meta("c"), time.time()).missing.get("pods", "")


async def test_one_bad_pod_among_good_ones_is_named_and_cannot_be_checked(
        drill: DrillCluster) -> None:
    assert drill.kubeconfig is not None
    bad = good_pod(drill, "web-1")
    bad["status"] = {**bad["status"], "phase": 7}
    drill.state.store_unchecked(PODS, bad)
    good_count = drill.state.count(PODS) - 1
    app = funnel_app(drill.kubeconfig)
    async with app.run_test(size=(200, 50)) as pilot:
        pods = panel(app, PodsPanel)
        pods.toggle_all()
        await until(pilot, lambda: len(shown(pods)) == good_count, "the good pods", timeout=10)
        assert "payments/web-1" not in shown(pods)
        await until(pilot, lambda: "pods: 1 object could not be read (payments/web-1: "
                    in problems(app), "the header to name the bad pod")
        assert "status.phase" in problems(app)  # with its reason
        await until(pilot, lambda: status(app, PodsPanel).startswith(
            "1 object could not be read: payments/web-1: Expected `str`, got `int`"),
            "the pods panel to say so")
        assert pods.has_class("-source-down") and not pods.has_class("-stale")
        health = app.store.health("pods")
        assert health is not None and health.state == "connected"

        missing = pods_missing(app)
        assert missing.startswith("pods: 1 object(s) could not be decoded: pods payments/web-1")
        checks = {c.id: c for c in validate(capture(app.store, make_meta("c"), time.time()),
                                            ValidateSettings()).checks}
        assert checks["data-complete"].status == "unknown"
        assert any("web-1" in line for line in checks["data-complete"].evidence)

        # Fixed: a watch MODIFIED with a good version clears every flag.
        drill.state.store_unchecked(PODS, good_pod(drill, "web-1"))
        await until(pilot, lambda: "payments/web-1" in shown(pods), "the fixed pod shown",
                    timeout=10)
        await until(pilot, lambda: "could not be read" not in problems(app)
                    and not status(app, PodsPanel), "the flag to clear")
        assert not pods.has_class("-source-down")
        assert pods_missing(app) == ""
