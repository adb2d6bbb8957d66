"""Watch sources against the real drill API server: the reflector contract, end to end.

Each test runs a drill cluster in-process on the test's loop (no simulation, so only the test
changes objects), connects through the kubeconfig, runs real sources into a real store and
compares the store with the drill's state. Nothing sleeps blindly: :func:`until` polls the
store against a deadline.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest

from backends.kube.connection import KubeConnection, connect
from backends.kube.discovery import default_resource, discover
from backends.kube.errors import KubeApiError, KubeError
from backends.kube.metrics import MetricsPoller
from backends.kube.source import WatchSource
from backends.kube.source_set import SourceOptions, SourceSet
from backends.model import NodeMetricsRow, Row
from backends.store import Op, SourceHealth, SourceState, Store
from drill import server as demo_server
from drill.policy import Policy
from drill.resources import BY_KEY, ResourceType
from drill.runner import DrillCluster, DrillOptions
from tests.waiting import await_until

PODS = BY_KEY["pods"]
FAST = SourceOptions(backoff_initial=0.05, backoff_cap=0.3, watch_timeout=30.0,
                     forbidden_retry=60.0, recheck_interval=60.0, metrics_interval=0.5)
HIDDEN_GROUPS = ("argoproj.io", "gateway.networking.k8s.io")


# ------------------------------------------------------------------------- helpers


async def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    await await_until(check, what, timeout, interval=0.01)


class RecordingStore(Store):
    """A store that remembers how it was written to (to tell progressive pages from an
    atomic re-list, and batches from single events)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, int]] = []
        self.states: dict[str, list[SourceState]] = {}

    def apply(self, kind: str, events: Iterable[tuple[Op, Row]]) -> int:
        batch = list(events)
        self.calls.append(("apply", kind, len(batch)))
        return super().apply(kind, batch)

    def replace(self, kind: str, rows: Iterable[Row], *, keep: Any = ()) -> int:
        rows = list(rows)
        self.calls.append(("replace", kind, len(rows)))
        return super().replace(kind, rows, keep=keep)

    def set_health(self, source: str, state: SourceState, error: str = "", *,
                   now: float | None = None) -> SourceHealth:
        seen = self.states.setdefault(source, [])
        if not seen or seen[-1] != state:
            seen.append(state)
        return super().set_health(source, state, error, now=now)

    def kind_calls(self, kind: str) -> list[tuple[str, int]]:
        return [(op, n) for op, k, n in self.calls if k == kind]


def state_keys(cluster: DrillCluster, rt: ResourceType = PODS) -> set[str]:
    return {f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
            if rt.namespaced else o["metadata"]["name"] for o in cluster.state.objects(rt)}


def state(store: Store, source: str) -> str | None:
    health = store.health(source)
    return health.state if health is not None else None


def new_pod(cluster: DrillCluster, name: str, namespace: str = "payments") -> dict[str, Any]:
    """A copy of a seeded pod under a new name (valid by construction)."""
    template = copy.deepcopy(cluster.state.objects(PODS, namespace)[0])
    meta = template["metadata"]
    for field in ("uid", "resourceVersion", "creationTimestamp", "ownerReferences"):
        meta.pop(field, None)
    meta["name"] = name
    return template


def watch_source(conn: KubeConnection, store: Store, kind: str = "pods",
                 **kw: Any) -> WatchSource:
    options: dict[str, Any] = {"backoff_initial": 0.05, "backoff_cap": 0.3,
                               "watch_timeout": 30.0, "rng": random.Random(7)}
    options.update(kw)
    return WatchSource(conn, store, kind, default_resource(kind).path(), **options)


async def running(source: WatchSource) -> asyncio.Task[None]:
    return asyncio.create_task(source.run(), name=f"test-{source.name}")


async def cancel(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def port_of(cluster: DrillCluster) -> int:
    return int(cluster.url.rsplit(":", 1)[1])


@pytest.fixture
async def conn(drill: DrillCluster) -> AsyncIterator[KubeConnection]:
    connection = await connect(str(drill.kubeconfig), None)
    try:
        yield connection
    finally:
        await connection.close()


async def started_cluster(tmp_path: Path, **options: Any) -> DrillCluster:
    cluster = DrillCluster(DrillOptions(kubeconfig=tmp_path / "kubeconfig",
                                        bookmark_interval=0.2, simulate=False, **options))
    await cluster.start()
    return cluster


# ------------------------------------------------------------------------- the happy path


async def test_every_source_lists_into_the_store_and_connects(drill: DrillCluster) -> None:
    store = RecordingStore()
    conn = await connect(str(drill.kubeconfig), None)
    sources = SourceSet(conn, store, options=FAST)
    await sources.start()
    try:
        expected = {
            "nodes": BY_KEY["nodes"], "pods": PODS,
            "deployments": BY_KEY["deployments.apps"],
            "replicasets": BY_KEY["replicasets.apps"],
            "applications": BY_KEY["applications.argoproj.io"],
            "gateways": BY_KEY["gateways.gateway.networking.k8s.io"],
            "httproutes": BY_KEY["httproutes.gateway.networking.k8s.io"],
            "applicationloadbalancers":
                BY_KEY["applicationloadbalancers.alb.networking.azure.io"],
            "nodemetrics": BY_KEY["nodes.metrics.k8s.io"],
            "podmetrics": BY_KEY["pods.metrics.k8s.io"],
        }
        names = [*expected, "events"]
        await until(lambda: all(state(store, n) == "connected" for n in names),
                    "every source connected")
        for kind, rt in expected.items():
            assert set(store.rows(kind)) == state_keys(drill, rt), kind
        warnings = [e for e in drill.state.objects(BY_KEY["events"]) if e["type"] == "Warning"]
        assert store.count("events") == len(warnings)
        for kind in expected:
            assert store.states[kind][:2] == ["connecting", "connected"], kind
        assert len(sources.tasks) == len(sources.sources) == 10  # 9 watched kinds + metrics
    finally:
        await sources.stop()
    assert conn.closed
    assert all(task.done() for task in sources.tasks)


async def test_created_modified_and_deleted_pods_reach_the_store(
        drill: DrillCluster, conn: KubeConnection) -> None:
    store = Store()
    task = await running(watch_source(conn, store))
    try:
        await until(lambda: state(store, "pods") == "connected", "pods connected")
        drill.state.create(PODS, new_pod(drill, "fresh"))
        await until(lambda: store.get("pods", "payments/fresh") is not None, "new pod")

        def crash(obj: dict[str, Any]) -> dict[str, Any]:
            obj["status"]["containerStatuses"][0]["restartCount"] = 42
            return obj

        drill.state.mutate(PODS, "payments", "fresh", crash, subresource="status")
        await until(lambda: getattr(store.get("pods", "payments/fresh"), "restarts", 0) == 42,
                    "the modified pod")
        drill.state.delete(PODS, "payments", "fresh")
        await until(lambda: store.get("pods", "payments/fresh") is None, "the pod gone")
        assert set(store.rows("pods")) == state_keys(drill)
    finally:
        await cancel(task)


async def test_only_warning_events_are_watched(drill: DrillCluster,
                                               conn: KubeConnection) -> None:
    store = Store()
    task = await running(watch_source(conn, store, "events", field_selector="type=Warning"))
    events = BY_KEY["events"]
    try:
        await until(lambda: state(store, "events") == "connected", "events connected")
        template = drill.state.objects(events)[0]
        for name, kind in (("bad", "Warning"), ("fine", "Normal")):
            event = copy.deepcopy(template)
            event["metadata"] = {"name": name, "namespace": template["metadata"]["namespace"]}
            event["type"] = kind
            drill.state.create(events, event)
        namespace = template["metadata"]["namespace"]
        await until(lambda: store.get("events", f"{namespace}/bad") is not None, "the warning")
        assert store.get("events", f"{namespace}/fine") is None
    finally:
        await cancel(task)


async def test_a_burst_of_events_is_applied_in_few_batches(drill: DrillCluster,
                                                           conn: KubeConnection) -> None:
    store = RecordingStore()
    task = await running(watch_source(conn, store))
    try:
        await until(lambda: state(store, "pods") == "connected", "pods connected")
        before = len(store.kind_calls("pods"))
        pods = drill.state.objects(PODS)
        for round_ in range(10):  # 10 x 35 MODIFIED events, written back to back
            for pod in pods:
                meta = pod["metadata"]
                drill.state.mutate(PODS, meta["namespace"], meta["name"],
                                   _label(f"round-{round_}"))
        await until(lambda: sum(n for _, n in store.kind_calls("pods")[before:]) >= 350,
                    "all 350 events applied")
        applies = store.kind_calls("pods")[before:]
        assert sum(n for _, n in applies) == 350
        assert len(applies) <= 20, applies  # batches, not one store call per event
    finally:
        await cancel(task)


def _label(value: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def apply(obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"].setdefault("labels", {})["round"] = value
        return obj
    return apply


# ------------------------------------------------------------------------- the watch contract


async def test_outage_resumes_from_the_last_version_and_converges(
        drill: DrillCluster, conn: KubeConnection) -> None:
    """WATCH-CONTRACT: the API server goes away, objects change meanwhile, the server comes
    back on the same port: the store converges to the truth, stale while it could not."""
    store = RecordingStore()
    source = watch_source(conn, store)
    task = await running(source)
    try:
        await until(lambda: state(store, "pods") == "connected", "pods connected")
        port = port_of(drill)
        lost_at = time.time()
        await drill.server.stop()
        await until(lambda: state(store, "pods") == "stale", "pods stale")
        health = store.health("pods")
        assert health is not None and lost_at <= health.since <= time.time()
        assert store.count("pods") == len(state_keys(drill))  # the rows stay, marked stale
        victims = sorted(state_keys(drill))[:3]
        for key in victims:
            namespace, _, name = key.partition("/")
            drill.state.delete(PODS, namespace, name)
        drill.state.create(PODS, new_pod(drill, "born-in-the-dark"))
        await asyncio.sleep(0)  # let the source notice nothing; it keeps retrying
        await drill.server.start("127.0.0.1", port)
        await until(lambda: state(store, "pods") == "connected", "pods connected again")
        await until(lambda: set(store.rows("pods")) == state_keys(drill), "the truth")
        assert not set(victims) & set(store.rows("pods"))
        assert "payments/born-in-the-dark" in store.rows("pods")
        assert source.lists == 1  # resumed from the last version: no re-list was needed
        assert store.states["pods"][-2:] == ["stale", "connected"]
    finally:
        await cancel(task)


async def test_expired_history_while_away_means_relist_without_ghosts(
        drill: DrillCluster, conn: KubeConnection) -> None:
    """EXPIRY: history is compacted while the source is disconnected: the resume gets 410,
    the source re-lists and swaps the whole set in at once."""
    store = RecordingStore()
    source = watch_source(conn, store)
    task = await running(source)
    try:
        await until(lambda: state(store, "pods") == "connected", "pods connected")
        port = port_of(drill)
        await drill.server.stop()
        await until(lambda: state(store, "pods") == "stale", "pods stale")
        ghosts = sorted(state_keys(drill))[:5]
        for key in ghosts:
            namespace, _, name = key.partition("/")
            drill.state.delete(PODS, namespace, name)
        drill.state.create(PODS, new_pod(drill, "after-compaction"))
        drill.state.compact()
        mark = len(store.calls)
        await drill.server.start("127.0.0.1", port)
        await until(lambda: source.lists == 2, "a re-list")
        assert set(store.rows("pods")) == state_keys(drill)
        assert not set(ghosts) & set(store.rows("pods"))
        relist = [(op, n) for op, k, n in store.calls[mark:] if k == "pods"]
        assert relist[0] == ("replace", len(state_keys(drill)))  # one atomic swap, no pages
    finally:
        await cancel(task)


async def test_expired_error_event_while_behind_means_relist(
        drill: DrillCluster, conn: KubeConnection) -> None:
    """EXPIRY on an open watch: history is compacted past the watcher's position, the server
    sends an ERROR event with code 410, and the source re-lists."""
    store = RecordingStore()
    source = watch_source(conn, store)
    task = await running(source)
    try:
        await until(lambda: state(store, "pods") == "connected", "pods connected")
        victim = sorted(state_keys(drill))[0]
        namespace, _, name = victim.partition("/")
        # Both in one synchronous step: the watcher cannot catch up in between.
        drill.state.delete(PODS, namespace, name)
        drill.state.compact()
        await until(lambda: source.lists == 2, "a re-list after the ERROR event")
        assert victim not in store.rows("pods")
        assert set(store.rows("pods")) == state_keys(drill)
    finally:
        await cancel(task)


# ------------------------------------------------------------------------- paging and gzip


async def test_the_first_list_arrives_in_pages_shown_as_they_come(
        drill: DrillCluster, conn: KubeConnection) -> None:
    for index in range(1200):
        drill.state.create(PODS, new_pod(drill, f"bulk-{index:04d}"))
    total = drill.state.count(PODS)
    drill.server.record_requests = True
    store = RecordingStore()
    source = watch_source(conn, store)
    task = await running(source)
    try:
        await until(lambda: state(store, "pods") == "connected", "pods connected")
        assert store.count("pods") == total
        lists = [parse_qs(query) for method, path, query in drill.server.requests
                 if method == "GET" and path == "/api/v1/pods" and "watch" not in query]
        assert len(lists) == 3 and all(q["limit"] == ["500"] for q in lists)
        assert "continue" not in lists[0] and all("continue" in q for q in lists[1:])
        calls = store.kind_calls("pods")
        assert calls[:3] == [("apply", 500), ("apply", 500), ("apply", total - 1000)]
        assert calls[3] == ("replace", total)  # the closing swap: ghosts from before go
    finally:
        await cancel(task)


async def test_list_and_watch_travel_gzipped(drill: DrillCluster) -> None:
    seen: list[tuple[str, str, str]] = []

    async def on_end(_s: Any, _c: Any, params: aiohttp.TraceRequestEndParams) -> None:
        seen.append((str(params.url), params.headers.get("Accept-Encoding", ""),
                     params.response.headers.get("Content-Encoding", "")))

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    store = Store()
    async with await connect(str(drill.kubeconfig), None, trace_configs=[trace]) as conn:
        task = await running(watch_source(conn, store))
        try:
            await until(lambda: state(store, "pods") == "connected", "pods connected")
            drill.state.create(PODS, new_pod(drill, "zipped"))
            await until(lambda: "payments/zipped" in store.rows("pods"), "a watch event")
        finally:
            await cancel(task)
        stats = conn.stats
    lists = [s for s in seen if "/api/v1/pods?" in s[0] and "watch=" not in s[0]]
    watches = [s for s in seen if "watch=true" in s[0]]
    assert lists and watches
    assert all(accept == "gzip" and encoding == "gzip" for _, accept, encoding in
               lists + watches), seen
    assert "allowWatchBookmarks=true" in watches[0][0] and "resourceVersion=" in watches[0][0]
    assert stats.wire_bytes < stats.body_bytes


# ------------------------------------------------------------------------- forbidden


async def test_forbidden_pods_do_not_hold_back_the_other_sources(tmp_path: Path) -> None:
    policy = Policy.from_dict({"rules": [{"verbs": ["list", "watch"], "resources": ["pods"],
                                          "allow": False}]})
    cluster = await started_cluster(tmp_path, policy=policy)
    cluster.server.record_requests = True
    store = Store()
    sources = SourceSet(await connect(str(cluster.kubeconfig), None), store, options=FAST)
    try:
        await sources.start()
        others = ["nodes", "deployments", "replicasets", "events", "applications", "gateways",
                  "httproutes", "applicationloadbalancers", "nodemetrics"]
        await until(lambda: state(store, "pods") == "forbidden"
                    and state(store, "podmetrics") == "forbidden"
                    and all(state(store, n) == "connected" for n in others),
                    "pods forbidden, everything else connected")
        health = store.health("pods")
        # one readable line: the verb, the resource and the identity the server named
        assert health is not None and health.error == "forbidden: list pods for drill-operator"
        podmetrics = store.health("podmetrics")
        assert podmetrics is not None and podmetrics.error == (
            "forbidden: list pods.metrics.k8s.io for drill-operator")
        assert store.count("pods") == 0
        assert store.count("nodes") == cluster.state.count(BY_KEY["nodes"])
        pod_lists = [r for r in cluster.server.requests if r[1] == "/api/v1/pods"]
        assert len(pod_lists) == 1  # retried after forbidden_retry (60 s), not in a loop
    finally:
        await sources.stop()
        await cluster.stop()


# ------------------------------------------------------------------------- not installed


def hide_groups(monkeypatch: pytest.MonkeyPatch, cluster: DrillCluster,
                groups: tuple[str, ...] = HIDDEN_GROUPS) -> None:
    """Make the drill server look like a cluster without Argo CD and the Gateway API:
    discovery leaves the groups out and their paths answer 404."""
    real_group_list = demo_server.group_list
    real_api_group = demo_server.api_group
    real_resource_list = demo_server.resource_list
    real_parse = cluster.server._parse_target

    def group_list() -> dict[str, Any]:
        doc = real_group_list()
        return dict(doc, groups=[g for g in doc["groups"] if g["name"] not in groups])

    def api_group(name: str) -> dict[str, Any] | None:
        return None if name in groups else real_api_group(name)

    def resource_list(group: str, version: str) -> dict[str, Any] | None:
        return None if group in groups else real_resource_list(group, version)

    def parse_target(parts: list[str]) -> Any:
        if len(parts) > 1 and parts[0] == "apis" and parts[1] in groups:
            return None
        return real_parse(parts)

    monkeypatch.setattr(demo_server, "group_list", group_list)
    monkeypatch.setattr(demo_server, "api_group", api_group)
    monkeypatch.setattr(demo_server, "resource_list", resource_list)
    monkeypatch.setattr(cluster.server, "_parse_target", parse_target)


async def test_kinds_the_cluster_lacks_are_not_installed_without_an_error_loop(
        drill: DrillCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    hide_groups(monkeypatch, drill)
    drill.server.record_requests = True
    store = Store()
    options = SourceOptions(backoff_initial=0.05, backoff_cap=0.3, watch_timeout=30.0,
                            recheck_interval=0.2, metrics_interval=0.5)
    sources = SourceSet(await connect(str(drill.kubeconfig), None), store, options=options)
    missing = ["applications", "gateways", "httproutes"]
    try:
        await sources.start()
        started = time.monotonic()
        await until(lambda: all(state(store, n) == "not_installed" for n in missing)
                    and all(state(store, n) == "connected" for n in
                            ["nodes", "pods", "applicationloadbalancers", "nodemetrics"]),
                    "Argo CD and Gateway API not installed, the rest connected")

        def rechecks() -> int:
            return sum(1 for _, path, _ in drill.server.requests
                       if path == "/apis/argoproj.io")

        await until(lambda: rechecks() >= 3, "three re-checks of Argo CD")
        elapsed = time.monotonic() - started
        assert rechecks() <= elapsed / 0.2 + 2  # one per recheck_interval, not a loop
        hidden = [r for r in drill.server.requests
                  if r[1].startswith(("/apis/argoproj.io/", "/apis/gateway.networking.k8s.io/"))
                  and r[1].count("/") >= 4]
        assert hidden == []  # never listed or watched: discovery said they are missing
        monkeypatch.undo()  # Argo CD and the Gateway API get installed
        await until(lambda: all(state(store, n) == "connected" for n in missing),
                    "the late-installed kinds found and connected")
        assert store.count("applications") == drill.state.count(
            BY_KEY["applications.argoproj.io"])
    finally:
        await sources.stop()


async def test_a_404_collection_is_not_installed_and_rechecked_rarely(
        drill: DrillCluster, conn: KubeConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    hide_groups(monkeypatch, drill)
    drill.server.record_requests = True
    store = Store()
    source = watch_source(conn, store, "applications", recheck_interval=0.2)
    path = default_resource("applications").path()
    started = time.monotonic()
    task = await running(source)
    try:
        def tries() -> int:
            return sum(1 for _, p, _ in drill.server.requests if p == path)

        await until(lambda: tries() >= 3, "three tries of the missing collection")
        assert state(store, "applications") == "not_installed"
        assert time.monotonic() - started >= 0.4  # spaced by recheck_interval
    finally:
        await cancel(task)


# ------------------------------------------------------------------------- namespaces, stop


async def test_namespaced_sources_share_a_kind_without_clobbering_each_other(
        drill: DrillCluster, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    store = Store()
    namespaces = ["payments", "checkout"]
    conn = await connect(str(drill.kubeconfig), None)
    sources = SourceSet(conn, store, namespaces=namespaces, options=FAST,
                        kinds={"nodes", "pods"})
    await sources.start()
    try:
        names = ["nodes", "pods@payments", "pods@checkout", "podmetrics@payments"]
        await until(lambda: all(state(store, n) == "connected" for n in names),
                    "per-namespace sources connected")
        expected = {k for k in state_keys(drill) if k.split("/")[0] in namespaces}
        assert set(store.rows("pods")) == expected
        assert store.health("pods") is None  # no cluster-wide pods source was started
        scoped = {s.name: s for s in sources.sources if isinstance(s, WatchSource)}
        version = store.version
        victim = sorted(k for k in expected if k.startswith("payments/"))[0]
        # Both namespaces' watchers fall behind the compaction and re-list; each re-list
        # must replace its own namespace only.
        drill.state.delete(PODS, "payments", victim.partition("/")[2])
        drill.state.compact()
        await until(lambda: scoped["pods@payments"].lists == 2
                    and scoped["pods@checkout"].lists == 2, "both namespaces re-listed")
        changes = store.changes_since(version)
        assert changes.removed.get("pods") == {victim}
        assert not changes.upserted.get("pods")  # nobody else's rows were dropped and re-added
    finally:
        await sources.stop()
    assert conn.closed
    leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith("controlroom-source")]
    assert leftovers == []
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()
                or "was destroyed but it is pending" in r.getMessage()]


# ------------------------------------------------------------------------- discovery


class FakeApi:
    """A scripted API server for the paths discovery and a source ask for."""

    def __init__(self, docs: dict[str, Any], streams: list[list[bytes] | None] | None = None,
                 ) -> None:
        self.docs = docs
        self.streams = streams or []
        self.asked: list[str] = []

    async def get_raw(self, path: str, params: Any = None) -> bytes:
        self.asked.append(path)
        doc = self.docs.get(path)
        if doc is None:
            raise KubeApiError(404, "NotFound", f"the server could not find {path}")
        if isinstance(doc, KubeError):
            raise doc
        return json.dumps(doc).encode()

    async def open_stream(self, path: str, params: Any = None) -> FakeStream:
        self.asked.append(f"watch {path}")
        lines = self.streams.pop(0) if self.streams else None
        return FakeStream(lines)


class FakeStream:
    """Hands out scripted lines once, then ends (or, for None, stays open and silent)."""

    def __init__(self, lines: list[bytes] | None) -> None:
        self.lines = lines

    async def read_batch(self, *, max_lines: int = 1000, window: float = 0.05) -> list[bytes]:
        if self.lines is None:
            await asyncio.Event().wait()
        batch, self.lines = self.lines or [], []
        return batch

    async def __aenter__(self) -> FakeStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def resources(*entries: tuple[str, bool, list[str]]) -> dict[str, Any]:
    return {"resources": [{"name": n, "namespaced": ns, "verbs": v} for n, ns, v in entries]}


WATCH = ["get", "list", "watch"]


async def test_discovery_picks_served_versions_and_reports_what_is_missing() -> None:
    api = FakeApi({
        "/api/v1": resources(("nodes", False, WATCH), ("pods", True, WATCH),
                             ("events", True, WATCH)),
        "/apis": {"groups": [
            {"name": "apps", "versions": [{"version": "v1"}]},
            {"name": "gateway.networking.k8s.io",
             "versions": [{"version": "v1"}, {"version": "v1beta1"}]},
            {"name": "metrics.k8s.io", "versions": [{"version": "v1"}, {"version": "v1beta1"}]},
            {"name": "argoproj.io", "versions": [{"version": "v1alpha1"}]},
        ]},
        "/apis/apps/v1": resources(("deployments", True, WATCH)),
        # Gateway API before v1.0 was complete: HTTPRoute only in v1beta1.
        "/apis/gateway.networking.k8s.io/v1": resources(("gateways", True, WATCH)),
        "/apis/gateway.networking.k8s.io/v1beta1": resources(("gateways", True, WATCH),
                                                             ("httproutes", True, WATCH)),
        "/apis/metrics.k8s.io/v1": resources(("nodes", False, ["get", "list"]),
                                             ("pods", True, ["get", "list"])),
        "/apis/argoproj.io/v1alpha1": KubeApiError(503, "ServiceUnavailable", "not ready"),
    })
    found = await discover(api)
    paths = {kind: resource.path() for kind, resource in found.resources.items()}
    assert paths == {
        "nodes": "/api/v1/nodes", "pods": "/api/v1/pods", "events": "/api/v1/events",
        "deployments": "/apis/apps/v1/deployments",
        "gateways": "/apis/gateway.networking.k8s.io/v1/gateways",
        "httproutes": "/apis/gateway.networking.k8s.io/v1beta1/httproutes",
        "nodemetrics": "/apis/metrics.k8s.io/v1/nodes",
        "podmetrics": "/apis/metrics.k8s.io/v1/pods",
    }
    assert found.missing == {"replicasets", "applicationloadbalancers"}
    assert set(found.errors) == {"applications"} and "503" in found.errors["applications"]
    assert found.resources["pods"].path("payments") == "/api/v1/namespaces/payments/pods"
    assert found.resources["nodes"].path("payments") == "/api/v1/nodes"
    assert api.asked.count("/apis/gateway.networking.k8s.io/v1beta1") == 1  # cached


async def test_discovery_of_the_drill_cluster(conn: KubeConnection) -> None:
    found = await discover(conn)
    assert not found.missing and not found.errors
    assert found.resources["gateways"].version == "v1"
    assert found.resources["nodemetrics"].path() == "/apis/metrics.k8s.io/v1beta1/nodes"
    assert found.resources["applications"].group_version == "argoproj.io/v1alpha1"


# ------------------------------------------------------------------------- scripted failures


def pod_list(rv: str, *names: str) -> dict[str, Any]:
    return {"kind": "PodList", "metadata": {"resourceVersion": rv},
            "items": [{"metadata": {"name": n, "namespace": "ns", "resourceVersion": rv}}
                      for n in names]}


async def test_an_undecodable_event_is_an_error_then_a_relist() -> None:
    api = FakeApi({"/api/v1/pods": pod_list("5", "a", "b")},
                  streams=[[b'{"type": "ADDED", "object": {"metadata": {"name": 7}}}'], None])
    store = RecordingStore()
    source = WatchSource(api, store, "pods", "/api/v1/pods", backoff_initial=0.01,
                         backoff_cap=0.05, rng=random.Random(1))
    task = asyncio.create_task(source.run())
    try:
        await until(lambda: source.lists == 2 and state(store, "pods") == "connected",
                    "a re-list after the bad event")
        assert store.states["pods"] == ["connecting", "connected", "error", "connected"]
        assert set(store.rows("pods")) == {"ns/a", "ns/b"}
    finally:
        await cancel(task)


async def test_a_410_error_event_relists_and_other_errors_resume() -> None:
    expired = (b'{"type": "ERROR", "object": {"kind": "Status", "code": 410, '
               b'"reason": "Expired", "message": "too old resource version"}}')
    busy = (b'{"type": "ERROR", "object": {"kind": "Status", "code": 500, '
            b'"reason": "InternalError", "message": "etcd hiccup"}}')
    bookmark = b'{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}'
    api = FakeApi({"/api/v1/pods": pod_list("5", "a")},
                  streams=[[bookmark, busy], [expired], None])
    store = RecordingStore()
    source = WatchSource(api, store, "pods", "/api/v1/pods", backoff_initial=0.01,
                         backoff_cap=0.05, rng=random.Random(1))
    task = asyncio.create_task(source.run())
    try:
        await until(lambda: source.lists == 2 and api.asked.count("watch /api/v1/pods") == 3,
                    "resume after the 500, re-list after the 410")
        assert api.asked == ["/api/v1/pods", "watch /api/v1/pods", "watch /api/v1/pods",
                             "/api/v1/pods", "watch /api/v1/pods"]
        assert "stale" in store.states["pods"]  # the 500 counted as a loss, rows kept
    finally:
        await cancel(task)


# ------------------------------------------------------------------------- metrics


async def test_metrics_poll_replaces_the_set_each_round(drill: DrillCluster,
                                                        conn: KubeConnection) -> None:
    store = Store()
    poller = MetricsPoller(conn, store, interval=0.05)
    task = asyncio.create_task(poller.run())
    pod_metrics = BY_KEY["pods.metrics.k8s.io"]
    try:
        await until(lambda: state(store, "podmetrics") == "connected"
                    and state(store, "nodemetrics") == "connected", "metrics connected")
        assert set(store.rows("podmetrics")) == state_keys(drill, pod_metrics)
        gone = sorted(state_keys(drill, pod_metrics))[0]
        namespace, _, name = gone.partition("/")
        drill.state.delete(pod_metrics, namespace, name)
        await until(lambda: gone not in store.rows("podmetrics"), "the stopped pod's metrics")
        assert set(store.rows("podmetrics")) == state_keys(drill, pod_metrics)
        row = store.get("nodemetrics", sorted(state_keys(drill, BY_KEY["nodes.metrics.k8s.io"]))[0])
        assert isinstance(row, NodeMetricsRow) and row.cpu_m > 0 and row.memory > 0
    finally:
        await cancel(task)


async def test_metrics_without_metrics_server_is_not_installed(
        drill: DrillCluster, conn: KubeConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    hide_groups(monkeypatch, drill, ("metrics.k8s.io",))
    drill.server.record_requests = True
    store = Store()
    poller = MetricsPoller(conn, store, interval=0.05, recheck_interval=60.0)
    task = asyncio.create_task(poller.run())
    try:
        await until(lambda: state(store, "nodemetrics") == "not_installed"
                    and state(store, "podmetrics") == "not_installed", "metrics not installed")
        assert [p for _, p, _ in drill.server.requests] == ["/apis/metrics.k8s.io"] * 2
    finally:
        await cancel(task)
