"""Workload actions: scale down and restore, rollout history and undo (operations.md 3-4).

Scale goes through the ``scale`` subresource, as ``kubectl scale`` does: it needs only
``patch deployments/scale`` (which RBAC often grants on-call engineers without full patch on
deployments), and it cannot touch anything but replicas. The prior replica count is read
from the same subresource and journaled, so restore sets the recorded value, not a guess.

What makes a scale not hold, surfaced as warnings: an HPA (at 0 replicas it stops acting,
ScalingDisabled; below its minimum it scales back up), KEDA, and Argo CD selfHeal, which
reverts replicas tracked in Git within seconds (pause sync first: the plan offers it).

Rollout undo is EXACTLY what ``kubectl rollout undo`` does client side (kubectl's
``DeploymentRollbacker``), so the control room and kubectl can be used interchangeably in an
incident: refuse a paused Deployment; ReplicaSets by the Deployment's selector AND its
controller ownerReference uid; revision from the annotation; the second-highest by default;
skip when the template already matches ignoring ``pod-template-hash``; drop that label; keep
the Deployment's own revision/replica/last-applied annotations and copy every other
annotation from the ReplicaSet; ONE JSON patch replacing ``/spec/template`` and
``/metadata/annotations``. Like kubectl, that patch has no precondition. One trap kubectl does
not mention is surfaced: annotations only the Deployment had (Argo CD's tracking-id among
them) are removed by that patch.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from backends.breaker_scope import MAX_REPLICAS
from backends.kube.errors import KubeApiError, KubeError
from backends.ops.argocd import selfheal_notes
from backends.ops.gate import TargetRef, WriteGate, WriteRequest
from backends.ops.plan import (
    JSON_PATCH,
    MERGE_PATCH,
    Plan,
    PlanError,
    PlannedWrite,
    Reader,
    finish,
    get_json,
)

__all__ = [
    "ANNOTATIONS_TO_SKIP",
    "HASH_LABEL",
    "Revision",
    "deploy_path",
    "label_selector",
    "plan_rollout_undo",
    "plan_scale",
    "plan_scale_restore",
    "read_rollout",
    "revision_of",
    "revisions_of",
    "rollout_history",
    "same_template",
    "semantic",
]

REVISION: Final = "deployment.kubernetes.io/revision"
HASH_LABEL: Final = "pod-template-hash"
CHANGE_CAUSE: Final = "kubernetes.io/change-cause"
ANNOTATIONS_TO_SKIP: Final = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
})
"""kubectl's ``annotationsToSkip``: kept from the Deployment, never copied from the RS."""


def deploy_path(namespace: str, name: str) -> str:
    return (f"/apis/apps/v1/namespaces/{quote(namespace, safe='')}/deployments/"
            f"{quote(name, safe='')}")


def _target(ns: str, name: str, sub: str = "") -> TargetRef:
    return TargetRef("Deployment", ns, name, "apps", "deployments", sub)


async def _deployment(conn: Reader, ns: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = await get_json(conn, deploy_path(ns, name), f"Deployment {ns}/{name}")
    return obj


# --------------------------------------------------------------------------- scale


async def _autoscaler_notes(conn: Reader, ns: str, name: str, replicas: int,
                            plan: Plan) -> None:
    """HPA and KEDA objects that drive this Deployment's replicas."""
    base = f"/namespaces/{quote(ns, safe='')}"
    try:
        raw = await conn.get_raw(f"/apis/autoscaling/v2{base}/horizontalpodautoscalers")
        hpas = json.loads(raw).get("items") or []
    except KubeApiError as exc:
        plan.info.append("HorizontalPodAutoscalers are not served by this cluster: no HPA check"
                         if exc.status == 404 else
                         f"could not list HPAs in {ns} ({exc.status} {exc.reason}): an HPA may "
                         "fight this change")
        hpas = []
    except KubeError as exc:
        plan.info.append(f"could not list HPAs in {ns} ({exc}): an HPA may fight this change")
        hpas = []
    for hpa in hpas:
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        if (ref.get("kind"), ref.get("name")) != ("Deployment", name):
            continue
        hname = (hpa.get("metadata") or {}).get("name", "")
        low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 0))
        if replicas == 0:
            plan.warnings.append(f"HPA {hname} (min {low}) stops acting at 0 replicas "
                                 "(ScalingDisabled) until the Deployment is scaled up again")
        elif replicas < low:
            plan.warnings.append(f"HPA {hname} raises any value below its minimum {low}: "
                                 f"{replicas} replicas will not hold")
        elif high and replicas > high:
            plan.warnings.append(f"HPA {hname} lowers any value above its maximum {high}")
        else:
            plan.warnings.append(f"HPA {hname} (min {low}, max {high}) also drives replicas")
    try:
        raw = await conn.get_raw(f"/apis/keda.sh/v1alpha1{base}/scaledobjects")
    except KubeError:
        return  # KEDA not installed (or not visible): nothing to say
    for so in json.loads(raw).get("items") or []:
        ref = (so.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("name") == name and ref.get("kind", "Deployment") == "Deployment":
            plan.warnings.append(f"KEDA ScaledObject {(so.get('metadata') or {}).get('name')} "
                                 "drives these replicas: pause it first "
                                 "(annotation autoscaling.keda.sh/paused)")


async def plan_scale(conn: Reader, gate: WriteGate, ns: str, name: str, replicas: int = 0, *,
                     step: str = "scale-down", title: str = "") -> Plan:
    """Scale a Deployment through its ``scale`` subresource (merge patch of
    ``spec.replicas``); prior = the replicas read from that subresource."""
    if isinstance(replicas, bool) or not isinstance(replicas, int) \
            or not 0 <= replicas <= MAX_REPLICAS:
        raise PlanError(f"replicas must be a whole number from 0 to {MAX_REPLICAS} (int32), "
                        f"not {replicas!r}")
    deploy = await _deployment(conn, ns, name)
    scale_path = deploy_path(ns, name) + "/scale"
    scale = await get_json(conn, scale_path, f"the scale of Deployment {ns}/{name}")
    current = int((scale.get("spec") or {}).get("replicas") or 0)
    plan = Plan(title=title or f"Scale {ns}/{name} from {current} to {replicas}")
    if current == replicas:
        plan.info.append(f"{ns}/{name} already has {replicas} replicas: nothing to do")
        return plan
    req = WriteRequest(method="PATCH", path=scale_path, content_type=MERGE_PATCH, verb="patch",
                       body=json.dumps({"spec": {"replicas": replicas}}).encode(),
                       target=_target(ns, name, "scale"))

    async def verify() -> tuple[bool, str]:
        now = await get_json(conn, scale_path, f"the scale of Deployment {ns}/{name}")
        # autoscaling/v1 Scale's spec.replicas is omitempty: the real API server leaves it
        # out at 0, so absent means 0 (the first test against a real kube-apiserver found it).
        got = (now.get("spec") or {}).get("replicas", 0)
        return got == replicas, f"spec.replicas={got}"

    plan.writes.append(PlannedWrite(
        title=plan.title, request=req, prior={"replicas": current},
        intent={"replicas": replicas}, verify=verify, step=step))
    await _autoscaler_notes(conn, ns, name, replicas, plan)
    plan.extend(await selfheal_notes(conn, gate, deploy, "apps", "Deployment"))
    return await finish(gate, plan)


async def plan_scale_restore(conn: Reader, gate: WriteGate, ns: str, name: str,
                             recorded: int) -> Plan:
    """Set the replica count recorded before the scale-down (the journal's prior)."""
    return await plan_scale(conn, gate, ns, name, recorded, step="scale-restore",
                            title=f"Restore {ns}/{name} to its recorded {recorded} replicas")


# --------------------------------------------------------------------------- history


@dataclass(frozen=True)
class Revision:
    """One rollout revision: what the revision picker shows."""

    number: int
    rs_name: str
    images: tuple[str, ...]
    created: str
    change_cause: str = ""


def label_selector(selector: Mapping[str, Any]) -> str:
    """A ``LabelSelector`` as the query string apimachinery's ``String()`` produces."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op in ("In", "NotIn"):
            parts.append(f"{key} {op.lower()} ({','.join(sorted(values))})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def revision_of(obj: Mapping[str, Any]) -> int | None:
    """``deployment.kubernetes.io/revision`` of a Deployment or ReplicaSet, or None."""
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {})[REVISION])
    except (KeyError, TypeError, ValueError):
        return None


async def _owned_replicasets(conn: Reader, deploy: Mapping[str, Any]) -> list[dict[str, Any]]:
    """kubectl's ``ListReplicaSets``: by the Deployment's selector, then only those whose
    controller ownerReference is this Deployment (uid), never guessed from names."""
    meta, spec = deploy.get("metadata") or {}, deploy.get("spec") or {}
    ns, uid = str(meta.get("namespace", "")), meta.get("uid")
    path = f"/apis/apps/v1/namespaces/{quote(ns, safe='')}/replicasets"
    listed = await get_json(conn, path, f"ReplicaSets in {ns}",
                            {"labelSelector": label_selector(spec.get("selector") or {})})
    return [rs for rs in listed.get("items") or []
            if any(o.get("controller") and o.get("uid") == uid
                   for o in (rs.get("metadata") or {}).get("ownerReferences") or [])]


def _images(template: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(c.get("image", "")) for c in (template.get("spec") or {}).get(
        "containers") or [])


async def read_rollout(conn: Reader, ns: str,
                       name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Deployment and the ReplicaSets it owns (kubectl's ``ListReplicaSets``), as read
    now: what the history and the revision knowledge
    (:mod:`backends.ops.rollout_revisions`) are made of."""
    deploy = await _deployment(conn, ns, name)
    return deploy, await _owned_replicasets(conn, deploy)


def revisions_of(replicasets: list[dict[str, Any]]) -> list[Revision]:
    """The revisions of these ReplicaSets, oldest first (``kubectl rollout history``)."""
    out = []
    for rs in replicasets:
        number = revision_of(rs)
        if number is None:
            continue
        meta = rs.get("metadata") or {}
        out.append(Revision(number, str(meta.get("name", "")),
                            _images((rs.get("spec") or {}).get("template") or {}),
                            str(meta.get("creationTimestamp", "")),
                            str((meta.get("annotations") or {}).get(CHANGE_CAUSE, ""))))
    return sorted(out, key=lambda r: r.number)


async def rollout_history(conn: Reader, ns: str, name: str) -> list[Revision]:
    """The Deployment's revisions, oldest first (``kubectl rollout history``)."""
    _deploy, replicasets = await read_rollout(conn, ns, name)
    return revisions_of(replicasets)


# --------------------------------------------------------------------------- undo


def semantic(value: Any) -> Any:
    """``apiequality.Semantic.DeepEqual``'s view of JSON: null, empty maps and empty lists
    equal absence (Go omits them), e.g. the ``creationTimestamp: null`` Go writes in every
    template."""
    if isinstance(value, dict):
        out = {k: semantic(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [semantic(v) for v in value]
    return value


def same_template(a: Any, b: Any) -> bool:
    """Pod templates equal as the Deployment controller compares them (ignoring
    ``pod-template-hash``, null/empty equal to absent)."""
    return bool(semantic(_without_hash(a)) == semantic(_without_hash(b)))


def _without_hash(template: Any) -> dict[str, Any]:
    out: dict[str, Any] = copy.deepcopy(template) if isinstance(template, dict) else {}
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
        if not labels:
            del out["metadata"]["labels"]
    return out


def _pick(replicasets: list[dict[str, Any]], to_revision: int, name: str) -> dict[str, Any]:
    """kubectl's ``deploymentRevision``: the given revision, or the second-highest."""
    if to_revision < 0:
        raise PlanError(f"unable to find specified revision {to_revision} in history")
    ranked = sorted(((n, rs) for rs in replicasets if (n := revision_of(rs)) is not None),
                    key=lambda pair: pair[0], reverse=True)
    if to_revision > 0:
        for number, rs in ranked:
            if number == to_revision:
                return rs
        raise PlanError(f"unable to find specified revision {to_revision} in history")
    if len(ranked) < 2:
        raise PlanError(f'no rollout history found for deployment "{name}"')
    return ranked[1][1]


async def plan_rollout_undo(conn: Reader, gate: WriteGate, ns: str, name: str,
                            to_revision: int | None = None) -> Plan:
    """``kubectl rollout undo deployment/NAME [--to-revision=N]`` as a plan (module doc)."""
    deploy = await _deployment(conn, ns, name)
    spec, meta = deploy.get("spec") or {}, deploy.get("metadata") or {}
    if spec.get("paused"):
        raise PlanError("you cannot rollback a paused deployment; resume it first with "
                        "'kubectl rollout resume' and try again")
    rs = _pick(await _owned_replicasets(conn, deploy), to_revision or 0, name)
    number = revision_of(rs)
    rs_meta = rs.get("metadata") or {}
    rs_template = (rs.get("spec") or {}).get("template") or {}
    current = spec.get("template") or {}
    plan = Plan(title=f"Roll back {ns}/{name} to revision {number} ({rs_meta.get('name')})")
    if semantic(_without_hash(rs_template)) == semantic(_without_hash(current)):
        plan.info.append(f"skipped rollback (current template already matches revision {number})")
        return plan
    template = _without_hash(rs_template)
    own: dict[str, str] = dict(meta.get("annotations") or {})
    annotations = {k: v for k, v in own.items() if k in ANNOTATIONS_TO_SKIP}
    annotations.update({k: v for k, v in (rs_meta.get("annotations") or {}).items()
                        if k not in ANNOTATIONS_TO_SKIP})
    ops = [{"op": "replace", "path": "/spec/template", "value": template},
           {"op": "replace", "path": "/metadata/annotations", "value": annotations}]
    req = WriteRequest(method="PATCH", path=deploy_path(ns, name), verb="patch",
                       body=json.dumps(ops).encode(), content_type=JSON_PATCH,
                       target=_target(ns, name))
    kept = {k: v for k, v in annotations.items() if k not in ANNOTATIONS_TO_SKIP}

    async def verify() -> tuple[bool, str]:
        now = await _deployment(conn, ns, name)
        got = _without_hash((now.get("spec") or {}).get("template"))
        if semantic(got) != semantic(template):
            return False, f"the template is not revision {number}'s (images {_images(got)})"
        have = ((now.get("metadata") or {}).get("annotations") or {})
        if any(have.get(k) != v for k, v in kept.items()):
            return False, "the annotations copied from the ReplicaSet are not all there"
        return True, f"template of revision {number}: images {', '.join(_images(got))}"

    dropped = sorted(k for k in own if k not in annotations)
    if dropped:
        plan.warnings.append("like kubectl, the undo replaces the Deployment's annotations "
                             "with the ReplicaSet's: removed: " + ", ".join(dropped)
                             + (" (Argo CD's tracking-id: the app may no longer see it as "
                                "managed)" if "argocd.argoproj.io/tracking-id" in dropped
                                else ""))
    plan.writes.append(PlannedWrite(
        title=plan.title, request=req,
        prior={"template": current, "annotations": own, "revision": revision_of(deploy)},
        intent={"to_revision": number, "replicaset": rs_meta.get("name"),
                "images": list(_images(template))},
        verify=verify, step="rollout-undo"))
    plan.extend(await selfheal_notes(conn, gate, deploy, "apps", "Deployment"))
    return await finish(gate, plan)
