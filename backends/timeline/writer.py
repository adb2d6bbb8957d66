"""The timeline file's writer: appends entries and replay frames from a thread of its own.

Split from :mod:`backends.timeline.store` (the file's schema, checks and reader) because
writing is a job of its own: one writer per file (an ``flock``), a thread that owns the
connection and commits at least every :data:`~backends.timeline.store.FLUSH_SECONDS`,
and pruning by retention and size budget. The schema and the damage rules are the store
module's; this module never creates or opens a file the store's checks refuse.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from backends.timeline.entry import TimelineEntry
from backends.timeline.store import (
    _SCHEMA,
    DEFAULT_MAX_BYTES,
    DEFAULT_RETENTION,
    FLUSH_SECONDS,
    FORMAT,
    SCHEMA_VERSION,
    TimelineBusy,
    TimelineFileError,
    _check_header,
    _integrity,
    _read_meta,
    _wrap,
    encode_block,
    encode_entry,
)

__all__ = ["PRUNE_SECONDS", "TimelineWriter"]

PRUNE_SECONDS = 60.0
"""How often the writer prunes by retention and size budget."""


@dataclass(frozen=True, slots=True)
class _Frame:
    """A frame to commit; its body encoded already, or encoded by the writer's thread
    (a keyframe or checkpoint of 30,000 pods takes a fraction of a second to encode: off
    the event loop)."""

    at: float
    type: str
    body: bytes | Callable[[], bytes]


_Item = TimelineEntry | _Frame


class TimelineWriter:
    """Appends entries and frames to one context's file from a thread of its own.

    Opening creates the file (and its directory) when missing, or checks an existing one:
    a damaged or foreign file, or one of another context, raises :class:`TimelineFileError`
    and is left as it is. :meth:`append` never blocks; the thread commits at least every
    :data:`FLUSH_SECONDS`. Errors of the thread (disk full) are kept in :attr:`error` and
    raised by the next :meth:`append`, :meth:`flush` or :meth:`close`: never swallowed.
    """

    def __init__(
        self,
        path: Path | str,
        context: str,
        *,
        retention: float = DEFAULT_RETENTION,
        max_bytes: int = DEFAULT_MAX_BYTES,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.path = Path(path)
        self.context = context
        self.retention = retention
        self.max_bytes = max_bytes
        self._flush_seconds = flush_seconds
        self._now = time.time
        self._queue: queue.SimpleQueue[_Item | threading.Event | None] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.entries_written = 0
        self.frames_written = 0
        self._lock_fd = self._lock()
        try:
            self._conn = self._open()
            self.meta = _read_meta(self.path, self._conn)
            self._strings: dict[str, int] = {
                str(t): int(i) for i, t in self._conn.execute("SELECT id, text FROM strings")}
        except sqlite3.Error as exc:
            os.close(self._lock_fd)
            raise _wrap(self.path, exc) from exc
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._next_string = max(self._strings.values(), default=0) + 1
        self._thread = threading.Thread(target=self._run, name=f"timeline-writer {self.path}",
                                        daemon=True)
        self._closed = False
        self._thread.start()

    # -- opening

    def _lock(self) -> int:
        """One writer per file: an exclusive ``flock`` on ``<file>.lock`` for the writer's
        life (released by the kernel when the process dies, even by SIGKILL). Two recorders
        of one context (the App and ``controlroom record``) would record everything twice."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = Path(f"{self.path}.lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise TimelineFileError(self.path, f"cannot open {lock_path.name}: "
                                    f"{exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise TimelineBusy(self.path, "another process is recording into it now "
                               "(its .lock is held)") from exc
        return fd

    def _open(self) -> sqlite3.Connection:
        path = self.path
        fresh = not path.exists() or path.stat().st_size == 0 and not _has_wal(path)
        if not fresh:
            _check_header(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=10.0)
        except sqlite3.Error as exc:
            raise _wrap(path, exc) from exc
        try:
            if fresh:
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
                    ("format", FORMAT), ("schema_version", str(SCHEMA_VERSION)),
                    ("context", self.context), ("created", repr(self._now()))])
            else:
                meta = _read_meta(path, conn)
                _integrity(path, conn)
                if meta.context != self.context:
                    raise TimelineFileError(path, f"records context {meta.context!r}, not "
                                            f"{self.context!r}: use another file")
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            conn.close()
            raise _wrap(path, exc) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    # -- the public side (any thread, the event loop included: nothing here blocks)

    def append(self, entries: Iterable[TimelineEntry]) -> None:
        """Queue entries for the next commit."""
        self._raise_error()
        for entry in entries:
            self._queue.put(entry)

    def append_frame(self, at: float, frame_type: str,
                     body: bytes | Callable[[], bytes]) -> None:
        """Queue a replay frame (``key``, ``delta`` or ``check``): its body, or a function
        the writer's thread calls to encode it (its inputs must not change meanwhile; an
        error encoding it is the writer's error, raised by the next call)."""
        self._raise_error()
        if frame_type not in ("key", "delta", "check"):
            raise ValueError(f"frame type {frame_type!r}: expected 'key', 'delta' or 'check'")
        self._queue.put(_Frame(at, frame_type, body))

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything queued so far is committed (tests, shutdown; from the
        event loop use ``asyncio.to_thread``)."""
        done = threading.Event()
        self._queue.put(done)
        if not done.wait(timeout):
            raise TimelineFileError(self.path, f"writer did not commit within {timeout:.0f} s")
        self._raise_error()

    def close(self) -> None:
        """Commit what is queued and release the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self.error is not None:
            raise TimelineFileError(self.path, f"writing failed: {self.error}") from self.error

    # -- the thread

    def _run(self) -> None:
        conn = self._conn
        last_prune = 0.0
        try:
            while True:
                batch, waiters, stop = self._collect()
                if batch:
                    self._commit(conn, batch)
                now = self._now()
                if now - last_prune >= PRUNE_SECONDS or stop:
                    last_prune = now
                    self._prune(conn, now)
                for event in waiters:
                    event.set()
                if stop:
                    break
        except BaseException as exc:  # kept and raised on the caller's side
            self.error = exc
            self._drain_waiters()
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)

    def _drain_waiters(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._queue.get_nowait()
                if isinstance(item, threading.Event):
                    item.set()

    def _collect(self) -> tuple[list[_Item], list[threading.Event], bool]:
        """Wait for the first item, then take what arrives within the flush interval."""
        batch: list[_Item] = []
        waiters: list[threading.Event] = []
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                return batch, waiters, False
            if item is None:
                self._take_rest(batch, waiters)
                return batch, waiters, True
            if isinstance(item, threading.Event):
                self._take_rest(batch, waiters)
                waiters.append(item)
                return batch, waiters, False
            batch.append(item)
            if deadline is None:
                deadline = time.monotonic() + self._flush_seconds

    def _take_rest(self, batch: list[_Item], waiters: list[threading.Event]) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._queue.get_nowait()
                if isinstance(item, threading.Event):
                    waiters.append(item)
                elif item is not None:
                    batch.append(item)

    def _commit(self, conn: sqlite3.Connection, batch: list[_Item]) -> None:
        fresh: dict[str, int] = {}

        def intern(text: str) -> int:
            """The text's id in the strings table: known, or new in this transaction
            (kept only once it commits, so a rolled-back batch leaves no id behind)."""
            found = self._strings.get(text)
            if found is None:
                found = fresh.get(text)
                if found is None:
                    found = fresh[text] = self._next_string + len(fresh)
            return found

        encoded = [encode_entry(e, intern) for e in batch if isinstance(e, TimelineEntry)]
        block = encode_block([body for _columns, body in encoded]) if encoded else b""
        frames = [(f.at, f.type, f.body if isinstance(f.body, bytes) else f.body())
                  for f in batch if isinstance(f, _Frame)]
        conn.execute("BEGIN")
        try:
            if fresh:
                conn.executemany("INSERT INTO strings (id, text) VALUES (?, ?)",
                                 [(i, t) for t, i in fresh.items()])
            if encoded:
                block_id = conn.execute("INSERT INTO blocks (body) VALUES (?)",
                                        (block,)).lastrowid
                conn.executemany(
                    "INSERT INTO entries (at, kind, namespace, name, app, workload, actor, "
                    "block, slot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(*columns, block_id, slot)
                     for slot, (columns, _body) in enumerate(encoded)])
            if frames:
                conn.executemany("INSERT INTO frames (at, type, body) VALUES (?, ?, ?)",
                                 frames)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        self._strings.update(fresh)
        self._next_string += len(fresh)
        self.entries_written += len(encoded)
        self.frames_written += len(frames)

    def _prune(self, conn: sqlite3.Connection, now: float) -> None:
        """Retention first, then the size budget, oldest first; keeps the newest keyframe."""
        cutoff = now - self.retention
        keep_key = _newest_keyframe_at(conn)
        conn.execute("BEGIN")
        conn.execute("DELETE FROM entries WHERE at < ?", (cutoff,))
        _drop_unused_blocks(conn)
        conn.execute("DELETE FROM frames WHERE at < ? AND at < ?",
                     (cutoff, keep_key if keep_key is not None else cutoff))
        conn.execute("COMMIT")
        for _round in range(20):
            if _file_bytes(conn) <= self.max_bytes:
                break
            conn.execute("BEGIN")
            deleted = 0
            for table in ("entries", "frames"):
                (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                drop = max(1, count // 10) if count else 0
                if table == "frames" and keep_key is not None:
                    cur = conn.execute(
                        "DELETE FROM frames WHERE id IN (SELECT id FROM frames WHERE at < ? "
                        "ORDER BY at, id LIMIT ?)", (keep_key, drop))
                else:
                    cur = conn.execute(
                        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
                        "ORDER BY at, id LIMIT ?)", (drop,))
                deleted += cur.rowcount
            _drop_unused_blocks(conn)
            conn.execute("COMMIT")
            conn.execute("PRAGMA incremental_vacuum")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            if not deleted:
                break
        else:
            return
        conn.execute("PRAGMA incremental_vacuum")


def _drop_unused_blocks(conn: sqlite3.Connection) -> None:
    """Delete the entry blocks before the oldest entry kept's: entries and blocks are
    written in the same order, so its block is the oldest still read (a block some of
    whose entries were pruned stays until all are)."""
    row = conn.execute("SELECT block FROM entries ORDER BY id LIMIT 1").fetchone()
    if row is None:
        conn.execute("DELETE FROM blocks")
    else:
        conn.execute("DELETE FROM blocks WHERE id < ?", (row[0],))


def _newest_keyframe_at(conn: sqlite3.Connection) -> float | None:
    row = conn.execute("SELECT max(at) FROM frames WHERE type = 'key'").fetchone()
    return None if row is None or row[0] is None else float(row[0])


def _file_bytes(conn: sqlite3.Connection) -> int:
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    (size,) = conn.execute("PRAGMA page_size").fetchone()
    (free,) = conn.execute("PRAGMA freelist_count").fetchone()
    return int((pages - free) * size)


def _has_wal(path: Path) -> bool:
    return Path(f"{path}-wal").exists()


