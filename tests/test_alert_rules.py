"""The platform's alert rules: valid for promtool, faithful to the update strategy, firing on
the series they are about (promtool's rule unit tests), and the drill copy derived from them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from drill import alert_rules, server_configs
from tests.conftest import require_program

#: The update strategy's rules (monitoring and alerting during updates), verbatim.
STRATEGY = {
    "DeploymentReplicasMismatch": {
        "expr": "kube_deployment_status_replicas != kube_deployment_spec_replicas",
        "for": "5m", "severity": "warning", "summary": "Deployment has mismatched replicas"},
    "PodCrashLooping": {
        "expr": "rate(kube_pod_container_status_restarts_total[15m]) > 0",
        "for": "5m", "severity": "critical", "summary": "Pod is crash looping"},
}


def rules_by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = require_program("promtool")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_the_strategy_rules_are_shipped_as_written() -> None:
    rules = rules_by_name(alert_rules.platform_rules())
    for name, want in STRATEGY.items():
        rule = rules[name]
        assert rule["expr"] == want["expr"]
        assert rule["for"] == want["for"]
        assert rule["labels"]["severity"] == want["severity"]
        assert rule["annotations"]["summary"] == want["summary"]
    assert set(rules) == {*STRATEGY, "NodeNotReady", "AppHighErrorRatio"}
    assert all(r["annotations"].get("description") for r in rules.values())
    assert all(r["labels"]["severity"] in ("warning", "critical") for r in rules.values())
    node = rules["NodeNotReady"]["expr"]
    assert node.strip() == 'kube_node_status_condition{condition="Ready",status="true"} == 0'


def test_the_drill_copy_changes_only_the_for_durations(tmp_path: Path) -> None:
    shipped = alert_rules.platform_rules()
    drill = alert_rules.drill_rules("5s")
    assert {r["for"] for r in rules_by_name(drill).values()} == {"5s"}
    assert {r["for"] for r in rules_by_name(shipped).values()} == {"5m"}  # source untouched
    for name, rule in rules_by_name(drill).items():
        assert {**rule, "for": "5m"} == rules_by_name(shipped)[name]
    written = alert_rules.write_drill_rules(tmp_path / "drill.yml", "2s")
    assert rules_by_name(yaml.safe_load(written.read_text()))["PodCrashLooping"]["for"] == "2s"


@pytest.mark.parametrize("bad", ["", "5", "five seconds", "5 m", "-5s"])
def test_a_bad_drill_duration_is_refused_by_name(bad: str) -> None:
    with pytest.raises(alert_rules.RulesError, match="not a Prometheus duration"):
        alert_rules.drill_rules(bad)


@pytest.mark.parametrize(("doc", "problem"), [
    ([], "'groups' list"),
    ({"groups": "x"}, "'groups' list"),
    ({"groups": [{"name": "g"}]}, "group 0 has no 'rules' list"),
    ({"groups": [{"name": "g", "rules": [{"alert": "A"}]}]}, "group 0 rule 0 has no 'expr'"),
])
def test_a_malformed_rule_file_is_refused_with_the_place(doc: Any, problem: str) -> None:
    with pytest.raises(alert_rules.RulesError, match=problem):
        alert_rules.drill_rules("5s", source=doc)


def test_promtool_accepts_the_shipped_and_the_drill_rules(tmp_path: Path) -> None:
    shipped = tmp_path / "platform.yml"
    shipped.write_text(alert_rules.platform_rules_text())
    drill = alert_rules.write_drill_rules(tmp_path / "drill.yml")
    out = promtool("check", "rules", str(shipped), str(drill))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 4 rules found" in out.stdout


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check above can fail: a rule with a PromQL syntax error is refused."""
    doc = alert_rules.platform_rules()
    doc["groups"][0]["rules"][0]["expr"] = "kube_deployment_status_replicas !="
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(doc))
    assert promtool("check", "rules", str(broken)).returncode != 0


UNIT_TESTS = """
rule_files: [drill.yml]
evaluation_interval: 1s
tests:
  - interval: 1s
    input_series:
      - series: kube_deployment_spec_replicas{namespace="checkout",deployment="checkout-stable"}
        values: 3x30
      - series: kube_deployment_status_replicas{namespace="checkout",deployment="checkout-stable"}
        values: 3x5 4x25
      - series: kube_deployment_spec_replicas{namespace="payments",deployment="payments"}
        values: 2x30
      - series: kube_deployment_status_replicas{namespace="payments",deployment="payments"}
        values: 2x30
      - series: kube_pod_container_status_restarts_total{namespace="checkout",pod="checkout-stable-x",container="checkout"}
        values: 0x5 1+1x25
      - series: kube_pod_container_status_restarts_total{namespace="payments",pod="payments-y",container="payments"}
        values: 0x30
      - series: kube_node_status_condition{node="aks-user-1",condition="Ready",status="true"}
        values: 1x5 0x25
      - series: kube_node_status_condition{node="aks-user-2",condition="Ready",status="true"}
        values: 1x30
      - series: http_requests_total{namespace="checkout",app="checkout-stable",code="200"}
        values: 0+10x30
      - series: http_requests_total{namespace="checkout",app="checkout-stable",code="503"}
        values: 0x5 0+5x25
      - series: http_requests_total{namespace="payments",app="payments",code="200"}
        values: 0+10x30
    alert_rule_test:
      - eval_time: 4s
        alertname: PodCrashLooping
        exp_alerts: []
      - eval_time: 20s
        alertname: PodCrashLooping
        exp_alerts:
          - exp_labels: {severity: critical, namespace: checkout, pod: checkout-stable-x,
                         container: checkout}
      - eval_time: 20s
        alertname: DeploymentReplicasMismatch
        exp_alerts:
          - exp_labels: {severity: warning, namespace: checkout, deployment: checkout-stable}
      - eval_time: 20s
        alertname: NodeNotReady
        exp_alerts:
          - exp_labels: {severity: critical, node: aks-user-1, condition: Ready, status: "true"}
      - eval_time: 20s
        alertname: AppHighErrorRatio
        exp_alerts:
          - exp_labels: {severity: critical, namespace: checkout, app: checkout-stable}
"""


def test_the_rules_fire_on_the_series_they_are_about(tmp_path: Path) -> None:
    """promtool's rule unit tests on the drill copy (``for: 5s``): the crash-looping pod, the
    mismatched deployment, the NotReady node and the erroring app fire; the healthy ones do
    not (promtool fails on any alert it was not told to expect). Annotations are dropped here
    because promtool compares them exactly and ``$value`` is a float; they are checked above."""
    drill = alert_rules.drill_rules("5s")
    for group in drill["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "drill.yml").write_text(yaml.safe_dump(drill))
    (tmp_path / "unit.yml").write_text(UNIT_TESTS)
    out = promtool("test", "rules", "unit.yml", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_unit_tests_can_fail(tmp_path: Path) -> None:
    """The same unit tests against rules that never fire: promtool reports the misses."""
    drill = alert_rules.drill_rules("5s")
    for group in drill["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
            rule["expr"] = "vector(1) == 0"
    (tmp_path / "drill.yml").write_text(yaml.safe_dump(drill))
    (tmp_path / "unit.yml").write_text(UNIT_TESTS)
    out = promtool("test", "rules", "unit.yml", cwd=tmp_path)
    assert out.returncode != 0 and "PodCrashLooping" in out.stdout + out.stderr


def test_drill_prometheus_config_scrapes_the_drill_and_alerts_its_alertmanager() -> None:
    conf = server_configs.prometheus_config(
        "http://127.0.0.1:4000/metrics", ["/tmp/r.yml"], "http://127.0.0.1:5000",
        server_configs.Intervals())
    assert conf["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:4000"]
    assert conf["scrape_configs"][0]["metrics_path"] == "/metrics"
    assert conf["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:5000"]
    assert conf["global"]["evaluation_interval"] == "1s"
    without = server_configs.prometheus_config("http://127.0.0.1:4000/metrics", [], None,
                                               server_configs.Intervals())
    assert "alerting" not in without
    with pytest.raises(ValueError, match="host and port"):
        server_configs.hostport("http://127.0.0.1/metrics")


def test_alertmanager_runs_without_gossip_and_mosquitto_keeps_messages(tmp_path: Path) -> None:
    args = server_configs.alertmanager_args("am", tmp_path / "c.yml", tmp_path, 9999)
    assert "--cluster.listen-address=" in args
    assert "--web.listen-address=127.0.0.1:9999" in args
    conf = server_configs.mosquitto_config(1883, tmp_path)
    assert "listener 1883 127.0.0.1" in conf.splitlines()
    assert "persistence true" in conf.splitlines()
    assert f"persistence_location {tmp_path}/" in conf.splitlines()
