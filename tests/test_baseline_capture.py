"""Capturing a baseline from a store: what goes in, what never does, and what is named missing."""

from __future__ import annotations

import json
from pathlib import Path

from backends.baseline.capture import CaptureLimits, CaptureMeta, capture, make_meta, redact_url
from backends.baseline.collect import collect
from backends.baseline.io import write_baseline
from backends.config import Settings
from backends.kube.connection import connect
from backends.model import (
    AppRow,
    Condition,
    DeploymentRow,
    EventRow,
    NodeMetricsRow,
    NodeRow,
    PodRow,
    ReplicaSetRow,
)
from backends.signals.health import EndpointRow
from backends.signals.model import AlertRow
from backends.store import Store
from drill.resources import BY_KEY
from drill.runner import DrillCluster

NOW = 1_764_000_000.0
META = CaptureMeta(context="drill", cluster="drill", operator="alice", change_id="CHG-9")


def pod(name: str, *, ns: str = "shop", owner: tuple[str, str] = ("ReplicaSet", "web-abc"),
        phase: str = "Running", status: str = "Running", ready: int = 1,
        restarts: int = 0, problem: bool = False) -> PodRow:
    return PodRow(key=f"{ns}/{name}", namespace=ns, name=name, phase=phase, status=status,
                  ready_containers=ready, total_containers=1, restarts=restarts, node="n1",
                  owner_kind=owner[0], owner_name=owner[1], problem=problem)


def store_of_a_small_cluster() -> Store:
    store = Store()
    store.replace("nodes", [NodeRow(key="n1", name="n1", ready="True", pool="user",
                                    cpu_allocatable_m=2000, memory_allocatable=4 * 2**30),
                            NodeRow(key="n2", name="n2", ready="False", conditions=(
                                Condition(type="Ready", status="False",
                                          reason="KubeletNotReady"),))])
    store.replace("nodemetrics", [NodeMetricsRow(key="n1", name="n1", cpu_m=500,
                                                 memory=2**30)])
    store.replace("deployments", [DeploymentRow(key="shop/web", namespace="shop", name="web",
                                                desired=3, current=3, ready=2, updated=3,
                                                available=2, images=("web:1",))])
    store.replace("replicasets", [ReplicaSetRow(key="shop/web-abc", namespace="shop",
                                                name="web-abc", deployment="web")])
    store.replace("pods", [
        pod("web-abc-1", restarts=1), pod("web-abc-2"),
        pod("web-abc-3", status="CrashLoopBackOff", ready=0, restarts=4, problem=True),
        pod("lonely", owner=("", ""), phase="Pending", status="Pending", ready=0),
        pod("job-1", owner=("Job", "nightly"), phase="Succeeded", status="Completed", ready=0),
    ])
    store.replace("events", [
        EventRow(key="shop/e1", namespace="shop", name="e1", type="Warning", reason="BackOff",
                 object_kind="Pod", object_name="web-abc-3", count=4, last_seen=NOW - 60),
        EventRow(key="shop/e2", namespace="shop", name="e2", type="Warning", reason="Old",
                 last_seen=NOW - 7200),
        EventRow(key="shop/e3", namespace="shop", name="e3", type="Normal", reason="Pulled",
                 last_seen=NOW - 5),
    ])
    store.replace("applications", [AppRow(
        key="argocd/shop", namespace="argocd", name="shop", sync_status="Synced",
        health_status="Healthy", auto_sync="on",
        automated_json='{"selfHeal":true,"token":"AUTOMATED-SECRET"}')])
    store.replace("alerts", [AlertRow(key="prometheus/1", source="prometheus",
                                      alertname="PodCrashLooping", severity="critical",
                                      labels=(("alertname", "PodCrashLooping"),),
                                      fingerprint="1")])
    store.note_event("prometheus", now=NOW)
    store.replace("endpoints", [EndpointRow(
        key="argocd", name="argocd", ok=True, status=200, latency_ms=12.0,
        url="https://admin:hunter2@argocd.example.com:8443/api/version?token=QUERY-SECRET#x")])
    store.set_health("endpoints", "connected", now=NOW)
    return store


def test_capture_summarises_healthy_pods_and_lists_problems() -> None:
    b = capture(store_of_a_small_cluster(), META, NOW)
    assert (b.context, b.operator, b.change_id, b.taken_at) == ("drill", "alice", "CHG-9", NOW)
    groups = {g.key: g for g in b.pods}
    web = groups["Deployment/shop/web"]
    assert (web.total, web.ready, web.restarts, web.phases) == (3, 2, 5, {"Running": 3})
    assert groups["Pod/shop/lonely"].phases == {"Pending": 1}
    assert groups["Job/shop/nightly"].phases == {"Succeeded": 1}
    assert [(p.name, p.status, p.workload) for p in b.problem_pods] == [
        ("lonely", "Pending", "Pod/shop/lonely"),
        ("web-abc-3", "CrashLoopBackOff", "Deployment/shop/web")]
    n1, n2 = b.nodes
    assert (n1.cpu_pct, n1.memory_pct, n2.cpu_pct) == (25.0, 25.0, None)
    assert n2.conditions[0].reason == "KubeletNotReady"
    assert [(e.reason, e.object, e.count) for e in b.events] == [("BackOff", "Pod/web-abc-3", 4)]
    assert b.workloads[0].mismatch
    assert b.alerts[0].labels == {"alertname": "PodCrashLooping"}
    assert b.endpoints[0].url == "https://argocd.example.com:8443/api/version"
    assert set(b.missing) == {"signals"}


def test_capture_never_keeps_credentials(tmp_path: Path) -> None:
    path = write_baseline(capture(store_of_a_small_cluster(), META, NOW), tmp_path / "b.json")
    text = path.read_text()
    for secret in ("AUTOMATED-SECRET", "hunter2", "admin:", "QUERY-SECRET"):
        assert secret not in text


def test_limits_cut_and_say_so() -> None:
    store = store_of_a_small_cluster()
    b = capture(store, META, NOW, limits=CaptureLimits(problem_pods=1, events=0))
    assert len(b.problem_pods) == 1 and b.events == []
    assert any("1 more pods" in n for n in b.notes)
    assert any("warning events" in n for n in b.notes)
    assert sum(g.total for g in b.pods) == 5  # summaries still count every pod


def test_missing_sections_follow_the_sources_health() -> None:
    store = Store()
    store.set_health("pods", "forbidden", 'pods is forbidden: User "x" cannot list')
    store.set_health("nodes", "connecting", "connection refused")
    store.set_health("alertmanager", "error", "unreachable: refused")
    store.set_health("applications", "not_installed")  # no Argo CD: nothing missing
    b = capture(store, META, NOW)
    assert b.missing["pods"].startswith("pods: forbidden")
    assert "not listed yet" in b.missing["nodes"]
    assert b.missing["alerts"] == "no answer from alertmanager"
    assert "apps" not in b.missing
    assert b.missing["endpoints"] == "no health endpoints configured"
    assert b.missing["usage"] == "no node metrics (metrics-server)"


def test_redact_url() -> None:
    assert redact_url("http://u:p@[::1]:9090/x?y=1") == "http://[::1]:9090/x"
    assert redact_url("not a url") == "not a url"


async def test_a_drill_snapshot_holds_no_secret_values(drill: DrillCluster,
                                                       tmp_path: Path) -> None:
    """Env values, annotations and Helm values of the cluster never reach the file."""
    secret = "S3cr3t-Drill-Value"
    pods, apps = BY_KEY["pods"], BY_KEY["applications.argoproj.io"]
    drill.state.create(pods, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "leaky", "namespace": "payments",
                     "annotations": {"vault.hashicorp.com/secret": secret}},
        "spec": {"containers": [{"name": "app", "image": "leaky:1",
                                 "env": [{"name": "DB_PASSWORD", "value": secret}]}]},
        "status": {"phase": "Pending"}})
    app = drill.state.get(apps, "argocd", "payments")
    app["metadata"].setdefault("annotations", {})["note"] = secret
    app["spec"]["source"]["helm"] = {"values": f"password: {secret}"}
    drill.state.update(apps, "argocd", "payments", app)
    conn = await connect(str(drill.kubeconfig), None)
    try:
        store = Store()
        assert await collect(conn, store, Settings(), timeout=20) == []
    finally:
        await conn.close()
    b = capture(store, make_meta("drill", "drill", "CHG-SECRET"), NOW)
    assert [p.name for p in b.problem_pods if p.name == "leaky"] == ["leaky"]
    path = write_baseline(b, tmp_path / "b.json")
    text = path.read_text()
    assert secret not in text
    assert json.loads(text)["change_id"] == "CHG-SECRET"
    assert {"nodes", "workloads", "pods", "apps", "routes"}.isdisjoint(b.missing)


def test_the_checklist_is_the_change_record() -> None:
    from backends.baseline.capture import with_checklist
    from backends.baseline.runbook import default_checklist

    store = store_of_a_small_cluster()
    b = with_checklist(capture(store, META, NOW), default_checklist(change_id="CHG-9"), store)
    assert b.checklist is not None and b.checklist.change_id == "CHG-9"
    baseline_item = b.checklist.item("baseline")
    quiet = b.checklist.item("alerts_quiet")
    assert baseline_item is not None and baseline_item.done and "alice" in baseline_item.evidence
    assert quiet is not None and not quiet.done and "PodCrashLooping" in quiet.evidence
    alone = with_checklist(capture(Store(), META, NOW), default_checklist())
    item = alone.checklist.item("alerts_quiet") if alone.checklist else None
    assert item is not None and not item.done  # nothing answered: never "quiet"


def test_stale_sources_are_noted() -> None:
    store = store_of_a_small_cluster()
    store.note_event("pods", now=NOW - 100)
    store.set_health("pods", "stale", "connection reset", now=NOW - 30)
    b = capture(store, META, NOW)
    assert any(n.startswith("pods: last known data") and "connection reset" in n
               for n in b.notes)
    assert "pods" not in b.missing


def test_the_header_is_sanitized_where_it_enters() -> None:
    """Issue 13: `snapshot` printed a hostile context name raw (an OSC 52 sequence reached
    the terminal). The kubeconfig's names are untrusted like any cluster string."""
    from backends.baseline.report import render_baseline_summary

    hostile = "prod\x1b]52;c;cm0gLXJmIH4=\x07\x9b2J"
    meta = make_meta(hostile, cluster=f"https://{hostile}", change_id="CHG\x1b[2J-1",
                     operator=f"eve{hostile}")
    text = render_baseline_summary(capture(Store(), meta, NOW))
    assert not any(ch in text for ch in "\x1b\x07\x9b"), repr(text)
    assert "baseline of context prod" in text
