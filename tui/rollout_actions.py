"""The rollout pause key (``u``): which plan it asks for, pause or resume.

A key of its own because pausing is what an engineer does to a rollout that goes wrong while
its old ReplicaSet still serves (scaling it to 0 would take that capacity away). It toggles
by the store's view of the Deployment (``paused``); the use case
(:mod:`backends.usecases.rollout`, the same as ``controlroom rollout pause|resume``) reads the
live object, so a stale row only yields a plan that says there is nothing to do. Resume puts
back the ``spec.paused`` the journal recorded before the last pause. The controller
(``tui/actions.py``) runs the plan flow; this module imports nothing of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

from backends.model import DeploymentRow

if TYPE_CHECKING:
    from backends.store import Store
    from backends.usecases.workspace import Action, Workspace

__all__ = ["rollout_plan"]


def rollout_plan(store: Store, ws: Workspace,
                 key: str) -> tuple[str, Callable[[], Awaitable[Action]]]:
    """(title, planner) for Deployment ``key`` (``ns/name``): resume when the store shows
    it paused, else pause."""
    from backends.usecases import rollout

    ns, _, name = key.rpartition("/")
    row = store.get("deployments", key)
    if isinstance(row, DeploymentRow) and row.paused:
        return (f"resume the rollout of {ns}/{name}",
                partial(rollout.plan_resume_rollout, ws, ns, name))
    return f"pause the rollout of {ns}/{name}", partial(rollout.plan_pause_rollout, ws, ns, name)
