"""The filter box: one line under the dashboard that filters one panel, or every panel.

``/`` opens it on the focused panel, prefilled with that panel's filter; the global filter key
(``F``, or ``:filter``) opens it on every panel at once (one text filters them all, k9s's
habit). Every change filters at once (case-insensitive, on the visible cells). Enter closes the
box and keeps the filter (each panel's subtitle says ``filter: ...``); Escape closes it and
clears the filter it was typing, so Escape always gets the engineer back to every row.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual import events, on
from textual.widgets import Input

from widgets.panel import Panel

__all__ = ["FilterBox"]

_ONE = "filter the focused panel (Enter keeps it, Esc clears it)"
_ALL = "filter EVERY panel (Enter keeps it, Esc clears it)"


class FilterBox(Input):
    """An ``Input`` bound to one panel (or all of them) while open; hidden while closed."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(placeholder=_ONE, id=id)
        self.panels: tuple[Panel, ...] = ()
        """The panels being filtered (those the box was last opened for)."""
        self.global_filter = ""
        """The text of the last filter set on every panel ("" when none)."""
        self._global = False
        self._back: Panel | None = None
        self.display = False

    @property
    def panel(self) -> Panel | None:
        """The panel being filtered when the box filters one panel."""
        return self.panels[0] if len(self.panels) == 1 and not self._global else None

    def open(self, panel: Panel | None) -> None:
        """Show the box on ``panel`` (None: the box filters nothing)."""
        self._show((panel,) if panel is not None else (), False,
                   panel.filter_text if panel is not None else "", panel)

    def open_all(self, panels: Sequence[Panel], back: Panel | None) -> None:
        """Show the box on every panel: one text filters them all; ``back`` gets the focus
        when it closes."""
        self._show(tuple(panels), True, self.global_filter, back)

    def _show(self, panels: tuple[Panel, ...], every: bool, value: str,
              back: Panel | None) -> None:
        self._back = back
        self.panels = panels
        self._global = every
        self.placeholder = _ALL if every else _ONE
        self.display = True
        self.value = value
        self.focus()

    def filter_all(self, panels: Sequence[Panel], text: str) -> None:
        """Set (or with "" clear) the filter of every panel without opening the box."""
        self.global_filter = text.strip()
        for panel in panels:
            panel.set_filter(text)

    def close(self) -> None:
        """Hide the box; the panel keeps its filter and gets the focus back."""
        self.display = False
        if self._back is not None:
            self._back.focus()

    @on(Input.Changed)
    def _filter(self, event: Input.Changed) -> None:
        event.stop()
        if self._global:
            self.global_filter = event.value.strip()
        for panel in self.panels:
            panel.set_filter(event.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.close()

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            self.value = ""  # Input.Changed clears the filter
            for panel in self.panels:
                panel.set_filter("")
            if self._global:
                self.global_filter = ""
            self.close()
