"""The recorder: turns what the store sees into timeline entries and replay frames.

It is one more consumer of the store (ARCHITECTURE.md's one-way flow): every ``tick`` it asks
:meth:`Store.changes_since` what changed, compares each changed row with the row it saw last
(the store keeps only the latest; the recorder keeps references to the previous rows, not
copies), and hands the entries to the :class:`~backends.timeline.store.TimelineWriter`,
which commits them from its own thread at least every half second. The same sources feed
it as feed the App (watch sources, alert pollers, the team bus), so the App and
``controlroom record`` record the same things.

What it decides, and why:

- First lists are not changes: rows that arrive while a kind's source is still on its first
  list are adopted silently (30,000 pods are not 30,000 "created" lines). Unless it resumes
  a recording: then the rows it last recorded (the file's replay state) are the baseline, and
  everything that differs after the relist is recorded (what changed while it was down),
  objects gone meanwhile included.
- Pods are aggregated per workload (:mod:`backends.timeline.podagg`); alerts once per alert
  whatever the number of sources (:mod:`backends.timeline.signals`).
- Replay frames: a keyframe (every row) once the first lists are in and then every
  ``keyframe_interval``; a delta (changed rows, removed keys, changed source health) per
  tick in between; a checkpoint (everything changed since the keyframe) every
  ``checkpoint_interval``, so that a seek applies at most that much of deltas. Keyframes and
  checkpoints are encoded by the writer's thread, not on the loop (30,000 pods take a
  fraction of a second): the loop only collects the rows, which are immutable.
- The journal is polled from a worker thread (never on the loop), only when its file exists
  (reading must not create it), each entry recorded once it reached its final status; a
  resumed recorder reads it from before the recording's end (our writes made while it was
  down), skipping what the recording already holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import msgspec

from backends.model import KINDS, PodRow, ReplicaSetRow, Row, make_key
from backends.ops.journal import JournalEntry
from backends.signals.bus_schema import PIPELINE, TEAMACTIONS, PipelineRow, TeamActionRow
from backends.signals.model import ALERTS, AlertRow
from backends.store import SourceHealth, Store
from backends.timeline.changes import DIFFERS, diff_row
from backends.timeline.entry import TimelineEntry
from backends.timeline.frames import ROW_TYPES, FrameState, encode_frame
from backends.timeline.podagg import PodAggregator
from backends.timeline.signals import AlertTracker, bus_entry, health_entry, journal_entry
from backends.timeline.store import TimelineReader
from backends.timeline.writer import TimelineWriter

__all__ = ["RecordedState", "Recorder", "journal_key", "recorded_state", "restore_state"]

log = logging.getLogger(__name__)

_WATCHED_KINDS: frozenset[str] = frozenset(KINDS) & frozenset(ROW_TYPES)
"""The cluster kinds recorded (not the metrics: see :data:`ROW_TYPES`)."""


class RecordedState(msgspec.Struct, kw_only=True):
    """The recorded rows and source health at a moment, in plain tables (kind -> key ->
    row): cheap to build, handed to a store once per kind."""

    at: float = 0.0
    tables: dict[str, dict[str, Row]] = msgspec.field(default_factory=dict)
    health: dict[str, SourceHealth] = msgspec.field(default_factory=dict)

    def into(self, store: Store) -> None:
        """Make ``store`` hold exactly this state's recorded kinds and health (only the
        differences are stamped, so its consumers repaint what changed)."""
        for kind in ROW_TYPES:
            store.replace(kind, self.tables.get(kind, {}).values())
        for source, state in self.health.items():
            store.set_health(source, state.state, state.error, now=state.since)


def recorded_state(reader: TimelineReader, until: float | None = None) -> RecordedState:
    """The recording's state at ``until`` (default: its end): the newest keyframe at or
    before it, the newest checkpoint after it (everything changed since the keyframe,
    :meth:`Recorder._checkpoint`), then the deltas after that (``at`` 0.0: no keyframe
    yet). Patches are applied to row mirrors, typed once at the end (:class:`FrameState`)."""
    end = until if until is not None else float("inf")
    key = reader.keyframe_before(end)
    if key is None:
        return RecordedState()
    at, body = key
    frames = FrameState()
    frames.keyframe(body)
    check = reader.checkpoint_before(end, after=at)
    if check is not None:
        at, body = check
        frames.delta(body)
    for _at, delta in reader.deltas(at, end):
        frames.delta(delta)
    return RecordedState(at=frames.at, tables=frames.rows(), health=frames.health)


def restore_state(reader: TimelineReader, store: Store, until: float | None = None) -> float:
    """Bring ``store`` to the recording's state at ``until`` (see :func:`recorded_state`);
    returns the time of the last frame applied (0.0 when there is no keyframe yet)."""
    state = recorded_state(reader, until)
    if state.at:
        state.into(store)
    return state.at


def journal_key(entry: TimelineEntry) -> tuple[float, str, str]:
    """What tells one recorded journal entry from another (a resumed recorder reads some of
    the journal again and must not record an entry twice): when the write started, on what,
    and what it did with which outcome."""
    return (entry.at, entry.name, entry.change)


class Recorder:
    """Records one context's store into a :class:`TimelineWriter`.

    ``baseline`` (from :func:`restore_state` on resume) holds the rows last recorded; None
    for a fresh recording. Call :meth:`tick` yourself (tests) or :meth:`run` as a task.
    """

    def __init__(
        self,
        store: Store,
        writer: TimelineWriter,
        context: str,
        *,
        journal_path: Path | None = None,
        baseline: Store | None = None,
        tick_seconds: float = 0.5,
        keyframe_interval: float = 600.0,
        checkpoint_interval: float = 30.0,
        delta_interval: float = 1.0,
        pod_window: float = 60.0,
        first_list_limit: float = 30.0,
        clock: Callable[[], float] = time.time,
        journal_since: float | None = None,
        journal_recorded: set[tuple[float, str, str]] | None = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.context = context
        self.journal_path = journal_path
        self.tick_seconds = tick_seconds
        self.keyframe_interval = keyframe_interval
        self.first_list_limit = first_list_limit
        self._clock = clock
        self._started = clock()
        self._version = 0
        self._prev: dict[str, dict[str, Row]] = {}
        self._health: dict[str, SourceHealth] = {}
        self._resuming = baseline is not None
        self._primed: set[str] = set()
        self._pods = PodAggregator(context, self._workload_of, window=pod_window)
        self._alerts = AlertTracker(context)
        self._last_keyframe: float | None = None
        self._places: dict[str, dict[str, int]] = {}
        self.checkpoint_interval = checkpoint_interval
        self._last_checkpoint = 0.0
        self._key_rows: dict[str, dict[str, Row]] = {}
        self._since_key: dict[str, set[str]] = {}
        self._last_frame = 0.0
        self.delta_interval = delta_interval
        # What changed since the last frame: the latest rows, each key's row as of that
        # frame (None: new, so stored whole), removed keys, changed source health.
        self._pending_rows: dict[str, dict[str, Row]] = {}
        self._pending_base: dict[str, dict[str, Row | None]] = {}
        self._pending_removed: dict[str, set[str]] = {}
        self._pending_health: dict[str, SourceHealth] = {}
        self._journal_seen: set[int] = set()
        self._journal_since: datetime | None = None
        if journal_since is not None:  # resumed: read from before the recording's end
            self._journal_since = datetime.fromtimestamp(journal_since, UTC)
        self._journal_recorded = journal_recorded or set()
        """Journal entries the resumed recording already holds (:func:`journal_key`)."""
        self.entries_recorded = 0
        if baseline is not None:
            for kind in ROW_TYPES:
                rows = baseline.held(kind)
                if rows:
                    self._prev[kind] = dict(rows)
            self._alerts.update((r for r in self._prev.get(ALERTS, {}).values()
                                 if isinstance(r, AlertRow)), (), clock())

    # ------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Tick until cancelled; the journal is polled alongside."""
        journal = asyncio.create_task(self._poll_journal(), name="timeline-journal")
        try:
            while True:
                self.tick()
                await asyncio.sleep(self.tick_seconds)
        finally:
            journal.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await journal

    async def close(self) -> None:
        """Record what is still open (pod windows, the journal) and commit it all."""
        self.tick()
        with contextlib.suppress(Exception):
            await self._journal_once()
        self._emit(self._pods.due(self._clock(), all_=True))
        await asyncio.to_thread(self.writer.flush)

    # ------------------------------------------------------------ one tick

    def tick(self) -> None:
        """Record what changed in the store since the last tick."""
        now = self._clock()
        changes = self.store.changes_since(self._version)
        self._version = changes.version
        entries: list[TimelineEntry] = []
        # Kinds primed before this tick: rows of a first list that ended during it are still
        # adopted silently (the list and the tick raced; the next change is recorded).
        primed = set(self._primed)
        newly_primed = self._update_primed(now)
        if changes.full:
            upserted = {kind: frozenset(self.store.held(kind)) for kind in ROW_TYPES}
            removed = {kind: frozenset(k for k in self._prev.get(kind, {})
                                       if k not in self.store.held(kind))
                       for kind in ROW_TYPES}
        else:
            upserted, removed = dict(changes.upserted), dict(changes.removed)
        for kind, keys in upserted.items():
            if kind not in ROW_TYPES:
                continue
            held = self.store.held(kind)
            prev = self._prev.setdefault(kind, {})
            silent = kind in _WATCHED_KINDS and kind not in primed and not self._resuming
            for key in keys:
                new = held.get(key)
                if new is None:
                    continue
                old = prev.get(key)
                prev[key] = new
                self._pending_upsert(kind, key, old, new)
                if not silent:
                    entries.extend(self._diff(kind, old, new, now))
        for kind, keys in removed.items():
            if kind not in ROW_TYPES:
                continue
            prev = self._prev.setdefault(kind, {})
            for key in keys:
                old = prev.pop(key, None)
                self._pending_remove(kind, key, old)
                if old is not None:
                    entries.extend(self._diff(kind, old, None, now))
        for kind in newly_primed:
            entries.extend(self._reconcile(kind, now))
        alerts_up = [self.store.held(ALERTS).get(k) for k in upserted.get(ALERTS, ())]
        entries.extend(self._alerts.update((r for r in alerts_up if isinstance(r, AlertRow)),
                                           removed.get(ALERTS, ()), now))
        for source, health in changes.health.items():
            entry = health_entry(source, self._health.get(source), health, now, self.context)
            self._health[source] = health
            if entry is not None:
                entries.append(entry)
        entries.extend(self._pods.due(now))
        self._emit(entries)
        self._pending_health.update(changes.health)
        self._frames(now)

    def _diff(self, kind: str, old: Row | None, new: Row | None,
              now: float) -> list[TimelineEntry]:
        if kind == "pods":
            self._pods.add(old if isinstance(old, PodRow) else None,
                           new if isinstance(new, PodRow) else None, now)
            return []
        if kind in DIFFERS:
            return diff_row(kind, old, new, now, self.context)
        if kind == TEAMACTIONS and isinstance(new, TeamActionRow) and old is None:
            return [bus_entry(new, now, self.context)]
        if kind == PIPELINE and isinstance(new, PipelineRow) and (
                not isinstance(old, PipelineRow) or (old.phase, old.status) !=
                (new.phase, new.status)):
            return [bus_entry(new, now, self.context)]
        return []

    def _update_primed(self, now: float) -> list[str]:
        """Kinds whose first list just ended (every source of the kind past
        ``connecting``), or every kind once ``first_list_limit`` passed."""
        states: dict[str, list[str]] = {}
        for name, health in self.store.all_health().items():
            kind = name.partition("@")[0]
            if kind in _WATCHED_KINDS:
                states.setdefault(kind, []).append(health.state)
        late = now - self._started >= self.first_list_limit
        newly = [kind for kind in _WATCHED_KINDS - self._primed
                 if late or (kind in states and "connecting" not in states[kind])]
        self._primed.update(newly)
        return newly

    def _reconcile(self, kind: str, now: float) -> list[TimelineEntry]:
        """After a resumed kind's first list: what the recording held that is gone now."""
        if not self._resuming:
            return []
        held = self.store.held(kind)
        prev = self._prev.get(kind, {})
        gone = [key for key in prev if key not in held]
        out: list[TimelineEntry] = []
        for key in gone:
            old = prev.pop(key)
            self._pending_remove(kind, key, old)
            out.extend(self._diff(kind, old, None, now))
        return out

    def _workload_of(self, pod: PodRow) -> str:
        if pod.owner_kind == "ReplicaSet":
            rs = self.store.get("replicasets", make_key(pod.namespace, pod.owner_name))
            if isinstance(rs, ReplicaSetRow) and rs.deployment:
                return f"Deployment/{rs.deployment}"
        if pod.owner_kind:
            return f"{pod.owner_kind}/{pod.owner_name}"
        return f"Pod/{pod.name}"

    def _emit(self, entries: list[TimelineEntry]) -> None:
        if entries:
            self.writer.append(entries)
            self.entries_recorded += len(entries)

    # ------------------------------------------------------------ frames

    def _pending_upsert(self, kind: str, key: str, old: Row | None, new: Row) -> None:
        base = self._pending_base.setdefault(kind, {})
        if key not in base:
            base[key] = old
        removed = self._pending_removed.get(kind)
        if removed is not None and key in removed:
            removed.discard(key)
            base[key] = None  # gone and back: stored whole, not as a patch
        self._pending_rows.setdefault(kind, {})[key] = new
        self._since_key.setdefault(kind, set()).add(key)

    def _pending_remove(self, kind: str, key: str, old: Row | None) -> None:
        self._pending_base.setdefault(kind, {}).setdefault(key, old)
        self._pending_rows.get(kind, {}).pop(key, None)
        self._pending_removed.setdefault(kind, set()).add(key)
        self._since_key.setdefault(kind, set()).add(key)

    def _frames(self, now: float) -> None:
        """A keyframe when due, else a delta of what changed since the last frame, at most
        every ``delta_interval`` (a key changed many times in between is stored once)."""
        ready = len(self._primed) == len(_WATCHED_KINDS)
        if self._last_keyframe is None:
            if ready:
                self._keyframe(now)
            return
        if now - self._last_keyframe >= self.keyframe_interval:
            self._keyframe(now)
            return
        if now - self._last_frame < self.delta_interval:
            return
        rows = {kind: list(items.values()) for kind, items in self._pending_rows.items()
                if items}
        removed = {kind: sorted(keys) for kind, keys in self._pending_removed.items() if keys}
        if rows or removed or self._pending_health:
            before = {kind: {k: v for k, v in base.items() if v is not None}
                      for kind, base in self._pending_base.items()}
            # Encoded here: a delta is small, and deferred it would keep the rows it
            # replaced alive until the writer's next commit.
            self.writer.append_frame(now, "delta", encode_frame(
                now, rows, removed, self._pending_health, before=before, places=self._places))
        self._clear_pending(now)
        if now - self._last_checkpoint >= self.checkpoint_interval and self._since_key:
            self._checkpoint(now)

    def _checkpoint(self, now: float) -> None:
        """Everything that changed since the keyframe, as one delta from it (each changed
        row once, patched from its keyframe row): a seek applies the newest checkpoint
        and then at most ``checkpoint_interval`` of deltas, not every delta since the
        keyframe (at 1,000 pod changes a second, 600,000 patches after ten minutes). It
        costs about a patch per changed row (a tenth of a keyframe at most). Every 30 s by
        default: at 1,000 changes/s a seek then applies at most 30,000 patches of deltas
        after up to 30,000 of the checkpoint (bench/bench_timeline.py --synth-rate 1000:
        0.15 s of CPU each), for 5 MB an hour of checkpoints."""
        rows: dict[str, list[Row]] = {}
        removed: dict[str, list[str]] = {}
        before: dict[str, dict[str, Row]] = {}
        for kind, keys in self._since_key.items():
            at_key = self._key_rows.get(kind, {})
            now_held = self._prev.get(kind, {})
            for key in sorted(keys):
                base, current = at_key.get(key), now_held.get(key)
                if current is None:
                    if base is not None:
                        removed.setdefault(kind, []).append(key)
                    continue
                rows.setdefault(kind, []).append(current)
                if base is not None:
                    before.setdefault(kind, {})[key] = base
        self.writer.append_frame(now, "check", partial(
            encode_frame, now, rows, removed, dict(self.store.all_health()), before=before,
            places=self._places))
        self._last_checkpoint = now

    def _clear_pending(self, now: float) -> None:
        self._pending_rows = {}
        self._pending_base = {}
        self._pending_removed = {}
        self._pending_health = {}
        self._last_frame = now

    def _keyframe(self, now: float) -> None:
        rows = {kind: list(self.store.held(kind).values()) for kind in ROW_TYPES}
        body = partial(encode_frame, now, rows, None, dict(self.store.all_health()))
        # The deltas until the next keyframe name its rows by their place in it.
        self._places = {kind: {row.key: i for i, row in enumerate(items)}
                        for kind, items in rows.items()}
        self._key_rows = {kind: {row.key: row for row in items} for kind, items in rows.items()}
        self._since_key = {}
        self.writer.append_frame(now, "key", body)
        self._last_keyframe = self._last_checkpoint = now
        self._clear_pending(now)

    # ------------------------------------------------------------ the journal

    async def _poll_journal(self) -> None:
        while True:
            try:
                await self._journal_once()
            except Exception as exc:  # noqa: BLE001 - a bad journal must not stop recording
                log.warning("timeline: journal not readable: %s", exc)
            await asyncio.sleep(1.0)

    async def _journal_once(self) -> None:
        path = self.journal_path
        if path is None or not path.exists():
            return
        from backends.ops.journal import FINAL_STATUSES, JournalDB

        since = self._journal_since or datetime.fromtimestamp(self._started, UTC) - timedelta(
            seconds=5)

        def read() -> list[JournalEntry]:
            with JournalDB.open(path) as db:
                return db.entries(since=since, context=self.context)

        now = self._clock()
        fresh: list[TimelineEntry] = []
        pending_from: datetime | None = None
        for entry in await asyncio.to_thread(read):
            if entry.status not in FINAL_STATUSES:
                if pending_from is None or entry.ts < pending_from:
                    pending_from = entry.ts
                continue
            if entry.id in self._journal_seen:
                continue
            self._journal_seen.add(entry.id)
            recorded = journal_entry(entry, now)
            if journal_key(recorded) not in self._journal_recorded:
                fresh.append(recorded)
        if pending_from is not None:
            self._journal_since = pending_from
        elif fresh:
            self._journal_since = max(datetime.fromtimestamp(e.at, UTC) for e in fresh)
        self._emit(fresh)
