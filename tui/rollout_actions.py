"""The rollout pause key (``u``): pause the selected Deployment's rollout, or resume it.

A key of its own because pausing is what an engineer does to a rollout that goes wrong while
its old ReplicaSet still serves (scaling it to 0 would take that capacity away). It toggles
by the store's view of the Deployment (``paused``); the use case
(:mod:`backends.usecases.rollout`, the same as ``controlroom rollout pause|resume``) reads the
live object, so a stale row only yields a plan that says there is nothing to do. Resume puts
back the ``spec.paused`` the journal recorded before the last pause.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from backends.model import DeploymentRow
from tui.actions import split_key

if TYPE_CHECKING:
    from backends.store import Store
    from tui.actions import ActionController
    from tui.host import Host

__all__ = ["rollout_pause"]


def rollout_pause(host: Host, actions: ActionController, store: Store) -> None:
    """Plan the pause (or, when the selected Deployment is paused, the resume) through the
    controller's one plan flow."""
    from backends.usecases import rollout

    sel = actions.selected("deployments")
    if sel is None:
        host.notify("select a deployment first", severity="warning")
        return
    ns, name = split_key(sel[1])
    ws = actions.workspace()
    if ws is None:
        return
    row = store.get("deployments", sel[1])
    if isinstance(row, DeploymentRow) and row.paused:
        actions.run_plan(f"resume the rollout of {ns}/{name}",
                         partial(rollout.plan_resume_rollout, ws, ns, name))
    else:
        actions.run_plan(f"pause the rollout of {ns}/{name}",
                         partial(rollout.plan_pause_rollout, ws, ns, name))
