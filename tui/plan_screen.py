"""The plan screen: every write an action will send, before anything is sent.

Its first line names what the plan acts on, by kind, namespace and name (``target:
Application argocd/checkout``). It lists each write (method, path, the change and the prior
state undo will restore), the
warnings (selfHeal will revert this, an ApplicationSet will undo the pause), the steps RBAC
blocks, and the server's dry-run answer for each write. The operator gives a reason (journaled
with every write; prefilled with the session's last one, see ``ActionController.reason``)
and, on a production context, types the context name. Dismissed with a
:class:`Decision`, or None when cancelled. All text that came from the cluster is rendered as
plain content, never as markup.

A plan may carry *offers* (:class:`~backends.ops.plan.Offer`: "pause auto-sync of
argocd/payments first" next to a scale that selfHeal would revert). They are listed above the
reason with keys ``1``..``9``; taking one dismisses with a :class:`Decision` whose ``offer``
is set, and the caller plans that instead (the original action can be pressed again after).
When there are offers they have the focus first, because they are the safer path: Tab goes
on to the reason field. Read-only mode shows none (nothing could be sent).

For the circuit breaker the screen also lists the breaker's targets
(:class:`~tui.breaker_targets.BreakerTargets`): the reason field has the focus first, the
list is one Tab away and Enter there includes or excludes a target, and the plan shown (and
its dry-run) follows; a key typed on the list goes to the reason, never toggles a target. A
blocked plan is refused at Enter until the blocked targets are excluded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Input, OptionList, SelectionList, Static
from textual.widgets.option_list import Option

from backends.ops.gate import Confirmation, DryRunResult, WriteGate
from backends.ops.plan import Offer, Plan
from backends.sanitize import clean
from backends.usecases.run import preview
from backends.usecases.workspace import Action
from tui.breaker_targets import AllowNoBackend, BreakerTargets, engage_preview
from tui.modal import ContextModal

if TYPE_CHECKING:
    from backends.usecases.breaker import EngageAction


@dataclass(frozen=True)
class Decision:
    """The operator's go: the reason to journal and the confirmation for the gate."""

    reason: str
    confirm: Confirmation
    offer: Offer | None = None
    """Set when the operator took an offer instead: plan and show that (nothing of this
    plan is sent)."""


def _short(value: object, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return clean(text if len(text) <= limit else text[: limit - 1] + "…")


TARGETS_SHOWN = 6
"""Targets named in the plan's title line; more are counted."""


def target_names(plan: Plan) -> list[str]:
    """``Application argocd/checkout``: each object the plan writes to, once, in order."""
    names: list[str] = []
    for w in plan.writes:
        ref = w.request.target
        where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
        name = clean(f"{ref.kind} {where}", 200)
        if name not in names:
            names.append(name)
    return names


def targets_content(plan: Plan) -> Content:
    """The plan's title line: what it acts on, by kind, namespace and name, so a plan for
    the row the cursor rests on is never mistaken for one for the row the eye is on."""
    names = target_names(plan)
    if not names:
        return Content.styled("no target: nothing to send", "$foreground-muted")
    label = "target: " if len(names) == 1 else f"{len(names)} targets: "
    shown = ", ".join(names[:TARGETS_SHOWN])
    more = f" (+{len(names) - TARGETS_SHOWN} more)" if len(names) > TARGETS_SHOWN else ""
    return Content.assemble((label, "bold"), (shown, "bold $text-accent"), more)


def plan_content(plan: Plan, dry: list[DryRunResult] | None) -> Content:
    """The plan as plain content (every string passes through ``clean``, no markup)."""
    parts: list[str | tuple[str, str]] = [(clean(plan.title), "bold"), "\n\n"]
    for i, w in enumerate(plan.writes, 1):
        parts += [(f"{i}. ", "bold"), clean(w.title), "\n"]
        req = w.request
        parts += ["   ", (f"{req.method} {clean(req.path)}", "$text-primary"), "\n"]
        parts += ["   change: ", _short(w.intent), "\n"]
        parts += ["   prior:  ", _short(w.prior), "\n"]
        for warning in w.warnings:
            parts += ["   ", ("! " + clean(warning), "$text-warning"), "\n"]
        if dry is not None and i - 1 < len(dry):
            d = dry[i - 1]
            if not d.performed:
                parts += ["   dry-run: ", ("not performed: " + clean(d.message or d.reason),
                                           "$foreground-muted"), "\n"]
            elif d.ok:
                parts += ["   dry-run: ", ("accepted by the server", "$text-success"), "\n"]
            else:
                parts += ["   dry-run: ", (f"refused: {clean(d.reason)} {clean(d.message)}",
                                           "$text-error"), "\n"]
    if not plan.writes:
        parts += [("Nothing to do.", "$foreground-muted"), "\n"]
    for held in plan.held:
        parts += [("held back: " + clean(held), "bold $text-error"), "\n"]
    for warning in plan.warnings:
        parts += [("! " + clean(warning), "$text-warning"), "\n"]
    for blocked in plan.blocked:
        parts += [("blocked: " + clean(blocked), "$text-error"), "\n"]
    for info in plan.info:
        parts += [("· " + clean(info), "$foreground-muted"), "\n"]
    return Content.assemble(*parts)


class PlanScreen(ContextModal[Decision | None]):
    """Shows a plan; Enter in the last field confirms, Escape cancels.

    | Key(s) | Description |
    | :- | :- |
    | enter | In the reason (or the typed context) field: send. |
    | 1..9 | Outside the text fields: take that offer instead (plan it). |
    | escape | Cancel: nothing is sent. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="plan_cancel", tooltip="Send nothing"),
        *(Binding(str(n), f"take_offer({n - 1})", f"Offer {n}", id=f"plan_offer_{n}",
                  show=n == 1, tooltip=f"Plan offer {n} instead of this plan")
          for n in range(1, 10)),
    ]
    DEFAULT_CSS = """
    PlanScreen { align: center middle; }
    PlanScreen > Vertical { width: 90%; height: 85%; border: round $primary;
                            background: $surface; padding: 0 1; }
    PlanScreen VerticalScroll { height: 1fr; }
    PlanScreen .plan--hint { color: $text-muted; }
    PlanScreen .plan--error { color: $text-error; }
    PlanScreen #plan-offers { height: auto; max-height: 6; border: none; }
    PlanScreen #plan-target { background: $boost; padding: 0 1; }
    """

    def __init__(self, plan: Plan, gate: WriteGate | None, *, context: str, protected: bool,
                 read_only: bool, emergency: bool = False, default_reason: str = "",
                 breaker: EngageAction | None = None) -> None:
        super().__init__()
        self._breaker = breaker
        """With a planned breaker, its targets are listed for include/exclude and ``plan``
        follows them (the writes engage sends, :func:`~tui.breaker_targets.engage_preview`);
        the reason field is always there, and a plan that is blocked at Enter is refused
        with a message."""
        self.plan = plan
        self._gate = gate
        self._kube_context = context
        self._protected = protected
        self._read_only = read_only
        self._emergency = emergency
        self._default_reason = default_reason
        self._dry: list[DryRunResult] | None = None

    def compose_controls(self) -> ComposeResult:
        """The breaker's target list, between the plan and the reason field."""
        if self._breaker is not None:
            yield Static(Content.styled("Targets (Tab to the list, then Enter toggles the "
                                        "highlighted one; blocked ones must be excluded; "
                                        "typing goes to the reason)", "bold"),
                         classes="plan--hint")
            yield BreakerTargets(self._breaker.plan, id="breaker-targets")

    @on(SelectionList.SelectedChanged, "#breaker-targets")
    def targets_changed(self, event: SelectionList.SelectedChanged[str]) -> None:
        event.stop()
        targets = self.query_one("#breaker-targets", BreakerTargets)
        if targets.apply() and self._breaker is not None:
            self.show_plan(engage_preview(self._breaker))

    @on(Input.Changed, "#breaker-allow")
    def allow_changed(self, event: Input.Changed) -> None:
        """The routes accepted to be left with no ready backend: the plan follows."""
        event.stop()
        box = self.query_one("#breaker-allow", AllowNoBackend)
        error = self.query("#plan-error")
        try:
            changed = box.apply(self.query_one("#breaker-targets", BreakerTargets))
        except ValueError as exc:
            if error:
                error.first(Static).update(Content(f"allow no backend: {exc}"))
            return
        if error:
            error.first(Static).update(Content(""))
        if changed and self._breaker is not None:
            self.show_plan(engage_preview(self._breaker))

    def show_plan(self, plan: Plan) -> None:
        """Show ``plan`` instead (an editor changed it) and dry-run it again."""
        self.plan = plan
        self._dry = None
        self.query_one("#plan-body", Static).update(plan_content(plan, None))
        self.query_one("#plan-target", Static).update(targets_content(plan))
        self.run_preview()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(targets_content(self.plan), id="plan-target")
            with VerticalScroll():
                yield Static(plan_content(self.plan, None), id="plan-body")
            if self.offers:
                yield Static(Content.styled("Offered instead (press its number; Tab goes on "
                                            "to this plan):", "bold"), classes="plan--hint")
                yield OptionList(*(Option(Content.assemble((f"{i}. ", "bold"),
                                                           clean(o.title)), id=str(i - 1))
                                   for i, o in enumerate(self.offers, 1)), id="plan-offers")
            yield from self.compose_controls()
            if self._read_only:
                yield Static(Content("READ-ONLY: nothing can be sent. Escape to close."),
                             classes="plan--error")
            elif self.plan.blocked and self._breaker is None:
                yield Static(Content("Some steps are not allowed for you (see 'blocked'): "
                                     "nothing will be sent. Escape to close."),
                             classes="plan--error")
            else:
                yield Input(value=self._default_reason, placeholder="reason (change or incident "
                            "id), journaled with every write", id="plan-reason")
                if self._protected:
                    yield Input(placeholder=f"production: type the context name "
                                f"({self._kube_context}) to confirm", id="plan-confirm")
                yield Static(Content("Enter to send, Escape to cancel"), classes="plan--hint")
                yield Static(id="plan-error", classes="plan--error")
                if self._breaker is not None:
                    # After the reason, so Tab from the targets still reaches the reason first.
                    yield AllowNoBackend(self._breaker.plan, id="breaker-allow")

    @property
    def offers(self) -> list[Offer]:
        """The offers shown (none in read-only mode: nothing could be sent)."""
        return [] if self._read_only else self.plan.offers[:9]

    def on_mount(self) -> None:
        self.run_preview()
        self.focus_first()

    def focus_first(self) -> None:
        """The breaker's reason field first (what the operator types goes where they
        look; the target list is one Tab away), offers first on other plans (the safer
        path), else the reason field."""
        inputs = self.query(Input)
        if self.offers and self._breaker is None:
            self.query_one("#plan-offers", OptionList).focus()
        elif inputs:
            inputs.first().focus()
        elif self._breaker is not None:
            self.query_one("#breaker-targets", BreakerTargets).focus()

    def on_breaker_targets_typed(self, event: BreakerTargets.Typed) -> None:
        """A key typed on the target list belongs to the reason: it goes there (and the
        focus with it, the text not selected, so the next keys add to it), it never
        toggles a target. A prefilled reason nobody edited is replaced, as typing into the
        focused field would."""
        box = next(iter(self.query("#plan-reason").results(Input)), None)
        if box is None:
            return
        if box.value == self._default_reason:
            box.value = ""
        box.select_on_focus = False
        box.focus()
        box.insert_text_at_cursor(event.character)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "take_offer":
            index = parameters[0] if parameters else -1
            return isinstance(index, int) and 0 <= index < len(self.offers)
        return True

    def action_take_offer(self, index: int) -> None:
        """Dismiss with the offer: the caller plans it instead of this plan."""
        if 0 <= index < len(self.offers):
            self.dismiss(Decision("", Confirmation(), offer=self.offers[index]))

    @on(OptionList.OptionSelected, "#plan-offers")
    def offer_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_take_offer(int(event.option_id or -1))

    @work(exclusive=True, exit_on_error=False)
    async def run_preview(self) -> None:
        """Server dry-run of every write through the gate that will send it (the use
        cases' one preview path; the gate refuses it in read-only mode)."""
        if self._gate is None or not self.plan.writes:
            return
        plan = self.plan
        dry = await preview(Action(plan, self._gate))
        if plan is self.plan:  # not replaced by an edit meanwhile
            self._dry = dry
            self.query_one("#plan-body", Static).update(plan_content(plan, dry))

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "breaker-allow":
            self.query_one("#plan-reason", Input).focus()  # Enter here goes back, sends nothing
            return
        reason = self.query_one("#plan-reason", Input).value.strip()
        error = self.query_one("#plan-error", Static)
        if self.plan.blocked:
            error.update(Content("Blocked steps (see 'blocked') must be excluded first: "
                                 "nothing was sent."))
            return
        if not reason:
            error.update(Content("A reason is required (it goes into the journal)."))
            self.query_one("#plan-reason", Input).focus()
            return
        typed: str | None = None
        if self._protected:
            box = self.query_one("#plan-confirm", Input)
            if event.input is not box:
                box.focus()
                return
            typed = box.value.strip()
            if typed != self._kube_context:
                error.update(Content(f"Type the context name exactly: {self._kube_context}"))
                return
        self.dismiss(Decision(reason, Confirmation(typed_context=typed,
                                                   emergency=self._emergency)))

    def action_cancel(self) -> None:
        self.dismiss(None)
