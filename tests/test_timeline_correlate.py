"""Which change each alert followed (backends/timeline/correlate.py), on constructed entries.

Constructed lists are the right input here: the correlation is a pure function of the entries,
and each test builds exactly the situation it names (a tie, a change to another app, a change
just outside the window) that a recording would give only by chance.
"""

from __future__ import annotations

from typing import Any

import pytest

from backends.timeline.correlate import (
    DEFAULT_WINDOW_S,
    change_words,
    correlate,
    is_firing,
    is_resolved,
)
from backends.timeline.entry import TimelineEntry

T0 = 1_800_000_000.0


def entry(at: float, kind: Any, name: str, **fields: Any) -> TimelineEntry:
    base: dict[str, Any] = {"seen": T0 + at, "context": "drill", "namespace": "checkout",
                            "object_kind": "Deployment"}
    base.update(fields)
    return TimelineEntry(at=T0 + at, kind=kind, name=name, **base)


def image_change(at: float = 0.0, **fields: Any) -> TimelineEntry:
    values: dict[str, Any] = {"app": "checkout", "workload": "Deployment/checkout-stable",
                              "change": "image checkout:1.4.2 -> checkout:1.5.0",
                              "before": "checkout:1.4.2", "after": "checkout:1.5.0",
                              "actor": "argocd (automated)", "actor_kind": "argocd",
                              "revision": "abc123"}
    values.update(fields)
    return entry(at, "spec", "checkout-stable", **values)


def crashloop(at: float, name: str = "PodCrashLooping", **fields: Any) -> TimelineEntry:
    values: dict[str, Any] = {"object_kind": "Alert", "app": "checkout",
                              "workload": "Deployment/checkout-stable", "change": "firing",
                              "after": "firing", "severity": "critical"}
    values.update(fields)
    return entry(at, "alert", name, **values)


def test_the_alert_names_the_image_change_its_actor_and_revision() -> None:
    found = correlate([image_change(0), crashloop(125)])
    assert len(found) == 1
    assert found[0].change == image_change(0)
    assert found[0].words == ("PodCrashLooping on checkout-stable 2m after image checkout:1.5.0 "
                              "synced by argocd (automated) at rev abc123")


def test_the_latest_change_before_the_start_wins_and_later_ones_do_not_count() -> None:
    older = image_change(0, change="replicas 3 -> 4", revision="")
    newer = image_change(60)
    after_start = image_change(200, change="image checkout:1.5.0 -> checkout:1.4.2")
    (found,) = correlate([after_start, newer, crashloop(120), older])
    assert found.change == newer
    assert found.words.startswith("PodCrashLooping on checkout-stable 60s after image "
                                  "checkout:1.5.0")


def test_no_candidate_says_so_and_invents_nothing() -> None:
    other_app = entry(10, "spec", "payments", namespace="payments", app="payments",
                      workload="Deployment/payments", change="image payments:2 -> payments:3")
    (found,) = correlate([other_app, crashloop(60)])
    assert found.change is None
    assert found.words == ("PodCrashLooping on checkout-stable: no change recorded before it "
                           "(within 2h)")


def test_a_change_outside_the_window_is_not_a_candidate() -> None:
    alert = crashloop(DEFAULT_WINDOW_S + 1)
    assert correlate([image_change(0), alert])[0].change is None
    assert correlate([image_change(0), alert], window=DEFAULT_WINDOW_S + 1)[0].change \
        == image_change(0)
    with pytest.raises(ValueError, match="negative"):
        correlate([], window=-1)


def test_a_tie_prefers_the_workload_itself_then_the_spec_change_and_counts_the_others() -> None:
    sync = entry(30, "sync", "checkout", namespace="argocd", object_kind="Application",
                 app="checkout", change="sync abc123 Succeeded", actor="argocd (automated)",
                 actor_kind="argocd", revision="abc123")
    route = entry(30, "route", "checkout", object_kind="HTTPRoute", app="checkout",
                  change="weights stable 100 -> 90, canary 0 -> 10")
    spec = image_change(30)
    for order in ([sync, route, spec], [spec, route, sync], [route, spec, sync]):
        (found,) = correlate([*order, crashloop(90)])
        assert found.change == spec, order
        assert found.also == 2
        assert found.words.endswith("(and 2 other changes at the same time)")


def test_same_instant_and_closeness_beats_kind() -> None:
    """A route change at the alert's own route beats an app-wide sync at the same instant."""
    sync = entry(30, "sync", "checkout", namespace="argocd", object_kind="Application",
                 app="checkout", change="sync abc123", actor_kind="argocd")
    route = entry(30, "route", "checkout", object_kind="HTTPRoute", app="",
                  change="weights stable 100 -> 0")
    alert = crashloop(40, workload="HTTPRoute/checkout", name="RouteErrors")
    (found,) = correlate([sync, route, alert])
    assert found.change == route
    assert found.also == 1


def test_workload_match_needs_the_same_namespace_but_app_match_does_not() -> None:
    elsewhere = image_change(10, namespace="staging", app="")
    assert correlate([elsewhere, crashloop(60)])[0].change is None
    sync = entry(10, "sync", "checkout", namespace="argocd", object_kind="Application",
                 app="checkout", change="sync Succeeded rev def4567890ab",
                 actor="argocd: alice", actor_kind="argocd",
                 revision="def4567890abcdef0123456789abcdef01234567")
    (found,) = correlate([sync, crashloop(60)])
    assert found.change == sync
    assert found.words == ("PodCrashLooping on checkout-stable 50s after sync Succeeded rev "
                           "def4567890ab on Application argocd/checkout synced by argocd: alice")


def test_reactions_and_status_reports_never_stand_in_for_the_change() -> None:
    """What follows a bad image (the controller moving ReplicaSets, the gateway's verdict on
    the route, Argo CD's health turning Degraded) is later than the image change but is not
    what the alert followed."""
    reactions = [
        entry(20, "spec", "checkout-stable-7c9", object_kind="ReplicaSet", app="checkout",
              workload="Deployment/checkout-stable", change="replicas 0 -> 1",
              actor="kube-controller-manager (Update)", actor_kind="field-manager"),
        entry(30, "route", "checkout", object_kind="HTTPRoute", app="checkout",
              workload="Deployment/checkout-stable",
              change="conditions Accepted=True -> Accepted=False(BackendNotFound)",
              actor_kind="system"),
        entry(40, "app", "checkout", namespace="argocd", object_kind="Application",
              app="checkout", change="health Healthy -> Degraded", actor="argocd",
              actor_kind="system"),
        entry(45, "rollout", "checkout-stable", app="checkout",
              workload="Deployment/checkout-stable", change="1/3 ready, 1 updated"),
    ]
    (found,) = correlate([image_change(0), *reactions, crashloop(60)])
    assert found.change == image_change(0)
    revision = entry(50, "app", "checkout", namespace="argocd", object_kind="Application",
                     app="checkout", change="sync Synced -> OutOfSync; revision abc -> def",
                     actor_kind="system")
    assert correlate([image_change(0), revision, crashloop(60)])[0].change == revision


def test_other_contexts_never_match() -> None:
    assert correlate([image_change(0, context="prod"), crashloop(60)])[0].change is None


def test_a_controller_written_change_is_said_with_the_sync_that_carried_it() -> None:
    sync = entry(0, "sync", "checkout", namespace="argocd", object_kind="Application",
                 app="checkout", change="sync 9f8e7d Running", actor="argocd (automated)",
                 actor_kind="argocd", revision="9f8e7d")
    spec = image_change(5, actor="argocd-controller (Apply)", actor_kind="field-manager",
                        revision="")
    (found,) = correlate([sync, spec, crashloop(185)])
    assert found.change == spec
    assert found.carried_by == sync
    assert found.words == ("PodCrashLooping on checkout-stable 3m after image checkout:1.5.0 "
                           "synced by argocd (automated) at rev 9f8e7d")
    by_hand = image_change(5, actor="kubectl (Update)", actor_kind="field-manager", revision="")
    (found,) = correlate([sync, by_hand, crashloop(185)])
    assert found.carried_by is None
    assert "by kubectl (Update)" in found.words and "9f8e7d" not in found.words


def test_resolved_alerts_are_not_correlated_and_journal_entries_are_changes() -> None:
    resolved = crashloop(300, change="resolved", after="resolved")
    assert is_resolved(resolved) and not is_firing(resolved)
    scale = entry(100, "journal", "scale", app="checkout",
                  workload="Deployment/checkout-stable", object_kind="Deployment",
                  change="scale replicas 3 -> 0", actor="controlroom: alice",
                  actor_kind="operator")
    found = correlate([image_change(0), scale, crashloop(160), resolved])
    assert [c.alert for c in found] == [crashloop(160)]
    assert found[0].change == scale
    assert "by controlroom: alice" in found[0].words


def test_change_words_keep_a_multi_field_change_whole() -> None:
    many = image_change(0, change="image a -> b, replicas 3 -> 4", actor="", revision="")
    assert change_words(many) == ("image a -> b, replicas 3 -> 4 on Deployment "
                                  "checkout/checkout-stable")


def test_a_sync_that_ends_after_the_image_change_names_the_image_change() -> None:
    """Argo CD's sync starts, its controller changes the Deployment, the sync ends: the
    alert followed the image change, carried by that sync (not "sync Succeeded")."""
    running = entry(0, "sync", "checkout", namespace="argocd", object_kind="Application",
                    app="checkout", change="sync Running rev 9f8e7d", actor="argocd (automated)",
                    actor_kind="argocd", revision="9f8e7d")
    spec = image_change(3, actor="argocd-controller (Update)", actor_kind="field-manager",
                        revision="")
    done = entry(10, "sync", "checkout", namespace="argocd", object_kind="Application",
                 app="checkout", change="sync Succeeded rev 9f8e7d", actor="argocd (automated)",
                 actor_kind="argocd", revision="9f8e7d")
    (found,) = correlate([running, spec, done, crashloop(130)])
    assert found.change == spec and found.carried_by == done
    assert found.words == ("PodCrashLooping on checkout-stable 2m after image checkout:1.5.0 "
                           "synced by argocd (automated) at rev 9f8e7d")


def test_a_skewed_sync_clock_still_links_the_sync_by_when_we_saw_it() -> None:
    """The sync's own time runs ahead of the cluster's (another clock): it is after the alert
    started, so not a candidate, but we saw it just before the image change."""
    T = 1_800_000_000.0
    sync = TimelineEntry(at=T + 900, seen=T, context="drill", kind="sync", namespace="argocd",
                         name="checkout", object_kind="Application", app="checkout",
                         change="sync Running rev 9f8e7d", actor="argocd (automated)",
                         actor_kind="argocd", revision="9f8e7d")
    spec = image_change(2, actor="argocd-controller (Update)", actor_kind="field-manager",
                        revision="")
    (found,) = correlate([sync, spec, crashloop(125)])
    assert found.change == spec and found.carried_by == sync
    assert found.words.endswith("synced by argocd (automated) at rev 9f8e7d")


def test_an_alert_on_a_pod_is_tied_to_its_deployment_by_exact_owner_names() -> None:
    """kube-state-metrics' restart metric names the pod only: the alert is about the
    Deployment whose pods are named NAME-HASH-SUFFIX, never one whose name is a prefix."""
    pod_alert = crashloop(200, app="", workload="", change="firing on checkout-stable-7c9d8-x1abc")
    other = entry(150, "spec", "checkout", app="", workload="Deployment/checkout",
                  change="replicas 2 -> 3", actor="kubectl (Update)", actor_kind="field-manager")
    (found,) = correlate([image_change(80), other, pod_alert])
    assert found.change == image_change(80)
    assert found.words.startswith("PodCrashLooping on checkout-stable 2m after image "
                                  "checkout:1.5.0")
    (alone,) = correlate([other, pod_alert])
    assert alone.change is None
    assert alone.words.startswith("PodCrashLooping on checkout-stable-7c9d8-x1abc: no change")


def test_an_app_label_naming_a_workload_ties_the_alert_to_it() -> None:
    """``app: checkout-stable`` on an error-ratio alert is the workload's name, not the Argo
    CD app's (``checkout``): matched exactly, in the alert's namespace."""
    ratio = crashloop(40, name="AppHighErrorRatio", app="checkout-stable", workload="",
                      change="firing")
    (found,) = correlate([image_change(0), ratio])
    assert found.change == image_change(0)
    assert found.words.startswith("AppHighErrorRatio on checkout-stable 40s after image")
    elsewhere = crashloop(40, name="AppHighErrorRatio", app="checkout-stable", workload="",
                          change="firing", namespace="staging")
    assert correlate([image_change(0), elsewhere])[0].change is None
