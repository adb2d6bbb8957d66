"""The ``[breaker]`` table of the config: the runbook's scope for the circuit breaker.

Why a module of its own: :mod:`backends.config` embeds this schema, and the breaker's planner
(:mod:`backends.ops.breaker_plan`) reads it. Kept here, outside ``backends.ops``, the config
depends on nothing that writes, and the write gate (which reads the config for its policy)
does not close an import circle through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, TypeVar

import msgspec

__all__ = ["DEFAULT_APP_NAMESPACE", "MAX_REPLICAS", "MAX_WEIGHT", "BreakerConfig", "RouteShift"]

MAX_WEIGHT: Final = 1_000_000
"""The largest backend weight the Gateway API allows (``weight`` is 0 to 1,000,000)."""
MAX_REPLICAS: Final = 2**31 - 1
"""``spec.replicas`` is an int32: anything larger is refused here, not sent."""

DEFAULT_APP_NAMESPACE: Final = "argocd"
"""Where an app named without a namespace lives (Argo CD's own namespace)."""

T = TypeVar("T")


def _split_ref(ref: str, default_ns: str | None, what: str) -> tuple[str, str]:
    ns, sep, name = ref.strip().partition("/")
    if not sep:
        if default_ns is None:
            raise ValueError(f"{what} {ref!r} must be namespace/name")
        ns, name = default_ns, ns
    if not ns or not name or "/" in name:
        raise ValueError(f"{what} {ref!r} must be namespace/name")
    return ns, name


class RouteShift(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An emergency traffic split: ``route = "checkout/checkout"``,
    ``weights = {checkout-stable = 100, checkout-canary = 0}``. Backends not named keep their
    weight; every named backend must exist on the route and, when weighted, have ready pods
    (the planner refuses otherwise: a redirect to nothing is an outage)."""

    route: str
    weights: dict[str, int]

    def __post_init__(self) -> None:
        _split_ref(self.route, None, "route")
        if not self.weights:
            raise ValueError(f"route {self.route!r}: weights must name at least one backend")
        for backend, weight in self.weights.items():
            if isinstance(weight, bool) or not 0 <= weight <= MAX_WEIGHT:
                raise ValueError(f"route {self.route!r}: weight of {backend!r} must be 0 to "
                                 f"{MAX_WEIGHT} (Gateway API), not {weight!r}")

    @property
    def ref(self) -> tuple[str, str]:
        return _split_ref(self.route, None, "route")


class BreakerConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The ``[breaker]`` table of the config: the runbook's scope.

    ``apps``: Argo CD Applications to freeze, ``namespace/name`` or ``name`` (in ``argocd``);
    ``deployments``: ``namespace/name`` to scale to 0; ``routes``: emergency weights;
    ``allow_no_backend``: HTTPRoutes (``namespace/name``) the runbook accepts leaving with
    no ready backend (the breaker otherwise holds back a scale-down that would, see
    :mod:`backends.ops.breaker_capacity`). The config module embeds this Struct; validation
    errors (``must be namespace/name``) surface through msgspec with their path, like every
    other config error.
    """

    apps: list[str] = msgspec.field(default_factory=list)
    deployments: list[str] = msgspec.field(default_factory=list)
    routes: list[RouteShift] = msgspec.field(default_factory=list)
    allow_no_backend: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        for ref in self.apps:
            _split_ref(ref, DEFAULT_APP_NAMESPACE, "app")
        for ref in self.deployments:
            _split_ref(ref, None, "deployment")
        for ref in self.allow_no_backend:
            _split_ref(ref, None, "allow_no_backend route")
        routes = [r.ref for r in self.routes]
        dupes = sorted({f"{ns}/{n}" for ns, n in routes if routes.count((ns, n)) > 1})
        if dupes:
            raise ValueError(f"route {', '.join(dupes)} is listed more than once: one "
                             "emergency split per route")

    def app_refs(self) -> list[tuple[str, str]]:
        return _unique(_split_ref(r, DEFAULT_APP_NAMESPACE, "app") for r in self.apps)

    def deployment_refs(self) -> list[tuple[str, str]]:
        return _unique(_split_ref(r, None, "deployment") for r in self.deployments)

    def allowed_dark_routes(self) -> list[tuple[str, str]]:
        """The routes of ``allow_no_backend``."""
        return _unique(_split_ref(r, None, "allow_no_backend route")
                       for r in self.allow_no_backend)


def _unique(items: Iterable[T]) -> list[T]:
    return list(dict.fromkeys(items))
