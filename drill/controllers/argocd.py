"""A simulated Argo CD application controller for the drill cluster.

The control room's most dangerous moments involve Argo CD: selfHeal silently undoing a hand
scale-down, a rollback that auto-sync immediately redeploys over, a pause that did not take.
A rehearsal only teaches the right reflexes if the drill's Argo CD does what the real one does
(reference/operations.md sections 1 and 2), so this controller follows the upstream application
controller's rules rather than a convenient approximation:

- auto-sync is ON when ``spec.syncPolicy.automated`` is present and ``enabled`` is absent or
  true; it syncs when the app is OutOfSync and Git's revision differs from the last attempted
  one, and with ``selfHeal`` also re-syncs the same revision after live drift (a flat
  ``config.self_heal_delay`` stands in for the real 2 s x3 backoff). A failed attempt at a
  revision is not retried, as upstream without ``retry``;
- every sync, automated or not, goes through ``.operation``: the controller marks
  ``status.operationState`` Running, applies the revision's manifests, records the result and
  a ``status.history`` entry, and removes ``.operation``. A rollback is such an operation with an
  old revision; the controller does not refuse it while auto-sync is on (the API server does),
  so with auto-sync on the next tick syncs back to HEAD, exactly like upstream;
- health uses upstream's checks (gitops-engine for Deployments, the bundled Lua check for
  HTTPRoutes) and app health is the worst resource health, Missing included.

Deliberate simplifications: Git models images, replicas and route weights only (see
:mod:`drill.controllers.gitrepo`); Services and ConfigMaps that carry the app's tracking
annotation are listed as Synced; a deleted object is re-created from the last version this
controller saw. ``status.sync.revision`` holds the revision of the last successful sync (the
control room shows "running revision X, Git at Y"); upstream stores the compared revision there.

Level-triggered and quiet: each tick recomputes status from live objects and writes only what
changed, so an idle drill produces no watch events; every per-app step catches
:class:`~drill.errors.ApiError`, so kubectl interference never stops the controller.

Over 500 lines because it is one controller: sync, health, history and the ``operation``
handling follow the upstream application controller's rules and read each other's state
(a sync decides health, health decides auto-sync); split, each half would need the other.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from drill import errors, managed
from drill.controllers.config import SimConfig
from drill.controllers.core import EventRecorder
from drill.controllers.gitrepo import Commit, GitRepo, Manifests, containers
from drill.resources import BY_KEY, ResourceType
from drill.state import ClusterState, Obj, rfc3339

log = logging.getLogger(__name__)

ARGOCD_MANAGER = ("argocd-controller", "Update")
"""managedFields of what a sync applies, as Argo CD's client-side apply writes them."""

APPLICATIONS = BY_KEY["applications.argoproj.io"]
DEPLOYMENTS = BY_KEY["deployments.apps"]
ROUTES = BY_KEY["httproutes.gateway.networking.k8s.io"]
TRACKED_KINDS = (DEPLOYMENTS, ROUTES, BY_KEY["services"], BY_KEY["configmaps"])
ARGOCD_NAMESPACE = "argocd"
COMPONENT = "argocd-application-controller"
TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
FINALIZERS = ("resources-finalizer.argocd.argoproj.io",
              "resources-finalizer.argocd.argoproj.io/background")
SYNC_SUCCEEDED = "successfully synced (all tasks run)"
DEFAULT_HISTORY_LIMIT = 10
#: gitops-engine's order, best first: an app is as healthy as its worst resource.
HEALTH_ORDER = ("Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown")

Ref = tuple[ResourceType, str, str]  # (type, namespace, name)


def auto_sync_enabled(app: Obj) -> bool:
    """operations.md section 1: ``automated`` present and ``enabled`` absent or true."""
    automated = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    return isinstance(automated, dict) and automated.get("enabled") is not False


def deployment_health(d: Obj) -> tuple[str, str]:
    """gitops-engine's Deployment health check, message included."""
    spec, st = d.get("spec") or {}, d.get("status") or {}
    if spec.get("paused"):
        return "Suspended", "Deployment is paused"
    if int(d["metadata"].get("generation", 0)) > int(st.get("observedGeneration", 0)):
        return "Progressing", ("Waiting for rollout to finish: observed deployment generation "
                               "less than desired generation")
    progressing: Obj = next(
        (c for c in st.get("conditions") or [] if c.get("type") == "Progressing"), {})
    updated, total = int(st.get("updatedReplicas", 0)), int(st.get("replicas", 0))
    available, desired = int(st.get("availableReplicas", 0)), spec.get("replicas", 1)
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return "Degraded", f'Deployment "{d["metadata"]["name"]}" exceeded its progress deadline'
    if desired is not None and updated < int(desired):
        return "Progressing", (f"Waiting for rollout to finish: {updated} out of {desired} new "
                               "replicas have been updated...")
    if total > updated:
        return "Progressing", (f"Waiting for rollout to finish: {total - updated} old replicas "
                               "are pending termination...")
    if available < updated:
        return "Progressing", (f"Waiting for rollout to finish: {available} of {updated} "
                               "updated replicas are available...")
    return "Healthy", ""


def route_health(r: Obj) -> tuple[str, str]:
    """Argo CD's bundled HTTPRoute check: judge only parents that observed this generation."""
    gen = r["metadata"].get("generation")
    current = [p for p in (r.get("status") or {}).get("parents") or []
               if any(c.get("observedGeneration") == gen for c in p.get("conditions") or [])]
    for p in current:
        name = (p.get("parentRef") or {}).get("name", "")
        for ctype in ("ResolvedRefs", "Accepted"):
            bad = next((c for c in p["conditions"]
                        if c.get("type") == ctype and c.get("status") == "False"), None)
            if bad:
                return "Degraded", f"Parent {name}: {bad.get('message') or 'Failed ' + ctype}"
        if any(c.get("type") == "Programmed" and c.get("status") != "True"
               for c in p["conditions"]):
            return "Progressing", f"Parent {name}: Route is still being programmed"
    return ("Healthy", "") if current else ("Progressing", "Waiting for HTTPRoute status")


def health_of(rt: ResourceType, obj: Obj | None) -> tuple[str, str] | None:
    """A resource's health, or None for kinds Argo CD has no health check for."""
    if obj is None:
        return "Missing", ""
    if rt is DEPLOYMENTS:
        return deployment_health(obj)
    if rt is ROUTES:
        return route_health(obj)
    if rt.kind == "Service":
        lb = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        if (obj.get("spec") or {}).get("type") == "LoadBalancer" and not lb:
            return "Progressing", "Waiting for load balancer"
        return "Healthy", ""
    return None


def _resource_entry(rt: ResourceType, ns: str, name: str, synced: bool,
                    health: tuple[str, str] | None, prune: bool = False) -> Obj:
    entry: Obj = {"group": rt.group} if rt.group else {}
    entry.update(version=rt.version, kind=rt.kind, namespace=ns, name=name,
                 status="Synced" if synced else "OutOfSync")
    if health is not None:
        entry["health"] = {"status": health[0], **({"message": health[1]} if health[1] else {})}
    if prune:
        entry["requiresPruning"] = True
    return entry


@dataclass
class Comparison:
    """Live versus desired for one app."""

    status: str  # Synced | OutOfSync
    health: str
    resources: list[Obj]
    images: list[str]


class ArgoCDController:
    """Reconciles every Application in ``argocd`` against the drill's in-memory Git."""

    name = "argocd"

    def __init__(self, state: ClusterState, recorder: EventRecorder, config: SimConfig,
                 git: GitRepo) -> None:
        self.state = state
        self.recorder = recorder
        self.config = config
        self.git = git
        #: app uid -> when live drift at the synced revision was first seen (selfHeal delay)
        self._drift_since: dict[str, datetime] = {}
        #: The last live version of every tracked Deployment and HTTPRoute: Git here holds only
        #: images, replicas and weights, so a deleted object is re-created from it on sync.
        self._seen: dict[tuple[str, str, str], Obj] = {}
        self._tracked_by_annotation()

    # ----------------------------------------------------------------------------- the loop

    def reconcile(self, now: datetime) -> None:
        tracked = self._tracked_by_annotation()
        alive: set[str] = set()
        for app in self.state.readable(APPLICATIONS, ARGOCD_NAMESPACE):
            alive.add(app["metadata"].get("uid", ""))
            try:
                self._reconcile_app(app, now, tracked.get(app["metadata"]["name"], []))
            except errors.ApiError as exc:  # interference: the next tick starts from the truth
                log.debug("application %s: %s", app["metadata"]["name"], exc.message)
        for uid in set(self._drift_since) - alive:
            del self._drift_since[uid]

    def _reconcile_app(self, app: Obj, now: datetime, tracked: list[Ref]) -> None:
        if app["metadata"].get("deletionTimestamp"):
            self._finalize(app, tracked)
            return
        if app.get("operation"):
            self._run_operation(app, now, tracked)
            found = self.state.find_readable(APPLICATIONS, ARGOCD_NAMESPACE, app["metadata"]["name"])
            if found is None:
                return
            app = found
        desired = self._desired(app)
        comparison = self._compare(desired.manifests, tracked) if desired else None
        app = self._write_status(app, desired, comparison, now)
        self._auto_sync(app, desired, comparison, now)

    def _tracked_by_annotation(self) -> dict[str, list[Ref]]:
        """Objects per app by Argo CD's annotation tracking (``app:group/Kind:ns/name``)."""
        out: dict[str, list[Ref]] = {}
        for rt in TRACKED_KINDS:
            for obj in self.state.readable(rt):
                meta = obj["metadata"]
                tid = (meta.get("annotations") or {}).get(TRACKING_ANNOTATION)
                if tid and ":" in tid:
                    ns = meta.get("namespace", "")
                    out.setdefault(tid.split(":", 1)[0], []).append((rt, ns, meta["name"]))
                    if rt in (DEPLOYMENTS, ROUTES):
                        self._seen[(rt.key, ns, meta["name"])] = obj
        return out

    def _desired(self, app: Obj) -> Commit | None:
        """Git HEAD; a ``targetRevision`` naming a known commit pins that commit instead."""
        name = app["metadata"]["name"]
        target = str(((app.get("spec") or {}).get("source") or {}).get("targetRevision") or "")
        return (self.git.get(name, target) if target else None) or self.git.head(name)

    # ----------------------------------------------------------------------------- status

    def _compare(self, desired: Manifests, tracked: list[Ref]) -> Comparison:
        entries: dict[tuple[str, str, str, str], Obj] = {}
        images: set[str] = set()

        def add(rt: ResourceType, ns: str, name: str, synced: Callable[[Obj], bool] | None,
                prune: bool = False) -> None:
            obj = self.state.find_readable(rt, ns, name)
            if obj is not None and rt in (DEPLOYMENTS, ROUTES):
                self._seen[(rt.key, ns, name)] = obj
            if obj is not None and rt is DEPLOYMENTS:
                images.update(c["image"] for c in containers(obj) if c.get("image"))
            in_sync = obj is not None and (synced is None or synced(obj)) and not prune
            entries[(rt.group, rt.kind, ns, name)] = _resource_entry(
                rt, ns, name, in_sync, health_of(rt, obj), prune)

        for key, dm in desired.deployments.items():
            ns, _, name = key.partition("/")
            add(DEPLOYMENTS, ns, name, dm.matches)
        for key, rm in desired.routes.items():
            ns, _, name = key.partition("/")
            add(ROUTES, ns, name, rm.matches)
        for rt, ns, name in tracked:
            if (rt.group, rt.kind, ns, name) not in entries and \
                    self.state.find_readable(rt, ns, name) is not None:
                add(rt, ns, name, None, prune=rt in (DEPLOYMENTS, ROUTES))
        resources = [entries[k] for k in sorted(entries)]
        healths = [r["health"]["status"] for r in resources if "health" in r]
        worst = max(healths, key=HEALTH_ORDER.index, default="Healthy")
        synced = all(r["status"] == "Synced" for r in resources)
        return Comparison("Synced" if synced else "OutOfSync", worst, resources, sorted(images))

    def _write_status(self, app: Obj, desired: Commit | None, cmp: Comparison | None,
                      now: datetime) -> Obj:
        """Write sync, health, resources and summary when any of them changed."""
        status = app.get("status") or {}
        spec = app.get("spec") or {}
        sync: Obj = {"status": cmp.status if cmp else "Unknown"}
        last = _last_synced(app) or (desired.revision if desired else None)
        if last:
            sync["revision"] = last
        sync["comparedTo"] = {"source": copy.deepcopy(spec.get("source")),
                              "destination": copy.deepcopy(spec.get("destination"))}
        new: Obj = {"sync": sync}
        conditions = [c for c in status.get("conditions") or []
                      if c.get("type") != "ComparisonError"]
        if cmp is None:
            old = next((c for c in status.get("conditions") or []
                        if c.get("type") == "ComparisonError"), None)
            conditions.append(old or {
                "type": "ComparisonError", "lastTransitionTime": rfc3339(now),
                "message": f"application {app['metadata']['name']!r} has no path in the "
                           "drill's Git repository"})
        else:
            old_health = status.get("health") or {}
            new["health"] = {"status": cmp.health, "lastTransitionTime": (
                old_health.get("lastTransitionTime") if old_health.get("status") == cmp.health
                else None) or rfc3339(now)}
            new["resources"] = cmp.resources
            new["summary"] = {**(status.get("summary") or {}), "images": cmp.images}
        if all(status.get(k) == v for k, v in new.items()) and \
                conditions == (status.get("conditions") or []):
            return app

        def write(o: Obj) -> Obj:
            st = o.setdefault("status", {})
            st.update(copy.deepcopy(new), reconciledAt=rfc3339(now))
            st.pop("conditions", None)
            if conditions:
                st["conditions"] = conditions
            return o

        out = self.state.mutate(APPLICATIONS, ARGOCD_NAMESPACE, app["metadata"]["name"], write)
        for what, before, after in (
                ("sync", (status.get("sync") or {}).get("status"), sync["status"]),
                ("health", (status.get("health") or {}).get("status"),
                 (new.get("health") or {}).get("status"))):
            if before and after and before != after:
                self.recorder.record(out, "Normal", "ResourceUpdated",
                                     f"Updated {what} status: {before} -> {after}", COMPONENT)
        return out

    # ----------------------------------------------------------------------------- auto-sync

    def _auto_sync(self, app: Obj, desired: Commit | None, cmp: Comparison | None,
                   now: datetime) -> None:
        """Upstream's ``autoSync``: a new revision syncs at once, drift at the attempted
        revision only with selfHeal (after the delay) and only if that attempt succeeded."""
        uid = app["metadata"].get("uid", "")
        if desired is None or cmp is None or cmp.status != "OutOfSync" or \
                not auto_sync_enabled(app) or app.get("operation"):
            self._drift_since.pop(uid, None)
            return
        policy = app["spec"]["syncPolicy"]
        automated = policy["automated"]
        attempted, phase = _last_attempt(app)
        if attempted == desired.revision:
            if not automated.get("selfHeal") or phase != "Succeeded":
                return
            first = self._drift_since.setdefault(uid, now)
            if (now - first).total_seconds() < self.config.self_heal_delay:
                return
        self._drift_since.pop(uid, None)
        sync: Obj = {"revision": desired.revision, "prune": bool(automated.get("prune"))}
        if policy.get("syncOptions"):
            sync["syncOptions"] = copy.deepcopy(policy["syncOptions"])
        operation = {"initiatedBy": {"automated": True},
                     "retry": copy.deepcopy(policy.get("retry") or {"limit": 5}), "sync": sync}

        def start(o: Obj) -> Obj | None:
            if o.get("operation"):
                return None
            o["operation"] = operation
            return o

        out = self.state.mutate(APPLICATIONS, ARGOCD_NAMESPACE, app["metadata"]["name"], start)
        self.recorder.record(out, "Normal", "OperationStarted",
                             f"Initiated automated sync to '{desired.revision}'", COMPONENT)

    # ----------------------------------------------------------------------------- operations

    def _run_operation(self, app: Obj, now: datetime, tracked: list[Ref]) -> None:
        """First tick: operationState Running. Next tick: apply, record, clear ``operation``."""
        name = app["metadata"]["name"]
        op = app["operation"]
        current = (app.get("status") or {}).get("operationState") or {}
        if current.get("phase") != "Running" or current.get("operation") != op:
            running = {"operation": copy.deepcopy(op), "phase": "Running",
                       "message": "", "startedAt": rfc3339(now)}

            def mark(o: Obj) -> Obj:
                o.setdefault("status", {})["operationState"] = running
                return o

            out = self.state.mutate(APPLICATIONS, ARGOCD_NAMESPACE, name, mark)
            if not (op.get("initiatedBy") or {}).get("automated"):
                who = (op.get("initiatedBy") or {}).get("username") or "Unknown user"
                rev = ((op.get("sync") or {}).get("revision")) or "HEAD"
                self.recorder.record(out, "Normal", "OperationStarted",
                                     f"{who} initiated sync to {rev}", COMPONENT)
            return
        sync = op.get("sync")
        if not isinstance(sync, dict):
            self._finish(app, op, now, "Failed", "only sync operations are supported", None)
            return
        wanted = str(sync.get("revision") or "")
        commit = self.git.get(name, wanted) if wanted else self._desired(app)
        if commit is None:
            self._finish(app, op, now, "Failed",
                         f"unable to resolve '{wanted or 'HEAD'}' to a commit SHA", None)
            return
        results, failures = self._apply(commit.manifests, bool(sync.get("prune")), tracked)
        source = copy.deepcopy(sync.get("source") or app["spec"].get("source"))
        result = {"revision": commit.revision, "source": source, "resources": results}
        if failures:
            self._finish(app, op, now, "Failed", "one or more objects failed to apply, "
                         f"reason: {'; '.join(failures)}", result)
        else:
            self._finish(app, op, now, "Succeeded", SYNC_SUCCEEDED, result)

    def _finish(self, app: Obj, op: Obj, now: datetime, phase: str, message: str,
                result: Obj | None) -> None:
        started = ((app.get("status") or {}).get("operationState") or {}).get(
            "startedAt") or rfc3339(now)
        state: Obj = {"operation": copy.deepcopy(op), "phase": phase, "message": message,
                      "startedAt": started, "finishedAt": rfc3339(now)}
        if result is not None:
            state["syncResult"] = result
        limit = app["spec"].get("revisionHistoryLimit")
        limit = DEFAULT_HISTORY_LIMIT if limit is None else max(int(limit), 0)

        def finish(o: Obj) -> Obj:
            st = o.setdefault("status", {})
            st["operationState"] = state
            if phase == "Succeeded" and result is not None:
                history = list(st.get("history") or [])
                history.append({
                    "id": int(history[-1].get("id", -1)) + 1 if history else 0,
                    "revision": result["revision"], "deployStartedAt": started,
                    "deployedAt": rfc3339(now), "source": copy.deepcopy(result["source"]),
                    "initiatedBy": copy.deepcopy(op.get("initiatedBy") or {})})
                st["history"] = history[len(history) - limit:] if limit else []
            if o.get("operation") == op:
                del o["operation"]
            return o

        out = self.state.mutate(APPLICATIONS, ARGOCD_NAMESPACE, app["metadata"]["name"], finish)
        rev = result["revision"] if result else (op.get("sync") or {}).get("revision", "")
        if phase == "Succeeded":
            self.recorder.record(out, "Normal", "OperationCompleted",
                                 f"Sync operation to {rev} succeeded", COMPONENT)
        else:
            self.recorder.record(out, "Warning", "OperationCompleted",
                                 f"Sync operation to {rev} failed: {message}", COMPONENT)

    def _apply(self, manifests: Manifests, prune: bool,
               tracked: list[Ref]) -> tuple[list[Obj], list[str]]:
        """Apply one revision's manifests; returns per-resource results and failures."""
        results: list[Obj] = []
        failures: list[str] = []

        def result(rt: ResourceType, ns: str, name: str, status: str, message: str) -> None:
            results.append({**({"group": rt.group} if rt.group else {}), "version": rt.version,
                            "kind": rt.kind, "namespace": ns, "name": name, "status": status,
                            "message": message, "hookPhase": "Running", "syncPhase": "Sync"})

        work: list[tuple[ResourceType, str, Callable[[Obj], Obj]]] = [
            *((DEPLOYMENTS, key, dm.apply) for key, dm in manifests.deployments.items()),
            *((ROUTES, key, rm.apply) for key, rm in manifests.routes.items())]
        for rt, key, fn in work:
            ns, _, name = key.partition("/")
            try:
                result(rt, ns, name, "Synced", self._apply_one(rt, ns, name, fn))
            except errors.ApiError as exc:
                result(rt, ns, name, "SyncFailed", exc.message)
                failures.append(exc.message)
        wanted = {(rt.key, key) for rt, key, _ in work}
        for rt, ns, name in tracked if prune else []:
            if rt in (DEPLOYMENTS, ROUTES) and (rt.key, f"{ns}/{name}") not in wanted:
                try:
                    self.state.delete(rt, ns, name)
                    result(rt, ns, name, "Pruned", "pruned")
                except errors.ApiError as exc:
                    failures.append(exc.message)
        return results, failures

    def _apply_one(self, rt: ResourceType, ns: str, name: str, fn: Callable[[Obj], Obj]) -> str:
        qualified = f"{rt.singular}.{rt.group}/{name}" if rt.group else f"{rt.singular}/{name}"
        live = self.state.find_readable(rt, ns, name)
        if live is None:
            seen = self._seen.get((rt.key, ns, name))
            if seen is None:
                raise errors.not_found(rt.plural, rt.group, name)
            fresh = copy.deepcopy({k: v for k, v in seen.items() if k != "status"})
            meta = seen["metadata"]
            fresh["metadata"] = {k: copy.deepcopy(meta[k]) for k in
                                 ("name", "namespace", "labels", "annotations") if k in meta}
            with managed.acting(self.state, ARGOCD_MANAGER):
                self.state.create(rt, fn(fresh))
            return f"{qualified} created"
        with managed.acting(self.state, ARGOCD_MANAGER):
            out = self.state.mutate(rt, ns, name, fn)
        changed = out["metadata"]["resourceVersion"] != live["metadata"]["resourceVersion"]
        return f"{qualified} {'configured' if changed else 'unchanged'}"

    # ----------------------------------------------------------------------------- deletion

    def _finalize(self, app: Obj, tracked: list[Ref]) -> None:
        """Cascade deletion: delete what the app manages, then drop the finalizer."""
        if not set(app["metadata"].get("finalizers") or []) & set(FINALIZERS):
            return
        refs = set(tracked)
        head = self._desired(app)
        if head is not None:
            for rt, keys in ((DEPLOYMENTS, head.manifests.deployments),
                             (ROUTES, head.manifests.routes)):
                for key in keys:
                    ns, _, name = key.partition("/")
                    refs.add((rt, ns, name))
        remaining = 0
        for rt, ns, name in sorted(refs, key=lambda r: (r[0].key, r[1], r[2])):
            try:
                if self.state.find_readable(rt, ns, name) is not None:
                    self.state.delete(rt, ns, name)
            except errors.ApiError as exc:
                log.debug("deleting %s %s/%s: %s", rt.kind, ns, name, exc.message)
            remaining += self.state.find_readable(rt, ns, name) is not None
        if remaining:
            return

        def release(o: Obj) -> Obj:
            o["metadata"]["finalizers"] = [f for f in o["metadata"].get("finalizers") or []
                                           if f not in FINALIZERS]
            return o

        self.state.mutate(APPLICATIONS, ARGOCD_NAMESPACE, app["metadata"]["name"], release)
        self._drift_since.pop(app["metadata"].get("uid", ""), None)


def _last_synced(app: Obj) -> str | None:
    """The revision of the last successful sync: the newest history entry."""
    history = (app.get("status") or {}).get("history") or []
    if history:
        return str(history[-1].get("revision") or "") or None
    state = (app.get("status") or {}).get("operationState") or {}
    if state.get("phase") == "Succeeded":
        return (state.get("syncResult") or {}).get("revision")
    return None


def _last_attempt(app: Obj) -> tuple[str | None, str | None]:
    """The revision and phase of the last sync attempt, as upstream's alreadyAttemptedSync
    reads them from ``operationState.syncResult``."""
    state = (app.get("status") or {}).get("operationState") or {}
    revision = (state.get("syncResult") or {}).get("revision")
    if revision:
        return revision, state.get("phase")
    return _last_synced(app), "Succeeded"
