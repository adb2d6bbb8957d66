"""The one path every planned action is previewed and executed through, for keys and CLI.

:func:`preview` is the dry-run: the server's answer to each write of the plan, sent through
the action's own gate (``dryRun=All``; nothing for transports without one, and nothing at all
in read-only mode). :func:`run` executes the same plan's writes through the same gate with
:func:`backends.ops.plan.execute`: in order, journaled before sending, verified by reading
back, stopping at the first failure, a blocked plan not started at all.

The rules a face cannot bend, and where they live:

- confirmation: the gate refuses a protected context unless ``confirm.typed_context`` is its
  name, and every write without a reason; :func:`refusal` tells a face beforehand, so it does
  not ask a question whose answer cannot matter;
- emergency: decided by the action (:attr:`~backends.usecases.workspace.Action.emergency`),
  never by the face;
- cancel window: on a protected context each non-emergency step waits
  ``policy.cancel_window`` seconds on a :class:`~backends.ops.gate.CancelToken`. :func:`run`
  always gives every step its own token, from the face's ``cancel_token_for`` or else a
  :class:`StepCancel` of its own, so a UI can show the countdown (``token.window_opened``,
  ``token.remaining()``) and call the write off, exactly as the CLI's Ctrl-C does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from backends.ops.gate import CancelToken, Confirmation, DryRunResult, WriteGate
from backends.ops.plan import ExecResult, Progress, execute
from backends.ops.plan import preview as preview_plan
from backends.usecases.workspace import Action

__all__ = ["StepCancel", "cancel_window", "preview", "refusal", "run"]


class StepCancel:
    """A cancel token per step for :func:`run`, and one ``stop`` for the operator's "no".

    :meth:`stop` calls off the write whose cancel window is open, or, when a write is
    already on its way, every later step (their tokens are handed out cancelled, so the gate
    refuses them and the plan stops after the write in flight). :attr:`current` is the newest
    step's token (a UI shows its countdown)."""

    def __init__(self) -> None:
        self.tokens: list[CancelToken] = []
        self.stopped = False

    def __call__(self, index: int) -> CancelToken:
        token = CancelToken()
        if self.stopped:
            token.cancel()
        self.tokens.append(token)
        return token

    @property
    def current(self) -> CancelToken | None:
        return self.tokens[-1] if self.tokens else None

    def stop(self) -> bool:
        """Stop the run; True when a write was called off in its window (nothing of it was
        sent), False when one is on its way (the run stops after it)."""
        self.stopped = True
        token = self.current
        return token is not None and token.cancel()


def refusal(gate: WriteGate, confirm: Confirmation) -> str:
    """Why the gate will refuse every write with this confirmation ("" when it will not):
    read-only mode, or a protected context whose name was not typed exactly. A face skips
    its own question then; the gate still refuses (and journals the attempt)."""
    policy = gate.policy
    if policy.read_only:
        return f"read-only mode: context {policy.context!r} gets no write"
    if policy.protected and confirm.typed_context != policy.context:
        return f"context {policy.context!r} is protected: its name must be typed"
    return ""


def cancel_window(action: Action, confirm: Confirmation) -> float:
    """Seconds each write of ``action`` will wait before it is sent (0: none): what a face
    announces ("sending in 5 s, Ctrl-C calls it off")."""
    policy = action.gate.policy
    if action.emergency or not policy.protected or refusal(action.gate, confirm):
        return 0.0
    return max(0.0, policy.cancel_window)


async def preview(action: Action) -> list[DryRunResult]:
    """The dry-run of every write of the action, through its own gate (one answer per
    write, in order; "not performed" in read-only mode or without server dry-run)."""
    return await preview_plan(action.gate, action.plan)


async def run(action: Action, *, reason: str, confirm: Confirmation,
              cancel_token_for: Callable[[int], CancelToken] | None = None,
              on_progress: Progress | None = None,
              operation_id: str | None = None) -> ExecResult:
    """Execute the action's plan through its gate (module doc). Never raises for a refusal,
    an error answer or a lost connection: the result says what was done and where it stopped.

    ``reason``: the operator's why (journal; Argo CD's ``operation.info``; a silence's
    comment). ``confirm``: what the operator typed (its ``emergency`` is replaced by the
    action's). ``cancel_token_for(index)``: the token of step ``index`` (default: a fresh
    :class:`StepCancel`). ``on_progress(index, text)``: one line per step event, for the face
    to render (``sending: ...``, ``verified: ...``, ``refused: ...``).
    """
    confirm = replace(confirm, emergency=action.emergency)
    return await execute(action.gate, action.plan, reason=reason, confirm=confirm,
                         operation_id=operation_id,
                         cancel=cancel_token_for or StepCancel(), on_progress=on_progress)
