"""Modal screens: the help screen (every key, what it does) and the detail view of one object."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from backends.store import Store
from widgets.panels import DetailView


class HelpScreen(ModalScreen[None]):
    """Every active key with its description and tooltip (Escape or ? closes)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help_close",
                tooltip="Close the help screen"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; height: 80%; border: round $primary;
                                  background: $surface; }
    """

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self._rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Content.styled("Keys (remap them in the config file's [keys] table "
                                        "by binding id)", "bold"))
            table: DataTable[Text] = DataTable(cursor_type="row", id="help-keys")
            yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action", "what it does")
        for key, description, tooltip in self._rows:
            table.add_row(Text(key), Text(description), Text(tooltip))


class DetailScreen(ModalScreen[None]):
    """Everything about one object: fields, conditions, recent events."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="detail_close",
                tooltip="Back to the dashboard"),
    ]
    DEFAULT_CSS = """
    DetailScreen { align: center middle; }
    DetailScreen > DetailView { width: 90%; height: 85%; border: round $primary;
                                background: $surface; }
    """

    def __init__(self, store: Store, kind: str | None, key: str | None) -> None:
        super().__init__()
        self._store = store
        self._kind = kind
        self._key = key

    def compose(self) -> ComposeResult:
        yield DetailView(self._store, self._kind, self._key)
