"""Capped exponential backoff with jitter: how every reconnecting source waits between tries.

Why one helper: the watch sources (:mod:`backends.kube.source`) and the team bus
(:mod:`backends.signals.mqtt`) each had a loop of their own with the same idea, and the next
rule every source needs (start again from the short delay once a connection has been
healthy for a while) should be written once. Each keeps its own numbers:

- the watch sources follow client-go (doubling up to 30 s), jitter in [d/2, d] from an
  injected ``random.Random`` (tests seed it): a fleet of sources that lost the same server at
  the same moment does not come back in step;
- the team bus jitters in [0.8 d, 1.2 d] from the module-level ``random`` and stops doubling
  after 16 attempts.

The reset rule (``reset_after``), as client-go's reflector has it
(``wait.NewExponentialBackoffManager(800ms, 30s, 2min, ...)``): when the last failure is at
least ``reset_after`` seconds ago, the connection was healthy meanwhile and the next delay is
the initial one again. Without it a source whose link drops now and then (every 20 s, say)
waited a little longer after each drop until every drop cost the whole cap (issue 13: 28 s of
stale data per drop).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """Delays ``min(cap, initial * factor ** attempts)`` times a jitter drawn uniformly from
    ``[jitter_low, jitter_high]``; ``attempts`` counts the calls of :meth:`next` since
    :meth:`reset`, its exponent capped at ``max_exponent``.

    ``rng`` None draws from the module-level ``random`` (what the team bus always did).
    ``reset_after`` (seconds, None: never) starts again from ``initial`` when the previous
    call of :meth:`next` is at least that long ago on ``clock`` (see the module docstring).
    """

    def __init__(self, initial: float, cap: float, rng: random.Random | None = None,
                 factor: float = 2.0, *, jitter: tuple[float, float] = (0.5, 1.0),
                 max_exponent: int = 64, reset_after: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._initial = max(0.0, initial)
        self._cap = max(self._initial, cap)
        self._random: Callable[[], float] = rng.random if rng is not None else random.random
        self._factor = factor
        self._low, self._high = jitter
        self._max_exponent = max_exponent
        self._reset_after = reset_after
        self._clock = clock
        self._last: float | None = None
        """When :meth:`next` was last called (the last failure), on ``clock``."""
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt; grows until :meth:`reset`, or until a call
        comes ``reset_after`` seconds or more after the previous one."""
        if self._reset_after is not None:
            now = self._clock()
            if self._last is not None and now - self._last >= self._reset_after:
                self.attempts = 0
            self._last = now
        delay = min(self._cap, self._initial * self._factor ** min(self.attempts,
                                                                   self._max_exponent))
        self.attempts += 1
        return delay * (self._low + (self._high - self._low) * self._random())

    def reset(self) -> None:
        """Call after a success: the next delay is the initial one again."""
        self.attempts = 0
