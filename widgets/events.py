"""Events: warning events, newest first, on a VirtualTable (busy clusters keep thousands).

Sorted by when the event was last seen, so a crash loop that keeps firing stays on top with its
count going up. Normal events are held too and shown on :meth:`EventsPanel.toggle_normal`
(not named ``toggle_all``: the App's "all pods" key calls every panel's ``toggle_all``).
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType

from backends.model import EventRow, Row
from backends.store import Store
from widgets.formatting import PROBLEM, WARNING, age, age_changes_at
from widgets.panel import RowView
from widgets.rowmodel import Cell, Column
from widgets.virtual_panel import VirtualPanel

__all__ = ["EventsPanel", "last_seen"]

_AGE = 0
#: Warning reasons that mean something is broken now, not merely noteworthy.
_SEVERE = frozenset({
    "BackOff", "Failed", "FailedCreate", "FailedMount", "FailedScheduling", "Evicted",
    "OOMKilling", "NodeNotReady", "Unhealthy", "FailedAttachVolume", "ProgressDeadlineExceeded",
})


def last_seen(event: EventRow) -> float:
    """When the event last happened (the best of the timestamps the server gave)."""
    return event.last_seen or event.first_seen or event.created or 0.0


class EventsPanel(VirtualPanel):
    """Warning events, newest first; all events on demand."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "toggle_normal", "All events", id="events.toggle-normal",
                tooltip="Show normal events too, or warnings only"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | a | Toggle between warning events only and all events. |
    """

    KINDS: ClassVar[tuple[str, ...]] = ("events",)
    TITLE: ClassVar[str] = "Events"
    NARROW_LABEL: ClassVar[str] = "warnings"
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("LAST SEEN", align="right", priority=3, min_width=4),
        Column("TYPE", priority=9),
        Column("COUNT", align="right", priority=4, min_width=3),
        Column("NAMESPACE", max_width=24, priority=6, min_width=8),
        Column("OBJECT", max_width=56, priority=2, min_width=14, ideal=20, cut="middle"),
        Column("REASON", max_width=28, priority=1, min_width=8, ideal=28),
        Column("MESSAGE", max_width=160, priority=1, min_width=16, ideal=40),
    )
    """By priority (widgets/column_fit.py): the reason and the message (what a warning
    event is for) first, then the object; the type (the row's colour says it) last."""

    def toggle_normal(self) -> None:
        """Switch between all rows and warnings only."""
        self.toggle_mode()

    def action_toggle_normal(self) -> None:
        """Switch between all rows and warnings only."""
        self.toggle_mode()

    def view(self, store: Store, kind: str, row: Row, now: float) -> RowView | None:
        if not isinstance(row, EventRow):
            return None
        warning = row.type == "Warning"
        tone = (PROBLEM if row.reason in _SEVERE else WARNING) if warning else None
        target = f"{row.object_kind}/{row.object_name}" if row.object_kind else row.object_name
        cells: tuple[Cell, ...] = (
            age(last_seen(row), now),
            row.type,
            str(row.count),
            row.object_namespace or row.namespace,
            target,
            row.reason,
            row.message,
        )
        return RowView(cells, (-last_seen(row), row.namespace, row.name), tone)

    def timed_cells(self, kind: str, row: Row, now: float) -> dict[int, Cell]:
        return {_AGE: age(last_seen(row), now)} if isinstance(row, EventRow) else {}

    def timed_due(self, kind: str, row: Row, now: float) -> float | None:
        return age_changes_at(last_seen(row), now) if isinstance(row, EventRow) else None
