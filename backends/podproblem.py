"""The words of a pod problem: ``CrashLoopBackOff, restarts +3``, ``NotReady 1/2``,
``Pending 3m``.

Why here and not in the store: the store keeps the facts (status, readiness, restarts since it
first saw the pod, pending since when) and indexes them; how a problem reads is a display
decision, and it is also read back: the breaker's proposal picks crash-looping Deployments by
these words (:func:`is_crashing`). Writing and reading them in one module keeps the two from
drifting apart.
"""

from __future__ import annotations

from typing import Final

from backends.timefmt import duration

__all__ = ["is_crashing", "pending_for", "problem_reason"]

_CRASH_WORDS: Final = ("CrashLoopBackOff", "Error", "restarts +")


def problem_reason(status: str, *, failing: bool, ready: int, total: int,
                   restarts_rising: int) -> str:
    """Why a pod needs the on-call's eyes ("" when it does not): its failing status (a
    Running pod that fails is ``NotReady ready/total``), then restarts risen since the store
    first saw it."""
    reason = ""
    if failing:
        reason = status
        if status == "Running":
            reason = f"NotReady {ready}/{total}"
    if restarts_rising > 0:
        rising = f"restarts +{restarts_rising}"
        reason = f"{reason}, {rising}" if reason else rising
    return reason


def pending_for(seconds: float) -> str:
    """A pod Pending for too long: ``Pending 3m``."""
    return f"Pending {duration(seconds)}"


def is_crashing(reason: str) -> bool:
    """A reason from :func:`problem_reason` that says the pod fails (crash-looping, errors,
    restarts rising), not merely that it waits."""
    return any(word in reason for word in _CRASH_WORDS)
