"""Start and stop the recorder on a running store: what the App and ``controlroom record``
share (issue 17, point 1: the control room records as it watches).

Resuming: an existing file of the same context is continued, with the state it last
recorded (its replay frames) as the baseline, so what changed while nobody recorded is
recorded after the relist. Opening is blocking (SQLite, the integrity check, the baseline):
it runs in a worker thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from backends.store import Store
from backends.timeline.recorder import Recorder, restore_state
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


def _baseline(path: Path, context: str) -> Store | None:
    if not path.exists() or path.stat().st_size == 0:
        return None
    with TimelineReader(path) as reader:
        if reader.meta.context != context:
            return None  # the writer names the mismatch
        held = Store()
        return held if restore_state(reader, held) else None


async def open_recording(store: Store, path: Path, context: str, *,
                         journal_path: Path | None, retention: float = DEFAULT_RETENTION,
                         max_bytes: int = DEFAULT_MAX_BYTES) -> Recording:
    """Open (or resume) ``path`` and start recording ``store`` into it. Raises
    :class:`TimelineFileError` (naming the file and the problem) when it cannot."""
    baseline = await asyncio.to_thread(_baseline, path, context)
    writer = await asyncio.to_thread(TimelineWriter, path, context, retention=retention,
                                     max_bytes=max_bytes)
    recorder = Recorder(store, writer, context, journal_path=journal_path, baseline=baseline)
    task = asyncio.create_task(recorder.run(), name="timeline-recorder")
    return Recording(recorder, writer, task, resumed=baseline is not None)


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
