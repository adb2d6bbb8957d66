"""The keys that take the cursor to where the trouble is: the worst row of the focused panel
(``g``) and the worst row anywhere on the dashboard (``G``).

Why: problem rows move to the top as data streams in, while the cursor rests where the
engineer left it, so the row the eye is on and the row a key acts on can differ (a plan for a
healthy app while the degraded one is on top). One key puts the cursor on the worst row, and
from there every action key acts on it; each plan then names its target by kind, namespace
and name (``tui/plan_screen.py``), so a mismatch is seen before anything is sent.

"Worst" is the panels' own tone of a row (:data:`widgets.panel.SEVERITY`: problem before
warning); among rows as bad, the first in the panel's order (the panels sort the worst first),
and across panels the first panel in the dashboard's reading order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.binding import Binding

from backends.sanitize import clean

if TYPE_CHECKING:
    from tui.host import Host
    from widgets.panel import Panel, RowId

__all__ = ["NAVIGATION_BINDINGS", "Navigator", "reveal"]

NAVIGATION_BINDINGS = [
    Binding("g", "worst_row", "Worst row", id="worst_row", show=False,
            tooltip="Put the cursor on the worst row of the focused panel (problems first)"),
    Binding("G", "worst_anywhere", "Worst anywhere", id="worst_anywhere", show=False,
            tooltip="Focus the panel holding the worst row of the dashboard and put the "
            "cursor on that row"),
]

_WORDS = {2: "problem", 1: "warning"}


def reveal(panel: Panel) -> None:
    """Focus ``panel``; while a panel is maximised, the one jumped to is maximised in its
    place (a jump to a hidden panel would move the keys to something not on screen)."""
    screen = panel.screen if panel.is_attached else None
    if screen is not None and screen.maximized is not None and screen.maximized is not panel:
        screen.maximized = panel
    panel.focus()


class Navigator:
    """The jump keys, on the App's panels (the App as a :class:`~tui.host.Host`)."""

    def __init__(self, host: Host, panels: Sequence[Panel]) -> None:
        self._host = host
        self._panels = panels

    def worst_row(self) -> None:
        """``g``: the focused panel's worst row."""
        panel = self._host.focused_panel()
        if panel is None:
            self._host.notify("focus a panel first (Tab)", severity="warning")
            return
        found = panel.worst_row()
        if found is None:
            self._host.notify(f"{panel.TITLE}: no row shown", severity="warning",
                              markup=False)
            return
        self._go(panel, *found)

    def worst_anywhere(self) -> None:
        """``G``: the worst row of every panel; the first panel wins a tie."""
        best: tuple[Panel, RowId, int] | None = None
        for panel in self._panels:
            found = panel.worst_row()
            if found is not None and (best is None or found[1] > best[2]):
                best = (panel, *found)
        if best is None:
            self._host.notify("no panel shows a row yet", severity="warning")
            return
        self._go(*best)

    def go_to(self, panel: Panel, rid: RowId) -> bool:
        """Focus ``panel`` and put the cursor on ``rid`` (the trouble line's jumps); False,
        with the panel focused, when the row is not shown (filtered out, or gone)."""
        if not panel.select_row(rid):
            reveal(panel)
            return False
        self._go(panel, rid, panel.rank_of(rid))
        return True

    def show_first(self, rids: Sequence[RowId]) -> bool:
        """Focus the panel that lists the first of ``rids`` it shows and put the cursor on
        it (the timeline's Enter); False when no panel shows any of them."""
        for rid in rids:
            for panel in self._panels:
                if rid[0] in (panel.ROW_KINDS or panel.KINDS) and panel.select_row(rid):
                    reveal(panel)
                    self._host.notify(f"{panel.TITLE}: {clean(rid[1], 200)}", timeout=4,
                                      markup=False)
                    return True
        return False

    def _go(self, panel: Panel, rid: RowId, rank: int) -> None:
        reveal(panel)
        panel.select_row(rid)
        what = _WORDS.get(rank)
        where = f"{panel.TITLE}: {clean(rid[1], 200)}"
        self._host.notify(f"{where} ({what})" if what else
                          f"{where}: no problem or warning row in this panel",
                          timeout=4, markup=False)
