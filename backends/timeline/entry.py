"""One line of the incident timeline: the contract between recorder, store, screen and export.

Why a module of its own: the recorder (which writes entries as it watches), the SQLite store
(which keeps them for 48 hours and more), the correlation (which ties an alert to the change it
most likely followed), the timeline screen and the post-mortem export all speak this one shape,
and none of them should import the others to learn it.

Every text field holds text that has already been sanitized where it entered
(backends/sanitize.py): an entry is never parsed as markup downstream.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

__all__ = ["ActorKind", "EntryKind", "TimelineEntry"]

EntryKind: TypeAlias = Literal[
    "spec",  # Deployment / ReplicaSet / DaemonSet / StatefulSet spec: image, replicas, paused
    "rollout",  # rollout progress: updated / ready / available replicas, conditions
    "sync",  # Argo CD sync operation: revision, phase, initiator
    "app",  # Argo CD app sync / health status change
    "route",  # HTTPRoute backend weights and conditions
    "gateway",  # Gateway conditions
    "node",  # node conditions (Ready, pressure), cordon
    "pods",  # pod phase / restart / problem changes, aggregated per workload
    "event",  # a Kubernetes warning event
    "alert",  # an alert firing or resolving
    "journal",  # our own journal entry (a write through the gate)
    "bus",  # the team bus: another operator's action or a pipeline phase
    "source",  # a source lost / regained (recording gaps are said, not hidden)
]

ActorKind: TypeAlias = Literal[
    "field-manager",  # managedFields manager + operation (kubectl, helm, kube-controller-manager)
    "argocd",  # Argo CD's operation.initiatedBy (automated or a user)
    "operator",  # our journal's operator (controlroom, with the operator's name)
    "bus",  # a team-bus participant
    "system",  # the cluster or alert source itself (no better actor known)
    "unknown",
]


class TimelineEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One meaningful change, compact enough for a line and exact enough for a post-mortem.

    ``at`` is the Unix time (seconds, float) the change happened as the source reports it
    (event / transition / firing time), falling back to the time we observed it; ``seen`` is
    always our observation time, so a late observation is visible as such.
    """

    at: float
    seen: float
    context: str
    kind: EntryKind
    namespace: str  # "" for cluster-scoped objects and for alerts without one
    name: str  # object name, alert name, or journal action
    object_kind: str  # "Deployment", "Application", "HTTPRoute", "Alert", ...
    app: str = ""  # the Argo CD app the object belongs to, when known
    workload: str = ""  # the owning workload "Kind/name", when known
    change: str = ""  # compact words: "image checkout:1.4.2 -> checkout:1.5.0"
    before: str = ""  # compact prior value(s)
    after: str = ""  # compact new value(s)
    actor: str = ""  # "argocd (automated)", "kubectl (Update)", "controlroom: alice"
    actor_kind: ActorKind = "unknown"
    revision: str = ""  # Git revision where one applies (Argo CD sync, app)
    severity: str = ""  # alert severity, event type ("Warning"), "" otherwise
    detail: str = ""  # one more line of words (event message, alert summary)
