"""What one alert row says: its target, its object, its state in words, its tone, and the
words of the alerts panel's footer; pure functions of a row (kept apart from
:mod:`widgets.alerts`, the panel's bookkeeping, so each module does one job).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import lru_cache

from backends.model import make_key
from backends.signals.model import ALERT_SOURCES, AlertRow
from backends.store import SourceHealth
from widgets.formatting import DIM, PROBLEM, WARNING

__all__ = ["OBJECT_KINDS", "TALLY_ORDER", "TALLY_WORDS", "ObjectRef", "alert_tone", "group_key",
           "group_sort", "object_of", "silenced_cell", "source_problems", "state_word",
           "tallies_of", "target_of"]

_SEVERITY_RANK = {"critical": 0, "page": 0, "error": 0, "high": 0, "warning": 1,
                  "warn": 1, "medium": 1, "info": 2, "low": 2, "none": 3}
_TARGET_LABELS = ("namespace", "deployment", "statefulset", "daemonset", "pod", "container",
                  "node", "service", "httproute", "route", "gateway", "application",
                  "instance")
_HIDDEN_LABELS = frozenset({"alertname", "severity"})
_ALERTING = frozenset({"firing", "active", "unprocessed"})
OBJECT_KINDS = ("pods", "deployments", "nodes")
"""Store kinds an alert's object can be looked up in (to say "pod gone")."""
TALLY_ORDER = ("firing", "pending", "silenced", "inhibited", "suppressed", "stale", "gone")
TALLY_WORDS = {"gone": "object gone"}

ObjectRef = tuple[str, str, str, str]
"""(store kind, store key, namespace ("" for nodes), word): what an alert is about."""


def object_of(labels: tuple[tuple[str, str], ...]) -> ObjectRef | None:
    """The cluster object an alert names, most specific first: its pod, else its
    Deployment, else its node (None when it names none of them)."""
    have = dict(labels)
    ns = have.get("namespace", "")
    if ns and have.get("pod"):
        return ("pods", make_key(ns, have["pod"]), ns, "pod")
    if ns and have.get("deployment"):
        return ("deployments", make_key(ns, have["deployment"]), ns, "deployment")
    if have.get("node"):
        return ("nodes", have["node"], "", "node")
    return None


def state_word(row: AlertRow) -> str:
    """The state as the reader acts on it: Alertmanager's ``suppressed`` says why (silenced
    or inhibited); the other states as the source says them."""
    if row.state == "suppressed":
        if row.silenced_by:
            return "silenced"
        if row.inhibited_by:
            return "inhibited"
    return row.state


def tallies_of(row: AlertRow, gone: str) -> tuple[str, ...]:
    """What one shown alert adds to the footer (see :meth:`AlertsPanel._show_counts`)."""
    out: list[str] = []
    if row.stale:
        out.append("stale")
    elif row.state in _ALERTING and not row.silenced_by:
        out.append("firing")
        if _SEVERITY_RANK.get(row.severity.lower(), 3) == 0:
            out.append("critical")
    elif row.state == "pending":
        out.append("pending")
    elif row.state == "suppressed" or row.silenced_by:
        out.append(state_word(row) if row.state == "suppressed" else "silenced")
    if gone:
        out.append("gone")
    return tuple(out)


def group_key(row: AlertRow) -> str:
    """``alertname`` and ``severity`` joined by a unit separator (``clean`` removed every
    control character from both, so the key is unambiguous)."""
    return f"{row.alertname}\x1f{row.severity}"


def group_sort(alertname: str, severity: str) -> tuple[int, str, str]:
    return (_SEVERITY_RANK.get(severity.lower(), 3), alertname, severity)


def target_of(row: AlertRow) -> str:
    """What the alert is about, short: ``shop/web-7c9f`` (namespace/pod), ``node-3``; the
    other labels ``k=v`` when it has none of the usual ones."""
    return _target(row.labels)


@lru_cache(maxsize=16384)
def _target(labels: tuple[tuple[str, str], ...]) -> str:
    """Cached by label set: an alert keeps its labels for life (they are its identity), so
    every poll after the first finds its target here (bench/bench_alerts.py)."""
    have = dict(labels)
    parts = [have[name] for name in _TARGET_LABELS if have.get(name)]
    if len(parts) > 1 and "instance" in have and have["instance"] == parts[-1]:
        parts.pop()  # the scrape target adds nothing when the object is named
    if parts:
        return "/".join(parts)
    return ",".join(f"{k}={v}" for k, v in labels if k not in _HIDDEN_LABELS)


def silenced_cell(row: AlertRow) -> str:
    parts = []
    if row.silenced_by:
        extra = f" +{len(row.silenced_by) - 1}" if len(row.silenced_by) > 1 else ""
        parts.append(f"silenced by {row.silenced_by[0][:8]}{extra}")
    if row.inhibited_by:
        extra = f" +{len(row.inhibited_by) - 1}" if len(row.inhibited_by) > 1 else ""
        parts.append(f"inhibited by {row.inhibited_by[0][:8]}{extra}")
    return ", ".join(parts)


def alert_tone(row: AlertRow) -> str | None:
    if row.stale or row.state in ("suppressed", "resolved"):
        return DIM
    if row.state in _ALERTING and _SEVERITY_RANK.get(row.severity.lower(), 3) == 0:
        return PROBLEM
    return WARNING


def _clock_time(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


def source_problems(health: Mapping[str, SourceHealth]) -> list[str]:
    """``prometheus unreachable since 14:02:11`` for each alert source that is not
    connected (sources that never reported are not configured and not listed)."""
    out = []
    for source in ALERT_SOURCES:
        h = health.get(source)
        if h is None or h.state == "connected":
            continue
        if h.state == "connecting":
            out.append(f"{source} connecting since {_clock_time(h.since)}")
        elif h.state == "stale" or "unreachable" in h.error.lower():
            out.append(f"{source} unreachable since {_clock_time(h.since)}")
        else:
            out.append(f"{source} failing since {_clock_time(h.since)}")
    return out
