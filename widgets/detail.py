"""DetailView: everything about one object, as text: fields, conditions, related pods, events.

It renders from the store it is given, once per :meth:`DetailView.show` or per
:meth:`DetailView.refresh_from` that touches the object or its events (the App decides when);
it never polls. Every cluster string goes in as a plain ``Content`` part (never markup); colours
are theme variables resolved at render time, so a theme switch needs no re-render.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import msgspec
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from backends.model import (
    CLUSTER_SCOPED_KINDS,
    KINDS,
    AppRow,
    Condition,
    DeploymentRow,
    EventRow,
    GatewayRow,
    NodeRow,
    PodRow,
    RouteRow,
    Row,
)
from backends.store import ChangeSet, Store
from widgets.detail_sections import Revision, app_sections, container_lines
from widgets.events import last_seen
from widgets.formatting import age, ago, describe_condition, iec_bytes, is_failing, weights

__all__ = ["DetailView", "describe"]

Part = str | tuple[str, str]
Line = list[Part]
Revisions = tuple[Mapping[str, Revision] | None, str]
"""Commit metadata per revision of an app's history, and a note on where it came from."""

_OBJECT_KIND = {
    "nodes": "Node",
    "pods": "Pod",
    "deployments": "Deployment",
    "replicasets": "ReplicaSet",
    "events": "Event",
    "applications": "Application",
    "gateways": "Gateway",
    "httproutes": "HTTPRoute",
    "applicationloadbalancers": "ApplicationLoadBalancer",
    "nodemetrics": "NodeMetrics",
    "podmetrics": "PodMetrics",
}
_TIME_FIELDS = frozenset({
    "created", "deleted", "last_restart", "first_seen", "last_seen", "operation_finished",
    "timestamp",
})
_BYTE_FIELDS = frozenset({"memory", "memory_allocatable"})
_CPU_FIELDS = frozenset({"cpu_m", "cpu_allocatable_m"})
#: Rendered in their own sections, or never shown (automated_json is kept byte-exact for
#: restores and is not sanitized: it must not reach the terminal).
_SPECIAL_FIELDS = frozenset({
    "key", "conditions", "listeners", "parents", "parent_refs", "rules", "history",
    "automated_json", "containers", "resources",
})
_EVENT_LIMIT = 20
_POD_LIMIT = 30

_HEADING = "bold $text-primary"
_LABEL = "$foreground-muted"
_BAD = "bold $text-error"
_NOTE = "$text-warning"


def _time(moment: float | None, now: float) -> str:
    if not moment:
        return "-"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))
    return f"{stamp} ({ago(moment, now)})"


def _value(name: str, value: Any, now: float) -> str:
    if name in _TIME_FIELDS:
        return _time(value, now)
    if name in _BYTE_FIELDS:
        return iec_bytes(value) if value else "-"
    if name in _CPU_FIELDS:
        return f"{value:g}m" if value else "-"
    if isinstance(value, tuple):
        if value and isinstance(value[0], tuple):
            return ", ".join(f"{k}={v}" for k, v in value)
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value != "" else "-"


def _conditions(conditions: Iterable[Condition], now: float, indent: str = "  ") -> list[Line]:
    lines: list[Line] = []
    for c in conditions:
        style = _BAD if is_failing(c) else ""
        line: Line = [indent, (describe_condition(c), style)]
        if c.last_transition:
            line.append((f"  {ago(c.last_transition, now)}", _LABEL))
        if c.message:
            line.append(f"  {c.message}")
        lines.append(line)
    return lines or [[indent, ("none reported", _LABEL)]]


def _fields(row: Row, now: float) -> list[Line]:
    lines: list[Line] = []
    for field in msgspec.structs.fields(row):
        if field.name in _SPECIAL_FIELDS:
            continue
        value = getattr(row, field.name)
        lines.append([(f"  {field.name.replace('_', ' ')}: ", _LABEL), _value(field.name, value, now)])
    return lines


def _kind_sections(store: Store, kind: str, row: Row, now: float,
                   revisions: Revisions | None = None) -> list[Line]:
    """Sections only some kinds have: listeners, parents and weights, an app's resources
    and history, a pod's containers, pods."""
    lines: list[Line] = []
    if isinstance(row, GatewayRow):
        lines.append([("Listeners", _HEADING)])
        for ls in row.listeners:
            lines.append([f"  {ls.name} {ls.protocol}:{ls.port} {ls.hostname or '*'}",
                          (f"  routes {ls.attached_routes}", _LABEL)])
            lines.extend(_conditions(ls.conditions, now, "    "))
    elif isinstance(row, RouteRow):
        lines.append([("Parents", _HEADING)])
        for ref in row.parent_refs:
            section = f" ({ref.section_name})" if ref.section_name else ""
            lines.append([f"  {ref.kind} {ref.namespace}/{ref.name}{section}"])
        for parent in row.parents:
            lines.append([(f"  status from {parent.controller or '?'} for ", _LABEL),
                          f"{parent.ref.namespace}/{parent.ref.name}"])
            lines.extend(_conditions(parent.conditions, now, "    "))
        lines.append([("Rules", _HEADING)])
        for index, rule in enumerate(row.rules):
            match = ", ".join(rule.matches) or "all"
            lines.append([f"  {rule.name or index}: {match} -> ",
                          (weights(rule.backends, row.namespace) or "no backends", "bold")])
    elif isinstance(row, AppRow):
        lines.extend(app_sections(store, row, now, *(revisions or (None, ""))))
    pods: frozenset[str] = frozenset()
    if isinstance(row, NodeRow):
        pods = store.pods_on_node(row.name)
    elif isinstance(row, DeploymentRow):
        pods = store.pods_of_deployment(row.key)
    elif isinstance(row, PodRow):
        lines.extend(container_lines(row, now))
        deployment = store.deployment_of_pod(row.key)
        base = store.restart_baseline(row.uid or row.key)
        lines.append([("Owner", _HEADING)])
        lines.append([f"  {row.owner_kind or '-'} {row.owner_name}",
                      (f"  deployment {deployment or '-'}", _LABEL)])
        if base is not None and row.restarts > base:
            lines.append([("  restarts rising: ", _NOTE),
                          f"{row.restarts} now, {base} when first seen"])
    if pods:
        problems = store.problem_pods(now=now)
        lines.append([(f"Pods ({len(pods)}, {sum(k in problems for k in pods)} with problems)",
                       _HEADING)])
        ordered = sorted(pods, key=lambda k: (k not in problems, k))
        for pod_key in ordered[:_POD_LIMIT]:
            pod = store.get("pods", pod_key)
            status = pod.status if isinstance(pod, PodRow) else "?"
            reason = problems.get(pod_key, "")
            lines.append([f"  {pod_key}  ", (status, _BAD if reason else ""),
                          (f"  {reason}" if reason else "", _NOTE)])
        if len(pods) > _POD_LIMIT:
            lines.append([(f"  ... {len(pods) - _POD_LIMIT} more", _LABEL)])
    return lines


def involves(event: EventRow, kind: str, row: Row) -> bool:
    """Whether an event is about this object (by kind, namespace and name)."""
    name = getattr(row, "name", row.key)
    if event.object_kind != _OBJECT_KIND.get(kind) or event.object_name != name:
        return False
    if kind in CLUSTER_SCOPED_KINDS:  # node events live in "default" with no object namespace
        return True
    return (event.object_namespace or event.namespace) == getattr(row, "namespace", "")


def _events(store: Store, kind: str, row: Row, now: float) -> list[Line]:
    found = [
        event for event in store.rows("events").values()
        if isinstance(event, EventRow) and involves(event, kind, row)
    ]
    found.sort(key=last_seen, reverse=True)
    lines: list[Line] = [[(f"Events ({len(found)})", _HEADING)]]
    for event in found[:_EVENT_LIMIT]:
        style = _NOTE if event.type == "Warning" else ""
        lines.append([(f"  {age(last_seen(event), now):>4}  ", _LABEL),
                      (f"{event.type} {event.reason}", style),
                      (f" x{event.count}" if event.count > 1 else "", _LABEL),
                      f"  {event.message}"])
    if not found:
        lines.append([("  none held", _LABEL)])
    return lines


def describe(store: Store, kind: str, key: str, now: float,
             revisions: Revisions | None = None) -> list[Line]:
    """The detail of one object as lines of (text, style) parts."""
    row = store.get(kind, key)
    title = f"{_OBJECT_KIND.get(kind, kind)} {key}"
    if row is None:
        return [[(title, _HEADING)], [("  gone: the object no longer exists", _NOTE)]]
    lines: list[Line] = [[(title, _HEADING)]]
    lines.extend(_fields(row, now))
    conditions = getattr(row, "conditions", None)
    if conditions is not None:
        lines.append([("Conditions", _HEADING)])
        lines.extend(_conditions(conditions, now))
    lines.extend(_kind_sections(store, kind, row, now, revisions))
    if kind != "events":
        lines.extend(_events(store, kind, row, now))
    return lines


class DetailView(VerticalScroll):
    """One object in full, scrollable; follows the store when the App forwards its ticks."""

    DEFAULT_CSS = """
    DetailView {
        height: 1fr;
        background: $surface;
        & > Static { width: auto; padding: 0 1; }
    }
    """

    KINDS: ClassVar[tuple[str, ...]] = KINDS
    """Any kind can be shown, and events of every kind are listed."""
    TITLE: ClassVar[str] = "Detail"

    def __init__(
        self,
        store: Store | None = None,
        kind: str | None = None,
        key: str | None = None,
        *,
        now: float | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._body = Static()
        self._kind = kind
        self._key = key
        self._filter = ""
        self._lines: list[Line] = []
        self._row: Row | None = None
        self._store = store
        self._revisions: Revisions | None = None
        if store is not None and kind is not None and key is not None:
            self._read(store, now if now is not None else time.time())

    def compose(self) -> ComposeResult:
        yield self._body

    def on_mount(self) -> None:
        self._show()

    def show(self, store: Store, kind: str, key: str, now: float | None = None) -> None:
        """Show another object (or re-read the same one)."""
        self._kind, self._key = kind, key
        self._read(store, now if now is not None else time.time())
        self._show()

    def refresh_from(self, store: Store, changes: ChangeSet, now: float) -> None:
        """Re-render when the object, or an event about it, changed."""
        if self._kind is None or self._key is None:
            return
        kind, key = self._kind, self._key
        touched = changes.full or key in changes.upserted.get(kind, ()) or key in \
            changes.removed.get(kind, ())
        if not touched and self._row is not None:
            for event_key in changes.upserted.get("events", ()):
                event = store.get("events", event_key)
                if isinstance(event, EventRow) and involves(event, kind, self._row):
                    touched = True
                    break
        if touched:
            self._read(store, now)
            self._show()

    def set_revisions(self, revisions: Mapping[str, Revision] | None, note: str = "") -> None:
        """Commit author and subject per revision of the app's history (or a note saying why
        there are none); re-renders."""
        self._revisions = (revisions, note)
        if self._store is not None and self._kind is not None and self._key is not None:
            self._read(self._store, time.time())
            self._show()

    def set_filter(self, text: str) -> None:
        """Show only the lines containing ``text`` (case-insensitive)."""
        self._filter = text.strip().lower()
        self._show()

    @property
    def filter_text(self) -> str:
        """The active filter ("" when none)."""
        return self._filter

    @property
    def selected_key(self) -> str | None:
        """Key of the object shown."""
        return self._key

    @property
    def selected_kind(self) -> str | None:
        """Kind of the object shown."""
        return self._kind

    @property
    def content(self) -> Content:
        """What is shown (after the filter), for tests and copy-out."""
        lines = [Content.assemble(*line) for line in self._lines]
        if self._filter:
            lines = [line for line in lines if self._filter in line.plain.lower()]
        return Content("\n").join(lines)

    def _read(self, store: Store, now: float) -> None:
        assert self._kind is not None and self._key is not None
        self._store = store
        self._row = store.get(self._kind, self._key)
        self._lines = describe(store, self._kind, self._key, now, self._revisions)

    def _show(self) -> None:
        if self.is_attached:
            self._body.update(self.content)
