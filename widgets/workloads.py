"""Workloads: Deployments with their rollout numbers and whether the rollout is moving.

A mismatch (ready, updated or available different from desired) is highlighted; a rollout past
its progress deadline (``ProgressDeadlineExceeded``) shows as ``stalled`` and sorts first, as does
a Deployment with no available replica at all (an outage, whatever the rollout says).
"""

from __future__ import annotations

from typing import ClassVar

from backends.model import DeploymentRow, Row
from backends.store import Store
from widgets.formatting import DIM, PROBLEM, WARNING, age, age_changes_at, rank_key, short_images
from widgets.panel import RowView
from widgets.rowmodel import Cell, Column
from widgets.virtual_panel import VirtualPanel

__all__ = ["WorkloadsPanel", "rollout_state"]

_AGE = 8


def rollout_state(deployment: DeploymentRow) -> str:
    """``stalled``, ``paused``, ``pending`` (spec not yet observed), ``progressing`` or ``""``."""
    if deployment.progressing_reason == "ProgressDeadlineExceeded":
        return "stalled"
    if deployment.paused:
        return "paused"
    if deployment.observed_generation < deployment.generation:
        return "pending"
    desired = deployment.desired
    if (
        deployment.updated < desired
        or deployment.available < desired
        or deployment.ready < desired
        or deployment.current > desired
    ):
        return "progressing"
    return ""


class WorkloadsPanel(VirtualPanel):
    """One row per Deployment; stalled and mismatched first."""

    KINDS: ClassVar[tuple[str, ...]] = ("deployments",)
    TITLE: ClassVar[str] = "Workloads"
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("NAMESPACE"),
        Column("NAME"),
        Column("DESIRED", align="right"),
        Column("READY", align="right"),
        Column("UPDATED", align="right"),
        Column("AVAILABLE", align="right"),
        Column("ROLLOUT"),
        Column("IMAGE"),
        Column("AGE", align="right"),
    )

    def view(self, store: Store, kind: str, row: Row, now: float) -> RowView | None:
        if not isinstance(row, DeploymentRow):
            return None
        state = rollout_state(row)
        desired = row.desired
        mismatch = not (row.ready == row.updated == row.available == desired)
        tone: str | None
        if state == "stalled" or (desired > 0 and row.available == 0):
            rank, tone = 0, PROBLEM
        elif mismatch or state:
            rank, tone = 1, WARNING
        elif desired == 0:
            rank, tone = 3, DIM
        else:
            rank, tone = 2, None
        cells: tuple[Cell, ...] = (
            row.namespace,
            row.name,
            str(desired),
            str(row.ready),
            str(row.updated),
            str(row.available),
            state,
            short_images(row.images),
            age(row.created, now),
        )
        return RowView(cells, rank_key(rank, row.namespace, row.name), tone)

    def timed_cells(self, kind: str, row: Row, now: float) -> dict[int, Cell]:
        return {_AGE: age(row.created, now)} if isinstance(row, DeploymentRow) else {}

    def timed_due(self, kind: str, row: Row, now: float) -> float | None:
        return age_changes_at(row.created, now) if isinstance(row, DeploymentRow) else None
