"""The dashboard's layout by terminal size: the grid, or one panel at a time.

Why: at 80x24 the eight-panel grid leaves each panel 0 to 3 rows, slivers nobody can read.
Below ``compact_width`` columns or ``compact_height`` rows (the config's knobs) the focused
panel is maximised and the pager line (:class:`~widgets.pager.PanelPager`) names the others
with their counts and failing rows; tab and shift+tab page through them. ``z`` maximises the
focused panel at any size, and the same key restores the grid (in the small mode too, for a
look at everything). Crossing the threshold while resizing switches the mode live and
forgets the ``z`` choice of the old mode.

Why Textual's own maximise and not a TabbedContent: the panels stay where they are, mounted
once, with their rows, cursors and filters; a TabbedContent would need them composed into
tab panes (a second layout to keep in step, and a remount on every switch of mode), and its
tab bar costs two lines where the pager costs one and also shows which panel has trouble.
Focus moving to another panel (``G``, a jump by name) maximises that one instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.geometry import Size
from textual.screen import Screen
from textual.widget import Widget

from widgets.pager import PanelPager
from widgets.panel import Panel

if TYPE_CHECKING:
    from textual.app import App

__all__ = ["LAYOUT_BINDINGS", "LayoutController"]

LAYOUT_BINDINGS = [
    Binding("z", "maximize_panel", "Maximise", id="maximize_panel",
            tooltip="Show the focused panel alone on the screen; again: every panel"),
]


#: From this many columns the grid's third column (traffic, events) and second (alerts) take
#: more of the width than the first (nodes, Argo CD apps): their words are longer (a route's
#: weights, an event's message, an alert's summary) and at 200 columns they fit whole, where
#: node names and app health fit in less (themes/controlroom.tcss, ``Screen.-wide``).
WIDE_WIDTH = 180


class LayoutController:
    """Switches the App's main screen between the grid and one maximised panel."""

    def __init__(self, app: App[int], panels: Sequence[Panel], *, compact_width: int,
                 compact_height: int) -> None:
        self._app = app
        self._panels = panels
        self._limits = (compact_width, compact_height)
        self.pager = PanelPager(panels, id="pager")
        self.compact = False
        """The terminal is below the threshold: one panel at a time."""
        self._override: bool | None = None
        """``z``'s choice in the current mode (True: maximised), None: the mode's own."""
        self._screen: Screen[object] | None = None
        self._led = False
        """The first trouble has been shown (once: later trouble never moves the screen)."""

    def lead_to(self, panel_id: str | None) -> None:
        """At start, one panel at a time shows the worst trouble's panel, not the first panel
        of the grid (an empty Nodes panel while pods crash-loop): once, the first time the
        trouble line names a panel, and only while the focus is still where the App put it
        at start; after that the operator's choice stands."""
        if self._led or panel_id is None:
            return
        self._led = True
        current = self._panel_in_focus()
        if not self.compact or self.maximized is None or (
                current is not None and current is not self._panels[0]):
            return
        panel = next((p for p in self._panels if p.id == panel_id), None)
        if panel is not None:
            self._show(panel)

    def prepare(self, screen: Screen[object], size: Size) -> None:
        """Before the dashboard's widgets mount: the screen's ``-wide`` class for ``size``.

        Why: set in :meth:`attach` (on mount), the class restyled every widget once more
        before the first frame (~20 ms of the time to first rows, issue 16); set before
        they mount, their first styling has it. :meth:`apply` keeps it right afterwards.
        """
        screen.set_class(size.width >= WIDE_WIDTH, "-wide")

    def attach(self, screen: Screen[object]) -> None:
        """Mount the pager line on the dashboard's screen and follow its focus and size."""
        self._screen = screen
        screen.mount(self.pager)
        self._app.watch(screen, "focused", self._focused, init=False)
        self.apply(self._app.size)

    @property
    def maximized(self) -> Panel | None:
        """The panel alone on the screen, or None when the grid shows."""
        shown = self._screen.maximized if self._screen is not None else None
        return shown if isinstance(shown, Panel) else None

    def apply(self, size: Size) -> None:
        """The terminal's size (at start and on every resize): the mode it calls for."""
        width, height = self._limits
        compact = (width > 0 and size.width < width) or (height > 0 and size.height < height)
        if compact != self.compact:
            self.compact = compact
            self._override = None
        if self._screen is not None:
            self._screen.set_class(size.width >= WIDE_WIDTH, "-wide")
        self._sync()

    def toggle(self) -> None:
        """``z``: the focused panel alone, or the grid again."""
        self._override = self.maximized is None
        self._sync()

    def step(self, delta: int) -> None:
        """Tab / shift+tab: the next panel when one is maximised, else the next widget."""
        screen = self._app.screen
        current = self.maximized
        if screen is not self._screen or current is None or current not in self._panels:
            if delta > 0:
                screen.focus_next()
            else:
                screen.focus_previous()
            return
        index = (list(self._panels).index(current) + delta) % len(self._panels)
        self._show(self._panels[index])

    def _wanted(self) -> bool:
        return self.compact if self._override is None else self._override

    def _sync(self) -> None:
        screen = self._screen
        if screen is None:
            return
        if not self._wanted():
            screen.minimize()
            self.pager.show_panel(None)
            screen.set_class(False, "-compact")
            return
        screen.set_class(self.compact, "-compact")
        self._show(self._panel_in_focus() or self.maximized or self._panels[0])

    def _show(self, panel: Panel) -> None:
        screen = self._screen
        if screen is None:
            return
        if screen.maximized is not panel:
            screen.maximize(panel, container=False)
        if not self._within(screen.focused, panel):
            panel.focus()
        self.pager.show_panel(panel)

    def _focused(self, widget: Widget | None) -> None:
        """Focus went elsewhere: while a panel is maximised, the panel holding the focus is
        the one shown (a jump to another panel's row shows that panel)."""
        if self.maximized is None:
            return
        panel = self._panel_of(widget)
        if panel is not None and panel is not self.maximized:
            self._show(panel)

    def _panel_in_focus(self) -> Panel | None:
        screen = self._screen
        return self._panel_of(screen.focused) if screen is not None else None

    def _panel_of(self, widget: Widget | None) -> Panel | None:
        node = widget
        while node is not None:
            if isinstance(node, Panel) and node in self._panels:
                return node
            parent = node.parent
            node = parent if isinstance(parent, Widget) else None
        return None

    @staticmethod
    def _within(widget: Widget | None, panel: Panel) -> bool:
        node = widget
        while node is not None:
            if node is panel:
                return True
            parent = node.parent
            node = parent if isinstance(parent, Widget) else None
        return False
