"""The action keys of the control room: plan, show, confirm, execute, report.

Every action follows one path (ARCHITECTURE.md, "How actions flow"): a planner in
``backends/ops`` GETs the live objects and returns a :class:`~backends.ops.plan.Plan`; the plan
screen shows every write with the server's dry-run answer; on confirmation the plan is executed
through the write gate in a worker (the UI never blocks) and each step's result is reported
as it happens. Nothing here sends a request itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding

from backends.ops.gate import WriteGate, policy_for
from backends.ops.journal import Journal, JournalError, default_journal_path
from backends.ops.plan import Plan, PlanError, execute
from tui.plan_screen import Decision, PlanScreen

if TYPE_CHECKING:
    from textual.app import App

ACTION_BINDINGS = [
    Binding("p", "pause_sync", "Pause/restore sync", id="pause_sync",
            tooltip="Argo CD app: pause auto-sync (or restore exactly what was there)"),
    Binding("s", "scale_down", "Scale to 0", id="scale_down",
            tooltip="Deployment: scale to 0 through the scale subresource"),
    Binding("S", "scale_restore", "Restore scale", id="scale_restore", show=False,
            tooltip="Deployment: restore the replicas recorded before the last scale"),
    Binding("r", "rollback", "Rollback", id="rollback",
            tooltip="Argo CD app: roll back to the previous history entry; Deployment: "
            "rollout undo to the previous revision"),
    Binding("ctrl+b", "breaker", "Breaker", id="breaker",
            tooltip="Circuit breaker: pause sync, shift traffic, scale down, verified"),
    Binding("ctrl+r", "release", "Release", id="release", show=False,
            tooltip="Release the circuit breaker: restore everything from the journal"),
    Binding("j", "journal", "Journal", id="journal",
            tooltip="Every write the control room made, with prior state and result"),
]


def split_key(key: str) -> tuple[str, str]:
    """``namespace/name`` row keys into their parts (cluster-scoped: namespace "")."""
    ns, _, name = key.rpartition("/")
    return ns, name


class ActionsMixin:
    """Action handling for :class:`tui.app.ControlRoomApp` (kept out of the App's module)."""

    gate: WriteGate | None = None
    journal: Journal | None = None
    breaker_state: Any = None
    _drift_seen: set[str] = set()  # noqa: RUF012 - replaced, never mutated in place

    # the App provides these
    store: Any
    session: Any
    settings: Any
    target: Any
    journal_path: Path | None

    async def open_actions(self) -> None:
        """Open the journal and build the one write gate for this session."""
        app = self._app()
        conn = getattr(self.session, "conn", None)
        if conn is None:
            return
        try:
            self.journal = await Journal.open(self.journal_path or default_journal_path())
        except JournalError as exc:
            self.journal = None
            app.notify(f"journal unavailable, every write will be refused: {exc}",
                       severity="error", markup=False, timeout=15)
        policy = policy_for(self.settings, self.target.context, self.target.read_only)
        self.gate = WriteGate(policy, conn, self.journal)
        app.refresh_bindings()  # the action keys are live now
        await self.refresh_breaker()

    async def close_actions(self) -> None:
        if self.journal is not None:
            journal, self.journal = self.journal, None
            await journal.close()

    def _app(self) -> App[Any]:
        return self  # type: ignore[return-value]

    # ------------------------------------------------------------------ the one path

    def selected(self, *kinds: str) -> tuple[str, str] | None:
        """(kind, key) of the focused panel's selected row, if it is one of ``kinds``."""
        panel = getattr(self, "_focused_panel")()  # noqa: B009 - provided by the App
        if panel is None or panel.selected_key is None or panel.selected_kind not in kinds:
            return None
        return panel.selected_kind, panel.selected_key

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Action keys are dimmed while there is no connection to act on."""
        if action in {b.action for b in ACTION_BINDINGS} and action != "journal":
            return True if self.gate is not None else None
        return True

    def run_plan(self, title: str, build: Callable[[], Awaitable[Plan]], *,
                 emergency: bool = False) -> None:
        self._plan_and_execute(title, build, emergency)

    @work(group="actions", exclusive=True, exit_on_error=False)
    async def _plan_and_execute(self, title: str, build: Callable[[], Awaitable[Plan]],
                                emergency: bool) -> None:
        app = self._app()
        gate = self.gate
        if gate is None:
            app.notify("not connected yet", severity="warning")
            return
        try:
            plan = await build()
        except PlanError as exc:
            app.notify(f"{title}: {exc}", severity="error", markup=False, timeout=10)
            return
        screen = PlanScreen(plan, gate, context=self.target.context,
                            protected=gate.policy.protected, read_only=gate.policy.read_only,
                            emergency=emergency)
        decision: Decision | None = await app.push_screen_wait(screen)
        if decision is None or not plan.writes:
            return

        def progress(index: int, text: str) -> None:
            app.notify(f"{index + 1}/{len(plan.writes)} {text}", markup=False, timeout=4)

        result = await execute(gate, plan, reason=decision.reason, confirm=decision.confirm,
                               on_progress=progress)
        app.notify(result.summary(), title=title,
                   severity="information" if result.ok else "error", markup=False, timeout=12)
        await self.refresh_breaker()

    # ------------------------------------------------------------------ keys

    def action_pause_sync(self) -> None:
        from backends.ops import argocd

        sel = self.selected("applications")
        if sel is None:
            self._app().notify("select an Argo CD app first", severity="warning")
            return
        ns, name = split_key(sel[1])
        row = self._app_row(sel[1])
        pausing = row is None or getattr(row, "auto_sync", "on") == "on"
        conn, gate = self.session.conn, self.gate
        assert gate is not None
        if pausing:
            self.run_plan(f"pause auto-sync of {name}",
                          lambda: argocd.plan_pause(conn, gate, ns, name))
        else:
            # the exact prior block: from the pause annotation the pause wrote on the app
            self.run_plan(f"restore auto-sync of {name}",
                          lambda: argocd.plan_restore(conn, gate, (ns, name)))

    def _app_row(self, key: str) -> Any:
        return self.store.get("applications", key)

    def action_scale_down(self) -> None:
        from backends.ops import workloads

        sel = self.selected("deployments")
        if sel is None:
            self._app().notify("select a deployment first", severity="warning")
            return
        ns, name = split_key(sel[1])
        conn, gate = self.session.conn, self.gate
        assert gate is not None
        self.run_plan(f"scale {ns}/{name} to 0",
                      lambda: workloads.plan_scale(conn, gate, ns, name, 0))

    def action_scale_restore(self) -> None:
        from backends.ops import workloads

        sel = self.selected("deployments")
        if sel is None:
            self._app().notify("select a deployment first", severity="warning")
            return
        ns, name = split_key(sel[1])
        conn, gate = self.session.conn, self.gate
        assert gate is not None

        async def build() -> Plan:
            recorded = await self.recorded_replicas(ns, name)
            if recorded is None:
                raise PlanError(f"no scale of {ns}/{name} in the journal to restore")
            return await workloads.plan_scale_restore(conn, gate, ns, name, recorded)

        self.run_plan(f"restore the scale of {ns}/{name}", build)

    async def recorded_replicas(self, ns: str, name: str) -> int | None:
        """The replicas recorded before the newest scale-down of this deployment."""
        if self.journal is None:
            return None
        entries = await self.journal.entries(context=self.target.context)
        for e in sorted(entries, key=lambda e: e.id, reverse=True):
            if (e.kind, e.namespace, e.name, e.step) == ("Deployment", ns, name,
                                                         "scale-down") and \
                    isinstance(e.prior, dict) and isinstance(e.prior.get("replicas"), int):
                return int(e.prior["replicas"])
        return None

    def action_rollback(self) -> None:
        from backends.ops import argocd, workloads

        sel = self.selected("applications", "deployments")
        if sel is None:
            self._app().notify("select an Argo CD app or a deployment first",
                               severity="warning")
            return
        kind, key = sel
        ns, name = split_key(key)
        conn, gate = self.session.conn, self.gate
        assert gate is not None
        if kind == "applications":
            self.run_plan(f"roll back {name} to the previous history entry",
                          lambda: argocd.plan_rollback(conn, gate, (ns, name), None))
        else:
            self.run_plan(f"rollout undo {ns}/{name}",
                          lambda: workloads.plan_rollout_undo(conn, gate, ns, name, None))

    def action_breaker(self) -> None:
        self._breaker(engaging=True)

    def action_release(self) -> None:
        self._breaker(engaging=False)

    @work(group="actions", exclusive=True, exit_on_error=False)
    async def _breaker(self, engaging: bool) -> None:
        """Engage or release: the phases are previewed as one plan, then run by the breaker
        itself (phases in order, annotations, one operation id), as an emergency (no cancel
        window; production still needs the typed context name)."""
        from backends.ops import breaker

        app = self._app()
        gate, journal, conn = self.gate, self.journal, getattr(self.session, "conn", None)
        if gate is None or journal is None or conn is None:
            app.notify("the breaker needs a connection and a journal", severity="error")
            return
        context = self.target.context
        try:
            if engaging:
                bplan = await breaker.plan_engage(conn, gate, self.store,
                                                  self.settings.breaker)
                preview_plan = bplan.as_plan()
            else:
                rplan = await breaker.plan_release(conn, gate, journal, context)
                preview_plan = rplan.as_plan()
        except PlanError as exc:
            app.notify(f"breaker: {exc}", severity="error", markup=False, timeout=10)
            return
        screen = PlanScreen(preview_plan, gate, context=context,
                            protected=gate.policy.protected, read_only=gate.policy.read_only,
                            emergency=True)
        decision: Decision | None = await app.push_screen_wait(screen)
        if decision is None:
            return

        def progress(event: object) -> None:
            app.notify(str(getattr(event, "text", event)), markup=False, timeout=4)

        if engaging:
            result = await breaker.engage(gate, bplan, reason=decision.reason,
                                          confirm=decision.confirm, on_progress=progress)
        else:
            result = await breaker.release(gate, journal, conn, context,
                                           reason=decision.reason, confirm=decision.confirm,
                                           on_progress=progress)
        app.notify(result.summary(), title="circuit breaker", markup=False, timeout=15,
                   severity="information" if result.ok else "error")
        await self.refresh_breaker()

    async def refresh_breaker(self) -> None:
        """Read the breaker state from the journal for the header (who, since when)."""
        from backends.ops import breaker

        if self.journal is None:
            return
        try:
            self.breaker_state = await breaker.breaker_status(self.journal, self.target.context)
        except JournalError as exc:
            self._app().notify(f"journal: {exc}", severity="error", markup=False)

    def check_drift(self) -> None:
        """The drift watchdog: tell the operator when something reverts an emergency change
        (selfHeal, an ApplicationSet, an HPA) while the breaker is engaged."""
        from backends.ops import breaker

        state = getattr(self, "breaker_state", None)
        if state is None or not state.engaged:
            return
        drifts = {d.describe() for d in breaker.detect_drift(self.store, state)}
        for text in sorted(drifts - self._drift_seen):
            self._app().notify(f"DRIFT: {text}", severity="error", markup=False, timeout=20)
        self._drift_seen = drifts

    def action_journal(self) -> None:
        from tui.journal_screen import JournalScreen

        self._app().push_screen(JournalScreen(self.journal, self.target.context))

