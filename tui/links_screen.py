"""The links of one row (``o``): each configured link filled in, shown as a terminal hyperlink
and copied to the clipboard.

Each URL is drawn with an OSC 8 hyperlink (Rich ``Style(link=...)``): where the terminal
supports it a click opens it on the engineer's own machine, which ``webbrowser`` on a jump
host could not. The first link is copied on opening, and Enter (or ``c``) copies the selected
one, through Textual's ``copy_to_clipboard`` (OSC 52: it reaches the local clipboard over ssh
too, where the terminal allows it). A link whose row lacks a value says so instead of a URL.
Names in the title come from the cluster: assembled as plain parts, never markup.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import DataTable, Static

from backends.links import Link
from tui.modal import ContextModal
from widgets.rowtable import RowTable

__all__ = ["LinksScreen"]


class LinksScreen(ContextModal[None]):
    """The row's links (see the module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,o", "dismiss", "Close", id="links_close",
                tooltip="Back to the dashboard"),
        Binding("c", "copy", "Copy", id="links_copy",
                tooltip="Copy the selected link to the clipboard (Enter too)"),
    ]
    DEFAULT_CSS = """
    LinksScreen { align: center middle; }
    LinksScreen > Vertical { width: 90%; height: auto; max-height: 80%;
                             border: round $primary; background: $surface; }
    LinksScreen DataTable { height: auto; max-height: 20; }
    """

    def __init__(self, what: str, links: list[Link]) -> None:
        super().__init__()
        self._what = what
        self.links = links
        self.copied = ""
        """The last URL copied to the clipboard (tests, tools)."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content.assemble(("Links", "bold"), " of ", self._what,
                                          ("   Enter or c copies; a click on a URL opens it "
                                           "where the terminal supports links", "dim")))
            table: DataTable[Text] = RowTable(cursor_type="row", id="links-table")
            yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("link", "url")
        for link in self.links:
            url = Text(link.url, style=Style(link=link.url)) if link.url else \
                Text(link.missing, style="dim")
            table.add_row(Text(link.title), url)
        first = next((link for link in self.links if link.url), None)
        if first is not None:
            self._copy(first)

    def _copy(self, link: Link) -> None:
        self.app.copy_to_clipboard(link.url)
        self.copied = link.url
        self.notify(f"copied: {link.title}", timeout=3, markup=False)

    def action_copy(self) -> None:
        table = self.query_one(DataTable)
        if not self.links:
            return
        link = self.links[min(table.cursor_row, len(self.links) - 1)]
        if link.url:
            self._copy(link)
        else:
            self.notify(f"{link.title}: {link.missing}", severity="warning", markup=False)

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_copy()
