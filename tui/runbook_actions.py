"""The App's side of the runbook: the session's change record, its checklist, and ``k``.

The App keeps ONE checklist for the session (the change record): the operator's ticks stay
while the runbook screen is closed and reopened, and the baseline key saves the same list in
the baseline (:meth:`RunbookActions.current_checklist`). Automatic items are re-evaluated on
every read from the store (critical alerts, health endpoints, the staging pipeline) and from
the session's :class:`ChangeRecord`, which the baseline keys fill in
(:meth:`ChangeRecord.record_baseline`, :meth:`ChangeRecord.record_validation`).

The ticks survive a restart (issue 13): with a ``state_dir`` (the journal's directory), the
checklist is restored at start from :mod:`backends.baseline.runbook_store` for this context,
and saved after every tick, untick and change id, in a worker thread (fsync). Each save
writes the newest checklist under a lock, so however saves interleave, the file ends with the
last state.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
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
from backends.baseline.runbook_store import (
    RunbookStoreError,
    load_runbook,
    runbook_path,
    save_runbook,
)
from backends.ops.gate import current_operator
from backends.sanitize import clean
from tui.host import Host, start_worker

if TYPE_CHECKING:
    from backends.baseline.model import Baseline
    from backends.baseline.runbook import Facts
    from backends.config import Settings
    from backends.store import Store

__all__ = ["RUNBOOK_BINDINGS", "ChangeRecord", "RunbookActions"]

log = logging.getLogger(__name__)

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
                 clock: Callable[[], float], *, context: str = "",
                 state_dir: Path | None = None) -> None:
        self._host = host
        self._store = store
        self._settings = settings
        self._clock = clock
        self.change = ChangeRecord()
        self._runbook: Checklist | None = None
        self._context = context
        self.path = runbook_path(state_dir, context) if state_dir is not None else None
        """Where the ticks are kept; None: this session's only (no state dir given)."""
        self.restore_problem = ""
        """Why saved ticks could not be restored (shown once by :meth:`open_screen`)."""
        self.staging_live: Callable[[], tuple[bool | None, str]] | None = None
        """Set when the staging context is watched beside this one (tui/fleet.py): its live
        validation decides "Staging healthy" instead of pipeline messages (issue 18)."""
        self._save_lock = threading.Lock()
        self._saved: Checklist | None = None
        if self.path is not None:
            try:  # before the App runs: no event loop to block yet
                self._runbook = load_runbook(self.path, context)
            except RunbookStoreError as exc:
                self.restore_problem = f"runbook ticks not restored: {clean(exc, 500)}"
            if self._runbook is not None:
                self.change.change_id = self._runbook.change_id
                self._saved = self._runbook

    def facts(self) -> Facts:
        """The facts the automatic items are judged on, now."""
        change = self.change
        facts = facts_from_store(self._store,
                                 staging_environment=self._settings.staging_environment,
                                 now=self._clock())
        if self.staging_live is not None:
            staging_ok, evidence = self.staging_live()
            facts = msgspec.structs.replace(facts, staging_ok=staging_ok,
                                            staging_evidence=evidence)
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
                staging_automatic=bool(self._settings.staging_environment
                                       or self.staging_live is not None),
                change_id=change_id)
        if change_id and checklist.change_id != change_id:
            checklist = msgspec.structs.replace(checklist, change_id=change_id)
        self._runbook = evaluate(checklist, self.facts())
        if self._manual_state(self._runbook) != self._manual_state(self._saved):
            self._save()
        return self._runbook

    @staticmethod
    def _manual_state(checklist: Checklist | None) -> object:
        """What is worth saving: the change id and the operator's ticks (automatic items
        are re-judged from the store on every read)."""
        if checklist is None:
            return None
        return (checklist.change_id, tuple((i.id, i.done, i.by, i.at) for i in checklist.items
                                           if i.auto is None))

    def _save(self) -> None:
        """Save the newest checklist in a worker thread (fsync must not block the loop)."""
        if self.path is None or self._runbook is None:
            return
        self._saved = self._runbook

        async def job() -> None:
            try:
                await asyncio.to_thread(self._write_latest)
            except RunbookStoreError as exc:
                self._host.notify(f"runbook ticks not saved: {clean(exc, 500)}",
                                  title="Runbook", severity="error", markup=False)

        start_worker(self._host, job, name="_save_runbook", group="runbook-save",
                     exclusive=False)

    def _write_latest(self) -> None:
        with self._save_lock:
            checklist, path = self._runbook, self.path
            if checklist is not None and path is not None:
                save_runbook(path, self._context, checklist)

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
        finally:
            if self._manual_state(self._runbook) != self._manual_state(self._saved):
                self._save()
        return f"ticked by {who}: {item.text if item else item_id}"

    def open_screen(self) -> None:
        """Open the runbook screen."""
        from tui.runbook_screen import RunbookScreen

        if self.restore_problem:
            self._host.notify(self.restore_problem, title="Runbook", severity="warning",
                              markup=False)
            self.restore_problem = ""
        self._host.push_screen(RunbookScreen(self))
