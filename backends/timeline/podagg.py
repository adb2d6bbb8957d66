"""Pod changes aggregated per workload: one line per workload and window, not one per pod.

Why: a rollout of 30 replicas, or a node going away, changes hundreds of pods in seconds; a
line each would bury the one change that matters, and a flood of 1,000 pod events a second
would cost the disk hundreds of MB an hour. So pod changes are summed per owning workload
(the Deployment through its ReplicaSet, else the direct owner, else the pod itself) over a
window that opens at the workload's first change and closes ``window`` seconds later; the
entry's time is that first change, its words the counts: ``2 CrashLoopBackOff (was Running),
restarts +3, 1 created``. The worst status seen in the window is named first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from backends.model import PodRow
from backends.timeline.entry import TimelineEntry

__all__ = ["PodAggregator"]

_BAD = ("CrashLoopBackOff", "Error", "OOMKilled", "ImagePullBackOff", "ErrImagePull",
        "CreateContainerConfigError", "Evicted", "Failed", "Unknown")


@dataclass
class _Window:
    first: float
    namespace: str
    workload: str
    statuses: Counter[str] = field(default_factory=Counter)
    was: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    created: int = 0
    deleted: int = 0
    pods: set[str] = field(default_factory=set)


class PodAggregator:
    """Collects pod transitions and hands out one entry per workload per window.

    ``workload_of`` maps a pod to ``Kind/name`` of its workload (the store's ReplicaSet
    index resolves Deployments).
    """

    def __init__(self, context: str, workload_of: Callable[[PodRow], str], *,
                 window: float = 60.0) -> None:
        self.context = context
        self.window = window
        self._workload_of = workload_of
        self._open: dict[tuple[str, str], _Window] = {}

    def add(self, old: PodRow | None, new: PodRow | None, now: float) -> None:
        """Note one pod going from ``old`` to ``new`` (None: absent)."""
        pod = new if new is not None else old
        if pod is None:
            return
        restarts = (new.restarts - old.restarts) if new is not None and old is not None else 0
        status_changed = new is not None and (old is None or old.status != new.status)
        if not (status_changed or restarts > 0 or old is None or new is None):
            return
        workload = self._workload_of(pod)
        key = (pod.namespace, workload)
        window = self._open.get(key)
        if window is None:
            window = self._open[key] = _Window(first=now, namespace=pod.namespace,
                                               workload=workload)
        window.pods.add(pod.name)
        if old is None:
            window.created += 1
        elif new is None:
            window.deleted += 1
        if new is not None and status_changed:
            window.statuses[new.status or new.phase or "?"] += 1
            if old is not None:
                window.was[old.status or old.phase or "?"] += 1
        window.restarts += max(0, restarts)

    def due(self, now: float, *, all_: bool = False) -> list[TimelineEntry]:
        """Entries of the windows that closed by ``now`` (every open one with ``all_``)."""
        out: list[TimelineEntry] = []
        for key, window in list(self._open.items()):
            if all_ or now - window.first >= self.window:
                del self._open[key]
                out.append(self._entry(window, now))
        return out

    def _entry(self, w: _Window, now: float) -> TimelineEntry:
        ranked = sorted(w.statuses.items(), key=lambda kv: (kv[0] not in _BAD, -kv[1], kv[0]))
        parts = [f"{count} {status}" for status, count in ranked]
        if parts and w.was:
            parts[0] += " (was " + ", ".join(s for s, _ in w.was.most_common(2)) + ")"
        if w.restarts:
            parts.append(f"restarts +{w.restarts}")
        if w.created:
            parts.append(f"{w.created} created")
        if w.deleted:
            parts.append(f"{w.deleted} deleted")
        bad = any(s in _BAD for s in w.statuses) or w.restarts > 0
        name = w.workload.partition("/")[2] or w.workload
        shown = sorted(w.pods)
        return TimelineEntry(
            at=w.first, seen=now, context=self.context, kind="pods", namespace=w.namespace,
            name=name, object_kind="Pod", workload=w.workload,
            change=", ".join(parts) or "changed",
            before=", ".join(s for s, _ in w.was.most_common(3)),
            after=", ".join(s for s, _ in ranked[:3]),
            actor="kubelet", actor_kind="system", severity="Warning" if bad else "",
            detail=f"{len(shown)} pod(s): " + ", ".join(shown[:5])
            + (" ..." if len(shown) > 5 else ""))
