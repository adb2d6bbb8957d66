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
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """Delays ``min(cap, initial * factor ** attempts)`` times a jitter drawn uniformly from
    ``[jitter_low, jitter_high]``; ``attempts`` counts the calls of :meth:`next` since
    :meth:`reset`, its exponent capped at ``max_exponent``.

    ``rng`` None draws from the module-level ``random`` (what the team bus always did).
    """

    def __init__(self, initial: float, cap: float, rng: random.Random | None = None,
                 factor: float = 2.0, *, jitter: tuple[float, float] = (0.5, 1.0),
                 max_exponent: int = 64) -> None:
        self._initial = max(0.0, initial)
        self._cap = max(self._initial, cap)
        self._random: Callable[[], float] = rng.random if rng is not None else random.random
        self._factor = factor
        self._low, self._high = jitter
        self._max_exponent = max_exponent
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt; grows until :meth:`reset`."""
        delay = min(self._cap, self._initial * self._factor ** min(self.attempts,
                                                                   self._max_exponent))
        self.attempts += 1
        return delay * (self._low + (self._high - self._low) * self._random())

    def reset(self) -> None:
        """Call after a success: the next delay is the initial one again."""
        self.attempts = 0
