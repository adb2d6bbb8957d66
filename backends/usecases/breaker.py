"""Circuit-breaker use cases: plan, preview, engage, plan release, release, status.

The breaker is run by :mod:`backends.ops.breaker` itself (phases in order, targets of a phase
concurrently, one operation id, annotations), not by :func:`~backends.usecases.run.run`; what
this module guarantees is that the faces preview exactly what it sends:

- engage: :meth:`EngageAction.preview_plans` are the writes :func:`~backends.ops.breaker.engage`
  builds (:func:`~backends.ops.breaker.engage_writes`: the breaker annotation merged into each
  patch or added as its own write), not the bare planner plans;
- release: ONE planner, :func:`backends.ops.breaker.plan_release`, for the dry-run and for
  :func:`~backends.ops.breaker.release` (which plans each stacked breaker again right before
  restoring it, with the same code). The CLI used to plan release on its own and left out the
  annotation removal, so ``breaker release --dry-run`` showed something else than was sent.

Both run as an emergency (no cancel window; a protected context still needs its name typed).
Scope: the targets given, else the config's ``[breaker]``, else a proposal from the live state
(the App's store, or the cluster listed once with
:func:`backends.usecases.baseline.list_cluster` when there is no store).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from backends.breaker_scope import BreakerConfig
from backends.ops import breaker
from backends.ops.breaker import (
    BreakerPlan,
    BreakerResult,
    BreakerState,
    LiveState,
    OnProgress,
    ReleasePlan,
)
from backends.ops.breaker_mark import read_mark
from backends.ops.gate import Confirmation, DryRunResult, WriteGate
from backends.ops.journal import Journal, OpenOperation
from backends.ops.plan import Offer, Plan, PlanError, Poll, Reader
from backends.ops.plan import preview as preview_plan
from backends.sanitize import clean
from backends.store import Store
from backends.usecases.workspace import Workspace

__all__ = [
    "EngageAction",
    "ReleaseAction",
    "cluster_status",
    "engage",
    "plan_engage",
    "plan_release",
    "preview_engage",
    "preview_release",
    "live_status",
    "release",
    "status",
]

EMERGENCY = Confirmation(emergency=True)


@dataclass
class EngageAction:
    """A planned breaker. ``plan`` is editable (the face includes/excludes targets with
    ``plan.include``); everything below is computed from what is included now."""

    plan: BreakerPlan
    gate: WriteGate

    def preview_plans(self) -> list[tuple[str, Plan]]:
        """(target label, its writes exactly as engage sends them), in phase order. Raises
        PlanError when a target cannot carry the breaker annotation (engage would refuse)."""
        return [(t.label, Plan(title=t.label, writes=writes, info=list(t.plan.info)
                               if t.plan else []))
                for t, writes in breaker.engage_writes(self.plan, self.gate.policy.operator)]

    def preview_plan(self) -> Plan:
        """One plan for a generic plan screen: the breaker's warnings, refusals and notes
        (:meth:`BreakerPlan.as_plan`) with the writes engage sends."""
        out = self.plan.as_plan()
        out.writes = [w for _label, p in self.preview_plans() for w in p.writes]
        return out


@dataclass
class ReleaseAction:
    """What releasing would write (per engaged breaker, newest first). ``restore_bad``:
    auto-sync is restored even where it would sync a revision recorded as bad (the plan's
    ``held`` lists where it is not, and :attr:`anyway` offers it)."""

    plan: ReleasePlan
    gate: WriteGate
    operation_id: str | None = None
    anyway: Offer | None = None
    """The explicit choice to restore the held apps' auto-sync anyway: its plan is the
    preview of :func:`plan_release` with ``restore_bad`` (a face plans that action again
    when the operator takes it)."""

    @property
    def restore_bad(self) -> bool:
        return self.plan.restore_bad

    def preview_plan(self) -> Plan:
        """Every restore write in release order (annotation removals included), the
        refusals as ``blocked``, the apps kept paused as ``held`` and the offer to restore
        them anyway."""
        out = self.plan.as_plan()
        if self.anyway is not None:
            out.offers.append(self.anyway)
        return out


async def _store_for_proposal(ws: Workspace) -> tuple[Store, list[str]]:
    if ws.store is not None:
        return ws.store, []
    from backends.usecases.baseline import list_cluster

    return await list_cluster(ws.conn, ws.settings, probe=False)


async def plan_engage(ws: Workspace, scope: BreakerConfig | None = None, *,
                      poll: Poll | None = None,
                      allow_no_backend: Iterable[tuple[str, str]] = ()) -> EngageAction:
    """Plan the breaker (module doc for the scope). Never writes. Notes on what could not
    be listed for a proposal are in ``plan.info``. The face renders ``plan.describe()``,
    the writes of :meth:`EngageAction.preview_plans`, warnings and refusals.
    ``allow_no_backend``: HTTPRoutes the operator accepts leaving with no ready backend
    (added to the config's; the breaker otherwise holds back what would empty them)."""
    config = scope if scope is not None else getattr(ws.settings, "breaker", None)
    store: Store | None = None
    notes: list[str] = []
    if config is None:
        store, notes = await _store_for_proposal(ws)
    plan = await breaker.plan_engage(ws.conn, ws.gate, store, config, poll=poll,
                                     allow_no_backend=allow_no_backend)
    plan.info[:0] = [f"could not list {clean(n, 300)}" for n in notes]
    for t in plan.targets:  # as read while planning; engage reads the cluster again
        mark = read_mark(t.prior_mark, t.kind)
        if mark is not None:
            plan.notes.append(f"{t.label} carries the mark of breaker {mark.operation} (by "
                              f"{clean(mark.by, 60)} since {clean(mark.since, 40)}): engaging "
                              "joins that breaker and leaves this target to it")
    return EngageAction(plan, ws.gate)


async def preview_engage(action: EngageAction) -> list[tuple[str, Plan, list[DryRunResult]]]:
    """The server's dry-run of every write engage would send, per target."""
    return [(label, plan, await preview_plan(action.gate, plan))
            for label, plan in action.preview_plans()]


async def engage(ws: Workspace, action: EngageAction, *, reason: str, confirm: Confirmation,
                 on_progress: OnProgress | None = None) -> BreakerResult:
    """Engage as planned, as an emergency. Never raises for refusals or failures: the
    result says per target what was done, failed or never attempted (``summary()``)."""
    return await breaker.engage(action.gate, action.plan, reason=reason,
                                confirm=replace(confirm, emergency=True),
                                on_progress=on_progress)


async def plan_release(ws: Workspace, operation_id: str | None = None, *,
                       poll: Poll | None = None, restore_bad: bool = False) -> ReleaseAction:
    """Plan the release of ``operation_id`` (None: every engaged breaker, newest first) from
    the journal. Needs a journal (PlanError otherwise). Never writes. Auto-sync that would
    sync a revision recorded as bad stays paused unless ``restore_bad``."""
    journal = _journal(ws)
    rplan = await breaker.plan_release(ws.conn, ws.gate, journal, ws.context, operation_id,
                                       poll=poll, restore_bad=restore_bad)
    action = ReleaseAction(rplan, ws.gate, operation_id)
    if rplan.held and not restore_bad:
        async def anyway() -> Plan:
            again = await plan_release(ws, operation_id, poll=poll, restore_bad=True)
            return again.preview_plan()

        apps = len(rplan.held)
        action.anyway = Offer(f"Release and restore auto-sync anyway ({apps} app(s) onto a "
                              "revision recorded as bad)", anyway)
    return action


async def preview_release(action: ReleaseAction) -> list[DryRunResult]:
    """The server's dry-run of every restore write, in :meth:`ReleaseAction.preview_plan`
    order."""
    return await preview_plan(action.gate, action.preview_plan())


async def release(ws: Workspace, action: ReleaseAction, *, reason: str, confirm: Confirmation,
                  on_progress: OnProgress | None = None,
                  poll: Poll | None = None) -> BreakerResult:
    """Release what ``action`` planned, as an emergency (the same planner runs again right
    before each breaker's writes: a stacked older breaker is restored against the state the
    newer one's release left)."""
    return await breaker.release(action.gate, _journal(ws), ws.conn, ws.context,
                                 action.operation_id, reason=reason,
                                 confirm=replace(confirm, emergency=True),
                                 on_progress=on_progress, poll=poll,
                                 restore_bad=action.restore_bad)


async def status(ws: Workspace) -> BreakerState:
    """The breaker state from the journal (the header: no I/O beyond the journal)."""
    return await breaker.breaker_status(_journal(ws), ws.context)


async def live_status(ws: Workspace) -> LiveState:
    """The breaker as the journal AND the cluster's marks know it, checked against the
    objects (``breaker status``): a breaker engaged by another operator, or whose journal is
    gone, shows from its marks; a release killed halfway leaves the journal saying engaged
    while objects are back, and this says "partly released: k of n restored" then, per
    target which. When the cluster cannot be read the result carries why and the journal's
    state."""
    ops = await ws.journal.open_operations(ws.context) if ws.journal is not None else []
    return await cluster_status(ws.conn, ops)


async def cluster_status(conn: Reader, operations: Sequence[OpenOperation]) -> LiveState:
    """:func:`live_status` from the journal's open operations (``breaker status`` reads a
    journal without opening a session)."""
    marks = await breaker.scan(conn)
    return await breaker.live_state(conn, breaker.combined_state(operations, marks))


def _journal(ws: Workspace) -> Journal:
    if ws.journal is None:
        raise PlanError("the breaker needs the journal, and none is open")
    return ws.journal
