"""What got worse, better or changed since a baseline: ``diff(baseline, current) -> Diff``.

Both sides are :class:`~backends.baseline.model.Baseline` documents (the current one is a fresh
``capture`` of the live store, or a second file), so the diff is a pure function of two values:
the control room's ``d`` screen, ``controlroom diff`` and the regression rules of
``controlroom validate`` all read the same items.

Each :class:`DiffItem` says which ``kind`` of thing (a group on the screen: nodes, workloads,
pods, restarts, apps, traffic, alerts, endpoints, signals, events), which object (``key``),
``what`` happened in words, the value ``before`` and ``after``, a ``severity`` (``worse``,
``better``, ``changed``) and a ``rank`` (0-100, higher is more urgent) that orders the screen:
groups by their worst item, items worst first. What counts as worse, and why:

- nodes: Ready lost (100). Nodes added, removed or cordoned are only "changed": a node-pool
  upgrade replaces nodes on purpose. CPU or memory crossing 90 % is worse (45).
- workloads: a Deployment that served (available > 0) and now has 0 available, whatever its
  desired replicas say (95: capacity lost is an outage, scaled down on purpose or not), fewer
  ready replicas than desired where there were not before (88), a rollout that hit its
  progress deadline (86), a Deployment gone (70); images, rollout revision and desired
  replicas changing are "changed" (that is what an update does).
- pods: a pod not running or not ready that was fine (or absent) before (85 for crash loops
  and failed pulls, 70 otherwise); a Terminating pod is only "changed" (on its way out).
- restarts: a workload's total restarts rose (72); ``delta`` carries the rise, so validation
  can allow a configured number.
- apps: health worse (Degraded 95 ... Progressing 60), OutOfSync while auto-sync is on (75),
  an operation Failed (85). OutOfSync while auto-sync is paused or off is "changed": it is
  exactly what a rollback leaves behind (operations.md section 2), not a regression.
- traffic: a Gateway, listener or route condition that was True and is not any more (93, 85,
  90; ``Conflicted`` the other way round), a route gone (80); weights and backends changing
  are "changed".
- alerts: firing now and not firing in the baseline (critical 92, warning 78, other 60). An
  alert's identity is its label set, which is what Alertmanager's fingerprint hashes, so the
  same alert reported by Prometheus and by Alertmanager counts once; the item's key shows the
  source's fingerprint.
- endpoints: failing now (94); slower by more than 2x AND more than 200 ms (65).
- signals: status worse against its thresholds (crit 84, warn 66).
- events: a warning (object, reason) not seen in the baseline, or seen more often (30);
  informative, and not a regression rule by default (old warnings linger for an hour).

A section one side could not capture (``Baseline.missing``) is not compared; a note says so,
so "nothing worse" is never claimed about data nobody saw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

import msgspec

from backends.baseline import diff_signals
from backends.baseline.diff_signals import alert_identity
from backends.baseline.items import DiffItem, Severity, by
from backends.baseline.items import item as _item
from backends.baseline.model import (
    AppSnap,
    Baseline,
    ConditionSnap,
    NodeSnap,
    PodSnap,
    RouteSnap,
    WorkloadSnap,
)

__all__ = [
    "DIFF_KINDS",
    "SECTIONS_OF_KIND",
    "Diff",
    "DiffItem",
    "Severity",
    "alert_identity",
    "diff",
]

DIFF_KINDS: Final = ("nodes", "workloads", "pods", "restarts", "apps", "traffic", "alerts",
                     "endpoints", "signals", "events")
"""Every item kind, in the order groups are shown when nothing ranks them."""
SECTIONS_OF_KIND: Final[dict[str, tuple[str, ...]]] = {
    "nodes": ("nodes",), "workloads": ("workloads",), "pods": ("pods",),
    "restarts": ("pods",), "apps": ("apps",), "traffic": ("gateways", "routes"),
    "alerts": ("alerts",), "endpoints": ("endpoints",), "signals": ("signals",),
    "events": ("events",),
}
"""Which baseline sections each kind is computed from (both sides must have them)."""

_CRASHY: Final = frozenset({"CrashLoopBackOff", "Error", "OOMKilled", "ImagePullBackOff",
                            "ErrImagePull", "CreateContainerConfigError", "CreateContainerError",
                            "InvalidImageName", "Failed", "Evicted", "RunContainerError"})
_HEALTH_RANK: Final = {"Healthy": 0, "Suspended": 1, "Progressing": 2, "Unknown": 3,
                       "Missing": 4, "Degraded": 5}
_HEALTH_SCORE: Final = {1: 40, 2: 60, 3: 80, 4: 90, 5: 95}
_NEGATIVE_CONDITIONS: Final = frozenset({"Conflicted"})
"""Condition types where True is the bad state."""
_HOT_PCT: Final = 90.0


class Diff(msgspec.Struct, frozen=True, kw_only=True):
    """Every difference, worst first, plus what could not be compared."""

    baseline_context: str
    baseline_taken_at: float
    baseline_change_id: str = ""
    current_context: str
    current_taken_at: float
    items: list[DiffItem] = msgspec.field(default_factory=list)
    notes: list[str] = msgspec.field(default_factory=list)
    not_compared: list[str] = msgspec.field(default_factory=list)
    """Diff kinds left out because one side did not capture their sections."""

    def of(self, severity: Severity) -> list[DiffItem]:
        """The items of one severity, in display order."""
        return [item for item in self.items if item.severity == severity]

    @property
    def worse(self) -> list[DiffItem]:
        return self.of("worse")

    def groups(self) -> list[tuple[str, list[DiffItem]]]:
        """``(kind, items)`` per kind that has items: the kind with the worst item first,
        inside each worse items (rank descending), then better, then changed."""
        by_kind: dict[str, list[DiffItem]] = {}
        for item in self.items:
            by_kind.setdefault(item.kind, []).append(item)
        order = {kind: i for i, kind in enumerate(DIFF_KINDS)}

        def urgency(entry: tuple[str, list[DiffItem]]) -> tuple[int, int]:
            kind, items = entry
            worst = max((i.rank for i in items if i.severity == "worse"), default=-1)
            return (-worst, order.get(kind, len(order)))

        return sorted(by_kind.items(), key=urgency)


_SEVERITY_ORDER: Final = {"worse": 0, "better": 1, "changed": 2}


def _sort_key(item: DiffItem) -> tuple[int, int, str, str]:
    return (_SEVERITY_ORDER[item.severity], -item.rank, item.kind, item.key)


def diff(baseline: Baseline, current: Baseline) -> Diff:
    """Everything that got worse, better or changed from ``baseline`` to ``current``."""
    items: list[DiffItem] = []
    notes: list[str] = []
    skipped: list[str] = []
    if baseline.context and current.context and baseline.context != current.context:
        notes.append(f"the baseline is of context {baseline.context!r}, this is "
                     f"{current.context!r}: the comparison may be meaningless")
    for kind, compute in _COMPARISONS:
        sections = SECTIONS_OF_KIND[kind]
        gaps = [_gap(s, baseline, current) for s in sections
                if not (baseline.has(s) and current.has(s))]
        if gaps:
            skipped.append(kind)
            notes.append(f"{kind}: not compared: " + "; ".join(dict.fromkeys(gaps)))
            continue
        items.extend(compute(baseline, current))
    items.sort(key=_sort_key)
    return Diff(baseline_context=baseline.context, baseline_taken_at=baseline.taken_at,
                baseline_change_id=baseline.change_id, current_context=current.context,
                current_taken_at=current.taken_at, items=items, notes=notes,
                not_compared=skipped)


def _gap(section: str, baseline: Baseline, current: Baseline) -> str:
    """Why ``section`` cannot be compared, in one phrase."""
    was, now = baseline.missing.get(section), current.missing.get(section)
    if was is not None and now is not None:
        return f"{section} not captured ({was})" if was == now else \
            f"{section} not captured (baseline: {was}; now: {now})"
    if was is not None:
        return f"the baseline did not capture {section} ({was})"
    return f"{section} not captured now ({now})"


# --------------------------------------------------------------------------- nodes


def _ready_text(node: NodeSnap) -> str:
    cond = next((c for c in node.conditions if c.type == "Ready"), None)
    reason = f" ({cond.reason})" if cond is not None and cond.reason else ""
    return f"Ready={node.ready}{reason}"


def _nodes(base: Baseline, cur: Baseline) -> Iterable[DiffItem]:
    before = by(base.nodes, lambda n: n.name)
    for node in cur.nodes:
        old = before.pop(node.name, None)
        was_ready = old is None or old.ready == "True"
        if node.ready != "True" and was_ready:
            what = "not Ready" if old is not None else "new node, not Ready"
            yield _item("nodes", node.name, what, "worse", 100,
                        _ready_text(old) if old else "absent", _ready_text(node))
        elif old is not None and old.ready != "True" and node.ready == "True":
            yield _item("nodes", node.name, "Ready again", "better", 100, _ready_text(old),
                        _ready_text(node))
        if old is None:
            yield _item("nodes", node.name, "new node", "changed", 20, "", node.pool)
            continue
        if node.unschedulable != old.unschedulable:
            yield _item("nodes", node.name, "cordoned" if node.unschedulable else "uncordoned",
                        "changed", 30, old.unschedulable, node.unschedulable)
        if node.kubelet_version != old.kubelet_version:
            yield _item("nodes", node.name, "kubelet version changed", "changed", 25,
                        old.kubelet_version, node.kubelet_version)
        for label, now_pct, was_pct in (("CPU", node.cpu_pct, old.cpu_pct),
                                        ("memory", node.memory_pct, old.memory_pct)):
            if now_pct is None or was_pct is None:
                continue
            if now_pct >= _HOT_PCT > was_pct:
                yield _item("nodes", node.name, f"{label} usage above {_HOT_PCT:.0f}%",
                            "worse", 45, f"{was_pct:.0f}%", f"{now_pct:.0f}%")
            elif was_pct >= _HOT_PCT > now_pct:
                yield _item("nodes", node.name, f"{label} usage below {_HOT_PCT:.0f}%",
                            "better", 45, f"{was_pct:.0f}%", f"{now_pct:.0f}%")
    for name, old in before.items():
        yield _item("nodes", name, "node gone", "changed", 50, old.pool, "absent")


# --------------------------------------------------------------------------- workloads


def _short(w: WorkloadSnap) -> int:
    """How many replicas are missing (not ready or not available)."""
    return max(0, w.desired - min(w.ready, w.available))


def _workloads(base: Baseline, cur: Baseline) -> Iterable[DiffItem]:
    before = by(base.workloads, lambda w: w.key)
    for w in cur.workloads:
        key = f"{w.namespace}/{w.name}"
        old = before.pop(w.key, None)
        if old is None:
            yield _item("workloads", key, f"new {w.kind}", "changed", 20, "", w.replicas())
            if w.mismatch:
                yield _item("workloads", key, "replica mismatch", "worse", 88, "absent",
                            w.replicas())
            continue
        short, was_short = _short(w), _short(old)
        if old.available > 0 and w.available == 0:
            # Whatever desired says now: scaled to 0 on purpose or not, what served no longer
            # does (issue 13: alertmanager 2 -> 0 used to be "changed: desired replicas").
            yield _item("workloads", key, f"serves nothing: 0 available (was {old.available})",
                        "worse", 95, old.replicas(), w.replicas(), delta=old.available)
        elif old.available == 0 and w.available > 0:
            yield _item("workloads", key, f"serves again: {w.available} available", "better",
                        95, old.replicas(), w.replicas())
        elif (w.mismatch and not old.mismatch) or short > was_short:
            yield _item("workloads", key, "replica mismatch", "worse", 88, old.replicas(),
                        w.replicas(), delta=max(short - was_short, 0))
        elif old.mismatch and not w.mismatch:
            yield _item("workloads", key, "replicas match again", "better", 88, old.replicas(),
                        w.replicas())
        if (w.progressing_reason == "ProgressDeadlineExceeded"
                and old.progressing_reason != "ProgressDeadlineExceeded"):
            yield _item("workloads", key, "rollout stuck (progress deadline exceeded)",
                        "worse", 86, old.progressing_reason, w.progressing_reason)
        if w.images != old.images:
            yield _item("workloads", key, "images changed", "changed", 50,
                        ", ".join(old.images), ", ".join(w.images))
        if w.revision != old.revision:
            yield _item("workloads", key, "rollout revision changed", "changed", 40,
                        old.revision, w.revision)
        if w.desired != old.desired:
            yield _item("workloads", key, "desired replicas changed", "changed", 45,
                        old.desired, w.desired)
        if w.paused != old.paused:
            yield _item("workloads", key, "rollout paused" if w.paused else "rollout resumed",
                        "changed", 45, old.paused, w.paused)
    for old in before.values():
        yield _item("workloads", f"{old.namespace}/{old.name}", f"{old.kind} gone", "worse", 70,
                    old.replicas(), "absent")


# --------------------------------------------------------------------------- pods


def _pod_state(p: PodSnap) -> str:
    return f"{p.status or p.phase} ({p.ready} ready, {p.restarts} restarts)"


def _pods(base: Baseline, cur: Baseline) -> Iterable[DiffItem]:
    before = by(base.problem_pods, lambda p: p.key)
    for p in cur.problem_pods:
        old = before.pop(p.key, None)
        if p.status == "Terminating":
            if old is None:
                yield _item("pods", p.key, "terminating", "changed", 40, "", _pod_state(p))
            continue
        if old is None:
            rank = 85 if (p.status in _CRASHY or p.phase == "Failed") else 70
            yield _item("pods", p.key, f"not running or not ready: {p.status or p.phase}",
                        "worse", rank, "fine or absent", _pod_state(p))
        elif p.restarts > old.restarts:
            yield _item("pods", p.key, "still failing, restarting", "worse", 72,
                        _pod_state(old), _pod_state(p), delta=p.restarts - old.restarts)
    for key, old in before.items():
        if old.status != "Terminating":
            yield _item("pods", key, "recovered or gone", "better", 70, _pod_state(old),
                        "running and ready, or absent")


def _restarts(base: Baseline, cur: Baseline) -> Iterable[DiffItem]:
    before = {g.key: g.restarts for g in base.pods}
    for g in cur.pods:
        was = before.get(g.key)
        if was is not None and g.restarts > was:
            yield _item("restarts", f"{g.kind}/{g.namespace}/{g.name}",
                        f"restarts +{g.restarts - was}", "worse", 72, was, g.restarts,
                        delta=g.restarts - was)


# --------------------------------------------------------------------------- apps


def _apps(base: Baseline, cur: Baseline) -> Iterable[DiffItem]:
    before = by(base.apps, lambda a: a.key)
    for a in cur.apps:
        old = before.pop(a.key, None)
        if old is None:
            yield _item("apps", a.key, "new app", "changed", 20, "", f"{a.sync}/{a.health}")
            old = AppSnap(namespace=a.namespace, name=a.name, sync="Synced", health="Healthy")
        yield from _app_changes(old, a)
    for key, old in before.items():
        yield _item("apps", key, "app gone", "worse", 70, f"{old.sync}/{old.health}", "absent")


def _app_changes(old: AppSnap, a: AppSnap) -> Iterable[DiffItem]:
    rank_now, rank_was = _HEALTH_RANK.get(a.health, 3), _HEALTH_RANK.get(old.health, 3)
    if rank_now > rank_was:
        yield _item("apps", a.key, f"health {a.health}", "worse", _HEALTH_SCORE[rank_now],
                    old.health, a.health + (f": {a.health_message}" if a.health_message else ""))
    elif rank_now < rank_was:
        yield _item("apps", a.key, f"health {a.health}", "better",
                    _HEALTH_SCORE.get(rank_was, 60), old.health, a.health)
    if a.sync != old.sync:
        if old.sync == "Synced" and a.auto_sync != "on" and a.sync == "OutOfSync":
            yield _item("apps", a.key, f"out of sync while auto-sync is {a.auto_sync} "
                        "(expected after a rollback)", "changed", 45, old.sync, a.sync)
        elif old.sync == "Synced":
            yield _item("apps", a.key, f"sync {a.sync}", "worse", 75, old.sync, a.sync)
        elif a.sync == "Synced":
            yield _item("apps", a.key, "synced again", "better", 75, old.sync, a.sync)
        else:
            yield _item("apps", a.key, "sync status changed", "changed", 45, old.sync, a.sync)
    if a.operation_phase in ("Failed", "Error") and old.operation_phase != a.operation_phase:
        yield _item("apps", a.key, f"operation {a.operation_phase}", "worse", 85,
                    old.operation_phase, f"{a.operation_phase}: {a.operation_message}")
    if a.revision != old.revision and old.revision:
        yield _item("apps", a.key, "revision changed", "changed", 40, old.revision, a.revision)
    if a.auto_sync != old.auto_sync:
        yield _item("apps", a.key, "auto-sync changed", "changed", 45, old.auto_sync,
                    a.auto_sync)


# --------------------------------------------------------------------------- traffic


def _cond_text(c: ConditionSnap | None) -> str:
    if c is None:
        return "absent"
    return f"{c.status}" + (f" ({c.reason})" if c.reason else "")


def _conditions(kind: str, key: str, where: str, rank: int, old: list[ConditionSnap],
                new: list[ConditionSnap]) -> Iterable[DiffItem]:
    """Conditions that went from good to not good (and back)."""
    was = {c.type: c for c in old}
    now = {c.type: c for c in new}
    for type_ in sorted(set(was) | set(now)):
        bad_state = "True" if type_ in _NEGATIVE_CONDITIONS else None

        def good(c: ConditionSnap | None, bad: str | None = bad_state) -> bool:
            if c is None:
                return bad is not None  # a missing negative condition is fine
            return c.status != "True" if bad else c.status == "True"

        before, after = was.get(type_), now.get(type_)
        if before is None and after is None:
            continue
        if good(before) and not good(after) and before is not None:
            yield _item(kind, key, f"{where}{type_} lost", "worse", rank, _cond_text(before),
                        _cond_text(after) + (f": {after.message}" if after and after.message
                                             else ""))
        elif good(after) and not good(before) and after is not None:
            yield _item(kind, key, f"{where}{type_} regained", "better", rank,
                        _cond_text(before), _cond_text(after))


def _traffic(base: Baseline, cur: Baseline) -> Iterable[DiffItem]:
    gw_before = by(base.gateways, lambda g: g.key)
    for g in cur.gateways:
        old_gw = gw_before.pop(g.key, None)
        key = f"Gateway {g.key}"
        if old_gw is None:
            yield _item("traffic", key, "new gateway", "changed", 20)
            continue
        yield from _conditions("traffic", key, "", 93, old_gw.conditions, g.conditions)
        listeners = by(old_gw.listeners, lambda x: x.name)
        for lst in g.listeners:
            old_l = listeners.get(lst.name)
            if old_l is not None:
                yield from _conditions("traffic", key, f"listener {lst.name}: ", 85,
                                       old_l.conditions, lst.conditions)
    for key in gw_before:
        yield _item("traffic", f"Gateway {key}", "gateway gone", "worse", 90, "", "absent")
    rt_before = by(base.routes, lambda r: r.key)
    for r in cur.routes:
        old_rt = rt_before.pop(r.key, None)
        if old_rt is None:
            yield _item("traffic", f"HTTPRoute {r.key}", "new route", "changed", 20)
            continue
        yield from _route_changes(old_rt, r)
    for key in rt_before:
        yield _item("traffic", f"HTTPRoute {key}", "route gone", "worse", 80, "", "absent")


def _route_changes(old: RouteSnap, r: RouteSnap) -> Iterable[DiffItem]:
    key = f"HTTPRoute {r.key}"
    parents = by(old.parents, lambda p: p.gateway)
    for p in r.parents:
        parent = parents.get(p.gateway)
        if parent is not None:
            yield from _conditions("traffic", key, f"parent {p.gateway}: ", 90,
                                   parent.conditions, p.conditions)
    weights = {(b.rule, b.namespace, b.name): b.weight for b in old.backends}
    for b in r.backends:
        label = f"rule {b.rule} backend {b.name}"
        was = weights.pop((b.rule, b.namespace, b.name), None)
        if was is None:
            yield _item("traffic", key, f"{label} added", "changed", 55, "", f"weight {b.weight}")
        elif was != b.weight:
            yield _item("traffic", key, f"{label} weight changed", "changed", 55, was, b.weight)
    for (rule, _ns, name), weight in weights.items():
        yield _item("traffic", key, f"rule {rule} backend {name} removed", "changed", 55,
                    f"weight {weight}", "absent")


_COMPARISONS: Final[tuple[tuple[str, Callable[[Baseline, Baseline], Iterable[DiffItem]]], ...]] = (
    ("nodes", _nodes), ("workloads", _workloads), ("pods", _pods), ("restarts", _restarts),
    ("apps", _apps), ("traffic", _traffic), ("alerts", diff_signals.alerts),
    ("endpoints", diff_signals.endpoints), ("signals", diff_signals.signals),
    ("events", diff_signals.events),
)
