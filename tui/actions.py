"""The action keys of the control room: plan, show, confirm, execute, report.

Every action follows one path (ARCHITECTURE.md, "How actions flow"): a planner in
``backends/ops`` GETs the live objects and returns a :class:`~backends.ops.plan.Plan`; the plan
screen shows every write with the server's dry-run answer; on confirmation the plan is executed
through the write gate in a worker (the UI never blocks) and each step's result is reported
as it happens. Nothing here sends a request itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding

from backends.kube.errors import KubeError
from backends.ops.gate import WriteGate, policy_for
from backends.ops.journal import Journal, JournalError, default_journal_path
from backends.ops.plan import ExecResult, Plan, PlanError, execute
from backends.sanitize import clean
from tui.pickers import ExplainScreen, PickerScreen, PickRow, WeightsScreen
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
        await self.plan_flow(title, build, emergency=emergency)

    async def plan_flow(self, title: str, build: Callable[[], Awaitable[Plan]], *,
                        emergency: bool = False, gate: WriteGate | None = None
                        ) -> tuple[Plan, ExecResult] | None:
        """Plan, show, confirm, execute and report, in the calling worker. ``gate``: another
        transport's gate (Argo CD REST, Helm) with this session's policy and journal.
        Taking an offer on the plan screen runs this for the offer instead (on the
        session's gate). Returns the plan and its result when something was executed."""
        app = self._app()
        gate = gate or self.gate
        if gate is None:
            app.notify("not connected yet", severity="warning")
            return None
        try:
            plan = await build()
        except PlanError as exc:
            app.notify(f"{title}: {exc}", severity="error", markup=False, timeout=10)
            return None
        except KubeError as exc:
            app.notify(f"{title}: {clean(exc, 300)}", severity="error", markup=False,
                       timeout=10)
            return None
        screen = PlanScreen(plan, gate, context=self.target.context,
                            protected=gate.policy.protected, read_only=gate.policy.read_only,
                            emergency=emergency)
        decision: Decision | None = await app.push_screen_wait(screen)
        if decision is not None and decision.offer is not None:
            offer = decision.offer
            return await self.plan_flow(offer.title, offer.build)
        if decision is None or not plan.writes:
            return None

        def progress(index: int, text: str) -> None:
            app.notify(f"{index + 1}/{len(plan.writes)} {text}", markup=False, timeout=4)

        result = await execute(gate, plan, reason=decision.reason, confirm=decision.confirm,
                               on_progress=progress)
        app.notify(result.summary(), title=title,
                   severity="information" if result.ok else "error", markup=False, timeout=12)
        await self.refresh_breaker()
        return plan, result

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
        sel = self.selected("applications", "deployments")
        if sel is None:
            self._app().notify("select an Argo CD app or a deployment first",
                               severity="warning")
            return
        kind, key = sel
        ns, name = split_key(key)
        if kind == "applications":
            self._rollback_app(ns, name)
        else:
            self._rollback_deployment(ns, name)

    def _now(self) -> float:
        clock = getattr(self, "_clock", None)
        return clock() if callable(clock) else time.time()

    @work(group="actions", exclusive=True, exit_on_error=False)
    async def _rollback_deployment(self, ns: str, name: str) -> None:
        """Pick a revision of ``rollout_history`` (the previous one preselected), then plan
        ``rollout undo --to-revision``. Read-only: no picker (nothing can be sent), the plan
        for the previous revision is shown for reading."""
        from backends.kube.decode import parse_time
        from backends.ops import workloads
        from widgets.formatting import age

        app = self._app()
        conn, gate = self.session.conn, self.gate
        assert gate is not None
        try:
            revisions = await workloads.rollout_history(conn, ns, name)
        except PlanError as exc:
            app.notify(f"rollout history of {ns}/{name}: {exc}", severity="error",
                       markup=False, timeout=10)
            return
        except KubeError as exc:
            app.notify(f"rollout history of {ns}/{name}: {clean(exc, 300)}",
                       severity="error", markup=False, timeout=10)
            return
        if not revisions:
            app.notify(f"no rollout history found for {ns}/{name}", severity="warning",
                       markup=False)
            return
        now, current = self._now(), revisions[-1].number

        def when(created: str) -> str:
            try:
                return age(parse_time(created), now) if created else "?"
            except ValueError:
                return "?"

        rows = [PickRow(str(r.number), (str(r.number) + (" (current)" if r.number == current
                                                         else ""),
                                        r.rs_name, ", ".join(r.images), when(r.created),
                                        r.change_cause))
                for r in reversed(revisions)]
        default = str(revisions[-2].number if len(revisions) > 1 else current)
        chosen = default if gate.policy.read_only else await app.push_screen_wait(PickerScreen(
            f"Roll back Deployment {ns}/{name} to revision",
            ("REVISION", "REPLICASET", "IMAGES", "AGE", "CHANGE-CAUSE"), rows,
            default=default))
        if chosen is None:
            return
        to = int(chosen)
        await self.plan_flow(f"rollout undo {ns}/{name} to revision {to}",
                             lambda: workloads.plan_rollout_undo(conn, gate, ns, name, to))

    @work(group="actions", exclusive=True, exit_on_error=False)
    async def _rollback_app(self, ns: str, name: str) -> None:
        """Pick a ``status.history`` entry (the previous one preselected), plan the
        rollback (Kubernetes API, or the Argo CD REST API when ``[argocd] server`` is set),
        then follow the operation until it ends. Read-only: no picker, as for Deployments."""
        from backends.ops import argocd
        from widgets.formatting import age, short_revision

        app = self._app()
        conn, gate = self.session.conn, self.gate
        assert gate is not None
        row = self._app_row(f"{ns}/{name}")
        history = list(getattr(row, "history", ()) or ())
        if not history:
            app.notify(f"Argo CD app {ns}/{name} has no deployment history to roll back to",
                       severity="warning", markup=False)
            return
        now, current = self._now(), history[-1].id
        rows = [PickRow(str(h.id), (str(h.id) + (" (current)" if h.id == current else ""),
                                    short_revision(h.revision), age(h.deployed_at, now)))
                for h in reversed(history)]
        default = str(history[-2].id if len(history) > 1 else current)
        chosen = default if gate.policy.read_only else await app.push_screen_wait(PickerScreen(
            f"Roll back Argo CD app {ns}/{name} to history entry",
            ("ID", "REVISION", "DEPLOYED"), rows, default=default))
        if chosen is None:
            return
        to_id = int(chosen)
        title = f"roll back {ns}/{name} to history {to_id}"
        rest = getattr(self.settings, "argocd", None)
        if rest is not None and rest.server:
            await self._rollback_app_rest(ns, name, to_id, title)
            return
        done = await self.plan_flow(
            title, lambda: argocd.plan_rollback(conn, gate, (ns, name), to_id))
        if done is not None and done[1].ok:
            intent = done[0].writes[0].intent if done[0].writes else {}
            self._follow_operation(ns, name, intent.get("operation"))

    async def _rollback_app_rest(self, ns: str, name: str, to_id: int, title: str) -> None:
        """The rollback through ``POST /api/v1/applications/{name}/rollback``, behind a
        gate with this session's policy and journal (no server dry-run, no access
        reviews: Argo CD's RBAC decides)."""
        from backends.ops.argocd_rest import ArgoRestClient, plan_rollback_rest

        app = self._app()
        cfg = self.settings.argocd
        assert self.gate is not None
        try:
            client = ArgoRestClient(cfg.server, os.environ.get(cfg.token_env) or None,
                                    verify_tls=not cfg.insecure)
        except ValueError as exc:
            app.notify(f"{title}: {exc} (token from ${cfg.token_env})", severity="error",
                       markup=False, timeout=10)
            return
        try:
            rest_gate = WriteGate(self.gate.policy, client, self.journal, dry_run=False,
                                  access_reviews=False)
            done = await self.plan_flow(
                f"{title} via the Argo CD API",
                lambda: plan_rollback_rest(client, rest_gate, (ns, name), to_id),
                gate=rest_gate)
        finally:
            await client.close()
        if done is not None and done[1].ok:
            self._follow_operation(ns, name, None)

    @work(group="follow", exit_on_error=False)
    async def _follow_operation(self, ns: str, name: str, operation: Any) -> None:
        """Report each phase of the rollback operation until Succeeded/Failed/Error (its
        own worker group: another action key must not cancel the follow)."""
        from backends.ops import argocd

        app = self._app()
        conn = self.session.conn
        try:
            async for state in argocd.follow_operation(conn, (ns, name), operation=operation):
                final = state.phase in argocd.FINAL_PHASES
                app.notify(f"rollback of {ns}/{name}: {state.phase}"
                           + (f": {state.message}" if state.message else ""),
                           markup=False, timeout=12 if final else 4,
                           severity="error" if state.phase in ("Failed", "Error")
                           else "information")
        except TimeoutError as exc:
            app.notify(str(exc), severity="warning", markup=False, timeout=12)
        except (PlanError, KubeError) as exc:
            app.notify(f"following the rollback of {ns}/{name}: {clean(exc, 300)}",
                       severity="warning", markup=False, timeout=12)

    def action_shift_traffic(self) -> None:
        sel = self.selected("httproutes")
        if sel is None:
            self._app().notify("select an HTTPRoute in the Traffic panel first",
                               severity="warning")
            return
        self._shift_traffic(*split_key(sel[1]))

    @work(group="actions", exclusive=True, exit_on_error=False)
    async def _shift_traffic(self, ns: str, name: str) -> None:
        """Ask for the weights (prefilled from the store's row), then plan the shift."""
        from backends.ops import traffic

        app = self._app()
        conn, gate = self.session.conn, self.gate
        assert gate is not None
        row = self.store.get("httproutes", f"{ns}/{name}")
        current: dict[str, int] = {}
        for rule in getattr(row, "rules", ()) or ():
            for ref in rule.backends:
                current.setdefault(ref.name, ref.weight)
        if not current:
            app.notify(f"HTTPRoute {ns}/{name} has no backends to weigh", severity="warning",
                       markup=False)
            return
        weights = await app.push_screen_wait(WeightsScreen(
            f"Backend weights of HTTPRoute {ns}/{name}", list(current.items()),
            maximum=traffic.MAX_WEIGHT))
        if not weights:
            return
        await self.plan_flow(f"shift traffic of {ns}/{name}",
                             lambda: traffic.plan_shift(conn, gate, ns, name, weights))

    def action_pause_scope(self) -> None:
        """Pause every app the Argo CD panel shows (what its filter leaves), in one plan."""
        from backends.ops import argocd

        panel = next((p for p in getattr(self, "panels", [])
                      if "applications" in getattr(p, "KINDS", ())), None)
        keys = list(panel.visible_keys()) if panel is not None else []
        if not keys:
            self._app().notify("the Argo CD panel shows no app to pause", severity="warning")
            return
        refs = [split_key(k) for k in keys]
        conn, gate = self.session.conn, self.gate
        assert gate is not None
        self.run_plan(f"pause auto-sync of {len(refs)} app(s) shown",
                      lambda: argocd.plan_pause_scope(conn, gate, refs))

    def action_helm_rollback(self) -> None:
        sel = self.selected("deployments")
        if sel is None:
            self._app().notify("select a deployment first", severity="warning")
            return
        self._helm_rollback(*split_key(sel[1]))

    def _helm_runner(self) -> Any:
        from backends.ops.helm import HelmRunner

        conn = self.session.conn
        paths = getattr(conn, "kubeconfig_paths", None) or []
        return HelmRunner(kube_context=getattr(conn, "context", None) or None,
                          kubeconfig=os.pathsep.join(str(p) for p in paths) or None)

    @work(group="actions", exclusive=True, exit_on_error=False)
    async def _helm_rollback(self, ns: str, name: str) -> None:
        """Helm releases of the deployment's namespace: an Argo CD-rendered app is
        explained (roll it back through Argo CD); otherwise pick the release and the
        revision, then plan ``helm rollback`` behind a gate on the Helm sender."""
        from backends.ops import helm

        app = self._app()
        assert self.gate is not None
        managing = self._managing_app(ns, name)
        if managing is not None:
            app.push_screen(ExplainScreen("No Helm rollback here",
                                          helm.explain_argo_rendered(managing)))
            return
        if not helm.helm_available():
            app.notify("helm is not on PATH: Helm rollback is not available",
                       severity="warning")
            return
        runner = self._helm_runner()
        try:
            releases = await helm.releases_for(ns, runner=runner)
        except helm.HelmError as exc:
            app.notify(f"helm list -n {ns}: {exc}", severity="error", markup=False,
                       timeout=10)
            return
        if not releases:
            app.notify(f"no Helm release in namespace {ns}: nothing to roll back with helm",
                       severity="warning", markup=False)
            return
        release = releases[0].name
        if len(releases) > 1:
            picked = await app.push_screen_wait(PickerScreen(
                f"Helm release in {ns} (for Deployment {name})",
                ("RELEASE", "REVISION", "STATUS", "CHART", "APP VERSION"),
                [PickRow(str(i), (r.name, str(r.revision), r.status, r.chart, r.app_version))
                 for i, r in enumerate(releases)],
                default=next((str(i) for i, r in enumerate(releases) if r.name == name),
                             None)))
            if picked is None:
                return
            release = releases[int(picked)].name
        try:
            revisions = await helm.history(release, ns, runner=runner)
        except helm.HelmError as exc:
            app.notify(f"helm history {release}: {exc}", severity="error", markup=False,
                       timeout=10)
            return
        if not revisions:
            app.notify(f"Helm release {release} has no history", severity="warning",
                       markup=False)
            return
        current = revisions[-1].revision
        chosen = await app.push_screen_wait(PickerScreen(
            f"Helm rollback of {ns}/{release} to revision",
            ("REVISION", "STATUS", "CHART", "APP VERSION", "UPDATED", "DESCRIPTION"),
            [PickRow(str(r.revision), (str(r.revision) + (" (current)" if r.revision == current
                                                          else ""), r.status, r.chart,
                                       r.app_version, r.updated, r.description))
             for r in reversed(revisions)],
            default=str(revisions[-2].revision if len(revisions) > 1 else current)))
        if chosen is None:
            return
        to = int(chosen)
        helm_gate = WriteGate(self.gate.policy, helm.HelmSender(runner), self.journal,
                              dry_run=False, access_reviews=False)
        await self.plan_flow(f"helm rollback {ns}/{release} to revision {to}",
                             lambda: helm.plan_helm_rollback(release, ns, to, runner=runner),
                             gate=helm_gate)

    def _managing_app(self, ns: str, name: str) -> Any:
        """The Argo CD app (store row) that renders this Deployment, as far as the store
        knows: an app deploying into its namespace and running its images."""
        deploy = self.store.get("deployments", f"{ns}/{name}")
        images = set(getattr(deploy, "images", ()) or ())
        for row in self.store.rows("applications").values():
            if getattr(row, "destination_namespace", "") == ns and images & set(
                    getattr(row, "images", ()) or ()):
                return row
        return None

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
        # engaging: the targets are listed on the plan screen to include or exclude
        screen = PlanScreen(preview_plan, gate, context=context,
                            protected=gate.policy.protected, read_only=gate.policy.read_only,
                            emergency=True, breaker=bplan if engaging else None)
        decision: Decision | None = await app.push_screen_wait(screen)
        if decision is None or decision.offer is not None:
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

