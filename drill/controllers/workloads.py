"""Deployments, ReplicaSets and scheduling in the drill cluster.

The two controllers here follow kube-controller-manager's algorithms closely, because the
rehearsals the drill cluster exists for (``kubectl rollout undo``, scaling to zero and back,
Argo CD rollbacks, a bad image stalling a rollout) are only worth something when the cluster
answers with the same ReplicaSets, revisions, counters and conditions a real one would:

- :class:`DeploymentController`: Deployment -> ReplicaSets (revisions and rollback history,
  RollingUpdate with maxSurge/maxUnavailable, Recreate, pause, history cleanup, status and the
  Available/Progressing conditions with the progress deadline);
- :class:`ReplicaSetController`: ReplicaSet -> pods, including the default scheduler's job
  (node selector, taints, spread; FailedScheduling when nothing fits).

Both are level-triggered: every tick they read the current objects and write only the
difference, each object in its own error guard, so kubectl deleting or patching anything
mid-rollout is simply the new truth for the next tick. The pod lifecycle lives in
:mod:`drill.controllers.kubelet`, nodes and metrics in :mod:`drill.controllers.nodes`; their
controllers are re-exported here so a simulation is assembled from one module.

Left out on purpose: proportional scaling of several active ReplicaSets while paused (a
paused Deployment with one active ReplicaSet still scales), ``minReadySeconds``, adoption of
orphaned ReplicaSets and pods, and resource-request fitting in the scheduler (pod count only).

Over 500 lines because the Deployment controller, the ReplicaSet controller and the
scheduler are ports of kube-controller-manager's deployment code and share its helpers
(revisions, fenceposts, conditions, template hashes); they are kept together as upstream
keeps them, so a rehearsal's answers can be checked against the original.
"""

from __future__ import annotations

import copy
import logging
import math
from datetime import datetime
from typing import Any

from drill.controllers.config import SimConfig
from drill.controllers.core import Controller, EventRecorder
from drill.controllers.kubelet import (
    DEPLOYMENTS,
    NODES,
    PODS,
    REPLICASETS,
    Kubelet,
    condition_true,
    controller_uid,
    get_condition,
    is_active,
    is_terminating,
    pod_ready,
    seconds_since,
    set_pod_condition,
    tolerate,
)
from drill.controllers.nodes import MetricsController, NodeController
from drill.seed_workloads import make_pod, make_replicaset, stable_uid, template_hash
from drill.state import ClusterState, Obj, rfc3339

__all__ = [
    "DeploymentController",
    "Kubelet",
    "MetricsController",
    "NodeController",
    "ReplicaSetController",
    "SimConfig",
    "controllers",
]

log = logging.getLogger(__name__)

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
#: Pod names are a function of the ReplicaSet's name and an index (drill/seed_workloads.py
#: make_pod), the seed's pods taking indexes 0, 1, ...; the controller's start here, so a
#: replacement never takes the name of the seeded pod it replaces (an evicted pod's name on
#: its successor would read as the same pod).
FIRST_CONTROLLER_INDEX = 1000


def controllers(state: ClusterState, recorder: EventRecorder,
                config: SimConfig) -> list[Controller]:
    """The workload controllers in the order one tick should run them: owners before what
    they own, so a scale-up becomes pods and the pods start within the same tick."""
    return [DeploymentController(state, recorder, config),
            ReplicaSetController(state, recorder, config),
            Kubelet(state, recorder, config),
            NodeController(state, recorder, config),
            MetricsController(state, recorder, config)]


# ------------------------------------------------------------------------------ helpers


def _replicas(obj: Obj) -> int:
    value = (obj.get("spec") or {}).get("replicas", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _status_int(obj: Obj, key: str) -> int:
    value = (obj.get("status") or {}).get(key)
    return value if isinstance(value, int) else 0


def _revision(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _without_hash(template: Any) -> Any:
    if not isinstance(template, dict):
        return template
    labels = (template.get("metadata") or {}).get("labels")
    if not isinstance(labels, dict) or HASH_LABEL not in labels:
        return template
    meta = dict(template["metadata"])
    meta["labels"] = {k: v for k, v in labels.items() if k != HASH_LABEL}
    return {**template, "metadata": meta}


def templates_equal(a: Any, b: Any) -> bool:
    """Pod templates equal ignoring ``pod-template-hash`` (the controller's EqualIgnoreHash)."""
    return bool(_without_hash(a) == _without_hash(b))


def _int_or_percent(value: Any, total: int, round_up: bool, default: str) -> int:
    if value is None:
        value = default
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    text = str(value).strip()
    try:
        if text.endswith("%"):
            scaled = float(text[:-1]) * total / 100
            return max(math.ceil(scaled) if round_up else math.floor(scaled), 0)
        return max(int(text), 0)
    except ValueError:
        return 0


def fenceposts(deploy: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate Deployment, resolved against its replicas:
    surge rounds up, unavailable rounds down, and both zero would deadlock so unavailable
    becomes 1 (ResolveFenceposts)."""
    spec = deploy.get("spec") or {}
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    replicas = _replicas(deploy)
    surge = _int_or_percent(rolling.get("maxSurge"), replicas, True, "25%")
    unavailable = _int_or_percent(rolling.get("maxUnavailable"), replicas, False, "25%")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _is_recreate(deploy: Obj) -> bool:
    return ((deploy.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate"


def _max_unavailable(deploy: Obj) -> int:
    """The unavailability the Available condition tolerates (0 for Recreate and no replicas)."""
    replicas = _replicas(deploy)
    if _is_recreate(deploy) or replicas == 0:
        return 0
    return min(fenceposts(deploy)[1], replicas)


def _created(obj: Obj) -> tuple[str, str]:
    return (str(obj["metadata"].get("creationTimestamp", "")), obj["metadata"]["name"])


def _set_deploy_condition(conds: list[Obj], ctype: str, status: str, reason: str,
                          message: str, ts: str) -> None:
    """SetDeploymentCondition: no change when status and reason are the same; otherwise
    replace it, keeping ``lastTransitionTime`` unless the status flips."""
    new = {"type": ctype, "status": status, "lastUpdateTime": ts, "lastTransitionTime": ts,
           "reason": reason, "message": message}
    for i, cond in enumerate(conds):
        if cond.get("type") == ctype:
            if cond.get("status") == status and cond.get("reason") == reason:
                return
            if cond.get("status") == status and cond.get("lastTransitionTime"):
                new["lastTransitionTime"] = cond["lastTransitionTime"]
            conds[i] = new
            return
    conds.append(new)


# ------------------------------------------------------------------------------ deployments


class DeploymentController:
    """Deployment -> ReplicaSets, revisions, rollouts and Deployment status."""

    name = "deployment-controller"

    def __init__(self, state: ClusterState, recorder: EventRecorder, config: SimConfig) -> None:
        self.state = state
        self.recorder = recorder
        self.config = config
        #: Mixed into new ReplicaSets' uids, so a ReplicaSet deleted and recreated within the
        #: same second does not inherit its predecessor's terminating pods.
        self._serial = 0

    def reconcile(self, now: datetime) -> None:
        rs_by_owner: dict[str, list[Obj]] = {}
        for rs in self.state.readable(REPLICASETS):
            uid = controller_uid(rs)
            if uid:
                rs_by_owner.setdefault(uid, []).append(rs)
        pods_by_owner: dict[str, int] = {}
        for pod in self.state.readable(PODS):
            uid = controller_uid(pod)
            if uid:
                pods_by_owner[uid] = pods_by_owner.get(uid, 0) + 1
        for deploy in self.state.readable(DEPLOYMENTS):
            if is_terminating(deploy):
                continue
            with tolerate(self.name, deploy):
                owned = rs_by_owner.get(str(deploy["metadata"].get("uid")), [])
                self._sync(deploy, [rs for rs in owned if not is_terminating(rs)],
                           pods_by_owner, now)

    def _sync(self, deploy: Obj, owned: list[Obj], pods_by_owner: dict[str, int],
              now: datetime) -> None:
        spec = deploy["spec"]
        template = spec.get("template")
        matching = sorted((rs for rs in owned
                           if templates_equal((rs.get("spec") or {}).get("template"), template)),
                          key=_created)
        new_rs = matching[0] if matching else None
        olds = [rs for rs in owned if rs is not new_rs]
        paused = bool(spec.get("paused"))
        created = False
        if new_rs is None and not paused:
            new_rs = self._create_rs(deploy, olds, pods_by_owner, now)
            if new_rs is None:
                return  # a hash collision was recorded; the next tick tries the new name
            created = True
        elif new_rs is not None:
            new_rs = self._sync_revision(new_rs, olds)
        if new_rs is not None:
            revision = (new_rs["metadata"].get("annotations") or {}).get(REVISION)
            if revision and (deploy["metadata"].get("annotations") or {}).get(
                    REVISION) != revision:
                deploy = self._set_annotation(deploy, REVISION, revision)
        if paused:
            new_rs, olds = self._scale_paused(deploy, new_rs, olds)
        elif new_rs is not None:
            if _is_recreate(deploy):
                new_rs, olds = self._recreate(deploy, new_rs, olds, pods_by_owner)
            else:
                new_rs, olds = self._rolling(deploy, new_rs, olds)
        olds = self._cleanup(deploy, olds)
        self._update_status(deploy, new_rs, olds, created, now)

    # --------------------------------------------------------------------------- revisions

    def _create_rs(self, deploy: Obj, olds: list[Obj], pods_by_owner: dict[str, int],
                   now: datetime) -> Obj | None:
        """Create the ReplicaSet of the current template, sized for the rollout's first step.

        The name is ``<deployment>-<pod-template-hash>``; when another object already has it
        (a hash collision), bump ``status.collisionCount`` and try again next tick, like the
        real controller.
        """
        meta, spec = deploy["metadata"], deploy["spec"]
        ns = meta["namespace"]
        collisions = (deploy.get("status") or {}).get("collisionCount")
        revision = max((_revision(rs) for rs in olds), default=0) + 1
        rs = make_replicaset(deploy, revision, now, replicas=0)
        if isinstance(collisions, int):
            pth = template_hash(spec["template"], collisions)
            rs["metadata"]["name"] = f"{meta['name']}-{pth}"
            rs["metadata"]["labels"][HASH_LABEL] = pth
            rs["spec"]["selector"]["matchLabels"][HASH_LABEL] = pth
            rs["spec"]["template"]["metadata"]["labels"][HASH_LABEL] = pth
        name = rs["metadata"]["name"]
        if self.state.find_readable(REPLICASETS, ns, name) is not None:
            def bump(d: Obj) -> Obj:
                d.setdefault("status", {})["collisionCount"] = (collisions or 0) + 1
                return d
            self.state.mutate(DEPLOYMENTS, ns, meta["name"], bump, subresource="status")
            return None
        self._serial += 1
        rs["metadata"]["uid"] = stable_uid("apps/v1", "ReplicaSet", ns, name,
                                           rfc3339(now), str(self._serial))
        rs["status"] = {"replicas": 0, "observedGeneration": 1}
        replicas = _replicas(deploy)
        surge, _unavailable = fenceposts(deploy)
        if _is_recreate(deploy):
            old_pods = sum(pods_by_owner.get(str(o["metadata"].get("uid")), 0) for o in olds)
            size = replicas if old_pods == 0 and not any(_replicas(o) for o in olds) else 0
            surge = 0
        else:
            size = self._new_size(deploy, 0, olds)
        rs["spec"]["replicas"] = size
        rs["metadata"]["annotations"][DESIRED_REPLICAS] = str(replicas)
        rs["metadata"]["annotations"][MAX_REPLICAS] = str(replicas + surge)
        out = self.state.create(REPLICASETS, rs)
        if size:
            self.recorder.record(deploy, "Normal", "ScalingReplicaSet",
                                 f"Scaled up replica set {name} from 0 to {size}", self.name)
        return out

    def _sync_revision(self, new_rs: Obj, olds: list[Obj]) -> Obj:
        """Keep the current ReplicaSet's revision above every old one. When an old template
        comes back (a rollback), its ReplicaSet gets the next revision and remembers its old
        number in ``revision-history``, as SetNewReplicaSetAnnotations does."""
        wanted = max((_revision(rs) for rs in olds), default=0) + 1
        current = _revision(new_rs)
        if current >= wanted:
            return new_rs
        had = REVISION in (new_rs["metadata"].get("annotations") or {})

        def bump(rs: Obj) -> Obj:
            ann = rs["metadata"].setdefault("annotations", {})
            ann[REVISION] = str(wanted)
            if had:
                history = [h for h in str(ann.get(REVISION_HISTORY, "")).split(",") if h]
                ann[REVISION_HISTORY] = ",".join([*history, str(current)])
            return rs
        meta = new_rs["metadata"]
        return self.state.mutate(REPLICASETS, meta["namespace"], meta["name"], bump)

    def _set_annotation(self, deploy: Obj, key: str, value: str) -> Obj:
        def put(d: Obj) -> Obj:
            d["metadata"].setdefault("annotations", {})[key] = value
            return d
        meta = deploy["metadata"]
        return self.state.mutate(DEPLOYMENTS, meta["namespace"], meta["name"], put)

    # --------------------------------------------------------------------------- scaling

    def _scale(self, deploy: Obj, rs: Obj, size: int) -> Obj:
        """Set a ReplicaSet's replicas (and the desired/max annotations), with the event."""
        before = _replicas(rs)
        if before == size:
            return rs
        replicas = _replicas(deploy)
        surge = 0 if _is_recreate(deploy) else fenceposts(deploy)[0]

        def put(obj: Obj) -> Obj:
            obj["spec"]["replicas"] = size
            ann = obj["metadata"].setdefault("annotations", {})
            ann[DESIRED_REPLICAS] = str(replicas)
            ann[MAX_REPLICAS] = str(replicas + surge)
            return obj
        meta = rs["metadata"]
        out = self.state.mutate(REPLICASETS, meta["namespace"], meta["name"], put)
        direction = "up" if size > before else "down"
        self.recorder.record(deploy, "Normal", "ScalingReplicaSet",
                             f"Scaled {direction} replica set {meta['name']} from {before} to "
                             f"{size}", self.name)
        return out

    def _new_size(self, deploy: Obj, current: int, olds: list[Obj]) -> int:
        """NewRSNewReplicas: grow the new ReplicaSet as far as maxSurge allows."""
        replicas = _replicas(deploy)
        if current >= replicas:
            return replicas
        surge, _ = fenceposts(deploy)
        total = current + sum(_replicas(rs) for rs in olds)
        room = replicas + surge - total
        return current + max(0, min(room, replicas - current))

    def _rolling(self, deploy: Obj, new_rs: Obj, olds: list[Obj]) -> tuple[Obj, list[Obj]]:
        """One step of a RollingUpdate: scale the new ReplicaSet up within maxSurge, then the
        old ones down within maxUnavailable, counting only available (ready) pods."""
        new_rs = self._scale(deploy, new_rs, self._new_size(deploy, _replicas(new_rs), olds))
        if not any(_replicas(rs) for rs in olds):
            return new_rs, olds
        replicas = _replicas(deploy)
        _, unavailable = fenceposts(deploy)
        min_available = replicas - unavailable
        all_rs = [new_rs, *olds]
        total = sum(_replicas(rs) for rs in all_rs)
        new_unavailable = _replicas(new_rs) - _status_int(new_rs, "availableReplicas")
        budget = total - min_available - new_unavailable
        if budget <= 0:
            return new_rs, olds
        olds = sorted(olds, key=_created)
        # First drop old pods that are not available anyway (cleanupUnhealthyReplicas): that is
        # what unsticks a rollout from a bad image when a good one follows.
        spent = 0
        for i, rs in enumerate(olds):
            if spent >= budget:
                break
            unhealthy = _replicas(rs) - _status_int(rs, "availableReplicas")
            if _replicas(rs) == 0 or unhealthy <= 0:
                continue
            cut = min(budget - spent, unhealthy)
            olds[i] = self._scale(deploy, rs, _replicas(rs) - cut)
            spent += cut
        available = sum(_status_int(rs, "availableReplicas") for rs in all_rs)
        if available <= min_available:
            return new_rs, olds
        allowed, done = available - min_available, 0
        for i, rs in enumerate(olds):
            if done >= allowed:
                break
            if _replicas(rs) == 0:
                continue
            cut = min(_replicas(rs), allowed - done)
            olds[i] = self._scale(deploy, rs, _replicas(rs) - cut)
            done += cut
        return new_rs, olds

    def _recreate(self, deploy: Obj, new_rs: Obj, olds: list[Obj],
                  pods_by_owner: dict[str, int]) -> tuple[Obj, list[Obj]]:
        """Recreate: every old pod gone before the new ReplicaSet grows."""
        if any(_replicas(rs) for rs in olds):
            return new_rs, [self._scale(deploy, rs, 0) for rs in olds]
        if any(pods_by_owner.get(str(rs["metadata"].get("uid")), 0) for rs in olds):
            return new_rs, olds
        return self._scale(deploy, new_rs, _replicas(deploy)), olds

    def _scale_paused(self, deploy: Obj, new_rs: Obj | None,
                      olds: list[Obj]) -> tuple[Obj | None, list[Obj]]:
        """A paused Deployment does not roll out, but a scale with one active ReplicaSet still
        lands on it (``kubectl scale`` works on paused Deployments)."""
        active = [rs for rs in [new_rs, *olds] if rs is not None and _replicas(rs) > 0]
        target: Obj | None = None
        if len(active) == 1:
            target = active[0]
        elif not active:  # FindActiveOrLatest: the current one, else the newest old one
            target = new_rs or max(olds, key=lambda rs: (_revision(rs), _created(rs)),
                                   default=None)
        if target is None:
            return new_rs, olds
        scaled = self._scale(deploy, target, _replicas(deploy))
        if target is new_rs:
            return scaled, olds
        return new_rs, [scaled if rs is target else rs for rs in olds]

    def _cleanup(self, deploy: Obj, olds: list[Obj]) -> list[Obj]:
        """Delete the oldest fully scaled-down ReplicaSets beyond ``revisionHistoryLimit``."""
        limit = (deploy.get("spec") or {}).get("revisionHistoryLimit", 10)
        if not isinstance(limit, int):
            limit = 10
        idle = [rs for rs in olds
                if _replicas(rs) == 0 and _status_int(rs, "replicas") == 0
                and _status_int(rs, "observedGeneration") >= rs["metadata"].get("generation", 1)]
        excess = len(idle) - max(limit, 0)
        if excess <= 0:
            return olds
        gone = sorted(idle, key=lambda rs: (_revision(rs), _created(rs)))[:excess]
        for rs in gone:
            with tolerate(self.name, rs):
                self.state.delete(REPLICASETS, rs["metadata"]["namespace"],
                                  rs["metadata"]["name"])
        return [rs for rs in olds if not any(rs is g for g in gone)]

    # --------------------------------------------------------------------------- status

    def _update_status(self, deploy: Obj, new_rs: Obj | None, olds: list[Obj], created: bool,
                       now: datetime) -> None:
        """calculateStatus + syncRolloutStatus, written only when something changed."""
        meta = deploy["metadata"]
        old: Obj = deploy.get("status") or {}
        all_rs = [rs for rs in [new_rs, *olds] if rs is not None]
        replicas = _replicas(deploy)
        available = sum(_status_int(rs, "availableReplicas") for rs in all_rs)
        status: Obj = {
            **{k: v for k, v in old.items() if k not in ("unavailableReplicas", "conditions")},
            "observedGeneration": meta.get("generation", 1),
            "replicas": sum(_status_int(rs, "replicas") for rs in all_rs),
            "updatedReplicas": _status_int(new_rs, "replicas") if new_rs else 0,
            "readyReplicas": sum(_status_int(rs, "readyReplicas") for rs in all_rs),
            "availableReplicas": available,
        }
        unavailable = sum(_replicas(rs) for rs in all_rs) - available
        if unavailable > 0:
            status["unavailableReplicas"] = unavailable
        ts = rfc3339(now)
        conds: list[Obj] = copy.deepcopy(old.get("conditions") or [])
        if available >= replicas - _max_unavailable(deploy):
            _set_deploy_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                                  "Deployment has minimum availability.", ts)
        else:
            _set_deploy_condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                                  "Deployment does not have minimum availability.", ts)
        self._progress(deploy, status, conds, new_rs, created, now)
        status["conditions"] = conds
        if status != old:
            self.state.mutate(DEPLOYMENTS, meta["namespace"], meta["name"],
                              lambda d: {**d, "status": status}, subresource="status")

    def _progress(self, deploy: Obj, status: Obj, conds: list[Obj], new_rs: Obj | None,
                  created: bool, now: datetime) -> None:
        """The Progressing condition, with the progress deadline (syncRolloutStatus)."""
        ts = rfc3339(now)
        spec = deploy.get("spec") or {}
        if spec.get("paused"):
            _set_deploy_condition(conds, "Progressing", "Unknown", "DeploymentPaused",
                                  "Deployment is paused", ts)
            return
        current = get_condition({"status": {"conditions": conds}}, "Progressing")
        if current is not None and current.get("reason") == "DeploymentPaused":
            _set_deploy_condition(conds, "Progressing", "Unknown", "DeploymentResumed",
                                  "Deployment is resumed", ts)
        if new_rs is None:
            return
        rs_name = new_rs["metadata"]["name"]
        if created:
            _set_deploy_condition(conds, "Progressing", "True", "NewReplicaSetCreated",
                                  f'Created new replica set "{rs_name}"', ts)
        elif current is None:
            _set_deploy_condition(conds, "Progressing", "True", "FoundNewReplicaSet",
                                  f'Found new replica set "{rs_name}"', ts)
        current = get_condition({"status": {"conditions": conds}}, "Progressing")
        replicas = _replicas(deploy)
        if (current is not None and status["replicas"] == status["updatedReplicas"]
                and current.get("reason") == "NewReplicaSetAvailable"):
            return  # complete, and already said so
        old: Obj = deploy.get("status") or {}
        complete = (status["updatedReplicas"] == replicas and status["replicas"] == replicas
                    and status["availableReplicas"] == replicas
                    and status["observedGeneration"] >= deploy["metadata"].get("generation", 1))
        progressed = (
            status["updatedReplicas"] > old.get("updatedReplicas", 0)
            or status["replicas"] - status["updatedReplicas"]
            < old.get("replicas", 0) - old.get("updatedReplicas", 0)
            or status["readyReplicas"] > old.get("readyReplicas", 0)
            or status["availableReplicas"] > old.get("availableReplicas", 0))
        deadline = spec.get("progressDeadlineSeconds", 600)
        if complete:
            _set_deploy_condition(conds, "Progressing", "True", "NewReplicaSetAvailable",
                                  f'ReplicaSet "{rs_name}" has successfully progressed.', ts)
        elif progressed:
            # Progress refreshes lastUpdateTime even when the reason stays ReplicaSetUpdated:
            # the deadline counts from the last progress, not from the rollout's start.
            new = {"type": "Progressing", "status": "True", "lastUpdateTime": ts,
                   "lastTransitionTime": ts, "reason": "ReplicaSetUpdated",
                   "message": f'ReplicaSet "{rs_name}" is progressing.'}
            for i, cond in enumerate(conds):
                if cond.get("type") == "Progressing":
                    if cond.get("status") == "True" and cond.get("lastTransitionTime"):
                        new["lastTransitionTime"] = cond["lastTransitionTime"]
                    conds[i] = new
                    break
            else:
                conds.append(new)
        elif current is not None and isinstance(deadline, int) and (
                current.get("reason") == "ProgressDeadlineExceeded"
                or seconds_since(current.get("lastUpdateTime"), now) > deadline):
            _set_deploy_condition(conds, "Progressing", "False", "ProgressDeadlineExceeded",
                                  f'ReplicaSet "{rs_name}" has timed out progressing.', ts)


# ------------------------------------------------------------------------------ replica sets


def _tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for tol in tolerations:
        if not isinstance(tol, dict):
            continue
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (
                taint.get("value") or ""):
            return True
    return False


class _Scheduler:
    """The default scheduler's filters and a simple spread, for one tick's pods and nodes."""

    def __init__(self, nodes: list[Obj], pods: list[Obj]) -> None:
        self.nodes = sorted(nodes, key=lambda n: n["metadata"]["name"])
        self.load: dict[str, int] = {}
        self.mine: dict[tuple[str, str | None], int] = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if node and is_active(pod):
                self.place(node, controller_uid(pod))

    def place(self, node: str, owner: str | None) -> None:
        self.load[node] = self.load.get(node, 0) + 1
        self.mine[(node, owner)] = self.mine.get((node, owner), 0) + 1

    def pick(self, pod_spec: Obj, owner: str | None) -> tuple[str | None, str]:
        """The node for a pod (fewest pods of its owner, then fewest pods), or None and the
        scheduler's "0/N nodes are available" message."""
        selector = pod_spec.get("nodeSelector") or {}
        tolerations = pod_spec.get("tolerations") or []
        reasons: dict[str, int] = {}
        fits: list[tuple[int, int, str]] = []
        for node in self.nodes:
            name = node["metadata"]["name"]
            labels = node["metadata"].get("labels") or {}
            taints = [t for t in (node.get("spec") or {}).get("taints") or ()
                      if isinstance(t, dict) and t.get("effect") in ("NoSchedule", "NoExecute")]
            untolerated = next((t for t in taints if not _tolerates(tolerations, t)), None)
            capacity = str(((node.get("status") or {}).get("allocatable") or {}).get(
                "pods", "110"))
            if untolerated is not None:
                why = (f"node(s) had untolerated taint {{{untolerated.get('key')}: "
                       f"{untolerated.get('value') or ''}}}")
            elif not condition_true(node, "Ready"):
                why = "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"
            elif (node.get("spec") or {}).get("unschedulable"):
                why = "node(s) were unschedulable"
            elif any(labels.get(k) != v for k, v in selector.items()):
                why = "node(s) didn't match Pod's node affinity/selector"
            elif capacity.isdigit() and self.load.get(name, 0) >= int(capacity):
                why = "Too many pods"
            else:
                fits.append((self.mine.get((name, owner), 0), self.load.get(name, 0), name))
                continue
            reasons[why] = reasons.get(why, 0) + 1
        if fits:
            node_name = min(fits)[2]
            self.place(node_name, owner)
            return node_name, ""
        total = len(self.nodes)
        detail = ", ".join(sorted(f"{n} {why}" for why, n in reasons.items()))
        message = f"0/{total} nodes are available"
        message += f": {detail}." if detail else "."
        return None, (f"{message} preemption: 0/{total} nodes are available: {total} "
                      "Preemption is not helpful for scheduling.")


def _deletion_rank(pod: Obj) -> tuple[int, int, int, int]:
    """Which pods a scale-down removes first (getPodsToDelete): unscheduled, then pending,
    then not ready, then the most restarted; among equals the newest goes first."""
    status = pod.get("status") or {}
    phase = {"Pending": 0, "Unknown": 1, "Running": 2}.get(str(status.get("phase")), 0)
    restarts = sum(int(cs.get("restartCount") or 0)
                   for cs in status.get("containerStatuses") or ())
    return (1 if (pod.get("spec") or {}).get("nodeName") else 0, phase,
            1 if pod_ready(pod) else 0, -restarts)


class ReplicaSetController:
    """ReplicaSet -> pods, and the default scheduler for pods waiting for a node."""

    name = "replicaset-controller"

    def __init__(self, state: ClusterState, recorder: EventRecorder, config: SimConfig) -> None:
        self.state = state
        self.recorder = recorder
        self.config = config
        #: Per-ReplicaSet counter mixed into pod names (make_pod's ``index``), from
        #: :data:`FIRST_CONTROLLER_INDEX`.
        self._serial: dict[str, int] = {}
        #: Pod uid -> (message, scenario time) of its last FailedScheduling event, so a pod
        #: that cannot be placed is retried every tick but reported once a minute.
        self._unschedulable: dict[str, tuple[str, float]] = {}

    def reconcile(self, now: datetime) -> None:
        pods = self.state.readable(PODS)
        scheduler = _Scheduler(self.state.readable(NODES), pods)
        by_owner: dict[str, list[Obj]] = {}
        waiting: set[str] = set()
        for pod in pods:
            uid = controller_uid(pod)
            if uid:
                by_owner.setdefault(uid, []).append(pod)
            spec = pod.get("spec") or {}
            if not spec.get("nodeName") and is_active(pod) and spec.get(
                    "schedulerName", "default-scheduler") == "default-scheduler":
                waiting.add(str(pod["metadata"].get("uid")))
                with tolerate("default-scheduler", pod):
                    self._bind(pod, scheduler, now)
        for rs in self.state.readable(REPLICASETS):
            if is_terminating(rs):
                continue
            with tolerate(self.name, rs):
                uid = str(rs["metadata"].get("uid"))
                self._sync(rs, by_owner.get(uid, []), scheduler, waiting, now)
        for uid in set(self._unschedulable) - waiting:
            del self._unschedulable[uid]
        live = {str(rs["metadata"].get("uid")) for rs in self.state.readable(REPLICASETS)}
        for uid in set(self._serial) - live:
            del self._serial[uid]

    # --------------------------------------------------------------------------- scheduling

    def _bind(self, pod: Obj, scheduler: _Scheduler, now: datetime) -> None:
        """Retry placing a pending pod; the kubelet of its node takes it from there."""
        meta = pod["metadata"]
        node, why = scheduler.pick(pod.get("spec") or {}, controller_uid(pod))
        if node is None:
            self._unschedulable_status(pod, why, now)
            return

        def bind(p: Obj) -> Obj:
            p["spec"]["nodeName"] = node
            return p
        bound = self.state.mutate(PODS, meta["namespace"], meta["name"], bind)
        self._unschedulable.pop(str(meta.get("uid")), None)
        self.recorder.record(bound, "Normal", "Scheduled",
                             f"Successfully assigned {meta['namespace']}/{meta['name']} to "
                             f"{node}", "default-scheduler")

    def _unschedulable_status(self, pod: Obj, why: str, now: datetime) -> None:
        meta = pod["metadata"]
        cond = get_condition(pod, "PodScheduled")
        if cond is None or cond.get("message") != why or cond.get("status") != "False":
            def put(p: Obj) -> Obj:
                status = p.setdefault("status", {})
                status.setdefault("phase", "Pending")
                set_pod_condition(status.setdefault("conditions", []), "PodScheduled", "False",
                                  rfc3339(now), "Unschedulable", why)
                return p
            pod = self.state.mutate(PODS, meta["namespace"], meta["name"], put,
                                    subresource="status")
        uid = str(meta.get("uid"))
        last = self._unschedulable.get(uid)
        t = now.timestamp()
        if last is None or last[0] != why or t - last[1] >= 60:
            self._unschedulable[uid] = (why, t)
            self.recorder.record(pod, "Warning", "FailedScheduling", why, "default-scheduler")

    # --------------------------------------------------------------------------- replicas

    def _sync(self, rs: Obj, owned: list[Obj], scheduler: _Scheduler, waiting: set[str],
              now: datetime) -> None:
        meta = rs["metadata"]
        active = [p for p in owned if is_active(p)]
        diff = _replicas(rs) - len(active)
        if diff > 0:
            for _ in range(min(diff, 500)):  # a burst limit, like the controller's slow start
                pod = self._create_pod(rs, scheduler, waiting, now)
                if pod is None:
                    break
                active.append(pod)
        elif diff < 0:
            by_age = sorted(active, key=_created, reverse=True)
            for pod in sorted(by_age, key=_deletion_rank)[:-diff]:
                with tolerate(self.name, pod):
                    pmeta = pod["metadata"]
                    self.state.delete(PODS, pmeta["namespace"], pmeta["name"])
                    self.recorder.record(rs, "Normal", "SuccessfulDelete",
                                         f"Deleted pod: {pmeta['name']}", self.name)
                    active.remove(pod)
        template_labels = ((rs.get("spec") or {}).get("template") or {}).get(
            "metadata", {}).get("labels") or {}
        ready = sum(1 for p in active if pod_ready(p))
        counts = {
            "replicas": len(active),
            "fullyLabeledReplicas": sum(
                1 for p in active
                if all((p["metadata"].get("labels") or {}).get(k) == v
                       for k, v in template_labels.items())),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": meta.get("generation", 1),
        }
        old = rs.get("status") or {}
        if any(old.get(k, 0) != v for k, v in counts.items()):
            status = {**old, **counts}
            self.state.mutate(REPLICASETS, meta["namespace"], meta["name"],
                              lambda r: {**r, "status": status}, subresource="status")

    def _create_pod(self, rs: Obj, scheduler: _Scheduler, waiting: set[str],
                    now: datetime) -> Obj | None:
        """Create one pod of ``rs``, bound to a node at once when one fits."""
        meta = rs["metadata"]
        uid = str(meta.get("uid"))
        template = (rs.get("spec") or {}).get("template") or {}
        node, why = scheduler.pick(template.get("spec") or {}, uid)
        while True:
            index = self._serial.get(uid, FIRST_CONTROLLER_INDEX)
            self._serial[uid] = index + 1
            pod = make_pod(rs, node or "", index, now, running=False)
            if self.state.find(PODS, meta["namespace"], pod["metadata"]["name"]) is None:
                break
        if node is None:
            del pod["spec"]["nodeName"]
            pod["status"] = {"phase": "Pending", "qosClass": pod["status"].get("qosClass"),
                             "conditions": []}
            set_pod_condition(pod["status"]["conditions"], "PodScheduled", "False",
                              rfc3339(now), "Unschedulable", why)
        try:
            out = self.state.create(PODS, pod)
        except Exception:
            if node is not None:  # give the slot back
                scheduler.load[node] -= 1
                scheduler.mine[(node, uid)] -= 1
            raise
        self.recorder.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {out['metadata']['name']}",
                             self.name)
        if node is not None:
            self.recorder.record(out, "Normal", "Scheduled",
                                 f"Successfully assigned {meta['namespace']}/"
                                 f"{out['metadata']['name']} to {node}", "default-scheduler")
        else:
            puid = str(out["metadata"].get("uid"))
            waiting.add(puid)
            self._unschedulable[puid] = (why, now.timestamp())
            self.recorder.record(out, "Warning", "FailedScheduling", why, "default-scheduler")
        return out
