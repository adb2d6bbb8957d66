"""Traffic use case: set the backend weights of an HTTPRoute, verified by its status."""

from __future__ import annotations

from collections.abc import Mapping

from backends.ops import traffic
from backends.ops.plan import Poll
from backends.usecases.workspace import Action, Workspace

__all__ = ["MAX_WEIGHT", "current_weights", "plan_shift"]

MAX_WEIGHT = traffic.MAX_WEIGHT


def current_weights(ws: Workspace, ns: str, name: str) -> dict[str, int]:
    """The route's backend weights as the live store shows them (first rule that names a
    backend wins), to prefill the face's weights form; empty without a store or row."""
    row = ws.store.get("httproutes", f"{ns}/{name}") if ws.store is not None else None
    out: dict[str, int] = {}
    for rule in getattr(row, "rules", ()) or ():
        for ref in rule.backends:
            out.setdefault(ref.name, ref.weight)
    return out


async def plan_shift(ws: Workspace, ns: str, name: str, weights: Mapping[str, int], *,
                     timeout: float = 60.0, poll: Poll | None = None) -> Action:
    """Set the weights of HTTPRoute ``ns/name`` (by backend name, in every rule that has the
    backend). Refused at planning when a weighted backend has no ready pod."""
    return Action(await traffic.plan_shift(ws.conn, ws.gate, ns, name, weights,
                                           timeout=timeout, poll=poll), ws.gate)
