"""The production gate made visible: a countdown before each write, and Escape to stop it.

On a protected context every non-emergency write waits the gate's cancel window
(:attr:`~backends.ops.gate.GatePolicy.cancel_window`, 5 s by default) before it is sent
(``backends/ops/gate.py``). The gate opens the window on the step's
:class:`~backends.ops.gate.CancelToken`; this module shows it: :class:`WatchedCancel` hands
:func:`backends.usecases.run.run` a token per step, like :class:`~backends.usecases.run.
StepCancel`, and when the gate opens a window it pushes a :class:`CountdownScreen` that counts
down from the token's own clock (``remaining()``), names the write, the context and the step,
and calls the write off on Escape (``StepCancel.stop``: the gate then refuses it, journals the
refused attempt and sends nothing, and no later step is started). The screen closes itself
when the window closes, whichever way.

Nothing here decides whether there is a window: the gate does, and a write without one
(an emergency, an unprotected context) shows no countdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from backends.ops.gate import CancelToken
from backends.sanitize import clean
from backends.usecases.run import StepCancel
from tui.modal import ContextModal

__all__ = ["CountdownScreen", "WatchedCancel"]

TICK_S = 0.1
"""How often the countdown is redrawn (the number shown has one decimal)."""


class CountdownScreen(ContextModal[bool]):
    """The cancel window of one write: what is about to be sent, where, and in how long.

    Dismissed with True when the operator called the write off, False when the window
    closed (the write went on to the gate's journal and the server).

    | Key(s) | Description |
    | :- | :- |
    | escape | Call the write off: nothing of it is sent, no later step starts. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "call_off", "Cancel the write", id="countdown_cancel",
                tooltip="Call the write off before it is sent (nothing is sent)"),
    ]
    DEFAULT_CSS = """
    CountdownScreen { align: center middle; }
    CountdownScreen > Vertical { width: 80; height: auto; border: thick $error;
                                 background: $surface; padding: 0 1; }
    CountdownScreen #countdown-left { text-style: bold; color: $text-error; }
    CountdownScreen .countdown--hint { color: $text-muted; }
    """

    def __init__(self, token: CancelToken, stop: Callable[[], bool], *, title: str,
                 step: str, context: str) -> None:
        super().__init__()
        self.token = token
        self._stop = stop
        self._title = title
        self._step = step
        self._kube_context = context

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content.assemble(("Protected context ", "bold"),
                                          (clean(self._kube_context, 120), "bold"),
                                          ": sending ", self._step, " in"),
                         id="countdown-what")
            yield Static(Content(clean(self._title, 300)), id="countdown-write")
            yield Static(self._left(), id="countdown-left")
            yield Static(Content("Escape calls it off: nothing of it is sent and no later "
                                 "step starts."), classes="countdown--hint")

    def on_mount(self) -> None:
        self.set_interval(TICK_S, self._tick)

    def _left(self) -> Content:
        return Content(f"{self.token.remaining():.1f} s")

    @property
    def seconds_left(self) -> float:
        """What the countdown shows now (tests read it)."""
        return self.token.remaining()

    def _tick(self) -> None:
        if self.token.window_closed.is_set():
            if self.is_current:  # never pop a screen shown over this one (the palette)
                self.dismiss(self.token.cancelled)
            return
        self.query_one("#countdown-left", Static).update(self._left())

    def action_call_off(self) -> None:
        called_off = self._stop()
        self.notify("called off: nothing of it was sent" if called_off
                    else "too late: the write is on its way; no later step will start",
                    severity="warning" if called_off else "error", markup=False)
        self.dismiss(called_off)


class WatchedCancel(StepCancel):
    """:class:`StepCancel` whose tokens are watched: when the gate opens a step's cancel
    window, ``show(token, index)`` is called (the App pushes a :class:`CountdownScreen`).
    :meth:`close` ends the watches of steps that never opened one (refused, not reached)."""

    def __init__(self, show: Callable[[CancelToken, int], None]) -> None:
        super().__init__()
        self._show = show
        self._watches: list[asyncio.Task[None]] = []

    def __call__(self, index: int) -> CancelToken:
        token = super().__call__(index)
        self._watches.append(asyncio.get_running_loop().create_task(
            self._watch(token, index), name=f"cancel window {index + 1}"))
        return token

    async def _watch(self, token: CancelToken, index: int) -> None:
        await token.window_opened.wait()
        if not token.window_closed.is_set():
            self._show(token, index)

    async def close(self) -> None:
        for task in self._watches:
            task.cancel()
        await asyncio.gather(*self._watches, return_exceptions=True)
        self._watches.clear()
