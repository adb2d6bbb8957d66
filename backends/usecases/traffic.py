"""Traffic use cases: set the backend weights of an HTTPRoute, remove a backend reference,
and put back what the last of those replaced, each verified by the route's status.

Restore reads the journal with ONE rule (:func:`recorded_backends`): the prior ``backendRefs``
of the newest weights change or removal on the route whose write *may have applied*, outside
a circuit breaker (``breaker release`` restores those). A refused or failed write changed
nothing, so restoring its prior would put back what was never taken away.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from backends.ops import traffic
from backends.ops.breaker_model import OPERATION_PREFIX
from backends.ops.journal import Journal
from backends.ops.plan import PlanError, Poll
from backends.usecases.workspace import Action, Workspace

__all__ = [
    "MAX_WEIGHT",
    "TRAFFIC_STEPS",
    "NothingToRestore",
    "current_weights",
    "plan_remove_backend",
    "plan_restore_backends",
    "plan_shift",
    "recorded_backends",
    "unresolved",
]

MAX_WEIGHT = traffic.MAX_WEIGHT
TRAFFIC_STEPS: Final = ("shift-traffic", "remove-backend")
"""Journal steps of a route change whose prior a restore puts back."""


class NothingToRestore(PlanError):
    """The journal records no weights change or removal of the route that may have applied."""


def current_weights(ws: Workspace, ns: str, name: str) -> dict[str, int]:
    """The route's backend weights as the live store shows them (first rule that names a
    backend wins), to prefill the face's weights form; empty without a store or row."""
    row = ws.store.get("httproutes", f"{ns}/{name}") if ws.store is not None else None
    out: dict[str, int] = {}
    for rule in getattr(row, "rules", ()) or ():
        for ref in rule.backends:
            out.setdefault(ref.name, ref.weight)
    return out


def unresolved(ws: Workspace, ns: str, name: str) -> str:
    """Why the route's references do not resolve, as a parent reports it (``ResolvedRefs``
    False: ``BackendNotFound: ...``), or "" (raw text: sanitize before display)."""
    row = ws.store.get("httproutes", f"{ns}/{name}") if ws.store is not None else None
    for parent in getattr(row, "parents", ()) or ():
        for c in parent.conditions:
            if c.type == "ResolvedRefs" and c.status == "False":
                return f"{c.reason}: {c.message}" if c.message else c.reason
    return ""


async def plan_shift(ws: Workspace, ns: str, name: str, weights: Mapping[str, int], *,
                     timeout: float = 60.0, poll: Poll | None = None) -> Action:
    """Set the weights of HTTPRoute ``ns/name`` (by backend name, in every rule that has the
    backend). Refused at planning when a weighted backend has no ready pod."""
    return Action(await traffic.plan_shift(ws.conn, ws.gate, ns, name, weights,
                                           timeout=timeout, poll=poll), ws.gate)


async def plan_remove_backend(ws: Workspace, ns: str, name: str, backend: str, *,
                              timeout: float = 60.0, poll: Poll | None = None) -> Action:
    """Remove the backend reference ``backend`` from HTTPRoute ``ns/name`` (journal step
    ``remove-backend``). Refused when it would leave a rule with no backend, or without its
    last serving one."""
    return Action(await traffic.plan_remove_backend(ws.conn, ws.gate, ns, name, backend,
                                                    timeout=timeout, poll=poll), ws.gate)


async def recorded_backends(journal: Journal, context: str, ns: str,
                            name: str) -> dict[str, Any] | None:
    """The prior recorded by the newest weights change or removal of HTTPRoute ``ns/name``
    on ``context`` that may have applied, outside a breaker, or None (module doc)."""
    for entry in reversed(await journal.entries(context=context)):
        if (entry.kind, entry.namespace, entry.name) != ("HTTPRoute", ns, name):
            continue
        if entry.step not in TRAFFIC_STEPS or not entry.may_have_applied \
                or entry.operation_id.startswith(OPERATION_PREFIX):
            continue
        if isinstance(entry.prior, dict) and isinstance(entry.prior.get("rules"), list):
            return dict(entry.prior)
    return None


async def plan_restore_backends(ws: Workspace, ns: str, name: str, *, timeout: float = 60.0,
                                poll: Poll | None = None) -> Action:
    """Put back exactly the ``backendRefs`` :func:`recorded_backends` recorded (a removed
    reference at its index, with every field). Raises :class:`NothingToRestore`."""
    recorded = None
    if ws.journal is not None:
        recorded = await recorded_backends(ws.journal, ws.context, ns, name)
    if recorded is None:
        raise NothingToRestore(f"HTTPRoute {ns}/{name}: the journal records no weights change "
                               "or backend removal to restore")
    return Action(await traffic.plan_backends_restore(ws.conn, ws.gate, ns, name, recorded,
                                                      timeout=timeout, poll=poll), ws.gate)
