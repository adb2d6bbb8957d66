"""Writing and loading baselines: atomic, private, never overwriting; hostile files refused
with a clear error or rendered literally, and never modified by loading."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import msgspec
import pytest

from backends.baseline.diff import diff
from backends.baseline.io import (
    SNAPSHOT_DIR_ENV,
    BaselineError,
    default_snapshot_dir,
    encode_baseline,
    latest_snapshot,
    list_snapshots,
    load_baseline,
    write_atomic,
    write_baseline,
)
from backends.baseline.model import SCHEMA_VERSION, AppSnap, Baseline, NodeSnap, PodSnap
from backends.baseline.report import render_diff_text, render_validation_text
from backends.baseline.runbook import default_checklist
from backends.baseline.validate import validate
from backends.config import ValidateSettings


def sample(**changes: Any) -> Baseline:
    base = Baseline(schema_version=SCHEMA_VERSION, context="prod-eu", cluster="aks-prod",
                    taken_at=1_764_000_000.0, operator="alice", change_id="CHG-1",
                    nodes=[NodeSnap(name="n1", ready="True", cpu_pct=12.5)],
                    apps=[AppSnap(namespace="argocd", name="checkout", sync="Synced",
                                  health="Healthy")],
                    checklist=default_checklist(change_id="CHG-1"))
    return msgspec.structs.replace(base, **changes)


def doc(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.to_builtins(sample())
    body.update(changes)
    return body


def fingerprint(path: Path) -> tuple[bytes, int, int]:
    info = path.stat()
    return path.read_bytes(), info.st_mtime_ns, stat.S_IMODE(info.st_mode)


def load_error(path: Path) -> str:
    before = fingerprint(path)
    with pytest.raises(BaselineError) as caught:
        load_baseline(path)
    assert fingerprint(path) == before, "loading must never touch the file"
    return str(caught.value)


# --------------------------------------------------------------------------- writing


def test_write_is_private_and_round_trips(tmp_path: Path) -> None:
    path = write_baseline(sample(), tmp_path / "b.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_baseline(path) == sample()
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]  # no temp file left behind
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "b.json"
    target.write_text("someone else's notes")
    before = fingerprint(target)
    with pytest.raises(BaselineError, match="already exists"):
        write_baseline(sample(), target)
    assert fingerprint(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]
    write_atomic(target, b"report", overwrite=True)  # reports may be replaced, atomically
    assert target.read_bytes() == b"report"


def test_write_to_a_missing_directory_names_it(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="cannot write"):
        write_baseline(sample(), tmp_path / "nope" / "b.json")


def test_default_dir_names_and_latest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SNAPSHOT_DIR_ENV, str(tmp_path / "snaps"))
    assert default_snapshot_dir() == tmp_path / "snaps"
    first = write_baseline(sample())
    second = write_baseline(sample())  # same second: a fresh name, not an overwrite
    later = write_baseline(sample(taken_at=1_764_000_060.0))
    other = write_baseline(sample(context="prod-eu-2", taken_at=1_764_000_120.0))
    assert first.name == "baseline-prod-eu-20251124T160000Z.json"
    assert second.name == "baseline-prod-eu-20251124T160000Z-2.json"
    assert stat.S_IMODE((tmp_path / "snaps").stat().st_mode) == 0o700
    assert latest_snapshot("prod-eu") == later  # "prod-eu-2" is another context
    assert list_snapshots(context="prod-eu-2") == [other]
    assert len(list_snapshots()) == 4


# --------------------------------------------------------------------------- loading


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "empty file"),
    (b"   \n", "empty file"),
    (b"\x00\xff garbage", "not JSON"),
    (b"[1, 2, 3]", "top level is a array"),
    (b'{"nodes": []}', "no schema_version"),
    (b'{"schema_version": "1"}', "schema_version must be a whole number"),
    (b'{"schema_version": 99}', "written by a newer controlroom (schema version 99"),
    (b'{"schema_version": 0}', "unknown schema version 0"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
])
def test_unusable_files_get_a_clear_error(tmp_path: Path, content: bytes,
                                          expected: str) -> None:
    path = tmp_path / "b.json"
    path.write_bytes(content)
    assert expected in load_error(path)


def test_truncated_file(tmp_path: Path) -> None:
    data = encode_baseline(sample())
    path = tmp_path / "b.json"
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in load_error(path)


def test_wrong_types_name_the_json_path(tmp_path: Path) -> None:
    body = doc()
    body["nodes"][0]["cpu_pct"] = "lots"
    path = tmp_path / "b.json"
    path.write_text(json.dumps(body))
    message = load_error(path)
    assert "wrong type" in message and "$.nodes[0].cpu_pct" in message
    body = doc()
    body["checklist"]["items"][0]["phase"] = "someday"
    path.write_text(json.dumps(body))
    assert "$.checklist.items[0].phase" in load_error(path)


def test_too_large_and_not_regular_files(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_bytes(encode_baseline(sample()))
    before = fingerprint(path)
    with pytest.raises(BaselineError, match="too large"):
        load_baseline(path, max_bytes=100)
    assert fingerprint(path) == before
    with pytest.raises(BaselineError, match="not a regular file"):
        load_baseline(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(BaselineError, match="not a regular file"):  # and does not hang
        load_baseline(fifo)
    with pytest.raises(BaselineError, match="no such file"):
        load_baseline(tmp_path / "missing.json")


HOSTILE = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J[bold red]pwned[/] [@click=app.quit]x[/]\u202e"


def test_hostile_strings_are_cleaned_on_load_and_render_literally(tmp_path: Path) -> None:
    huge = "A" * (10 * 1024 * 1024)
    body = doc(context=HOSTILE, operator=huge)
    body["apps"][0]["health"] = "Degraded"
    body["apps"][0]["health_message"] = HOSTILE
    body["problem_pods"] = [msgspec.to_builtins(PodSnap(namespace="ns", name=HOSTILE,
                                                        status="CrashLoopBackOff"))]
    body["missing"] = {HOSTILE: huge}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(body))
    before = fingerprint(path)
    loaded = load_baseline(path)
    assert fingerprint(path) == before
    assert "\x1b" not in loaded.context and "\x07" not in loaded.context
    assert "\u202e" not in loaded.context
    assert "[bold red]pwned[/]" in loaded.context  # markup stays literal text
    assert len(loaded.operator) <= 4096 and loaded.operator.endswith("\u2026")
    assert all("\x1b" not in key for key in loaded.missing)
    text = render_diff_text(diff(loaded, sample()))
    text += render_validation_text(validate(loaded, ValidateSettings(), sample()))
    assert "\x1b" not in text and "\x07" not in text
    assert "[bold red]pwned[/]" in text
