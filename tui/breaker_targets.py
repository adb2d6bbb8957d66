"""The circuit breaker's targets on its plan screen: which objects it includes.

Every target the breaker would touch (apps to freeze, routes to shift, deployments to scale)
is listed with a check box; Enter toggles it (``BreakerPlan.include``/``exclude``; Space
types into the reason, see :class:`BreakerTargets`) and the plan screen recomputes the
plan, its warnings and the dry-run from what is included. A
target RBAC forbids, or one that could not be planned, blocks the breaker until it is
excluded: a breaker that stops halfway at a 403 is worse than a smaller one that holds.
Target text comes from the cluster and the config: it is shown as plain content.

The plan shown next to the list is :func:`engage_preview`: the writes engage sends (the
breaker annotation merged into each patch, or its own write for a scaled Deployment), the
very list ``controlroom breaker engage --dry-run`` previews.

A scale-down that would leave an HTTPRoute with no ready backend is held back (listed
unchecked, "HELD: would leave ... with no ready backend") and including it is refused; the
operator who knows better types the route into :class:`AllowNoBackend` (the dialog's
``--allow-no-backend``): the targets held for that route are then included, and the plan
shows the route left dark as accepted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, SelectionList
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
    if target.held and not target.include:
        state, style = f"HELD: {target.held}", "$text-warning"
    elif target.error:
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
    """The breaker's targets, checked when included; the values are the target keys.

    Enter toggles the highlighted target. Space and every other printable key are not
    the list's: an operator typing the reason ("INC 42 checkout") while the list happens
    to have the focus would otherwise toggle targets with each space. Such keys are
    posted as :class:`Typed` and the plan screen puts them into the reason field.

    | Key(s) | Description |
    | :- | :- |
    | enter | Include or exclude the highlighted target. |
    | up / down | Move between targets. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "typed(' ')", "Type into the reason", show=False,
                id="breaker_targets_space",
                tooltip="Space is typed into the reason field; Enter toggles a target"),
    ]
    DEFAULT_CSS = """
    BreakerTargets { height: auto; max-height: 12; }
    """

    class Typed(Message):
        """A printable key was typed while the list had the focus."""

        def __init__(self, targets: BreakerTargets, character: str) -> None:
            super().__init__()
            self.targets = targets
            self.character = character

        @property
        def control(self) -> BreakerTargets:
            return self.targets

    def __init__(self, bplan: BreakerPlan, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(*(Selection(target_prompt(t), t.key, t.include)
                           for t in bplan.targets), id=id)
        self.bplan = bplan

    def action_typed(self, character: str) -> None:
        self.post_message(self.Typed(self, character))

    def on_key(self, event: events.Key) -> None:
        if event.is_printable and event.character:
            event.stop()
            event.prevent_default()
            self.action_typed(event.character)

    def apply(self) -> bool:
        """Include exactly the checked targets; True when something changed. A toggle may
        carry others along (a shift added to protect a scale-down follows it): the check
        boxes are then set to what the plan includes."""
        chosen = set(self.selected)
        changed = False
        for target in self.bplan.targets:
            if target.include != (target.key in chosen):
                self.bplan.include(target.key, target.key in chosen)
                changed = True
        if changed:
            self.sync()
        return changed

    def sync(self) -> None:
        """Check exactly the targets the plan includes."""
        for t in self.bplan.targets:
            if t.include and t.key not in self.selected:
                self.select(t.key)
            elif not t.include and t.key in self.selected:
                self.deselect(t.key)


class AllowNoBackend(Input):
    """The routes (``ns/name``, comma or space separated) the operator accepts leaving with
    no ready backend: :meth:`~backends.ops.breaker_model.BreakerPlan.allow`."""

    def __init__(self, bplan: BreakerPlan, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(value=", ".join(sorted(bplan.allow_no_backend)),
                         placeholder="allow no backend: NS/ROUTE the breaker may leave with no "
                         "ready backend (empty: none)", id=id)
        self.bplan = bplan

    def routes(self) -> list[str]:
        """The typed routes; ValueError naming the first that is not ``ns/name``."""
        out = []
        for ref in self.value.replace(",", " ").split():
            ns, sep, name = ref.partition("/")
            if not sep or not ns or not name or "/" in name:
                raise ValueError(f"{ref!r} is not NAMESPACE/ROUTE")
            out.append(ref)
        return out

    def apply(self, targets: BreakerTargets) -> bool:
        """Allow the typed routes and check exactly the targets the plan now includes; True
        when the accepted routes changed. ValueError (nothing changed) when the text is not
        a list of routes."""
        routes = self.routes()
        if set(routes) == self.bplan.allow_no_backend:
            return False
        self.bplan.allow(routes)
        targets.sync()
        return True
