"""Kubernetes quantities parse like apimachinery's resource.Quantity."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import yaml

from backends.quantity import cpu_millicores, memory_bytes, parse_quantity
from tests.kubefixtures import FIXTURES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Decimal(0)),
        ("1", Decimal(1)),
        ("250m", Decimal("0.25")),
        ("123456789n", Decimal("0.123456789")),
        ("5u", Decimal("0.000005")),
        ("2k", Decimal(2000)),
        ("3M", Decimal(3_000_000)),
        ("1G", Decimal(10**9)),
        ("1T", Decimal(10**12)),
        ("1P", Decimal(10**15)),
        ("1E", Decimal(10**18)),
        ("1Ki", Decimal(1024)),
        ("512Mi", Decimal(512 * 1024**2)),
        ("1.5Gi", Decimal(3 * 1024**3 // 2)),
        ("1Ti", Decimal(1024**4)),
        ("1Pi", Decimal(1024**5)),
        ("1Ei", Decimal(1024**6)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("1.5e-3", Decimal("0.0015")),
        ("2E+2", Decimal(200)),
        ("0.5", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("+1", Decimal(1)),
        ("-1.5Gi", Decimal(-3 * 1024**3 // 2)),
        (" 100m ", Decimal("0.1")),
    ],
)
def test_parse_quantity(text: str, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "abc", "1K", "1Kb", "Mi", "1.2.3", "1e", "--1", "1 Gi", "1e999", "0x10", "1ki"],
)
def test_garbage_raises_a_readable_error(text: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(text)


def test_non_string_raises_value_error() -> None:
    with pytest.raises(ValueError, match="string"):
        parse_quantity(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "millicores"),
    [
        ("4", 4000.0),
        ("250m", 250.0),
        ("162953844n", 162.953844),
        ("1500u", 1.5),
        ("0.5", 500.0),
        ("1e3", 1_000_000.0),
        ("1k", 1_000_000.0),
    ],
)
def test_cpu_millicores(text: str, millicores: float) -> None:
    assert cpu_millicores(text) == pytest.approx(millicores)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("582980Ki", 582980 * 1024),
        ("512Mi", 512 * 1024**2),
        ("1.5Gi", 1610612736),
        ("129M", 129_000_000),
        ("1000", 1000),
        ("0.5", 1),  # rounded up like Quantity.Value()
        ("100m", 1),
        ("1e3", 1000),
    ],
)
def test_memory_bytes(text: str, size: int) -> None:
    assert memory_bytes(text) == size


def test_fast_and_slow_paths_agree() -> None:
    for text in ["17n", "17u", "17m", "17", "17k"]:
        assert cpu_millicores(text) == pytest.approx(float(parse_quantity(text) * 1000))
    for text in ["17Ki", "17Mi", "17Gi", "17", "17k", "17M"]:
        assert memory_bytes(text) == int(parse_quantity(text))


def test_node_metrics_fixture_values() -> None:
    data = json.loads((FIXTURES / "metrics" / "kdash-node-metrics-list.json").read_text())
    usages = [item["usage"] for item in data["items"]]
    assert cpu_millicores(usages[0]["cpu"]) == pytest.approx(162.953844)
    assert memory_bytes(usages[0]["memory"]) == 582980 * 1024
    assert cpu_millicores(usages[1]["cpu"]) == pytest.approx(102.953844)
    assert memory_bytes(usages[1]["memory"]) == 282980 * 1024


def test_node_allocatable_fixture_values() -> None:
    node = json.loads((FIXTURES / "nodes" / "k9s-node-minikube.json").read_text())
    allocatable = node["status"]["allocatable"]
    assert cpu_millicores(allocatable["cpu"]) == 4000.0
    assert memory_bytes(allocatable["memory"]) == 8063156 * 1024
    assert memory_bytes(allocatable["ephemeral-storage"]) == 15625027559
    assert memory_bytes(node["status"]["capacity"]["ephemeral-storage"]) == 16954240 * 1024

    node_list = yaml.safe_load((FIXTURES / "nodes" / "kdash-node-list.yaml").read_text())
    gke = node_list["items"][0]["status"]["allocatable"]
    assert cpu_millicores(gke["cpu"]) == 8000.0
    assert memory_bytes(gke["memory"]) == 32734444 * 1024


def test_percent_of_allocatable_like_kubectl_top() -> None:
    usage_m = cpu_millicores("162953844n")
    assert round(100 * usage_m / cpu_millicores("4")) == 4
