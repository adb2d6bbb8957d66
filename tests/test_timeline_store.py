"""Issue 17, point 1 (storage): the timeline file's writer and reader on their own.

Retention and the size budget prune the oldest first and keep the newest keyframe a replay
needs; one writer per file; the filters of ``read_entries``; a frame's patch brings a row
exactly to its new state (a replay is only as right as its patches). Point 6 (disk): an
entry's body is its fields as an array, not a map repeating every field name; the texts of
the filter columns are stored once and a commit's entries compressed together (format 3); a
file of an older format is refused with an error naming its version, never misread; a
damaged entry block is named, never skipped.
"""

from __future__ import annotations

import sqlite3
import time
import zlib
from pathlib import Path

import msgspec
import pytest

from backends.model import ContainerInfo, PodRow
from backends.timeline import writer as tl
from backends.timeline.entry import TimelineEntry
from backends.timeline.frames import diff_fields, encode_frame, patch_row
from backends.timeline.store import (
    TimelineBusy,
    TimelineFileError,
    TimelineReader,
    read_entries,
)
from backends.timeline.writer import TimelineWriter


def entry(at: float, name: str = "web", **fields: object) -> TimelineEntry:
    base: dict[str, object] = {"context": "c", "kind": "spec", "namespace": "ns",
                               "object_kind": "Deployment"}
    return TimelineEntry(at=at, seen=at, name=name, **{**base, **fields})  # type: ignore[arg-type]


def test_retention_and_size_budget_prune_the_oldest_and_keep_the_newest_keyframe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    path = tmp_path / "c.timeline"
    writer = TimelineWriter(path, "c", retention=3600.0)
    writer.append([entry(now - 7200 + i, name=f"old-{i}") for i in range(50)])
    writer.append([entry(now - 60 + i, name=f"new-{i}") for i in range(50)])
    writer.append_frame(now - 7000, "key", b"old keyframe")
    writer.append_frame(now - 6000, "key", b"newest keyframe, before the cutoff")
    writer.append_frame(now - 6000 + 1, "delta", b"old delta")
    writer.close()
    monkeypatch.setattr(tl, "PRUNE_SECONDS", 0.0)
    writer = TimelineWriter(path, "c", retention=3600.0)
    writer.append([entry(now, name="last")])
    writer.flush()
    names = [e.name for e in read_entries(path, newest_first=False)]
    assert names == [f"new-{i}" for i in range(50)] + ["last"]
    with TimelineReader(path) as reader:
        key = reader.keyframe_before(now)
        assert key is not None and key[1] == b"newest keyframe, before the cutoff"
    writer.close()
    # The size budget: far too small, so the oldest go, a tenth at a time, never all at once.
    big = TimelineWriter(path, "c", retention=1e9, max_bytes=1)
    big.append([entry(now + i, detail="x" * 2000) for i in range(200)])
    big.close()
    left = read_entries(path, newest_first=False)
    assert 0 < len(left) < 251 and left[-1].at == now + 199
    with sqlite3.connect(path) as conn:  # the blocks of the entries pruned went with them
        (orphans,) = conn.execute("SELECT count(*) FROM blocks WHERE id < "
                                  "(SELECT min(block) FROM entries)").fetchone()
    conn.close()
    assert orphans == 0


def test_one_writer_per_file_and_the_filters(tmp_path: Path) -> None:
    path = tmp_path / "c.timeline"
    writer = TimelineWriter(path, "c")
    with pytest.raises(TimelineBusy, match="another process is recording"):
        TimelineWriter(path, "c")
    t = time.time()
    writer.append([entry(t + 1, app="checkout", actor="argocd (automated)"),
                   entry(t + 2, name="db", namespace="data", app="data", actor="kubectl"),
                   entry(t + 3, app="checkout", actor="controlroom: alice", kind="journal")])
    writer.flush()

    def at(**filters: object) -> list[float]:
        return [e.at - t for e in read_entries(path, **filters)]  # type: ignore[arg-type]

    assert at() == [3.0, 2.0, 1.0]
    assert at(app="checkout", newest_first=False) == [1.0, 3.0]
    assert at(actor="ARGOCD") == [1.0]
    assert at(namespace="data") == [2.0]
    assert at(kinds=["journal"]) == [3.0]
    assert at(since=t + 1.5, until=t + 2.5) == [2.0]
    assert at(limit=1) == [3.0]
    assert at(kinds=[]) == []
    writer.close()


def test_a_patch_brings_a_row_exactly_to_its_new_state() -> None:
    old = PodRow(key="ns/p", namespace="ns", name="p", status="Running", ready_containers=1,
                 total_containers=2, restarts=3, containers=(
                     ContainerInfo(name="app", ready=True, restarts=3, state="running"),
                     ContainerInfo(name="side", ready=True)))
    new = msgspec.structs.replace(old, status="CrashLoopBackOff", ready_containers=0,
                                  restarts=4, containers=(
                                      ContainerInfo(name="app", restarts=4, state="waiting",
                                                    reason="CrashLoopBackOff"),
                                      old.containers[1]))
    patch = diff_fields(old, new)
    assert {PodRow.__struct_fields__[i] for i in patch} == {
        "status", "ready_containers", "restarts", "containers"}
    assert patch_row(old, patch) == new
    whole = encode_frame(1.0, {"pods": [new]})
    patched = encode_frame(1.0, {"pods": [new]}, before={"pods": {old.key: old}})
    assert len(patched) < len(whole)


def test_the_drill_keeps_managed_fields_as_a_real_server() -> None:
    """Who wrote what (drill/managed.py): the request's fieldManager, else the User-Agent's
    first part; an update moves the ownership of what it changed; status writes stay apart."""
    from drill.managed import manager_of_request, stamp

    assert manager_of_request("", "kubectl/v1.31.0 (linux/amd64) kubernetes/abc",
                              "application/merge-patch+json") == ("kubectl", "Update")
    assert manager_of_request("helm", "Go-http-client/1.1",
                              "application/apply-patch+yaml") == ("helm", "Apply")
    created = {"metadata": {"name": "web"}, "spec": {"replicas": 1}}
    stamp(created, None, ("helm", "Apply"), "2026-12-07T14:00:00Z", api_version="apps/v1")
    changed = {"metadata": {**created["metadata"]}, "spec": {"replicas": 3}}
    stamp(changed, created, ("kubectl", "Update"), "2026-12-07T14:01:00Z",
          api_version="apps/v1")
    annotated = {"metadata": {**changed["metadata"], "annotations": {"rev": "2"}},
                 "spec": {"replicas": 3}}
    stamp(annotated, changed, ("kube-controller-manager", "Update"), "2026-12-07T14:01:00Z",
          api_version="apps/v1")
    owners = {e["manager"]: set(e["fieldsV1"]) for e in annotated["metadata"]["managedFields"]}
    assert owners == {"kubectl": {"f:spec"}, "kube-controller-manager": {"f:metadata"}}
    # The control room's decoder names the spec's owner, not the controller that annotated
    # after it (the newest entry by time, but without the spec).
    import json

    from backends.kube.decode import decode_object
    from backends.model import DeploymentRow

    body = {"apiVersion": "apps/v1", "kind": "Deployment", **annotated}
    body["metadata"] = {**annotated["metadata"], "namespace": "ns"}
    row = decode_object("deployments", json.dumps(body).encode())
    assert isinstance(row, DeploymentRow) and row.last_manager == "kubectl (Update)"


def test_entries_are_stored_compactly_and_an_older_format_is_named_not_misread(
        tmp_path: Path) -> None:
    path = tmp_path / "c.timeline"
    writer = TimelineWriter(path, "c")
    full = entry(time.time(), app="checkout", workload="Deployment/web", change="restarts +3",
                 actor="kubelet", actor_kind="system", severity="Warning",
                 detail="3 pod(s): web-1, web-2, web-3")
    writer.append([full])
    writer.close()
    assert read_entries(path) == [full]  # exact round trip, every field
    with sqlite3.connect(path) as conn:
        (block,) = conn.execute("SELECT body FROM blocks").fetchone()
    conn.close()
    assert b"detail" not in zlib.decompress(block)  # no field names stored
    with sqlite3.connect(path) as conn:  # what a file of the first format says of itself
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(TimelineFileError, match=r"schema version 1 \(recorded by an older "
                       r"controlroom\), this controlroom reads 3"):
        read_entries(path)
    with pytest.raises(TimelineFileError, match="schema version 1"):
        TimelineWriter(path, "c")  # nor appended to in the new format
    with sqlite3.connect(path) as conn:  # format 2: texts in every row, no strings table
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(TimelineFileError, match=r"schema version 2 \(recorded by an older "
                       r"controlroom\), this controlroom reads 3"):
        read_entries(path)
    with pytest.raises(TimelineFileError, match="schema version 2"):
        TimelineWriter(path, "c")


def test_repeated_texts_are_stored_once_and_a_reader_open_meanwhile_reads_new_ones(
        tmp_path: Path) -> None:
    """Format 3: namespace, app, workload, actor... are one row of the strings table each,
    however many entries name them, and a commit's entries are compressed together; a
    reader opened before the writer added a string (the replay's, the timeline screen's)
    still finds the entries that use it."""
    path = tmp_path / "c.timeline"
    writer = TimelineWriter(path, "c")
    now = time.time()
    flood = [entry(now + i, name=f"app-{i % 3}", app="checkout",
                   workload=f"Deployment/app-{i % 3}", kind="pods", object_kind="Pod",
                   actor="kubelet", actor_kind="system", severity="Warning",
                   change=f"restarts +{i}", detail=f"{i} pod(s)") for i in range(300)]
    writer.append(flood)
    writer.flush()
    with sqlite3.connect(path) as conn:
        (strings,) = conn.execute("SELECT count(*) FROM strings").fetchone()
        (block,) = conn.execute("SELECT body FROM blocks LIMIT 1").fetchone()
    conn.close()
    assert strings < 20  # not one per entry
    assert len(block) < 300 * 15  # 300 entries compressed together: a few bytes each
    with TimelineReader(path) as reader:
        assert reader.entries(newest_first=False) == flood
        late = entry(now + 1000, name="late", namespace="new-ns", app="new-app", actor="alice")
        writer.append([late])
        writer.flush()
        assert reader.entries(app="new-app") == [late]
        assert reader.entries(actor="ALI") == [late]
        assert reader.entries(namespace="nowhere") == []
        assert len(reader.entries(kinds=["pods"])) == 300
    writer.close()


def test_an_entry_whose_block_is_damaged_or_missing_is_named_never_skipped(
        tmp_path: Path) -> None:
    path = tmp_path / "c.timeline"
    writer = TimelineWriter(path, "c")
    now = time.time()
    writer.append([entry(now, app="checkout"), entry(now + 1, name="other")])
    writer.close()
    with sqlite3.connect(path) as conn:
        (block,) = conn.execute("SELECT body FROM blocks").fetchone()
        conn.execute("UPDATE blocks SET body = ?", (block[:-9],))  # cut short
    conn.close()
    with pytest.raises(TimelineFileError, match="corrupt entry block"):
        read_entries(path, name="other")
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM blocks")
    conn.close()
    with pytest.raises(TimelineFileError, match="corrupt entry: its block or its place in it "
                       "is missing"):
        read_entries(path)


def test_the_demo_records_into_a_fresh_file_and_moves_the_last_run_aside(tmp_path: Path) -> None:
    """``controlroom demo`` records its timeline like a real cluster (``i`` shows it), into a
    file new for the run: the last run's file, with its WAL, is moved aside, never deleted."""
    from tui.run import fresh_demo_timeline

    first = fresh_demo_timeline(tmp_path, "drill")
    assert not first.exists() and first == tmp_path / "timeline" / "drill.timeline"
    first.parent.mkdir(parents=True)
    first.write_bytes(b"last run")
    Path(f"{first}-wal").write_bytes(b"last run's wal")
    again = fresh_demo_timeline(tmp_path, "drill")
    assert again == first and not again.exists() and not Path(f"{first}-wal").exists()
    kept = sorted(p.name for p in first.parent.iterdir())
    assert len(kept) == 2 and all(n.startswith("drill-") for n in kept), kept
    aside = next(first.parent.glob("drill-*.timeline"))
    assert aside.read_bytes() == b"last run"
    assert Path(f"{aside}-wal").read_bytes() == b"last run's wal"
