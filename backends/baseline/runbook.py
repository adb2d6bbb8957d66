"""The update runbook: the update strategy's checklists as data, some items ticking themselves.

What: :func:`default_checklist` is the update strategy's "Implementation Checklist" (Before Each
Update, During Update, After Update; the item texts word for word) plus the items the control
room can check on its own: "Baseline taken", "Staging healthy", "Validation passed", "Alerts
quiet" and "Health endpoints answer" (the strategy's ``curl -f`` checks). :func:`evaluate` ticks or unticks those from a :class:`Facts` value and says
why (the evidence); the operator ticks the others (:func:`tick`, :func:`untick`). The list is
saved inside every baseline (``Baseline.checklist``), so the baseline file is also the change
record: who ticked what, when.

Why it is built this way:

- Everything here is a pure function of immutable values: the runbook screen, the baseline
  capture and tests all share it, and nothing here touches the store, the clock or the UI.
- An automatic item reflects the CURRENT facts, in both directions: a critical alert that
  starts firing after "Alerts quiet" was ticked unticks it. Unknown facts (no alert source
  answering, validation not run) never tick anything: silence is not "all clear".
- Automatic items cannot be ticked by hand (:func:`tick` refuses): the point of them is that
  nobody can claim them without the evidence.
- "Staging healthy" is automatic only when the config names the staging environment
  (``staging_environment``); otherwise the operator ticks it like the strategy's items.
- Times are ISO 8601 UTC text (``at``) so the saved record reads the same in any time zone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Final, Literal, TypeAlias

import msgspec

from backends.signals.bus_schema import PIPELINE, PipelineRow
from backends.signals.health import ENDPOINTS, EndpointRow
from backends.signals.health import SOURCE as ENDPOINTS_SOURCE
from backends.signals.model import ALERT_SOURCES, ALERTS, AlertRow
from backends.store import Store

__all__ = [
    "AUTO_ALERTS_QUIET",
    "AUTO_BASELINE",
    "AUTO_CHECKS",
    "AUTO_ENDPOINTS",
    "AUTO_STAGING",
    "AUTO_VALIDATION",
    "PHASES",
    "STRATEGY_ITEMS",
    "Checklist",
    "ChecklistError",
    "ChecklistItem",
    "Facts",
    "Phase",
    "default_checklist",
    "evaluate",
    "facts_from_store",
    "iso",
    "tick",
    "untick",
]

Phase: TypeAlias = Literal["before", "during", "after"]
PHASES: Final[tuple[Phase, ...]] = ("before", "during", "after")

AUTO_BASELINE: Final = "baseline"
AUTO_STAGING: Final = "staging"
AUTO_VALIDATION: Final = "validation"
AUTO_ALERTS_QUIET: Final = "alerts_quiet"
AUTO_ENDPOINTS: Final = "endpoints"
AUTO_CHECKS: Final[tuple[str, ...]] = (AUTO_BASELINE, AUTO_STAGING, AUTO_VALIDATION,
                                       AUTO_ALERTS_QUIET, AUTO_ENDPOINTS)
"""Ids of the automatic checks :func:`evaluate` knows."""

AUTO_BY: Final = "auto"
"""``by`` of an item the control room ticked itself."""

STRATEGY_ITEMS: Final[dict[Phase, tuple[str, ...]]] = {
    "before": (
        "Review change impact analysis",
        "Verify staging environment health",
        "Create pre-update backup",
        "Notify stakeholders of maintenance window",
        "Prepare rollback plan",
    ),
    "during": (
        "Monitor deployment progress",
        "Watch for alerts and anomalies",
        "Validate each phase before proceeding",
        "Maintain communication with stakeholders",
        "Be ready to execute rollback if needed",
    ),
    "after": (
        "Verify all services are healthy",
        "Run post-deployment validation tests",
        "Monitor for 24-48 hours",
        "Document any issues encountered",
        "Update procedures based on lessons learned",
    ),
}
"""The update strategy's "Implementation Checklist", word for word (a test reads the file)."""

_AUTO_ITEMS: Final[tuple[tuple[Phase, str, str], ...]] = (
    ("before", AUTO_BASELINE, "Baseline taken"),
    ("before", AUTO_STAGING, "Staging healthy"),
    ("after", AUTO_VALIDATION, "Validation passed"),
    ("after", AUTO_ALERTS_QUIET, "Alerts quiet (no critical alert firing)"),
    ("after", AUTO_ENDPOINTS, "Health endpoints answer"),
)


class ChecklistError(ValueError):
    """A tick that cannot be done (unknown item, automatic item), with the item named."""


class ChecklistItem(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the runbook.

    ``auto`` is the id of the automatic check that decides ``done`` (one of
    :data:`AUTO_CHECKS`), None for an item the operator ticks.
    """

    id: str
    phase: Phase
    text: str
    auto: str | None = None
    done: bool = False
    by: str = ""
    """Who ticked it: the operator's name, or ``auto``."""
    at: str | None = None
    """When it was ticked (ISO 8601 UTC), None while not done."""
    evidence: str = ""
    """Why an automatic item is (not) ticked, e.g. "no critical alert firing (3 sources)"."""


class Checklist(msgspec.Struct, frozen=True, kw_only=True):
    """The runbook of one change: its items in phase order and the change's id."""

    items: tuple[ChecklistItem, ...] = ()
    change_id: str = ""

    def item(self, item_id: str) -> ChecklistItem | None:
        """The item with ``item_id``, None when there is none."""
        for item in self.items:
            if item.id == item_id:
                return item
        return None

    def phase(self, phase: Phase) -> tuple[ChecklistItem, ...]:
        """The items of one phase, in order."""
        return tuple(item for item in self.items if item.phase == phase)

    @property
    def done_count(self) -> int:
        return sum(1 for item in self.items if item.done)


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    """What the automatic checks look at; None means "not known", which never ticks.

    ``firing_critical_alerts`` names the critical alerts firing now; an empty tuple is
    "none firing", None is "no alert source has answered" (nothing to claim quiet).
    """

    baseline_taken_at: float | None = None
    baseline_by: str = ""
    validation_passed: bool | None = None
    validation_summary: str = ""
    """E.g. "12 checks, 2 failed: nodes Ready, endpoint grafana"."""
    firing_critical_alerts: tuple[str, ...] | None = None
    alert_sources: tuple[str, ...] = ()
    """Alert sources that answered (for the evidence)."""
    alerts_stale: bool = False
    """The alert rows are the last known ones (a source is unreachable)."""
    staging_ok: bool | None = None
    staging_evidence: str = ""
    endpoints_failing: tuple[str, ...] | None = None
    """Names of the health endpoints failing now; None: no probe result (none configured,
    or the first round has not finished)."""
    endpoints_total: int = 0
    endpoints_stale: bool = False
    """The probe results are the last known ones (the probing itself is down)."""
    now: float | None = None
    """When the facts were gathered (the ``at`` of an automatic tick); None: the clock."""


def iso(epoch: float) -> str:
    """ISO 8601 UTC text of an epoch time, to the second (``2025-01-31T14:05:09Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def default_checklist(*, staging_automatic: bool = False, change_id: str = "") -> Checklist:
    """The update strategy's checklists plus the automatic items, nothing ticked.

    ``staging_automatic``: the config names the staging environment, so "Staging healthy"
    ticks itself; otherwise it is one more item the operator ticks.
    """
    items: list[ChecklistItem] = []
    for phase in PHASES:
        for auto_phase, auto, text in _AUTO_ITEMS:
            if auto_phase == phase:
                automatic = auto != AUTO_STAGING or staging_automatic
                items.append(ChecklistItem(id=auto, phase=phase, text=text,
                                           auto=auto if automatic else None))
        items.extend(ChecklistItem(id=_slug(text), phase=phase, text=text)
                     for text in STRATEGY_ITEMS[phase])
    return Checklist(items=tuple(items), change_id=change_id)


def _check(auto: str, facts: Facts) -> tuple[bool, str, float | None] | None:
    """(done, evidence, when) of one automatic check; None for a check id not known here."""
    if auto == AUTO_BASELINE:
        if facts.baseline_taken_at is None:
            return False, "no baseline taken in this session (b)", None
        who = f" by {facts.baseline_by}" if facts.baseline_by else ""
        return True, f"baseline taken {iso(facts.baseline_taken_at)}{who}", \
            facts.baseline_taken_at
    if auto == AUTO_VALIDATION:
        summary = f": {facts.validation_summary}" if facts.validation_summary else ""
        if facts.validation_passed is None:
            return False, "validation not run yet (v)", None
        if facts.validation_passed:
            return True, f"validation passed{summary}", facts.now
        return False, f"validation failed{summary}", None
    if auto == AUTO_ALERTS_QUIET:
        firing = facts.firing_critical_alerts
        if firing is None:
            return False, "no alert source has answered: cannot tell", None
        if firing:
            names = ", ".join(sorted(set(firing))[:5])
            more = f" (+{len(set(firing)) - 5} more)" if len(set(firing)) > 5 else ""
            return False, f"{len(firing)} critical alert(s) firing: {names}{more}", None
        sources = f" ({', '.join(facts.alert_sources)})" if facts.alert_sources else ""
        if facts.alerts_stale:
            return False, f"no critical alert in the last known state{sources}, but a" \
                          " source is unreachable", None
        return True, f"no critical alert firing{sources}", facts.now
    if auto == AUTO_ENDPOINTS:
        failing = facts.endpoints_failing
        if failing is None:
            return False, "no health endpoint probed (none configured, or not yet)", None
        if failing:
            names = ", ".join(failing[:5]) + (f" (+{len(failing) - 5} more)"
                                              if len(failing) > 5 else "")
            return False, f"{len(failing)} of {facts.endpoints_total} failing: {names}", None
        if facts.endpoints_stale:
            return False, "probes are down: the last known results are not current", None
        return True, f"all {facts.endpoints_total} health endpoints answer", facts.now
    if auto == AUTO_STAGING:
        evidence = f": {facts.staging_evidence}" if facts.staging_evidence else ""
        if facts.staging_ok is None:
            return False, f"staging not reported{evidence}", None
        return facts.staging_ok, f"staging {'healthy' if facts.staging_ok else 'failing'}" \
                                 f"{evidence}", facts.now
    return None


def evaluate(checklist: Checklist, facts: Facts) -> Checklist:
    """``checklist`` with every automatic item ticked or unticked from ``facts``.

    Manual items are left as they are. An item whose state and evidence did not change keeps
    its ``at``, so evaluating the same facts twice gives an equal checklist (nothing redraws).
    """
    now = time.time() if facts.now is None else facts.now
    changed = False
    items: list[ChecklistItem] = []
    for item in checklist.items:
        result = _check(item.auto, facts) if item.auto else None
        if result is None:
            items.append(item)
            continue
        done, evidence, when = result
        if done == item.done and evidence == item.evidence:
            items.append(item)
            continue
        at = iso(when if when is not None else now) if done else None
        if done and item.done:
            at = item.at  # still ticked: it was ticked back then, only the evidence moved
        items.append(msgspec.structs.replace(item, done=done, evidence=evidence, at=at,
                                             by=AUTO_BY if done else ""))
        changed = True
    return msgspec.structs.replace(checklist, items=tuple(items)) if changed else checklist


def _replace_item(checklist: Checklist, item_id: str, **changes: object) -> Checklist:
    items: Iterable[ChecklistItem] = (
        msgspec.structs.replace(item, **changes) if item.id == item_id else item
        for item in checklist.items)
    return msgspec.structs.replace(checklist, items=tuple(items))


def _manual(checklist: Checklist, item_id: str) -> ChecklistItem:
    item = checklist.item(item_id)
    if item is None:
        raise ChecklistError(f"no checklist item {item_id!r}")
    if item.auto:
        raise ChecklistError(f"{item.text!r} is checked automatically ({item.auto}):"
                             f" {item.evidence or 'not yet evaluated'}")
    return item


def tick(checklist: Checklist, item_id: str, by: str, now: float) -> Checklist:
    """``checklist`` with the manual item ``item_id`` ticked by ``by`` at ``now``.

    Raises :class:`ChecklistError` for an unknown or automatic item.
    """
    _manual(checklist, item_id)
    return _replace_item(checklist, item_id, done=True, by=by, at=iso(now))


def untick(checklist: Checklist, item_id: str) -> Checklist:
    """``checklist`` with the manual item ``item_id`` not ticked (who and when cleared).

    Raises :class:`ChecklistError` for an unknown or automatic item.
    """
    _manual(checklist, item_id)
    return _replace_item(checklist, item_id, done=False, by="", at=None)


# --------------------------------------------------------------------------- facts from the store

_FIRING: Final = frozenset({"firing", "active", "unprocessed"})
"""Alert states that mean "firing now" (a silenced alert is ``suppressed``, not firing)."""
_CRITICAL: Final = frozenset({"critical", "page"})


def facts_from_store(store: Store, *, staging_environment: str = "",
                     now: float | None = None) -> Facts:
    """The store's part of the facts: critical alerts, health endpoints, staging pipeline.

    The caller adds what the store does not hold (baseline time, validation outcome) with
    ``msgspec.structs.replace``. Alerts are "unknown" (None) until an alert source has
    answered; stale alerts still count (the last known state), and make "quiet" unprovable.
    """
    health = store.all_health()
    answered = tuple(s for s in ALERT_SOURCES
                     if (h := health.get(s)) is not None and h.last_event is not None)
    alerts = [row for row in store.rows(ALERTS).values() if isinstance(row, AlertRow)]
    firing: tuple[str, ...] | None = None
    if answered or alerts:
        firing = tuple(row.alertname for row in alerts
                       if row.state in _FIRING and row.severity.lower() in _CRITICAL)
    alerts_stale = any(row.stale for row in alerts) or any(
        (h := health.get(s)) is not None and h.state in ("stale", "error") for s in answered)

    endpoints = [row for row in store.rows(ENDPOINTS).values() if isinstance(row, EndpointRow)]
    probes = health.get(ENDPOINTS_SOURCE)
    endpoints_failing = tuple(sorted(row.name for row in endpoints if not row.ok)) \
        if endpoints else None
    endpoints_stale = any(row.stale for row in endpoints) or (
        probes is not None and probes.state in ("stale", "error"))

    staging_ok: bool | None = None
    staging_evidence = ""
    if staging_environment:
        staging_ok, staging_evidence = _staging(store, staging_environment)
    return Facts(firing_critical_alerts=firing, alert_sources=answered,
                 alerts_stale=alerts_stale, endpoints_failing=endpoints_failing,
                 endpoints_total=len(endpoints), endpoints_stale=endpoints_stale,
                 staging_ok=staging_ok, staging_evidence=staging_evidence, now=now)


def _staging(store: Store, environment: str) -> tuple[bool | None, str]:
    """Staging is healthy when its latest pipeline event of every phase reported succeeded;
    failing when one failed; unknown while a phase runs or nothing was reported."""
    rows = [row for row in store.rows(PIPELINE).values()
            if isinstance(row, PipelineRow) and row.environment == environment]
    if not rows:
        return None, f"no pipeline event from {environment!r} on the team bus"
    failed = sorted(row.phase for row in rows if row.status == "failed")
    if failed:
        return False, f"{environment}: {', '.join(failed)} failed"
    running = sorted(row.phase for row in rows if row.status == "started")
    if running:
        return None, f"{environment}: {', '.join(running)} running"
    latest = max(rows, key=lambda row: row.time)
    revision = f" at {latest.revision}" if latest.revision else ""
    return True, f"{environment}: {len(rows)} phase(s) succeeded{revision}, last {iso(latest.time)}"
