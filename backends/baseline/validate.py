"""Post-update validation: the update strategy's checks, configured rules, and "no regression".

``validate(current, rules, baseline=None) -> Validation`` is a pure function of documents
(``current`` is a fresh capture of the live store), so ``v`` in the control room and
``controlroom validate`` in a pipeline pass or fail for the same reasons. Each :class:`Check`
has a stable ``id`` (a pipeline can grep it; JUnit shows it as the test name), a description,
a status and its evidence: the offending objects by name, so a failure says what to look at,
not only that something is wrong. The statuses, and why four:

- ``pass``: checked, nothing wrong; ``fail``: checked, something wrong (named);
- ``skip``: nobody asked for it (a rule turned off, no endpoints configured, no baseline);
- ``unknown`` ("cannot check"): it was asked for but the data to judge it could not be read:
  the section was forbidden, not served, not listed, or holds objects that failed to decode.
  Never a pass: a validation with an ``unknown`` check has not passed (``controlroom
  validate`` exits 2, "could not look", unless a check failed, which is exit 1). An on-call
  tool that says PASSED about data it never saw is the worst kind of calm.

The checks, in order:

1. ``data-complete``: nodes, workloads and pods were all listed ("cannot check" when not: a
   validation that could not see the pods must not pass for lack of bad pods), and
   ``breaker-released``: no circuit breaker is engaged on the context (an update validated
   with the breaker on is not finished: the breaker holds workloads at 0 and traffic away).
2. The update strategy's post-update script, one check per line of it: ``nodes-ready`` (every
   node Ready), ``critical-namespaces-running`` (every pod in ``critical_namespaces`` Running
   and ready, and the namespace not empty), ``endpoints-healthy`` (every configured health
   endpoint answered 2xx; skipped when none is configured).
3. Configured rules (``[validate]``): ``workloads-ready``, ``apps-healthy``, ``apps-synced``
   (off by default: a rollback leaves the app OutOfSync on purpose), ``alerts-quiet``
   (no firing alert of a failing severity, except ``allow_alerts``), ``signals-ok``.
4. With a baseline: ``baseline-context`` (the baseline is of this context) and one
   ``no-regression-<kind>`` per configured kind, failing on any ``worse`` item of
   :func:`backends.baseline.diff.diff` of that kind. ``restarts`` tolerates
   ``max_restarts_increase`` per workload; allowed alerts never count. A kind that one side
   could not read "cannot be checked"; one that is not configured on a side is skipped.

Rendering (text, JSON, JUnit XML) lives in :mod:`backends.baseline.report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, Literal, TypeAlias

import msgspec

from backends.baseline.diff import SECTIONS_OF_KIND, Diff, DiffItem, diff
from backends.baseline.diff_signals import FIRING
from backends.baseline.model import REQUIRED_SECTIONS, Baseline, NodeSnap, PodSnap
from backends.config import ValidateSettings
from backends.signals.model import format_value

__all__ = ["Check", "CheckStatus", "Validation", "Verdict", "describe_item", "regressions",
           "validate"]

CheckStatus: TypeAlias = Literal["pass", "fail", "skip", "unknown"]
Verdict: TypeAlias = Literal["passed", "failed", "unknown"]

_REQUIRED: Final = REQUIRED_SECTIONS


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One validation check and its outcome."""

    id: str
    description: str
    status: CheckStatus
    evidence: list[str] = msgspec.field(default_factory=list)
    """The offending objects (for a failure) or why it was skipped."""

    @property
    def failed(self) -> bool:
        return self.status == "fail"


class Validation(msgspec.Struct, frozen=True, kw_only=True):
    """Every check's outcome for one context at one moment."""

    context: str
    cluster: str = ""
    taken_at: float
    baseline_taken_at: float | None = None
    baseline_change_id: str = ""
    checks: list[Check] = msgspec.field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no check failed and none could not be made (skipped checks, the ones
        nobody asked for, do not stop a pass; unknown ones do)."""
        return not any(check.status in ("fail", "unknown") for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.failed]

    @property
    def unknown(self) -> list[Check]:
        """The checks that could not be made ("cannot check")."""
        return [check for check in self.checks if check.status == "unknown"]

    @property
    def verdict(self) -> Verdict:
        """``failed`` when a check failed (something is known to be wrong), else
        ``unknown`` when a check could not be made, else ``passed``."""
        if self.failures:
            return "failed"
        return "unknown" if self.unknown else "passed"


def _check(id_: str, description: str, evidence: list[str]) -> Check:
    return Check(id=id_, description=description, status="fail" if evidence else "pass",
                 evidence=evidence)


def _skip(id_: str, description: str, why: str) -> Check:
    return Check(id=id_, description=description, status="skip", evidence=[why])


def _cannot(id_: str, description: str, why: str) -> Check:
    """A check asked for whose data could not be read: "cannot check", never a pass."""
    return Check(id=id_, description=description, status="unknown",
                 evidence=[f"cannot check: {why}"])


def _missing(id_: str, description: str, cur: Baseline, section: str, hint: str = "") -> Check:
    """Skipped when ``section`` is not configured, "cannot check" when it was not readable."""
    why = cur.missing[section]
    if cur.unreadable(section) is None:
        return _skip(id_, description, why + hint)
    return _cannot(id_, description, f"{section}: {why}")


def describe_item(item: DiffItem) -> str:
    """One diff item as one evidence line: ``key: what (before -> after)``."""
    change = f" ({item.before} -> {item.after})" if item.before or item.after else ""
    return f"{item.key}: {item.what}{change}"


def validate(current: Baseline, rules: ValidateSettings, baseline: Baseline | None = None,
             *, against: Diff | None = None, breakers: Sequence[str] | None = None,
             breakers_unknown: str = "") -> Validation:
    """Run every check on ``current`` (and against ``baseline`` when given). Pass ``against``
    when the diff is already computed (the control room shows both).

    ``breakers``: the headlines of circuit breakers engaged on the context (from the journal,
    :func:`backends.usecases.baseline.engaged_breakers`); each fails ``breaker-released``.
    None: not looked at (the check is skipped), or, with ``breakers_unknown`` saying why,
    could not be looked at (the check cannot be made)."""
    checks = [*_absolute(current, rules), _breaker(breakers, breakers_unknown),
              *_configured(current, rules)]
    if baseline is None:
        checks.append(_skip("no-regression", "nothing is worse than before the update",
                            "no baseline given: only the absolute checks ran"))
    else:
        checks.extend(_regressions(baseline, current, rules,
                                   against if against is not None else diff(baseline, current)))
    return Validation(context=current.context, cluster=current.cluster,
                      taken_at=current.taken_at,
                      baseline_taken_at=baseline.taken_at if baseline is not None else None,
                      baseline_change_id=baseline.change_id if baseline is not None else "",
                      checks=checks)


# --------------------------------------------------------------------------- absolute


def _node_problem(node: NodeSnap) -> str:
    cond = next((c for c in node.conditions if c.type == "Ready"), None)
    why = ""
    if cond is not None and (cond.reason or cond.message):
        why = f" ({cond.reason}{': ' if cond.reason and cond.message else ''}{cond.message})"
    return f"node {node.name}: Ready={node.ready}{why}"


def _pod_problem(pod: PodSnap) -> str:
    return (f"pod {pod.namespace}/{pod.name}: {pod.status or pod.phase} ({pod.ready} ready, "
            f"{pod.restarts} restarts" + (f", node {pod.node}" if pod.node else "") + ")")


def _breaker(breakers: Sequence[str] | None, unknown: str) -> Check:
    description = "no circuit breaker is engaged on this context"
    if breakers is None:
        if unknown:
            return _cannot("breaker-released", description, unknown)
        return _skip("breaker-released", description, "the journal was not consulted")
    return _check("breaker-released", description,
                  [f"circuit breaker engaged: {headline}" for headline in breakers])


def _absolute(cur: Baseline, rules: ValidateSettings) -> Iterable[Check]:
    gaps = cur.gaps(_REQUIRED)
    description = "nodes, workloads and pods could all be listed"
    yield (Check(id="data-complete", description=description, status="unknown",
                 evidence=[f"cannot check: {gap}" for gap in gaps]) if gaps
           else _check("data-complete", description, []))
    if not cur.has("nodes"):
        yield _cannot("nodes-ready", "every node is Ready",
                      f"nodes could not be listed ({cur.missing['nodes']})")
    else:
        bad = [_node_problem(n) for n in cur.nodes if n.ready != "True"]
        if not cur.nodes:
            bad.append("no nodes found")
        yield _check("nodes-ready", "every node is Ready", bad)
    namespaces = list(dict.fromkeys(rules.critical_namespaces))
    description = ("every pod in the critical namespaces (" + ", ".join(namespaces)
                   + ") is Running and ready")
    if not namespaces:
        yield _skip("critical-namespaces-running", description, "no critical namespaces "
                    "configured ([validate] critical_namespaces)")
    elif not cur.has("pods"):
        yield _cannot("critical-namespaces-running", description,
                      f"pods could not be listed ({cur.missing['pods']})")
    else:
        wanted = set(namespaces)
        bad = [_pod_problem(p) for p in cur.problem_pods if p.namespace in wanted]
        populated = {g.namespace for g in cur.pods if g.total}
        bad.extend(f"namespace {ns}: no pods (is it the right namespace?)"
                   for ns in namespaces if ns not in populated)
        yield _check("critical-namespaces-running", description, bad)
    if not cur.has("endpoints"):
        yield _missing("endpoints-healthy", "every health endpoint answers 2xx", cur,
                       "endpoints", " ([[endpoints]] in the config)")
    else:
        bad = [f"endpoint {e.name} ({e.url}): "
               + (f"HTTP {e.status}" if e.status is not None else "no answer")
               + (f": {e.error}" if e.error else "")
               for e in cur.endpoints if not e.ok]
        yield _check("endpoints-healthy", "every health endpoint answers 2xx", bad)


# --------------------------------------------------------------------------- configured


def _configured(cur: Baseline, rules: ValidateSettings) -> Iterable[Check]:
    description = ("every Deployment runs exactly its desired replicas, all updated, ready "
                   "and available")
    if not rules.require_ready_workloads:
        yield _skip("workloads-ready", description, "off ([validate] require_ready_workloads)")
    elif not cur.has("workloads"):
        yield _cannot("workloads-ready", description,
                      f"workloads could not be listed ({cur.missing['workloads']})")
    else:
        yield _check("workloads-ready", description, [
            f"deployment {w.namespace}/{w.name}: {w.replicas()}"
            + (f" ({w.progressing_reason})" if w.progressing_reason == "ProgressDeadlineExceeded"
               else "")
            for w in cur.workloads if w.mismatch])
    for id_, description, on, bad_of in (
        ("apps-healthy", "every Argo CD app is Healthy", rules.require_healthy_apps,
         lambda a: a.health != "Healthy"),
        ("apps-synced", "every Argo CD app is Synced", rules.require_synced_apps,
         lambda a: a.sync != "Synced"),
    ):
        if not on:
            yield _skip(id_, description, f"off ([validate] require_{id_.split('-')[1]}"
                        "_apps)")
        elif not cur.has("apps"):
            yield _cannot(id_, description, f"apps could not be listed ({cur.missing['apps']})")
        else:
            yield _check(id_, description, [
                f"app {a.key}: {a.sync}/{a.health}"
                + (f": {a.health_message}" if a.health_message else "")
                + (f" (auto-sync {a.auto_sync})" if a.auto_sync != "on" else "")
                for a in cur.apps if bad_of(a)])
    severities = list(dict.fromkeys(rules.fail_alert_severities))
    description = ("no " + "/".join(severities) + " alert is firing"
                   + (f" (allowed: {', '.join(rules.allow_alerts)})" if rules.allow_alerts
                      else ""))
    if not severities:
        yield _skip("alerts-quiet", description, "off ([validate] fail_alert_severities)")
    elif not cur.has("alerts"):
        yield _missing("alerts-quiet", description, cur, "alerts")
    else:
        allowed, failing = set(rules.allow_alerts), set(severities)
        seen: set[tuple[tuple[str, str], ...]] = set()
        bad: list[str] = []
        for a in cur.alerts:
            ident = tuple(sorted(a.labels.items()))
            if a.state in FIRING and a.severity in failing and a.alertname not in allowed \
                    and ident not in seen:
                seen.add(ident)
                bad.append(f"alert {a.alertname} ({a.severity}, {a.state}, {a.source}"
                           + (f" {a.fingerprint}" if a.fingerprint else "") + ")"
                           + (f": {a.summary}" if a.summary else ""))
        yield _check("alerts-quiet", description, bad)
    statuses = set(rules.fail_signal_status)
    description = "no key signal is " + "/".join(sorted(statuses))
    if not statuses:
        yield _skip("signals-ok", description, "off ([validate] fail_signal_status)")
    elif not cur.has("signals"):
        yield _missing("signals-ok", description, cur, "signals")
    else:
        yield _check("signals-ok", description, [
            f"signal {s.signal} of {s.app}: {s.status} ({format_value(s.latest, s.unit)})"
            if s.latest is not None else f"signal {s.signal} of {s.app}: {s.status}"
            for s in cur.signals if s.status in statuses])


# --------------------------------------------------------------------------- regressions

_REGRESSION_TITLES: Final = {
    "nodes": "no node lost its Ready condition",
    "workloads": "no Deployment stopped serving, has a new replica mismatch, is stuck or is "
                 "gone",
    "pods": "no pod is newly not running or not ready",
    "restarts": "no workload's restarts rose by more than the allowed increase",
    "apps": "no Argo CD app is less healthy or out of sync with auto-sync on",
    "traffic": "no Gateway or route condition was lost and no route is gone",
    "alerts": "no alert is firing that was not firing before",
    "endpoints": "no health endpoint fails or got much slower",
    "signals": "no key signal is worse than before",
    "events": "no new warning events",
}


def _regressions(base: Baseline, cur: Baseline, rules: ValidateSettings,
                 result: Diff) -> Iterable[Check]:
    bad_context = ([f"the baseline is of context {base.context!r}, this is {cur.context!r}"]
                   if base.context != cur.context else [])
    yield _check("baseline-context", "the baseline was taken on this context", bad_context)
    for kind in dict.fromkeys(rules.regressions):
        id_ = f"no-regression-{kind}"
        description = _REGRESSION_TITLES[kind]
        if kind == "restarts":
            description += f" ({rules.max_restarts_increase})"
        if kind in result.not_compared:
            note = next((n for n in result.notes if n.startswith(f"{kind}: ")), kind)
            unreadable = any(side.unreadable(section) is not None for side in (base, cur)
                             for section in SECTIONS_OF_KIND[kind])
            yield (Check(id=id_, description=description, status="unknown",
                         evidence=[f"cannot check: {note}"]) if unreadable
                   else _skip(id_, description, note))
            continue
        yield _check(id_, description, [describe_item(i) for i in regressions(result, rules, kind)])


def regressions(result: Diff, rules: ValidateSettings, kind: str | None = None) -> list[DiffItem]:
    """The worse items that fail validation: of the configured kinds (or only ``kind``),
    restarts above ``max_restarts_increase``, alerts not in ``allow_alerts``. ``controlroom
    diff`` exits 1 exactly when this is not empty."""
    kinds = set(rules.regressions) if kind is None else {kind}
    allowed = set(rules.allow_alerts)
    out = []
    for item in result.items:
        if item.severity != "worse" or item.kind not in kinds:
            continue
        if item.kind == "restarts" and (item.delta or 0) <= rules.max_restarts_increase:
            continue
        if item.kind == "alerts" and item.key.split(" ", 1)[0] in allowed:
            continue
        out.append(item)
    return out
