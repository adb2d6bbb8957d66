"""All dashboard panels in one import, and the default set the App mounts.

The App wires them like this (see :class:`widgets.panel.Panel` for the contract)::

    for panel in panels:
        if changes.full or touched & set(panel.KINDS):
            panel.refresh_from(store, changes, now)
"""

from __future__ import annotations

from collections.abc import Sequence

from widgets.alerts import AlertsPanel
from widgets.apps import AppsPanel
from widgets.detail import DetailView
from widgets.endpoints import EndpointsPanel
from widgets.events import EventsPanel
from widgets.messages import PanelRowActivated, PanelRowHighlighted
from widgets.nodes import NodesPanel
from widgets.panel import Panel, RowView
from widgets.pods import PodsPanel
from widgets.routes import RoutesPanel
from widgets.table_panel import TablePanel
from widgets.virtual_panel import VirtualPanel
from widgets.vtable import Column, VirtualTable
from widgets.workloads import WorkloadsPanel

__all__ = [
    "AlertsPanel",
    "AppsPanel",
    "Column",
    "DetailView",
    "EndpointsPanel",
    "EventsPanel",
    "NodesPanel",
    "Panel",
    "PanelRowActivated",
    "PanelRowHighlighted",
    "PodsPanel",
    "RoutesPanel",
    "RowView",
    "TablePanel",
    "VirtualPanel",
    "VirtualTable",
    "WorkloadsPanel",
    "dashboard_panels",
]


def dashboard_panels(signals: Sequence[str] = ()) -> list[Panel]:
    """Fresh instances of the dashboard's panels, in reading order, with stable ids.

    ``signals``: names of the configured PromQL signals (a sparkline column each in the
    Argo CD panel).

    The ids (``nodes``, ``workloads``, ``pods``, ``traffic``, ``endpoints``, ``apps``,
    ``alerts``, ``events``) are what
    ``themes/controlroom.tcss`` places in the grid.
    """
    return [
        NodesPanel(id="nodes"),
        WorkloadsPanel(id="workloads"),
        PodsPanel(id="pods"),
        RoutesPanel(id="traffic"),
        EndpointsPanel(id="endpoints"),
        AppsPanel(id="apps", signals=signals),
        AlertsPanel(id="alerts"),
        EventsPanel(id="events"),
    ]
