"""Helm: release history and rollback by running the ``helm`` binary (operations.md section 5).

Why the binary and not a re-implementation: ``helm rollback`` writes a new revision copying
the old one, runs pre/post-rollback hooks, applies with Helm's three-way merge and waits;
decoding release Secrets (base64 of gzip of JSON, base64-encoded once more by the API) would
let us *read* history, but rolling back correctly is Helm's job. So we run it, always with an
argument list (``asyncio.create_subprocess_exec``, never a shell string: a release name is
untrusted text), and only the commands we mean: ``helm list``, ``helm history`` and
``helm rollback REL REV -n NS --wait``.

The rollback is a mutation, so it goes through a :class:`~backends.ops.gate.WriteGate` like
everything else: :class:`HelmSender` is a ``Sender`` whose ``request`` turns one structured
request (``POST /helm/namespaces/NS/releases/REL/rollback`` with ``{"revision": N}``) into that
argv. Build its gate with ``dry_run=False, access_reviews=False`` and the context's policy
and journal: read-only mode then refuses it before any process starts, a protected context
needs the typed name, and the journal records the prior revision.

Only charts installed with the Helm CLI have releases (e.g. the AGC ALB controller). Apps
rendered by Argo CD (``helm template``) have none: :func:`explain_argo_rendered` says to roll
those back through Argo CD.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote

from backends.kube.wire import Params
from backends.model import AppRow
from backends.ops.gate import TargetRef, WriteRequest
from backends.ops.plan import Plan, PlanError, PlannedWrite
from backends.sanitize import clean

__all__ = [
    "HelmError",
    "HelmRelease",
    "HelmReleaseNotFound",
    "HelmRevision",
    "HelmRunner",
    "HelmSender",
    "explain_argo_rendered",
    "helm_available",
    "history",
    "plan_helm_rollback",
    "releases_for",
    "rollback_path",
]

READ_TIMEOUT: Final = 60.0
ROLLBACK_TIMEOUT: Final = 330.0
"""Seconds before a running ``helm rollback --wait`` is killed: Helm's own ``--wait``
timeout is 5 minutes, so this only catches a hung process (outcome then unknown)."""


class HelmError(Exception):
    """helm is missing, failed, or printed something we cannot read."""


class HelmReleaseNotFound(HelmError):
    """``helm history`` says the release does not exist in that namespace."""


@dataclass(frozen=True)
class HelmRelease:
    name: str
    namespace: str
    revision: int
    status: str
    chart: str
    app_version: str
    updated: str


@dataclass(frozen=True)
class HelmRevision:
    revision: int
    status: str
    chart: str
    app_version: str
    description: str
    updated: str


def helm_available(binary: str = "helm") -> bool:
    """Whether ``helm`` is on PATH: Helm actions are offered only then."""
    return shutil.which(binary) is not None


@dataclass(frozen=True)
class HelmRunner:
    """How ``helm`` is run: the binary, and the kube context/kubeconfig of the control
    room's connection (appended as ``--kube-context``/``--kubeconfig`` when set, so helm
    acts on the cluster the operator is looking at, not on its own current context)."""

    binary: str = "helm"
    kube_context: str | None = None
    kubeconfig: str | None = None

    def argv(self, args: Sequence[str]) -> list[str]:
        exe = shutil.which(self.binary)
        if exe is None:
            raise HelmError(f"{self.binary} is not on PATH")
        out = [exe, *args]
        if self.kube_context:
            out += ["--kube-context", self.kube_context]
        if self.kubeconfig:
            out += ["--kubeconfig", self.kubeconfig]
        return out

    async def run(self, args: Sequence[str], timeout: float = READ_TIMEOUT
                  ) -> tuple[int, str, str]:
        """(exit code, stdout, stderr). Raises :class:`HelmError` when it cannot start or
        does not finish in ``timeout`` seconds (then it is killed)."""
        argv = self.argv(args)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise HelmError(f"cannot run {self.binary}: {exc}") from exc
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise HelmError(f"{self.binary} {' '.join(args[:2])} did not finish in "
                            f"{timeout:g}s (killed)") from None
        return (proc.returncode or 0, out.decode("utf-8", "replace"),
                err.decode("utf-8", "replace"))

    async def json(self, args: Sequence[str]) -> Any:
        code, out, err = await self.run(args)
        if code != 0:
            message = clean(err.strip() or out.strip(), 500)
            if "not found" in message:
                raise HelmReleaseNotFound(message)
            raise HelmError(f"helm {args[0]} failed ({code}): {message}")
        try:
            return json.loads(out or "[]")
        except ValueError as exc:
            raise HelmError(f"helm {args[0]} printed no JSON: {clean(out, 200)}") from exc


DEFAULT_RUNNER: Final = HelmRunner()


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


async def releases_for(namespace: str, *, runner: HelmRunner = DEFAULT_RUNNER
                       ) -> list[HelmRelease]:
    """``helm list -n NS --all -o json``: every release, failed and pending ones included
    (a release stuck in pending-upgrade is exactly what an on-call needs to see)."""
    items = await runner.json(["list", "-n", namespace, "--all", "-o", "json"])
    return [HelmRelease(clean(i.get("name", "")), clean(i.get("namespace", namespace)),
                        _int(i.get("revision")), clean(i.get("status", "")),
                        clean(i.get("chart", "")), clean(i.get("app_version", "")),
                        clean(i.get("updated", ""))) for i in items if isinstance(i, dict)]


async def history(release: str, ns: str, *, runner: HelmRunner = DEFAULT_RUNNER
                  ) -> list[HelmRevision]:
    """``helm history REL -n NS -o json``, oldest first."""
    items = await runner.json(["history", release, "-n", ns, "-o", "json"])
    revs = [HelmRevision(_int(i.get("revision")), clean(i.get("status", "")),
                         clean(i.get("chart", "")), clean(i.get("app_version", "")),
                         clean(i.get("description", ""), 300), clean(i.get("updated", "")))
            for i in items if isinstance(i, dict)]
    return sorted(revs, key=lambda r: r.revision)


# --------------------------------------------------------------------------- the sender


def rollback_path(namespace: str, release: str) -> str:
    return (f"/helm/namespaces/{quote(namespace, safe='')}/releases/"
            f"{quote(release, safe='')}/rollback")


def _status(code: int, reason: str, message: str) -> tuple[int, bytes]:
    return code, json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "reason": reason, "message": message, "code": code}).encode()


class HelmSender:
    """A gate ``Sender`` that runs ``helm rollback REL REV -n NS --wait`` for
    ``POST /helm/namespaces/NS/releases/REL/rollback`` (body ``{"revision": N}``). Nothing
    else is accepted: the argv is built here from validated parts, never taken from the
    request. Exit 0 is 200, a failure 500 with helm's message (a Status body the gate
    journals); a hung helm raises (outcome unknown)."""

    def __init__(self, runner: HelmRunner = DEFAULT_RUNNER,
                 timeout: float = ROLLBACK_TIMEOUT) -> None:
        self._runner = runner
        self._timeout = timeout

    async def request(self, method: str, path: str, params: Params | None = None,
                      body: bytes | None = None,
                      content_type: str = "application/json") -> tuple[int, bytes]:
        parts = path.strip("/").split("/")
        if method.upper() != "POST" or len(parts) != 6 or parts[0] != "helm" or \
                parts[1] != "namespaces" or parts[3] != "releases" or parts[5] != "rollback":
            return _status(404, "NotFound", f"the Helm sender serves only rollbacks, not "
                                            f"{method} {path}")
        if params:
            return _status(400, "BadRequest", "helm rollback takes no parameters here "
                                              "(no server-side dry-run)")
        ns, release = unquote(parts[2]), unquote(parts[4])
        try:
            revision = json.loads(body or b"{}").get("revision")
        except (ValueError, AttributeError):
            revision = None
        if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
            return _status(400, "BadRequest", "the body must be {\"revision\": N}")
        if not release or release.startswith("-") or not ns or ns.startswith("-"):
            return _status(400, "BadRequest", "invalid release or namespace")
        code, out, err = await self._runner.run(
            ["rollback", release, str(revision), "-n", ns, "--wait"], self._timeout)
        if code != 0:
            return _status(500, "HelmFailed", clean(err.strip() or out.strip(), 1000)
                           or f"helm rollback exited {code}")
        return 200, json.dumps({"release": release, "namespace": ns, "revision": revision,
                                "output": clean(out.strip(), 1000)}).encode()


# --------------------------------------------------------------------------- planning


async def plan_helm_rollback(release: str, ns: str, revision: int | None = None, *,
                             runner: HelmRunner = DEFAULT_RUNNER) -> Plan:
    """Plan ``helm rollback REL REV -n NS --wait`` (``revision`` None: the one before the
    current, as ``helm rollback REL`` does). Offered only when helm is on PATH and the
    release exists; execute it with the gate built on :class:`HelmSender`."""
    if not helm_available(runner.binary):
        raise PlanError(f"{runner.binary} is not on PATH: Helm rollback is not available")
    try:
        revs = await history(release, ns, runner=runner)
    except HelmReleaseNotFound as exc:
        raise PlanError(f"Helm release {release} not found in {ns}: {exc}") from exc
    except HelmError as exc:
        raise PlanError(str(exc)) from exc
    if not revs:
        raise PlanError(f"Helm release {release} in {ns} has no history")
    current = revs[-1]
    wanted = current.revision - 1 if revision is None else revision
    target = next((r for r in revs if r.revision == wanted), None)
    if target is None:
        raise PlanError(f"Helm release {release} has no revision {wanted} (history: "
                        f"{', '.join(str(r.revision) for r in revs)})")
    plan = Plan(title=f"Helm rollback {ns}/{release} to revision {wanted} ({target.chart})")
    if current.status.startswith("pending"):
        plan.warnings.append(f"revision {current.revision} is {current.status}: another Helm "
                             "operation is in progress and helm will refuse")
    if wanted == current.revision:
        plan.warnings.append(f"revision {wanted} is the current one: the rollback re-deploys it")
    plan.info.append(f"helm writes revision {current.revision + 1} as a copy of {wanted}, runs "
                     "pre/post-rollback hooks and waits (--wait) for the resources")

    async def verify() -> tuple[bool, str]:
        now = await history(release, ns, runner=runner)
        last = now[-1] if now else None
        if last is not None and last.revision > current.revision and last.status == "deployed":
            return True, f"revision {last.revision} deployed: {last.description}"
        return False, (f"newest revision is {last.revision} {last.status}" if last
                       else "no history")

    req = WriteRequest(method="POST", path=rollback_path(ns, release), verb="update",
                       body=json.dumps({"revision": wanted}).encode(),
                       target=TargetRef("HelmRelease", ns, release, "helm.sh", "releases",
                                        "rollback"))
    plan.writes.append(PlannedWrite(
        title=plan.title, request=req,
        prior={"revision": current.revision, "chart": current.chart,
               "app_version": current.app_version, "status": current.status},
        intent={"rollback_to": wanted}, verify=verify, step="helm-rollback"))
    return plan


def explain_argo_rendered(app: AppRow | Mapping[str, Any]) -> str:
    """Why there is no Helm rollback for an app Argo CD renders, and what to do instead."""
    if isinstance(app, AppRow):
        where, source = f"{app.namespace}/{app.name}", ""
    else:
        meta = app.get("metadata") or {}
        where = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        kind = (app.get("status") or {}).get("sourceType") or ""
        source = f" (source type {clean(kind, 40)})" if kind else ""
    return (f"Argo CD app {clean(where, 200)} is rendered by Argo CD{source}: Argo CD runs "
            "`helm template` and applies the manifests itself, so there are no Helm release "
            "Secrets and `helm rollback` cannot help. Roll back through Argo CD instead: pause "
            "auto-sync, then roll back to a history entry (and revert the commit in Git before "
            "restoring auto-sync).")
