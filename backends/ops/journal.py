"""The write journal: what the control room did to the platform, durable before it is done.

Why it exists: every write the control room sends (scale to zero, pause auto-sync, shift
traffic, silence an alert) must be undoable exactly, by this operator or the next one, even if
the process is killed in the middle of a circuit breaker. So the write gate
(:mod:`backends.ops.gate`) appends a row holding the *prior state needed to restore* before a
single byte goes to the cluster, and records the outcome afterwards. ``release``/``undo`` and
the breaker's crash recovery read it back (:meth:`JournalDB.open_operations`).

Durability, and why these settings:

- SQLite in WAL mode (``PRAGMA journal_mode=WAL``): a reader (``controlroom journal`` in another
  terminal, the journal panel) never blocks the writer, and a crash can only lose the
  transaction that was being committed, never a committed one.
- ``PRAGMA synchronous=FULL``: in WAL mode FULL makes SQLite fsync the WAL file on *every*
  commit, so when :meth:`JournalDB.append` returns, the row is committed AND on disk (commit +
  fsync). Only then does the gate send the write. NORMAL would be faster and could lose the
  last rows on power loss, which is exactly the row we need after a crash.
- One writer: a single connection guarded by a lock, used from worker threads
  (:class:`Journal` runs every call through :func:`asyncio.to_thread`), so the event loop never
  waits on an fsync. Other processes may open the same file; ``busy_timeout`` makes them wait
  for each other's short transactions instead of failing.

Robustness: a file that is not a readable journal (corrupt, another program's database, a
newer schema) raises :class:`JournalCorrupt` / :class:`JournalError` naming the file. The file
is never deleted, truncated or "repaired": it may be the only record of what was changed on
production. Nothing is written to a file before it has been recognised as ours. A new journal
is created complete (schema written to a temporary file, then linked into place), so an
existing journal file is never legitimately empty: one that is 0 bytes, cut short (not whole
pages, or fewer than its header counts), damaged (SQLite's ``quick_check``) or unreadable is
refused with what is wrong, instead of SQLite silently starting a new journal over it.

Schema: versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` lists the statements that
bring a file from version N-1 to N, each applied in its own transaction, so a later release adds
a migration instead of rewriting this one. Besides the columns the issue asked for, ``entries``
keeps the exact HTTP ``method`` and ``path`` sent (audit: what went on the wire, not only what
we meant), and a ``releases`` table marks operations whose effects were restored on purpose,
which is what separates a finished breaker from a half-done one after a crash.

The ``controlroom journal [--since ...]`` command's view of the rows (formatting, ``--since``)
is :mod:`backends.ops.journal_view`.

Over 500 lines because the durable record is one job: the row types, the SQLite file (create
private, recognise as ours, migrate, never repair) and the async facade over it share one
invariant (the prior state is on disk before a byte is sent), and half of the length is the
reasoning above and in the docstrings, which is the point of a journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias, get_args

import platformdirs

from backends.fsutil import fsync_dir
from backends.sanitize import clean

__all__ = [
    "FINAL_STATUSES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "EntryStatus",
    "Journal",
    "JournalCorrupt",
    "JournalDB",
    "JournalEntry",
    "JournalError",
    "OpenOperation",
    "default_journal_path",
]

APP_NAME: Final = "controlroom"
JOURNAL_FILE: Final = "journal.sqlite3"
STATE_DIR_ENV: Final = "CONTROLROOM_STATE_DIR"

EntryStatus: TypeAlias = Literal[
    "pending", "done", "failed", "refused", "verified", "verify_failed"
]
"""``pending``: journaled, the write may or may not have reached the server (a crash or a lost
connection leaves it so: outcome unknown). ``done``: the server accepted it (2xx). ``failed``:
the server refused it, or no answer came (then ``result["outcome_unknown"]`` is true).
``refused``: the gate refused it, nothing was sent. ``verified`` / ``verify_failed``: accepted,
then read back and found as intended / not as intended."""

STATUSES: Final[frozenset[str]] = frozenset(get_args(EntryStatus))
FINAL_STATUSES: Final[frozenset[str]] = STATUSES - {"pending"}
_APPLIED: Final = ("pending", "done", "verified", "verify_failed")
"""Statuses whose write may have changed the platform, so an operation holding one of them
is not over until it is released."""

SCHEMA_VERSION: Final = 1
MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        """CREATE TABLE entries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts TEXT NOT NULL,
            operator TEXT NOT NULL,
            context TEXT NOT NULL,
            operation_id TEXT NOT NULL DEFAULT '',
            step TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT '',
            namespace TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL,
            method TEXT NOT NULL DEFAULT '',
            path TEXT NOT NULL DEFAULT '',
            prior_json TEXT NOT NULL,
            intent_json TEXT NOT NULL,
            reason TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed', 'refused',
                                                   'verified', 'verify_failed')),
            result_json TEXT,
            verification TEXT NOT NULL DEFAULT '',
            finished_ts TEXT
        )""",
        "CREATE INDEX entries_ts ON entries (ts)",
        "CREATE INDEX entries_context_ts ON entries (context, ts)",
        "CREATE INDEX entries_operation ON entries (operation_id) WHERE operation_id != ''",
        """CREATE TABLE releases (
            operation_id TEXT PRIMARY KEY,
            context TEXT NOT NULL,
            ts TEXT NOT NULL,
            operator TEXT NOT NULL,
            reason TEXT NOT NULL
        )""",
    ),
}
"""Version N -> the statements that turn a version N-1 file into version N."""

_OUR_TABLES: Final = frozenset({"entries", "releases", "sqlite_sequence"})
_TS_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"


class JournalError(Exception):
    """The journal cannot be used; the message names the file. The gate sends no write while
    the journal fails (no journal row, no write)."""


class JournalCorrupt(JournalError):
    """The file exists but is not a readable controlroom journal. It has been left untouched."""


def default_journal_path(state_dir: Path | None = None) -> Path:
    """Where the journal lives: ``--state-dir``, else ``$CONTROLROOM_STATE_DIR``, else the
    platformdirs user state dir (``~/.local/state/controlroom`` on Linux). The state dir, not
    the cache dir: this file must survive cache cleaners."""
    if state_dir is None:
        env = os.environ.get(STATE_DIR_ENV)
        state_dir = Path(env) if env else Path(platformdirs.user_state_dir(APP_NAME))
    return state_dir / JOURNAL_FILE


# --------------------------------------------------------------------------- rows


def _ts(value: datetime) -> str:
    """A sortable UTC text timestamp (same width always, so SQL string order is time order)."""
    if value.tzinfo is None:
        raise ValueError("journal timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime(_TS_FORMAT)


def _parse_ts(text: str) -> datetime:
    return datetime.strptime(text, _TS_FORMAT).replace(tzinfo=UTC)


def _dumps(value: Any) -> str:
    """Canonical JSON; raises TypeError for values that cannot be restored from JSON, before
    anything is committed (so before anything is sent)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class JournalEntry:
    """One journaled write (or refused attempt). ``prior``/``intent``/``result`` are the
    decoded JSON that was stored; strings are raw (sanitize before display:
    :func:`format_entries` does)."""

    id: int
    ts: datetime
    operator: str
    context: str
    operation_id: str
    step: str
    kind: str
    namespace: str
    name: str
    action: str
    method: str
    path: str
    prior: Any
    intent: Any
    reason: str
    status: EntryStatus
    result: Any
    verification: str
    finished_ts: datetime | None

    @property
    def outcome_unknown(self) -> bool:
        """True when nobody knows whether the write landed: still pending (a crash, a
        cancelled task), or failed without an answer from the server."""
        if self.status == "pending":
            return True
        return (self.status == "failed" and isinstance(self.result, dict)
                and bool(self.result.get("outcome_unknown")))

    @property
    def may_have_applied(self) -> bool:
        """True when the platform may differ from ``prior`` because of this entry."""
        return self.status in _APPLIED or self.outcome_unknown

    @property
    def target(self) -> str:
        """``Kind namespace/name`` (or ``Kind name`` for cluster-scoped objects)."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}".strip()


@dataclass(frozen=True)
class OpenOperation:
    """An operation (e.g. one circuit breaker run) with steps that may have changed the
    platform and that nobody released: after a crash this is the half-done breaker the UI must
    show, with the prior states needed to put things back."""

    operation_id: str
    context: str
    started: datetime
    steps: tuple[JournalEntry, ...] = field(default_factory=tuple)

    @property
    def unsettled(self) -> tuple[JournalEntry, ...]:
        """Steps whose outcome is unknown (pending at a crash, or no answer)."""
        return tuple(s for s in self.steps if s.outcome_unknown)

    @property
    def to_restore(self) -> tuple[JournalEntry, ...]:
        """Steps that may have applied, newest first: the order a release undoes them in."""
        return tuple(reversed([s for s in self.steps if s.may_have_applied]))


_COLUMNS: Final = ("id, ts, operator, context, operation_id, step, kind, namespace, name, action,"
                   " method, path, prior_json, intent_json, reason, status, result_json,"
                   " verification, finished_ts")


class _BadRow(ValueError):
    """A row that SQLite returned but that is not a journal entry (hand-edited, written by a
    broken tool): which column and why. SQLite does not enforce column types, so a ``TEXT``
    column can hold an integer or a blob and ``prior_json`` can hold anything."""


def _text(column: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _BadRow(f"{column} is {type(value).__name__}, not text")
    return value


def _json(column: str, value: Any) -> Any:
    text = _text(column, value)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _BadRow(f"{column} is not valid JSON ({type(exc).__name__})") from None


def _when(column: str, value: Any) -> datetime:
    try:
        return _parse_ts(_text(column, value))
    except ValueError:
        raise _BadRow(f"{column} is not a journal timestamp") from None


def _entry(row: Sequence[Any], path: Path | str = "") -> JournalEntry:
    """The entry of one row; :class:`JournalCorrupt` naming the journal, the row and the
    column when the row is not one this program wrote (never a traceback: the journal is
    read by ``controlroom journal`` and the breaker, and both must say what is wrong)."""
    id_ = row[0]
    try:
        return _entry_of(row)
    except _BadRow as exc:
        raise JournalCorrupt(f"journal {path}: row {clean(repr(id_), 40)}: {exc}; the file was "
                             "left untouched") from None


def _entry_of(row: Sequence[Any]) -> JournalEntry:
    (id_, ts, operator, context, operation_id, step, kind, namespace, name, action, method,
     path, prior_json, intent_json, reason, status, result_json, verification, finished) = row
    if not isinstance(id_, int):
        raise _BadRow(f"id is {type(id_).__name__}, not a whole number")
    if status not in STATUSES:
        raise _BadRow(f"status {clean(repr(status), 40)} is not one of "
                      f"{', '.join(sorted(STATUSES))}")
    return JournalEntry(
        id=id_, ts=_when("ts", ts), operator=_text("operator", operator),
        context=_text("context", context), operation_id=_text("operation_id", operation_id),
        step=_text("step", step), kind=_text("kind", kind),
        namespace=_text("namespace", namespace), name=_text("name", name),
        action=_text("action", action), method=_text("method", method),
        path=_text("path", path), prior=_json("prior_json", prior_json),
        intent=_json("intent_json", intent_json), reason=_text("reason", reason),
        status=status,
        result=_json("result_json", result_json) if result_json is not None else None,
        verification=_text("verification", verification),
        finished_ts=_when("finished_ts", finished) if finished else None,
    )


# --------------------------------------------------------------------------- the database


def _utcnow() -> datetime:
    return datetime.now(UTC)


class JournalDB:
    """The journal file, with blocking methods. Thread-safe (one connection, one lock).

    Use it directly outside an event loop (the ``controlroom journal`` command, a crash
    recovery script); inside the App use :class:`Journal`, which runs these in a thread.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.path = path
        self._conn = connection
        self._lock = threading.Lock()
        self._clock = clock
        self._closed = False
        self._observers: list[Callable[[JournalEntry], None]] = []

    # ---------------------------------------------------------------- opening

    @classmethod
    def open(cls, path: Path, *, clock: Callable[[], datetime] = _utcnow,
             timeout: float = 5.0) -> JournalDB:
        """Open (creating if missing) the journal at ``path``: WAL mode, synchronous=FULL,
        schema migrated to :data:`SCHEMA_VERSION`. Raises :class:`JournalCorrupt` for a file
        that is not ours or not readable, :class:`JournalError` for other failures; in both
        cases the file is left as it was."""
        path = Path(path)
        if os.path.lexists(path):
            _check_file(path)
        else:
            _create_journal(path)
        try:
            conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalError(f"journal {path}: cannot open: {exc}") from exc
        try:
            _check_ours(conn, path)
            _configure(conn, path, timeout)
            _migrate(conn, path)
        except BaseException:
            conn.close()
            raise
        return cls(path, conn, clock)

    def close(self) -> None:
        """Close the connection (checkpointing the WAL). Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> JournalDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _locked(self, doing: str) -> Iterator[sqlite3.Connection]:
        """The connection under the lock; SQLite errors become JournalError naming the file."""
        with self._lock:
            if self._closed:
                raise JournalError(f"journal {self.path}: closed")
            try:
                yield self._conn
            except sqlite3.DatabaseError as exc:
                if self._conn.in_transaction:
                    self._conn.rollback()
                kind = JournalCorrupt if _is_corruption(exc) else JournalError
                raise kind(f"journal {self.path}: cannot {doing}: {exc}") from exc
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.rollback()
                raise

    def add_observer(self, observer: Callable[[JournalEntry], None]) -> None:
        """Call ``observer`` with every entry :meth:`append` or :meth:`finish` commits (the
        MQTT team bus publishes them). Why here and not by polling: it sees every write of
        this process exactly once, in commit order (it runs in the writing thread under the
        lock), at no cost while nobody observes. It must be quick and thread-safe (hand the
        entry to an event loop with ``call_soon_threadsafe``); what it raises is ignored,
        because an observer must never fail a write that is already committed."""
        self._observers.append(observer)

    def remove_observer(self, observer: Callable[[JournalEntry], None]) -> None:
        """Stop calling ``observer`` (unknown observers are ignored)."""
        if observer in self._observers:
            self._observers.remove(observer)

    def _notify(self, conn: sqlite3.Connection, entry_id: int) -> None:
        """Hand the committed entry to the observers; never raises (see add_observer)."""
        if not self._observers:
            return
        try:
            row = conn.execute(f"SELECT {_COLUMNS} FROM entries WHERE id = ?",
                               (entry_id,)).fetchone()
            entry = _entry(row, self.path)
        except Exception:  # noqa: BLE001 - the write is committed; publishing is best effort
            return
        for observer in tuple(self._observers):
            try:
                observer(entry)
            except Exception:  # noqa: BLE001, S110 - see add_observer
                pass

    def pragmas(self) -> dict[str, Any]:
        """The durability settings in force (``journal_mode``, ``synchronous`` where 2 is
        FULL, ``user_version``): for tests and a diagnostics view."""
        with self._locked("read settings") as conn:
            return {
                "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
                "synchronous": conn.execute("PRAGMA synchronous").fetchone()[0],
                "user_version": conn.execute("PRAGMA user_version").fetchone()[0],
            }

    # ---------------------------------------------------------------- writing

    def append(
        self,
        *,
        operator: str,
        context: str,
        action: str,
        prior: Any,
        intent: Any,
        reason: str,
        kind: str = "",
        namespace: str = "",
        name: str = "",
        operation_id: str = "",
        step: str = "",
        method: str = "",
        path: str = "",
        status: EntryStatus = "pending",
        result: Any = None,
    ) -> int:
        """Commit one row and return its id. When this returns, the row is on disk (commit
        with synchronous=FULL fsyncs the WAL). ``status`` is ``pending`` for a write about to
        be sent; ``refused`` records an attempt the gate stopped (then it is final at once)."""
        if status not in STATUSES:
            raise ValueError(f"unknown journal status {status!r}")
        prior_json, intent_json = _dumps(prior), _dumps(intent)
        result_json = None if result is None else _dumps(result)
        now = _ts(self._clock())
        finished = None if status == "pending" else now
        with self._locked("append an entry") as conn:
            cur = conn.execute(
                "INSERT INTO entries (ts, operator, context, operation_id, step, kind, namespace,"
                " name, action, method, path, prior_json, intent_json, reason, status,"
                " result_json, finished_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (now, operator, context, operation_id, step, kind, namespace, name, action,
                 method, path, prior_json, intent_json, reason, status, result_json, finished),
            )
            row_id = cur.lastrowid
            if row_id is not None:
                self._notify(conn, row_id)
        assert row_id is not None
        return row_id

    def finish(self, entry_id: int, status: EntryStatus, result: Any = None,
               verification: str = "") -> None:
        """Record the outcome of entry ``entry_id``. May be called again to add the
        verification (``done`` -> ``verified``/``verify_failed``); ``result`` None keeps the
        stored result, an empty ``verification`` keeps the stored one."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"cannot finish a journal entry as {status!r}")
        result_json = None if result is None else _dumps(result)
        with self._locked("record a result") as conn:
            cur = conn.execute(
                "UPDATE entries SET status = ?, result_json = COALESCE(?, result_json),"
                " verification = CASE WHEN ? != '' THEN ? ELSE verification END,"
                " finished_ts = ? WHERE id = ?",
                (status, result_json, verification, verification, _ts(self._clock()),
                 entry_id),
            )
            if cur.rowcount != 1:
                raise JournalError(f"journal {self.path}: no entry {entry_id}")
            self._notify(conn, entry_id)

    def release(self, operation_id: str, *, context: str, operator: str,
                reason: str = "") -> None:
        """Mark an operation as released (its effects were restored, or the operator decided
        they stay): it leaves :meth:`open_operations`. Idempotent; its entries stay."""
        if not operation_id:
            raise ValueError("release needs an operation id")
        with self._locked("release an operation") as conn:
            conn.execute(
                "INSERT OR IGNORE INTO releases (operation_id, context, ts, operator, reason)"
                " VALUES (?,?,?,?,?)",
                (operation_id, context, _ts(self._clock()), operator, reason),
            )

    # ---------------------------------------------------------------- reading

    def get(self, entry_id: int) -> JournalEntry | None:
        """One entry, or None."""
        with self._locked("read an entry") as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM entries WHERE id = ?",
                               (entry_id,)).fetchone()
        return _entry(row, self.path) if row is not None else None

    def entries(self, since: datetime | None = None, context: str | None = None,
                operation_id: str | None = None, limit: int | None = None) -> list[JournalEntry]:
        """Entries in the order they were written, optionally only those at or after
        ``since``, on ``context``, of ``operation_id``; ``limit`` keeps the newest N."""
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            where.append("ts >= ?")
            args.append(_ts(since))
        if context is not None:
            where.append("context = ?")
            args.append(context)
        if operation_id is not None:
            where.append("operation_id = ?")
            args.append(operation_id)
        sql = f"SELECT {_COLUMNS} FROM entries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._locked("read entries") as conn:
            rows = conn.execute(sql, args).fetchall()
        return [_entry(r, self.path) for r in reversed(rows)]

    def open_operations(self, context: str) -> list[OpenOperation]:
        """Operations on ``context`` with a step that may have changed the platform (pending,
        done, verified, verify_failed, or failed without an answer) and no release: what
        the circuit breaker shows as half-done after a crash. Oldest first."""
        with self._locked("read open operations") as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE context = ? AND operation_id != ''"
                " AND operation_id NOT IN (SELECT operation_id FROM releases)"
                " AND operation_id IN (SELECT operation_id FROM entries WHERE context = ?"
                "   AND operation_id != '' AND (status IN (?,?,?,?) OR (status = 'failed'"
                "   AND json_extract(result_json, '$.outcome_unknown') = 1)))"
                " ORDER BY id",
                (context, context, *_APPLIED),
            ).fetchall()
        grouped: dict[str, list[JournalEntry]] = {}
        for row in rows:
            e = _entry(row, self.path)
            grouped.setdefault(e.operation_id, []).append(e)
        return [OpenOperation(op, context, steps[0].ts, tuple(steps))
                for op, steps in grouped.items()]


def _create_journal(path: Path) -> None:
    """Create the journal complete or not at all: the schema is written to a private temporary
    file (0600, in a 0700 directory: the journal holds prior states of production objects, so
    it is the operator's alone), which is then linked into place. Why: a journal file that
    exists is then never legitimately empty, so a 0-byte file at ``path`` can only be a
    journal that was truncated, and :func:`_check_file` refuses it instead of silently
    starting a new journal over the lost record. When another process created the journal
    meanwhile, its file is kept and ours discarded."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise JournalError(f"journal {path}: cannot create: {exc}") from exc
    tmp = Path(name)
    try:
        conn = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the header
            conn.execute("PRAGMA synchronous = FULL")
            _migrate(conn, path)
        finally:
            conn.close()  # checkpoints: the schema is in the main file, the -wal is gone
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        except OSError:  # a file system without hard links
            if not os.path.lexists(path):
                os.replace(tmp, path)
        fsync_dir(path.parent)
    except (sqlite3.Error, OSError) as exc:
        raise JournalError(f"journal {path}: cannot create: {exc}") from exc
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            with contextlib.suppress(OSError):
                leftover.unlink()


_MAGIC: Final = b"SQLite format 3\x00"
_UNTOUCHED: Final = ("it was left untouched: move it aside (keep it, it may be the only record "
                     "of what was changed) and start again, or point --state-dir elsewhere")


def _check_file(path: Path) -> None:
    """Read-only checks of an existing journal file before SQLite opens it, each failure
    naming the file and the problem: unreadable (permissions, a directory), empty (0 bytes:
    :func:`_create_journal` never leaves one, so it was truncated), not an SQLite file,
    or cut short (its size is not whole pages, or smaller than the page count its header
    records). SQLite would take an empty file for a new database and write a fresh schema
    over the lost record; a file cut short would fail later, mid-command, or not at all."""
    try:
        with open(path, "rb") as f:
            header = f.read(100)
            size = os.fstat(f.fileno()).st_size
    except IsADirectoryError:
        raise JournalError(f"journal {path} is a directory, not a journal file") from None
    except OSError as exc:
        raise JournalError(f"journal {path}: cannot read it: "
                           f"{exc.strerror or exc}") from None
    if size == 0:
        raise JournalCorrupt(f"journal {path} is empty (0 bytes): a journal is never created "
                             f"empty, so this one was truncated or emptied; {_UNTOUCHED}")
    if len(header) < 100 or not header.startswith(_MAGIC):
        what = "cut short inside its header" if _MAGIC.startswith(header[:16]) else \
            "not an SQLite database (no SQLite header)"
        raise JournalCorrupt(f"journal {path} is {what} ({size} bytes); {_UNTOUCHED}")
    page = int.from_bytes(header[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        return  # a damaged header: SQLite's own checks name it
    pages = int.from_bytes(header[28:32], "big")
    counted = header[24:28] == header[92:96]  # the header's page count is current
    wal = Path(f"{path}-wal")
    in_wal = wal.exists() and wal.stat().st_size > 0  # a checkpoint may be under way
    if size % page or (counted and not in_wal and size < pages * page):
        raise JournalCorrupt(
            f"journal {path} is truncated: {size} bytes, where its header records {pages} "
            f"page(s) of {page} bytes ({pages * page} bytes); {_UNTOUCHED}")


def _is_corruption(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _check_ours(conn: sqlite3.Connection, path: Path) -> None:
    """Read-only checks before anything is written: the header must parse, and a file with
    tables must be a controlroom journal of a schema we know."""
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        damage = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        raise JournalCorrupt(
            f"journal {path} is not a readable SQLite database ({exc}); {_UNTOUCHED}") from exc
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"journal {path} has schema version {version}, newer than this controlroom"
            f" understands ({SCHEMA_VERSION}); upgrade controlroom or use another --state-dir")
    foreign = tables - _OUR_TABLES
    if (version == 0 and tables) or foreign:
        raise JournalCorrupt(
            f"journal {path} is an SQLite database but not a controlroom journal (tables:"
            f" {', '.join(sorted(tables))}); it was left untouched")
    if damage != ["ok"]:
        raise JournalCorrupt(f"journal {path} is damaged (SQLite's integrity check: "
                             f"{clean('; '.join(damage), 300)}); {_UNTOUCHED}")


def _configure(conn: sqlite3.Connection, path: Path, timeout: float) -> None:
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"journal {path}: cannot configure: {exc}") from exc
    if str(mode).lower() != "wal":
        # A filesystem without shared memory support (some network mounts) refuses WAL.
        raise JournalError(f"journal {path}: WAL mode unavailable here (got {mode!r});"
                           " put the state dir on a local disk")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for target in range(version + 1, SCHEMA_VERSION + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Re-read inside the lock: another process may have migrated meanwhile.
            if conn.execute("PRAGMA user_version").fetchone()[0] >= target:
                conn.execute("COMMIT")
                continue
            for statement in MIGRATIONS[target]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.rollback()
            raise JournalError(f"journal {path}: cannot migrate to schema {target}: {exc}") \
                from exc


# --------------------------------------------------------------------------- async facade


class Journal:
    """The journal for code on the event loop: every call runs in a worker thread
    (:func:`asyncio.to_thread`), because a commit waits for an fsync (milliseconds on an SSD,
    far more on a busy or network disk) and the UI must not freeze meanwhile.

    The methods mirror :class:`JournalDB`; ``db`` is the blocking object underneath.
    """

    def __init__(self, db: JournalDB) -> None:
        self.db = db

    @classmethod
    async def open(cls, path: Path, *, clock: Callable[[], datetime] = _utcnow) -> Journal:
        """Open the journal file in a worker thread (see :meth:`JournalDB.open`)."""
        return cls(await asyncio.to_thread(JournalDB.open, path, clock=clock))

    @property
    def path(self) -> Path:
        return self.db.path

    async def close(self) -> None:
        await asyncio.to_thread(self.db.close)

    async def append(
        self,
        *,
        operator: str,
        context: str,
        action: str,
        prior: Any,
        intent: Any,
        reason: str,
        kind: str = "",
        namespace: str = "",
        name: str = "",
        operation_id: str = "",
        step: str = "",
        method: str = "",
        path: str = "",
        status: EntryStatus = "pending",
        result: Any = None,
    ) -> int:
        """See :meth:`JournalDB.append`: returns once the row is committed and fsynced."""
        return await asyncio.to_thread(
            lambda: self.db.append(
                operator=operator, context=context, action=action, prior=prior,
                intent=intent, reason=reason, kind=kind, namespace=namespace, name=name,
                operation_id=operation_id, step=step, method=method, path=path,
                status=status, result=result))

    async def finish(self, entry_id: int, status: EntryStatus, result: Any = None,
                     verification: str = "") -> None:
        await asyncio.to_thread(self.db.finish, entry_id, status, result, verification)

    async def release(self, operation_id: str, *, context: str, operator: str,
                      reason: str = "") -> None:
        await asyncio.to_thread(lambda: self.db.release(
            operation_id, context=context, operator=operator, reason=reason))

    async def get(self, entry_id: int) -> JournalEntry | None:
        return await asyncio.to_thread(self.db.get, entry_id)

    async def entries(self, since: datetime | None = None, context: str | None = None,
                      operation_id: str | None = None,
                      limit: int | None = None) -> list[JournalEntry]:
        return await asyncio.to_thread(self.db.entries, since, context, operation_id, limit)

    async def open_operations(self, context: str) -> list[OpenOperation]:
        return await asyncio.to_thread(self.db.open_operations, context)
