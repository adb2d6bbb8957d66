"""The filter box: one line under the dashboard that filters the panel it was opened for.

``/`` opens it on the focused panel, prefilled with that panel's filter; every change filters
the panel at once (case-insensitive, on the visible cells); Enter or Escape closes it and puts
the focus back on the panel, whose filter stays (the subtitle says ``filter: ...``).
"""

from __future__ import annotations

from textual import events, on
from textual.widgets import Input

from widgets.panel import Panel

__all__ = ["FilterBox"]


class FilterBox(Input):
    """An ``Input`` bound to one panel while open; hidden while closed."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(placeholder="filter the focused panel (Esc to close)", id=id)
        self.panel: Panel | None = None
        """The panel being filtered (the last one the box was opened for)."""
        self.display = False

    def open(self, panel: Panel | None) -> None:
        """Show the box on ``panel`` (None: the box filters nothing)."""
        self.panel = panel
        self.display = True
        self.value = panel.filter_text if panel is not None else ""
        self.focus()

    def close(self) -> None:
        """Hide the box; the panel keeps its filter and gets the focus back."""
        self.display = False
        if self.panel is not None:
            self.panel.focus()

    @on(Input.Changed)
    def _filter(self, event: Input.Changed) -> None:
        event.stop()
        if self.panel is not None:
            self.panel.set_filter(event.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.close()

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            self.close()
