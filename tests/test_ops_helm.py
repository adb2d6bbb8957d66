"""Helm through the real subprocess path, with a stand-in ``helm`` first on PATH that records
every argument vector and answers like Helm 3 does: exact argv lists, the rollback gated
(read-only runs no ``helm rollback`` at all), verified by reading the history back."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from backends.model import AppRow
from backends.ops.gate import Confirmation, GatePolicy, WriteGate
from backends.ops.helm import (
    HelmError,
    HelmRunner,
    HelmSender,
    explain_argo_rendered,
    helm_available,
    history,
    plan_helm_rollback,
    releases_for,
    rollback_path,
)
from backends.ops.journal import Journal
from backends.ops.plan import PlanError, execute, preview

REL, NS = "alb-controller", "azure-alb-system"

FAKE_HELM = textwrap.dedent('''
    import json, os, sys
    args = sys.argv[1:]
    with open(os.environ["FAKE_HELM_LOG"], "a") as log:
        log.write(json.dumps(args) + "\\n")
    state_path = os.environ["FAKE_HELM_STATE"]
    with open(state_path) as fh:
        state = json.load(fh)
    if args[0] == "list":
        print(json.dumps([{"name": name, "namespace": "azure-alb-system",
                           "revision": str(revs[-1]["revision"]), "status": revs[-1]["status"],
                           "chart": revs[-1]["chart"], "app_version": revs[-1]["app_version"],
                           "updated": revs[-1]["updated"]} for name, revs in state.items()]))
    elif args[0] == "history":
        if args[1] not in state:
            print("Error: release: not found", file=sys.stderr)
            sys.exit(1)
        print(json.dumps(state[args[1]]))
    elif args[0] == "rollback":
        if os.environ.get("FAKE_HELM_FAIL"):
            print("Error: timed out waiting for the condition", file=sys.stderr)
            sys.exit(1)
        revs = state[args[1]]
        old = next(r for r in revs if r["revision"] == int(args[2]))
        for r in revs:
            r["status"] = "superseded"
        revs.append({**old, "revision": revs[-1]["revision"] + 1, "status": "deployed",
                     "description": "Rollback to " + args[2]})
        with open(state_path, "w") as fh:
            json.dump(state, fh)
        print("Rollback was a success! Happy Helming!")
    else:
        sys.exit(2)
''')


def revision(n: int, status: str, chart: str, description: str) -> dict[str, Any]:
    return {"revision": n, "updated": f"2025-06-0{n}T10:00:00Z", "status": status,
            "chart": chart, "app_version": chart.rsplit("-", 1)[1], "description": description}


@pytest.fixture
def fake_helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install the stand-in first on PATH; returns the argv log file."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "helm"
    exe.write_text(f"#!{sys.executable}\n{FAKE_HELM}")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    state = tmp_path / "helm-state.json"
    state.write_text(json.dumps({REL: [
        revision(1, "superseded", "alb-controller-1.7.7", "Install complete"),
        revision(2, "superseded", "alb-controller-1.7.8", "Upgrade complete"),
        revision(3, "deployed", "alb-controller-1.7.9", "Upgrade complete")]}))
    log = tmp_path / "argv.log"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_HELM_LOG", str(log))
    monkeypatch.setenv("FAKE_HELM_STATE", str(state))
    return log


def argvs(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def helm_gate(journal: Journal, *, read_only: bool = False,
              runner: HelmRunner | None = None) -> WriteGate:
    return WriteGate(GatePolicy("drill", read_only, False, "oncall-tester"),
                     HelmSender(runner or HelmRunner()), journal, dry_run=False,
                     access_reviews=False)


async def test_reads_run_the_exact_argument_lists(fake_helm: Path) -> None:
    assert helm_available()
    [release] = await releases_for(NS)
    assert (release.name, release.revision, release.status) == (REL, 3, "deployed")
    revs = await history(REL, NS)
    assert [(r.revision, r.status) for r in revs] == [(1, "superseded"), (2, "superseded"),
                                                     (3, "deployed")]
    assert argvs(fake_helm) == [["list", "-n", NS, "--all", "-o", "json"],
                                ["history", REL, "-n", NS, "-o", "json"]]


async def test_rollback_is_gated_journaled_and_verified(fake_helm: Path,
                                                        journal: Journal) -> None:
    plan = await plan_helm_rollback(REL, NS)  # default: the revision before the current
    [write] = plan.writes
    assert write.request.path == rollback_path(NS, REL) and write.prior["revision"] == 3
    assert write.intent == {"rollback_to": 2}
    assert not (await preview(helm_gate(journal), plan))[0].performed  # helm has no dry-run

    refused = await execute(helm_gate(journal, read_only=True), plan, reason="INC-5",
                            confirm=Confirmation("drill", emergency=True))
    assert refused.stopped_at == 0 and "read-only mode" in refused.error
    assert all(argv[0] != "rollback" for argv in argvs(fake_helm))  # no helm rollback ran

    done = await execute(helm_gate(journal), plan, reason="INC-5", confirm=Confirmation())
    assert done.ok, done.summary()
    assert "revision 4 deployed: Rollback to 2" in done.results[0].detail
    assert [a for a in argvs(fake_helm) if a[0] == "rollback"] == [
        ["rollback", REL, "2", "-n", NS, "--wait"]]
    entries = await journal.entries()
    assert [(e.status, e.kind, e.action) for e in entries] == [
        ("refused", "HelmRelease", "update rollback"),
        ("verified", "HelmRelease", "update rollback")]
    assert entries[1].prior["revision"] == 3


async def test_failed_rollback_is_an_error_answer(fake_helm: Path, journal: Journal,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    plan = await plan_helm_rollback(REL, NS, 1)
    monkeypatch.setenv("FAKE_HELM_FAIL", "1")
    done = await execute(helm_gate(journal), plan, reason="INC-5", confirm=Confirmation())
    assert done.stopped_at == 0 and "timed out waiting for the condition" in done.error
    [entry] = await journal.entries()
    assert entry.status == "failed" and entry.result["reason"] == "HelmFailed"


async def test_context_flags_are_appended(fake_helm: Path) -> None:
    runner = HelmRunner(kube_context="aks-prod", kubeconfig="/tmp/kc")
    await history(REL, NS, runner=runner)
    assert argvs(fake_helm) == [["history", REL, "-n", NS, "-o", "json", "--kube-context",
                                 "aks-prod", "--kubeconfig", "/tmp/kc"]]


async def test_offered_only_for_existing_releases_and_revisions(fake_helm: Path) -> None:
    with pytest.raises(PlanError, match="Helm release web not found in frontend"):
        await plan_helm_rollback("web", "frontend")
    with pytest.raises(PlanError, match="has no revision 9"):
        await plan_helm_rollback(REL, NS, 9)
    same = await plan_helm_rollback(REL, NS, 3)
    assert any("is the current one" in w for w in same.warnings)


async def test_sender_refuses_anything_but_a_rollback(fake_helm: Path) -> None:
    sender = HelmSender()
    status, body = await sender.request("DELETE", rollback_path(NS, REL), None, b"{}")
    assert status == 404 and b"only rollbacks" in body
    status, _ = await sender.request("POST", rollback_path(NS, "--dry-run"), None,
                                     b'{"revision": 1}')
    assert status == 400
    status, _ = await sender.request("POST", rollback_path(NS, REL), None, b'{"revision": "1"}')
    assert status == 400
    assert argvs(fake_helm) == []


async def test_without_helm_nothing_is_offered(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not helm_available()
    with pytest.raises(PlanError, match="not on PATH"):
        await plan_helm_rollback(REL, NS)
    with pytest.raises(HelmError, match="not on PATH"):
        await history(REL, NS)


def test_argo_rendered_apps_point_to_argo_rollback() -> None:
    row = AppRow(key="argocd/checkout", namespace="argocd", name="checkout")
    text = explain_argo_rendered(row)
    assert "argocd/checkout" in text and "no Helm release" in text
    assert "Roll back through Argo CD" in text
    raw = {"metadata": {"namespace": "argocd", "name": "web"}, "status": {"sourceType": "Helm"}}
    assert "(source type Helm)" in explain_argo_rendered(raw)
