"""The timeline screen: who changed what, newest first, each alert with the change it followed.

Rows come from a :class:`TimelineFeed` (the recording this control room writes, or any
recording file) read off the event loop every two seconds while the screen is open; the
filter box narrows them by app, namespace, object or actor (:mod:`backends.timeline.view`).
A firing alert's change cell is the sentence :func:`~backends.timeline.correlate.correlate`
makes ("PodCrashLooping on checkout-stable 2m after image checkout:1.5.0 synced by argocd
(automated) at rev abc123", or "no change recorded before it"). Enter closes the screen with
the rows of the dashboard the entry is about (:func:`~backends.timeline.view.jump_targets`);
the App puts the cursor on the first one shown.

A recording that cannot be read is said on the title line, in the error colour, with the
last rows read kept below it: never an empty, calm list. Entry text came from the cluster and
is rendered as plain text, never markup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import DataTable, Input, Static

from backends.sanitize import clean
from backends.timeline.correlate import correlate
from backends.timeline.entry import TimelineEntry
from backends.timeline.export import when
from backends.timeline.feed import FeedState, TimelineFeed
from backends.timeline.view import jump_targets, parse_filter
from tui.modal import ContextModal

__all__ = ["COLUMNS", "TimelineScreen"]

COLUMNS = ("time (UTC)", "kind", "object", "change", "actor")
RELOAD_S = 2.0


class TimelineScreen(ContextModal[list[tuple[str, str]] | None]):
    """The recorded timeline of the current context; Enter jumps to the entry's row."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="timeline_close",
                tooltip="Back to the dashboard"),
        Binding("slash", "focus_filter", "Filter", id="timeline_filter",
                tooltip="Filter by app, namespace, object or actor (app:, ns:, object:, "
                "actor: for one field)"),
    ]
    DEFAULT_CSS = """
    TimelineScreen { align: center middle; }
    TimelineScreen > Vertical { width: 96%; height: 90%; border: round $primary;
                                background: $surface; }
    TimelineScreen #timeline-title.-error { color: $text-error; }
    TimelineScreen DataTable { height: 1fr; }
    """

    def __init__(self, feed: TimelineFeed, app_keys: Callable[[], Sequence[str]]) -> None:
        super().__init__()
        self._feed = feed
        self._app_keys = app_keys
        self._entries: list[TimelineEntry] = []
        """Everything read, newest first."""
        self._words: dict[int, str] = {}
        """id(alert entry) -> the correlation sentence."""
        self._state: FeedState | None = None
        self._shown: list[TimelineEntry] = []
        self._filter = ""
        self._loading = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content("Timeline: reading the recording..."), id="timeline-title")
            yield Input(placeholder="filter: words, or app:NAME ns:NAME object:NAME "
                        "actor:NAME (Enter: to the table)", id="timeline-filter")
            table: DataTable[Text] = DataTable(cursor_type="row", id="timeline-table")
            yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        table.focus()
        self.set_interval(RELOAD_S, self.reload)
        self.call_later(self.reload)

    @property
    def shown_entries(self) -> list[TimelineEntry]:
        """The entries in the table, in display order (newest first)."""
        return list(self._shown)

    @property
    def filter_text(self) -> str:
        """The filter applied to the table ("" when none)."""
        return self._filter

    def words_for(self, entry: TimelineEntry) -> str | None:
        """The correlation sentence of a firing alert shown here (None for other entries)."""
        return self._words.get(id(entry))

    async def reload(self) -> None:
        """Read the feed off the event loop; rebuild the table only when something changed."""
        if self._loading:
            return
        self._loading = True
        try:
            state = await asyncio.to_thread(self._feed.read)
        finally:
            self._loading = False
        previous = self._state
        self._state = state
        self._show_title(state)
        if previous is not None and state.same_entries(previous):
            return
        if state.entries is not None:
            self._entries = list(state.entries)
            by_alert = correlate([*state.earlier, *self._entries], window=self._feed.window)
            self._words = {id(c.alert): c.words for c in by_alert}
            self._rebuild()

    def _show_title(self, state: FeedState) -> None:
        title = self.query_one("#timeline-title", Static)
        title.set_class(bool(state.error), "-error")
        title.update(Content(clean(state.title(len(self._shown), len(self._entries)), 600)))

    def _rebuild(self) -> None:
        table = self.query_one(DataTable)
        keep = parse_filter(self._filter)
        self._shown = [e for e in self._entries if keep(e)]
        cursor = table.cursor_row
        with self.app.batch_update():
            table.clear()
            for index, e in enumerate(self._shown):
                table.add_row(*(Text(clean(c, 300)) for c in self._cells(e)), key=str(index))
        if self._shown:
            table.move_cursor(row=min(cursor, len(self._shown) - 1))
        if self._state is not None:
            self._show_title(self._state)

    def _cells(self, e: TimelineEntry) -> tuple[str, ...]:
        where = f"{e.namespace}/{e.name}" if e.namespace else e.name
        change = self._words.get(id(e)) or e.change or e.after
        if e.kind == "alert" and id(e) not in self._words:
            change = f"{e.name}: {change}"
        if e.workload and e.kind in ("alert", "journal", "pods", "event"):
            where += f" ({e.workload})"
        return (when(e.at), e.kind, f"{e.object_kind} {where}".strip(), change, e.actor)

    @on(Input.Changed, "#timeline-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filter = event.value
        self._rebuild()

    @on(Input.Submitted, "#timeline-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(DataTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#timeline-filter", Input).focus()

    @on(DataTable.RowSelected, "#timeline-table")
    def _jump(self, event: DataTable.RowSelected) -> None:
        """Enter on a row: back to the dashboard, on the row of what the entry is about."""
        event.stop()
        index = int(str(event.row_key.value))
        if not 0 <= index < len(self._shown):
            return
        entry = self._shown[index]
        targets = jump_targets(entry, self._app_keys())
        if not targets:
            self.notify(f"{clean(entry.object_kind or entry.kind)} {clean(entry.name)}: no "
                        "dashboard row for this entry", severity="warning", markup=False)
            return
        self.dismiss(targets)
