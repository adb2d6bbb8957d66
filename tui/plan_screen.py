"""The plan screen: every write an action will send, before anything is sent.

It lists each write (method, path, the change and the prior state undo will restore), the
warnings (selfHeal will revert this, an ApplicationSet will undo the pause), the steps RBAC
blocks, and the server's dry-run answer for each write. The operator gives a reason (journaled
with every write) and, on a production context, types the context name. Dismissed with a
:class:`Decision`, or None when cancelled. All text that came from the cluster is rendered as
plain content, never as markup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from backends.ops.gate import Confirmation, DryRunResult, WriteGate
from backends.ops.plan import Plan, preview
from backends.sanitize import clean


@dataclass(frozen=True)
class Decision:
    """The operator's go: the reason to journal and the confirmation for the gate."""

    reason: str
    confirm: Confirmation


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return clean(text if len(text) <= limit else text[: limit - 1] + "…")


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
    for warning in plan.warnings:
        parts += [("! " + clean(warning), "$text-warning"), "\n"]
    for blocked in plan.blocked:
        parts += [("blocked: " + clean(blocked), "$text-error"), "\n"]
    for info in plan.info:
        parts += [("· " + clean(info), "$foreground-muted"), "\n"]
    return Content.assemble(*parts)


class PlanScreen(ModalScreen[Decision | None]):
    """Shows a plan; Enter in the last field confirms, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="plan_cancel", tooltip="Send nothing"),
    ]
    DEFAULT_CSS = """
    PlanScreen { align: center middle; }
    PlanScreen > Vertical { width: 90%; height: 85%; border: round $primary;
                            background: $surface; padding: 0 1; }
    PlanScreen VerticalScroll { height: 1fr; }
    PlanScreen .plan--hint { color: $text-muted; }
    PlanScreen .plan--error { color: $text-error; }
    """

    def __init__(self, plan: Plan, gate: WriteGate | None, *, context: str, protected: bool,
                 read_only: bool, emergency: bool = False, default_reason: str = "") -> None:
        super().__init__()
        self.plan = plan
        self._gate = gate
        self._kube_context = context
        self._protected = protected
        self._read_only = read_only
        self._emergency = emergency
        self._default_reason = default_reason
        self._dry: list[DryRunResult] | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Static(plan_content(self.plan, None), id="plan-body")
            if self._read_only:
                yield Static(Content("READ-ONLY: nothing can be sent. Escape to close."),
                             classes="plan--error")
            elif self.plan.blocked:
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

    def on_mount(self) -> None:
        self.run_preview()
        inputs = self.query(Input)
        if inputs:
            inputs.first().focus()

    @work(exclusive=True, exit_on_error=False)
    async def run_preview(self) -> None:
        """Server dry-run of every write (the gate refuses it in read-only mode)."""
        if self._gate is None or not self.plan.writes:
            return
        self._dry = await preview(self._gate, self.plan)
        self.query_one("#plan-body", Static).update(plan_content(self.plan, self._dry))

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        reason = self.query_one("#plan-reason", Input).value.strip()
        error = self.query_one("#plan-error", Static)
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
