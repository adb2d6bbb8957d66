"""The journal panel: every write the control room made on this context, newest first.

Each row is one journaled write (or refused attempt): when, who, what, on which object, its
status (pending, done, verified, failed, refused) and the reason given. Refreshed every two
seconds while open, so a running breaker's steps appear as they are journaled. Journal text
is operator- and cluster-supplied: it is cleaned and rendered as plain text.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import DataTable, Static

from backends.ops.journal import Journal, JournalError
from backends.sanitize import clean
from tui.modal import ContextModal
from widgets.rowtable import RowTable

COLUMNS = ("time", "operator", "action", "target", "status", "reason", "operation")


class JournalScreen(ContextModal[None]):
    """The journal of the current context."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,j,q", "dismiss", "Close", id="journal_close",
                tooltip="Back to the dashboard"),
    ]
    DEFAULT_CSS = """
    JournalScreen { align: center middle; }
    JournalScreen > Vertical { width: 95%; height: 85%; border: round $primary;
                               background: $surface; }
    JournalScreen DataTable { height: 1fr; }
    """

    def __init__(self, journal: Journal | None, context: str) -> None:
        super().__init__()
        self._journal = journal
        self._kube_context = context
        self._shown: list[tuple[int, object]] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content.assemble(("Journal", "bold"), " of context ",
                                          clean(self._kube_context)), id="journal-title")
            table: DataTable[Text] = RowTable(cursor_type="row", id="journal-table")
            yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.set_interval(2.0, self.reload)
        self.call_later(self.reload)

    async def reload(self) -> None:
        table = self.query_one(DataTable)
        if self._journal is None:
            self.query_one("#journal-title", Static).update(
                Content("The journal is unavailable: every write is refused."))
            return
        try:
            entries = await self._journal.entries(context=self._kube_context)
        except JournalError as exc:
            self.notify(f"journal: {exc}", severity="error", markup=False)
            return
        entries = sorted(entries, key=lambda e: e.id, reverse=True)
        shown: list[tuple[int, object]] = [(e.id, e.status) for e in entries]
        if shown == self._shown:
            return
        # The journal of one context is short: rebuilding keeps newest-first order simple.
        self._shown = shown
        table.clear()
        for e in entries:
            cells = (e.ts.strftime("%Y-%m-%d %H:%M:%S"), e.operator, e.action,
                     f"{e.kind} {e.namespace + '/' if e.namespace else ''}{e.name}",
                     e.status, e.reason, e.operation_id)
            table.add_row(*(Text(clean(str(c), 120)) for c in cells), key=str(e.id))
