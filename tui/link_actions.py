"""The links key: ``o`` on a row shows its links out (Grafana, Argo CD, runbook...) and copies
the first one.

The templates are the config's (``[links]``, :mod:`backends.links`, validated when the file is
read); this collaborator finds the selected row (an alert row or group header: its first
alert), fills its templates with the row's values, URL-encoded, and opens
:class:`~tui.links_screen.LinksScreen`. A kind without templates says how to add them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding

from backends.link_values import row_values
from backends.links import PLACEHOLDERS, LinkSettings, fill
from backends.model import Row
from backends.sanitize import clean
from backends.signals.model import ALERTS
from backends.store import Store
from widgets.alerts import AlertsPanel

if TYPE_CHECKING:
    from tui.host import Host
    from tui.session import Target

__all__ = ["LINK_BINDINGS", "LinkActions"]

LINK_BINDINGS = [
    Binding("o", "links", "Links", id="links",
            tooltip="Links out of the selected row ([links] in the config: Grafana, Argo CD, "
            "runbook...): shown as hyperlinks, the first copied to the clipboard"),
]


class LinkActions:
    """Opens the links of the selected row (see the module docstring)."""

    def __init__(self, host: Host, store: Store, links: LinkSettings, target: Target) -> None:
        self._host = host
        self._store = store
        self._links = links
        self._target = target

    def open(self) -> None:
        from tui.links_screen import LinksScreen  # at first use: not needed for the first rows

        panel = self._host.focused_panel()
        rid = panel.selected_row if panel is not None else None
        if panel is None or rid is None:
            self._host.notify("links: select a row first", severity="warning")
            return
        kind, row = self._row(panel, rid)
        if row is None:
            self._host.notify("links: this row has no object behind it", severity="warning")
            return
        templates = self._links.of(kind)
        if not templates:
            how = (f"add [[links.{kind}]] with a title and a url to the config"
                   if kind in PLACEHOLDERS else
                   f"links are for {', '.join(PLACEHOLDERS)}")
            self._host.notify(f"no links for {kind}: {how}", severity="warning", markup=False,
                              timeout=8)
            return
        values = row_values(self._store, kind, row, context=self._target.context,
                            cluster=self._target.cluster)
        name = values.get("alertname") if kind == ALERTS else None
        what = f"{kind} {clean(name or row.key, 200)}"
        self._host.push_screen(LinksScreen(what, fill(templates, values)))

    def _row(self, panel: object, rid: tuple[str, str]) -> tuple[str, Row | None]:
        if isinstance(panel, AlertsPanel):
            alerts = panel.alerts_of(rid)
            return ALERTS, (alerts[0] if alerts else None)
        return rid[0], self._store.get(*rid)
