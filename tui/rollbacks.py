"""The rollback keys: ``r`` (Argo CD history entry or Deployment revision) and ``H`` (Helm).

Each asks the operator to pick what to roll back to, then
hands the use case that plans it (:mod:`backends.usecases.workloads`, :mod:`~backends.usecases
.argocd`, :mod:`~backends.usecases.helm`, the CLI's own) to the session's plan flow
(:meth:`tui.actions.ActionController.plan_flow`). Argo CD rollbacks go through the Kubernetes
API, or the Argo CD REST API when ``[argocd] server`` is set; Helm rollbacks through the
``helm`` CLI. The use cases give those two transports their own write gate with the session's
policy and journal, so read-only mode, protected contexts and the journal hold for them
exactly as for a scale.

The ``r`` pickers know the bad revision (:mod:`backends.ops.revisions`): each row is marked
(current, the incident, the last known good), the last known good is preselected (never the
revision the incident came from: after an Argo CD rollback that is the Deployment's
"previous" revision), and highlighting a revision recorded as bad shows why, as a warning,
before it is picked; its plan warns again. Helm revisions carry no such knowledge (the
previous one is preselected).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from backends.kube.errors import KubeError
from backends.model import AppRow, DeploymentRow
from backends.ops.plan import PlanError
from backends.ops.revisions import Knowledge
from backends.sanitize import clean
from tui.actions import ACTIONS_GROUP, ActionController, split_key
from tui.host import Host, start_worker

if TYPE_CHECKING:
    from backends.config import Settings
    from backends.store import Store
    from backends.usecases.workspace import Action

__all__ = ["RollbackActions"]


def _note(known: Knowledge, key: str) -> str:
    """What the picker says under a highlighted row: a bad one's warning, else what is
    known, else that nothing is."""
    return known.warning(key) or (known.explain(key) if known.why(key) else
                                  f"{known.noun} {key}: nothing recorded about it")


class RollbackActions:
    """Argo CD, Deployment and Helm rollbacks, planned and run through ``actions``."""

    def __init__(self, host: Host, store: Store, settings: Settings,
                 actions: ActionController) -> None:
        self._host = host
        self._store = store
        self._settings = settings
        self._actions = actions

    # ------------------------------------------------------------------ r

    def rollback(self) -> None:
        sel = self._actions.selected("applications", "deployments")
        if sel is None:
            self._host.notify("select an Argo CD app or a deployment first",
                              severity="warning")
            return
        kind, key = sel
        ns, name = split_key(key)
        job = self._rollback_app if kind == "applications" else self._rollback_deployment
        start_worker(self._host, partial(job, ns, name), name=job.__name__,
                     group=ACTIONS_GROUP, exclusive=True)

    async def _rollback_deployment(self, ns: str, name: str) -> None:
        """Pick a revision (each marked: current, the incident, the last known good, from
        :func:`~backends.usecases.workloads.rollout_choices`; the last known good
        preselected, never a bad one), then plan ``rollout undo --to-revision``. Read-only:
        no picker (nothing can be sent), the plan for the default is shown for reading."""
        from backends.kube.decode import parse_time
        from backends.usecases import workloads
        from tui.pickers import PickerScreen, PickRow  # at first use: not needed for the first rows
        from widgets.formatting import age

        host = self._host
        ws = self._actions.workspace()
        if ws is None:
            return
        try:
            revisions, known = await workloads.rollout_choices(ws, ns, name)
        except PlanError as exc:
            host.notify(f"rollout history of {ns}/{name}: {exc}", severity="error",
                        markup=False, timeout=10)
            return
        except KubeError as exc:
            host.notify(f"rollout history of {ns}/{name}: {clean(exc, 300)}",
                        severity="error", markup=False, timeout=10)
            return
        if not revisions:
            host.notify(f"no rollout history found for {ns}/{name}", severity="warning",
                        markup=False)
            return
        now = self._actions.now()

        def when(created: str) -> str:
            try:
                return age(parse_time(created), now) if created else "?"
            except ValueError:
                return "?"

        rows = [PickRow(str(r.number), (str(r.number), known.label(str(r.number)), r.rs_name,
                                        ", ".join(r.images), when(r.created), r.change_cause),
                        note=_note(known, str(r.number)),
                        warning=known.verdict(str(r.number)) == "bad")
                for r in reversed(revisions)]
        chosen = known.default if ws.gate.policy.read_only else await host.push_screen_wait(
            PickerScreen(f"Roll back Deployment {ns}/{name} to revision",
                         ("REVISION", "KNOWN", "REPLICASET", "IMAGES", "AGE", "CHANGE-CAUSE"),
                         rows, default=known.default))
        if chosen is None:
            return
        to = int(chosen)
        await self._actions.plan_flow(f"rollout undo {ns}/{name} to revision {to}",
                                      partial(workloads.plan_rollout_undo, ws, ns, name, to))

    async def _rollback_app(self, ns: str, name: str) -> None:
        """Pick a ``status.history`` entry (marked and preselected as for Deployments, from
        :func:`~backends.usecases.argocd.rollback_choices`), plan the rollback (Kubernetes
        API, or the Argo CD REST API when ``[argocd] server`` is set), then follow the
        operation until it ends. Read-only: no picker, as for Deployments."""
        from backends.usecases import argocd
        from tui.pickers import PickerScreen, PickRow  # at first use: not needed for the first rows
        from widgets.formatting import age, short_revision

        host = self._host
        ws = self._actions.workspace()
        if ws is None:
            return
        try:
            history, known = await argocd.rollback_choices(ws, ns, name)
        except (PlanError, KubeError) as exc:
            host.notify(f"history of Argo CD app {ns}/{name}: {clean(exc, 300)}",
                        severity="error", markup=False, timeout=10)
            return
        if not history:
            host.notify(f"Argo CD app {ns}/{name} has no deployment history to roll back to",
                        severity="warning", markup=False)
            return
        now = self._actions.now()
        rows = [PickRow(str(h.id), (str(h.id), known.label(str(h.id)),
                                    short_revision(h.revision), age(h.deployed_at, now)),
                        note=_note(known, str(h.id)), warning=known.verdict(str(h.id)) == "bad")
                for h in reversed(history)]
        chosen = known.default if ws.gate.policy.read_only else await host.push_screen_wait(
            PickerScreen(f"Roll back Argo CD app {ns}/{name} to history entry",
                         ("ID", "KNOWN", "REVISION", "DEPLOYED"), rows, default=known.default))
        if chosen is None:
            return
        to_id = int(chosen)
        title = f"roll back {ns}/{name} to history {to_id}"
        if argocd.rollback_via_rest(ws):
            done = await self._actions.plan_flow(
                f"{title} via the Argo CD API",
                partial(argocd.plan_rollback_app_rest, ws, ns, name, to_id))
        else:
            done = await self._actions.plan_flow(
                title, partial(argocd.plan_rollback_app, ws, ns, name, to_id))
        if done is not None and done[1].ok:
            self._follow_operation(ns, name, done[0])

    def _follow_operation(self, ns: str, name: str, action: Action) -> None:
        """Follow in a worker of its own group: another action key must not cancel it."""
        start_worker(self._host, partial(self._follow, ns, name, action),
                     name="_follow_operation", group="follow", exclusive=False)

    async def _follow(self, ns: str, name: str, action: Action) -> None:
        """Report each phase of the rollback operation ``action`` wrote until
        Succeeded/Failed/Error."""
        from backends.ops.argocd import FINAL_PHASES
        from backends.usecases import argocd

        ws = self._actions.ws
        if ws is None:
            return
        host = self._host
        try:
            async for state in argocd.follow_rollback(ws, ns, name, action):
                final = state.phase in FINAL_PHASES
                host.notify(f"rollback of {ns}/{name}: {state.phase}"
                            + (f": {state.message}" if state.message else ""),
                            markup=False, timeout=12 if final else 4,
                            severity="error" if state.phase in ("Failed", "Error")
                            else "information")
        except TimeoutError as exc:
            host.notify(str(exc), severity="warning", markup=False, timeout=12)
        except (PlanError, KubeError) as exc:
            host.notify(f"following the rollback of {ns}/{name}: {clean(exc, 300)}",
                        severity="warning", markup=False, timeout=12)

    # ------------------------------------------------------------------ H

    def helm_rollback(self) -> None:
        sel = self._actions.selected("deployments")
        if sel is None:
            self._host.notify("select a deployment first", severity="warning")
            return
        start_worker(self._host, partial(self._helm_rollback, *split_key(sel[1])),
                     name="_helm_rollback", group=ACTIONS_GROUP, exclusive=True)

    async def _helm_rollback(self, ns: str, name: str) -> None:
        """Helm releases of the deployment's namespace: an Argo CD-rendered app is
        explained (roll it back through Argo CD); otherwise pick the release and the
        revision, then plan ``helm rollback`` behind a gate on the Helm sender."""
        from backends.ops.helm import HelmError, explain_argo_rendered
        from backends.usecases import helm
        from tui.pickers import ExplainScreen, PickerScreen, PickRow  # at first use (first rows)

        host = self._host
        ws = self._actions.workspace()
        if ws is None:
            return
        managing = self._managing_app(ns, name)
        if managing is not None:
            host.push_screen(ExplainScreen("No Helm rollback here",
                                           explain_argo_rendered(managing)))
            return
        if not helm.helm_available():
            host.notify("helm is not on PATH: Helm rollback is not available",
                        severity="warning")
            return
        try:
            releases = await helm.releases(ws, ns)
        except HelmError as exc:
            host.notify(f"helm list -n {ns}: {exc}", severity="error", markup=False,
                        timeout=10)
            return
        if not releases:
            host.notify(f"no Helm release in namespace {ns}: nothing to roll back with helm",
                        severity="warning", markup=False)
            return
        release = releases[0].name
        if len(releases) > 1:
            picked = await host.push_screen_wait(PickerScreen(
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
            revisions = await helm.release_history(ws, release, ns)
        except HelmError as exc:
            host.notify(f"helm history {release}: {exc}", severity="error", markup=False,
                        timeout=10)
            return
        if not revisions:
            host.notify(f"Helm release {release} has no history", severity="warning",
                        markup=False)
            return
        current = revisions[-1].revision
        chosen = await host.push_screen_wait(PickerScreen(
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
        await self._actions.plan_flow(f"helm rollback {ns}/{release} to revision {to}",
                                      partial(helm.plan_helm_rollback, ws, release, ns, to))

    def _managing_app(self, ns: str, name: str) -> AppRow | None:
        """The Argo CD app (store row) that renders this Deployment, as far as the store
        knows: an app deploying into its namespace and running its images."""
        deploy = self._store.get("deployments", f"{ns}/{name}")
        images = set(deploy.images) if isinstance(deploy, DeploymentRow) else set()
        for row in self._store.rows("applications").values():
            if isinstance(row, AppRow) and row.destination_namespace == ns \
                    and images & set(row.images):
                return row
        return None
