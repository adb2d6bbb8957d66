"""The timeline screen's decisions without a screen (backends/timeline/view.py): what the
filter words keep and which dashboard row Enter goes to."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backends.timeline.view import jump_targets, parse_filter
from tests.timeline_entries import entry, recording, write

T0 = 1_800_000_000.0
SPEC = entry(T0, "spec", "checkout-stable", app="checkout", workload="Deployment/checkout-stable",
             change="image a -> b", actor="argocd-controller (Update)")
JOURNAL = entry(T0, "journal", "payments", namespace="payments", actor="controlroom: alice",
                change="scale Deployment payments/payments: verified")
POD_ALERT = entry(T0, "alert", "PodCrashLooping", object_kind="Alert",
                  change="firing on checkout-stable-7c9d8-x1abc", after="firing")
APPS = ["argocd/checkout", "argocd/payments"]


def test_words_match_any_field_and_prefixes_one_field() -> None:
    assert parse_filter("")(SPEC) and parse_filter("   ")(JOURNAL)
    assert parse_filter("CHECKOUT")(SPEC)  # case-insensitive, any field
    assert parse_filter("actor:alice")(JOURNAL) and not parse_filter("actor:alice")(SPEC)
    assert parse_filter("ns:payments")(JOURNAL) and not parse_filter("ns:payments")(SPEC)
    assert parse_filter("app:checkout object:checkout-stable")(SPEC)
    assert not parse_filter("app:checkout actor:kubectl")(SPEC)  # every word must match
    assert parse_filter("namespace:checkout obj:deployment/checkout")(SPEC)
    assert not parse_filter("image:b")(SPEC)  # an unknown prefix is a word like any other
    assert parse_filter("app:")(SPEC)  # a prefix without a value filters nothing


def test_enter_goes_to_the_object_then_its_owner_then_its_app() -> None:
    assert jump_targets(SPEC, APPS) == [("deployments", "checkout/checkout-stable"),
                                        ("applications", "argocd/checkout")]
    assert jump_targets(JOURNAL, APPS) == [("deployments", "payments/payments")]
    assert jump_targets(POD_ALERT, APPS) == [
        ("pods", "checkout/checkout-stable-7c9d8-x1abc"),
        ("deployments", "checkout/checkout-stable"),
        ("deployments", "checkout/checkout-stable-7c9d8"),
        ("applications", "argocd/checkout")]
    node = entry(T0, "node", "aks-pool-1", namespace="", object_kind="Node",
                 change="Ready=True -> Ready=False")
    assert jump_targets(node) == [("nodes", "aks-pool-1")]


def test_the_feed_of_a_big_recording_says_it_was_checked_only_where_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from backends.timeline import feed

    path = write(tmp_path / "drill.timeline", recording(time.time() - 600))
    whole = feed.TimelineFeed(path).read()
    assert whole.entries is not None and len(whole.entries) == 5 and not whole.error
    assert "check" not in whole.title(5, 5)
    monkeypatch.setattr(feed, "CHECK_WHOLE_BYTES", 0)
    partly = feed.TimelineFeed(path).read()
    assert partly.entries == whole.entries
    assert "too big to check whole" in partly.title(5, 5)
    missing = feed.TimelineFeed(tmp_path / "none.timeline").read()
    assert missing.entries == () and "no recording yet" in missing.title(0, 0)
