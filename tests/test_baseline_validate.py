"""Validation checks and their reports (text, JSON, JUnit XML), on hand-made documents."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from backends.baseline.model import (
    NO_ENDPOINTS,
    SCHEMA_VERSION,
    AlertSnap,
    AppSnap,
    Baseline,
    EndpointSnap,
    NodeSnap,
    PodGroup,
    PodSnap,
    SignalSnap,
    WorkloadSnap,
)
from backends.baseline.report import (
    render_validation,
    render_validation_json,
    render_validation_junit,
    render_validation_text,
)
from backends.baseline.validate import Validation, validate
from backends.config import ValidateSettings, parse

RULES = ValidateSettings()


def healthy(**fields: Any) -> Baseline:
    values: dict[str, Any] = {
        "context": "drill",
        "nodes": [NodeSnap(name="n1", ready="True"), NodeSnap(name="n2", ready="True")],
        "workloads": [WorkloadSnap(kind="Deployment", namespace="shop", name="web", desired=2,
                                   current=2, ready=2, updated=2, available=2)],
        "pods": [PodGroup(kind="Deployment", namespace=ns, name="x", total=2, ready=2,
                          phases={"Running": 2}) for ns in ("argocd", "monitoring", "shop")],
        "apps": [AppSnap(namespace="argocd", name="shop", sync="Synced", health="Healthy")],
        "endpoints": [EndpointSnap(name="argocd", url="https://argocd/api/version", ok=True,
                                   status=200, latency_ms=30)],
        "alerts": [AlertSnap(source="prometheus", alertname="Watchdog", severity="critical",
                             state="firing", labels={"alertname": "Watchdog"})],
        "signals": [SignalSnap(signal="errors", app="shop", latest=0.001, status="ok")],
    }
    values.update(fields)
    return Baseline(schema_version=SCHEMA_VERSION, taken_at=1000.0, **values)


def statuses(v: Validation) -> dict[str, str]:
    return {c.id: c.status for c in v.checks}


def evidence(v: Validation, check_id: str) -> list[str]:
    return next(c.evidence for c in v.checks if c.id == check_id)


def test_a_healthy_cluster_passes_every_check() -> None:
    v = validate(healthy(), RULES, healthy())
    assert v.passed, render_validation_text(v)
    got = statuses(v)
    assert got["nodes-ready"] == got["critical-namespaces-running"] == "pass"
    assert got["endpoints-healthy"] == got["alerts-quiet"] == "pass"  # Watchdog is allowed
    assert got["apps-synced"] == "skip"  # off by default
    assert got["no-regression-pods"] == "pass"
    assert "no-regression" not in got
    alone = validate(healthy(), RULES)
    assert statuses(alone)["no-regression"] == "skip" and alone.passed


def test_the_update_strategy_checks_name_the_offenders() -> None:
    cur = healthy(
        nodes=[NodeSnap(name="n1", ready="True"), NodeSnap(name="n2", ready="Unknown")],
        pods=[PodGroup(kind="Deployment", namespace="argocd", name="x", total=1)],
        problem_pods=[PodSnap(namespace="argocd", name="repo-1", status="CrashLoopBackOff",
                              ready="0/1", restarts=7, node="n1"),
                      PodSnap(namespace="shop", name="ignored", status="Pending")],
        endpoints=[EndpointSnap(name="grafana", url="https://grafana/api/health", ok=False,
                                status=503, error="HTTP 503 (expected 2xx)")])
    v = validate(cur, RULES)
    assert not v.passed
    assert evidence(v, "nodes-ready") == ["node n2: Ready=Unknown"]
    assert evidence(v, "critical-namespaces-running") == [
        "pod argocd/repo-1: CrashLoopBackOff (0/1 ready, 7 restarts, node n1)",
        "namespace monitoring: no pods (is it the right namespace?)"]
    assert evidence(v, "endpoints-healthy") == [
        "endpoint grafana (https://grafana/api/health): HTTP 503: HTTP 503 (expected 2xx)"]


def test_configured_rules() -> None:
    cur = healthy(
        apps=[AppSnap(namespace="argocd", name="shop", sync="OutOfSync", health="Healthy",
                      auto_sync="paused")],
        alerts=[AlertSnap(source="alertmanager", alertname="PodCrashLooping",
                          severity="critical", state="active", fingerprint="abc",
                          labels={"alertname": "PodCrashLooping"}),
                AlertSnap(source="prometheus", alertname="PodCrashLooping",
                          severity="critical", state="firing",
                          labels={"alertname": "PodCrashLooping"}),
                AlertSnap(source="prometheus", alertname="Slow", severity="warning",
                          state="firing", labels={"alertname": "Slow"})],
        signals=[SignalSnap(signal="errors", app="shop", latest=0.2, status="crit",
                            unit="percent")])
    v = validate(cur, RULES)
    assert statuses(v)["apps-synced"] == "skip"
    assert evidence(v, "alerts-quiet") == [
        "alert PodCrashLooping (critical, active, alertmanager abc)"]  # once, warning ignored
    assert evidence(v, "signals-ok") == ["signal errors of shop: crit (20%)"]
    strict = parse(b'[validate]\nrequire_synced_apps = true\nfail_alert_severities = '
                   b'["critical", "warning"]\nallow_alerts = ["PodCrashLooping"]\n'
                   b'fail_signal_status = []\n').validate
    v = validate(cur, strict)
    assert evidence(v, "apps-synced") == ["app argocd/shop: OutOfSync/Healthy (auto-sync paused)"]
    assert evidence(v, "alerts-quiet") == ["alert Slow (warning, firing, prometheus)"]
    assert statuses(v)["signals-ok"] == "skip"


def test_regressions_allowances_and_missing_sections() -> None:
    base = healthy(pods=[*healthy().pods,
                         PodGroup(kind="Deployment", namespace="shop", name="web", total=2,
                                  restarts=1)])
    cur = healthy(pods=[*healthy().pods,
                        PodGroup(kind="Deployment", namespace="shop", name="web", total=2,
                                 restarts=3)],
                  alerts=[AlertSnap(source="prometheus", alertname="Watchdog", state="firing",
                                    labels={"alertname": "Watchdog", "x": "1"})],
                  missing={"signals": "no answer from Prometheus: timed out"})
    v = validate(cur, RULES, base)
    assert evidence(v, "no-regression-restarts") == [
        "Deployment/shop/web: restarts +2 (1 -> 3)"]
    assert statuses(v)["no-regression-alerts"] == "pass"  # a new Watchdog is allowed
    # Issue 13: signals that could not be read (Prometheus timed out) cannot be checked; this
    # used to be "skip", and a validation full of skips passed without having looked.
    assert statuses(v)["no-regression-signals"] == "unknown"
    assert "timed out" in evidence(v, "no-regression-signals")[0]
    assert v.verdict == "failed"  # the restarts: a known failure outranks "cannot check"
    lenient = ValidateSettings(max_restarts_increase=2)
    assert statuses(validate(cur, lenient, base))["no-regression-restarts"] == "pass"
    other = validate(healthy(context="prod"), RULES, base)
    assert evidence(other, "baseline-context") == [
        "the baseline is of context 'drill', this is 'prod'"]
    incomplete = validate(healthy(missing={"pods": "pods: forbidden"}), RULES)
    # Issue 13: "cannot check" (was: fail and skip), and the verdict is not a pass.
    assert evidence(incomplete, "data-complete") == ["cannot check: pods: pods: forbidden"]
    assert statuses(incomplete)["data-complete"] == "unknown"
    assert statuses(incomplete)["critical-namespaces-running"] == "unknown"
    assert incomplete.verdict == "unknown" and not incomplete.passed


def failing_validation() -> Validation:
    return validate(healthy(nodes=[NodeSnap(name="n1 <&\"'>", ready="False")],
                            # The reason capture writes when none is configured (a skip); an
                            # unreadable section would be "cannot check" since issue 13.
                            endpoints=[], missing={"endpoints": NO_ENDPOINTS}), RULES)


def test_junit_has_one_testcase_per_check_with_the_evidence() -> None:
    v = failing_validation()
    root = ET.fromstring(render_validation_junit(v))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(v.checks)
    assert suite.attrib["failures"] == str(len(v.failures)) == "1"
    assert int(suite.attrib["skipped"]) == sum(1 for c in v.checks if c.status == "skip")
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.attrib["name"] for c in failed] == ["nodes-ready: every node is Ready"]
    failure = failed[0].find("failure")
    assert failure is not None
    assert "node n1 <&\"'>: Ready=False" in failure.attrib["message"]
    assert failure.text == "node n1 <&\"'>: Ready=False"
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert any("endpoints-healthy" in c.attrib["name"] for c in skipped)


def test_json_and_text_formats() -> None:
    v = failing_validation()
    body = json.loads(render_validation_json(v))
    assert body["passed"] is False
    assert [c["id"] for c in body["checks"] if c["status"] == "fail"] == ["nodes-ready"]
    text = render_validation_text(v)
    assert "FAIL nodes-ready" in text and text.endswith("FAILED: 1 check(s) failed: nodes-ready")
    with pytest.raises(ValueError, match="unknown format"):
        render_validation(v, "yaml")


def test_capacity_lost_fails_validation_naming_the_deployment() -> None:
    """Issue 13: scaling monitoring/alertmanager 2 -> 0 passed every check (0/0 is not a
    mismatch); against the baseline that served it now fails, naming it."""
    served = WorkloadSnap(kind="Deployment", namespace="monitoring", name="alertmanager",
                          desired=2, current=2, ready=2, updated=2, available=2)
    zero = WorkloadSnap(kind="Deployment", namespace="monitoring", name="alertmanager")
    base = healthy(workloads=[*healthy().workloads, served])
    v = validate(healthy(workloads=[*healthy().workloads, zero]), RULES, base)
    assert statuses(v)["workloads-ready"] == "pass"  # 0 of 0 is what it was asked for
    assert evidence(v, "no-regression-workloads") == [
        "monitoring/alertmanager: serves nothing: 0 available (was 2) (replicas 2/2, ready 2, "
        "updated 2, available 2 -> replicas 0/0, ready 0, updated 0, available 0)"]
    assert v.verdict == "failed"


def test_an_engaged_breaker_fails_validation() -> None:
    v = validate(healthy(), RULES, healthy(), breakers=["BREAKER ENGAGED (op-1) by alice"])
    assert evidence(v, "breaker-released") == [
        "circuit breaker engaged: BREAKER ENGAGED (op-1) by alice"]
    assert v.verdict == "failed"
    assert statuses(validate(healthy(), RULES, breakers=[]))["breaker-released"] == "pass"
    assert statuses(validate(healthy(), RULES))["breaker-released"] == "skip"
    unread = validate(healthy(), RULES, breakers_unknown="journal x: row 3: bad JSON")
    assert evidence(unread, "breaker-released") == ["cannot check: journal x: row 3: bad JSON"]
    assert unread.verdict == "unknown"


@pytest.mark.parametrize(("section", "checks"), [
    ("nodes", ["data-complete", "nodes-ready"]),
    ("apps", ["apps-healthy"]),
    ("alerts", ["alerts-quiet"]),
])
def test_an_unreadable_section_cannot_be_checked_never_passes(section: str,
                                                              checks: list[str]) -> None:
    """Issue 13 points 2 and 11: forbidden, not served, or holding objects that failed to
    decode (capture names the source's error) is "cannot check", and the verdict is not a
    pass; a section nobody configured is only skipped."""
    why = f"{section}: error: 1 item(s) could not be decoded; first: x"
    v = validate(healthy(missing={section: why}), RULES)
    assert all(statuses(v)[c] == "unknown" for c in checks), statuses(v)
    assert any(why in line for line in evidence(v, checks[-1]))
    assert not v.passed and v.verdict == "unknown"
    text = render_validation_text(v)
    assert f"???? {checks[-1]}" in text and text.splitlines()[-1].startswith("CANNOT CHECK")
    junit = ET.fromstring(render_validation_junit(v))
    assert junit.attrib["errors"] == str(len(checks))
    assert render_validation_json(v).count('"verdict": "unknown"') == 1


def test_not_configured_is_a_skip_not_a_cannot_check() -> None:
    v = validate(healthy(alerts=[], missing={
        "alerts": "no alert source configured (Prometheus or Alertmanager)"}), RULES)
    assert statuses(v)["alerts-quiet"] == "skip" and v.passed
