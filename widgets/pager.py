"""The pager line: every dashboard panel by name on one line, the one on screen marked.

Why: on a small terminal (or with a panel maximised) one panel fills the screen, and the
engineer must still see that another panel has trouble. The line names each panel with its
row count and, in the error colour, its failing rows (``Pods 1 ✖1``); the panel on screen is
drawn reversed with its row count. Tab and shift+tab page through the panels
(tui/layout.py). Not docked: docked lines overlap the header; in the maximised view it
follows the panel, just above the key bar.

Panel titles are our own words; the counts are numbers: nothing untrusted is shown, and the
line is assembled from parts, never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content
from textual.widgets import Static

from widgets.panel import Panel

__all__ = ["PanelPager", "pager_text"]


def pager_text(panels: Sequence[Panel], current: Panel | None) -> Content:
    """``Nodes  Workloads  [Pods 1] ✖1  Traffic …``: every panel by name, its failing rows
    in the error colour, the one on screen reversed with its row count. Short enough for
    80 columns with eight panels."""
    parts: list[str | tuple[str, str]] = []
    for panel in panels:
        if parts:
            parts.append(" ")
        if panel is current:
            parts.append((f" {panel.TITLE} {panel.visible_count()} ", "bold reverse"))
        else:
            parts.append((panel.TITLE, "bold"))
        failing = panel.failing_count
        if failing:
            parts.append((f" ✖{failing}", "bold $text-error"))
    return Content.assemble(*parts)


class PanelPager(Static):
    """One line over the maximised panel (hidden while the grid shows every panel)."""

    DEFAULT_CSS = """
    PanelPager {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $foreground;
        display: none;
        &.-shown { display: block; }
    }
    """

    def __init__(self, panels: Sequence[Panel], *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._panels = panels
        self.current: Panel | None = None
        """The panel on screen (None: the grid)."""
        self._plain = ""

    def on_mount(self) -> None:
        # Counts change with the data; a look twice a second is cheap (eight panels) and
        # costs nothing while the line is hidden.
        self.set_interval(0.5, self.redraw)

    def show_panel(self, panel: Panel | None) -> None:
        """Mark ``panel`` as the one on screen; None hides the line (the grid is back)."""
        self.current = panel
        self.set_class(panel is not None, "-shown")
        self.redraw()

    def redraw(self) -> None:
        """Draw the line again if a count or the current panel changed."""
        if self.current is None:
            return
        text = pager_text(self._panels, self.current)
        key = text.plain + f"\0{id(self.current)}"
        if key != self._plain:
            self._plain = key
            self.update(text)
