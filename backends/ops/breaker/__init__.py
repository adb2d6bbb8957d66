"""The circuit breaker: freeze reconcilers, shift traffic, scale down; release exactly.

update-strategy.md's emergency procedure is three kubectl commands; done by hand under
pressure they go wrong in known ways: scaling before pausing (selfHeal scales back up within
seconds), restoring a hard-coded sync policy instead of the one that was there, forgetting
half of what was changed when the terminal died. This module runs the same procedure as one
journaled operation and undoes it from the journal alone.

Engage (:func:`engage`), and why it is shaped so:

- phases strictly in order: freeze (pause auto-sync), pause (``spec.paused`` of a rollout
  that stalled while its old ReplicaSet serves), shift (emergency weights), scale (to 0).
  Freeze comes first because every later change to a Git-tracked field is reverted by
  selfHeal while auto-sync is on (operations.md section 1); weights move before the
  backends they point away from are scaled down;
- within a phase the targets are independent, so their writes go out concurrently (20
  pauses cost one round trip, not twenty); each target's own writes stay in order;
- every write goes through the gate via :func:`~backends.ops.plan.execute` (journal before
  send, verified read-back), all under ONE operation id (``breaker-xxxxxxxx``), which is what
  status and release group by;
- a failed step stops the breaker: the phase's other in-flight writes finish (cancelling a
  sent write would only make its outcome unknown), no later phase starts, and the result
  lists per target what was done, what failed and what was never attempted;
- each changed object carries :data:`~backends.ops.breaker_plan.BREAKER_ANNOTATION`
  (``{"operation", "by", "since"}``), in the same patch where the patch allows it (the
  Application's merge patch, the route's JSON patch when the object already has
  annotations) and otherwise as a separate journaled write (the ``scale`` subresource has
  no metadata). Every write's journal ``intent`` also carries ``{"breaker": {"phase",
  "planned", "annotation"}}``: ``planned`` (how many writes the breaker meant to send) is
  how a later process tells a complete breaker from a half-done one without any other file.

The cluster carries the breaker as well (:mod:`.cluster`, :mod:`backends.ops.breaker_mark`):
each object's mark holds its prior state and who engaged it when, so ``breaker status`` and
``release`` see and undo a breaker engaged from any state dir, or whose journal is gone; a
second engage joins a breaker already in the cluster instead of doubling it.

Release (:func:`release`) reads the journal, not the cluster's current opinion: for every
target it takes the prior state recorded by the breaker's FIRST write to it (prior
``automated`` block, replicas, ``backendRefs``), plans the action modules' own restores
(:func:`~backends.ops.argocd.plan_restore`, :func:`~backends.ops.workloads.plan_scale_restore`,
:func:`~backends.ops.traffic.plan_backends_restore`), and runs the phases in reverse (scale,
shift, freeze: auto-sync comes back last, when the objects already match what it will
enforce). Writes whose outcome is unknown (a crash between journal and answer) are restored
too: the restore planners compare with the live object and skip what never happened. The
restore writes use their own operation id (``<breaker>~release-xxxxxx``) so a failed release
never mixes with the breaker's own steps; only when every restore verified are both marked
released in the journal.

Drift (:func:`detect_drift`, :func:`watch_drift`): while engaged, something may undo the
emergency state (an ApplicationSet rewriting syncPolicy, a parent app-of-apps, a colleague,
an HPA). Detection is a pure function of the store and the journal's state, so the header
can run it on every refresh tick at no I/O cost.

Where each part lives (this package re-exports their public names, so callers import from
``backends.ops.breaker``): :mod:`.engage`, :mod:`.state` (status from the journal, checked against the cluster),
:mod:`.release`, :mod:`.drift`; shared by engage and release, :mod:`.run` (phases, results)
and :mod:`.marks` (the annotation writes); the plan as a value in
:mod:`backends.ops.breaker_model`, its planner in :mod:`backends.ops.breaker_plan`.
"""

from __future__ import annotations

from backends.ops.breaker.cluster import ClusterMarks, Engaged, combined_state, scan
from backends.ops.breaker.drift import Drift, detect_drift, watch_drift
from backends.ops.breaker.engage import engage, engage_writes, new_breaker_id
from backends.ops.breaker.release import ReleasePlan, Restore, plan_release, release
from backends.ops.breaker.run import BreakerEvent, BreakerResult, OnProgress, TargetOutcome
from backends.ops.breaker.state import (
    BreakerState,
    EngagedTarget,
    LiveState,
    LiveTarget,
    breaker_status,
    breaker_status_db,
    judge,
    live_state,
    state_of,
)
from backends.ops.breaker_model import BREAKER_ANNOTATION, PHASES, BreakerPlan, BreakerTarget, Phase
from backends.ops.breaker_plan import (
    BreakerConfig,
    RouteShift,
    plan_engage,
    propose,
)

__all__ = [
    "BREAKER_ANNOTATION",
    "PHASES",
    "BreakerConfig",
    "BreakerEvent",
    "OnProgress",
    "BreakerPlan",
    "BreakerResult",
    "BreakerState",
    "BreakerTarget",
    "ClusterMarks",
    "Drift",
    "Engaged",
    "EngagedTarget",
    "LiveState",
    "LiveTarget",
    "Phase",
    "ReleasePlan",
    "Restore",
    "RouteShift",
    "TargetOutcome",
    "breaker_status",
    "breaker_status_db",
    "combined_state",
    "detect_drift",
    "engage",
    "engage_writes",
    "judge",
    "live_state",
    "new_breaker_id",
    "plan_engage",
    "plan_release",
    "propose",
    "release",
    "scan",
    "state_of",
    "watch_drift",
]
