"""The write journal: durable settings, filtering, open operations, corrupt files, CLI view."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from backends.ops import journal as journal_mod
from backends.ops.journal import (
    SCHEMA_VERSION,
    Journal,
    JournalCorrupt,
    JournalDB,
    JournalEntry,
    JournalError,
    default_journal_path,
)
from backends.ops.journal_view import format_entries, parse_since

T0 = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


class FakeClock:
    """A wall clock the test moves by hand, so ``since`` filters are exact."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db(tmp_path: Path, clock: FakeClock) -> Iterator[JournalDB]:
    journal = JournalDB.open(tmp_path / "state" / "journal.sqlite3", clock=clock)
    try:
        yield journal
    finally:
        journal.close()


def add(db: JournalDB, **kw: object) -> int:
    """Append with defaults for the fields a test does not care about."""
    fields: dict[str, object] = dict(
        operator="alice", context="prod-aks", action="patch scale", kind="Deployment",
        namespace="checkout", name="web", prior={"replicas": 3}, intent={"replicas": 0},
        reason="INC-42")
    fields.update(kw)
    return db.append(**fields)  # type: ignore[arg-type]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- durability


def test_wal_mode_and_full_sync_are_in_force(db: JournalDB) -> None:
    assert db.pragmas() == {"journal_mode": "wal", "synchronous": 2,
                            "user_version": SCHEMA_VERSION}
    # WAL is a property of the file: another connection sees it too.
    other = sqlite3.connect(db.path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()


def test_new_journal_is_private_to_the_operator(db: JournalDB) -> None:
    assert stat.S_IMODE(db.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.path.parent.stat().st_mode) == 0o700


def test_a_committed_row_is_visible_to_another_connection_at_once(db: JournalDB) -> None:
    """append() returns only after COMMIT: a second connection (another process, in real
    life) reads the pending row with its prior state."""
    entry_id = add(db, operation_id="op-1", step="scale-down")
    other = sqlite3.connect(f"file:{db.path}?mode=ro", uri=True)
    try:
        row = other.execute("SELECT status, prior_json FROM entries WHERE id = ?",
                            (entry_id,)).fetchone()
    finally:
        other.close()
    assert row == ("pending", '{"replicas":3}')


def test_append_finish_get_round_trip(db: JournalDB, clock: FakeClock) -> None:
    entry_id = add(db, operation_id="op-1", step="scale-down", method="PATCH",
                   path="/apis/apps/v1/namespaces/checkout/deployments/web/scale",
                   prior={"automated": {"prune": True, "selfHeal": True}})
    entry = db.get(entry_id)
    assert entry is not None
    assert entry.status == "pending" and entry.finished_ts is None
    assert entry.prior == {"automated": {"prune": True, "selfHeal": True}}
    assert entry.ts == T0 and entry.operator == "alice" and entry.target == "Deployment checkout/web"
    assert entry.outcome_unknown and entry.may_have_applied

    clock.advance(seconds=2)
    db.finish(entry_id, "done", {"status": 200, "resourceVersion": "12"})
    db.finish(entry_id, "verified", verification="replicas=0 read back")
    entry = db.get(entry_id)
    assert entry is not None
    assert entry.status == "verified"
    assert entry.result == {"status": 200, "resourceVersion": "12"}  # kept by the 2nd finish
    assert entry.verification == "replicas=0 read back"
    assert entry.finished_ts == T0 + timedelta(seconds=2)
    assert db.get(entry_id + 100) is None


def test_finish_refuses_nonsense(db: JournalDB) -> None:
    entry_id = add(db)
    with pytest.raises(ValueError, match="pending"):
        db.finish(entry_id, "pending")
    with pytest.raises(JournalError, match="no entry 999"):
        db.finish(999, "done")


def test_a_prior_state_that_is_not_json_is_refused_before_anything_is_written(
        db: JournalDB) -> None:
    with pytest.raises(TypeError):
        add(db, prior={"when": datetime.now(UTC)})
    assert db.entries() == []


def test_reopening_keeps_rows_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with JournalDB.open(path) as first:
        entry_id = add(first)
    with JournalDB.open(path) as second:
        entry = second.get(entry_id)
        assert entry is not None and entry.prior == {"replicas": 3}
        assert second.pragmas()["user_version"] == SCHEMA_VERSION


def test_closed_journal_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = JournalDB.open(path)
    journal.close()
    with pytest.raises(JournalError, match=str(path)):
        add(journal)


# --------------------------------------------------------------------------- reading


def test_entries_filter_by_since_context_and_operation(db: JournalDB,
                                                       clock: FakeClock) -> None:
    a = add(db, context="prod-aks", operation_id="op-1")
    clock.advance(minutes=30)
    b = add(db, context="staging", operation_id="op-2")
    clock.advance(minutes=30)
    c = add(db, context="prod-aks", operation_id="op-1")

    assert [e.id for e in db.entries()] == [a, b, c]
    assert [e.id for e in db.entries(since=T0 + timedelta(minutes=30))] == [b, c]
    assert [e.id for e in db.entries(since=T0 + timedelta(minutes=31))] == [c]
    assert [e.id for e in db.entries(context="prod-aks")] == [a, c]
    assert [e.id for e in db.entries(operation_id="op-2")] == [b]
    assert [e.id for e in db.entries(since=T0 + timedelta(minutes=1), context="prod-aks",
                                     operation_id="op-1")] == [c]
    assert [e.id for e in db.entries(limit=2)] == [b, c]
    # A since with another zone is the same instant.
    paris = datetime(2026, 11, 26, 11, 30, tzinfo=timezone(timedelta(hours=1)))
    assert [e.id for e in db.entries(since=paris)] == [b, c]


def test_open_operations_are_the_unreleased_ones_that_may_have_changed_something(
        db: JournalDB) -> None:
    # op-done: a breaker that finished its steps and was never released.
    pause = add(db, operation_id="op-done", step="pause-sync", action="patch",
                kind="Application", prior={"automated": {"selfHeal": True}})
    db.finish(pause, "verified", verification="auto-sync off")
    scale = add(db, operation_id="op-done", step="scale-down")
    db.finish(scale, "done", {"status": 200})
    # op-crash: killed while sending: a pending step.
    crash = add(db, operation_id="op-crash", step="scale-down")
    # op-lost: no answer from the server: may have applied.
    lost = add(db, operation_id="op-lost")
    db.finish(lost, "failed", {"outcome_unknown": True, "error": "connection reset"})
    # op-refused: nothing ever reached the cluster.
    add(db, operation_id="op-refused", status="refused", result={"refused": "read-only"})
    failed = add(db, operation_id="op-refused")
    db.finish(failed, "failed", {"status": 409, "reason": "Conflict"})
    # op-released: restored and released.
    released = add(db, operation_id="op-released")
    db.finish(released, "done")
    db.release("op-released", context="prod-aks", operator="bob", reason="restored")
    db.release("op-released", context="prod-aks", operator="bob")  # idempotent
    # Other context, and a standalone write without an operation.
    add(db, context="staging", operation_id="op-other")
    add(db)

    ops = {op.operation_id: op for op in db.open_operations("prod-aks")}
    assert list(ops) == ["op-done", "op-crash", "op-lost"]
    assert [s.id for s in ops["op-done"].to_restore] == [scale, pause]
    assert ops["op-done"].unsettled == ()
    assert ops["op-done"].steps[0].prior == {"automated": {"selfHeal": True}}
    assert [s.id for s in ops["op-crash"].unsettled] == [crash]
    assert [s.id for s in ops["op-lost"].unsettled] == [lost]
    assert ops["op-done"].started == T0
    assert [op.operation_id for op in db.open_operations("staging")] == ["op-other"]


# --------------------------------------------------------------------------- bad files


@pytest.mark.parametrize("content", [
    b"this is not an sqlite database at all\n" * 200,
    b"SQLite format 3\x00" + b"\xff" * 4080,  # right magic, garbage header
])
def test_corrupt_file_is_a_clear_error_and_is_left_untouched(tmp_path: Path,
                                                             content: bytes) -> None:
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(content)
    before = sha(path)
    with pytest.raises(JournalCorrupt) as info:
        JournalDB.open(path)
    assert str(path) in str(info.value)
    assert "left untouched" in str(info.value)
    assert path.exists() and sha(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.sqlite3"]  # no -wal, -shm


async def test_corrupt_file_through_the_async_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"\x00garbage" * 512)
    before = sha(path)
    with pytest.raises(JournalCorrupt, match=str(path)):
        await Journal.open(path)
    assert sha(path) == before


def test_another_programs_database_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE bookmarks (url TEXT)")
    other.commit()
    other.close()
    before = sha(path)
    with pytest.raises(JournalCorrupt, match="not a controlroom journal"):
        JournalDB.open(path)
    assert sha(path) == before


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    JournalDB.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="newer"):
        JournalDB.open(path)


def test_unwritable_place_is_an_error_naming_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with pytest.raises(JournalError, match="file-not-dir"):
        JournalDB.open(blocker / "journal.sqlite3")


# --------------------------------------------------------------------------- async facade


async def test_async_journal_serialises_concurrent_writers(tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path / "journal.sqlite3")
    try:
        ids = await asyncio.gather(*(journal.append(
            operator="alice", context="prod-aks", action="patch", prior={"i": i},
            intent={}, reason="load", operation_id="op") for i in range(40)))
        assert len(set(ids)) == 40
        await asyncio.gather(*(journal.finish(i, "done") for i in ids))
        entries = await journal.entries(operation_id="op")
        assert sorted(e.prior["i"] for e in entries) == list(range(40))
        assert {e.status for e in entries} == {"done"}
        assert (await journal.get(ids[0])) is not None
        await journal.release("op", context="prod-aks", operator="alice")
        assert await journal.open_operations("prod-aks") == []
    finally:
        await journal.close()


def test_default_path_is_the_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_journal_path(tmp_path) == tmp_path / "journal.sqlite3"
    monkeypatch.setenv("CONTROLROOM_STATE_DIR", str(tmp_path / "env"))
    assert default_journal_path() == tmp_path / "env" / "journal.sqlite3"
    monkeypatch.delenv("CONTROLROOM_STATE_DIR")
    monkeypatch.setattr(journal_mod.platformdirs, "user_state_dir",
                        lambda app: f"/state/{app}")
    assert default_journal_path() == Path("/state/controlroom/journal.sqlite3")


# --------------------------------------------------------------------------- CLI view


NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("text, expected", [
    ("30s", NOW - timedelta(seconds=30)),
    ("30m", NOW - timedelta(minutes=30)),
    ("1h", NOW - timedelta(hours=1)),
    ("1h30m", NOW - timedelta(minutes=90)),
    ("2d", NOW - timedelta(days=2)),
    ("1w", NOW - timedelta(weeks=1)),
    (" 1H ", NOW - timedelta(hours=1)),
    ("2026-11-26T10:00:00Z", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
    ("2026-11-26T11:00:00+01:00", datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
    ("2026-11-26T10:00:00.5Z", datetime(2026, 11, 26, 10, 0, 0, 500000, tzinfo=UTC)),
])
def test_parse_since(text: str, expected: datetime) -> None:
    got = parse_since(text, now=NOW)
    assert got == expected and got.tzinfo is not None


def test_parse_since_naive_time_is_local() -> None:
    local = datetime(2026, 11, 26, 10, 0).astimezone()
    assert parse_since("2026-11-26T10:00:00") == local


@pytest.mark.parametrize("text", ["", "yesterday", "1y", "h1", "-1h", "2026-13-01"])
def test_parse_since_rejects_garbage_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="30m, 1h"):
        parse_since(text, now=NOW)


def _entry(**kw: object) -> JournalEntry:
    fields: dict[str, object] = dict(
        id=7, ts=T0, operator="alice", context="prod-aks", operation_id="op-1",
        step="scale-down", kind="Deployment", namespace="checkout", name="web",
        action="patch scale", method="PATCH", path="/x", prior={}, intent={},
        reason="INC-42 bad rollout", status="done", result=None, verification="",
        finished_ts=None)
    fields.update(kw)
    return JournalEntry(**fields)  # type: ignore[arg-type]


def test_format_entries_one_aligned_line_each() -> None:
    text = format_entries([
        _entry(),
        _entry(id=12, operator="bob", context="drill", kind="Application", namespace="argocd",
               name="shop", action="patch", step="", status="pending", reason="CHG-1"),
        _entry(id=13, status="failed", result={"outcome_unknown": True}),
    ])
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[0].split() == ["#7", "2026-11-26T10:00:00Z", "alice", "prod-aks", "patch",
                                "scale", "[scale-down]", "Deployment", "checkout/web", "done",
                                "INC-42", "bad", "rollout"]
    assert "Application argocd/shop" in lines[1] and "pending" in lines[1]
    assert " unknown " in lines[2]  # failed without an answer: outcome unknown
    # Columns line up: the status column starts at the same offset on every line.
    assert len({line.index(word) for line, word in zip(lines, ["done", "pending", "unknown"],
                                                        strict=True)}) == 1
    assert format_entries([]) == ""


def test_format_entries_neutralises_terminal_escapes() -> None:
    text = format_entries([_entry(name="web\x1b]52;c;ZXZpbA==\x07\x1b[2J", reason="a\nb\rc")])
    assert "\x1b" not in text and "\x07" not in text
    assert len(text.splitlines()) == 1


def test_format_of_real_rows(db: JournalDB, clock: FakeClock) -> None:
    ids: list[int] = []
    make: Callable[..., int] = lambda **kw: add(db, **kw)  # noqa: E731
    ids.append(make())
    clock.advance(minutes=5)
    ids.append(make(status="refused", result={"refused": "read-only"}))
    text = format_entries(db.entries(since=parse_since("1m", now=clock.now)))
    assert text.count("\n") == 0 and "refused" in text and f"#{ids[1]}" in text


# --------------------------------------------------------------------------- bad rows (issue 13)


@pytest.mark.parametrize(("column", "value", "why"), [
    ("prior_json", "{not json", "prior_json is not valid JSON"),
    ("intent_json", "[" * 100_000, "intent_json is not valid JSON"),
    ("result_json", b"\x00\x01", "result_json is bytes, not text"),
    ("result_json", "{oops", "result_json is not valid JSON"),
    ("operator", b"alice", "operator is bytes, not text"),
    ("ts", "yesterday", "ts is not a journal timestamp"),
], ids=["bad-json", "deep-json", "blob", "bad-result", "blob-text", "bad-ts"])
def test_a_bad_row_is_a_clear_error_naming_the_journal_and_the_row(
        tmp_path: Path, column: str, value: object, why: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A row another tool wrote (SQLite does not enforce column types) is JournalCorrupt
    naming the file, the row and the column, from every reader, and ``controlroom journal``
    says so in one line with exit 2: never a traceback."""
    from controlroom.launch import main

    path = tmp_path / "journal.sqlite3"
    with JournalDB.open(path) as db:
        good = add(db)
        bad = add(db, operation_id="op-1")
    with sqlite3.connect(path) as raw:
        raw.execute(f"UPDATE entries SET {column} = ? WHERE id = ?", (value, bad))
    with JournalDB.open(path) as db:
        assert db.get(good) is not None
        for read in (lambda: db.entries(), lambda: db.get(bad),
                     lambda: db.open_operations("prod-aks")):
            with pytest.raises(JournalCorrupt) as info:
                read()
            assert str(path) in str(info.value) and f"row {bad}: {why}" in str(info.value)
    code = main(["journal", "--state-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and f"row {bad}: {why}" in err and "Traceback" not in err


@pytest.mark.parametrize("text", ["99999999999d", "9" * 5000 + "s", "0001-01-01T00:00:00"],
                         ids=["days", "digits", "year-1"])
def test_parse_since_out_of_range_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="--since"):
        parse_since(text, now=NOW)


def test_journal_since_out_of_range_is_exit_2_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from controlroom.launch import main

    code = main(["journal", "--since", "99999999999d", "--state-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "too far back" in err, err


# --------------------------------------------------------------------------- lost journals


def _journal_with_rows(path: Path, rows: int = 400) -> bytes:
    """A closed (checkpointed) journal with enough rows to span several pages."""
    with JournalDB.open(path) as db:
        for i in range(rows):
            add(db, operation_id=f"breaker-{i:08x}", step="scale-down",
                prior={"replicas": i, "pad": "x" * 200})
    return path.read_bytes()


@pytest.mark.parametrize("cut", ["empty", "mid-page", "whole-pages", "damaged"])
def test_a_journal_cut_short_or_damaged_is_refused_not_replaced(tmp_path: Path,
                                                                cut: str) -> None:
    """A journal that had entries, emptied to 0 bytes (SQLite would take it for a new
    database and write a fresh schema over it), cut mid-row, cut at a page boundary, or
    overwritten in the middle: open names the file and the problem, and the file stays as
    it is (no new journal in its place, no -wal/-shm)."""
    path = tmp_path / "journal.sqlite3"
    data = _journal_with_rows(path)
    page = int.from_bytes(data[16:18], "big")
    assert len(data) >= 8 * page
    damaged = {"empty": b"", "mid-page": data[:len(data) // 2 + 123],
               "whole-pages": data[:(len(data) // page // 2) * page],
               "damaged": data[:3 * page] + b"\x07" * page + data[4 * page:]}[cut]
    path.write_bytes(damaged)
    before = sha(path)
    with pytest.raises(JournalCorrupt) as info:
        JournalDB.open(path)
    message = str(info.value)
    assert str(path) in message and "left untouched" in message
    expected = {"empty": "is empty (0 bytes)", "mid-page": "is truncated",
                "whole-pages": "is truncated", "damaged": "is damaged"}[cut]
    assert expected in message, message
    assert path.stat().st_size == len(damaged) and sha(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.sqlite3"]


def test_an_unreadable_journal_path_names_the_problem(tmp_path: Path) -> None:
    """A directory where the journal file should be (root reads any file, so permissions
    cannot be taken away from it in a test): an error naming the path, nothing created."""
    path = tmp_path / "journal.sqlite3"
    path.mkdir()
    with pytest.raises(JournalError, match=f"journal {path} is a directory"):
        JournalDB.open(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.sqlite3"]


def test_a_new_journal_appears_complete_or_not_at_all(tmp_path: Path) -> None:
    """Created through a temporary file linked into place: the journal file is never seen
    empty (which is what lets an empty one be refused), and no temporary file is left."""
    path = tmp_path / "state" / "journal.sqlite3"
    JournalDB.open(path).close()
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
    assert sorted(p.name for p in path.parent.iterdir()) == ["journal.sqlite3"]
    with JournalDB.open(path) as db:  # and it opens again as ours
        assert db.pragmas()["user_version"] == SCHEMA_VERSION
