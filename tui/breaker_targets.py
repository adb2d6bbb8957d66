"""The circuit breaker's targets on its plan screen: which objects it includes.

Every target the breaker would touch (apps to freeze, routes to shift, deployments to scale)
is listed with a check box; Space toggles it (``BreakerPlan.include``/``exclude``) and the
plan screen recomputes the plan, its warnings and the dry-run from what is included. A
target RBAC forbids, or one that could not be planned, blocks the breaker until it is
excluded: a breaker that stops halfway at a 403 is worse than a smaller one that holds.
Target text comes from the cluster and the config: it is shown as plain content.

The plan shown next to the list is :func:`engage_preview`: the writes engage sends (the
breaker annotation merged into each patch, or its own write for a scaled Deployment), the
very list ``controlroom breaker engage --dry-run`` previews.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import SelectionList
from textual.widgets.selection_list import Selection

from backends.ops.breaker_model import BreakerPlan, BreakerTarget
from backends.ops.plan import Plan, PlanError
from backends.sanitize import clean

if TYPE_CHECKING:
    from backends.usecases.breaker import EngageAction


def engage_preview(action: EngageAction) -> Plan:
    """The breaker as the plan screen shows it: every write engage would send, from what is
    included now (:meth:`~backends.usecases.breaker.EngageAction.preview_plan`). When a
    target cannot carry the breaker annotation, engage would refuse: the breaker's own plan
    is shown with that refusal as blocked, so Enter is refused until the target is out."""
    try:
        return action.preview_plan()
    except PlanError as exc:
        plan = action.plan.as_plan()
        plan.blocked.append(f"cannot engage: {exc}")
        return plan


def target_prompt(target: BreakerTarget) -> Content:
    """``scale payments/payments (configured): Scale payments/payments to 0``."""
    if target.error:
        state, style = f"cannot plan: {target.error}", "$text-error"
    elif target.blocked:
        state, style = "BLOCKED: " + "; ".join(target.blocked), "$text-error"
    elif target.empty:
        state, style = "already in the emergency state", "$foreground-muted"
    else:
        state = "; ".join(w.title for w in target.plan.writes) if target.plan else ""
        style = ""
    return Content.assemble((clean(target.label, 120), "bold"),
                            f" ({clean(target.why, 80)}): ", (clean(state, 200), style))


class BreakerTargets(SelectionList[str]):
    """The breaker's targets, checked when included; the values are the target keys."""

    DEFAULT_CSS = """
    BreakerTargets { height: auto; max-height: 12; }
    """

    def __init__(self, bplan: BreakerPlan, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(*(Selection(target_prompt(t), t.key, t.include)
                           for t in bplan.targets), id=id)
        self.bplan = bplan

    def apply(self) -> bool:
        """Include exactly the checked targets; True when something changed."""
        chosen = set(self.selected)
        changed = False
        for target in self.bplan.targets:
            if target.include != (target.key in chosen):
                self.bplan.include(target.key, target.key in chosen)
                changed = True
        return changed
