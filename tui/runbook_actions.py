"""The App's side of the runbook: the session's change record, its checklist, and ``k``.

The App keeps ONE checklist for the session (the change record): the operator's ticks stay
while the runbook screen is closed and reopened, and the baseline key saves the same list in
the baseline (:meth:`RunbookActions.current_checklist`). Automatic items are re-evaluated on
every read from the store (critical alerts, health endpoints, the staging pipeline) and from
the session's :class:`ChangeRecord`, which the baseline keys fill in
(:meth:`ChangeRecord.record_baseline`, :meth:`ChangeRecord.record_validation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec
from textual.binding import Binding

from backends.baseline.runbook import (
    Checklist,
    ChecklistError,
    default_checklist,
    evaluate,
    facts_from_store,
    tick,
    untick,
)
from backends.ops.gate import current_operator
from tui.host import Host

if TYPE_CHECKING:
    from backends.baseline.model import Baseline
    from backends.baseline.runbook import Facts
    from backends.config import Settings
    from backends.store import Store

__all__ = ["RUNBOOK_BINDINGS", "ChangeRecord", "RunbookActions"]

RUNBOOK_BINDINGS = [
    Binding("k", "runbook", "Runbook", id="runbook",
            tooltip="The update runbook: the strategy's before/during/after checklists; "
            "automatic items tick themselves, space ticks the others"),
]


@dataclass
class ChangeRecord:
    """What this session knows about the change in hand: the evidence the automatic
    "Baseline taken" and "Validation passed" items are judged on."""

    baseline_taken_at: float | None = None
    """When this session's baseline was taken (set by the baseline key); None: not yet."""
    baseline_operator: str = ""
    validation_passed: bool | None = None
    """Outcome of this session's last validation (set by the validate key); None: not run."""
    validation_summary: str = ""
    """One line about that validation, e.g. "14 checks, 2 failed: ..." (the evidence)."""
    change_id: str = ""
    """The change this session works on (the baseline key may set it)."""

    def record_baseline(self, baseline: Baseline) -> None:
        """A new baseline starts a new change: an earlier validation was against the old
        one and must not tick this change's "Validation passed"."""
        self.baseline_taken_at = baseline.taken_at
        self.baseline_operator = baseline.operator
        self.change_id = baseline.change_id
        self.validation_passed, self.validation_summary = None, ""

    def record_validation(self, passed: bool, summary: str) -> None:
        self.validation_passed, self.validation_summary = passed, summary


class RunbookActions:
    """The session's checklist (what the runbook screen shows and edits) and the ``k`` key.

    Satisfies :class:`tui.runbook_screen.RunbookHost`: the screen is handed this object.
    """

    def __init__(self, host: Host, store: Store, settings: Settings,
                 clock: Callable[[], float]) -> None:
        self._host = host
        self._store = store
        self._settings = settings
        self._clock = clock
        self.change = ChangeRecord()
        self._runbook: Checklist | None = None

    def facts(self) -> Facts:
        """The facts the automatic items are judged on, now."""
        change = self.change
        facts = facts_from_store(self._store,
                                 staging_environment=self._settings.staging_environment,
                                 now=self._clock())
        return msgspec.structs.replace(
            facts, baseline_taken_at=change.baseline_taken_at,
            baseline_by=change.baseline_operator, validation_passed=change.validation_passed,
            validation_summary=change.validation_summary)

    def current_checklist(self) -> Checklist:
        """The session's checklist with the automatic items re-evaluated now (what the
        runbook screen shows and what a baseline saves)."""
        change_id = self.change.change_id
        checklist = self._runbook
        if checklist is None:
            checklist = default_checklist(
                staging_automatic=bool(self._settings.staging_environment),
                change_id=change_id)
        if change_id and checklist.change_id != change_id:
            checklist = msgspec.structs.replace(checklist, change_id=change_id)
        self._runbook = evaluate(checklist, self.facts())
        return self._runbook

    def toggle_runbook_item(self, item_id: str) -> str:
        """Tick (or untick) a manual item as the current operator; returns what happened,
        for a notification. Automatic and unknown items are refused with the reason."""
        checklist = self.current_checklist()
        item = checklist.item(item_id)
        try:
            if item is not None and item.done:
                self._runbook = untick(checklist, item_id)
                return f"unticked: {item.text}"
            who = current_operator()
            self._runbook = tick(checklist, item_id, who, self._clock())
        except ChecklistError as exc:
            return str(exc)
        return f"ticked by {who}: {item.text if item else item_id}"

    def open_screen(self) -> None:
        """Open the runbook screen."""
        from tui.runbook_screen import RunbookScreen

        self._host.push_screen(RunbookScreen(self))
