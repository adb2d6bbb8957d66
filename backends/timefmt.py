"""How long ago, in the words every panel, the header and the store use: ``42s``, ``7m``,
``5h``, ``3d``, ``2y``.

Why one function: the store (a pod "Pending 3m"), the header's health strip and the panels had
three formatters with three sets of thresholds, so the same age could read ``90s`` in one place
and ``2m`` in another. These are the panels' rules (kubectl's units, coarser than kubectl on
purpose: no ``5m12s``, so re-aging a big table touches fewer rows): whole units, truncated;
seconds below two minutes, minutes below two hours, hours below two days, days below two
years, then years.

Times come from outside (the cluster, Prometheus, Alertmanager, the team bus) and may lie in
the future: a skewed clock, or a message dated year 9999. Such a moment is said as such
(:data:`FUTURE_AGE` in an age cell, "in the future" in :func:`ago`), never "0s", and
:func:`bounded` keeps it from outranking the present where times are compared.
"""

from __future__ import annotations

__all__ = [
    "FUTURE_AGE",
    "FUTURE_TOLERANCE",
    "UNKNOWN_AGE",
    "age",
    "age_changes_at",
    "ago",
    "bounded",
    "duration",
    "in_future",
]

UNKNOWN_AGE = "?"
"""What :func:`age` says when the moment is unknown."""
FUTURE_AGE = "skew"
"""What :func:`age` says of a moment in the future: clock skew (age cells are 5 wide)."""
FUTURE_TOLERANCE = 5.0
"""Seconds a moment may lie ahead of our clock and still count as "now": two hosts' clocks
differ by a little even when both are synchronised, and "skew" for 300 ms would cry wolf."""

_STEPS = ((120.0, 1.0), (7200.0, 60.0), (172_800.0, 3600.0), (730 * 86400.0, 86400.0))
"""(below this many seconds, the text changes every this many seconds)."""


def duration(seconds: float) -> str:
    """A span of time as one truncated unit: ``42s``, ``7m``, ``5h``, ``3d``, ``2y``
    (negative spans read as ``0s``)."""
    if seconds < 0:
        seconds = 0.0
    if seconds < 120:
        return f"{int(seconds)}s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{int(minutes)}m"
    hours = minutes / 60
    if hours < 48:
        return f"{int(hours)}h"
    days = hours / 24
    if days < 730:
        return f"{int(days)}d"
    return f"{int(days / 365)}y"


def in_future(moment: float | None, now: float) -> bool:
    """Whether ``moment`` lies beyond ``now`` by more than :data:`FUTURE_TOLERANCE`."""
    return moment is not None and moment - now > FUTURE_TOLERANCE


def bounded(moment: float, now: float) -> float:
    """``moment``, or ``now`` when it lies in the future: for comparing times from outside,
    so a message dated year 9999 ranks as "now", never above what happens later."""
    return now if moment - now > FUTURE_TOLERANCE else moment


def age(since: float | None, now: float) -> str:
    """kubectl-style age of the epoch time ``since`` at ``now``; :data:`UNKNOWN_AGE` when
    ``since`` is unknown (None or 0), :data:`FUTURE_AGE` when it lies in the future."""
    if not since:
        return UNKNOWN_AGE
    if since - now > FUTURE_TOLERANCE:
        return FUTURE_AGE
    return duration(now - since)


def ago(moment: float | None, now: float) -> str:
    """``5m ago``; ``in the future (clock skew)`` for a future moment; ``""`` when the moment
    is unknown."""
    if not moment:
        return ""
    if moment - now > FUTURE_TOLERANCE:
        return "in the future (clock skew)"
    return f"{duration(now - moment)} ago"


def age_changes_at(since: float | None, now: float) -> float | None:
    """When :func:`age` of ``since`` will next return a different string (None: never)."""
    if not since:
        return None
    if since - now > FUTURE_TOLERANCE:
        return since - FUTURE_TOLERANCE  # stops being "skew" then (if the clock catches up)
    seconds = max(now - since, 0.0)
    step = 365 * 86400.0
    for limit, size in _STEPS:
        if seconds < limit:
            step = size
            break
    return since + (seconds // step + 1) * step
