"""The words of the failure funnel: what the header and a panel say about sources that do not
deliver (issue 13, ARCHITECTURE.md "Failures are never calm").

Every source reports into the store's :class:`~backends.store.SourceHealth` with a reason in
one readable line (:mod:`backends.kube.problems` for the cluster). From there:

- the header shows one line per distinct reason, naming the sources it concerns and since
  when: ``cluster (9 sources): api server unreachable: connection refused (127.0.0.1:6443)
  since 14:02:11`` (:func:`problem_lines`), so eleven sources that lost the same server say
  it once;
- each panel fed by a failing source says it where its rows would be
  (:func:`panel_status`): ``stale since 14:02:11: <reason>`` over its last known rows,
  which it dims, or ``no data: <reason> (since 14:02:11)`` when it never had any, and
  ``forbidden: list httproutes.gateway.networking.k8s.io for <user>`` for a kind it may not
  read;
- a source that delivers but holds objects it could not decode (issue 13, point 11) is named
  too, with the objects: ``pods: 2 objects could not be read (payments/web-1: <why>;
  payments/web-2: <why>)`` in the header (:func:`problem_lines`) and ``2 objects could not be
  read: payments/web-1: <why>; ...`` on the status line of the panel of that kind
  (:func:`unreadable_status`): its other rows are right, but the kind is not complete.

Pure functions of the health map: nothing here reads the store or touches a widget.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping

from backends.model import KINDS
from backends.sanitize import clean
from backends.store import SourceHealth

__all__ = ["FAILING_STATES", "clock_time", "failing_sources", "panel_status", "problem_lines",
           "unreadable_status"]

FAILING_STATES = frozenset({"stale", "error", "forbidden"})
"""States in which a source does not deliver what its panels show."""

_REASON_MAX = 200
_OBJECT_MAX = 120
"""One undecodable object's words (name and why) in a header or status line."""
_OBJECTS_SHOWN = 3
_CLUSTER_KINDS = frozenset(KINDS)


def clock_time(moment: float) -> str:
    """``14:02:11`` in local time (what the on-call's wall clock says)."""
    return time.strftime("%H:%M:%S", time.localtime(moment))


def _reason(health: SourceHealth) -> str:
    if health.error:
        return clean(health.error, _REASON_MAX)
    return {"stale": "connection lost", "forbidden": "forbidden"}.get(health.state, "failing")


def failing_sources(health: Mapping[str, SourceHealth],
                    kinds: Collection[str] | None = None) -> list[tuple[str, SourceHealth]]:
    """The sources that do not deliver, by name; only those feeding ``kinds`` when given
    (a source is named ``kind`` or ``kind@namespace``)."""
    return [(name, h) for name, h in sorted(health.items())
            if h.state in FAILING_STATES
            and (kinds is None or name.partition("@")[0] in kinds)]


def _label(names: list[str]) -> str:
    if len(names) > 3 and all(n.partition("@")[0] in _CLUSTER_KINDS for n in names):
        return f"cluster ({len(names)} sources)"
    if len(names) > 3:
        return f"{names[0]}, {names[1]} and {len(names) - 2} more"
    return ", ".join(names)


def _grouped(failing: Iterable[tuple[str, SourceHealth]]
             ) -> list[tuple[str, list[str], float]]:
    """(reason, source names, earliest since) per distinct reason, oldest first."""
    groups: dict[str, tuple[list[str], float]] = {}
    for name, h in failing:
        reason = _reason(h)
        names, since = groups.get(reason, ([], h.since))
        names.append(clean(name))
        groups[reason] = (names, min(since, h.since))
    return sorted(((reason, names, since) for reason, (names, since) in groups.items()),
                  key=lambda g: (g[2], g[0]))


def problem_lines(health: Mapping[str, SourceHealth]) -> list[tuple[str, str]]:
    """One ``(who, what)`` per distinct reason: ``("cluster (9 sources)", "api server
    unreachable: connection refused (127.0.0.1:6443) since 14:02:11")``; then one per source
    holding undecodable objects: ``("pods", "2 objects could not be read (payments/web-1:
    <why>; payments/web-2: <why>)")``."""
    lines = [(_label(names), f"{reason} since {clock_time(since)}")
             for reason, names, since in _grouped(failing_sources(health))]
    for name, h in sorted(health.items()):
        if h.undecodable:
            kind = name.partition("@")[0]
            objects = _objects([_object(kind, line) for line in h.undecodable_objects],
                               h.undecodable)
            lines.append((clean(name), f"{_could_not_read(h.undecodable)} ({objects})"))
    return lines


def _could_not_read(count: int) -> str:
    return f"{count} object{'' if count == 1 else 's'} could not be read"


def _object(kind: str, line: str) -> str:
    """``payments/web-1: <why>`` from ``pods payments/web-1: <why>`` (the kind is said by
    the source's name or the panel already)."""
    return clean(line.removeprefix(f"{kind} "), _OBJECT_MAX)


def _objects(named: list[str], count: int) -> str:
    shown = named[:_OBJECTS_SHOWN]
    more = count - len(shown)
    return "; ".join(shown + ([f"{more} more"] if more > 0 else []))


def unreadable_status(health: Mapping[str, SourceHealth], kinds: Collection[str]) -> str:
    """What a panel fed by ``kinds`` says about objects its sources could not decode:
    ``2 objects could not be read: payments/web-1: <why>; payments/web-2: <why>`` ("" when
    none). Objects are named without their kind when the panel shows one kind only."""
    count = 0
    named: list[str] = []
    for name, h in sorted(health.items()):
        kind = name.partition("@")[0]
        if h.undecodable and kind in kinds:
            count += h.undecodable
            named += [_object(kind, line) if len(kinds) == 1 else clean(line, _OBJECT_MAX)
                      for line in h.undecodable_objects]
    return f"{_could_not_read(count)}: {_objects(named, count)}" if count else ""


def panel_status(failing: list[tuple[str, SourceHealth]], has_rows: bool) -> tuple[str, bool]:
    """What a panel says about its failing sources, and whether its rows are stale (to be
    dimmed). ``("", False)`` when every source feeding it delivers."""
    if not failing:
        return "", False
    stale = has_rows and any(h.state == "stale" for _, h in failing)
    states = {_reason(h): h.state for _, h in failing}
    parts = []
    for reason, _names, since in _grouped(failing):
        if not has_rows:
            parts.append(f"no data: {reason}" if states[reason] == "forbidden"
                         else f"no data: {reason} (since {clock_time(since)})")
        elif states[reason] == "stale":
            parts.append(f"stale since {clock_time(since)}: {reason}")
        elif states[reason] == "forbidden":
            parts.append(reason)
        else:  # rows from other sources are fresh; this one's are missing or partial
            parts.append(f"{reason} (since {clock_time(since)})")
    return "; ".join(parts), stale
