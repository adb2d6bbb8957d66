"""The timeline's file: one append-only SQLite database (WAL) per context.

Why SQLite: a 48-hour watch must survive a SIGKILL with at most the last second lost, answer
"what happened between 14:02 and 14:20 to app checkout" without reading everything, and be
one file an engineer can copy into a post-mortem. SQLite's WAL gives durable, atomic batches
(one transaction per flush) and readers that never block the writer; indexes give the time
range and filter queries. stdlib ``sqlite3`` only.

Why a writer thread (:class:`backends.timeline.writer.TimelineWriter`): every SQLite call
may touch the disk, and nothing may block the event loop. Its ``append`` and
``append_frame`` only put work on
a queue; a thread commits it in one transaction at least every :data:`FLUSH_SECONDS`, prunes
by retention and size budget, and is the only thread that touches the connection. Readers
(:func:`read_entries`, :class:`TimelineReader`) are synchronous: call them through
``asyncio.to_thread`` from the event loop.

Schema (``schema_version`` 3; the meta table says which; a file of another version is refused
with an error naming both versions, never misread):

``meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)``
    ``format`` = ``controlroom-timeline`` (a foreign SQLite file has no such row),
    ``schema_version`` = ``3``, ``context`` (the kube context recorded), ``created`` (Unix
    seconds, when the file was made).
``strings(id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE)``
    The texts of the entries' filter columns (kind, namespace, name, app, workload, actor),
    each stored once (version 3): under the 30,000-pod flood the same few thousand names
    come back every minute. Strings are never deleted (a few thousand names: kilobytes).
``entries(id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, kind, namespace, name, app,
workload, actor, block, slot INTEGER)``
    One :class:`~backends.timeline.entry.TimelineEntry` per row: ``at`` and the string ids
    of the fields a query filters by (the index of the entries, not their truth), and
    where the entry is (``block``, ``slot``).
    ``id`` orders entries with equal ``at`` in the order they were recorded. One index,
    ``entries_at(at)``: every read is a time range (the screen's newest entries, the
    export's span). Version 2 also indexed app, namespace, name (and version 1 actor): no
    reader filters by them in SQL (the timeline screen filters its newest entries in
    Python), so they cost a quarter of the file and served nothing; those filters of
    :meth:`TimelineReader.entries` scan the time range.
``blocks(id INTEGER PRIMARY KEY, body BLOB)``
    The entries of one commit (version 3): each one msgspec-msgpack array of its fields in
    declaration order, the commit's arrays together zlib-compressed. Why together: the
    entries of a flood differ in a few characters (pod names, counts); compressed together
    they take a fifth to a tenth of their size, alone hardly less (and the texts the
    columns intern cost next to nothing here). A read decodes a block straight into entry
    arrays and converts them in one call, as version 2 did with its per-row bodies, which
    also repeated every column's text uncompressed; version 1 stored a map with every field
    name. A field added to :class:`~backends.timeline.entry.TimelineEntry` must come last
    and bump the version. Blocks go when the last entry reading them is pruned.
``frames(id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, type TEXT, body BLOB)``
    The slim-row state for replay (:mod:`backends.timeline.frames` encodes and decodes the
    bodies): ``type`` is ``key`` (a keyframe: every row the store held at ``at``), ``delta``
    (the rows changed and removed since the previous frame) or ``check`` (a checkpoint,
    version 3: every row changed or removed since the keyframe, as one delta from it; a seek
    applies the keyframe, the newest checkpoint, then the deltas after it), ``body`` is
    msgspec-msgpack, zlib-compressed. In version 3 a delta names a row its keyframe holds by the row's place
    in that keyframe (a small integer) instead of its key (a pod's key was two thirds of a
    compressed patch). Index ``frames_at(type, at)``.

Retention and size budget: the writer deletes entries and frames older than the retention,
and when the file outgrows its budget, the oldest tenth of both (and never the newest
keyframe a replay still needs), then returns the freed pages (``auto_vacuum=INCREMENTAL``).
That is the only deletion: entries are never updated.

Damage: a file that is not SQLite, not a timeline, of another schema version or context, or
truncated or corrupt raises :class:`TimelineFileError`, naming the file and the problem, on
open; queries that hit damage later raise it too, never an empty result. Readers open the
file read-only, and the writer refuses a damaged file instead of recreating it: nothing that
is there is lost.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import zlib
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import msgspec

from backends.timeline.entry import TimelineEntry

__all__ = [
    "DEFAULT_MAX_BYTES",
    "default_path",
    "decode_block",
    "encode_block",
    "encode_entry",
    "file_size",
    "DEFAULT_RETENTION",
    "FLUSH_SECONDS",
    "FORMAT",
    "SCHEMA_VERSION",
    "TimelineBusy",
    "TimelineFileError",
    "TimelineMeta",
    "TimelineReader",
    "read_entries",
    "read_meta",
]

FORMAT = "controlroom-timeline"
SCHEMA_VERSION = 3
DEFAULT_RETENTION = 72 * 3600.0
DEFAULT_MAX_BYTES = 2 * 1024**3
"""Two GiB: 48 hours at the issue's 50 MB/hour is 2.4 GB at most; the oldest goes first."""
FLUSH_SECONDS = 0.5
"""The writer commits at least this often: a SIGKILL loses at most this much (issue: 1 s)."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_ENCODER = msgspec.msgpack.Encoder()
_COLUMN_FIELDS = ("kind", "namespace", "name", "app", "workload", "actor")
"""Fields stored as string-id columns (what queries filter on), in column order."""
_StoredEntry = msgspec.defstruct(
    "_StoredEntry",
    [(f.name, f.type) if f.required else (f.name, f.type, f.default)
     for f in msgspec.structs.fields(TimelineEntry)],
    array_like=True, frozen=True, kw_only=True)
"""An entry in a block: its fields as an array in declaration order (decoded, then
converted to :class:`TimelineEntry` in one call per read). A field added to
:class:`TimelineEntry` must come last and bump the version."""
_BLOCK_DECODER = msgspec.msgpack.Decoder(list[_StoredEntry])  # type: ignore[valid-type]


def encode_entry(entry: TimelineEntry, intern: Callable[[str], int]
                 ) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """An entry's stored columns (``at``, the column string ids: ``intern`` gives a text's
    id in the file's strings table) and its body (every field, in declaration order)."""
    return ((entry.at, *(intern(getattr(entry, name)) for name in _COLUMN_FIELDS)),
            msgspec.structs.astuple(entry))


def encode_block(bodies: Sequence[tuple[object, ...]], level: int = 6) -> bytes:
    """The bodies of one commit's entries as one block: msgpack, zlib-compressed."""
    return zlib.compress(_ENCODER.encode(bodies), level)


def decode_block(raw: bytes) -> list[Any]:
    """A block's entries; raises ``zlib.error`` or msgspec's errors when damaged."""
    return _BLOCK_DECODER.decode(zlib.decompress(raw))


_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE strings (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE blocks (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, kind INTEGER NOT NULL, namespace INTEGER NOT NULL,
    name INTEGER NOT NULL, app INTEGER NOT NULL, workload INTEGER NOT NULL,
    actor INTEGER NOT NULL, block INTEGER NOT NULL, slot INTEGER NOT NULL
);
CREATE INDEX entries_at ON entries (at);
CREATE TABLE frames (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, type TEXT NOT NULL CHECK (type IN ('key', 'delta', 'check')),
    body BLOB NOT NULL
);
CREATE INDEX frames_at ON frames (type, at);
"""


class TimelineFileError(Exception):
    """A timeline file that cannot be used as one: names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"timeline file {path}: {problem}")
        self.path = Path(path)
        self.problem = problem


class TimelineBusy(TimelineFileError):
    """Another process records into the file now (its ``.lock`` is held)."""


class TimelineMeta(msgspec.Struct, frozen=True, kw_only=True):
    """What the meta table says about a recording."""

    context: str
    created: float
    schema_version: int


# ---------------------------------------------------------------- checks shared by both sides


def _check_header(path: Path) -> None:
    """Refuse what is plainly not a whole SQLite file before SQLite gets to guess.

    SQLite reads a truncated file up to where it ends and may answer queries from what is
    left; the header's page count (valid when its change counters agree) says how long the
    file must be, so a cut file is named as such instead of silently answering less.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise TimelineFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    if size == 0:
        raise TimelineFileError(path, "empty file (0 bytes), not a timeline recording")
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise TimelineFileError(path, "not an SQLite database (not a timeline recording)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counter_valid = header[24:28] == header[92:96]
    if counter_valid and pages and size < pages * page_size:
        raise TimelineFileError(
            path, f"truncated: {size} bytes, the database header says {pages * page_size}")


def _wrap(path: Path, exc: sqlite3.Error) -> TimelineFileError:
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and "malformed" in text:
        return TimelineFileError(path, f"corrupt ({text})")
    if "not a database" in text:
        return TimelineFileError(path, f"not an SQLite database ({text})")
    return TimelineFileError(path, text)


def _read_meta(path: Path, conn: sqlite3.Connection) -> TimelineMeta:
    try:
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise _wrap(path, exc) from exc
    if "meta" not in tables:
        raise TimelineFileError(path, "an SQLite database but not a timeline recording "
                                "(no meta table)")
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error as exc:
        raise _wrap(path, exc) from exc
    if meta.get("format") != FORMAT:
        raise TimelineFileError(path, "an SQLite database but not a timeline recording "
                                f"(format {meta.get('format')!r})")
    try:
        version = int(meta.get("schema_version", ""))
        created = float(meta.get("created", ""))
    except ValueError as exc:
        raise TimelineFileError(path, "damaged meta table (schema_version or created "
                                "unreadable)") from exc
    if version != SCHEMA_VERSION:
        age = "an older" if version < SCHEMA_VERSION else "a newer"
        raise TimelineFileError(path, f"schema version {version} (recorded by {age} "
                                f"controlroom), this controlroom reads {SCHEMA_VERSION} only")
    missing = {"entries", "frames", "strings", "blocks"} - tables
    if missing:
        raise TimelineFileError(path, f"damaged: table(s) {', '.join(sorted(missing))} missing")
    return TimelineMeta(context=meta.get("context", ""), created=created,
                        schema_version=version)


def _integrity(path: Path, conn: sqlite3.Connection) -> None:
    """``PRAGMA quick_check``: every page reachable and well-formed (linear in file size,
    a fraction of a second for an hour's recording)."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(3)")]
    except sqlite3.Error as exc:
        raise _wrap(path, exc) from exc
    if problems != ["ok"]:
        raise TimelineFileError(path, "corrupt: " + "; ".join(
            " ".join(str(p).split()) for p in problems))


# ---------------------------------------------------------------- reading


class TimelineReader:
    """A read-only view of one recording (never writes, so never rewrites a damaged file).

    Synchronous: from the event loop, call it through ``asyncio.to_thread``. One reader per
    thread (sqlite3 connections are not shared across threads here).
    """

    def __init__(self, path: Path | str, *, check: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise TimelineFileError(self.path, "no such file")
        _check_header(self.path)
        try:
            self._conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                         check_same_thread=False)
        except sqlite3.Error as exc:
            raise _wrap(self.path, exc) from exc
        try:
            self.meta = _read_meta(self.path, self._conn)
            if check:
                _integrity(self.path, self._conn)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        """Release the file."""
        self._conn.close()

    def __enter__(self) -> TimelineReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _query(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _wrap(self.path, exc) from exc

    def entries(
        self,
        since: float | None = None,
        until: float | None = None,
        *,
        app: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        actor: str | None = None,
        kinds: Collection[str] | None = None,
        newest_first: bool = True,
        limit: int | None = None,
    ) -> list[TimelineEntry]:
        """Entries with ``since <= at <= until`` matching every filter given (see
        :func:`read_entries`)."""
        where: list[str] = []
        params: list[object] = []
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if until is not None:
            where.append("at <= ?")
            params.append(until)
        for column, value in (("app", app), ("namespace", namespace), ("name", name)):
            if value is not None:
                where.append(f"{column} = (SELECT id FROM strings WHERE text = ?)")
                params.append(value)
        if actor is not None:
            where.append("actor IN (SELECT id FROM strings WHERE "
                         "instr(lower(text), lower(?)) > 0)")
            params.append(actor)
        if kinds is not None:
            kinds = list(kinds)
            if not kinds:
                return []
            where.append(f"kind IN (SELECT id FROM strings WHERE text IN "
                         f"({', '.join('?' * len(kinds))}))")
            params.extend(kinds)
        order = "DESC" if newest_first else "ASC"
        sql = "SELECT block, slot FROM entries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY at {order}, id {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(0, int(limit)))
        places = self._query(sql, params)
        try:
            stored = self._bodies(places)  # type: ignore[arg-type]
            return msgspec.convert(stored, list[TimelineEntry], from_attributes=True)
        except (zlib.error, msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise TimelineFileError(self.path, f"corrupt entry block: {exc}") from exc

    def _bodies(self, places: Sequence[tuple[Any, Any]]) -> list[Any]:
        """The bodies at (block, slot) places: each block read and decoded once."""
        wanted = sorted({block for block, _slot in places})
        blocks: dict[int, list[Any]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for block, raw in self._query(
                    f"SELECT id, body FROM blocks WHERE id IN ({', '.join('?' * len(chunk))})",
                    chunk):
                blocks[block] = decode_block(raw)  # type: ignore[index, arg-type]
        try:
            return [blocks[block][slot] for block, slot in places]
        except (KeyError, IndexError, TypeError) as exc:
            raise TimelineFileError(self.path, "corrupt entry: its block or its place in it "
                                    f"is missing ({exc!r})") from exc

    def span(self) -> tuple[float, float] | None:
        """The first and last moment recorded (entries and frames), or None when empty."""
        rows = self._query(
            "SELECT min(lo), max(hi) FROM (SELECT min(at) lo, max(at) hi FROM entries "
            "UNION ALL SELECT min(at), max(at) FROM frames)", ())
        lo, hi = rows[0]
        if lo is None or hi is None:
            return None
        return float(lo), float(hi)  # type: ignore[arg-type]

    def keyframe_before(self, at: float) -> tuple[float, bytes] | None:
        """The newest keyframe at or before ``at``: (its time, its body), or None."""
        rows = self._query("SELECT at, body FROM frames WHERE type = 'key' AND at <= ? "
                           "ORDER BY at DESC, id DESC LIMIT 1", (at,))
        if not rows:
            return None
        frame_at, body = rows[0]
        return float(frame_at), bytes(body)  # type: ignore[arg-type, call-overload]

    def checkpoint_before(self, at: float, *, after: float) -> tuple[float, bytes] | None:
        """The newest checkpoint with ``after < its time <= at``: (its time, its body)."""
        rows = self._query("SELECT at, body FROM frames WHERE type = 'check' AND at > ? "
                           "AND at <= ? ORDER BY at DESC, id DESC LIMIT 1", (after, at))
        if not rows:
            return None
        frame_at, body = rows[0]
        return float(frame_at), bytes(body)  # type: ignore[arg-type, call-overload]

    def deltas(self, after: float, until: float) -> list[tuple[float, bytes]]:
        """Delta frames with ``after < at <= until``, oldest first."""
        rows = self._query("SELECT at, body FROM frames WHERE type = 'delta' AND at > ? "
                           "AND at <= ? ORDER BY at, id", (after, until))
        return [(float(a), bytes(b)) for a, b in rows]  # type: ignore[arg-type, call-overload]

    def first_keyframe_at(self) -> float | None:
        """When the oldest keyframe kept was taken (a replay starts there), or None."""
        (at,) = self._query("SELECT min(at) FROM frames WHERE type = 'key'", ())[0]
        return None if at is None else float(at)  # type: ignore[arg-type]

    def last_frame_at(self) -> float | None:
        """When the newest frame was taken (a replay ends there), or None."""
        (at,) = self._query("SELECT max(at) FROM frames", ())[0]
        return None if at is None else float(at)  # type: ignore[arg-type]

    def frames(self, after: float, until: float) -> list[tuple[float, str, bytes]]:
        """Every frame (keyframes and deltas) with ``after < at <= until``, oldest first."""
        rows = self._query("SELECT at, type, body FROM frames WHERE at > ? AND at <= ? "
                           "ORDER BY at, id", (after, until))
        return [(float(a), str(t), bytes(b))  # type: ignore[arg-type, call-overload]
                for a, t, b in rows]

    def frame_times(self) -> list[float]:
        """Times of every frame, oldest first (the replay's stops)."""
        return [float(r[0]) for r in  # type: ignore[arg-type]
                self._query("SELECT at FROM frames ORDER BY at, id", ())]


def read_meta(path: Path | str) -> TimelineMeta:
    """The recording's context, creation time and schema version (checks the file)."""
    with TimelineReader(path) as reader:
        return reader.meta


def read_entries(
    path: Path | str,
    since: float | None = None,
    until: float | None = None,
    *,
    app: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    actor: str | None = None,
    kinds: Collection[str] | None = None,
    newest_first: bool = True,
    limit: int | None = None,
) -> list[TimelineEntry]:
    """The recording's entries in ``[since, until]`` (Unix seconds; None: unbounded).

    ``app``, ``namespace`` and ``name`` match exactly; ``actor`` matches case-insensitively
    anywhere in the actor ("argocd" finds "argocd (automated)"); ``kinds`` keeps only those
    entry kinds. Newest first unless ``newest_first=False``; at most ``limit`` entries.
    Raises :class:`TimelineFileError` for a missing, foreign, truncated or corrupt file.
    Synchronous: use ``asyncio.to_thread`` from the event loop.
    """
    with TimelineReader(path) as reader:
        return reader.entries(since, until, app=app, namespace=namespace, name=name,
                              actor=actor, kinds=kinds, newest_first=newest_first, limit=limit)


def default_path(state_dir: Path, context: str) -> Path:
    """``<state dir>/timeline/<context>.timeline``: one file per context."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in context) or "default"
    return state_dir / "timeline" / f"{safe}.timeline"


def file_size(path: Path) -> int:
    """Bytes on disk, the WAL included (what a recording costs)."""
    total = 0
    for candidate in (path, Path(f"{path}-wal")):
        with contextlib.suppress(OSError):
            total += os.stat(candidate).st_size
    return total
