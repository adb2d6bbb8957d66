"""What ``w`` offers on an HTTPRoute: set the weights, remove a backend reference, or put back
what the last of those replaced.

Why a choice first: a backend that does not exist (a typo in Git) keeps the route's
``ResolvedRefs`` False even at weight 0, so weights alone cannot clear it; removing the
reference can (journaled with the rule's exact list, so the restore puts it back at its index
with every field). The picker lists each backend with its weight, names the one the route's
status reports unresolved, and offers the restore only when the journal records a change to
put back. "Set the weights" is preselected: ``w`` then Enter is the weights form as before.
Nothing is sent here: each choice becomes a use case of :mod:`backends.usecases.traffic`
planned and shown on the plan screen like every other action.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

from backends.usecases import traffic
from tui.pickers import PickerScreen, PickRow, WeightsScreen

if TYPE_CHECKING:
    from backends.usecases.workspace import Action, Workspace
    from tui.host import Host

__all__ = ["choose_route_change"]


async def choose_route_change(
        host: Host, ws: Workspace, ns: str,
        name: str) -> tuple[str, Callable[[], Awaitable[Action]]] | None:
    """Ask what to change on HTTPRoute ``ns/name`` (module doc); (title, the use case that
    plans it) or None when the operator cancelled or there is nothing to change."""
    current = traffic.current_weights(ws, ns, name)
    if not current:
        host.notify(f"HTTPRoute {ns}/{name} has no backends to weigh", severity="warning",
                    markup=False)
        return None
    problem = traffic.unresolved(ws, ns, name)
    recorded = None
    if ws.journal is not None:
        recorded = await traffic.recorded_backends(ws.journal, ws.context, ns, name)
    split = ", ".join(f"{b}={w}" for b, w in current.items())
    rows = [PickRow("weights", ("Set the backend weights", split))]
    backends = list(current)
    for i, (backend, weight) in enumerate(current.items()):
        note = f"weight {weight}" + ("; the route reports it unresolved"
                                     if backend and backend in problem else "")
        rows.append(PickRow(f"remove:{i}", (f"Remove backend {backend}", note)))
    if recorded is not None:
        before = ", ".join(f"{r.get('name')}={r.get('weight', 1)}"
                           for rule in recorded.get("rules") or []
                           for r in rule.get("backendRefs") or [] if isinstance(r, dict))
        rows.append(PickRow("restore", ("Restore the backends before the last change",
                                        before)))
    title = f"HTTPRoute {ns}/{name}" + (f": ResolvedRefs False ({problem})" if problem else "")
    choice = await host.push_screen_wait(PickerScreen(title, ("change", "backends"), rows,
                                                      default="weights"))
    if choice is None:
        return None
    if choice == "restore":
        return (f"restore the backends of HTTPRoute {ns}/{name}",
                partial(traffic.plan_restore_backends, ws, ns, name))
    if choice.startswith("remove:"):
        backend = backends[int(choice.partition(":")[2])]
        return (f"remove backend {backend} from HTTPRoute {ns}/{name}",
                partial(traffic.plan_remove_backend, ws, ns, name, backend))
    weights = await host.push_screen_wait(WeightsScreen(
        f"Backend weights of HTTPRoute {ns}/{name}", list(current.items()),
        maximum=traffic.MAX_WEIGHT))
    if not weights:
        return None
    return (f"shift traffic of {ns}/{name}", partial(traffic.plan_shift, ws, ns, name, weights))
