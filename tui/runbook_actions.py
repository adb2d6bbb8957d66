"""The App's side of the runbook: the session's checklist, its facts, and the ``k`` key.

The App keeps ONE checklist for the session (the change record): the operator's ticks stay
while the runbook screen is closed and reopened, and the baseline key saves the same list in
the baseline (:meth:`RunbookMixin.current_checklist`). Automatic items are re-evaluated on
every read from the store (critical alerts, health endpoints, the staging pipeline) and from
the App's own baseline and validation state, which the baseline keys set
(``baseline_taken_at``, ``validation_passed``, ``validation_summary``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from backends.baseline.runbook import Facts

__all__ = ["RUNBOOK_BINDINGS", "RunbookMixin"]

RUNBOOK_BINDINGS = [
    Binding("k", "runbook", "Runbook", id="runbook",
            tooltip="The update runbook: the strategy's before/during/after checklists; "
            "automatic items tick themselves, space ticks the others"),
]


class RunbookMixin:
    """Runbook state and action for :class:`tui.app.ControlRoomApp`."""

    # the App provides these
    store: Any
    settings: Any
    _clock: Any

    baseline_taken_at: float | None = None
    """When this session's baseline was taken (set by the baseline key); None: not yet."""
    baseline_operator: str = ""
    validation_passed: bool | None = None
    """Outcome of this session's last validation (set by the validate key); None: not run."""
    validation_summary: str = ""
    """One line about that validation, e.g. "14 checks, 2 failed: ..." (the evidence)."""
    change_id: str = ""
    """The change this session works on (the baseline key may set it)."""
    _runbook: Checklist | None = None

    def runbook_facts(self) -> Facts:
        """The facts the automatic items are judged on, now."""
        facts = facts_from_store(self.store, staging_environment=self.settings.staging_environment,
                                 now=self._clock())
        return msgspec.structs.replace(
            facts, baseline_taken_at=self.baseline_taken_at,
            baseline_by=self.baseline_operator, validation_passed=self.validation_passed,
            validation_summary=self.validation_summary)

    def current_checklist(self) -> Checklist:
        """The session's checklist with the automatic items re-evaluated now (what the
        runbook screen shows and what a baseline saves)."""
        checklist = self._runbook
        if checklist is None:
            checklist = default_checklist(
                staging_automatic=bool(self.settings.staging_environment),
                change_id=self.change_id)
        if self.change_id and checklist.change_id != self.change_id:
            checklist = msgspec.structs.replace(checklist, change_id=self.change_id)
        self._runbook = evaluate(checklist, self.runbook_facts())
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

    def action_runbook(self) -> None:
        """Open the runbook screen."""
        from tui.runbook_screen import RunbookScreen

        self.push_screen(RunbookScreen())  # type: ignore[attr-defined]
