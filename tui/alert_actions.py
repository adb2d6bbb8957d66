"""The alert keys: silence the selected alert (or group) in Alertmanager, and expire it.

Same path as every other action (tui/actions.py): ask what is needed (the duration), let
the use cases of :mod:`backends.usecases.alerts` plan the writes, show them on the plan screen
(where the reason typed becomes the silence's ``comment``: the change or incident id), then
execute through the gate the use case gives the action. That gate sends through the session's
Alertmanager client and shares the cluster gate's policy and journal, so read-only mode
refuses a silence exactly like a scale, production asks for the typed context name, and the
journal keeps the prior alert status and the ``silenceID``.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.binding import Binding

from tui.actions import ACTIONS_GROUP, ActionController
from tui.host import Host, start_worker

if TYPE_CHECKING:
    from backends.config import Settings
    from backends.signals.alertmanager import AlertmanagerClient
    from backends.signals.model import AlertRow
    from backends.usecases.workspace import Workspace

__all__ = ["ALERT_BINDINGS", "SILENCE_DURATIONS", "AlertActions"]

ALERT_BINDINGS = [
    Binding("m", "silence", "Silence", id="silence",
            tooltip="Alerts: silence the selected alert (or group) in Alertmanager, scoped "
            "to it and ending by itself; the reason becomes the silence's comment"),
    Binding("M", "expire_silence", "Expire silence", id="expire_silence", show=False,
            tooltip="Alerts: expire the silence the control room made for the selected "
            "alert (or group)"),
]

SILENCE_DURATIONS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 24.0)
"""Hours offered on the duration picker (the configured default is added when missing)."""


def _hours_label(hours: float) -> str:
    return f"{hours * 60:g} minutes" if hours < 1 else f"{hours:g} hour{'s' if hours != 1 else ''}"


class AlertActions:
    """Silence and expire through the session's Alertmanager client, with the policy and
    journal of ``actions`` (the cluster's write side): :mod:`backends.usecases.alerts`
    builds the gate on that client."""

    def __init__(self, host: Host, settings: Settings, actions: ActionController) -> None:
        self._host = host
        self._settings = settings
        self._actions = actions

    @property
    def client(self) -> AlertmanagerClient | None:
        """The session's Alertmanager client (None: not configured or not connected)."""
        ws = self._actions.ws
        return ws.alertmanager if ws is not None else None

    def _selected_alerts(self) -> list[AlertRow]:
        """The alerts under the cursor of the Alerts panel, only when that panel has the
        focus: a key pressed while reading another panel must not silence whatever row the
        Alerts panel's cursor happens to rest on."""
        from widgets.alerts import AlertsPanel

        panel = self._host.focused_panel()
        return panel.selected_alerts() if isinstance(panel, AlertsPanel) else []

    def _target(self) -> tuple[Workspace, list[AlertRow]] | None:
        ws = self._actions.ws
        if ws is None or ws.alertmanager is None:
            self._host.notify("no Alertmanager configured ([alertmanager] url) or not "
                              "connected yet", severity="warning", markup=False)
            return None
        alerts = self._selected_alerts()
        if not alerts:
            self._host.notify("focus the Alerts panel and select an alert or an alert group "
                              "first", severity="warning")
            return None
        return ws, alerts

    # ------------------------------------------------------------------ keys

    def silence(self) -> None:
        ready = self._target()
        if ready is not None:
            start_worker(self._host, partial(self._silence, *ready), name="_silence",
                         group=ACTIONS_GROUP, exclusive=True)

    def expire_silence(self) -> None:
        ready = self._target()
        if ready is not None:
            start_worker(self._host, partial(self._expire, *ready), name="_expire",
                         group=ACTIONS_GROUP, exclusive=True)

    async def _silence(self, ws: Workspace, alerts: list[AlertRow]) -> None:
        """Ask the duration (the configured default preselected), then plan and show. In
        read-only mode the plan is shown for reading (nothing can be sent), no picker."""
        from backends.usecases.alerts import plan_silence
        from tui.pickers import PickerScreen, PickRow  # at first use: not needed for the first rows

        default = float(self._settings.alertmanager.silence_hours)
        hours_offered = sorted({*SILENCE_DURATIONS, default})
        names = ", ".join(sorted({a.alertname for a in alerts}))
        if ws.gate.policy.read_only:
            hours = default
        else:
            chosen = await self._host.push_screen_wait(PickerScreen(
                f"Silence {names} ({len(alerts)} alert{'s' if len(alerts) != 1 else ''}) for",
                ("DURATION",), [PickRow(repr(h), (_hours_label(h),)) for h in hours_offered],
                default=repr(default),
                hint="Enter to plan (the reason asked next becomes the comment), "
                     "Escape to cancel"))
            if chosen is None:
                return
            hours = float(chosen)
        await self._actions.plan_flow(f"silence {names}",
                                      partial(plan_silence, ws, alerts, hours=hours))

    async def _expire(self, ws: Workspace, alerts: list[AlertRow]) -> None:
        from backends.usecases.alerts import plan_expire

        names = ", ".join(sorted({a.alertname for a in alerts}))
        await self._actions.plan_flow(f"expire silence of {names}",
                                      partial(plan_expire, ws, alerts))
