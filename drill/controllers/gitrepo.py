"""The drill cluster's in-memory Git: per Argo CD Application, its commits, oldest first.

The simulated Argo CD compares live objects with "what Git says", and scenarios (a bad rollout,
a fix forward) make new commits. Only the fields an on-call engineer fights over are modelled:
per Deployment the image of each container and the replica count, per HTTPRoute the weight of
each backend. That is exactly what selfHeal reverts and what a rollback restores
(reference/operations.md sections 1 and 2), so nothing else needs to live in Git here.

Revisions are 40-hex SHA-1s derived from the parent revision and the commit's content, so a
scenario replayed from the same seed produces the same revisions (and the same screenshots).
Commits are immutable values; :meth:`GitRepo.commit` appends a new one like ``git commit`` on
the app's path would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

DEFAULT_AUTHOR = "drill-scenario <scenario@drill.example.com>"


Obj = dict[str, Any]


def containers(deployment: Obj) -> list[Obj]:
    """The containers of a Deployment's pod template (empty when malformed)."""
    out: list[Obj] = (((deployment.get("spec") or {}).get("template") or {}).get("spec")
                      or {}).get("containers") or []
    return out


def backend_rules(route: Obj) -> list[Obj]:
    """The rules of an HTTPRoute that forward to backends (redirect-only rules have none)."""
    return [rule for rule in (route.get("spec") or {}).get("rules") or []
            if isinstance(rule, dict) and rule.get("backendRefs")]


def default_container(deployment: str) -> str:
    """The container a single-image commit sets: the seed names a Deployment's only container
    after the Deployment without its ``-stable``/``-canary`` track suffix."""
    return deployment.removesuffix("-stable").removesuffix("-canary")


@dataclass(frozen=True)
class DeploymentManifest:
    """What Git says about one Deployment: image per container, and replicas (None when Git
    leaves replicas to an autoscaler, so a hand scale is not drift)."""

    images: Mapping[str, str]
    replicas: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"images": dict(self.images), "replicas": self.replicas}

    def matches(self, deployment: Obj) -> bool:
        """Whether a live Deployment shows what Git says (the fields selfHeal reverts)."""
        if self.replicas is not None and \
                (deployment.get("spec") or {}).get("replicas", 1) != self.replicas:
            return False
        live = {c.get("name"): c.get("image") for c in containers(deployment)}
        return all(live.get(c) == image for c, image in self.images.items())

    def apply(self, deployment: Obj) -> Obj:
        """Set Git's replicas and images on a Deployment (a copy the caller may change)."""
        spec = deployment.setdefault("spec", {})
        if self.replicas is not None:
            spec["replicas"] = self.replicas
        live = spec.setdefault("template", {}).setdefault("spec", {}).setdefault(
            "containers", [])
        for name, image in self.images.items():
            match = next((c for c in live if c.get("name") == name), None)
            if match is None:
                live.append({"name": name, "image": image})
            else:
                match["image"] = image
        return deployment


@dataclass(frozen=True)
class RouteManifest:
    """What Git says about one HTTPRoute: the complete backend list of each rule with weights
    (``backendRefs`` is an atomic list, so Git owns all of it, not single weights)."""

    weights: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"weights": dict(self.weights)}

    def matches(self, route: Obj) -> bool:
        """Whether every rule of a live HTTPRoute has Git's backends and weights (default 1)."""
        want = dict(self.weights)
        return all({ref.get("name"): ref.get("weight", 1) for ref in rule["backendRefs"]} == want
                   for rule in backend_rules(route))

    def apply(self, route: Obj) -> Obj:
        """Replace each rule's whole backend list (atomic in Gateway API), keeping ports."""
        for rule in backend_rules(route):
            old = {ref.get("name"): ref for ref in rule["backendRefs"]}
            first = rule["backendRefs"][0]
            default = {k: first[k] for k in ("group", "kind", "port") if k in first}
            rule["backendRefs"] = [{**(old.get(b) or default), "name": b, "weight": w}
                                   for b, w in self.weights.items()]
        return route


@dataclass(frozen=True)
class Manifests:
    """The Git-tracked objects of one revision, keyed ``namespace/name``."""

    deployments: Mapping[str, DeploymentManifest] = field(default_factory=dict)
    routes: Mapping[str, RouteManifest] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"deployments": {k: v.to_dict() for k, v in self.deployments.items()},
                "routes": {k: v.to_dict() for k, v in self.routes.items()}}


@dataclass(frozen=True)
class Commit:
    """One commit touching an app's path."""

    revision: str
    message: str
    author: str
    time: datetime
    manifests: Manifests

    def to_dict(self) -> dict[str, Any]:
        """The plain form (``revision, message, author, time, manifests``) for JSON and UIs."""
        return {"revision": self.revision, "message": self.message, "author": self.author,
                "time": self.time.isoformat(), "manifests": self.manifests.to_dict()}


def _qualify(key: str, namespace: str) -> str:
    return key if "/" in key else f"{namespace}/{key}"


def _deployment(name: str, spec: Mapping[str, Any],
                base: DeploymentManifest | None = None) -> DeploymentManifest:
    """A Deployment entry from ``{image}`` (its first container), ``{images: {c: i}}``,
    ``{replicas}`` or any mix, layered over ``base``."""
    images = dict(base.images) if base else {}
    if "image" in spec:  # the first (in the seed the only) container
        images[next(iter(images), None) or default_container(name)] = str(spec["image"])
    images.update({str(c): str(i) for c, i in (spec.get("images") or {}).items()})
    replicas = base.replicas if base else None
    if "replicas" in spec:
        replicas = None if spec["replicas"] is None else int(spec["replicas"])
    return DeploymentManifest(images=images, replicas=replicas)


def _route(spec: Mapping[str, Any]) -> RouteManifest:
    weights = spec.get("weights", spec)
    return RouteManifest(weights={str(b): int(w) for b, w in weights.items()})


def _revision(app: str, parent: str, message: str, author: str, when: datetime,
              manifests: Manifests) -> str:
    body = json.dumps([app, parent, message, author, when.isoformat(), manifests.to_dict()],
                      sort_keys=True)
    return hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()


class GitRepo:
    """Per app, an ordered commit list; HEAD is the last commit.

    ``clock`` dates new commits (pass the scenario clock, never the wall clock, so replays
    match). Without it a commit is dated one second after its parent.
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock
        self._commits: dict[str, list[Commit]] = {}
        self._namespaces: dict[str, str] = {}

    # ----------------------------------------------------------------------------- building

    @classmethod
    def from_seed(cls, now: datetime, clock: Callable[[], datetime] | None = None) -> GitRepo:
        """The Git history the seed's Applications were synced from (``seed.GIT_REVISIONS``),
        each commit dated five minutes before the seed says it was deployed."""
        from drill.seed import APPS, GIT_REVISIONS, sync_times
        from drill.seed_workloads import normalize_now

        now = normalize_now(now)
        repo = cls(clock)
        for app, commits in GIT_REVISIONS.items():
            times = [t - timedelta(minutes=5) for t in sync_times(app, now)]
            repo.load(app, APPS[app]["namespace"], commits, times)
        return repo

    def load(self, app: str, namespace: str, commits: Iterable[Mapping[str, Any]],
             times: Sequence[datetime]) -> None:
        """Add an app's history in the seed's shape: each commit ``{revision, message, author,
        deployments: {name: {image | images, replicas}}, routes: {name: {backend: weight}}}``;
        names without a namespace belong to ``namespace``."""
        self._namespaces[app] = namespace
        out = self._commits.setdefault(app, [])
        for raw, when in zip(commits, times, strict=True):
            manifests = Manifests(
                deployments={_qualify(n, namespace): _deployment(n.rpartition("/")[2], spec)
                             for n, spec in (raw.get("deployments") or {}).items()},
                routes={_qualify(n, namespace): _route(spec)
                        for n, spec in (raw.get("routes") or {}).items()})
            message = str(raw.get("message", ""))
            author = str(raw.get("author", DEFAULT_AUTHOR))
            revision = str(raw.get("revision") or _revision(
                app, out[-1].revision if out else "", message, author, when, manifests))
            out.append(Commit(revision, message, author, when, manifests))

    # ----------------------------------------------------------------------------- reading

    def apps(self) -> list[str]:
        return sorted(self._commits)

    def namespace(self, app: str) -> str | None:
        """The namespace an app's unqualified names belong to."""
        return self._namespaces.get(app)

    def history(self, app: str) -> list[Commit]:
        """An app's commits, oldest first (empty for an app Git does not know)."""
        return list(self._commits.get(app, ()))

    def head(self, app: str) -> Commit | None:
        commits = self._commits.get(app)
        return commits[-1] if commits else None

    def get(self, app: str, revision: str) -> Commit | None:
        """A commit by full SHA, by an unambiguous prefix of at least 7 characters (as
        ``git rev-parse`` accepts), or ``HEAD``; None when Git cannot resolve it."""
        commits = self._commits.get(app, [])
        rev = (revision or "").strip().lower()
        if rev == "head":
            return commits[-1] if commits else None
        exact = [c for c in commits if c.revision == rev]
        if exact:
            return exact[-1]
        if len(rev) < 7:
            return None
        found = {c.revision: c for c in commits if c.revision.startswith(rev)}
        return next(iter(found.values())) if len(found) == 1 else None

    # ----------------------------------------------------------------------------- writing

    def commit(self, app: str, message: str, changes: Mapping[str, Any], *,
               author: str = DEFAULT_AUTHOR, when: datetime | None = None) -> str:
        """Commit ``changes`` on top of HEAD and return the new revision.

        ``changes`` has the manifests' shape, partially: ``{"deployments": {"checkout-stable":
        {"image": "ghcr.io/drill/checkout:1.5.0"}}, "routes": {"checkout": {"checkout-stable":
        100, "checkout-canary": 0}}}``. A Deployment entry is layered over HEAD's (``image``
        sets its container, ``images`` single containers, ``replicas`` the count); a route entry
        replaces the whole backend list; ``None`` removes the object from Git.
        """
        head = self.head(app)
        if head is None:
            raise KeyError(f"no Git history for application {app!r}")
        namespace = self._namespaces[app]
        deployments = dict(head.manifests.deployments)
        for name, spec in (changes.get("deployments") or {}).items():
            key = _qualify(name, namespace)
            if spec is None:
                deployments.pop(key, None)
            else:
                deployments[key] = _deployment(key.rpartition("/")[2], spec,
                                               deployments.get(key))
        routes = dict(head.manifests.routes)
        for name, spec in (changes.get("routes") or {}).items():
            key = _qualify(name, namespace)
            if spec is None:
                routes.pop(key, None)
            else:
                routes[key] = _route(spec)
        manifests = Manifests(deployments=deployments, routes=routes)
        if when is None:
            when = self.clock() if self.clock else head.time + timedelta(seconds=1)
        revision = _revision(app, head.revision, message, author, when, manifests)
        self._commits[app].append(Commit(revision, message, author, when, manifests))
        return revision
