"""The store: upsert/delete/re-list semantics, compact change sets, and derived indexes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from backends.model import NodeRow, PodRow, ReplicaSetRow
from backends.store import Store


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def node(name: str, ready: str = "True") -> NodeRow:
    return NodeRow(key=name, name=name, ready=ready)


def pod(name: str, ns: str = "ns", **fields: Any) -> PodRow:
    values: dict[str, Any] = {
        "uid": f"uid-{name}",
        "phase": "Running",
        "status": "Running",
        "ready_containers": 1,
        "total_containers": 1,
        "created": 900.0,
    }
    values.update(fields)
    return PodRow(key=f"{ns}/{name}", namespace=ns, name=name, **values)


def rs(name: str, deployment: str, ns: str = "ns") -> ReplicaSetRow:
    return ReplicaSetRow(
        key=f"{ns}/{name}",
        namespace=ns,
        name=name,
        owner_kind="Deployment",
        owner_name=deployment,
        deployment=deployment,
    )


def replace(row: PodRow, **changes: Any) -> PodRow:
    return msgspec.structs.replace(row, **changes)


# ---------------------------------------------------------------- upsert / delete / replace


def test_upsert_modify_delete() -> None:
    store = Store()
    a = node("a")
    assert store.apply("nodes", [("ADDED", a)]) == 1
    assert store.get("nodes", "a") is a and store.count("nodes") == 1
    assert store.version == 1
    b = node("a", ready="False")
    assert store.apply("nodes", [("MODIFIED", b)]) == 1
    assert store.get("nodes", "a") is b
    assert store.apply("nodes", [("DELETED", b)]) == 1
    assert store.get("nodes", "a") is None and store.count("nodes") == 0
    assert store.version == 3
    assert dict(store.rows("nodes")) == {}


def test_identical_modification_is_not_a_change() -> None:
    store = Store()
    store.apply("nodes", [("ADDED", node("a"))])
    version = store.version
    # An equal but distinct row (e.g. a heartbeat that changes nothing we show).
    assert store.apply("nodes", [("MODIFIED", node("a"))]) == 0
    assert store.version == version
    assert store.changes_since(version).is_empty


def test_delete_of_unknown_key_is_ignored_and_bad_op_raises() -> None:
    store = Store()
    assert store.apply("nodes", [("DELETED", node("ghost"))]) == 0
    with pytest.raises(ValueError, match="BOOKMARK"):
        store.apply("nodes", [("BOOKMARK", node("a"))])  # type: ignore[list-item]


def test_rows_view_is_read_only_and_live() -> None:
    store = Store()
    view = store.rows("nodes")  # before the kind has any row
    store.apply("nodes", [("ADDED", node("a"))])
    assert list(view) == ["a"]
    with pytest.raises(TypeError):
        view["b"] = node("b")  # type: ignore[index]


def test_relist_removes_ghosts_without_marking_unchanged_rows() -> None:
    store = Store()
    store.replace("nodes", [node("a"), node("b"), node("c")])
    seen = store.version
    changed = store.replace("nodes", [node("a"), node("b", ready="False"), node("d")])
    assert changed == 3  # b modified, c removed, d added; a untouched
    changes = store.changes_since(seen)
    assert not changes.full
    assert changes.upserted == {"nodes": frozenset({"b", "d"})}
    assert changes.removed == {"nodes": frozenset({"c"})}
    assert set(store.rows("nodes")) == {"a", "b", "d"}


def test_relist_keeps_rows_that_failed_to_decode() -> None:
    store = Store()
    store.replace("nodes", [node("a"), node("b")])
    store.replace("nodes", [node("a")], keep=("b",))
    assert set(store.rows("nodes")) == {"a", "b"}
    store.clear("nodes")
    assert store.count("nodes") == 0


# ---------------------------------------------------------------- change sets


def test_change_sets_are_compacted() -> None:
    store = Store()
    store.apply("pods", [("ADDED", pod("keep")), ("ADDED", pod("gone"))])
    seen = store.version
    events: list[tuple[Any, PodRow]] = [
        ("MODIFIED", pod("keep", restarts=i, problem=False)) for i in range(1, 50)
    ]
    events += [("ADDED", pod("flash")), ("DELETED", pod("flash"))]
    events += [("DELETED", pod("gone")), ("ADDED", pod("gone", phase="Pending"))]
    store.apply("pods", events)
    changes = store.changes_since(seen)
    assert changes.upserted == {"pods": frozenset({"ns/keep", "ns/gone"})}
    assert changes.removed == {"pods": frozenset({"ns/flash"})}
    assert changes.version == store.version
    assert store.changes_since(changes.version).is_empty


def test_changes_are_per_kind_and_stop_at_the_consumer_version() -> None:
    store = Store()
    store.apply("nodes", [("ADDED", node("a"))])
    store.apply("pods", [("ADDED", pod("p"))])
    first = store.changes_since(0)
    assert first.upserted == {"nodes": frozenset({"a"}), "pods": frozenset({"ns/p"})}
    store.apply("nodes", [("ADDED", node("b"))])
    assert store.changes_since(first.version).upserted == {"nodes": frozenset({"b"})}


def test_consumer_too_far_behind_gets_a_full_change_set() -> None:
    store = Store(tombstone_limit=2)
    store.replace("nodes", [node(n) for n in "abcdef"])
    old = store.version
    for name in "abc":
        store.apply("nodes", [("DELETED", node(name))])
    changes = store.changes_since(old)
    assert changes.full
    assert changes.upserted == {"nodes": frozenset("def")}
    assert changes.removed == {}
    # A consumer that saw the first deletion is still served incrementally.
    recent = store.changes_since(old + 1)
    assert not recent.full
    assert recent.removed == {"nodes": frozenset("bc")}


def test_version_from_the_future_or_negative_is_full() -> None:
    store = Store()
    store.apply("nodes", [("ADDED", node("a"))])
    assert store.changes_since(99).full
    assert store.changes_since(-1).full


class CountingStamps(dict[str, int]):
    """A store's stamp table that counts the entries a newest-first walk visits."""

    visited = 0

    def items(self) -> Any:
        entries = super().items()
        table = self

        class NewestFirst:
            def __iter__(self) -> Iterator[tuple[str, int]]:
                return iter(entries)

            def __reversed__(self) -> Iterator[tuple[str, int]]:
                for entry in reversed(entries):
                    table.visited += 1
                    yield entry

        return NewestFirst()


def test_changes_since_is_proportional_to_changes() -> None:
    """The work is counted, not timed: ``changes_since`` visits the changed entries (and the
    one older entry that stops the walk), never the 30,000 unchanged pods."""
    store = Store()
    store.replace("pods", [pod(f"p{i}", node=f"n{i % 100}") for i in range(30_000)])
    stamps = CountingStamps(store._stamps["pods"])  # noqa: SLF001
    store._stamps["pods"] = stamps  # noqa: SLF001
    seen = store.version
    store.apply("pods", [("MODIFIED", pod("p7", restarts=1))])
    changes = store.changes_since(seen)
    assert changes.upserted == {"pods": frozenset({"ns/p7"})}
    assert stamps.visited == 2, stamps.visited  # p7, then the newest unchanged pod: stop
    stamps.visited = 0
    store.apply("pods", [("MODIFIED", pod(f"p{i}", restarts=2)) for i in range(10)])
    changes = store.changes_since(seen)
    assert changes.upserted == {"pods": frozenset(f"ns/p{i}" for i in range(10))}
    assert stamps.visited == 11, stamps.visited  # ten changed, one to stop
    assert store._stamps["pods"] is stamps  # noqa: SLF001 - the count saw the real table


# ---------------------------------------------------------------- indexes


def test_pods_by_node_follow_updates_and_deletes() -> None:
    store = Store()
    store.apply("pods", [("ADDED", pod("a", node="n1")), ("ADDED", pod("b", node="n1"))])
    assert store.pods_on_node("n1") == {"ns/a", "ns/b"}
    store.apply("pods", [("MODIFIED", pod("a", node="n2"))])
    assert store.pods_on_node("n1") == {"ns/b"}
    assert store.pods_on_node("n2") == {"ns/a"}
    store.replace("pods", [pod("a", node="n2")])
    assert store.pods_on_node("n1") == frozenset()


def test_pods_resolve_to_deployments_when_replicasets_arrive_late() -> None:
    store = Store()
    owned = {"owner_kind": "ReplicaSet", "owner_name": "web-abc"}
    store.apply(
        "pods", [("ADDED", pod("web-abc-1", **owned)), ("ADDED", pod("web-abc-2", **owned))]
    )
    assert store.pods_of_owner("ReplicaSet", "ns", "web-abc") == {"ns/web-abc-1", "ns/web-abc-2"}
    assert store.pods_of_deployment("ns/web") == frozenset()
    assert store.deployment_of_pod("ns/web-abc-1") is None
    # The ReplicaSet arrives after its pods.
    store.apply("replicasets", [("ADDED", rs("web-abc", "web")), ("ADDED", rs("web-old", "web"))])
    assert store.pods_of_deployment("ns/web") == {"ns/web-abc-1", "ns/web-abc-2"}
    assert store.deployment_of_pod("ns/web-abc-1") == "ns/web"
    assert store.replicasets_of_deployment("ns/web") == {"ns/web-abc", "ns/web-old"}
    # Same names in another namespace do not leak in.
    store.apply("pods", [("ADDED", pod("web-abc-9", ns="other", **owned))])
    assert "other/web-abc-9" not in store.pods_of_deployment("ns/web")
    store.apply("replicasets", [("DELETED", rs("web-abc", "web"))])
    assert store.pods_of_deployment("ns/web") == frozenset()
    assert store.replicasets_of_deployment("ns/web") == {"ns/web-old"}


def test_problem_pods() -> None:
    clock = Clock(1_000.0)
    store = Store(clock=clock)
    crash = pod("crash", status="CrashLoopBackOff", ready_containers=0, problem=True, restarts=3)
    unready = pod("unready", ready_containers=0, problem=True)
    pending = pod("pending", phase="Pending", status="Pending", created=990.0)
    fine = pod("fine")
    store.replace("pods", [crash, unready, pending, fine])
    problems = store.problem_pods(pending_after=60)
    assert problems == {"ns/crash": "CrashLoopBackOff", "ns/unready": "NotReady 0/1"}
    clock.now = 1_200.0
    assert store.problem_pods(pending_after=60)["ns/pending"] == "Pending 3m"
    store.apply("pods", [("MODIFIED", replace(pending, phase="Running", status="Running"))])
    assert "ns/pending" not in store.problem_pods(pending_after=60)
    store.apply("pods", [("DELETED", crash)])
    assert "ns/crash" not in store.problem_pods()


def test_pending_without_creation_time_counts_from_first_sight() -> None:
    clock = Clock(1_000.0)
    store = Store(clock=clock)
    waiting = pod("w", phase="Pending", status="ContainerCreating", created=0.0)
    store.apply("pods", [("ADDED", waiting)])
    clock.now = 1_030.0
    store.apply("pods", [("MODIFIED", replace(waiting, status="Pending"))])
    clock.now = 1_100.0
    assert store.problem_pods(pending_after=90) == {"ns/w": "Pending 100s"}


def test_restarts_rising_since_first_seen() -> None:
    store = Store()
    # 896 restarts when first seen: old news, not a problem by itself.
    veteran = pod("veteran", restarts=896)
    store.apply("pods", [("ADDED", veteran)])
    assert store.problem_pods() == {}
    assert store.restart_baseline("uid-veteran") == 896
    store.apply("pods", [("MODIFIED", replace(veteran, restarts=898))])
    assert store.problem_pods() == {"ns/veteran": "restarts +2"}
    crashing = replace(veteran, restarts=899, status="CrashLoopBackOff", problem=True)
    store.apply("pods", [("MODIFIED", crashing)])
    assert store.problem_pods() == {"ns/veteran": "CrashLoopBackOff, restarts +3"}
    # A re-list keeps the baseline: same uid, same pod.
    store.replace("pods", [crashing])
    assert store.restart_baseline("uid-veteran") == 896
    # A new pod with the same name (StatefulSet) starts a new baseline.
    reborn = pod("veteran", uid="uid-new", restarts=1)
    store.apply("pods", [("MODIFIED", reborn)])
    assert store.restart_baseline("uid-veteran") is None
    assert store.restart_baseline("uid-new") == 1
    assert store.problem_pods() == {}
    store.apply("pods", [("DELETED", reborn)])
    assert store.restart_baseline("uid-new") is None


# ---------------------------------------------------------------- source health


def test_first_lists_loading_counts_cluster_kinds_only() -> None:
    store = Store()
    assert not store.first_lists_loading(), "nothing reported yet: nothing loading"
    store.set_health("prometheus", "connecting")
    store.set_health("mqtt", "connecting")
    assert not store.first_lists_loading(), "alert sources and the bus are not cluster kinds"
    store.set_health("pods@payments", "connecting")
    store.set_health("nodes", "connected")
    assert store.first_lists_loading(), "a namespaced pods source still on its first list"
    store.set_health("pods@payments", "connected")
    assert not store.first_lists_loading()
    store.set_health("pods@payments", "stale", "watch lost")
    assert not store.first_lists_loading(), "a lost watch is stale, not a first list"


def test_source_health_is_part_of_the_change_set() -> None:
    clock = Clock(1_000.0)
    store = Store(clock=clock)
    seen = store.version
    store.set_health("pods", "connecting")
    store.set_health("pods", "connected")
    changes = store.changes_since(seen)
    assert changes.health["pods"].state == "connected"
    assert changes.health["pods"].since == 1_000.0
    seen = changes.version

    clock.now = 1_010.0
    store.note_event("pods")
    health = store.health("pods")
    assert health is not None and health.last_event == 1_010.0
    assert set(store.changes_since(seen).health) == {"pods"}

    clock.now = 1_020.0
    store.set_health("pods", "stale", "watch closed \x1b[31m")
    clock.now = 1_030.0
    stale = store.set_health("pods", "stale", "watch closed again")
    assert (stale.since, stale.error, stale.last_event) == (1_020.0, "watch closed again", 1_010.0)
    assert store.set_health("pods", "stale", "watch closed again") == stale
    before = store.version
    store.set_health("pods", "stale", "watch closed again")
    assert store.version == before  # no change, no version bump
    assert set(store.all_health()) == {"pods"}
    assert store.changes_since(-1).health["pods"] == stale
