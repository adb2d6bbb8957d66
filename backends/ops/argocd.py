"""Argo CD actions: pause and restore auto-sync, roll back, follow the operation.

Contract: reference/operations.md sections 1 and 2. The traps this module exists to beat:

- a pause that did not take: ``automated.enabled: false`` is pruned silently by a CRD older
  than Argo CD 3.1, and the answer is still "200 OK". So every pause is read back; when
  ``enabled`` did not stick, the plan's fallback removes ``automated`` instead (what
  ``argocd app set --sync-policy none`` does). Which to try first is
  :attr:`ArgoOptions.prefer_enabled_flag` (the drill cluster publishes no CRD schema to ask);
- a restore that is not a restore: the exact prior ``automated`` block (prune, selfHeal,
  allowEmpty, enabled) goes into the journal AND into the annotation
  :data:`PAUSE_ANNOTATION` on the Application, so any operator (or ``kubectl``) can put it
  back. Restore writes that block verbatim with a JSON patch (a merge patch cannot drop a key
  the prior block did not have), guarded by a ``test`` of what it replaces;
- a pause something else undoes: an owning ApplicationSet, or a parent app-of-apps with
  selfHeal, rewrites ``spec.syncPolicy``. The plan warns (and offers pausing the parent);
- a rollback that auto-sync immediately redeploys over, or that races another operation.
  Through the Kubernetes API the server's checks are ours: auto-sync off, no operation in
  flight, a valid history id, and the write is an update carrying the read
  ``resourceVersion`` (never a blind patch). After a rollback, restoring auto-sync
  redeploys the bad commit: :func:`plan_restore` keeps auto-sync paused then, unless told
  to restore it anyway (:mod:`backends.ops.argo_revisions` judges what Git would deploy).

Two transports for rollback, both gated: the Kubernetes API (kubeconfig credentials, the
default) and the Argo CD REST API (:mod:`backends.ops.argocd_rest`, a bearer token), whose
own gate is built with ``dry_run=False, access_reviews=False`` like the Alertmanager one.

Pause merge patches carry no ``resourceVersion``: the Argo CD controller rewrites the
Application's status on every refresh, so a precondition would fail mid-incident for no
reason, and the patch changes only ``enabled`` and the annotation. Rollback, which replaces
the ``operation`` and reads history ids, must not race, so it is a guarded update.

Over 500 lines because it is one job, the actions on an Argo CD Application: pause,
restore, rollback and following the operation share the reading helpers, the pause
annotation contract and the journal step names (the REST transport is already apart, in
:mod:`backends.ops.argocd_rest`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import quote

from backends.kube.errors import KubeApiError, KubeError
from backends.model import AppRow, AutoSync
from backends.ops.argo_revisions import redeploy_risk, sync_target
from backends.ops.argo_status import (
    PAUSE_STEP,
    RESTORE_STEP,
    ROLLBACK_STEP,
    app_status,
    entry_revision,
    running,
)
from backends.ops.gate import TargetRef, WriteGate, WriteRequest
from backends.ops.journal import Journal
from backends.ops.plan import (
    JSON_PATCH,
    MERGE_PATCH,
    Offer,
    Plan,
    PlanError,
    PlannedWrite,
    Poll,
    Reader,
    finish,
    get_json,
)
from backends.sanitize import clean

__all__ = [
    "AUTO_SYNC_ON_MESSAGE",
    "IN_FLIGHT_MESSAGE",
    "PAUSE_ANNOTATION",
    "REDEPLOY_WARNING",
    "AppLike",
    "ArgoOptions",
    "OperationState",
    "app_path",
    "app_ref",
    "app_status",
    "app_target",
    "auto_sync_state",
    "entry_revision",
    "find_tracking_app",
    "follow_operation",
    "list_applications",
    "plan_pause",
    "plan_pause_scope",
    "plan_restore",
    "plan_rollback",
    "prior_from_journal",
    "read_app",
    "rollback_entry",
    "rollback_operation",
    "running",
    "same_sync",
    "selfheal_notes",
]

GROUP: Final = "argoproj.io"
API: Final = f"/apis/{GROUP}/v1alpha1"
PAUSE_ANNOTATION: Final = "controlroom.io/paused-automated"
TRACKING_ANNOTATION: Final = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL: Final = "app.kubernetes.io/instance"
AUTO_SYNC_ON_MESSAGE: Final = "rollback cannot be initiated when auto-sync is enabled"
IN_FLIGHT_MESSAGE: Final = "another operation is already in progress"
REDEPLOY_WARNING: Final = "restoring auto-sync redeploys the bad commit: revert in Git first"
FINAL_PHASES: Final = frozenset({"Succeeded", "Failed", "Error"})

AppLike = AppRow | tuple[str, str]
"""An Application by store row or ``(namespace, name)``."""


@dataclass(frozen=True)
class ArgoOptions:
    """Argo CD settings of a context. ``prefer_enabled_flag``: pause with
    ``automated.enabled: false`` (Argo CD >= 3.1, keeps the block in place) and fall back to
    ``automated: null`` when it did not stick; False pauses with ``null`` directly.
    ``server_url``/``token`` are for :class:`~backends.ops.argocd_rest.ArgoRestClient`
    (token default: ``$ARGOCD_AUTH_TOKEN``)."""

    prefer_enabled_flag: bool = True
    server_url: str = ""
    token: str | None = None
    verify_tls: bool = True
    allow_http_credentials: bool = False


DEFAULTS: Final = ArgoOptions()


# --------------------------------------------------------------------------- reading


def app_path(namespace: str, name: str) -> str:
    return f"{API}/namespaces/{quote(namespace, safe='')}/applications/{quote(name, safe='')}"


def app_ref(app: AppLike) -> tuple[str, str]:
    return (app.namespace, app.name) if isinstance(app, AppRow) else app


def app_target(ns: str, name: str) -> TargetRef:
    return TargetRef("Application", ns, name, GROUP, "applications")


def _meta(obj: Mapping[str, Any], key: str) -> dict[str, str]:
    value = (obj.get("metadata") or {}).get(key)
    return dict(value) if isinstance(value, dict) else {}


def _automated(app: Mapping[str, Any]) -> Any:
    """The ``automated`` block as stored (a dict), or None when absent or null."""
    policy = (app.get("spec") or {}).get("syncPolicy")
    return policy.get("automated") if isinstance(policy, dict) else None


def auto_sync_state(app: Mapping[str, Any]) -> AutoSync:
    """operations.md section 1: on when ``automated`` is present and ``enabled`` is absent
    or true."""
    block = _automated(app)
    if not isinstance(block, dict):
        return "off"
    return "paused" if block.get("enabled") is False else "on"


async def _get_app(conn: Reader, ns: str, name: str) -> dict[str, Any]:
    app: dict[str, Any] = await get_json(conn, app_path(ns, name), f"Application {ns}/{name}")
    return app


async def read_app(conn: Reader, ns: str, name: str) -> dict[str, Any]:
    """The Application as it is now (PlanError when it cannot be read)."""
    return await _get_app(conn, ns, name)


async def list_applications(conn: Reader) -> tuple[list[dict[str, Any]] | None, str]:
    """Every Application the operator may list, or (None, why not): Argo CD not installed
    (404) or the list forbidden. One request, for the tracking and parent lookups."""
    try:
        raw = await conn.get_raw(f"{API}/applications")
    except KubeApiError as exc:
        if exc.status == 404:
            return None, "Argo CD Applications are not served by this cluster"
        return None, f"could not list Argo CD Applications: {exc.status} {exc.reason}"
    except KubeError as exc:
        return None, f"could not list Argo CD Applications: {clean(exc, 200)}"
    items = json.loads(raw).get("items") or []
    return [i for i in items if isinstance(i, dict)], ""


def find_tracking_app(apps: Iterable[Mapping[str, Any]], obj: Mapping[str, Any], group: str,
                      kind: str) -> tuple[Mapping[str, Any] | None, str]:
    """The Application managing ``obj`` and how that is known: listed in its
    ``status.resources`` (what Argo CD itself reports), else the tracking-id annotation
    (``app:group/Kind:ns/name``, ``ns_app`` for apps outside the control-plane namespace),
    else the instance label (also set by Helm: a hint only)."""
    meta = obj.get("metadata") or {}
    ns, name, uid = meta.get("namespace", ""), meta.get("name", ""), meta.get("uid")
    candidates = [a for a in apps if (a.get("metadata") or {}).get("uid") != uid or not uid]
    for app in candidates:
        for r in app_status(app).get("resources") or []:
            if (r.get("kind"), r.get("group") or "", r.get("namespace") or "",
                    r.get("name")) == (kind, group, ns, name):
                return app, "listed in its status.resources"
    tracking = _meta(obj, "annotations").get(TRACKING_ANNOTATION, "")
    for how, app_part in (("tracking-id annotation", tracking.partition(":")[0]),
                          ("instance label", _meta(obj, "labels").get(INSTANCE_LABEL, ""))):
        if not app_part:
            continue
        app_ns, _, app_name = app_part.rpartition("_")
        for app in candidates:
            m = app.get("metadata") or {}
            if m.get("name") == app_name and (not app_ns or m.get("namespace") == app_ns):
                return app, how
    return None, ""


async def selfheal_notes(conn: Reader, gate: WriteGate, obj: Mapping[str, Any], group: str,
                         kind: str) -> Plan:
    """Warnings about an Argo CD app that would revert a hand change to ``obj`` (replicas,
    weights), with the pause offered; merged into workload and traffic plans."""
    notes = Plan(title="")
    apps, why = await list_applications(conn)
    if apps is None:
        notes.info.append(f"{why}: Argo CD selfHeal not checked")
        return notes
    app, how = find_tracking_app(apps, obj, group, kind)
    if app is None:
        notes.info.append(f"no Argo CD Application tracks this {kind}")
        return notes
    meta = app.get("metadata") or {}
    ans, aname = str(meta.get("namespace", "")), str(meta.get("name", ""))
    state = auto_sync_state(app)
    block = _automated(app) or {}
    where = f"Argo CD app {ans}/{aname} tracks this {kind} ({how})"
    if state == "on":
        if block.get("selfHeal"):
            notes.warnings.append(f"{where} with auto-sync and selfHeal on: "
                                  "selfHeal will revert this: pause sync first")
        else:
            notes.warnings.append(f"{where} with auto-sync on (no selfHeal): the next Git "
                                  "change to the app resets this: pause sync first")
        notes.info.append(f"offered: pause auto-sync of {ans}/{aname} before this change")

        async def build() -> Plan:
            return await plan_pause(conn, gate, ans, aname)

        notes.offers.append(Offer(f"Pause auto-sync of {ans}/{aname}", build))
    else:
        notes.info.append(f"{where}; auto-sync is {state}: the change holds (the app will "
                          "show OutOfSync)")
    return notes


# --------------------------------------------------------------------------- pause


def _pause_write(conn: Reader, ns: str, name: str, prior: dict[str, Any],
                 annotation_before: str | None, *, flag: bool,
                 ran: tuple[str, str, str] = ("", "", "")) -> PlannedWrite:
    text = json.dumps(prior, separators=(",", ":"))
    automated: Any = {"enabled": False} if flag else None
    body = {"metadata": {"annotations": {PAUSE_ANNOTATION: text}},
            "spec": {"syncPolicy": {"automated": automated}}}
    req = WriteRequest(method="PATCH", path=app_path(ns, name), body=json.dumps(body).encode(),
                       content_type=MERGE_PATCH, verb="patch", target=app_target(ns, name))

    async def verify() -> tuple[bool, str]:
        live = await _get_app(conn, ns, name)
        block = _automated(live)
        if _meta(live, "annotations").get(PAUSE_ANNOTATION) != text:
            return False, f"the annotation {PAUSE_ANNOTATION} holding the prior block is missing"
        if flag:
            if isinstance(block, dict) and block.get("enabled") is False:
                return True, "automated.enabled=false: auto-sync paused (prune/selfHeal kept)"
            return False, ("automated.enabled did not stick (a CRD older than Argo CD 3.1 "
                           f"prunes it): auto-sync is still {auto_sync_state(live)}")
        if block is None:
            return True, "automated removed: auto-sync off"
        return False, f"automated is still set: auto-sync is {auto_sync_state(live)}"

    how = "automated.enabled=false" if flag else "automated=null"
    return PlannedWrite(
        title=f"Pause auto-sync of {ns}/{name} ({how})", request=req,
        prior={"automated": prior, "annotation": annotation_before, "revision": ran[0],
               "health": ran[1], "sync": ran[2]},
        intent={"automated": automated, "annotation": text}, verify=verify, step=PAUSE_STEP)


async def _pause_warnings(conn: Reader, gate: WriteGate, app: Mapping[str, Any],
                          apps: list[dict[str, Any]] | None, plan: Plan) -> None:
    meta = app.get("metadata") or {}
    ns = str(meta.get("namespace", ""))
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") != "ApplicationSet":
            continue
        appset = str(owner.get("name", ""))
        ignored = False
        try:
            raw = await conn.get_raw(f"{API}/namespaces/{quote(ns, safe='')}/applicationsets/"
                                     f"{quote(appset, safe='')}")
            rules = (json.loads(raw).get("spec") or {}).get("ignoreApplicationDifferences")
            ignored = any(p in ("/spec/syncPolicy", "/spec/syncPolicy/automated")
                          for rule in rules or [] for p in rule.get("jsonPointers") or [])
        except (KubeError, ValueError, AttributeError):
            pass
        if ignored:
            plan.info.append(f"ApplicationSet {appset} ignores /spec/syncPolicy differences: "
                             "the pause holds")
        else:
            plan.warnings.append(f"{ns}/{meta.get('name')} is owned by ApplicationSet "
                                 f"{appset}: the ApplicationSet "
                                 "controller will undo this pause (it rewrites spec.syncPolicy)")
            plan.info.append("to freeze a whole project instead, add an AppProject deny sync "
                             "window")
    if apps is not None:
        parent, how = find_tracking_app(apps, app, GROUP, "Application")
        if parent is not None and auto_sync_state(parent) == "on":
            pm = parent.get("metadata") or {}
            pns, pname = str(pm.get("namespace", "")), str(pm.get("name", ""))
            heal = (_automated(parent) or {}).get("selfHeal")
            plan.warnings.append(
                f"parent app-of-apps {pns}/{pname} tracks {ns}/{meta.get('name')} ({how}) with "
                + ("selfHeal on: it rewrites spec.syncPolicy from Git within seconds"
                   if heal else "auto-sync on: its next sync rewrites spec.syncPolicy")
                + ": pause the parent first")

            async def build() -> Plan:
                return await plan_pause(conn, gate, pns, pname)

            plan.offers.append(Offer(f"Pause auto-sync of parent {pns}/{pname}", build))
    if app.get("operation") or (app_status(app).get("operationState") or {}).get(
            "phase") == "Running":
        plan.info.append("a sync operation is running: pausing auto-sync does not stop it")


async def _pause_plan(conn: Reader, gate: WriteGate, app: dict[str, Any],
                      apps: list[dict[str, Any]] | None, options: ArgoOptions) -> Plan:
    meta = app.get("metadata") or {}
    ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    plan = Plan(title=f"Pause auto-sync of {ns}/{name}")
    state = auto_sync_state(app)
    if state != "on":
        plan.info.append(f"auto-sync of {ns}/{name} is already {state}: nothing to pause")
        return plan
    prior = copy.deepcopy(_automated(app))
    before = _meta(app, "annotations").get(PAUSE_ANNOTATION)
    ran = (*running(app), str((app_status(app).get("sync") or {}).get("status") or ""))
    null = _pause_write(conn, ns, name, prior, before, flag=False, ran=ran)
    if options.prefer_enabled_flag:
        flag = _pause_write(conn, ns, name, prior, before, flag=True, ran=ran)
        plan.writes.append(replace(flag, fallback=null))
        plan.info.append("if automated.enabled does not stick (Argo CD < 3.1), the pause "
                         "falls back to automated=null; restore puts the exact block back")
    else:
        plan.writes.append(null)
    await _pause_warnings(conn, gate, app, apps, plan)
    if plan.warnings:
        plan.writes[0] = replace(plan.writes[0], warnings=tuple(plan.warnings))
    return plan


async def plan_pause(conn: Reader, gate: WriteGate, app_ns: str, app_name: str, *,
                     options: ArgoOptions = DEFAULTS) -> Plan:
    """Pause auto-sync of one Application (see the module doc)."""
    app = await _get_app(conn, app_ns, app_name)
    apps, _ = await list_applications(conn)
    return await finish(gate, await _pause_plan(conn, gate, app, apps, options))


async def plan_pause_scope(conn: Reader, gate: WriteGate, apps: Iterable[AppLike], *,
                           options: ArgoOptions = DEFAULTS) -> Plan:
    """Pause several Applications in one plan (the breaker's first step). Every app is
    read; any that cannot be planned fails the whole plan, naming each, because a breaker
    that silently left one app under selfHeal would be undone."""
    refs = [app_ref(a) for a in apps]
    listed, _ = await list_applications(conn)
    plan = Plan(title=f"Pause auto-sync of {len(refs)} app(s)")
    errors: list[str] = []
    for ns, name in refs:
        try:
            app = await _get_app(conn, ns, name)
        except PlanError as exc:
            errors.append(str(exc))
            continue
        plan.extend(await _pause_plan(conn, gate, app, listed, options))
    if errors:
        raise PlanError("; ".join(errors))
    return await finish(gate, plan)


# --------------------------------------------------------------------------- restore


async def prior_from_journal(journal: Journal, context: str, app_ns: str,
                             app_name: str) -> dict[str, Any] | None:
    """The ``automated`` block recorded by the newest pause of this app that may have
    applied, or None."""
    for entry in reversed(await journal.entries(context=context)):
        if (entry.kind, entry.namespace, entry.name, entry.step) == (
                "Application", app_ns, app_name, PAUSE_STEP) and entry.may_have_applied \
                and isinstance(entry.prior, dict) and isinstance(entry.prior.get("automated"),
                                                                 dict):
            return dict(entry.prior["automated"])
    return None


async def plan_restore(conn: Reader, gate: WriteGate, app: AppLike,
                       prior_automated: Mapping[str, Any] | None = None, *,
                       journal: Journal | None = None, context: str = "",
                       restore_bad: bool = False) -> Plan:
    """Put back EXACTLY ``prior_automated`` (from the journal; None: from the annotation)
    and remove the annotation, in one JSON patch guarded by a ``test`` of what it replaces.

    Unless ``restore_bad``, the restore is held back when auto-sync would sync the app to a
    revision recorded as bad (:func:`backends.ops.argo_revisions.redeploy_risk`, the one
    check for ``restore-sync``, the App's restore and the breaker's release; ``journal`` and
    ``context`` add our own rollbacks and pauses to its evidence): the plan then has no write,
    ``held`` says why, and an offer plans the restore anyway."""
    ns, name = app_ref(app)
    live = await _get_app(conn, ns, name)
    plan = Plan(title=f"Restore auto-sync of {ns}/{name}")
    text = _meta(live, "annotations").get(PAUSE_ANNOTATION)
    recorded: Any = None
    if text is not None:
        try:
            recorded = json.loads(text)
        except ValueError:
            plan.warnings.append(f"the annotation {PAUSE_ANNOTATION} is not JSON; ignored")
    block = dict(prior_automated) if prior_automated is not None else recorded
    if not isinstance(block, dict):
        raise PlanError(f"no recorded auto-sync policy for {ns}/{name}: neither the journal "
                        f"nor the annotation {PAUSE_ANNOTATION} has one")
    if prior_automated is not None and isinstance(recorded, dict) and recorded != block:
        plan.warnings.append("the annotation records a different prior policy than the "
                             f"journal ({json.dumps(recorded)}); restoring the journal's")
    current = _automated(live)
    if current == block and text is None:
        plan.info.append(f"auto-sync of {ns}/{name} already has the recorded policy")
        return plan
    spec = live.get("spec") or {}
    policy = spec.get("syncPolicy")
    ops: list[dict[str, Any]] = []
    if isinstance(policy, dict):
        ops.append({"op": "test", "path": "/spec/syncPolicy/automated", "value": current}
                   if "automated" in policy else
                   {"op": "test", "path": "/spec/syncPolicy", "value": policy})
        ops.append({"op": "add", "path": "/spec/syncPolicy/automated", "value": block})
    else:
        ops.append({"op": "add", "path": "/spec/syncPolicy", "value": {"automated": block}})
    if text is not None:
        ops.append({"op": "remove",
                    "path": "/metadata/annotations/" + PAUSE_ANNOTATION.replace("/", "~1")})
    req = WriteRequest(method="PATCH", path=app_path(ns, name), body=json.dumps(ops).encode(),
                       content_type=JSON_PATCH, verb="patch", target=app_target(ns, name))

    async def verify() -> tuple[bool, str]:
        now = await _get_app(conn, ns, name)
        got = _automated(now)
        if got != block:
            return False, f"automated is {json.dumps(got)}, not the recorded {json.dumps(block)}"
        if PAUSE_ANNOTATION in _meta(now, "annotations"):
            return False, f"the annotation {PAUSE_ANNOTATION} is still there"
        return True, f"automated={json.dumps(block, separators=(',', ':'))}"

    risk = await redeploy_risk(conn, live, journal, context)
    if risk is not None and not restore_bad:
        plan.held.append(risk.held(ns, name))

        async def anyway() -> Plan:
            return await plan_restore(conn, gate, app, prior_automated, journal=journal,
                                      context=context, restore_bad=True)

        plan.title += ": kept paused"
        plan.offers.append(Offer(f"Restore auto-sync of {ns}/{name} anyway (syncs "
                                 f"{risk.short}, recorded as bad)", anyway))
        return plan
    if risk is not None:
        plan.warnings.append(risk.anyway(ns, name))
    target, how = sync_target(live)
    if risk is None and target and target != running(live)[0]:
        plan.info.append(f"restoring auto-sync syncs {ns}/{name} to {clean(target[:12])} "
                         f"({how})")
    if (app_status(live).get("sync") or {}).get("status") == "OutOfSync":
        plan.info.append("the app is OutOfSync: restoring auto-sync syncs it to Git, and with "
                         "selfHeal hand changes made during the pause are reverted")
    plan.writes.append(PlannedWrite(
        title=f"Restore auto-sync of {ns}/{name}", request=req,
        prior={"automated": current, "annotation": text}, intent={"automated": block},
        verify=verify, step=RESTORE_STEP))
    return await finish(gate, plan)


# --------------------------------------------------------------------------- rollback


def rollback_entry(app: Mapping[str, Any], to_id: int | None) -> dict[str, Any]:
    """The Argo CD API server's checks, done client side (operations.md section 2)."""
    meta = app.get("metadata") or {}
    where = f"{meta.get('namespace')}/{meta.get('name')}"
    if auto_sync_state(app) == "on":
        raise PlanError(f"{AUTO_SYNC_ON_MESSAGE}: pause auto-sync of {where} first")
    if app.get("operation"):
        raise PlanError(f"{IN_FLIGHT_MESSAGE} on {where}")
    if (app_status(app).get("operationState") or {}).get("phase") == "Running":
        raise PlanError(f"{IN_FLIGHT_MESSAGE} on {where} (operationState Running)")
    history = [h for h in app_status(app).get("history") or [] if isinstance(h, dict)]
    if to_id is None:
        if len(history) < 2:
            raise PlanError(f"application '{meta.get('name')}' should have at least two "
                            "successful deployments")
        entry = history[-2]
    else:
        found = [h for h in history if h.get("id") == to_id]
        if not found:
            raise PlanError(f"application '{meta.get('name')}' does not have deployment id "
                            f"'{to_id}' in history")
        entry = found[0]
    if not entry.get("source") and not entry.get("sources"):
        raise PlanError("cannot rollback to revision deployed with Argo CD v0.11 or lower. "
                        "sync to revision instead.")
    return entry


def rollback_operation(app: Mapping[str, Any], entry: Mapping[str, Any], operator: str,
                       reason: str, prune: bool = False) -> dict[str, Any]:
    """The ``operation`` Argo CD's API server writes for ``argocd app rollback``."""
    sync: dict[str, Any] = {}
    if entry.get("revisions"):
        sync.update(revisions=list(entry["revisions"]), sources=copy.deepcopy(entry["sources"]))
    else:
        sync.update(revision=entry.get("revision"), source=copy.deepcopy(entry.get("source")))
    sync.update(syncStrategy={"apply": {}}, prune=prune)
    options = ((app.get("spec") or {}).get("syncPolicy") or {}).get("syncOptions")
    if options:
        sync["syncOptions"] = list(options)
    op: dict[str, Any] = {"initiatedBy": {"username": operator}}
    if reason:
        op["info"] = [{"name": "reason", "value": reason}]
    op["sync"] = sync
    return op


def same_sync(a: Any, b: Mapping[str, Any]) -> bool:
    sa, sb = (a or {}).get("sync") or {}, b.get("sync") or {}
    return bool(sa) and all(sa.get(k) == sb.get(k) for k in ("revision", "revisions"))


async def plan_rollback(conn: Reader, gate: WriteGate, app: AppLike, to_id: int | None = None,
                        *, reason: str = "", prune: bool = False) -> Plan:
    """Roll back through the Kubernetes API: an update of the Application adding the
    rollback ``operation`` (with the read ``resourceVersion``, and ``operationState``
    cleared as the API server's SetAppOperation does). The reason typed at confirmation goes
    into ``operation.info``. Raises :class:`PlanError` with the server's own wording when
    the server would refuse."""
    ns, name = app_ref(app)
    live = await _get_app(conn, ns, name)
    entry = rollback_entry(live, to_id)
    operator = gate.policy.operator
    last = (app_status(live).get("history") or [{}])[-1]

    def build(why: str) -> WriteRequest:
        body = copy.deepcopy(live)
        body["operation"] = rollback_operation(live, entry, operator, why, prune)
        body.get("status", {}).pop("operationState", None)
        return WriteRequest(method="PUT", path=app_path(ns, name),
                            body=json.dumps(body).encode(), verb="update",
                            target=app_target(ns, name))

    wanted = rollback_operation(live, entry, operator, reason, prune)

    async def verify() -> tuple[bool, str]:
        now = await _get_app(conn, ns, name)
        state = app_status(now).get("operationState") or {}
        if same_sync(now.get("operation"), wanted):
            return True, "rollback operation accepted (waiting for the controller)"
        if same_sync(state.get("operation"), wanted):
            return True, f"rollback operation picked up: {state.get('phase')}"
        return False, "the rollback operation is not on the Application"

    rev = str(entry.get("revision") or ",".join(entry.get("revisions") or []))
    plan = Plan(title=f"Roll back {ns}/{name} to history {entry.get('id')} ({rev[:12]})")
    plan.warnings.append("after a rollback the app is OutOfSync with Git: "
                         f"{REDEPLOY_WARNING} before restoring auto-sync")
    plan.info.append("rollback uses the apply strategy: hooks do not run; prune is "
                     + ("on" if prune else "off"))
    plan.info.append("the update is conditional on the Application as read now: if it "
                     "changes before sending (409 Conflict), plan again")
    if rev == str(last.get("revision") or ""):
        plan.warnings.append(f"history {entry.get('id')} is the revision already running")
    plan.writes.append(PlannedWrite(
        title=plan.title, request=build(reason),
        prior={"operation": None, "history": {"id": last.get("id"),
                                              "revision": last.get("revision")},
               "resourceVersion": (live.get("metadata") or {}).get("resourceVersion")},
        intent={"operation": wanted}, verify=verify, step=ROLLBACK_STEP, with_reason=build))
    return await finish(gate, plan)


@dataclass(frozen=True)
class OperationState:
    """One observed state of an Application's operation. ``phase`` is ``Pending`` while the
    controller has not picked the operation up, then Running|Succeeded|Failed|Error."""

    phase: str
    message: str = ""
    revision: str = ""
    finished_at: str = ""


def _observe(app: Mapping[str, Any], expected: Mapping[str, Any] | None) -> OperationState:
    pending = app.get("operation")
    state = app_status(app).get("operationState") or {}
    revision = str(((state.get("syncResult") or {}).get("revision"))
                   or ((state.get("operation") or {}).get("sync") or {}).get("revision") or "")
    mine = pending or expected
    ours = bool(state) and (mine is None or state.get("operation") == mine
                            or same_sync(state.get("operation"), mine))
    if pending and not (ours and state.get("phase")):
        return OperationState("Pending", "waiting for the application controller")
    if not ours:
        return OperationState("Unknown", "the operation's result was replaced by another's")
    return OperationState(str(state.get("phase") or "Unknown"),
                          clean(state.get("message") or "", 500), clean(revision),
                          str(state.get("finishedAt") or ""))


async def follow_operation(conn: Reader, app: AppLike, timeout: float = 300.0, *,
                           poll: Poll | None = None,
                           operation: Mapping[str, Any] | None = None
                           ) -> AsyncIterator[OperationState]:
    """Yield each new state of the app's operation until Succeeded/Failed/Error; raises
    TimeoutError after ``timeout`` seconds (of ``poll``'s clock). ``operation`` is the one we
    wrote, so an older operation's result is never mistaken for ours."""
    ns, name = app_ref(app)
    poll = poll or Poll()
    start = poll.now()
    last: OperationState | None = None
    while True:
        state = _observe(await _get_app(conn, ns, name), operation)
        if state != last:
            yield state
            last = state
        if state.phase in FINAL_PHASES or state.phase == "Unknown":
            return
        if poll.now() - start >= timeout:
            raise TimeoutError(f"the operation on {ns}/{name} is still {state.phase} after "
                               f"{timeout:g}s")
        await poll.sleep(poll.interval)
