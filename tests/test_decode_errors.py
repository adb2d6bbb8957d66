"""Decoder error handling, watch events and timestamps.

The choice under test: one bad item costs that item (reported with its JSON path), never the
whole list; an undecodable document or event is a DecodeError naming the kind.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from backends.kube.decode import (
    KINDS,
    DecodeError,
    DecodeFailure,
    decode_event,
    decode_list,
    parse_time,
)
from backends.model import PodRow
from tests.kubefixtures import as_list, epoch, fixture_doc, to_bytes

# ---------------------------------------------------------------- errors


def _pods_doc() -> dict[str, Any]:
    return copy.deepcopy(fixture_doc("pods/kdash-pod-list.yaml"))


def test_one_bad_item_does_not_lose_the_list() -> None:
    doc = _pods_doc()
    doc["items"][3]["status"]["phase"] = 7
    result = decode_list("pods", to_bytes(doc))
    assert len(result.rows) == 12
    (error,) = result.errors
    assert "pods" in error and "$.items[3].status.phase" in error
    assert result.failed_keys == ("default/emailservice-5f8fc7dbb4-5lqdb",)


def test_conversion_error_is_reported_per_item() -> None:
    good = {"metadata": {"name": "a"}, "usage": {"cpu": "1", "memory": "1Ki"}}
    bad = {"metadata": {"name": "b"}, "usage": {"cpu": "lots", "memory": "1Ki"}}
    result = decode_list("nodemetrics", as_list(good, bad))
    assert [r.key for r in result.rows] == ["a"]
    assert result.failed_keys == ("b",)
    assert "lots" in result.errors[0]


def test_all_items_bad_is_an_error_not_an_empty_list() -> None:
    doc = _pods_doc()
    for item in doc["items"]:
        item["metadata"]["name"] = ["not", "a", "string"]
    with pytest.raises(
        DecodeError, match=r"pods: no item could be decoded.*\$\.items\[0\]\.metadata\.name"
    ):
        decode_list("pods", to_bytes(doc))


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        (b"{not json", "pods: malformed JSON"),
        (b'{"items": {"a": 1}}', "pods: not a list response"),
        (b"", "pods: malformed JSON"),
    ],
)
def test_malformed_input_raises_decode_error(raw: bytes, pattern: str) -> None:
    with pytest.raises(DecodeError, match=pattern):
        decode_list("pods", raw)


def test_unknown_kind() -> None:
    with pytest.raises(DecodeError, match="unknown kind 'secrets'"):
        decode_list("secrets", b"{}")
    assert "pods" in KINDS


def test_paging_metadata() -> None:
    raw = to_bytes({"metadata": {"resourceVersion": "42", "continue": "tok"}, "items": []})
    result = decode_list("pods", raw)
    assert (result.rows, result.resource_version, result.continue_token) == ([], "42", "tok")


# ---------------------------------------------------------------- watch events


def test_watch_events() -> None:
    obj = fixture_doc("pods/argocd-pod-crashloop.yaml")
    for etype in ("ADDED", "MODIFIED", "DELETED"):
        event = decode_event("pods", to_bytes({"type": etype, "object": obj}) + b"\n")
        assert event.type == etype
        assert event.resource_version == "151454"
        assert isinstance(event.row, PodRow) and event.row.status == "CrashLoopBackOff"
    bookmark = {
        "type": "BOOKMARK",
        "object": {"kind": "Pod", "metadata": {"resourceVersion": "99"}},
    }
    event = decode_event("pods", to_bytes(bookmark))
    assert (event.type, event.row, event.resource_version) == ("BOOKMARK", None, "99")
    expired = {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "status": "Failure",
            "code": 410,
            "reason": "Expired",
            "message": "too old resource version: 1 (5)",
        },
    }
    event = decode_event("pods", to_bytes(expired))
    assert event.type == "ERROR" and event.row is None and event.status is not None
    assert (event.status.code, event.status.reason) == (410, "Expired")


def test_bad_watch_events() -> None:
    with pytest.raises(DecodeError, match="unknown type 'SYNC'"):
        decode_event("pods", b'{"type": "SYNC", "object": {}}')
    with pytest.raises(DecodeError, match="pods watch event"):
        decode_event("pods", b'{"type": "ADDED", "object": ')
    with pytest.raises(DecodeError, match=r"pods MODIFIED event: .*\$\.object\.status\.phase"):
        decode_event("pods", b'{"type": "MODIFIED", "object": {"status": {"phase": 1}}}')


# ---------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T15:00:00Z", 1795705200.0),
        ("2026-11-26T15:00:00.5Z", 1795705200.5),
        ("2026-11-26T17:00:00+02:00", 1795705200.0),
        ("2018-07-04T20:27:12.60602144+02:00", epoch("2018-07-04T20:27:12.606021+02:00")),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text) == pytest.approx(expected)


def test_parse_time_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="RFC3339"):
        parse_time("yesterday")


def test_error_messages_use_the_original_item_index() -> None:
    good = {"metadata": {"name": "a"}, "usage": {"cpu": "1", "memory": "1Ki"}}
    wrong_type = {"metadata": {"name": "b"}, "usage": {"cpu": 5}}
    bad_value = {"metadata": {"name": "c"}, "usage": {"cpu": "lots", "memory": "1Ki"}}
    result = decode_list("nodemetrics", as_list(good, wrong_type, bad_value))
    assert [r.key for r in result.rows] == ["a"]
    assert result.failed_keys == ("b", "c")
    assert "$.items[1].usage.cpu" in result.errors[0]
    assert result.errors[1].startswith("nodemetrics: item 2 (c):")


# ---------------------------------------------------------------- issue 13: nothing vanishes


def _app(name: str) -> str:
    return json.dumps({"metadata": {"name": name, "namespace": "argocd"},
                       "spec": {"project": "default"},
                       "status": {"sync": {"status": "Synced"}}})


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_one_deeply_nested_application_never_hides_the_others(depth: int) -> None:
    """An Application nested ~1,000 levels deep (Helm values are free-form) used to raise
    RecursionError out of the whole list: 0 apps and a traceback. Now it is one named
    failure and the others decode, the list's version and continue token intact."""
    deep = ('{"metadata":{"name":"deep","namespace":"argocd"},"spec":{"source":{"helm":'
            '{"valuesObject":' + '{"a":' * depth + "1" + "}" * depth + "}}}}")
    raw = ('{"metadata":{"resourceVersion":"7","continue":"next"},"items":['
           + ",".join([_app("good1"), deep, _app("good2")]) + "]}").encode()
    result = decode_list("applications", raw)
    assert sorted(r.key for r in result.rows) == ["argocd/good1", "argocd/good2"]
    assert (result.resource_version, result.continue_token) == ("7", "next")
    assert result.failed_keys == ("argocd/deep",)
    assert result.failures == (DecodeFailure(kind="applications", namespace="argocd",
                                             name="deep", index=1,
                                             why="nested more than 100 levels deep"),)
    with pytest.raises(DecodeError, match="nested too deeply"):
        decode_event("applications", b'{"type":"ADDED","object":' + deep.encode() + b"}")


def test_a_node_whose_conditions_is_not_a_list_is_named_not_dropped() -> None:
    good = {"metadata": {"name": "good"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    bad = {"metadata": {"name": "bad\x1b]52;c;ZXZpbA==\x07"}, "status": {"conditions": "oops"}}
    result = decode_list("nodes", as_list(good, bad))
    assert [r.key for r in result.rows] == ["good"]
    (failure,) = result.failures
    assert (failure.kind, failure.namespace, failure.name) == ("nodes", "", "bad")
    assert "got `str` - at `$.status.conditions`" in failure.why
    assert failure.line().startswith("nodes bad: Expected `array | null`")
    assert "\x1b" not in failure.line()


def test_a_conversion_failure_is_named_too() -> None:
    good = {"metadata": {"name": "a"}, "usage": {"cpu": "1", "memory": "1Ki"}}
    bad = {"metadata": {"name": "b"}, "usage": {"cpu": "lots", "memory": "1Ki"}}
    (failure,) = decode_list("nodemetrics", as_list(good, bad)).failures
    assert (failure.kind, failure.name, failure.index) == ("nodemetrics", "b", 1)
    assert "lots" in failure.why
