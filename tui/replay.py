"""``controlroom replay FILE``: the control room on a recording, with a time cursor.

The same App, the same panels, fed from the recording instead of a cluster (issue 17,
point 5). Read-only by construction: the session has no connection (no key that writes can
reach a cluster: the write keys need the gate, which needs a connection) and the target is
read-only (the gate refuses anyway); the journal is not opened.

Keys (added to the App's): ``space`` play / pause (in place of freezing the view: ``o``
stays the links key), ``<`` / ``>`` play slower / faster (1x to 60x), ``[`` / ``]`` step
10 s back / forward, ``{`` / ``}`` one minute back / forward,
``home`` / ``end`` the start / end of the recording (instead of the tables' first / last
row). The header says where the cursor is.
The App's clock is the cursor, so every age in every panel reads as it did then.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from textual.binding import Binding, BindingType

from backends.config import Settings, parse_duration
from backends.timeline.replay import ReplayCursor, ReplaySource, copy_state
from backends.timeline.store import TimelineFileError
from tui.app import ControlRoomApp
from tui.session import Session, Target

__all__ = ["ReplayApp", "parse_at", "run_replay"]

STEP_S = 10.0
JUMP_S = 60.0


def parse_at(text: str, start: float) -> float:
    """``--at``: an offset from the recording's start (``90s``, ``5m``) or a time (RFC 3339);
    ValueError with the accepted forms otherwise."""
    try:
        return start + parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--at {text!r}: expected an offset from the start like 90s, 5m, "
                         "1h30m or a time like 2026-12-07T14:02:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class ReplayApp(ControlRoomApp):
    """The control room on a recording (see the module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "replay_play", "Play/pause", id="replay_play",
                tooltip="Replay: play or pause the recording"),
        Binding("greater_than_sign", "replay_speed(1)", "Faster", id="replay_faster",
                tooltip="Replay: play faster (up to 60x)"),
        Binding("less_than_sign", "replay_speed(-1)", "Slower", id="replay_slower",
                tooltip="Replay: play slower (down to 1x)"),
        Binding("right_square_bracket", f"replay_step({STEP_S:g})", "+10s", id="replay_fwd",
                tooltip="Replay: 10 s forward"),
        Binding("left_square_bracket", f"replay_step({-STEP_S:g})", "-10s", id="replay_back",
                tooltip="Replay: 10 s back"),
        Binding("right_curly_bracket", f"replay_step({JUMP_S:g})", "+1m", show=False,
                id="replay_fwd_min", tooltip="Replay: one minute forward"),
        Binding("left_curly_bracket", f"replay_step({-JUMP_S:g})", "-1m", show=False,
                id="replay_back_min", tooltip="Replay: one minute back"),
        # priority: the tables bind home/end to their first/last row; in a replay they move
        # the cursor in time (the tables keep g/G and the page keys)
        Binding("home", "replay_seek('start')", "Start", show=False, id="replay_start",
                priority=True, tooltip="Replay: the start of the recording"),
        Binding("end", "replay_seek('end')", "End", show=False, id="replay_end",
                priority=True, tooltip="Replay: the end of the recording"),
    ]

    def __init__(self, settings: Settings, settings_path: Path | None, source: ReplaySource,
                 cursor: ReplayCursor, *, theme: str | None = None) -> None:
        self.replay = source
        self.cursor = cursor
        self._shown_at: float | None = None
        self._moving = asyncio.Lock()
        target = Target(cluster=f"replay of {source.path.name}", context=source.context,
                        read_only=True)
        super().__init__(settings, settings_path, target, self._start_replay, theme=theme,
                         clock=cursor.now, journal_path=None)
        # ``i``: the timeline of the replayed file, up to the cursor (tui/timeline_actions.py)
        self.timeline.path = source.path
        self.timeline.until = cursor.now

    async def _start_replay(self, store: object) -> Session:
        await self.seek(self.cursor.position)

        async def stop() -> None:
            self.replay.close()

        return Session(stop=stop)

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(1.0, self._play_tick)

    # ------------------------------------------------------------ moving the cursor

    async def seek(self, moment: float) -> None:
        """Show the recorded state at ``moment`` (clamped to the recording)."""
        async with self._moving:
            target = self.cursor.seek(moment)
            shown = self._shown_at
            if shown is not None and shown <= target and target - shown <= 10 * JUMP_S:
                frames = await asyncio.to_thread(self.replay.frames_between, shown, target)
                self.replay.apply(self.store, frames)
            else:
                state = await asyncio.to_thread(self.replay.state_at, target)
                copy_state(state, self.store)
            self._shown_at = target
        self._show_modes()
        self.refresh_tick()
        self.refresh_ages()

    async def _play_tick(self) -> None:
        if self.cursor.playing and not self._moving.locked():
            await self.seek(self.cursor.position + self.cursor.speed)

    async def action_replay_play(self) -> None:
        if self.cursor.position >= self.cursor.end:
            await self.seek(self.cursor.start)
        self.cursor.playing = not self.cursor.playing
        self._show_modes()

    def action_replay_speed(self, direction: int) -> None:
        if direction > 0:
            self.cursor.faster()
        else:
            self.cursor.slower()
        self._show_modes()

    async def action_replay_step(self, seconds: float) -> None:
        await self.seek(self.cursor.position + seconds)

    async def action_replay_seek(self, where: str) -> None:
        await self.seek(self.cursor.start if where == "start" else self.cursor.end)

    # ------------------------------------------------------------ the header

    def replay_line(self) -> str:
        """``REPLAY 14:02:31 UTC (+3m10s of 1h00m) playing 10x``: our own words."""
        at = datetime.fromtimestamp(self.cursor.position, UTC).strftime("%Y-%m-%d %H:%M:%S")
        offset = _span(self.cursor.position - self.cursor.start)
        total = _span(self.cursor.end - self.cursor.start)
        state = f"playing {self.cursor.speed}x" if self.cursor.playing else \
            f"paused ({self.cursor.speed}x)"
        return f"REPLAY {at} UTC (+{offset} of {total}) {state}"

    def _show_modes(self) -> None:
        """The cursor instead of the live modes: a replay has no breaker of its own and is
        always read-only."""
        modes = [self.replay_line(), "READ-ONLY"]
        if self.frozen:
            modes.append("FROZEN (space to resume)")
        self.header.show_modes(*modes)
        self._sync_team()


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def open_replay(path: Path, at: str | None) -> tuple[ReplaySource, ReplayCursor]:
    """The recording and a cursor at ``at`` (default: its start); TimelineFileError or
    ValueError say what is wrong."""
    source = ReplaySource(path)
    try:
        start = parse_at(at, source.start) if at else source.start
    except ValueError:
        source.close()
        raise
    cursor = ReplayCursor(start=source.start, end=source.end, position=source.start)
    cursor.seek(start)
    return source, cursor


def run_replay(args: argparse.Namespace, settings: Settings, settings_path: Path) -> int:
    """``controlroom replay FILE [--at WHEN]``."""
    from tui.run import run_app

    try:
        source, cursor = open_replay(Path(args.file), args.at)
    except (TimelineFileError, ValueError) as exc:
        print(f"controlroom replay: {exc}", file=sys.stderr)
        return 2
    return run_app(ReplayApp(settings, settings_path, source, cursor, theme=args.theme))
