"""Traffic: Gateways, HTTPRoutes and AGC ApplicationLoadBalancers in one list.

What the on-call needs during a canary or a circuit-breaker shift: is each object accepted and
programmed, which addresses the gateways got, how many routes attached, and how the weights
split (``checkout-stable:90 checkout-canary:10``). A route whose backend cannot be resolved
(``ResolvedRefs=False``) is the classic silent outage, so failing conditions are spelled out in
the STATUS cell and sort first.
"""

from __future__ import annotations

from typing import ClassVar

from backends.model import AlbRow, Condition, GatewayRow, RouteRow, Row
from backends.store import Store
from widgets.formatting import (
    PROBLEM,
    WARNING,
    age,
    age_changes_at,
    condition_words,
    failing_conditions,
    weights,
)
from widgets.panel import RowView
from widgets.rowmodel import Cell, Column
from widgets.table_panel import TablePanel

__all__ = ["RoutesPanel", "route_trouble"]

_AGE = 7
_KIND_LABEL = {
    "gateways": "Gateway",
    "httproutes": "HTTPRoute",
    "applicationloadbalancers": "ALB",
}
_KIND_ORDER = {"gateways": 0, "httproutes": 1, "applicationloadbalancers": 2}


def cell_words(condition: Condition) -> str:
    """A failing condition as the STATUS cell says it: ``ResolvedRefs: BackendNotFound``.
    Why shorter than :func:`condition_words`: in the cell a condition is only there when it
    fails (False, or True for the inverted types), so "False" says nothing, and at 200 columns
    the cell must leave room for the weights beside it; Unknown (pending) is still said."""
    if condition.status == "Unknown" or not condition.reason:
        return condition_words(condition)
    return f"{condition.type}: {condition.reason}"


def _judge(
    parts: list[tuple[str, Condition]], stale: bool, missing: list[str]
) -> tuple[str, str | None]:
    """STATUS text and tone from failing conditions (``parts``), stale status and gaps.

    A failing condition that is ``Unknown`` is pending (warning); ``False`` (or ``True`` for
    the polarity-inverted types such as ``Conflicted``) is a failure.
    """
    problems = [f"{where}{cell_words(c)}" for where, c in parts if c.status != "Unknown"]
    unknown = [f"{where}{cell_words(c)}" for where, c in parts if c.status == "Unknown"]
    notes = missing + (["status not observed yet"] if stale else [])
    if problems:
        return "; ".join(problems + unknown + notes), PROBLEM
    if unknown or notes:
        return "; ".join(unknown + notes), WARNING
    return "OK", None


def route_trouble(route: RouteRow) -> tuple[str, str | None]:
    """STATUS text and tone of an HTTPRoute, judged per parent Gateway."""
    parts: list[tuple[str, Condition]] = []
    several = len(route.parent_refs) > 1 or len(route.parents) > 1
    for parent in route.parents:
        where = f"{parent.ref.name}: " if several else ""
        parts.extend((where, c) for c in failing_conditions(parent.conditions))
    # Controllers may omit sectionName in status: match parents by namespace and name.
    reported = {(p.ref.namespace, p.ref.name) for p in route.parents}
    missing = [
        f"{ref.name}: no status"
        for ref in route.parent_refs
        if (ref.namespace, ref.name) not in reported
    ]
    stale = any(
        c.observed_generation and c.observed_generation < route.generation
        for p in route.parents
        for c in p.conditions
    )
    return _judge(parts, stale, missing)


def _gateway_trouble(gateway: GatewayRow) -> tuple[str, str | None]:
    parts: list[tuple[str, Condition]] = [("", c) for c in failing_conditions(gateway.conditions)]
    for listener in gateway.listeners:
        parts.extend((f"{listener.name}: ", c) for c in failing_conditions(listener.conditions))
    missing = [] if gateway.conditions else ["no status"]
    stale = any(
        c.observed_generation and c.observed_generation < gateway.generation
        for c in gateway.conditions
    )
    return _judge(parts, stale, missing)


def _alb_trouble(alb: AlbRow) -> tuple[str, str | None]:
    parts: list[tuple[str, Condition]] = [("", c) for c in failing_conditions(alb.conditions)]
    stale = any(
        c.observed_generation and c.observed_generation < alb.generation for c in alb.conditions
    )
    return _judge(parts, stale, [] if alb.conditions else ["no status"])


class RoutesPanel(TablePanel):
    """Gateways, routes and load balancers; failing ones first."""

    KINDS: ClassVar[tuple[str, ...]] = ("gateways", "httproutes", "applicationloadbalancers")
    TITLE: ClassVar[str] = "Traffic"
    # Fixed widths: this panel takes three kinds that arrive from three sources in any
    # order, and auto widths then depended on which came first (seen as a flaky snapshot).
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("KIND", width=9, priority=3, min_width=4),
        Column("NAMESPACE", width=18, priority=4, min_width=8),
        Column("NAME", width=18, priority=1, min_width=10, ideal=10, cut="middle"),
        # Grows (up to 40) for a failing condition said whole, "ResolvedRefs:
        # BackendNotFound", which a fixed 12 cut to "ResolvedRefs"; the label's padding keeps
        # the calm look (12 cells) whatever order the kinds arrive in.
        Column("STATUS".ljust(12), max_width=40, priority=1, min_width=12, ideal=30),
        Column("ADDRESSES / PARENTS", width=34, priority=6, min_width=10),
        Column("ROUTES", width=6, align="right", priority=6),
        Column("BACKENDS", width=44, priority=2, min_width=14, ideal=38),
        Column("AGE", width=5, align="right", priority=7),
    )
    """By priority (widgets/column_fit.py): the name, its failing condition in words and
    the weights first; parents, attached routes and age last."""

    def view(self, store: Store, kind: str, row: Row, now: float) -> RowView | None:
        if isinstance(row, GatewayRow):
            status, tone = _gateway_trouble(row)
            where = ", ".join(row.addresses) or "no address"
            attached = str(sum(listener.attached_routes for listener in row.listeners))
            backends = " ".join(f"{ls.name}:{ls.port}/{ls.protocol}" for ls in row.listeners)
            namespace, name = row.namespace, row.name
        elif isinstance(row, RouteRow):
            status, tone = route_trouble(row)
            where = ", ".join(
                ref.name if ref.namespace == row.namespace else f"{ref.namespace}/{ref.name}"
                for ref in row.parent_refs
            )
            attached = ""
            backends = " | ".join(
                weights(rule.backends, row.namespace) for rule in row.rules if rule.backends
            )
            namespace, name = row.namespace, row.name
        elif isinstance(row, AlbRow):
            status, tone = _alb_trouble(row)
            where = attached = backends = ""
            namespace, name = row.namespace, row.name
        else:
            return None
        rank = 0 if tone == PROBLEM else 1 if tone == WARNING else 2
        cells: tuple[Cell, ...] = (
            _KIND_LABEL.get(kind, kind),
            namespace,
            name,
            status,
            where,
            attached,
            backends,
            age(getattr(row, "created", 0.0), now),
        )
        return RowView(cells, (rank, _KIND_ORDER.get(kind, 9), namespace, name), tone)

    def timed_cells(self, kind: str, row: Row, now: float) -> dict[int, Cell]:
        return {_AGE: age(getattr(row, "created", 0.0), now)}

    def timed_due(self, kind: str, row: Row, now: float) -> float | None:
        return age_changes_at(getattr(row, "created", 0.0), now)
