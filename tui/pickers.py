"""Small modal screens that ask one question before an action is planned.

:class:`PickerScreen` picks one row of a table (a rollout revision, an Argo CD history entry,
a Helm revision), showing under it why the highlighted row is marked (a revision recorded as
bad is shown as a warning before it is picked); :class:`WeightsScreen` asks for the backend weights of a route. Neither
sends anything: they return the operator's answer, and the action is then planned and shown
on the plan screen like every other one. Cell text may come from the cluster, so every cell
is plain :class:`~rich.text.Text` (cleaned), never markup. Row keys are the caller's values
(revision numbers, history ids), never widget ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, Input, Label, Static

from backends.sanitize import clean
from tui.modal import ContextModal
from widgets.rowtable import RowTable


@dataclass(frozen=True)
class PickRow:
    """One choice: ``key`` is returned when picked, ``cells`` are shown (any text).
    ``note`` is shown under the table while the row is highlighted (why it is marked
    good or bad); ``warning`` shows it as a warning (a revision recorded as bad)."""

    key: str
    cells: tuple[str, ...]
    note: str = ""
    warning: bool = False


class PickerScreen(ContextModal[str | None]):
    """Pick one row; dismissed with its key, or None when cancelled.

    | Key(s) | Description |
    | :- | :- |
    | enter | Plan the action with the highlighted row. |
    | escape | Cancel: nothing is planned. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker_cancel", tooltip="Pick nothing"),
    ]
    DEFAULT_CSS = """
    PickerScreen { align: center middle; }
    PickerScreen > Vertical { width: 90%; height: auto; max-height: 85%;
                              border: round $primary; background: $surface; padding: 0 1; }
    PickerScreen DataTable { height: auto; max-height: 20; }
    PickerScreen .picker--hint { color: $text-muted; }
    PickerScreen #picker-note { color: $text-muted; }
    PickerScreen #picker-note.picker--warning { color: $text-error; text-style: bold; }
    """

    def __init__(self, title: str, columns: Sequence[str], rows: Sequence[PickRow], *,
                 default: str | None = None, hint: str = "Enter to plan, Escape to cancel"
                 ) -> None:
        super().__init__()
        self._title = title
        self._columns = tuple(columns)
        self._rows = list(rows)
        self._default = default
        self._hint = hint
        self.note = ""
        """The note shown for the highlighted row ("! ..." for a warning)."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content.styled(clean(self._title), "bold"), id="picker-title")
            table: DataTable[Text] = RowTable(cursor_type="row", id="picker-table")
            yield table
            yield Static(id="picker-note")
            yield Static(Content(self._hint), classes="picker--hint")

    def on_mount(self) -> None:
        table: DataTable[Text] = self.query_one("#picker-table", DataTable)
        table.add_columns(*self._columns)
        for row in self._rows:
            table.add_row(*(Text(clean(c, 200)) for c in row.cells), key=row.key)
        keys = [r.key for r in self._rows]
        if self._default in keys:
            table.move_cursor(row=keys.index(self._default))
        table.focus()

    @property
    def highlighted(self) -> str | None:
        """Key of the row under the cursor."""
        table = self.query_one("#picker-table", DataTable)
        if not self._rows:
            return None
        return self._rows[table.cursor_row].key

    @on(DataTable.RowHighlighted, "#picker-table")
    def highlighted_changed(self, event: DataTable.RowHighlighted) -> None:
        """Show why the highlighted row is marked; a revision recorded as bad as a
        warning, before it is picked."""
        event.stop()
        row = next((r for r in self._rows if r.key == event.row_key.value), None)
        warn = row is not None and row.warning
        self.note = ("! " if warn else "") + clean(row.note if row is not None else "", 600)
        note = self.query_one("#picker-note", Static)
        note.update(Content(self.note))
        note.set_class(warn, "picker--warning")

    @on(DataTable.RowSelected, "#picker-table")
    def picked(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.dismiss(event.row_key.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class WeightsScreen(ContextModal[dict[str, int] | None]):
    """One Input per backend of a route, prefilled with its current weight; dismissed with
    the weights that changed (backend name -> weight) or None when cancelled.

    | Key(s) | Description |
    | :- | :- |
    | enter | Next field; in the last one, plan the shift. |
    | escape | Cancel: nothing is planned. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="weights_cancel", tooltip="Shift nothing"),
    ]
    DEFAULT_CSS = """
    WeightsScreen { align: center middle; }
    WeightsScreen > Vertical { width: 70; height: auto; max-height: 85%;
                               border: round $primary; background: $surface; padding: 0 1; }
    WeightsScreen VerticalScroll { height: auto; max-height: 20; }
    WeightsScreen .weights--hint { color: $text-muted; }
    WeightsScreen .weights--error { color: $text-error; }
    """

    def __init__(self, title: str, backends: Sequence[tuple[str, int]], *,
                 maximum: int = 1_000_000) -> None:
        super().__init__()
        self._title = title
        self._backends = list(backends)
        self._maximum = maximum

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content.styled(clean(self._title), "bold"))
            with VerticalScroll():
                for i, (name, weight) in enumerate(self._backends):
                    yield Label(Content(clean(name, 120)))
                    # ids from the position, never from the (untrusted) backend name
                    yield Input(value=str(weight), type="integer", id=f"weight-{i}")
            yield Static(Content("Enter in the last field to plan, Escape to cancel. "
                                 "0 = no traffic; weights are proportional within a rule."),
                         classes="weights--hint")
            yield Static(id="weights-error", classes="weights--error")

    def on_mount(self) -> None:
        inputs = self.query(Input)
        if inputs:
            inputs.first().focus()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        if event.input is not inputs[-1]:
            inputs[inputs.index(event.input) + 1].focus()
            return
        changed: dict[str, int] = {}
        for (name, weight), box in zip(self._backends, inputs, strict=True):
            try:
                value = int(box.value.strip())
            except ValueError:
                value = -1
            if not 0 <= value <= self._maximum:
                self.query_one("#weights-error", Static).update(Content(
                    f"{clean(name, 120)}: a whole number from 0 to {self._maximum}"))
                box.focus()
                return
            if value != weight:
                changed[name] = value
        if not changed:
            self.query_one("#weights-error", Static).update(
                Content("No weight changed: nothing to plan."))
            return
        self.dismiss(changed)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExplainScreen(ContextModal[None]):
    """A paragraph the operator must read instead of an action (why there is no Helm
    rollback for an app Argo CD renders, and what to do instead)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "dismiss", "Close", id="explain_close",
                tooltip="Back to the dashboard"),
    ]
    DEFAULT_CSS = """
    ExplainScreen { align: center middle; }
    ExplainScreen > Vertical { width: 80; height: auto; border: round $warning;
                               background: $surface; padding: 0 1; }
    ExplainScreen .explain--hint { color: $text-muted; }
    """

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self._title = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content.styled(clean(self._title), "bold"))
            yield Static(Content(clean(self.text, 2000)), id="explain-text")
            yield Static(Content("Escape to close"), classes="explain--hint")
