"""Asking on the terminal, and Ctrl-C while writes run.

A pipeline without ``--yes`` is refused (stdin that is not a TTY cannot say yes); on a
terminal one ``y`` is asked for, without blocking the event loop. Nothing is asked when the
gate will refuse anyway (:func:`backends.usecases.run.refusal`): the question would be a lie.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from cli.session import FAILED, fail

if TYPE_CHECKING:
    from backends.ops.gate import Confirmation, WriteGate

__all__ = ["ask", "confirmed", "sigint"]


async def confirmed(gate: WriteGate, confirm: Confirmation, *, yes: bool, writes: int) -> None:
    """Ask on the terminal unless ``yes``; refuse (exit 1) when nobody can answer."""
    from backends.usecases.run import refusal

    if refusal(gate, confirm) or yes:
        return
    if sys.stdin is None or not sys.stdin.isatty():
        fail(FAILED, "refused: stdin is not a terminal and --yes was not given; nothing "
             "was sent")
    answer = await ask(f"Send {writes} write(s) to context {gate.policy.context!r}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        fail(FAILED, "not confirmed; nothing was sent")


async def ask(prompt: str) -> str:
    """Read one line from the terminal without blocking the loop. Not ``input()`` in a
    thread: Ctrl-C would then leave ``asyncio.run`` waiting for that thread (for Enter);
    here it cancels the command like anywhere else."""
    loop = asyncio.get_running_loop()
    print(prompt, end="", flush=True)
    line: asyncio.Future[str] = loop.create_future()
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not line.done():
            line.set_result(sys.stdin.readline())

    try:
        loop.add_reader(fd, readable)
    except (NotImplementedError, OSError, ValueError):  # no reader support: plain blocking
        return sys.stdin.readline()
    try:
        return await line
    finally:
        loop.remove_reader(fd)


@contextmanager
def sigint(handler: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C runs ``handler`` on the loop inside the block; outside it, whatever was there
    before (``asyncio.run``'s own handler, which cancels the command)."""
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, handler)
    except (NotImplementedError, RuntimeError, ValueError):
        yield  # not the main thread, or a platform without signal handlers
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
