"""k9s habits on the dashboard: ``:`` jumps to a panel by name, ``F`` filters every panel, and
Escape clears filters.

Why: an engineer coming from k9s types ``:po`` before reading a key bar, and Escape is the key
everyone presses to get "everything" back. The line's meaning is decided in
:func:`widgets.commands.resolve` (pure); this collaborator only acts on it: focus the panel,
set the global filter on every panel, or say (never crash) why a line means nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from textual.binding import Binding

from tui.navigation import reveal
from widgets.command_line import CommandLine
from widgets.commands import resolve

if TYPE_CHECKING:
    from tui.host import Host
    from widgets.filter_box import FilterBox
    from widgets.panel import Panel

__all__ = ["COMMAND_BINDINGS", "CommandActions"]

COMMAND_BINDINGS = [
    Binding("colon", "command_line", "Go to", id="command_line",
            tooltip="Jump to a panel by name (:pods :deploy :apps :routes :alerts :events "
            ":nodes, k9s short names :po :no :ev, any unambiguous prefix); :filter TEXT "
            "filters every panel"),
    Binding("F", "filter_all", "Filter all", id="filter_all", show=False,
            tooltip="One text filters every panel (Esc clears it)"),
    Binding("escape", "clear_filters", "Clear filter", id="clear_filters", show=False,
            tooltip="Clear the focused panel's filter and the filter of every panel"),
]


class CommandActions:
    """The command line, the global filter and Escape (see the module docstring)."""

    def __init__(self, host: Host, panels: Sequence[Panel],
                 filter_box: Callable[[], FilterBox],
                 more: Callable[[str], str | None] | None = None) -> None:
        self._host = host
        self._panels = panels
        self._filter_box = filter_box
        self._more = more
        """Commands of other rooms (``:ctx NAME``, tui/ctx_command.py): None when the text is
        not theirs, else what to say ("" when done)."""
        self.line = CommandLine(self.run, id="command")
        """The command line widget (the App mounts it under the dashboard)."""

    def open(self) -> None:
        """``:``: the command line."""
        self.line.open()

    def run(self, text: str) -> None:
        """Do what one command line says (:func:`widgets.commands.resolve`)."""
        said = self._more(text) if self._more is not None else None
        if said is not None:
            if said:
                self._host.notify(said, title="command", severity="error", timeout=8,
                                  markup=False)
            return
        command = resolve(text)
        if command.error:
            self._host.notify(command.error, title="command", severity="error",
                              timeout=8, markup=False)
        elif command.filter is not None:
            self._filter_box().filter_all(self._panels, command.filter)
            self._host.notify(f"every panel filtered by {command.filter!r}"
                              if command.filter else "filter of every panel cleared",
                              timeout=3, markup=False)
        else:
            panel = next((p for p in self._panels if p.id == command.panel), None)
            if panel is not None:
                reveal(panel)

    def filter_all(self) -> None:
        """``F``: the filter box on every panel."""
        self._filter_box().open_all(self._panels, self._host.focused_panel())

    def clear_filters(self) -> None:
        """Escape on the dashboard: the focused panel's filter and the global one go."""
        box = self._filter_box()
        cleared = False
        if box.global_filter:
            box.filter_all(self._panels, "")
            cleared = True
        panel = self._host.focused_panel()
        if panel is not None and panel.filter_text:
            panel.set_filter("")
            cleared = True
        if cleared:
            self._host.notify("filter cleared", timeout=2, markup=False)
