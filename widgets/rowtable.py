"""RowTable: a ``DataTable`` whose keys move the selected row, as in every other table.

Textual's ``DataTable`` binds Home and End to a sideways scroll (``scroll_home`` /
``scroll_end``) and keeps top and bottom on ctrl+Home / ctrl+End; in a row-cursor table that
made Home/End select rows in the virtual panels (nodes, workloads, pods, alerts, events) but
scroll sideways in Argo CD, Traffic and Endpoints and in every modal list (issue 15, point 4).
Here Home/End select the first and last row, PgUp/PgDn a page (DataTable's own), and Enter is
listed with what it does, so the help screen names it.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

__all__ = ["RowTable"]


class RowTable(DataTable[Text]):
    """A row-cursor ``DataTable`` with the keys of :class:`~widgets.vtable.VirtualTable`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First", show=False, id="table.first-row",
                tooltip="Select the first row"),
        Binding("end", "scroll_bottom", "Last", show=False, id="table.last-row",
                tooltip="Select the last row"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page-up",
                tooltip="Select one screen up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page-down",
                tooltip="Select one screen down"),
        Binding("enter", "select_cursor", "Open", show=False, id="table.select-row",
                tooltip="Open the selected row"),
    ]
