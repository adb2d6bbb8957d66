"""The replay's time cursor and how it moves a store through a recording (issue 17, point 5).

Kept out of the TUI so the cursor's rules (clamping, steps, play speeds) and the state
loading are testable and benchmarkable without a screen; :mod:`tui.replay` only binds keys
to them and draws where the cursor is.

How the store follows the cursor: a seek backwards (or far forwards) rebuilds the state at
the cursor in a fresh store, off the event loop (newest keyframe at or before it, plus the
deltas after it), then ``replace``s each kind of the App's store with it on the loop: rows
that did not change are not stamped, so the panels repaint only what differs. Playing
forwards applies just the frames between the old and the new position. The App's clock is
the cursor, so every age and "since" reads as it did at that moment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from backends.kube.gcpause import collector_held
from backends.store import Store
from backends.timeline.frames import Order, apply_frame, keyframe_order
from backends.timeline.recorder import RecordedState, recorded_state
from backends.timeline.store import TimelineFileError, TimelineReader

__all__ = ["SPEEDS", "ReplayCursor", "ReplaySource", "copy_state"]

SPEEDS: tuple[int, ...] = (1, 2, 5, 10, 30, 60)
"""Play speeds (recorded seconds per second)."""


@dataclass
class ReplayCursor:
    """Where the replay is: ``position`` within ``[start, end]``, playing or not, how fast."""

    start: float
    end: float
    position: float
    playing: bool = False
    speed: int = 1

    def seek(self, moment: float) -> float:
        """Move to ``moment`` (clamped to the recording); returns the new position."""
        self.position = min(self.end, max(self.start, moment))
        if self.position >= self.end:
            self.playing = False
        return self.position

    def step(self, seconds: float) -> float:
        """Move by ``seconds`` (negative: back)."""
        return self.seek(self.position + seconds)

    def faster(self) -> int:
        """The next play speed up (stays at the fastest)."""
        index = SPEEDS.index(self.speed) if self.speed in SPEEDS else 0
        self.speed = SPEEDS[min(len(SPEEDS) - 1, index + 1)]
        return self.speed

    def slower(self) -> int:
        """The next play speed down (stays at 1x)."""
        index = SPEEDS.index(self.speed) if self.speed in SPEEDS else 0
        self.speed = SPEEDS[max(0, index - 1)]
        return self.speed

    def now(self) -> float:
        """The clock of the replayed App: the cursor."""
        return self.position


def copy_state(state: RecordedState, target: Store) -> None:
    """Make ``target`` hold exactly ``state`` (only the differences are stamped, so the
    panels repaint what changed); the collector held meanwhile (``collector_held``)."""
    with collector_held():
        state.into(target)


class ReplaySource:
    """Reads a recording for the replay: its span, and the state at any moment.

    One reader per instance, used from one worker thread at a time (a lock guards it).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._reader = TimelineReader(self.path)
        self._lock = threading.Lock()
        self._orders: dict[float, Order] = {}
        first = self._reader.first_keyframe_at()
        last = self._reader.last_frame_at()
        if first is None or last is None:
            self._reader.close()
            raise TimelineFileError(self.path, "holds no replay state yet (no keyframe: the "
                                    "recording stopped before its first lists were in)")
        self.start = first
        self.end = max(last, first)
        self.context = self._reader.meta.context

    def close(self) -> None:
        self._reader.close()

    def state_at(self, moment: float) -> RecordedState:
        """The recorded state at ``moment`` (blocking: call it in a worker thread)."""
        with self._lock, collector_held():  # 30,000 rows built: no collection walks them
            return recorded_state(self._reader, moment)

    def frames_between(self, after: float, until: float
                       ) -> list[tuple[float, str, bytes, Order | None]]:
        """The frames in ``(after, until]``, oldest first, each delta with its keyframe's
        order (what its patches' places mean; blocking)."""
        with self._lock:
            out: list[tuple[float, str, bytes, Order | None]] = []
            for at, frame_type, body in self._reader.frames(after, until):
                if frame_type == "check":
                    continue  # the deltas around it say the same, step by step
                if frame_type == "key":
                    self._orders = {at: keyframe_order(body)}
                    out.append((at, frame_type, body, None))
                else:
                    out.append((at, frame_type, body, self._order_for(at)))
            return out

    def _order_for(self, at: float) -> Order:
        """The order of the keyframe a delta at ``at`` belongs to (the newest at or before
        it; decoded once and kept while playing through its deltas)."""
        key = self._reader.keyframe_before(at)
        if key is None:
            return {}
        key_at, body = key
        order = self._orders.get(key_at)
        if order is None:
            order = keyframe_order(body)
            self._orders = {key_at: order}
        return order

    @staticmethod
    def apply(store: Store, frames: list[tuple[float, str, bytes, Order | None]]) -> None:
        """Apply frames read by :meth:`frames_between` to ``store`` (on the store's loop)."""
        for _at, frame_type, body, order in frames:
            apply_frame(store, body, keyframe=frame_type == "key", order=order)
