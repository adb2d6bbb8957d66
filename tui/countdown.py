"""The production gate made visible: a countdown before each write, and Escape to stop it.

On a protected context every non-emergency write waits the gate's cancel window
(:attr:`~backends.ops.gate.GatePolicy.cancel_window`, 5 s by default) before it is sent
(``backends/ops/gate.py``). The gate opens the window on the step's
:class:`~backends.ops.gate.CancelToken`; this module shows it. :class:`WatchedCancel` hands
:func:`backends.usecases.run.run` a token per step, like
:class:`~backends.usecases.run.StepCancel`, and calls back when the gate opens a window; the
App then shows (or moves on) one :class:`CountdownScreen` for the run: it names the write, the
step and the context, counts down from the token's own clock (``remaining()``), and on Escape
calls the write off (``StepCancel.stop``: the gate refuses it, journals the refused attempt
and sends nothing, and no later step starts).

One screen per run, dismissed by the run when it ends (or by Escape), rather than one per
window dismissing itself: a screen that pops itself from a timer races the next step's screen
and the App's own exit.

Nothing here decides whether there is a window: the gate does, and a run without one (an
emergency, an unprotected context) shows no countdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from backends.ops.gate import CancelToken
from backends.sanitize import clean
from backends.usecases.run import StepCancel
from tui.modal import ContextModal

if TYPE_CHECKING:
    from tui.host import Host

__all__ = ["CountdownScreen", "CountedRun", "WatchedCancel"]

TICK_S = 0.1
"""How often the countdown is redrawn (the number shown has one decimal)."""


class CountdownScreen(ContextModal[None]):
    """The cancel windows of one run: what is about to be sent, where, and in how long.

    | Key(s) | Description |
    | :- | :- |
    | escape | Call the write off (nothing of it is sent) and start no later step. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "call_off", "Cancel the write", id="countdown_cancel",
                tooltip="Call the write off before it is sent (nothing of it is sent)"),
    ]
    DEFAULT_CSS = """
    CountdownScreen { align: center middle; }
    CountdownScreen > Vertical { width: 84; height: auto; border: thick $error;
                                 background: $surface; padding: 0 1; }
    CountdownScreen #countdown-left { text-style: bold; color: $text-error; }
    CountdownScreen .countdown--hint { color: $text-muted; }
    """

    def __init__(self, stop: Callable[[], bool], *, titles: Sequence[str],
                 context: str) -> None:
        super().__init__()
        self._stop = stop
        self._titles = [clean(t, 300) for t in titles]
        self._kube_context = context
        self.token: CancelToken | None = None
        """The token of the step whose window is (or was last) open."""
        self.index = 0
        self.finished = False
        """The run is over (the plan's summary is in a notification)."""
        self._dismissing = False

    def follow(self, token: CancelToken, index: int) -> None:
        """Count down the window of step ``index`` now."""
        self.token, self.index = token, index
        self._redraw()

    def finish(self) -> None:
        """The run ended while another screen covered this one: say so; Escape closes."""
        self.finished = True
        self._redraw()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="countdown-what")
            yield Static(id="countdown-write")
            yield Static(id="countdown-left")
            yield Static(Content("Escape calls it off: nothing of it is sent and no later "
                                 "step starts."), classes="countdown--hint")

    def on_mount(self) -> None:
        self._redraw()
        self.set_interval(TICK_S, self._redraw)

    @property
    def seconds_left(self) -> float:
        """What the countdown shows now (tests read it)."""
        return self.token.remaining() if self.token is not None else 0.0

    def _left(self) -> str:
        token = self.token
        if self.finished:
            return "finished: the result is in the notification (Escape closes)"
        if token is None:
            return ""
        if not token.window_closed.is_set():
            return f"{token.remaining():.1f} s"
        if token.cancelled:
            return "called off: nothing of it was sent"
        more = self.index + 1 < len(self._titles)
        return ("its window passed: sent; the next write's window opens once it is verified"
                if more else "its window passed: sent, being verified")

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        step = f"write {self.index + 1} of {len(self._titles)}"
        title = self._titles[self.index] if self.index < len(self._titles) else ""
        self.query_one("#countdown-what", Static).update(Content.assemble(
            ("Protected context ", "bold"), (clean(self._kube_context, 120), "bold"),
            f": {step} is sent in"))
        self.query_one("#countdown-write", Static).update(Content(title))
        self.query_one("#countdown-left", Static).update(Content(self._left()))

    def action_call_off(self) -> None:
        if self._dismissing:
            return
        self._dismissing = True
        if not self.finished:
            called_off = self._stop()
            self.notify("called off: nothing of that write was sent, no later step starts"
                        if called_off else
                        "too late for that write (it is on its way); no later step starts",
                        severity="warning" if called_off else "error", markup=False)
        self.dismiss(None)

    async def close(self) -> None:
        """The run is over: go, unless another screen covers this one (it then says the
        run finished and waits for Escape: popping would take the screen above)."""
        if self._dismissing or self not in self.app.screen_stack:
            return
        if self.is_active:
            self._dismissing = True
            await self.dismiss(None)
        else:
            self.finish()


class WatchedCancel(StepCancel):
    """:class:`StepCancel` whose tokens are watched: when the gate opens a step's cancel
    window, ``show(token, index)`` is called. :meth:`close` ends the watches of steps that
    never opened one (refused, not reached)."""

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
        self._show(token, index)

    async def close(self) -> None:
        for task in self._watches:
            task.cancel()
        await asyncio.gather(*self._watches, return_exceptions=True)
        self._watches.clear()


class CountedRun:
    """The countdown of one plan's run: :attr:`cancel` goes to
    :func:`backends.usecases.run.run` (and is what a key stops), the screen is pushed when
    the first window opens and follows the later ones, and :meth:`close` ends it all."""

    def __init__(self, host: Host, titles: Sequence[str], context: str) -> None:
        self._host = host
        self._titles = list(titles)
        self._context = context
        self.screen: CountdownScreen | None = None
        self.cancel = WatchedCancel(self._show)

    def _show(self, token: CancelToken, index: int) -> None:
        if self.screen is None:
            self.screen = CountdownScreen(self.cancel.stop, titles=self._titles,
                                          context=self._context)
            self._host.push_screen(self.screen)
        self.screen.follow(token, index)

    async def close(self) -> None:
        """After the run: stop watching, and take the screen away."""
        await self.cancel.close()
        if self.screen is not None:
            await self.screen.close()
