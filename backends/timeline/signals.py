"""Alerts, the team bus and our journal as timeline entries (issue 17, point 1).

Alerts: every source (Prometheus, Alertmanager, the bus) keeps its own row of the same alert,
so one alert would otherwise be recorded up to three times; :class:`AlertTracker` follows
alert identities (the label set, as the alerts panel merges them) and records one ``firing``
when the first source reports it firing and one ``resolved`` when no source reports it any
more or one says it resolved. A source going stale is not a resolution: its rows stay, marked
stale, and the source's own loss is recorded as a ``source`` entry.

The journal: every write the control room made (or refused), with the operator, read from the
journal file (the App and the headless commands write it, maybe in another process), each
entry once, when it reached its final status.
"""

from __future__ import annotations

from collections.abc import Iterable

from backends.ops.journal import JournalEntry
from backends.sanitize import clean
from backends.signals.bus_schema import PipelineRow, TeamActionRow
from backends.signals.model import AlertRow, alert_identity
from backends.store import SourceHealth
from backends.timeline.entry import TimelineEntry

__all__ = ["AlertTracker", "bus_entry", "health_entry", "journal_entry"]

_FIRING = frozenset({"firing", "active", "suppressed", "unprocessed"})


def _alert_scope(row: AlertRow) -> tuple[str, str, str]:
    """(namespace, app, workload) from the usual labels."""
    namespace = row.label("namespace")
    app = row.label("app") or row.label("argocd_app") or row.label("application")
    workload = row.label("deployment")
    return namespace, app, f"Deployment/{workload}" if workload else ""


class AlertTracker:
    """One firing and one resolved entry per alert, whatever the number of sources."""

    def __init__(self, context: str) -> None:
        self.context = context
        self._rows: dict[str, AlertRow] = {}
        self._firing: dict[tuple[tuple[str, str], ...], float] = {}

    def update(self, upserted: Iterable[AlertRow], removed: Iterable[str],
               now: float) -> list[TimelineEntry]:
        """Apply the changed rows and removed keys; returns the entries they mean."""
        touched: set[tuple[tuple[str, str], ...]] = set()
        for key in removed:
            old = self._rows.pop(key, None)
            if old is not None:
                touched.add(alert_identity(old))
        for row in upserted:
            old = self._rows.get(row.key)
            if old is not None:
                touched.add(alert_identity(old))
            self._rows[row.key] = row
            touched.add(alert_identity(row))
        if not touched:
            return []
        by_identity: dict[tuple[tuple[str, str], ...], list[AlertRow]] = {}
        for row in self._rows.values():
            ident = alert_identity(row)
            if ident in touched:
                by_identity.setdefault(ident, []).append(row)
        out: list[TimelineEntry] = []
        for ident in touched:
            rows = by_identity.get(ident, [])
            firing = [r for r in rows if r.state in _FIRING]
            if firing and ident not in self._firing:
                first = min(firing, key=lambda r: r.since or now)
                self._firing[ident] = first.since or now
                out.append(self._entry(first, "firing", first.since or now, now))
            elif ident in self._firing and not firing:
                stale_only = rows and all(r.stale for r in rows)
                if stale_only:
                    continue
                started = self._firing.pop(ident)
                last = rows[0] if rows else None
                out.append(self._entry(last, "resolved", now, now, ident=ident,
                                       started=started))
        return out

    def _entry(self, row: AlertRow | None, word: str, at: float, now: float, *,
               ident: tuple[tuple[str, str], ...] = (), started: float | None = None
               ) -> TimelineEntry:
        labels = dict(row.labels if row is not None else ident)
        name = row.alertname if row is not None else labels.get("alertname", "?")
        namespace = labels.get("namespace", "")
        app = labels.get("app") or labels.get("argocd_app") or labels.get("application", "")
        workload = labels.get("deployment", "")
        target = labels.get("pod") or workload or labels.get("service") or labels.get(
            "route") or labels.get("instance", "")
        change = word if not target else f"{word} on {target}"
        if started is not None:
            change += f" (after {max(0.0, at - started):.0f} s)"
        return TimelineEntry(
            at=at, seen=now, context=self.context, kind="alert", namespace=namespace,
            name=name, object_kind="Alert", app=app,
            workload=f"Deployment/{workload}" if workload else "", change=change,
            before="firing" if word == "resolved" else "", after=word,
            actor=row.source if row is not None else "", actor_kind="system",
            severity=row.severity if row is not None else labels.get("severity", ""),
            detail=row.summary if row is not None else "")


def journal_entry(entry: JournalEntry, now: float) -> TimelineEntry:
    """Our own write (or refusal), with the operator who made it."""
    where = f"{entry.kind} {entry.namespace}/{entry.name}" if entry.namespace else \
        f"{entry.kind} {entry.name}"
    change = clean(f"{entry.action} {where}: {entry.status}", 300)
    return TimelineEntry(
        at=entry.ts.timestamp(), seen=now, context=clean(entry.context), kind="journal",
        namespace=clean(entry.namespace), name=clean(entry.name), object_kind=clean(entry.kind),
        change=change, before=clean(_short(entry.prior), 300),
        after=clean(_short(entry.intent), 300),
        actor=clean(f"controlroom: {entry.operator}", 200), actor_kind="operator",
        severity="Warning" if entry.status not in ("done", "verified", "dry-run") else "",
        detail=clean(f"{entry.reason} (operation {entry.operation_id}, step {entry.step}, "
                     f"{entry.method} {entry.path})", 500))


def _short(value: object) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:199] + "…"


def bus_entry(row: TeamActionRow | PipelineRow, now: float, context: str) -> TimelineEntry:
    """Another operator's action or a pipeline phase, as the team bus said it."""
    if isinstance(row, TeamActionRow):
        return TimelineEntry(
            at=row.time, seen=now, context=row.context or context, kind="bus", namespace="",
            name=row.target or row.action, object_kind="TeamAction",
            change=f"{row.action} {row.target}: {row.status}".strip(),
            actor=f"bus: {row.operator}", actor_kind="bus", detail=row.summary)
    return TimelineEntry(
        at=row.time, seen=now, context=context, kind="bus", namespace="",
        name=row.environment, object_kind="Pipeline",
        change=f"pipeline {row.phase} {row.status}", revision=row.revision,
        actor="pipeline", actor_kind="bus",
        severity="Warning" if row.status == "failed" else "", detail=row.url)


def health_entry(source: str, old: SourceHealth | None, new: SourceHealth, now: float,
                 context: str) -> TimelineEntry | None:
    """A source lost or regained (a recording gap is said, not hidden); None otherwise."""
    was = old.state if old is not None else ""
    bad = ("stale", "error", "forbidden")
    if new.state in bad and was not in bad:
        change = f"source {source} {new.state}"
    elif new.state == "connected" and was in bad:
        change = f"source {source} connected again"
    else:
        return None
    return TimelineEntry(at=new.since or now, seen=now, context=context, kind="source",
                         namespace="", name=source, object_kind="Source", change=change,
                         before=was, after=new.state, actor="controlroom",
                         actor_kind="system", severity="Warning" if new.state in bad else "",
                         detail=new.error)
