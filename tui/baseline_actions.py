"""The baseline keys: ``b`` takes a baseline, ``d`` diffs against it, ``v`` validates.

The update strategy asks for a health baseline before each update and a validation after it;
these keys make both one keystroke on the live store, with the use cases of the headless
``controlroom snapshot`` / ``diff`` / ``validate`` (:mod:`backends.usecases.baseline`:
:func:`~backends.usecases.baseline.store_baseline`, ``compare``, ``validate_now``). The CLI
lists the cluster into a fresh store first (``live_baseline``); the App's pollers already keep
every kind, alerts, key signals and health endpoints in its live store, so it takes the
baseline of that store with the same function and skips the one-shot collection.

Where the work happens, and why:

- capturing reads the store, which only the event loop mutates, so it runs on the loop
  (it is pure and fast: ~30 ms for 30,000 pods). The result is a frozen document, so the
  ``diff`` and ``validate`` of two documents can run in a thread without racing anything.
- Writing (fsync) and reading files block: always ``asyncio.to_thread``, and the results come
  back to the worker on the loop, which alone touches widgets and App state.
- A bad file never stops the App: a :class:`~backends.baseline.io.BaselineError` (it names the
  file and the problem) becomes an error notification, and nothing is written over it. ``d``
  and ``v`` do not fall back to an older file when the newest is unreadable: comparing against
  a baseline the operator did not expect would be worse than saying so.

What these keys keep: :class:`BaselineActions` holds this session's baseline (what ``d`` and
``v`` compare with first) and where it was saved; the evidence the runbook's automatic items
are judged on goes to the session's :class:`~tui.runbook_actions.ChangeRecord` (baseline taken
by whom and when, the change id, the last validation's outcome), so "Baseline taken" and
"Validation passed" tick themselves. ``snapshot_dir`` is where baselines go and are looked for
(None: the default, ``$CONTROLROOM_SNAPSHOT_DIR`` or the platform data dir).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from textual.binding import Binding

from backends.baseline.io import (
    BaselineError,
    default_snapshot_dir,
    latest_snapshot,
    load_baseline,
    write_baseline,
)
from backends.baseline.model import REQUIRED_SECTIONS as _REQUIRED
from backends.baseline.model import Baseline
from backends.sanitize import clean
from backends.usecases.baseline import (
    IncompleteBaseline,
    compare,
    refuse_incomplete,
    store_baseline,
    validate_now,
)
from tui.host import Host, start_worker
from tui.runbook_actions import RunbookActions

if TYPE_CHECKING:
    from backends.baseline.runbook import Checklist
    from backends.config import Settings
    from backends.store import Store
    from tui.session import Target

__all__ = ["BASELINE_BINDINGS", "REQUIRED_SECTIONS", "BaselineActions"]

BASELINE_BINDINGS = [
    Binding("b", "baseline", "Baseline", id="baseline",
            tooltip="Take a pre-update baseline of the cluster (asks for the change id) and "
            "save it to the snapshots dir, with the runbook as the change record"),
    Binding("d", "diff", "Diff", id="diff",
            tooltip="What got worse, better or changed since the baseline (this session's, "
            "else the newest saved for this context), worst first"),
    Binding("v", "validate", "Validate", id="validate",
            tooltip="Post-update validation: nodes Ready, critical namespaces Running, "
            "endpoints answering, the [validate] rules, nothing worse than the baseline"),
]

REQUIRED_SECTIONS = _REQUIRED
"""Sections without which a baseline says nothing: ``b`` refuses to save one that lacks any
(issue 13: ``b`` pressed while the cluster was unreachable saved an empty baseline that became
the context's newest and passed every diff), ``d`` and ``v`` refuse to compare with one."""

_SESSION = "taken in this session"


class BaselineActions:
    """Baseline, diff and validate on the live store; one key at a time."""

    def __init__(self, host: Host, store: Store, settings: Settings, target: Target,
                 runbook: RunbookActions, *, started: Callable[[], bool],
                 clock: Callable[[], float],
                 breakers: Callable[[], Awaitable[tuple[list[str], str]]]) -> None:
        self._host = host
        self._store = store
        self._settings = settings
        self._target = target
        self._runbook = runbook
        self._started = started
        """True once the sources run (the App's session exists)."""
        self._clock = clock
        self._breakers = breakers
        """Engaged breakers on this context and why they could not be known: an update
        validated while a breaker holds workloads at 0 is not finished."""
        self.baseline: Baseline | None = None
        """The baseline ``b`` took in this session: what ``d`` and ``v`` compare with first."""
        self.baseline_path: Path | None = None
        """Where that baseline was saved."""
        self.snapshot_dir: Path | None = None
        """Where baselines are saved and looked for; None: the default snapshots dir."""
        self._busy = False

    def _snapshots_dir(self) -> Path:
        return self.snapshot_dir or default_snapshot_dir()

    def _claim(self, what: str) -> bool:
        """One baseline key at a time: a second ``b`` while the first is asking or writing
        would otherwise race it to the same change record. And not before the sources are
        up: until they register, an empty store looks like a complete, empty cluster (no
        source says "not listed yet"), and a baseline of nothing is worse than none."""
        if not self._started():
            self._host.notify(f"{what}: not connected yet; try again once the panels show "
                              "data", severity="warning", markup=False)
            return False
        if self._busy:
            self._host.notify("still busy with the previous baseline key", severity="warning",
                              markup=False)
            return False
        self._busy = True
        return True

    def _start(self, job: Callable[[], Awaitable[None]], name: str) -> None:
        """The baseline keys' worker group: not exclusive (:meth:`_claim` serialises them)."""
        start_worker(self._host, job, name=name, group="baseline", exclusive=False)

    def capture_now(self, change_id: str = "", checklist: Checklist | None = None) -> Baseline:
        """A baseline of the live store now, with ``checklist`` as its change record (None:
        the default one), as the CLI's ``live_baseline`` takes it of the store it lists (on
        the loop: the store is the loop's)."""
        return store_baseline(self._store, self._target.context, self._target.cluster,
                              change_id, self._clock(), checklist)

    async def _baseline_to_compare(self) -> tuple[Baseline | None, str]:
        """(baseline, where it came from): this session's, else the newest file of this
        context; (None, why) when there is none. An unreadable newest file raises
        :class:`BaselineError`."""
        if self.baseline is not None:
            where = f"{_SESSION}, saved as {self.baseline_path}" if self.baseline_path \
                else _SESSION
            return self.baseline, where
        directory = self._snapshots_dir()
        context = self._target.context
        path = await asyncio.to_thread(latest_snapshot, context, directory)
        if path is None:
            return None, f"none of context {context} in {directory}"
        baseline = await asyncio.to_thread(load_baseline, path)
        return baseline, f"file {path}"

    # ----------------------------------------------------------------- b

    def take(self) -> None:
        """Ask for the change id, then capture and save (see :meth:`_take_baseline`)."""
        if self._claim("baseline"):
            self._start(self._take_baseline, "_take_baseline")

    async def _take_baseline(self) -> None:
        from tui.baseline_screens import (
            ChangeIdScreen,  # at first use: not needed for the first rows
        )

        host, change = self._host, self._runbook.change
        try:
            answer = await host.push_screen_wait(
                ChangeIdScreen(self._target.context, change.change_id))
            if answer is None:
                host.notify("baseline cancelled: nothing taken", markup=False)
                return
            change_id = clean(answer, 200).strip()
            checklist = msgspec.structs.replace(self._runbook.current_checklist(),
                                                change_id=change_id)
            baseline = self.capture_now(change_id, checklist)
            try:
                refuse_incomplete(baseline, "baseline refused, nothing was saved (the previous "
                                  "one stays the newest): could not read")
                path = await asyncio.to_thread(write_baseline, baseline,
                                               directory=self._snapshots_dir())
            except IncompleteBaseline as exc:
                host.notify(clean(exc, 2000), title="Baseline", severity="error", markup=False,
                            timeout=20)
                return
            except BaselineError as exc:
                host.notify(f"baseline not saved: {exc}", title="Baseline", severity="error",
                            markup=False, timeout=15)
                return
            self.baseline, self.baseline_path = baseline, path
            change.record_baseline(baseline)
            host.notify(f"baseline saved: {path}", title="Baseline", markup=False)
        finally:
            self._busy = False

    def _comparable(self, baseline: Baseline, current: Baseline | None, source: str,
                    title: str) -> bool:
        """False (and an error notification saying what is missing) when the baseline, or
        the store now, lacks nodes, workloads or pods: "nothing changed" against a baseline
        of nothing is the false calm issue 13 is about. ``v`` checks only the baseline: its
        own capture's gaps are "cannot check" lines in the report."""
        try:
            refuse_incomplete(baseline, f"cannot compare: the baseline ({source}) lacks")
            if current is not None:
                refuse_incomplete(current, "cannot compare: could not read now")
        except IncompleteBaseline as exc:
            self._host.notify(clean(exc, 2000), title=title, severity="error", markup=False,
                              timeout=20)
            return False
        return True

    # ----------------------------------------------------------------- d

    def diff(self) -> None:
        """Diff the baseline against the store now and show it (see :meth:`_show_diff`)."""
        if self._claim("diff"):
            self._start(self._show_diff, "_show_diff")

    async def _show_diff(self) -> None:
        from tui.baseline_screens import DiffScreen  # at first use: not needed for the first rows

        host = self._host
        try:
            try:
                baseline, source = await self._baseline_to_compare()
            except BaselineError as exc:
                host.notify(f"cannot diff: the newest baseline is unusable: {exc}",
                            title="Diff", severity="error", markup=False, timeout=20)
                return
            if baseline is None:
                host.notify(f"no baseline: press b first ({source})", title="Diff",
                            severity="warning", markup=False)
                return
            current = self.capture_now()
            if not self._comparable(baseline, current, source, "Diff"):
                return
            result, _regressions = await asyncio.to_thread(compare, baseline, current,
                                                           self._settings)
            host.push_screen(DiffScreen(result, baseline, source))
        finally:
            self._busy = False

    # ----------------------------------------------------------------- v

    def validate(self) -> None:
        """Validate the store now and show the report (see :meth:`_run_validation`)."""
        if self._claim("validate"):
            self._start(self._run_validation, "_run_validation")

    async def _run_validation(self) -> None:
        """Without any baseline only the absolute checks run (the "no regression" check says
        it was skipped), like ``controlroom validate`` without ``--baseline``; an unreadable
        newest baseline stops the validation, like the headless command's exit 2, so a broken
        file can never turn into a pass."""
        from tui.baseline_screens import ValidationScreen, summarize  # at first use (first rows)

        host = self._host
        try:
            try:
                baseline, source = await self._baseline_to_compare()
            except BaselineError as exc:
                host.notify(f"cannot validate: the newest baseline is unusable: {exc}",
                            title="Validate", severity="error", markup=False, timeout=20)
                return
            against = f"against the baseline {source}" if baseline is not None else \
                f"no baseline ({source}): absolute checks only; b takes one"
            current = self.capture_now()
            if baseline is not None and not self._comparable(baseline, None, source,
                                                             "Validate"):
                return
            breakers, unknown = await self._breakers()
            result = await asyncio.to_thread(validate_now, current, self._settings, baseline,
                                             breakers=None if unknown else breakers,
                                             breakers_unknown=unknown)
            self._runbook.change.record_validation(result.passed, summarize(result))
            host.push_screen(ValidationScreen(result, against))
        finally:
            self._busy = False
