"""Helm use case: roll a release back with the ``helm`` CLI, behind the session's gate rules.

``helm`` runs with the connection's kube context and kubeconfig, so it acts on the cluster the
operator is looking at; the write goes through a gate on :class:`~backends.ops.helm.HelmSender`
with the session's policy and journal (read-only, protected context, journal before send).
"""

from __future__ import annotations

import os

from backends.ops import helm
from backends.ops.helm import HelmRelease, HelmRevision, HelmRunner
from backends.usecases.workspace import Action, Workspace

__all__ = ["helm_available", "plan_helm_rollback", "release_history", "releases", "runner_for"]

helm_available = helm.helm_available


def runner_for(ws: Workspace) -> HelmRunner:
    """A runner on the workspace's context and kubeconfig."""
    paths = getattr(ws.conn, "kubeconfig_paths", None) or []
    return HelmRunner(kube_context=getattr(ws.conn, "context", None) or None,
                      kubeconfig=os.pathsep.join(str(p) for p in paths) or None)


async def releases(ws: Workspace, ns: str) -> list[HelmRelease]:
    """Helm releases of namespace ``ns`` (raises HelmError)."""
    return await helm.releases_for(ns, runner=runner_for(ws))


async def release_history(ws: Workspace, release: str, ns: str) -> list[HelmRevision]:
    """Revisions of ``release``, oldest first (raises HelmError)."""
    return await helm.history(release, ns, runner=runner_for(ws))


async def plan_helm_rollback(ws: Workspace, release: str, ns: str,
                             revision: int | None = None) -> Action:
    """Plan ``helm rollback RELEASE REVISION -n NS --wait`` (None: the previous revision),
    sent through a gate on the Helm sender (no dry-run: the plan is the argument list)."""
    runner = runner_for(ws)
    plan = await helm.plan_helm_rollback(release, ns, revision, runner=runner)
    return Action(plan, ws.gate_on(helm.HelmSender(runner)))
