"""Drift while the breaker is engaged: something undoing the emergency state.

An ApplicationSet rewriting syncPolicy, a parent app-of-apps, a colleague, an HPA may undo
what the breaker did. Detection is a pure function of the store and the journal's state
(:func:`detect_drift`), so the header can run it on every refresh tick at no I/O cost;
:func:`watch_drift` is the watchdog loop around it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from backends.model import AppRow, DeploymentRow, RouteRow
from backends.ops.breaker.state import BreakerState, EngagedTarget
from backends.store import Store

__all__ = ["Drift", "detect_drift", "watch_drift"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Drift:
    """Something reverted an emergency change while the breaker is engaged."""

    target: str
    label: str
    expected: str
    actual: str
    cause: str

    def describe(self) -> str:
        return f"{self.label}: expected {self.expected}, now {self.actual}: {self.cause}"


def _app_by_name(store: Store, name: str) -> AppRow | None:
    for row in store.rows("applications").values():
        if isinstance(row, AppRow) and row.name == name:
            return row
    return None


def _drift_of(store: Store, t: EngagedTarget) -> Drift | None:
    key = f"{t.namespace}/{t.name}"
    kind = {"freeze": "applications", "shift": "httproutes", "scale": "deployments",
            "pause": "deployments"}[t.phase]
    row = store.get(kind, key)
    intent = t.intent if isinstance(t.intent, dict) else {}
    if row is None:
        if store.count(kind):
            return Drift(t.key, t.label, "the object", "gone", "deleted while engaged")
        return None
    if isinstance(row, AppRow):
        if row.auto_sync != "on":
            return None
        cause = (f"its ApplicationSet {row.owner_name} rewrote spec.syncPolicy"
                 if row.owner_kind == "ApplicationSet" else
                 "re-enabled by a parent app-of-apps (selfHeal) or by hand")
        return Drift(t.key, t.label, "auto-sync paused", "auto-sync on", cause)
    if isinstance(row, DeploymentRow) and t.phase == "pause":
        if row.paused:
            return None
        return Drift(t.key, t.label, "rollout paused", "rollout resumed",
                     "resumed by hand (kubectl rollout resume) or by a sync that set "
                     "spec.paused")
    if isinstance(row, DeploymentRow):
        want = intent.get("replicas", 0)
        if row.desired == want:
            return None
        app = _app_by_name(store, row.argocd_app) if row.argocd_app else None
        cause = (f"Argo CD app {app.namespace}/{app.name} has auto-sync on"
                 + (" with selfHeal" if app.self_heal else "") + ": it synced replicas from Git"
                 if app is not None and app.auto_sync == "on"
                 else "scaled back by an HPA, KEDA or a person")
        return Drift(t.key, t.label, f"{want} replicas", f"{row.desired} replicas", cause)
    if isinstance(row, RouteRow):
        weights = intent.get("weights") or {}
        live = {b.name: b.weight for rule in row.rules for b in rule.backends
                if b.name in weights}
        wrong = {b: w for b, w in live.items() if w != weights.get(b)}
        if not wrong:
            return None
        return Drift(t.key, t.label,
                     ", ".join(f"{b}={w}" for b, w in sorted(weights.items())),
                     ", ".join(f"{b}={w}" for b, w in sorted(live.items())),
                     "weights changed back (Argo CD selfHeal of the route's app, or by hand)")
    return None


def detect_drift(store: Store, state: BreakerState) -> list[Drift]:
    """Emergency changes that no longer hold, judged from the store (no I/O). Targets whose
    write did not apply (failed, unknown) are not judged: there is nothing to hold."""
    if not state.engaged:
        return []
    out = []
    for t in state.targets:
        if t.applied:
            drift = _drift_of(store, t)
            if drift is not None:
                out.append(drift)
    return out


async def watch_drift(store: Store, state: BreakerState | Callable[[], BreakerState],
                      on_drift: Callable[[list[Drift]], None], *, interval: float = 2.0,
                      sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Check for drift every ``interval`` seconds and call ``on_drift`` when the set of
    drifts changes (an empty list: everything holds again). Runs until cancelled; pass a
    callable ``state`` to follow engage/release."""
    last: list[Drift] | None = None
    while True:
        current = detect_drift(store, state() if callable(state) else state)
        if current != last and (current or last):
            try:
                on_drift(current)
            except Exception:  # noqa: BLE001 - the watchdog must outlive a UI bug
                log.exception("drift callback failed")
        last = current
        await sleep(interval)
