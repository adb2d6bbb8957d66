"""The runbook screen: the update strategy's checklists as an interactive list.

Grouped by phase (before, during, after the update). Automatic items (baseline taken, staging
healthy, validation passed, alerts quiet, health endpoints answer) show their state and the
evidence and cannot be ticked by hand; the operator ticks the others with space or enter, and
the list records who and when. The list belongs to the App (the session's change record,
saved with the baseline); this screen only shows it and asks the App to tick, and re-reads it
every second so an alert that starts firing unticks "alerts quiet" while the screen is open.

Item texts come from the strategy and the evidence from sanitized store rows; every cell is a
``Text``, never markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from backends.baseline.runbook import PHASES, Checklist, ChecklistItem, Phase
from tui.modal import ContextModal
from widgets.rowtable import RowTable

if TYPE_CHECKING:
    from textual.widgets.data_table import ColumnKey

__all__ = ["PHASE_TITLES", "RunbookHost", "RunbookScreen"]

PHASE_TITLES: dict[Phase, str] = {
    "before": "Before the update",
    "during": "During the update",
    "after": "After the update",
}
_COLUMNS = ("", "item", "by", "at", "evidence")
_PHASE_KEY = "phase:"


class RunbookHost(Protocol):
    """What the screen needs: the session's checklist
    (:class:`tui.runbook_actions.RunbookActions`)."""

    def current_checklist(self) -> Checklist: ...

    def toggle_runbook_item(self, item_id: str) -> str: ...


def _mark(item: ChecklistItem) -> str:
    box = "[x]" if item.done else "[ ]"
    return f"{box} auto" if item.auto else box


def item_cells(item: ChecklistItem) -> tuple[Text, ...]:
    """The cells of one item: check box, text, who, when, evidence."""
    style = "" if item.done else ("bold" if item.auto else "")
    return (Text(_mark(item), style=style), Text(item.text), Text(item.by),
            Text((item.at or "").replace("T", " ").rstrip("Z")), Text(item.evidence))


class RunbookScreen(ContextModal[None]):
    """The session's update checklist, grouped by phase."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,k,q", "dismiss", "Close", id="runbook_close",
                tooltip="Back to the dashboard"),
        Binding("space", "tick_item", "Tick", id="runbook_tick",
                tooltip="Tick or untick the selected item (automatic items tick themselves)"),
    ]
    DEFAULT_CSS = """
    RunbookScreen { align: center middle; }
    RunbookScreen > Vertical { width: 95%; height: 90%; border: round $primary;
                               background: $surface; }
    RunbookScreen #runbook-title { padding: 0 1; }
    RunbookScreen #runbook-hint { padding: 0 1; color: $foreground-muted; }
    RunbookScreen DataTable { height: 1fr; }
    """

    def __init__(self, host: RunbookHost) -> None:
        super().__init__()
        self._host = host
        self._shown: dict[str, tuple[Text, ...]] = {}
        self._columns: list[ColumnKey] = []
        self._title = ""

    @property
    def host(self) -> RunbookHost:
        """The session's checklist keeper this screen shows and edits."""
        return self._host

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content("Runbook"), id="runbook-title")
            table: DataTable[Text] = RowTable(cursor_type="row", id="runbook-table")
            yield table
            yield Static(Content("space or enter: tick / untick the selected item  ·  auto"
                                 " items tick themselves  ·  esc: close"), id="runbook-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        self._columns = [table.add_column(name, key=str(i)) for i, name in enumerate(_COLUMNS)]
        self.reload()
        table.focus()
        self._first_item()
        self.set_interval(1.0, self.reload)

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one(DataTable)

    def reload(self) -> None:
        """Show the App's checklist as it is now; only changed cells are updated."""
        checklist = self.host.current_checklist()
        table = self.table
        if not self._shown:
            for phase in PHASES:
                items = checklist.phase(phase)
                if not items:
                    continue
                table.add_row(Text(""), Text(PHASE_TITLES[phase], style="bold underline"),
                              Text(""), Text(""), Text(""), key=_PHASE_KEY + phase)
                for item in items:
                    cells = item_cells(item)
                    table.add_row(*cells, key=item.id)
                    self._shown[item.id] = cells
        else:
            for item in checklist.items:
                cells = item_cells(item)
                old = self._shown.get(item.id)
                if old is None or old == cells:
                    continue
                for index, (was, new) in enumerate(zip(old, cells, strict=True)):
                    if was != new:
                        table.update_cell(item.id, self._columns[index], new, update_width=True)
                self._shown[item.id] = cells
        change = f" for change {checklist.change_id}" if checklist.change_id else ""
        title = f"Runbook{change}: {checklist.done_count} of {len(checklist.items)} done"
        if title != self._title:
            self._title = title
            self.query_one("#runbook-title", Static).update(
                Content.assemble(("Runbook", "bold"), title[len("Runbook"):]))

    def _first_item(self) -> None:
        table = self.table
        for index in range(table.row_count):
            if not self._row_key(index).startswith(_PHASE_KEY):
                table.move_cursor(row=index)
                return

    def _row_key(self, index: int) -> str:
        key = self.table.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value
        return key or ""

    @property
    def selected_item(self) -> str | None:
        """Id of the item under the cursor (None on a phase title or an empty table)."""
        table = self.table
        if table.row_count == 0:
            return None
        key = self._row_key(min(table.cursor_row, table.row_count - 1))
        return None if key.startswith(_PHASE_KEY) else key

    def action_tick_item(self) -> None:
        item = self.selected_item
        if item is None:
            return
        outcome = self.host.toggle_runbook_item(item)
        self.reload()
        self.notify(outcome, markup=False, timeout=3)

    @on(DataTable.RowSelected)
    def _enter(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_tick_item()
