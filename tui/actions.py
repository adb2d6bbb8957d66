"""The action keys of the control room: plan, show, confirm, execute, report.

Every action follows one path (ARCHITECTURE.md, "How actions flow"), the one the pipeline CLI
follows too: a use case of :mod:`backends.usecases` GETs the live objects and returns an
:class:`~backends.usecases.workspace.Action` (the plan and the gate that previews and sends
it); the plan screen shows every write with the server's dry-run answer; on confirmation
:func:`backends.usecases.run.run` executes it in a worker (the UI never blocks), with a cancel
token per step, and each step's result is reported as it happens. Nothing here plans or
sends a request itself: the keys only gather input (which row, which weights) and render.

:class:`ActionController` owns the session's write side (the journal, the one write gate, the
:class:`~backends.usecases.workspace.Workspace` built from them, the breaker state read from
the journal) and the plan flow that every other action collaborator (``tui/rollbacks.py``,
``tui/alert_actions.py``) goes through.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ScreenStackError
from textual.binding import Binding

from backends.kube.errors import KubeError
from backends.model import AppRow
from backends.ops.gate import WriteGate, policy_for
from backends.ops.journal import Journal, JournalError, default_journal_path
from backends.ops.plan import ExecResult, PlanError
from backends.sanitize import clean
from tui.breaker_watch import BreakerWatch
from tui.host import Host, start_worker

if TYPE_CHECKING:
    from backends.config import Settings
    from backends.kube.connection import KubeConnection
    from backends.ops.breaker import BreakerEvent, BreakerState
    from backends.ops.plan import Offer
    from backends.store import Store
    from backends.usecases.run import StepCancel
    from backends.usecases.workspace import Action, Workspace
    from tui.plan_screen import Decision
    from tui.session import Session, Target

__all__ = ["ACTIONS_GROUP", "ACTION_BINDINGS", "ActionBuilder", "ActionController",
           "split_key"]
ACTION_BINDINGS = [
    Binding("p", "pause_sync", "Pause/restore sync", id="pause_sync",
            tooltip="Argo CD app: pause auto-sync (or restore exactly what was there)"),
    Binding("s", "scale_down", "Scale to 0", id="scale_down",
            tooltip="Deployment: scale to 0 through the scale subresource"),
    Binding("S", "scale_restore", "Restore scale", id="scale_restore", show=False,
            tooltip="Deployment: restore the replicas recorded before the last scale"),
    Binding("u", "rollout_pause", "Pause/resume rollout", id="rollout_pause", show=False,
            tooltip="Deployment: pause its rollout (spec.paused, the old ReplicaSet keeps "
            "serving), or resume it (the value recorded before the pause)"),
    Binding("r", "rollback", "Rollback", id="rollback",
            tooltip="Argo CD app: pick a history entry to roll back to; Deployment: pick "
            "a revision to undo to (the last known good is preselected, the incident's "
            "revision marked)"),
    Binding("w", "shift_traffic", "Weights", id="shift_traffic",
            tooltip="HTTPRoute: set backend weights, remove a backend reference, or restore "
            "(verified by the route's status)"),
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

ActionBuilder = Callable[[], Awaitable["Action"]]
"""Plans an action when called (a use case of :mod:`backends.usecases`, bound to its
arguments: it GETs the live objects): what the plan flow is handed."""

ACTIONS_GROUP = "actions"
"""The worker group of the action keys: exclusive, a new key cancels the previous flow."""


def split_key(key: str) -> tuple[str, str]:
    """``namespace/name`` row keys into their parts (cluster-scoped: namespace "")."""
    ns, _, name = key.rpartition("/")
    return ns, name


class ActionController:
    """The session's write side and the cluster action keys.

    Owns the journal, the session's :class:`~backends.usecases.workspace.Workspace` (its one
    :class:`~backends.ops.gate.WriteGate`, the connection it writes through, the live store;
    None until the sources are up: the keys are dimmed until then, see ``tui/enabled.py``),
    the cancel tokens of the plan running now and the breaker state the header shows.
    """

    def __init__(self, host: Host, store: Store, settings: Settings, target: Target, *,
                 journal_path: Path | None, clock: Callable[[], float]) -> None:
        self._host = host
        self._store = store
        self._settings = settings
        self._target = target
        self._journal_path = journal_path
        self._clock = clock
        self.ws: Workspace | None = None
        """What every use case acts with, once :meth:`open` found a connection."""
        self.journal: Journal | None = None
        self.step_cancel: StepCancel | None = None
        """The per-step cancel tokens of the plan being executed now (None when none is):
        its ``stop()`` calls off the write whose cancel window is open, and every later
        step. Held here so a key can reach it while the worker runs the plan."""
        self.reason = ""
        """The reason of the session's incident: the last one confirmed on a plan, prefilled
        in every later plan (one incident, one change id: retyping it invites typos)."""
        self.breakers = BreakerWatch(host, store, lambda: self.ws, lambda: self.journal)

    # ------------------------------------------------------------------ session

    async def open(self, session: Session) -> None:
        """Open the journal and build the session's workspace (the one write gate, the
        live store, the Alertmanager client): what every use case acts with."""
        if session.conn is None:
            return
        from backends.usecases.workspace import Workspace  # see _show_and_run

        try:
            self.journal = await Journal.open(self._journal_path or default_journal_path())
        except JournalError as exc:
            self.journal = None
            self._host.notify(f"journal unavailable, every write will be refused: {exc}",
                              severity="error", markup=False, timeout=15)
        policy = policy_for(self._settings, self._target.context, self._target.read_only)
        self.ws = Workspace(session.conn, WriteGate(policy, session.conn, self.journal),
                            self.journal, self._settings, store=self._store,
                            alertmanager=session.alertmanager)
        with contextlib.suppress(ScreenStackError):  # the App closed while we opened
            self._host.refresh_bindings()  # the action keys are live now
        await self.breakers.refresh()
        self.breakers.start()

    async def close(self) -> None:
        await self.breakers.stop()
        if self.journal is not None:
            journal, self.journal = self.journal, None
            await journal.close()

    @property
    def gate(self) -> WriteGate | None:
        """The session's write gate; None until :meth:`open` found a connection."""
        return self.ws.gate if self.ws is not None else None

    @property
    def conn(self) -> KubeConnection | None:
        """What actions write through (the session's connection), once armed."""
        return self.ws.conn if self.ws is not None else None

    def workspace(self) -> Workspace | None:
        """The workspace, or None (said to the operator). The keys that need it are dimmed
        until it exists, so this answers None only to a caller that went around
        ``check_action``."""
        if self.ws is None:
            self._host.notify("not connected yet", severity="warning")
        return self.ws

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

    def run_plan(self, title: str, build: ActionBuilder) -> None:
        """Plan, show, confirm, execute and report in an exclusive action worker."""
        start_worker(self._host, partial(self._plan_and_execute, title, build),
                     name="_plan_and_execute", group=ACTIONS_GROUP, exclusive=True)

    async def _plan_and_execute(self, title: str, build: ActionBuilder) -> None:
        await self.plan_flow(title, build)

    async def plan_flow(self, title: str,
                        build: ActionBuilder) -> tuple[Action, ExecResult] | None:
        """Plan, show, confirm, execute and report, in the calling worker. The action
        brings its own gate (the session's, or one on the Argo CD REST / Helm /
        Alertmanager transport with the session's policy and journal) and is closed when
        done. Taking an offer on the plan screen runs this for the offer instead (on the
        session's gate). Returns the action and its result when something was executed."""
        host = self._host
        try:
            action = await build()
        except PlanError as exc:
            host.notify(f"{title}: {exc}", severity="error", markup=False, timeout=10)
            return None
        except KubeError as exc:
            host.notify(f"{title}: {clean(exc, 300)}", severity="error", markup=False,
                        timeout=10)
            return None
        try:
            return await self._show_and_run(title, action)
        finally:
            await action.close()

    async def _show_and_run(self, title: str,
                            action: Action) -> tuple[Action, ExecResult] | None:
        # Here, not at the top: the plan flow's modules are not needed for the first rows
        # (issue 16: spawn to first rows); they load with the first action.
        from backends.usecases.run import cancel_window, run
        from tui.countdown import CountedRun
        from tui.plan_screen import PlanScreen

        host, plan, gate = self._host, action.plan, action.gate
        screen = PlanScreen(plan, gate, context=self._target.context,
                            protected=gate.policy.protected, read_only=gate.policy.read_only,
                            emergency=action.emergency, default_reason=self.reason)
        decision: Decision | None = await host.push_screen_wait(screen)
        if decision is not None and decision.offer is not None:
            offer = decision.offer
            return await self.plan_flow(offer.title, partial(self._offered, offer))
        if decision is None or not plan.writes:
            return None
        self.reason = decision.reason
        window = cancel_window(action, decision.confirm)

        def progress(index: int, text: str) -> None:
            if window and text.startswith("sending: "):
                return  # the countdown shows it; "sending" before the window passed is untrue
            host.notify(f"{index + 1}/{len(plan.writes)} {text}", markup=False, timeout=4)

        counted = CountedRun(host, [w.title for w in plan.writes], self._target.context)
        self.step_cancel = counted.cancel
        try:
            result = await run(action, reason=decision.reason, confirm=decision.confirm,
                               cancel_token_for=counted.cancel, on_progress=progress)
        finally:
            await counted.close()
            self.step_cancel = None
        host.notify(result.summary(), title=title,
                    severity="information" if result.ok else "error", markup=False, timeout=12)
        await self.refresh_breaker()
        return action, result

    async def _offered(self, offer: Offer) -> Action:
        """An offer of a plan (pause the app whose selfHeal would revert this) is planned
        by the same use-case planner, on the session's gate it was planned with."""
        from backends.usecases.workspace import Action  # see _show_and_run

        ws = self.ws
        if ws is None:
            raise PlanError("not connected")
        return Action(await offer.build(), ws.gate)

    # ------------------------------------------------------------------ keys

    def pause_sync(self) -> None:
        """Pause auto-sync of the selected app, or restore what the last pause saved."""
        from backends.usecases import argocd

        sel = self.selected("applications")
        if sel is None:
            self._host.notify("select an Argo CD app first", severity="warning")
            return
        ns, name = split_key(sel[1])
        row = self._store.get("applications", sel[1])
        pausing = not isinstance(row, AppRow) or row.auto_sync == "on"
        ws = self.workspace()
        if ws is None:
            return
        if pausing:
            self.run_plan(f"pause auto-sync of {name}",
                          partial(argocd.plan_pause_sync, ws, ns, name))
        else:
            self.run_plan(f"restore auto-sync of {name}",
                          partial(argocd.plan_restore_sync, ws, ns, name))

    def scale_down(self) -> None:
        from backends.usecases import workloads

        sel = self.selected("deployments")
        if sel is None:
            self._host.notify("select a deployment first", severity="warning")
            return
        ns, name = split_key(sel[1])
        ws = self.workspace()
        if ws is not None:
            self.run_plan(f"scale {ns}/{name} to 0",
                          partial(workloads.plan_scale_down, ws, ns, name))

    def scale_restore(self) -> None:
        """Put back the replicas the journal recorded before the newest scale that may have
        applied (:func:`backends.usecases.workloads.recorded_replicas`, the CLI's rule)."""
        from backends.usecases import workloads

        sel = self.selected("deployments")
        if sel is None:
            self._host.notify("select a deployment first", severity="warning")
            return
        ns, name = split_key(sel[1])
        ws = self.workspace()
        if ws is not None:
            self.run_plan(f"restore the scale of {ns}/{name}",
                          partial(workloads.plan_scale_restore, ws, ns, name))

    def rollout_pause(self) -> None:
        """Pause or resume the selected Deployment's rollout (``tui/rollout_actions.py``)."""
        from tui.rollout_actions import rollout_plan

        sel = self.selected("deployments")
        if sel is None:
            self._host.notify("select a deployment first", severity="warning")
            return
        ws = self.workspace()
        if ws is not None:
            self.run_plan(*rollout_plan(self._store, ws, sel[1]))

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
        """Ask what to change (weights, remove a backend, restore: tui/route_backends.py),
        then plan it."""
        from tui.route_backends import choose_route_change

        ws = self.workspace()
        if ws is None:
            return
        chosen = await choose_route_change(self._host, ws, ns, name)
        if chosen is not None:
            await self.plan_flow(*chosen)

    def pause_scope(self) -> None:
        """Pause every app the Argo CD panel shows (what its filter leaves), in one plan."""
        from backends.usecases import argocd

        panel = self._host.panel_for("applications")
        keys = list(panel.visible_keys()) if panel is not None else []
        if not keys:
            self._host.notify("the Argo CD panel shows no app to pause", severity="warning")
            return
        refs: Sequence[tuple[str, str]] = [split_key(k) for k in keys]
        ws = self.workspace()
        if ws is not None:
            self.run_plan(f"pause auto-sync of {len(refs)} app(s) shown",
                          partial(argocd.plan_pause_scope, ws, refs))

    def journal_screen(self) -> None:
        from tui.journal_screen import JournalScreen

        self._host.push_screen(JournalScreen(self.journal, self._target.context))

    # ------------------------------------------------------------------ breaker

    def breaker(self, *, engaging: bool) -> None:
        """Engage (``ctrl+b``) or release (``ctrl+r``) the circuit breaker."""
        start_worker(self._host, partial(self._breaker, engaging), name="_breaker",
                     group=ACTIONS_GROUP, exclusive=True)

    async def _breaker(self, engaging: bool) -> None:
        """Engage or release (:mod:`backends.usecases.breaker`): the writes the breaker
        sends (annotations included) are previewed as one plan, then run by the breaker
        itself (phases in order, annotations, one operation id), as an emergency (no cancel
        window; production still needs the typed context name)."""
        from backends.usecases import breaker as usecase
        from tui.breaker_targets import engage_preview
        from tui.plan_screen import PlanScreen

        host, ws = self._host, self.ws
        if ws is None or ws.journal is None:
            host.notify("the breaker needs a connection and a journal", severity="error")
            return
        gate = ws.gate
        try:
            if engaging:
                engage = await usecase.plan_engage(ws)
                shown = engage_preview(engage)
            else:
                release = await usecase.plan_release(ws)
                shown = release.preview_plan()
        except (PlanError, KubeError) as exc:
            host.notify(f"breaker: {clean(exc, 300)}", severity="error", markup=False,
                        timeout=10)
            return
        while True:
            # engaging: the targets are listed on the plan screen to include or exclude
            screen = PlanScreen(shown, gate, context=ws.context,
                                protected=gate.policy.protected,
                                read_only=gate.policy.read_only, emergency=True,
                                default_reason=self.reason,
                                breaker=engage if engaging else None)
            decision: Decision | None = await host.push_screen_wait(screen)
            if decision is None or (decision.offer is not None and engaging):
                return
            self.reason = decision.reason
            if decision.offer is None:
                break
            # release's one offer: restore the held apps' auto-sync anyway, planned again
            try:
                release = await usecase.plan_release(ws, restore_bad=True)
            except (PlanError, KubeError) as exc:
                host.notify(f"breaker: {clean(exc, 300)}", severity="error", markup=False,
                            timeout=10)
                return
            shown = release.preview_plan()

        def progress(event: BreakerEvent) -> None:
            host.notify(event.text, markup=False, timeout=4)

        if engaging:
            result = await usecase.engage(ws, engage, reason=decision.reason,
                                          confirm=decision.confirm, on_progress=progress)
        else:
            result = await usecase.release(ws, release, reason=decision.reason,
                                           confirm=decision.confirm, on_progress=progress)
        host.notify(result.summary(), title="circuit breaker", markup=False, timeout=15,
                    severity="information" if result.ok else "error")
        await self.refresh_breaker()

    @property
    def breaker_state(self) -> BreakerState | None:
        """The breaker on this context as the journal and the cluster's marks tell it."""
        return self.breakers.state

    @property
    def breaker_doubt(self) -> str:
        """What the breaker state could not read, and since when ("" when it read all)."""
        return self.breakers.doubt()

    async def refresh_breaker(self) -> None:
        await self.breakers.refresh()

    async def engaged_breakers(self) -> tuple[list[str], str]:
        return await self.breakers.engaged()

    def check_drift(self) -> None:
        self.breakers.check_drift()
