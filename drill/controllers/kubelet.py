"""The drill cluster's kubelets: the pod lifecycle on every node whose kubelet is running.

One controller plays every node's kubelet. Each tick it looks at every pod bound to a live node
and moves it one step along the path a real kubelet takes, reading the timing from the pod
itself (when it was scheduled, when a container started, when it last crashed), so the
controller keeps no state that interference could make stale:

    ContainerCreating -> Running (started, not ready) -> Ready
    bad image:  Running -> Error (exit 1) -> CrashLoopBackOff (10s, 20s, ... 5m) -> Running ...
    OOM image:  Running -> Ready -> OOMKilled (exit 137) -> CrashLoopBackOff -> Running ...
    deleted:    Terminating (containers not ready) -> gone after the grace period

Status is written only when it changed, and the fast path for a healthy Running pod does no
copying at all, so an idle drill cluster costs next to nothing and emits no watch events.

The small helpers at the top (timestamps, conditions, readiness, ownership) are shared by the
other simulated workload controllers (:mod:`drill.controllers.workloads`,
:mod:`drill.controllers.nodes`), which is why they live here, at the bottom of the import chain.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from drill import errors
from drill.controllers.config import SimConfig
from drill.controllers.core import EventRecorder, ident, unreadable
from drill.resources import BY_KEY
from drill.seed_workloads import image_digest
from drill.state import ClusterState, Obj, rfc3339

log = logging.getLogger(__name__)

PODS = BY_KEY["pods"]
NODES = BY_KEY["nodes"]
REPLICASETS = BY_KEY["replicasets.apps"]
DEPLOYMENTS = BY_KEY["deployments.apps"]

#: Condition order of a pod as the kubelet writes it.
POD_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                  "PodScheduled")

# ------------------------------------------------------------------------------ shared helpers


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp from an object, or None when absent or malformed (a hand edit)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def seconds_since(value: Any, now: datetime, default: float = 0.0) -> float:
    """Scenario seconds from a stored timestamp to ``now`` (``default`` when it is missing)."""
    moment = parse_time(value)
    return default if moment is None else (now - moment).total_seconds()


def is_terminating(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def controller_uid(obj: Obj) -> str | None:
    """The uid of the object's managing controller (the ownerReference with controller=true)."""
    for ref in obj["metadata"].get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller"):
            uid = ref.get("uid")
            return uid if isinstance(uid, str) else None
    return None


def get_condition(obj: Obj, ctype: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return None


def condition_true(obj: Obj, ctype: str) -> bool:
    cond = get_condition(obj, ctype)
    return cond is not None and cond.get("status") == "True"


def is_active(pod: Obj) -> bool:
    """Counts toward its ReplicaSet: not terminating and not finished (FilterActivePods)."""
    return not is_terminating(pod) and (pod.get("status") or {}).get("phase") not in (
        "Succeeded", "Failed")


def pod_ready(pod: Obj) -> bool:
    """Ready and not terminating: what a ReplicaSet counts as ready (and available)."""
    return not is_terminating(pod) and condition_true(pod, "Ready")


def set_pod_condition(conditions: list[Obj], ctype: str, status: str, when: str,
                      reason: str = "", message: str = "") -> None:
    """Set a pod condition in place, keeping ``lastTransitionTime`` unless the status flips.

    Reason and message travel with False conditions only, as the kubelet writes them.
    """
    new: Obj = {"type": ctype, "status": status, "lastProbeTime": None,
                "lastTransitionTime": when}
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message
    for i, cond in enumerate(conditions):
        if cond.get("type") == ctype:
            if cond.get("status") == status and cond.get("lastTransitionTime"):
                new["lastTransitionTime"] = cond["lastTransitionTime"]
            conditions[i] = new
            return
    order = {name: i for i, name in enumerate(POD_CONDITIONS)}
    rank = order.get(ctype, len(order))
    at = next((i for i, c in enumerate(conditions)
               if order.get(str(c.get("type")), len(order)) > rank), len(conditions))
    conditions.insert(at, new)


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration`` text for whole seconds (``10s``, ``2m40s``, ``5m0s``)."""
    total = int(seconds)
    minutes, secs = divmod(total, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


@contextmanager
def tolerate(controller: str, obj: Obj) -> Iterator[None]:
    """Wrap one object's reconcile: a write that raced with interference (NotFound, Conflict)
    is dropped and retried from the truth on the next tick; an object this controller cannot
    read or write (a shape the write checks did not catch, a refused write) is skipped, and
    reported once per object version (:func:`~drill.controllers.core.unreadable`).

    Catching per object rather than per controller keeps one deleted or malformed object
    from stalling every other object in the same pass.
    """
    try:
        yield
    except errors.ApiError as exc:
        if exc.code in (404, 409):
            log.debug("%s %s: %s", controller, ident(obj), exc.message)
        else:
            unreadable(controller, obj, exc)
    except Exception as exc:  # noqa: BLE001 - one bad object must not stop the controller
        unreadable(controller, obj, exc)


# ------------------------------------------------------------------------------ the kubelet


def _container_id(pod: Obj, container: str, restarts: int) -> str:
    seed = f"{pod['metadata'].get('uid')}/{container}/{restarts}"
    return "containerd://" + hashlib.sha256(seed.encode()).hexdigest()


def _node_ip(node: Obj) -> str:
    for addr in (node.get("status") or {}).get("addresses") or ():
        if addr.get("type") == "InternalIP":
            return str(addr.get("address"))
    return "10.224.0.4"


def _pod_ip(pod: Obj, node: Obj) -> str:
    """An address from the node's pod CIDR, stable for the pod's name."""
    cidr = str((node.get("spec") or {}).get("podCIDR") or "10.244.0.0/24")
    prefix = cidr.split("/", 1)[0].rsplit(".", 1)[0]
    n = int(hashlib.sha256(pod["metadata"]["name"].encode()).hexdigest()[:8], 16)
    return f"{prefix}.{2 + n % 250}"


Event = tuple[str, str, str]  # (type, reason, message)


class Kubelet:
    """Every live node's kubelet: runs, crash-loops, readies and terminates the pods bound to
    it. Nodes in ``config.down_nodes`` are skipped entirely (their kubelet is dead); the node
    controller takes over their pods."""

    name = "kubelet"

    def __init__(self, state: ClusterState, recorder: EventRecorder, config: SimConfig) -> None:
        self.state = state
        self.recorder = recorder
        self.config = config
        # Deletes of pods now mark them Terminating; this controller finishes them.
        state.graceful.add("pods")
        #: Pods whose Killing events were recorded (so each is recorded once).
        self._killing: set[str] = set()
        #: (pod uid, container) whose image pull has begun: Pulling is reported when the pull
        #: starts, Pulled when the container is created, as a real kubelet's events read.
        self._pulling: set[tuple[str, str]] = set()

    def reconcile(self, now: datetime) -> None:
        nodes = {n["metadata"]["name"]: n for n in self.state.readable(NODES)}
        # A node that exists but cannot be read is not a vanished node: its pods stay.
        unreadable = {n["metadata"]["name"] for n in self.state.objects(NODES)} - set(nodes)
        seen: set[str] = set()
        for pod in self.state.readable(PODS):
            seen.add(str(pod["metadata"].get("uid")))
            if (pod.get("spec") or {}).get("nodeName") in unreadable:
                continue
            with tolerate(self.name, pod):
                self._sync(pod, nodes, now)
        self._killing &= seen
        self._pulling = {key for key in self._pulling if key[0] in seen}

    # --------------------------------------------------------------------------- per pod

    def _sync(self, pod: Obj, nodes: dict[str, Obj], now: datetime) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        node_name = spec.get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if is_terminating(pod):
            if not node_name or node_name not in nodes or phase in ("Succeeded", "Failed"):
                # Nothing runs it: the apiserver removes unscheduled pods at once, and the pod
                # garbage collector those of vanished nodes.
                self.state.delete(PODS, meta["namespace"], meta["name"], grace_seconds=0)
            elif node_name not in self.config.down_nodes:
                self._terminate(pod, now)
            return
        if not node_name or node_name in self.config.down_nodes:
            return
        node = nodes.get(node_name)
        if node is None:
            self.state.delete(PODS, meta["namespace"], meta["name"], grace_seconds=0)
            return
        if self._steady(pod):
            return
        status, events = self._advance(pod, node, now)
        if status != pod.get("status"):
            self.state.mutate(PODS, meta["namespace"], meta["name"],
                              lambda p: {**p, "status": status}, subresource="status")
        for type_, reason, message in events:
            self.recorder.record(pod, type_, reason, message, "kubelet")

    def _steady(self, pod: Obj) -> bool:
        """Running, Ready, every container ready and none from a bad image: nothing to do."""
        status = pod.get("status") or {}
        if status.get("phase") != "Running" or not condition_true(pod, "Ready"):
            return False
        statuses = status.get("containerStatuses") or []
        containers = (pod.get("spec") or {}).get("containers") or []
        if len(statuses) != len(containers):
            return False
        cfg = self.config
        return all(cs.get("ready") and cfg.crash_of(str(cs.get("image"))) is None
                   for cs in statuses)

    def _advance(self, pod: Obj, node: Obj, now: datetime) -> tuple[Obj, list[Event]]:
        """The pod's next status, and the events of the transitions that lead to it."""
        status: Obj = copy.deepcopy(pod.get("status") or {})
        ts = rfc3339(now)
        events: list[Event] = []
        conds: list[Obj] = status.setdefault("conditions", [])
        scheduled = get_condition({"status": status}, "PodScheduled")
        if scheduled is None or scheduled.get("status") != "True":
            # Bound by the scheduler after creation: the kubelet takes over from here.
            set_pod_condition(conds, "PodScheduled", "True", ts)
            scheduled = get_condition({"status": status}, "PodScheduled")
        scheduled_at = parse_time((scheduled or {}).get("lastTransitionTime")) or now
        status.setdefault("phase", "Pending")
        host_ip = _node_ip(node)
        status.setdefault("hostIP", host_ip)
        status.setdefault("hostIPs", [{"ip": host_ip}])
        status.setdefault("startTime", ts)
        set_pod_condition(conds, "Initialized", "True", ts)
        known = {cs.get("name"): cs for cs in status.get("containerStatuses") or ()
                 if isinstance(cs, dict)}
        statuses = []
        for c in (pod.get("spec") or {}).get("containers") or ():
            cs = known.get(c["name"]) or {
                "name": c["name"], "image": c["image"], "imageID": "", "lastState": {},
                "restartCount": 0, "ready": False, "started": False,
                "state": {"waiting": {"reason": "ContainerCreating"}}}
            self._advance_container(pod, c, cs, scheduled_at, now, events)
            statuses.append(cs)
        status["containerStatuses"] = statuses
        ever_started = any(cs.get("started") or cs.get("restartCount") or
                           "running" in (cs.get("state") or {}) for cs in statuses)
        if ever_started:
            status["phase"] = "Running"
            if not status.get("podIP"):
                ip = _pod_ip(pod, node)
                status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
        set_pod_condition(conds, "PodReadyToStartContainers",
                          "True" if ever_started else "False", ts)
        unready = [cs["name"] for cs in statuses if not cs.get("ready")]
        if unready:
            msg = f"containers with unready status: [{' '.join(unready)}]"
            set_pod_condition(conds, "ContainersReady", "False", ts, "ContainersNotReady", msg)
            set_pod_condition(conds, "Ready", "False", ts, "ContainersNotReady", msg)
        else:
            set_pod_condition(conds, "ContainersReady", "True", ts)
            set_pod_condition(conds, "Ready", "True", ts)
        return status, events

    def _advance_container(self, pod: Obj, c: Obj, cs: Obj, scheduled_at: datetime,
                           now: datetime, events: list[Event]) -> None:
        """Move one container status along its lifecycle, as far as ``now`` allows."""
        cfg = self.config
        name, image = c["name"], c["image"]
        pod_ref = (f"{pod['metadata']['name']}_{pod['metadata']['namespace']}"
                   f"({pod['metadata'].get('uid')})")
        ts = rfc3339(now)
        for _ in range(4):  # a few transitions at most, even with zero delays
            state = cs.get("state") or {}
            restarts = int(cs.get("restartCount") or 0)
            if "running" in state:
                ran = seconds_since(state["running"].get("startedAt"), now)
                crash = cfg.crash_of(image)
                if crash is not None and ran >= crash[0]:
                    _, exit_code, reason = crash
                    if exit_code == 1:  # it never came up: the readiness probe says so
                        ip = (pod.get("status") or {}).get("podIP") or "10.244.0.2"
                        port = next((p.get("containerPort") for p in c.get("ports") or ()), 8080)
                        probe = ((c.get("readinessProbe") or {}).get("httpGet") or {}).get(
                            "path", "/healthz")
                        events.append(("Warning", "Unhealthy",
                                       f'Readiness probe failed: Get "http://{ip}:{port}{probe}'
                                       f'": dial tcp {ip}:{port}: connect: connection refused'))
                    restarts += 1
                    delay = self.backoff(restarts)
                    cs["lastState"] = {"terminated": {
                        "exitCode": exit_code, "reason": reason,
                        "startedAt": state["running"].get("startedAt"), "finishedAt": ts,
                        "containerID": cs.get("containerID", "")}}
                    cs.update(restartCount=restarts, ready=False, started=False, state={
                        "waiting": {"reason": "CrashLoopBackOff", "message": (
                            f"back-off {go_duration(delay)} restarting failed "
                            f"container={name} pod={pod_ref}")}})
                    events.append(("Warning", "BackOff", f"Back-off restarting failed container "
                                   f"{name} in pod {pod_ref}"))
                    continue
                if crash is not None and crash[1] == 1:
                    return  # a bad image never passes its readiness probe
                if not cs.get("ready") and ran >= cfg.readiness_seconds:
                    cs["ready"] = True
                return
            if "terminated" in state or (state.get("waiting") or {}).get(
                    "reason") == "CrashLoopBackOff":
                finished = (((cs.get("lastState") or {}).get("terminated") or {}).get(
                    "finishedAt") or (state.get("terminated") or {}).get("finishedAt"))
                if seconds_since(finished, now, default=1e9) < self.backoff(max(restarts, 1)):
                    return
                pulled = f'Container image "{image}" already present on machine'
            else:  # ContainerCreating (or any other waiting reason): pulling and creating
                pulling = (str(pod["metadata"].get("uid")), name)
                if pulling not in self._pulling:
                    self._pulling.add(pulling)
                    events.append(("Normal", "Pulling", f'Pulling image "{image}"'))
                if (now - scheduled_at).total_seconds() < cfg.container_create_seconds:
                    return
                pull = cfg.container_create_seconds * 0.6
                pulled = (f'Successfully pulled image "{image}" in {pull:.3g}s '
                          f"({pull:.3g}s including waiting)")
            events.append(("Normal", "Pulled", pulled))
            events.append(("Normal", "Created", f"Created container {name}"))
            events.append(("Normal", "Started", f"Started container {name}"))
            cs.update(image=image, imageID=image_digest(image),
                      containerID=_container_id(pod, name, restarts), started=True,
                      ready=False, state={"running": {"startedAt": ts}})

    def backoff(self, restarts: int) -> float:
        """CrashLoopBackOff delay after the ``restarts``-th crash: base, doubling, capped."""
        cfg = self.config
        return float(min(cfg.backoff_cap, cfg.backoff_base * 2 ** min(max(restarts - 1, 0), 30)))

    def _terminate(self, pod: Obj, now: datetime) -> None:
        """Graceful termination: containers stop being ready at once, the pod object goes
        when its (shortened) grace period is over."""
        meta = pod["metadata"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        delay = min(float(grace or 0), self.config.termination_seconds)
        if seconds_since(meta.get("deletionTimestamp"), now, default=delay) >= delay:
            self.state.delete(PODS, meta["namespace"], meta["name"], grace_seconds=0)
            return
        uid = str(meta.get("uid"))
        status: Obj = copy.deepcopy(pod.get("status") or {})
        for cs in status.get("containerStatuses") or ():
            cs["ready"] = False
        conds: list[Obj] = status.setdefault("conditions", [])
        ts = rfc3339(now)
        names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or ()]
        msg = f"containers with unready status: [{' '.join(names)}]"
        set_pod_condition(conds, "ContainersReady", "False", ts, "ContainersNotReady", msg)
        set_pod_condition(conds, "Ready", "False", ts, "ContainersNotReady", msg)
        if status != pod.get("status"):
            self.state.mutate(PODS, meta["namespace"], meta["name"],
                              lambda p: {**p, "status": status}, subresource="status")
        if uid not in self._killing:
            self._killing.add(uid)
            for cs in (pod.get("status") or {}).get("containerStatuses") or ():
                if "running" in (cs.get("state") or {}):
                    self.recorder.record(pod, "Normal", "Killing",
                                         f"Stopping container {cs.get('name')}", "kubelet")
