"""The signal side of a diff: alerts, health endpoints, PromQL key signals, warning events.

The rules (ranks, what counts as worse) are described in :mod:`.diff`; these comparisons are
kept apart only to keep each module short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from backends.baseline.items import DiffItem, by, item
from backends.baseline.model import AlertSnap, Baseline, EndpointSnap, SignalSnap
from backends.signals.model import format_value

__all__ = ["alert_identity", "alerts", "endpoints", "events", "signals"]

FIRING: Final = frozenset({"firing", "active", "unprocessed"})
"""Alert states that count as firing (Prometheus firing, Alertmanager active/unprocessed)."""
_SIGNAL_RANK: Final = {"ok": 0, "warn": 1, "crit": 2}
_SLOWER_FACTOR: Final = 2.0
_SLOWER_MS: Final = 200.0


def alert_identity(alert: AlertSnap) -> tuple[tuple[str, str], ...]:
    """The alert's label set: the same alert whichever source reported it."""
    labels = alert.labels or {"alertname": alert.alertname}
    return tuple(sorted(labels.items()))


def _firing(alerts: Iterable[AlertSnap]) -> dict[tuple[tuple[str, str], ...], AlertSnap]:
    """Firing alerts by identity; Alertmanager's copy preferred (it has the fingerprint)."""
    out: dict[tuple[tuple[str, str], ...], AlertSnap] = {}
    for a in alerts:
        if a.state not in FIRING:
            continue
        ident = alert_identity(a)
        if ident not in out or a.source == "alertmanager":
            out[ident] = a
    return out


def _alert_key(a: AlertSnap) -> str:
    rest = ",".join(f"{k}={v}" for k, v in sorted(a.labels.items())
                    if k not in ("alertname", "severity"))
    return f"{a.alertname} {{{rest}}}" + (f" [{a.fingerprint}]" if a.fingerprint else "")


def alerts(base: Baseline, cur: Baseline) -> Iterable[DiffItem]:
    before, now = _firing(base.alerts), _firing(cur.alerts)
    for ident, a in now.items():
        if ident not in before:
            rank = {"critical": 92, "warning": 78}.get(a.severity, 60)
            yield item("alerts", _alert_key(a), f"new {a.severity or 'unlabelled'} alert "
                        f"{a.state}" + (f": {a.summary}" if a.summary else ""), "worse", rank,
                        "not firing", a.state)
    for ident, a in before.items():
        if ident not in now:
            silenced = any(alert_identity(x) == ident and x.state == "suppressed"
                           for x in cur.alerts)
            yield item("alerts", _alert_key(a), "silenced" if silenced else "no longer firing",
                        "changed" if silenced else "better", 60, a.state,
                        "suppressed" if silenced else "not firing")


# --------------------------------------------------------------------------- probes


def _endpoint_text(e: EndpointSnap) -> str:
    status = f"HTTP {e.status}" if e.status is not None else (e.error or "no answer")
    latency = f", {e.latency_ms:.0f} ms" if e.latency_ms is not None else ""
    return f"{'ok' if e.ok else 'FAILING'} ({status}{latency})"


def endpoints(base: Baseline, cur: Baseline) -> Iterable[DiffItem]:
    before = by(base.endpoints, lambda e: e.name)
    for e in cur.endpoints:
        old = before.pop(e.name, None)
        if not e.ok and (old is None or old.ok):
            yield item("endpoints", e.name, "failing" + (f": {e.error}" if e.error else ""),
                        "worse", 94, _endpoint_text(old) if old else "absent", _endpoint_text(e))
        elif old is not None and e.ok and not old.ok:
            yield item("endpoints", e.name, "answering again", "better", 94,
                        _endpoint_text(old), _endpoint_text(e))
        elif old is not None and e.ok and old.ok and e.latency_ms is not None \
                and old.latency_ms is not None:
            if _slower(old.latency_ms, e.latency_ms):
                yield item("endpoints", e.name, "slower", "worse", 65,
                            f"{old.latency_ms:.0f} ms", f"{e.latency_ms:.0f} ms",
                            delta=e.latency_ms - old.latency_ms)
            elif _slower(e.latency_ms, old.latency_ms):
                yield item("endpoints", e.name, "faster", "better", 65,
                            f"{old.latency_ms:.0f} ms", f"{e.latency_ms:.0f} ms")
    for name, old in before.items():
        yield item("endpoints", name, "no longer probed", "changed", 30, _endpoint_text(old),
                    "absent")


def _slower(before_ms: float, after_ms: float) -> bool:
    return after_ms > before_ms * _SLOWER_FACTOR and after_ms - before_ms > _SLOWER_MS


def _signal_text(s: SignalSnap) -> str:
    value = "no data" if s.latest is None else format_value(s.latest, s.unit)
    return f"{s.status} ({value})"


def signals(base: Baseline, cur: Baseline) -> Iterable[DiffItem]:
    before: Mapping[str, SignalSnap] = by(base.signals, lambda s: s.key)
    for s in cur.signals:
        old = before.get(s.key)
        if old is None or s.status not in _SIGNAL_RANK or old.status not in _SIGNAL_RANK:
            continue
        now_rank, was_rank = _SIGNAL_RANK[s.status], _SIGNAL_RANK[old.status]
        if now_rank > was_rank:
            yield item("signals", s.key, f"{s.signal} of {s.app} is {s.status}", "worse",
                        84 if s.status == "crit" else 66, _signal_text(old), _signal_text(s))
        elif now_rank < was_rank:
            yield item("signals", s.key, f"{s.signal} of {s.app} back to {s.status}",
                        "better", 66, _signal_text(old), _signal_text(s))


def events(base: Baseline, cur: Baseline) -> Iterable[DiffItem]:
    before: dict[tuple[str, str, str], int] = {}
    for e in base.events:
        ident = (e.namespace, e.object, e.reason)
        before[ident] = max(before.get(ident, 0), e.count)
    seen: set[tuple[str, str, str]] = set()
    for e in cur.events:
        ident = (e.namespace, e.object, e.reason)
        if ident in seen:
            continue
        seen.add(ident)
        was = before.get(ident)
        if was is None or e.count > was:
            yield item("events", f"{e.namespace}/{e.object}",
                        f"warning {e.reason}: {e.message}", "worse", 30,
                        "absent" if was is None else f"x{was}", f"x{e.count}")
