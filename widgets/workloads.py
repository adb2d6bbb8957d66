"""Workloads: Deployments with their rollout numbers and whether the rollout is moving.

A mismatch (ready, updated or available different from desired) is highlighted; a rollout past
its progress deadline (``ProgressDeadlineExceeded``) shows as ``stalled`` and sorts first, as does
a Deployment with no available replica at all (an outage, whatever the rollout says).

Casualties stay in sight (issue 13): a Deployment the circuit breaker holds at 0 (its
``controlroom.io/breaker`` mark) reads "held at 0 by breaker since T", and one with no
available replica that an HTTPRoute still sends traffic to (a backend of weight > 0 with the
Deployment's name, the drill's and the usual convention of Service = Deployment name) reads
"no ready backends for route X": both are problem rows, never among the healthy 0/0.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import ClassVar

from backends.model import DeploymentRow, RouteRow, Row, breaker_hold, make_key
from backends.store import Store
from backends.timefmt import in_future
from widgets.formatting import DIM, PROBLEM, WARNING, age, age_changes_at, rank_key, short_images
from widgets.panel import RowId, RowView
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

    KINDS: ClassVar[tuple[str, ...]] = ("deployments", "httproutes")
    ROW_KINDS: ClassVar[tuple[str, ...]] = ("deployments",)
    """Routes only wake the Deployments they send traffic to."""
    TITLE: ClassVar[str] = "Workloads"
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("NAMESPACE", priority=4, min_width=8),
        Column("NAME", priority=1, min_width=16, ideal=24, cut="middle"),
        Column("DESIRED", align="right", priority=3),
        Column("READY", align="right", priority=2),
        Column("UPDATED", align="right", priority=3),
        Column("AVAILABLE", align="right", priority=3),
        Column("ROLLOUT", priority=1, min_width=10, ideal=40),
        Column("IMAGE", priority=7, min_width=10, cut="middle"),
        Column("AGE", align="right", priority=8),
    )
    """By priority (widgets/column_fit.py): the name and its rollout in words first; the
    image and the age last."""

    def __init__(self, *, show_all: bool = False, name: str | None = None,
                 id: str | None = None, classes: str | None = None,
                 disabled: bool = False) -> None:
        super().__init__(show_all=show_all, name=name, id=id, classes=classes,
                         disabled=disabled)
        self._routes_to: dict[str, set[str]] = {}
        """Deployment key -> keys of the routes sending it traffic (weight > 0)."""
        self._targets_of: dict[str, set[str]] = {}
        """Route key -> the Deployment keys it sends traffic to."""
        self._store: Store | None = None

    def prepare(self, store: Store, now: float) -> None:
        self._store = store

    def dependents(self, kind: str, keys: Iterable[str]) -> Iterator[RowId]:
        """A route that changed (or went) re-judges the Deployments it sent or sends to."""
        if kind != "httproutes" or self._store is None:
            return
        held = self._store.held("httproutes")
        for key in keys:
            before = self._targets_of.pop(key, set())
            route = held.get(key)
            after = _weighted_targets(route) if isinstance(route, RouteRow) else set()
            for dep in before - after:
                routes = self._routes_to.get(dep)
                if routes is not None:
                    routes.discard(key)
                    if not routes:
                        del self._routes_to[dep]
            for dep in after:
                self._routes_to.setdefault(dep, set()).add(key)
            if after:
                self._targets_of[key] = after
            for dep in before | after:
                yield "deployments", dep

    def view(self, store: Store, kind: str, row: Row, now: float) -> RowView | None:
        if not isinstance(row, DeploymentRow):
            return None
        state = rollout = rollout_state(row)
        desired = row.desired
        mismatch = not (row.ready == row.updated == row.available == desired)
        hold = breaker_hold(row)
        routes = sorted(self._routes_to.get(row.key, ())) if row.available == 0 else []
        if hold is not None:
            state = f"held at 0 by breaker since {_clock(hold.since, now)}"
        elif routes:
            names = ", ".join(r.partition("/")[2] if r.startswith(f"{row.namespace}/") else r
                              for r in routes)
            state = f"no ready backends for route {names}"
        tone: str | None
        if hold is not None or routes or rollout == "stalled" or (
                desired > 0 and row.available == 0):
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


def _weighted_targets(route: RouteRow) -> set[str]:
    """Keys of the Deployments a route sends traffic to: its Service backends of weight > 0,
    by name (Service = Deployment name; see the module docstring)."""
    return {make_key(b.namespace or route.namespace, b.name)
            for rule in route.rules for b in rule.backends
            if b.weight > 0 and b.kind in ("Service", "") and not b.group}


def _clock(moment: float | None, now: float) -> str:
    """``14:02:11``; ``?`` when unknown; a mark dated in the future says so."""
    if not moment:
        return "?"
    if in_future(moment, now):
        return "? (clock skew: in the future)"
    return time.strftime("%H:%M:%S", time.localtime(moment))
