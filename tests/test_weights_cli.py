"""``controlroom weights`` on the drill's ``route-misconfig`` scenario (issue 14, point 9),
judged from outside: a commit sends 10% of checkout to ``checkout-cnry``, a Service that does
not exist; weight 0 would leave ``ResolvedRefs`` False, removing the reference resolves the
route; ``--restore`` puts it back exactly. The CLI as a subprocess, the route read with the
real kubectl."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, HeadlessDrill, headless_drill
from tests.test_headless_cli import COMMAND, REASON, ok, until

pytestmark = pytest.mark.kubectl


@pytest.fixture(scope="module")
def live() -> Iterator[HeadlessDrill]:
    with headless_drill("--scenario", "route-misconfig", "--speed", "10") as drill:
        yield drill


def run(live: HeadlessDrill, tmp: Path, *args: str,
        config: str = "") -> subprocess.CompletedProcess[str]:
    path = tmp / "config.toml"
    path.write_text(config)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLROOM_")}
    return subprocess.run([*COMMAND, *args, "--kubeconfig", str(live.kubeconfig),
                           "--config", str(path), "--state-dir", str(tmp / "state")],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, env=environ,
                          stdin=subprocess.DEVNULL)


def route(live: HeadlessDrill) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(live.kubectl("get", "httproute", "checkout", "-n",
                                                  "checkout", "-o", "json").stdout)
    return obj


def resolved(live: HeadlessDrill) -> tuple[str, str]:
    [parent] = route(live)["status"]["parents"]
    [c] = [c for c in parent["conditions"] if c["type"] == "ResolvedRefs"]
    return c["status"], c["reason"]


def test_weights_remove_a_dangling_backend_and_restore_it(live: HeadlessDrill,
                                                          tmp_path: Path) -> None:
    until(lambda: resolved(live) == ("False", "BackendNotFound"), "the mistyped backend")
    before = route(live)["spec"]["rules"][0]["backendRefs"]
    assert [r["name"] for r in before] == ["checkout-stable", "checkout-cnry"]
    write = ("--reason", REASON, "--yes")

    refused = run(live, tmp_path, "weights", "checkout/checkout", "--remove",
                  "checkout-stable", *write)
    assert refused.returncode == 1 and "last serving backend" in refused.stderr, refused
    protected = run(live, tmp_path, "weights", "checkout/checkout", "--remove",
                    "checkout-cnry", *write, config='production_patterns = ["DRILL"]\n')
    assert protected.returncode == 1 and "protected" in protected.stderr.lower(), protected
    assert route(live)["spec"]["rules"][0]["backendRefs"] == before

    ok(run(live, tmp_path, "pause-sync", "checkout", *write))  # or selfHeal puts it back
    try:
        removed = ok(run(live, tmp_path, "weights", "checkout/checkout", "--remove",
                         "checkout-cnry", *write))
        assert "Remove backend checkout-cnry from HTTPRoute checkout/checkout" in removed.stdout
        assert "Accepted and ResolvedRefs for generation" in removed.stdout
        assert route(live)["spec"]["rules"][0]["backendRefs"] == before[:1]
        assert resolved(live)[0] == "True"

        restored = ok(run(live, tmp_path, "weights", "checkout/checkout", "--restore", *write))
        assert "ResolvedRefs False again" in restored.stdout
        assert route(live)["spec"]["rules"][0]["backendRefs"] == before
        assert resolved(live) == ("False", "BackendNotFound")
        journal = ok(run(live, tmp_path, "journal")).stdout
        assert "remove-backend" in journal and "restore-traffic" in journal
    finally:
        # Git's head is the misconfigured commit: restore-sync holds it back unless told
        held = run(live, tmp_path, "restore-sync", "checkout", *write)
        assert held.returncode == 1 and "HELD BACK" in held.stdout, held.stdout
        ok(run(live, tmp_path, "restore-sync", "checkout", "--restore-bad-sync", *write))
    usage = run(live, tmp_path, "weights", "checkout/checkout", "checkout-stable=-5", *write)
    assert usage.returncode == 2 and "0 to 1000000" in usage.stderr
