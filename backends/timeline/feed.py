"""The timeline screen's reads of a recording: the newest entries and what the alerts need.

Why a class of its own, apart from the screen: reading SQLite blocks, so the screen calls
:meth:`TimelineFeed.read` through ``asyncio.to_thread`` every two seconds; the reading
decisions (how many entries, which earlier changes the correlation needs, checking the file
once and not on every read, saying "no recording yet" instead of an empty list) are not the
widget's business, and replay can reuse them.

A read returns a :class:`FeedState`, never raises: a missing or damaged file is said in its
``error`` (with the last entries read kept by the screen), so the screen never shows a calm
empty list for a recording it could not read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec

from backends.timeline.correlate import CHANGE_KINDS, DEFAULT_WINDOW_S
from backends.timeline.entry import TimelineEntry
from backends.timeline.store import TimelineFileError, TimelineReader, file_size

__all__ = ["CHECK_WHOLE_BYTES", "SCREEN_LIMIT", "FeedState", "TimelineFeed"]

SCREEN_LIMIT: Final = 5000
"""The newest entries the screen holds (the title says when the recording has more)."""

CHECK_WHOLE_BYTES: Final = 256 * 2**20
"""Up to this size the whole file's integrity is checked before it is shown or exported (a
fraction of a second); a bigger one (a 48-hour recording is gigabytes) would take seconds:
then only the pages read are checked (SQLite refuses a damaged page as it reads it), and the
screen's title and the export's stderr say so. The header (a truncated file) is always
checked."""


class FeedState(msgspec.Struct, frozen=True, kw_only=True):
    """One read of the recording."""

    path: str
    entries: tuple[TimelineEntry, ...] | None = None
    """Newest first; None when nothing could be read this time."""
    earlier: tuple[TimelineEntry, ...] = ()
    """Changes older than the oldest entry held, within the window of its alerts."""
    error: str = ""
    limited: bool = False
    """The recording holds more entries than :data:`SCREEN_LIMIT`."""
    partly_checked: bool = False
    """Only the pages read were checked (:data:`CHECK_WHOLE_BYTES`)."""

    def same_entries(self, other: FeedState) -> bool:
        """Nothing to redraw: the same entries as ``other`` (compared by their ends and
        count, which an append-only recording changes on every append)."""
        a, b = self.entries, other.entries
        if a is None or b is None:
            return a is b
        return len(a) == len(b) and (not a or (a[0] == b[0] and a[-1] == b[-1]))

    def title(self, shown: int, held: int) -> str:
        """The screen's title line: the file, what is shown, and any problem."""
        if self.error:
            return f"Timeline: {self.error}" + (
                f" (showing the {held} entries read before)" if held else "")
        more = f" (the newest {held}; older ones are in the file)" if self.limited else ""
        checked = "; the file is too big to check whole: only what is shown was checked" \
            if self.partly_checked else ""
        return f"Timeline of {self.path}: {shown} of {held} entries{more}, newest first{checked}"


class TimelineFeed:
    """Reads one recording for the screen (synchronous: call through ``asyncio.to_thread``)."""

    def __init__(self, path: Path, *, window: float = DEFAULT_WINDOW_S,
                 limit: int = SCREEN_LIMIT,
                 until: Callable[[], float | None] | None = None) -> None:
        """``until``: the latest moment to show, asked at each read (a replay's cursor:
        nothing after it is shown); None shows everything recorded."""
        self.path = path
        self.window = window
        self.limit = limit
        self.until = until
        self._checked = False
        self.partly_checked = False
        """The file is too big for the whole-file check: only the pages read were checked."""

    def read(self) -> FeedState:
        """The newest entries and the earlier changes their alerts may have followed."""
        where = str(self.path)
        if not self.path.exists():
            return FeedState(path=where, entries=(), error=(
                f"no recording yet at {where} (the control room records there while it "
                "runs, or start `controlroom record`)"))
        try:
            # The full integrity check reads the whole file: once per screen, not per read,
            # and not at all for a big one (CHECK_WHOLE_BYTES).
            if not self._checked:
                self.partly_checked = file_size(self.path) > CHECK_WHOLE_BYTES
            with TimelineReader(self.path, check=not (self._checked or self.partly_checked)
                                ) as reader:
                self._checked = True
                until = self.until() if self.until is not None else None
                entries = reader.entries(None, until, limit=self.limit + 1)
                limited = len(entries) > self.limit
                entries = entries[:self.limit]
                earlier: list[TimelineEntry] = []
                if limited and entries:
                    oldest = entries[-1].at
                    held = set(entries)
                    earlier = [e for e in reader.entries(oldest - self.window, oldest,
                                                         kinds=CHANGE_KINDS)
                               if e not in held]
        except TimelineFileError as exc:
            return FeedState(path=where, error=str(exc))
        return FeedState(path=where, entries=tuple(entries), earlier=tuple(earlier),
                         limited=limited, partly_checked=self.partly_checked)
