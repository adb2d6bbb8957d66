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
import itertools
from collections.abc import Callable, Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Input, Static

from backends.sanitize import clean
from backends.timeline.correlate import correlate, is_firing
from backends.timeline.entry import TimelineEntry
from backends.timeline.export import when
from backends.timeline.feed import FeedState, TimelineFeed
from backends.timeline.view import jump_targets, parse_filter
from tui.modal import ContextModal
from widgets.vtable import Column, VirtualTable

__all__ = ["COLUMNS", "TimelineScreen"]

# By priority (widgets/column_fit.py), as on the dashboard: when, what changed (an alert's
# cause is in these words) and on which object first; who did it next; the kind last (the
# object's own kind says it).
COLUMNS = (Column("time (UTC)", width=20, priority=1, min_width=20),
           Column("kind", width=8, priority=4, min_width=4),
           Column("object", max_width=60, priority=1, min_width=16, ideal=30, cut="middle"),
           Column("change", max_width=140, priority=1, min_width=24, ideal=60),
           Column("actor", max_width=40, priority=2, min_width=10, ideal=24))
RELOAD_S = 2.0


class TimelineScreen(ContextModal[list[tuple[str, str]] | None]):
    """The recorded timeline of the current context; Enter jumps to the entry's row.

    The rows live in a :class:`~widgets.vtable.VirtualTable` (only the lines on screen are
    drawn; a reload upserts only new or changed rows, the filter re-evaluates a predicate):
    thousands of entries stay fluid where a DataTable took seconds per keystroke.
    """

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
    TimelineScreen VirtualTable { height: 1fr; }
    """

    def __init__(self, feed: TimelineFeed, app_keys: Callable[[], Sequence[str]]) -> None:
        super().__init__()
        self._feed = feed
        self._app_keys = app_keys
        self._keys: dict[TimelineEntry, str] = {}
        """Each entry held and its row key (entries are values: the same entry read again
        keeps its row)."""
        self._by_key: dict[str, TimelineEntry] = {}
        self._words: dict[str, str] = {}
        """Row key of a firing alert -> the correlation sentence."""
        self._serial = itertools.count()
        self._state: FeedState | None = None
        self._filter = ""
        self._keep = parse_filter("")
        self._loading = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content("Timeline: reading the recording..."), id="timeline-title")
            yield Input(placeholder="filter: words, or app:NAME ns:NAME object:NAME "
                        "actor:NAME (Enter: to the table)", id="timeline-filter")
            yield VirtualTable(COLUMNS, id="timeline-table")

    def on_mount(self) -> None:
        table = self.query_one(VirtualTable)
        table.set_row_filter(lambda key: self._keep(self._by_key[key]))
        table.focus()
        self.set_interval(RELOAD_S, self.reload)
        self.call_later(self.reload)

    @property
    def filter_text(self) -> str:
        """The filter applied to the table ("" when none)."""
        return self._filter

    @property
    def shown_entries(self) -> list[TimelineEntry]:
        """The entries in the table, in display order (newest first)."""
        return [self._by_key[key] for key in self.query_one(VirtualTable).keys()]

    def shown_cells(self) -> list[tuple[str, ...]]:
        """The cells of the rows shown, in display order (plain text)."""
        table = self.query_one(VirtualTable)
        return [tuple(str(c) for c in table.get_cells(key) or ()) for key in table.keys()]

    async def reload(self) -> None:
        """Read the feed off the event loop; hand the table only what changed."""
        if self._loading:
            return
        self._loading = True
        try:
            state = await asyncio.to_thread(self._feed.read)
        finally:
            self._loading = False
        previous = self._state
        self._state = state
        if state.entries is not None and not (previous is not None
                                              and state.same_entries(previous)):
            self._show(state)
        self._show_title()

    def _show(self, state: FeedState) -> None:
        entries = state.entries or ()
        table = self.query_one(VirtualTable)
        held = set(entries)
        for gone in [e for e in self._keys if e not in held]:
            key = self._keys.pop(gone)
            del self._by_key[key]
            table.remove_row(key)
        for e in entries:
            if e not in self._keys:
                key = str(next(self._serial))
                self._keys[e] = key
                self._by_key[key] = e
        found = correlate([*state.earlier, *entries], window=self._feed.window)
        self._words = {self._keys[c.alert]: c.words for c in found}
        for e in entries:
            key = self._keys[e]
            tone = "problem" if is_firing(e) else "warning" if e.severity else None
            table.upsert(key, self._cells(key, e), (-e.at, -int(key)), tone=tone)
        table.commit()

    def _show_title(self) -> None:
        state = self._state
        if state is None:
            return
        table = self.query_one(VirtualTable)
        title = self.query_one("#timeline-title", Static)
        title.set_class(bool(state.error), "-error")
        title.update(Content(clean(state.title(table.row_count, len(self._keys)), 600)))

    def _cells(self, key: str, e: TimelineEntry) -> tuple[str, ...]:
        where = f"{e.namespace}/{e.name}" if e.namespace else e.name
        change = self._words.get(key) or e.change or e.after
        if e.kind == "alert" and key not in self._words:
            change = f"{e.name}: {change}"
        if e.workload and e.kind in ("alert", "pods", "event"):
            where += f" ({e.workload})"
        return tuple(clean(c, 300) for c in (
            when(e.at), e.kind, f"{e.object_kind} {where}".strip(), change, e.actor))

    @on(Input.Changed, "#timeline-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filter = event.value
        self._keep = parse_filter(event.value)
        self.query_one(VirtualTable).set_row_filter(lambda key: self._keep(self._by_key[key]))
        self._show_title()

    @on(Input.Submitted, "#timeline-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(VirtualTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#timeline-filter", Input).focus()

    @on(VirtualTable.RowSelected, "#timeline-table")
    def _jump(self, event: VirtualTable.RowSelected) -> None:
        """Enter on a row: back to the dashboard, on the row of what the entry is about."""
        event.stop()
        entry = self._by_key.get(event.key)
        if entry is None:
            return
        targets = jump_targets(entry, self._app_keys())
        if not targets:
            self.notify(f"{clean(entry.object_kind or entry.kind)} {clean(entry.name)}: no "
                        "dashboard row for this entry", severity="warning", markup=False)
            return
        self.dismiss(targets)
