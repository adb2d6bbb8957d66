"""The trouble line's jumps: a click on a part, or ``n`` walking the parts, selects its row.

The line (:class:`~widgets.trouble_line.TroubleLine`) says the worst thing now per area; the
engineer's next move is to look at it, so each part leads to its row: the panel is focused
and the cursor put on the row with the navigator's own jump (:meth:`tui.navigation.Navigator.
go_to`, the one ``g``/``G`` use), so every action key then acts on it. ``n`` starts at the
worst part (the first) and each press goes to the next, round. A part about a source that
does not deliver leads to that source's panel (its status line says why).

The summary is computed at most once a second (:meth:`TroubleActions.refresh`, from the App's
ages timer), and only when the store changed or ten seconds passed, from the store
(:func:`widgets.trouble.summarise`; bench/bench_trouble.py measures it on a big cluster in
trouble).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from textual.binding import Binding

from tui.navigation import reveal
from widgets.trouble import Part, summarise
from widgets.trouble_line import TroubleLine

if TYPE_CHECKING:
    from backends.store import Store
    from tui.host import Host
    from tui.navigation import Navigator
    from widgets.panel import Panel

__all__ = ["QUIET_EVERY", "TROUBLE_BINDINGS", "TroubleActions"]

QUIET_EVERY = 10.0
"""Seconds between summaries while the store does not change."""

TROUBLE_BINDINGS = [
    Binding("n", "next_trouble", "Next trouble", id="next_trouble",
            tooltip="Go to the row of the worst thing on the trouble line under the header; "
            "again: the next one (a click on a part does the same)"),
]


class TroubleActions:
    """Owns the trouble line and its jumps (see the module docstring)."""

    def __init__(self, host: Host, store: Callable[[], Store], panels: Sequence[Panel],
                 navigator: Navigator) -> None:
        self._host = host
        self._store = store
        """The store of the context on screen: a getter, because with several contexts
        watched (tui/fleet.py) the App swaps its store while this line stays mounted."""
        self._panels = panels
        self._navigator = navigator
        self._last: Part | None = None
        self._version: tuple[int, int] = (0, -1)
        self._computed = 0.0
        self.line = TroubleLine(self.jump, id="trouble")
        """The line widget (the App mounts it under the header)."""

    def refresh(self, now: float) -> None:
        """Compute the summary from the store and show it: when the store changed (a row or
        a source's health), else every :data:`QUIET_EVERY` seconds for the words that move
        with time alone (how long an alert fires, a pod pending too long)."""
        store = self._store()
        version = (id(store), store.version)
        if version == self._version and now - self._computed < QUIET_EVERY:
            return
        self._version, self._computed = version, now
        self.line.show(summarise(store, now))

    def first_panel(self) -> str | None:
        """The panel of the worst problem on the line that has a row (None: none); what is
        unknown (a source loading, alerts not watched) leads nowhere by itself."""
        return next((p.panel for p in self.line.summary.parts if p.row is not None), None)

    def next(self) -> None:
        """``n``: the worst part first, then each next one, round."""
        parts = self.line.summary.parts
        if not parts:
            self._host.notify(self.line.plain or "nothing on the trouble line", timeout=3,
                              markup=False)
            return
        index = parts.index(self._last) + 1 if self._last in parts else 0
        self.jump(index % len(parts))

    def jump(self, index: int) -> None:
        """Select the row of part ``index`` of the line shown."""
        parts = self.line.summary.parts
        if not 0 <= index < len(parts):
            return
        part = self._last = parts[index]
        panel = next((p for p in self._panels if p.id == part.panel), None)
        if panel is None:
            return
        if part.row is None:
            reveal(panel)
            self._host.notify(f"{panel.TITLE}: {part.text}", timeout=4, markup=False)
        elif not self._navigator.go_to(panel, part.row):
            hidden = f" (filter {panel.filter_text!r}: Esc clears it)" if panel.filter_text \
                else ""
            self._host.notify(f"{panel.TITLE}: {part.text}: row not shown{hidden}",
                              severity="warning", timeout=5, markup=False)
