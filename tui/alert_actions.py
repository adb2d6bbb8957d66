"""The alert keys: silence the selected alert (or group) in Alertmanager, and expire it.

Same path as every other action (tui/actions.py): ask what is needed (the duration), let
:mod:`backends.ops.silence` plan the writes, show them on the plan screen (where the reason
typed becomes the silence's ``comment``: the change or incident id), then execute through a
write gate. That gate sends through the session's Alertmanager client and shares the
cluster gate's policy and journal, so read-only mode refuses a silence exactly like a scale,
production asks for the typed context name, and the journal keeps the prior alert status and
the ``silenceID``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding

from backends.ops.gate import WriteGate
from tui.pickers import PickerScreen, PickRow

if TYPE_CHECKING:
    from textual.app import App

    from backends.signals.model import AlertRow

__all__ = ["ALERT_BINDINGS", "SILENCE_DURATIONS", "AlertActionsMixin"]

ALERT_BINDINGS = [
    Binding("m", "silence", "Silence", id="silence",
            tooltip="Alerts: silence the selected alert (or group) in Alertmanager, scoped "
            "to it and ending by itself; the reason becomes the silence's comment"),
    Binding("M", "expire_silence", "Expire silence", id="expire_silence", show=False,
            tooltip="Alerts: expire the silence the control room made for the selected "
            "alert (or group)"),
]
_ACTIONS = frozenset(b.action for b in ALERT_BINDINGS)

SILENCE_DURATIONS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 24.0)
"""Hours offered on the duration picker (the configured default is added when missing)."""


def _hours_label(hours: float) -> str:
    return f"{hours * 60:g} minutes" if hours < 1 else f"{hours:g} hour{'s' if hours != 1 else ''}"


class AlertActionsMixin:
    """Silence and expire for :class:`tui.app.ControlRoomApp` (before ``ActionsMixin`` in
    the bases, so its ``check_action`` is asked first)."""

    # the App and ActionsMixin provide these
    store: Any
    session: Any
    settings: Any
    target: Any
    gate: WriteGate | None
    journal: Any

    def _alert_app(self) -> App[Any]:
        return self  # type: ignore[return-value]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Dimmed while there is no Alertmanager or no session gate to share policy with."""
        if action in _ACTIONS:
            ready = self.gate is not None and self._alertmanager() is not None
            return True if ready else None
        return super().check_action(action, parameters)  # type: ignore[misc]

    def _alertmanager(self) -> Any:
        return getattr(self.session, "alertmanager", None)

    def _selected_alerts(self) -> list[AlertRow]:
        """The alerts under the cursor of the Alerts panel, only when that panel has the
        focus: a key pressed while reading another panel must not silence whatever row the
        Alerts panel's cursor happens to rest on."""
        from widgets.alerts import AlertsPanel

        panel = getattr(self, "_focused_panel")()  # noqa: B009 - provided by the App
        return panel.selected_alerts() if isinstance(panel, AlertsPanel) else []

    def _alert_gate(self) -> WriteGate | None:
        """A gate on the Alertmanager client with the session's policy and journal (no
        dry-run, no access reviews: Alertmanager has neither)."""
        client = self._alertmanager()
        if self.gate is None or client is None:
            return None
        return WriteGate(self.gate.policy, client, self.journal, dry_run=False,
                         access_reviews=False)

    def _alert_target(self) -> tuple[WriteGate, list[AlertRow]] | None:
        app = self._alert_app()
        gate = self._alert_gate()
        if gate is None:
            app.notify("no Alertmanager configured ([alertmanager] url) or not connected yet",
                       severity="warning", markup=False)
            return None
        alerts = self._selected_alerts()
        if not alerts:
            app.notify("focus the Alerts panel and select an alert or an alert group first",
                       severity="warning")
            return None
        return gate, alerts

    def action_silence(self) -> None:
        ready = self._alert_target()
        if ready is not None:
            self._silence(*ready)

    def action_expire_silence(self) -> None:
        ready = self._alert_target()
        if ready is not None:
            self._expire(*ready)

    @work(group="actions", exclusive=True, exit_on_error=False)
    async def _silence(self, gate: WriteGate, alerts: list[AlertRow]) -> None:
        """Ask the duration (the configured default preselected), then plan and show. In
        read-only mode the plan is shown for reading (nothing can be sent), no picker."""
        from backends.ops.silence import plan_silence

        app = self._alert_app()
        default = float(self.settings.alertmanager.silence_hours)
        hours_offered = sorted({*SILENCE_DURATIONS, default})
        names = ", ".join(sorted({a.alertname for a in alerts}))
        if gate.policy.read_only:
            hours = default
        else:
            chosen = await app.push_screen_wait(PickerScreen(
                f"Silence {names} ({len(alerts)} alert{'s' if len(alerts) != 1 else ''}) for",
                ("DURATION",), [PickRow(repr(h), (_hours_label(h),)) for h in hours_offered],
                default=repr(default),
                hint="Enter to plan (the reason asked next becomes the comment), "
                     "Escape to cancel"))
            if chosen is None:
                return
            hours = float(chosen)
        client = self._alertmanager()
        await self.plan_flow(  # type: ignore[attr-defined]
            f"silence {names}", lambda: plan_silence(client, gate, alerts, hours=hours),
            gate=gate)

    @work(group="actions", exclusive=True, exit_on_error=False)
    async def _expire(self, gate: WriteGate, alerts: list[AlertRow]) -> None:
        from backends.ops.silence import plan_expire

        client = self._alertmanager()
        names = ", ".join(sorted({a.alertname for a in alerts}))
        await self.plan_flow(  # type: ignore[attr-defined]
            f"expire silence of {names}",
            lambda: plan_expire(client, gate, self.journal, alerts), gate=gate)
