"""Start and stop the recorder on a running store: what the App and ``controlroom record``
share (issue 17, point 1: the control room records as it watches).

Resuming: an existing file of the same context is continued, with the state it last
recorded (its replay frames) as the baseline, so what changed while nobody recorded is
recorded after the relist; the journal is read again from a while before the recording's
last frame, so our own writes made meanwhile are recorded too (each once). Opening is
blocking (SQLite, the integrity check, the baseline): it runs in a worker thread, never on
the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from backends.store import Store
from backends.timeline.recorder import Recorder, journal_key, restore_state
from backends.timeline.store import (
    DEFAULT_MAX_BYTES,
    DEFAULT_RETENTION,
    TimelineFileError,
    TimelineReader,
)
from backends.timeline.writer import TimelineWriter

__all__ = ["TIMELINE_SOURCE", "Recording", "open_recording", "record_in_background"]

TIMELINE_SOURCE = "timeline"
"""The source name the App's header shows when its own recording cannot run."""


@dataclass
class Recording:
    """A running recorder: stop it with :meth:`stop` (records what is open, commits)."""

    recorder: Recorder
    writer: TimelineWriter
    task: asyncio.Task[None]
    resumed: bool

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        try:
            await self.recorder.close()
        finally:
            await asyncio.to_thread(self.writer.close)


JOURNAL_LOOKBACK_S = 600.0
"""How far before the recording's last frame a resumed recorder reads the journal again:
an operation that was still running when the recorder stopped finishes later but is dated
when it started. What the recording already holds is not written twice."""


@dataclass
class _Resume:
    """What a resumed recording starts from: the rows it last recorded, and where the
    journal is read from (with the journal entries already recorded since then)."""

    baseline: Store
    journal_since: float
    journal_recorded: set[tuple[float, str, str]]


def _baseline(path: Path, context: str) -> _Resume | None:
    if not path.exists() or path.stat().st_size == 0:
        return None
    with TimelineReader(path) as reader:
        if reader.meta.context != context:
            return None  # the writer names the mismatch
        held = Store()
        last = restore_state(reader, held)
        if not last:
            return None
        since = last - JOURNAL_LOOKBACK_S
        recorded = {journal_key(e) for e in reader.entries(since, kinds=["journal"])}
        return _Resume(held, since, recorded)


async def open_recording(store: Store, path: Path, context: str, *,
                         journal_path: Path | None, retention: float = DEFAULT_RETENTION,
                         max_bytes: int = DEFAULT_MAX_BYTES) -> Recording:
    """Open (or resume) ``path`` and start recording ``store`` into it. Raises
    :class:`TimelineFileError` (naming the file and the problem) when it cannot."""
    resume = await asyncio.to_thread(_baseline, path, context)
    writer = await asyncio.to_thread(TimelineWriter, path, context, retention=retention,
                                     max_bytes=max_bytes)
    if resume is None:
        recorder = Recorder(store, writer, context, journal_path=journal_path)
    else:
        recorder = Recorder(store, writer, context, journal_path=journal_path,
                            baseline=resume.baseline, journal_since=resume.journal_since,
                            journal_recorded=resume.journal_recorded)
    task = asyncio.create_task(recorder.run(), name="timeline-recorder")
    return Recording(recorder, writer, task, resumed=resume is not None)


async def record_in_background(store: Store, path: Path, context: str, *,
                               journal_path: Path | None) -> Callable[[], Awaitable[None]]:
    """The App's recording: started with its sources, stopped with them. A file that
    cannot be recorded into (damaged, another context, another process recording) does not
    stop the App: the header says so (source ``timeline`` in error), never silence."""
    try:
        recording = await open_recording(store, path, context, journal_path=journal_path)
    except TimelineFileError as exc:
        store.set_health(TIMELINE_SOURCE, "error", f"not recording: {exc}")

        async def nothing() -> None:
            return None

        return nothing
    store.set_health(TIMELINE_SOURCE, "connected")
    return recording.stop
