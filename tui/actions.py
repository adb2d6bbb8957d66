"""The action keys of the control room: plan, show, confirm, execute, report.

Every action follows one path (ARCHITECTURE.md, "How actions flow"): a planner in
``backends/ops`` GETs the live objects and returns a :class:`~backends.ops.plan.Plan`; the plan
screen shows every write with the server's dry-run answer; on confirmation the plan is executed
through the write gate in a worker (the UI never blocks) and each step's result is reported
as it happens. Nothing here sends a request itself.

:class:`ActionController` owns the session's write side (the journal, the one write gate, the
connection it writes through, the breaker state read from the journal) and the plan flow that
every other action collaborator (``tui/rollbacks.py``, ``tui/alert_actions.py``) goes through.
Each action's planner call sits in its own small ``plan_*`` method, so switching the keys to
the shared use cases of ``backends`` is a change of those methods only.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from textual.binding import Binding

from backends.kube.errors import KubeError
from backends.model import AppRow, RouteRow
from backends.ops.gate import WriteGate, policy_for
from backends.ops.journal import Journal, JournalError, default_journal_path
from backends.ops.plan import ExecResult, Plan, PlanError, execute
from backends.sanitize import clean
from tui.host import Host, start_worker
from tui.pickers import WeightsScreen
from tui.plan_screen import Decision, PlanScreen

if TYPE_CHECKING:
    from backends.config import Settings
    from backends.kube.connection import KubeConnection
    from backends.ops.breaker import BreakerEvent, BreakerState
    from backends.store import Store
    from tui.session import Session, Target

__all__ = ["ACTIONS_GROUP", "ACTION_BINDINGS", "ActionController", "Armed", "PlanBuilder",
           "split_key"]

ACTION_BINDINGS = [
    Binding("p", "pause_sync", "Pause/restore sync", id="pause_sync",
            tooltip="Argo CD app: pause auto-sync (or restore exactly what was there)"),
    Binding("s", "scale_down", "Scale to 0", id="scale_down",
            tooltip="Deployment: scale to 0 through the scale subresource"),
    Binding("S", "scale_restore", "Restore scale", id="scale_restore", show=False,
            tooltip="Deployment: restore the replicas recorded before the last scale"),
    Binding("r", "rollback", "Rollback", id="rollback",
            tooltip="Argo CD app: pick a history entry to roll back to; Deployment: pick "
            "a revision to undo to (the previous one is preselected)"),
    Binding("w", "shift_traffic", "Weights", id="shift_traffic",
            tooltip="HTTPRoute: set backend weights (verified by the route's status)"),
    Binding("P", "pause_scope", "Pause all shown", id="pause_scope", show=False,
            tooltip="Pause auto-sync of every app the Argo CD panel shows (its filter "
            "applies)"),
    Binding("H", "helm_rollback", "Helm rollback", id="helm_rollback", show=False,
            tooltip="Deployment installed with the Helm CLI: pick a release revision to "
            "roll back to (helm on PATH)"),
    Binding("ctrl+b", "breaker", "Breaker", id="breaker",
            tooltip="Circuit breaker: pause sync, shift traffic, scale down, verified"),
    Binding("ctrl+r", "release", "Release", id="release", show=False,
            tooltip="Release the circuit breaker: restore everything from the journal"),
    Binding("j", "journal", "Journal", id="journal",
            tooltip="Every write the control room made, with prior state and result"),
]

PlanBuilder = Callable[[], Awaitable[Plan]]
"""Builds a plan when called (GETs the live objects): what the plan flow is handed."""

ACTIONS_GROUP = "actions"
"""The worker group of the action keys: exclusive, a new key cancels the previous flow."""


def split_key(key: str) -> tuple[str, str]:
    """``namespace/name`` row keys into their parts (cluster-scoped: namespace "")."""
    ns, _, name = key.rpartition("/")
    return ns, name


class Armed(NamedTuple):
    """The connection and the gate an action writes through (both exist once armed)."""

    conn: KubeConnection
    gate: WriteGate


class ActionController:
    """The session's write side and the cluster action keys.

    Owns the journal, the one :class:`~backends.ops.gate.WriteGate` of the session (None until
    the sources are up: the keys are dimmed until then, see ``tui/enabled.py``), the
    connection it writes through and the breaker state the header shows.
    """

    def __init__(self, host: Host, store: Store, settings: Settings, target: Target, *,
                 journal_path: Path | None, clock: Callable[[], float]) -> None:
        self._host = host
        self._store = store
        self._settings = settings
        self._target = target
        self._journal_path = journal_path
        self._clock = clock
        self.conn: KubeConnection | None = None
        """What actions write through (the session's connection), once armed."""
        self.gate: WriteGate | None = None
        """The session's write gate; None until :meth:`open` found a connection."""
        self.journal: Journal | None = None
        self.breaker_state: BreakerState | None = None
        """The breaker on this context as the journal tells it (the header shows it)."""
        self._drift_seen: set[str] = set()
        self._breaker_watch: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ session

    async def open(self, session: Session) -> None:
        """Open the journal and build the one write gate for this session."""
        if session.conn is None:
            return
        self.conn = session.conn
        try:
            self.journal = await Journal.open(self._journal_path or default_journal_path())
        except JournalError as exc:
            self.journal = None
            self._host.notify(f"journal unavailable, every write will be refused: {exc}",
                              severity="error", markup=False, timeout=15)
        policy = policy_for(self._settings, self._target.context, self._target.read_only)
        self.gate = WriteGate(policy, session.conn, self.journal)
        self._host.refresh_bindings()  # the action keys are live now
        await self.refresh_breaker()
        if self.journal is not None and self._breaker_watch is None:
            # A plain task, not an App worker: it never ends, and tests (and the App) wait
            # for the workers to complete.
            self._breaker_watch = asyncio.get_running_loop().create_task(
                self._watch_breaker(), name="breaker watch")

    async def close(self) -> None:
        if self._breaker_watch is not None:
            watch, self._breaker_watch = self._breaker_watch, None
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
        if self.journal is not None:
            journal, self.journal = self.journal, None
            await journal.close()

    def armed(self) -> Armed | None:
        """The connection and gate, or None (said to the operator). The keys that need
        them are dimmed until both exist, so this answers None only to a caller that went
        around ``check_action``."""
        if self.conn is None or self.gate is None:
            self._host.notify("not connected yet", severity="warning")
            return None
        return Armed(self.conn, self.gate)

    @property
    def context(self) -> str:
        return self._target.context

    def now(self) -> float:
        """The App's clock (tests freeze it), for ages on the pickers."""
        return self._clock()

    # ------------------------------------------------------------------ the one path

    def selected(self, *kinds: str) -> tuple[str, str] | None:
        """(kind, key) of the focused panel's selected row, if it is one of ``kinds``."""
        panel = self._host.focused_panel()
        if panel is None:
            return None
        kind, key = panel.selected_kind, panel.selected_key
        if key is None or kind not in kinds:
            return None
        return kind, key

    def run_plan(self, title: str, build: PlanBuilder, *, emergency: bool = False) -> None:
        """Plan, show, confirm, execute and report in an exclusive action worker."""
        start_worker(self._host, partial(self._plan_and_execute, title, build, emergency),
                     name="_plan_and_execute", group=ACTIONS_GROUP, exclusive=True)

    async def _plan_and_execute(self, title: str, build: PlanBuilder, emergency: bool) -> None:
        await self.plan_flow(title, build, emergency=emergency)

    async def plan_flow(self, title: str, build: PlanBuilder, *, emergency: bool = False,
                        gate: WriteGate | None = None) -> tuple[Plan, ExecResult] | None:
        """Plan, show, confirm, execute and report, in the calling worker. ``gate``: another
        transport's gate (Argo CD REST, Helm) with this session's policy and journal.
        Taking an offer on the plan screen runs this for the offer instead (on the
        session's gate). Returns the plan and its result when something was executed."""
        host = self._host
        gate = gate or self.gate
        if gate is None:
            host.notify("not connected yet", severity="warning")
            return None
        try:
            plan = await build()
        except PlanError as exc:
            host.notify(f"{title}: {exc}", severity="error", markup=False, timeout=10)
            return None
        except KubeError as exc:
            host.notify(f"{title}: {clean(exc, 300)}", severity="error", markup=False,
                        timeout=10)
            return None
        screen = PlanScreen(plan, gate, context=self._target.context,
                            protected=gate.policy.protected, read_only=gate.policy.read_only,
                            emergency=emergency)
        decision: Decision | None = await host.push_screen_wait(screen)
        if decision is not None and decision.offer is not None:
            offer = decision.offer
            return await self.plan_flow(offer.title, offer.build)
        if decision is None or not plan.writes:
            return None

        def progress(index: int, text: str) -> None:
            host.notify(f"{index + 1}/{len(plan.writes)} {text}", markup=False, timeout=4)

        result = await execute(gate, plan, reason=decision.reason, confirm=decision.confirm,
                               on_progress=progress)
        host.notify(result.summary(), title=title,
                    severity="information" if result.ok else "error", markup=False, timeout=12)
        await self.refresh_breaker()
        return plan, result

    # ------------------------------------------------------------------ planners
    # One planner call each: the seam where the keys move to the shared use cases.

    async def plan_pause(self, armed: Armed, ns: str, name: str) -> Plan:
        from backends.ops import argocd

        return await argocd.plan_pause(armed.conn, armed.gate, ns, name)

    async def plan_restore_sync(self, armed: Armed, ns: str, name: str) -> Plan:
        """The exact prior block: from the pause annotation the pause wrote on the app."""
        from backends.ops import argocd

        return await argocd.plan_restore(armed.conn, armed.gate, (ns, name))

    async def plan_pause_scope(self, armed: Armed, refs: Sequence[tuple[str, str]]) -> Plan:
        from backends.ops import argocd

        return await argocd.plan_pause_scope(armed.conn, armed.gate, refs)

    async def plan_scale_down(self, armed: Armed, ns: str, name: str) -> Plan:
        from backends.ops import workloads

        return await workloads.plan_scale(armed.conn, armed.gate, ns, name, 0)

    async def plan_scale_restore(self, armed: Armed, ns: str, name: str) -> Plan:
        from backends.ops import workloads

        recorded = await self.recorded_replicas(ns, name)
        if recorded is None:
            raise PlanError(f"no scale of {ns}/{name} in the journal to restore")
        return await workloads.plan_scale_restore(armed.conn, armed.gate, ns, name, recorded)

    async def plan_shift(self, armed: Armed, ns: str, name: str,
                         weights: dict[str, int]) -> Plan:
        from backends.ops import traffic

        return await traffic.plan_shift(armed.conn, armed.gate, ns, name, weights)

    async def recorded_replicas(self, ns: str, name: str) -> int | None:
        """The replicas recorded before the newest scale-down of this deployment."""
        if self.journal is None:
            return None
        entries = await self.journal.entries(context=self._target.context)
        for e in sorted(entries, key=lambda e: e.id, reverse=True):
            if (e.kind, e.namespace, e.name, e.step) == ("Deployment", ns, name,
                                                         "scale-down") and \
                    isinstance(e.prior, dict) and isinstance(e.prior.get("replicas"), int):
                return int(e.prior["replicas"])
        return None

    # ------------------------------------------------------------------ keys

    def pause_sync(self) -> None:
        sel = self.selected("applications")
        if sel is None:
            self._host.notify("select an Argo CD app first", severity="warning")
            return
        ns, name = split_key(sel[1])
        row = self._store.get("applications", sel[1])
        pausing = not isinstance(row, AppRow) or row.auto_sync == "on"
        armed = self.armed()
        if armed is None:
            return
        if pausing:
            self.run_plan(f"pause auto-sync of {name}", partial(self.plan_pause, armed, ns, name))
        else:
            self.run_plan(f"restore auto-sync of {name}",
                          partial(self.plan_restore_sync, armed, ns, name))

    def scale_down(self) -> None:
        sel = self.selected("deployments")
        if sel is None:
            self._host.notify("select a deployment first", severity="warning")
            return
        ns, name = split_key(sel[1])
        armed = self.armed()
        if armed is not None:
            self.run_plan(f"scale {ns}/{name} to 0",
                          partial(self.plan_scale_down, armed, ns, name))

    def scale_restore(self) -> None:
        sel = self.selected("deployments")
        if sel is None:
            self._host.notify("select a deployment first", severity="warning")
            return
        ns, name = split_key(sel[1])
        armed = self.armed()
        if armed is not None:
            self.run_plan(f"restore the scale of {ns}/{name}",
                          partial(self.plan_scale_restore, armed, ns, name))

    def shift_traffic(self) -> None:
        sel = self.selected("httproutes")
        if sel is None:
            self._host.notify("select an HTTPRoute in the Traffic panel first",
                              severity="warning")
            return
        ns, name = split_key(sel[1])
        start_worker(self._host, partial(self._shift_traffic, ns, name),
                     name="_shift_traffic", group=ACTIONS_GROUP, exclusive=True)

    async def _shift_traffic(self, ns: str, name: str) -> None:
        """Ask for the weights (prefilled from the store's row), then plan the shift."""
        from backends.ops import traffic

        armed = self.armed()
        if armed is None:
            return
        row = self._store.get("httproutes", f"{ns}/{name}")
        current: dict[str, int] = {}
        for rule in row.rules if isinstance(row, RouteRow) else ():
            for ref in rule.backends:
                current.setdefault(ref.name, ref.weight)
        if not current:
            self._host.notify(f"HTTPRoute {ns}/{name} has no backends to weigh",
                              severity="warning", markup=False)
            return
        weights = await self._host.push_screen_wait(WeightsScreen(
            f"Backend weights of HTTPRoute {ns}/{name}", list(current.items()),
            maximum=traffic.MAX_WEIGHT))
        if not weights:
            return
        await self.plan_flow(f"shift traffic of {ns}/{name}",
                             partial(self.plan_shift, armed, ns, name, weights))

    def pause_scope(self) -> None:
        """Pause every app the Argo CD panel shows (what its filter leaves), in one plan."""
        panel = self._host.panel_for("applications")
        keys = list(panel.visible_keys()) if panel is not None else []
        if not keys:
            self._host.notify("the Argo CD panel shows no app to pause", severity="warning")
            return
        refs = [split_key(k) for k in keys]
        armed = self.armed()
        if armed is not None:
            self.run_plan(f"pause auto-sync of {len(refs)} app(s) shown",
                          partial(self.plan_pause_scope, armed, refs))

    def journal_screen(self) -> None:
        from tui.journal_screen import JournalScreen

        self._host.push_screen(JournalScreen(self.journal, self._target.context))

    # ------------------------------------------------------------------ breaker

    def breaker(self, *, engaging: bool) -> None:
        """Engage (``ctrl+b``) or release (``ctrl+r``) the circuit breaker."""
        start_worker(self._host, partial(self._breaker, engaging), name="_breaker",
                     group=ACTIONS_GROUP, exclusive=True)

    async def _breaker(self, engaging: bool) -> None:
        """Engage or release: the phases are previewed as one plan, then run by the breaker
        itself (phases in order, annotations, one operation id), as an emergency (no cancel
        window; production still needs the typed context name)."""
        from backends.ops import breaker

        host = self._host
        gate, journal, conn = self.gate, self.journal, self.conn
        if gate is None or journal is None or conn is None:
            host.notify("the breaker needs a connection and a journal", severity="error")
            return
        context = self._target.context
        try:
            if engaging:
                bplan = await breaker.plan_engage(conn, gate, self._store,
                                                  self._settings.breaker)
                preview_plan = bplan.as_plan()
            else:
                rplan = await breaker.plan_release(conn, gate, journal, context)
                preview_plan = rplan.as_plan()
        except PlanError as exc:
            host.notify(f"breaker: {exc}", severity="error", markup=False, timeout=10)
            return
        # engaging: the targets are listed on the plan screen to include or exclude
        screen = PlanScreen(preview_plan, gate, context=context,
                            protected=gate.policy.protected, read_only=gate.policy.read_only,
                            emergency=True, breaker=bplan if engaging else None)
        decision: Decision | None = await host.push_screen_wait(screen)
        if decision is None or decision.offer is not None:
            return

        def progress(event: BreakerEvent) -> None:
            host.notify(event.text, markup=False, timeout=4)

        if engaging:
            result = await breaker.engage(gate, bplan, reason=decision.reason,
                                          confirm=decision.confirm, on_progress=progress)
        else:
            result = await breaker.release(gate, journal, conn, context,
                                           reason=decision.reason, confirm=decision.confirm,
                                           on_progress=progress)
        host.notify(result.summary(), title="circuit breaker", markup=False, timeout=15,
                    severity="information" if result.ok else "error")
        await self.refresh_breaker()

    async def refresh_breaker(self) -> None:
        """Read the breaker state from the journal for the header (who, since when)."""
        from backends.ops import breaker

        if self.journal is None:
            return
        try:
            self.breaker_state = await breaker.breaker_status(self.journal,
                                                              self._target.context)
        except JournalError as exc:
            self._host.notify(f"journal: {exc}", severity="error", markup=False)

    BREAKER_POLL_S = 0.5
    """How often the journal file is looked at for writes by others (two ``stat`` calls)."""

    async def _watch_breaker(self) -> None:
        """Show a breaker engaged or released on this context by anyone sharing the journal
        (the CLI, another App, a pipeline) within about a second, not at our next ``ctrl+r``
        (issue 13). Cheap: the journal (SQLite in WAL mode) is re-read only when its files
        changed; the header shows :attr:`breaker_state` at its once-a-second refresh."""
        seen = self._journal_signature()
        while self.journal is not None:
            await asyncio.sleep(self.BREAKER_POLL_S)
            now = self._journal_signature()
            if now != seen:
                seen = now
                try:
                    await self.refresh_breaker()
                except Exception as exc:  # noqa: BLE001 - the watch must outlive a bad read
                    self._host.notify(f"breaker watch: {clean(exc, 300)}", severity="error",
                                      markup=False)

    def _journal_signature(self) -> tuple[tuple[int, int], ...]:
        """(mtime, size) of the journal and its write-ahead log: a commit by any process
        changes one of them."""
        if self.journal is None:
            return ()
        out = []
        for path in (self.journal.path, self.journal.path.with_name(
                self.journal.path.name + "-wal")):
            try:
                st = os.stat(path)
            except OSError:
                out.append((0, 0))
            else:
                out.append((st.st_mtime_ns, st.st_size))
        return tuple(out)

    def check_drift(self) -> None:
        """The drift watchdog: tell the operator when something reverts an emergency change
        (selfHeal, an ApplicationSet, an HPA) while the breaker is engaged."""
        from backends.ops import breaker

        state = self.breaker_state
        if state is None or not state.engaged:
            return
        drifts = {d.describe() for d in breaker.detect_drift(self._store, state)}
        for text in sorted(drifts - self._drift_seen):
            self._host.notify(f"DRIFT: {text}", severity="error", markup=False, timeout=20)
        self._drift_seen = drifts
