"""The diff's rules on hand-made documents: what is worse, better or only changed, and the
order the screen shows them in."""

from __future__ import annotations

import typing
from typing import Any

import msgspec

from backends.baseline.diff import DIFF_KINDS, Diff, diff
from backends.baseline.model import (
    SCHEMA_VERSION,
    AlertSnap,
    AppSnap,
    BackendSnap,
    Baseline,
    ConditionSnap,
    EndpointSnap,
    GatewaySnap,
    NodeSnap,
    PodGroup,
    PodSnap,
    RouteParentSnap,
    RouteSnap,
    SignalSnap,
    WorkloadSnap,
)
from backends.baseline.report import render_diff_text
from backends.config import RegressionKind


def doc(**fields: Any) -> Baseline:
    return Baseline(schema_version=SCHEMA_VERSION, context="drill", taken_at=1000.0, **fields)


def items(d: Diff, kind: str) -> list[tuple[str, str, str]]:
    return [(i.severity, i.key, i.what) for i in d.items if i.kind == kind]


def deploy(**fields: Any) -> WorkloadSnap:
    values: dict[str, Any] = {"kind": "Deployment", "namespace": "shop", "name": "web",
                              "desired": 3, "current": 3, "ready": 3, "updated": 3,
                              "available": 3, "images": ["web:1"], "revision": 1}
    values.update(fields)
    return WorkloadSnap(**values)


def test_config_knows_every_diff_kind() -> None:
    assert set(typing.get_args(RegressionKind)) == set(DIFF_KINDS)


def test_nodes_not_ready_is_the_worst_and_replacements_are_only_changes() -> None:
    ready = ConditionSnap(type="Ready", status="True")
    base = doc(nodes=[NodeSnap(name="a", ready="True", conditions=[ready]),
                      NodeSnap(name="old", ready="True"),
                      NodeSnap(name="b", ready="True", cpu_pct=50.0)])
    cur = doc(nodes=[NodeSnap(name="a", ready="False", conditions=[
                         ConditionSnap(type="Ready", status="False", reason="KubeletNotReady")]),
                     NodeSnap(name="new", ready="True"),
                     NodeSnap(name="b", ready="True", cpu_pct=95.0, unschedulable=True)])
    d = diff(base, cur)
    assert d.items[0].key == "a" and d.items[0].severity == "worse" and d.items[0].rank == 100
    assert "KubeletNotReady" in d.items[0].after
    got = items(d, "nodes")
    assert ("changed", "old", "node gone") in got and ("changed", "new", "new node") in got
    assert ("changed", "b", "cordoned") in got
    assert ("worse", "b", "CPU usage above 90%") in got


def test_workloads_mismatch_stuck_images_and_gone() -> None:
    base = doc(workloads=[deploy(), deploy(name="api"), deploy(name="gone")])
    cur = doc(workloads=[deploy(current=4, updated=1, images=["web:2"], revision=2,
                                progressing_reason="ProgressDeadlineExceeded"),
                         deploy(name="api", desired=0, current=0, ready=0, updated=0,
                                available=0)])
    got = items(diff(base, cur), "workloads")
    assert ("worse", "shop/web", "replica mismatch") in got
    assert ("worse", "shop/web", "rollout stuck (progress deadline exceeded)") in got
    assert ("changed", "shop/web", "images changed") in got
    assert ("changed", "shop/web", "rollout revision changed") in got
    assert ("worse", "shop/gone", "Deployment gone") in got
    # Scaled to 0: the desired count changed, and (issue 13) what served serves nothing, which
    # is worse whatever the reason (this asserted "a change only" before; a breaker that holds
    # it at 0 fails validation on its own, "circuit breaker engaged").
    assert ("changed", "shop/api", "desired replicas changed") in got
    assert [g for g in got if g[1] == "shop/api" and g[0] == "worse"] == [
        ("worse", "shop/api", "serves nothing: 0 available (was 3)")]
    back = items(diff(cur, base), "workloads")
    assert ("better", "shop/web", "replicas match again") in back
    assert ("better", "shop/api", "serves again: 3 available") in back


def test_pods_new_problems_recoveries_restarts_and_terminating() -> None:
    crash = PodSnap(namespace="shop", name="web-1", phase="Running", status="CrashLoopBackOff",
                    ready="0/1", restarts=3)
    base = doc(pods=[PodGroup(kind="Deployment", namespace="shop", name="web", total=3,
                              restarts=1)],
               problem_pods=[PodSnap(namespace="shop", name="old", status="Pending")])
    cur = doc(pods=[PodGroup(kind="Deployment", namespace="shop", name="web", total=3,
                             restarts=6)],
              problem_pods=[crash, PodSnap(namespace="shop", name="bye", phase="Running",
                                           status="Terminating")])
    d = diff(base, cur)
    pods = {(i.severity, i.key): i for i in d.items if i.kind == "pods"}
    assert pods[("worse", "shop/web-1")].rank == 85
    assert ("better", "shop/old") in pods
    assert ("changed", "shop/bye") in pods
    (restarts,) = [i for i in d.items if i.kind == "restarts"]
    assert restarts.what == "restarts +5" and restarts.delta == 5


def test_apps_out_of_sync_is_worse_only_while_auto_sync_is_on() -> None:
    def app(name: str, **fields: Any) -> AppSnap:
        values: dict[str, Any] = {"sync": "Synced", "health": "Healthy", "auto_sync": "on",
                                  "revision": "r1"}
        values.update(fields)
        return AppSnap(namespace="argocd", name=name, **values)

    base = doc(apps=[app("a"), app("b"), app("c"), app("d", health="Degraded")])
    cur = doc(apps=[app("a", sync="OutOfSync"),
                    app("b", sync="OutOfSync", auto_sync="paused", revision="r0"),
                    app("c", health="Degraded", health_message="crash loop",
                        operation_phase="Failed"),
                    app("d")])
    got = items(diff(base, cur), "apps")
    assert ("worse", "argocd/a", "sync OutOfSync") in got
    assert ("changed", "argocd/b", "out of sync while auto-sync is paused (expected after a "
            "rollback)") in got
    assert ("changed", "argocd/b", "auto-sync changed") in got
    assert ("changed", "argocd/b", "revision changed") in got
    assert ("worse", "argocd/c", "health Degraded") in got
    assert ("worse", "argocd/c", "operation Failed") in got
    assert ("better", "argocd/d", "health Healthy") in got


def test_traffic_conditions_lost_and_weights_changed() -> None:
    ok = [ConditionSnap(type="Accepted", status="True"),
          ConditionSnap(type="ResolvedRefs", status="True")]
    broken = [ConditionSnap(type="Accepted", status="True"),
              ConditionSnap(type="ResolvedRefs", status="False", reason="BackendNotFound")]

    def route(conds: list[ConditionSnap], weights: dict[str, int]) -> RouteSnap:
        return RouteSnap(namespace="shop", name="web",
                         parents=[RouteParentSnap(gateway="gw/main", conditions=conds)],
                         backends=[BackendSnap(rule=0, name=n, namespace="shop", weight=w)
                                   for n, w in weights.items()])

    gw = GatewaySnap(namespace="gw", name="main",
                     conditions=[ConditionSnap(type="Programmed", status="True")])
    gw_bad = GatewaySnap(namespace="gw", name="main",
                         conditions=[ConditionSnap(type="Programmed", status="False")])
    base = doc(gateways=[gw], routes=[route(ok, {"stable": 90, "canary": 10})])
    cur = doc(gateways=[gw_bad], routes=[route(broken, {"stable": 90, "cnry": 10})])
    got = items(diff(base, cur), "traffic")
    assert ("worse", "Gateway gw/main", "Programmed lost") in got
    assert ("worse", "HTTPRoute shop/web", "parent gw/main: ResolvedRefs lost") in got
    assert ("changed", "HTTPRoute shop/web", "rule 0 backend cnry added") in got
    assert ("changed", "HTTPRoute shop/web", "rule 0 backend canary removed") in got
    shifted = items(diff(base, doc(gateways=[gw], routes=[route(ok, {"stable": 100,
                                                                      "canary": 0})])),
                    "traffic")
    assert shifted == [("changed", "HTTPRoute shop/web", "rule 0 backend stable weight changed"),
                       ("changed", "HTTPRoute shop/web", "rule 0 backend canary weight changed")]


def test_alerts_new_by_label_set_once_whichever_source() -> None:
    labels = {"alertname": "PodCrashLooping", "severity": "critical", "namespace": "shop"}
    old = AlertSnap(source="prometheus", alertname="Watchdog", state="firing",
                    labels={"alertname": "Watchdog"})
    base = doc(alerts=[old])
    cur = doc(alerts=[old,
                      AlertSnap(source="prometheus", alertname="PodCrashLooping",
                                severity="critical", state="firing", labels=labels,
                                fingerprint="p1"),
                      AlertSnap(source="alertmanager", alertname="PodCrashLooping",
                                severity="critical", state="active", labels=labels,
                                fingerprint="am1"),
                      AlertSnap(source="prometheus", alertname="Slow", state="pending",
                                labels={"alertname": "Slow"})])
    got = [i for i in diff(base, cur).items if i.kind == "alerts"]
    assert len(got) == 1 and got[0].severity == "worse" and got[0].rank == 92
    assert got[0].key.startswith("PodCrashLooping {namespace=shop}") and "am1" in got[0].key
    resolved = [i for i in diff(cur, base).items if i.kind == "alerts"]
    assert [(i.severity, i.what) for i in resolved] == [("better", "no longer firing")]


def test_endpoints_failing_or_much_slower_and_signals() -> None:
    def ep(name: str, ok: bool = True, ms: float = 40.0, status: int | None = 200) -> EndpointSnap:
        return EndpointSnap(name=name, url="https://x/health", ok=ok, status=status,
                            latency_ms=ms)

    base = doc(endpoints=[ep("a"), ep("b", ms=100), ep("c", ms=100), ep("d", ok=False,
                                                                          status=503)],
               signals=[SignalSnap(signal="errors", app="shop", latest=0.001, status="ok")])
    cur = doc(endpoints=[ep("a", ok=False, status=None, ms=0), ep("b", ms=350),
                         ep("c", ms=250), ep("d")],
              signals=[SignalSnap(signal="errors", app="shop", latest=0.2, status="crit")])
    d = diff(base, cur)
    got = items(d, "endpoints")
    assert ("worse", "a", "failing") in got
    assert ("worse", "b", "slower") in got  # 3.5x and +250 ms
    assert not [g for g in got if g[1] == "c"]  # 2.5x but only +150 ms: noise
    assert ("better", "d", "answering again") in got
    assert items(d, "signals") == [("worse", "errors/shop", "errors of shop is crit")]


def test_missing_sections_are_not_compared_and_groups_are_worst_first() -> None:
    base = doc(missing={"alerts": "no alert source configured"},
               apps=[AppSnap(namespace="argocd", name="a", sync="Synced", health="Healthy")],
               workloads=[deploy()])
    cur = doc(alerts=[AlertSnap(source="prometheus", alertname="X", state="firing")],
              apps=[AppSnap(namespace="argocd", name="a", sync="Synced", health="Degraded")],
              workloads=[deploy(images=["web:2"])])
    d = diff(base, cur)
    assert "alerts" in d.not_compared and not items(d, "alerts")
    assert any(n.startswith("alerts: not compared: the baseline did not capture alerts")
               for n in d.notes)
    assert [kind for kind, _ in d.groups()] == ["apps", "workloads"]
    text = render_diff_text(d)
    assert text.index("apps (1 worse") < text.index("workloads (0 worse")
    assert "worse: 1  better: 0  changed: 1" in text
    assert diff(base, base).items == []
    assert "nothing changed" in render_diff_text(diff(base, base))


def test_diff_is_serialisable_for_the_json_format() -> None:
    d = diff(doc(workloads=[deploy()]), doc(workloads=[deploy(ready=1)]))
    again = msgspec.json.decode(msgspec.json.encode(d), type=Diff)
    assert again == d


def test_capacity_lost_is_worse_whatever_desired_says() -> None:
    """Issue 13: alertmanager 2 -> 0 after pausing its app was only "changed: desired
    replicas 2 -> 0"; a Deployment that served and serves nothing is an outage."""
    base = doc(workloads=[deploy(namespace="monitoring", name="alertmanager", desired=2,
                                 current=2, ready=2, updated=2, available=2),
                          deploy(name="idle", desired=0, current=0, ready=0, updated=0,
                                 available=0)])
    cur = doc(workloads=[deploy(namespace="monitoring", name="alertmanager", desired=0,
                                current=0, ready=0, updated=0, available=0),
                         deploy(name="idle", desired=0, current=0, ready=0, updated=0,
                                available=0)])
    d = diff(base, cur)
    assert d.worse[0].key == "monitoring/alertmanager" and d.worse[0].rank == 95
    assert items(d, "workloads") == [
        ("worse", "monitoring/alertmanager", "serves nothing: 0 available (was 2)"),
        ("changed", "monitoring/alertmanager", "desired replicas changed")]
    # Still desired 2 but nothing available: one item, not a mismatch besides.
    stuck = diff(base, doc(workloads=[deploy(namespace="monitoring", name="alertmanager",
                                             desired=2, current=2, ready=0, updated=2,
                                             available=0)]))
    assert [i.what for i in stuck.worse if i.key == "monitoring/alertmanager"] == [
        "serves nothing: 0 available (was 2)"]
