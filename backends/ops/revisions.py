"""What the control room knows about a revision it could roll back to: good, bad or unknown.

The rollback pickers (App ``r``), ``controlroom rollback deployment|app`` and the auto-sync
guard of breaker release and ``restore-sync`` judge revisions by this ONE rule, so that none of
them ever proposes the revision the incident came from. After an Argo CD rollback, the
Deployment's previous rollout revision IS the bad release (the rollback brought the old
ReplicaSet back as the newest revision), which is exactly what kubectl's "previous" and the
old picker default offered.

Where "recorded as bad" and "recorded as good" come from (the evidence is gathered by
:mod:`backends.ops.rollout_revisions` for Deployments and :mod:`backends.ops.argo_revisions`
for Argo CD apps; this module only weighs it):

Deployment revisions (one ReplicaSet each):

- bad: a pod of the ReplicaSet crash-loops or cannot start (``CrashLoopBackOff``,
  ``ImagePullBackOff``, ``ErrImagePull``, ``CreateContainer*Error``, ``RunContainerError``);
  the cluster still holds Warning events (``BackOff``, ``Failed``) of its pods, which outlive
  the pods for the API server's event TTL (1 h by default), so a ReplicaSet a rollback scaled
  to 0 is still known to have crash-looped during the incident; the Deployment's
  ``Progressing`` condition is ``ProgressDeadlineExceeded`` for it (it never became
  available); the journal records a rollout undo of ours away from its pod template.
- good: it has replicas and every one of them is ready and available, none failing (the old
  ReplicaSet still serving during a bad rollout, or the current one after a rollback).

Argo CD history entries (``status.history``), judged per Git revision:

- bad: it is deployed now and the app is Degraded; the app's health went to Degraded while it
  was the deployed entry (the application controller's ``Updated health status: X ->
  Degraded`` events, same TTL); a later entry re-deployed an older revision by hand (a
  rollback moved away from it); the journal records our rollback away from it, or a pause of
  the app's auto-sync while the app ran it Degraded or Missing (or, by the circuit breaker,
  anything but Healthy: the breaker is engaged in an incident).
- good: it is deployed now and the app is Healthy; or the app was Healthy when the next entry
  was deployed (the ``Healthy -> ...`` transition at that moment).

What the cluster shows now decides over records of the past (a revision deployed again
since, Healthy now, is good; one crash-looping now is bad); among records, a revision with
evidence both ways is bad (never calm when unsure). One with neither is unknown and carries no
mark (its evidence has expired, or it never ran here).

What the faces show: the current revision, the *incident* (the newest bad one), the *last
known good* (the newest good one, the current one included). The default target is the last
known good; without one, the newest revision that is neither current nor bad (what kubectl
would take, unless it is bad); without that, the current one, which plans nothing. A bad
revision is never the default, and picking one puts a warning on the plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TypeAlias

from backends.ops.plan import Plan

__all__ = ["Evidence", "Knowledge", "Verdict", "annotate", "judge", "stamp"]

Verdict: TypeAlias = Literal["good", "bad", "unknown"]


def stamp(moment: float | datetime) -> str:
    """A moment as evidence text: ``2026-12-07T17:11:30Z``."""
    when = moment if isinstance(moment, datetime) else datetime.fromtimestamp(moment, UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Evidence:
    """One fact about one revision (``key``: a rollout revision number or an Argo CD history
    id, as text), in words for the operator."""

    key: str
    verdict: Literal["good", "bad"]
    why: str
    live: bool = False
    """What the cluster shows now (pods crash-looping, every replica available, the app
    Healthy on it), as opposed to a record of the past (events, history, the journal)."""


@dataclass(frozen=True)
class Knowledge:
    """The judged revisions of one Deployment or Application (module doc for the rule).
    ``keys`` oldest first; ``notes`` say what could not be read (so less is known)."""

    noun: str
    keys: tuple[str, ...]
    current: str
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)
    reasons: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def verdict(self, key: str) -> Verdict:
        return self.verdicts.get(key, "unknown")

    def _newest(self, verdict: Verdict) -> str | None:
        return next((k for k in reversed(self.keys) if self.verdict(k) == verdict), None)

    @property
    def incident(self) -> str | None:
        """The revision the incident came from: the newest one recorded as bad."""
        return self._newest("bad")

    @property
    def last_good(self) -> str | None:
        """The newest revision recorded as good (it may be the current one)."""
        return self._newest("good")

    @property
    def default(self) -> str:
        """What the pickers preselect and ``--to previous`` takes (module doc)."""
        if self.last_good is not None:
            return self.last_good
        others = (k for k in reversed(self.keys)
                  if k != self.current and self.verdict(k) != "bad")
        return next(others, self.current)

    def marks(self, key: str) -> tuple[str, ...]:
        """The words a picker shows next to ``key``: current, incident, last known good,
        bad, good."""
        out = ["current"] if key == self.current else []
        verdict = self.verdict(key)
        if key == self.incident:
            out.append("incident (bad)")
        elif verdict == "bad":
            out.append("bad")
        if key == self.last_good:
            out.append("last known good")
        elif verdict == "good":
            out.append("good")
        return tuple(out)

    def label(self, key: str) -> str:
        return ", ".join(self.marks(key))

    def why(self, key: str) -> str:
        """The evidence for ``key``'s verdict, in one line ("" when unknown)."""
        return "; ".join(self.reasons.get(key, ()))

    def warning(self, key: str) -> str:
        """The warning for picking ``key`` ("" unless it is recorded as bad)."""
        if self.verdict(key) != "bad":
            return ""
        return f"{self.noun} {key} is recorded as bad: {self.why(key)}"

    def explain(self, key: str) -> str:
        """What ``key`` is, for the plan and the CLI: ``revision 2: last known good (all 3
        replicas available)``."""
        label = self.label(key) or "nothing recorded about it"
        why = self.why(key)
        return f"{self.noun} {key}: {label}" + (f" ({why})" if why else "")

    def explain_default(self) -> str:
        """Why the default is what it is, in one sentence."""
        key = self.default
        if key == self.last_good:
            how = "the last known good"
        elif key != self.current:
            how = "the newest one not recorded as bad (none is recorded as good)"
        else:
            how = "the current one: every other one is recorded as bad"
        why = self.why(key)
        return f"{self.noun} {key}, {how}" + (f" ({why})" if why else "")


def judge(noun: str, keys: Sequence[str], current: str, evidence: Iterable[Evidence],
          notes: Iterable[str] = ()) -> Knowledge:
    """Weigh ``evidence`` per key (module doc): what the cluster shows now decides (bad
    before good), else the records (bad before good). Evidence about a key that is not in
    ``keys`` is ignored; the reasons kept are those of the deciding kind."""
    said: dict[tuple[str, bool, str], list[str]] = {}
    known = set(keys)
    for item in evidence:
        if item.key not in known:
            continue
        reasons = said.setdefault((item.key, item.live, item.verdict), [])
        if item.why not in reasons:
            reasons.append(item.why)
    verdicts: dict[str, Verdict] = {}
    why: dict[str, tuple[str, ...]] = {}
    for key in keys:
        for live, verdict in ((True, "bad"), (True, "good"), (False, "bad"), (False, "good")):
            if (key, live, verdict) in said:
                verdicts[key] = "bad" if verdict == "bad" else "good"
                why[key] = tuple(said[(key, live, verdict)])
                break
    return Knowledge(noun, tuple(keys), current, verdicts, why, tuple(notes))


def annotate(plan: Plan, knowledge: Knowledge, key: str, *, defaulted: bool) -> Plan:
    """Put what is known about the chosen ``key`` on a rollback plan: why it was taken when
    no revision was given, a warning first when it is recorded as bad, and what could not
    be read."""
    if defaulted:
        plan.info.insert(0, f"no {knowledge.noun} given: took {knowledge.explain_default()}")
    else:
        plan.info.insert(0, f"chosen: {knowledge.explain(key)}")
    warning = knowledge.warning(key)
    if warning:
        incident = " (the revision the incident came from)" if key == knowledge.incident else ""
        plan.warnings.insert(0, f"{warning}{incident}: pick the last known good instead"
                             + (f" ({knowledge.noun} {knowledge.last_good})"
                                if knowledge.last_good else ""))
    plan.info.extend(knowledge.notes)
    return plan
