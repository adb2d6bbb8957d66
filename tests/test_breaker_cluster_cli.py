"""``controlroom breaker status|release`` read the cluster as well as the journal (issue 14,
point 11), judged from outside: the CLI as a subprocess against the live drill, the objects
read with the real kubectl. Each command names its own ``--state-dir``: operator A's, an
empty one (B), or one whose journal was lost."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, HeadlessDrill, headless_drill
from tests.test_headless_cli import BREAKER_SCOPE, COMMAND, REASON, ok

pytestmark = pytest.mark.kubectl

OBJECTS = (("application", "argocd", "checkout"), ("httproute", "checkout", "checkout"),
           ("deployment", "checkout", "checkout-canary"))
"""What BREAKER_SCOPE changes (checkout's app is frozen: it tracks both)."""


@pytest.fixture(scope="module")
def live() -> Iterator[HeadlessDrill]:
    with headless_drill("--scenario", "calm", "--speed", "10") as drill:
        yield drill


def run(live: HeadlessDrill, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``controlroom ARGS`` with ``state`` as its state dir and an empty config."""
    config = state.parent / f"{state.name}.toml"
    config.write_text("")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLROOM_")}
    return subprocess.run([*COMMAND, *args, "--kubeconfig", str(live.kubeconfig),
                           "--config", str(config), "--state-dir", str(state)],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, env=environ,
                          stdin=subprocess.DEVNULL)


def snapshot(live: HeadlessDrill) -> dict[str, Any]:
    """Spec and annotations of every object the breaker changes, as kubectl reads them."""
    out = {}
    for kind, ns, name in OBJECTS:
        obj = json.loads(live.kubectl("get", kind, name, "-n", ns, "-o", "json").stdout)
        out[f"{kind} {ns}/{name}"] = {"spec": obj["spec"],
                                      "annotations": obj["metadata"].get("annotations") or {}}
    return out


def test_an_empty_state_dir_sees_the_breaker_and_releases_it_exactly(
        live: HeadlessDrill, tmp_path: Path) -> None:
    a, b = tmp_path / "state-a", tmp_path / "state-b"
    before = snapshot(live)
    ok(run(live, a, "breaker", "engage", *BREAKER_SCOPE, "--reason", REASON, "--yes"))
    engaged = snapshot(live)
    assert engaged != before
    assert all("controlroom.io/breaker" in o["annotations"] for o in engaged.values())

    status = ok(run(live, b, "breaker", "status"))
    assert status.stdout.startswith("BREAKER ENGAGED 3/3 (breaker-"), status.stdout
    assert "marks on 3 object(s) of 3, not in this journal" in status.stdout
    assert "any operator can release it" in status.stdout
    assert not b.exists()  # status creates no journal

    released = ok(run(live, b, "breaker", "release", "--reason", REASON, "--yes"))
    assert "release breaker-" in released.stdout and ": done" in released.stdout
    assert snapshot(live) == before  # every object exactly as before the breaker
    assert ok(run(live, b, "breaker", "status")).stdout.startswith("breaker: off")

    # A's journal lags; the objects say released; A's release marks its journal.
    lag = ok(run(live, a, "breaker", "status")).stdout
    assert lag.startswith("breaker released (journal not yet updated): 3 of 3 restored"), lag
    ok(run(live, a, "breaker", "release", "--reason", REASON, "--yes"))
    assert ok(run(live, a, "breaker", "status")).stdout.startswith("breaker: off")
    assert snapshot(live) == before


def test_a_lost_journal_is_exit_2_naming_it_and_the_breaker_still_shows(
        live: HeadlessDrill, tmp_path: Path) -> None:
    """The journal that engaged the breaker emptied to 0 bytes: status prints what the
    cluster carries and exits 2 naming the file; release refuses (exit 2) and leaves the
    file as it is: never a new journal in its place. Deleted: the cluster's marks still
    show the breaker, and release puts every object back."""
    a = tmp_path / "state-a"
    before = snapshot(live)
    ok(run(live, a, "breaker", "engage", *BREAKER_SCOPE, "--reason", REASON, "--yes"))
    path = a / "journal.sqlite3"
    for extra in (a / "journal.sqlite3-wal", a / "journal.sqlite3-shm"):
        extra.unlink(missing_ok=True)
    path.write_bytes(b"")

    status = run(live, a, "breaker", "status")
    assert status.returncode == 2, status
    assert status.stdout.startswith("BREAKER ENGAGED 3/3 (breaker-"), status.stdout
    assert f"journal {path} is empty (0 bytes)" in status.stderr
    assert "Traceback" not in status.stderr
    refused = run(live, a, "breaker", "release", "--reason", REASON, "--yes")
    assert refused.returncode == 2 and f"journal {path} is empty (0 bytes)" in refused.stderr
    assert path.stat().st_size == 0 and sorted(p.name for p in a.iterdir()) == [
        "journal.sqlite3"]
    assert snapshot(live) != before  # nothing was released

    path.unlink()  # deleted: the cluster still carries the breaker
    status = ok(run(live, a, "breaker", "status"))
    assert status.stdout.startswith("BREAKER ENGAGED 3/3 (breaker-"), status.stdout
    assert "from its mark, not in this journal" in status.stdout
    ok(run(live, a, "breaker", "release", "--reason", REASON, "--yes"))
    assert snapshot(live) == before

    for extra in (a / "journal.sqlite3-wal", a / "journal.sqlite3-shm"):
        extra.unlink(missing_ok=True)
    path.write_bytes(b"")  # nothing engaged now, but the record is unreadable: not "off"
    unsure = run(live, a, "breaker", "status")
    assert unsure.returncode == 2, unsure
    assert unsure.stdout.startswith("breaker: unknown: the journal cannot be read"), unsure
