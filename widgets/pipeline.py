"""What the team bus shows: the deployment pipeline strip and the header's team line.

The pipeline strip is one line, the latest phase per environment, e.g.
``prod: applications ✓ rev abc123 · staging: platform-services ✗ failed``: during a
production update the on-call engineer must see at a glance which phase each environment is in
and whether it failed, without leaving the control room. It hides itself (``-empty``) while no
pipeline has reported, so a control room without a team bus looks exactly as before.

:func:`team_text` renders the other instances' breakers (``TEAM: breaker engaged on <ctx> by
<who> since T``) and the bus's own trouble (queued, dropped, rejected messages) for the header.

Every string shown here was sanitized where it entered (the bus schema); it is still rendered
as plain text parts, never as markup, because ``[bold]`` in a revision is just text.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from textual.content import Content
from textual.widgets import Static

from backends.signals.bus_schema import PHASES, PipelineRow, TeamBreakerRow, TeamBusRow
from backends.timefmt import in_future

__all__ = ["PipelineStrip", "pipeline_text", "team_text"]

_STATUS = {
    "succeeded": ("✓", "$text-success"),
    "failed": ("✗ failed", "$text-error"),
    "started": ("▶ running", "$text-warning"),
}
_PHASE_ORDER: dict[str, int] = {phase: i for i, phase in enumerate(PHASES)}

Part = str | tuple[str, str]


def _clock(epoch: float | None, now: float) -> str:
    """``14:02:11``; a moment in the future (a teammate's skewed clock) says so instead of
    a clock time that would pass for today's."""
    if not epoch:
        return "?"
    if in_future(epoch, now):
        return "? (clock skew: in the future)"
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def latest_per_environment(rows: Iterable[PipelineRow]) -> list[PipelineRow]:
    """The newest event of each environment (a later phase wins a tie), by environment.

    Newest by :meth:`~backends.signals.bus_schema.PipelineRow.times_against`: an event dated
    in the future ranks by its arrival, so it never hides a later real failure."""
    latest: dict[str, PipelineRow] = {}
    for row in rows:
        held = latest.get(row.environment)
        if held is None:
            latest[row.environment] = row
            continue
        mine, theirs = row.times_against(held)
        if (mine, _PHASE_ORDER.get(row.phase, -1)) > (theirs, _PHASE_ORDER.get(held.phase, -1)):
            latest[row.environment] = row
    return [latest[env] for env in sorted(latest)]


def pipeline_text(rows: Iterable[PipelineRow]) -> Content:
    """``prod: applications ✓ rev abc123 · staging: platform-services ✗ failed``."""
    parts: list[Part] = []
    for row in latest_per_environment(rows):
        if parts:
            parts.append(("  ·  ", "$foreground-muted"))
        mark, style = _STATUS.get(row.status, (row.status, "$foreground-muted"))
        parts += [(row.environment, "bold"), ": ", row.phase, " ", (mark, style)]
        if row.revision:
            parts.append(f" rev {row.revision[:12]}")
    return Content.assemble(*parts)


def team_text(breakers: Iterable[TeamBreakerRow], bus: TeamBusRow | None,
              now: float | None = None) -> Content:
    """Other control rooms' engaged breakers, then the bus's queue and rejects; empty when
    there is nothing to say (our own breaker is already in the modes line)."""
    now = time.time() if now is None else now
    parts: list[Part] = []
    for row in sorted(breakers, key=lambda r: r.context):
        if not row.engaged or row.mine:
            continue
        if parts:
            parts.append("  ")
        head = "TEAM: breaker HALF-DONE on " if row.half_done else "TEAM: breaker engaged on "
        parts += [(head, "bold $text-error"), (row.context, "bold"),
                  f" by {row.by or '?'} since {_clock(row.since, now)} ({row.targets} targets)"]
    if bus is not None:
        trouble = []
        if bus.queued:
            trouble.append(f"{bus.queued} queued")
        if bus.dropped:
            trouble.append(f"{bus.dropped} dropped")
        if bus.rejected_total:
            reasons = ", ".join(f"{reason} {n}" for reason, n in bus.rejected)
            trouble.append(f"{bus.rejected_total} rejected ({reasons})")
        if trouble:
            if parts:
                parts.append("  ")
            parts.append((f"team bus: {', '.join(trouble)}", "$text-warning"))
    return Content.assemble(*parts)


class PipelineStrip(Static):
    """One line: the latest pipeline phase of each environment (hidden while none)."""

    DEFAULT_CSS = """
    PipelineStrip { height: 1; padding: 0 1; background: $panel; }
    PipelineStrip.-empty { display: none; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None, disabled: bool = False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._shown: tuple[PipelineRow, ...] | None = None
        self.add_class("-empty")

    def show(self, rows: Iterable[PipelineRow]) -> None:
        """Render ``rows``; a no-op when they did not change (called every second)."""
        current = tuple(sorted(rows, key=lambda r: r.key))
        if current == self._shown:
            return
        self._shown = current
        self.set_class(not current, "-empty")
        self.update(Content.assemble(("PIPELINE ", "bold"), pipeline_text(current)))
