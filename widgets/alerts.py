"""Alerts: what Prometheus, Alertmanager and the team bus say is firing, grouped.

Grouped by alertname and severity: a group header row (count, worst state, oldest since,
sources, how many are silenced) above its alerts, most severe groups first, so 300
PodCrashLooping alerts of one bad rollout read as one line with a count, not a wall. Failing
alerting rules (``health`` not ok, ``lastError``) are listed at the top: a rule that errors
never fires, which would otherwise look like a quiet platform.

An empty panel must never look like "all clear" when it is not (the issue's hard rule):

- rows of a source that is unreachable are kept (the source flags them ``stale``) and dimmed;
- the border title names each alert source that is not healthy ("prometheus unreachable
  since 14:02:11"), read from the store's source health;
- with no alert rows at all, a note row says why: "no alerts firing" only when every alert
  source that reported is connected; otherwise which source is down and since when, or that
  no alert source is configured.

Group headers and the note are rows of their own pseudo kinds (``alertgroups``,
``alertnotes``); they are not in the store, so the App's detail and actions ask
:meth:`AlertsPanel.alerts_of` for the alerts behind a selected row.

Cost: only changed alerts are re-viewed (the :class:`~widgets.panel.Panel` contract), and
only the groups they belong to are summed again, so a tick with a few changes among 2,000
alerts touches a few rows (bench/bench_alerts.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import ClassVar

from textual.content import Content

from backends.model import Row
from backends.signals.model import ALERT_RULES, ALERT_SOURCES, ALERTS, STATE_RANK, AlertRow, RuleRow
from backends.store import SourceHealth, Store
from widgets.formatting import DIM, PROBLEM, WARNING, age, age_changes_at
from widgets.panel import RowId, RowView
from widgets.rowmodel import Cell, Column
from widgets.virtual_panel import VirtualPanel

__all__ = ["GROUPS", "NOTES", "AlertsPanel", "group_key", "source_problems", "target_of"]

GROUPS = "alertgroups"
"""Pseudo kind of the group header rows (not in the store)."""
NOTES = "alertnotes"
"""Pseudo kind of the status note shown when there is no alert row."""
_NOTE: RowId = (NOTES, "status")

_SINCE = 1
_SEVERITY_RANK = {"critical": 0, "page": 0, "error": 0, "high": 0, "warning": 1,
                  "warn": 1, "medium": 1, "info": 2, "low": 2, "none": 3}
_TARGET_LABELS = ("namespace", "deployment", "statefulset", "daemonset", "pod", "container",
                  "node", "service", "httproute", "route", "gateway", "application",
                  "instance")
_HIDDEN_LABELS = frozenset({"alertname", "severity"})
_ALERTING = frozenset({"firing", "active", "unprocessed"})


def group_key(row: AlertRow) -> str:
    """``alertname`` and ``severity`` joined by a unit separator (``clean`` removed every
    control character from both, so the key is unambiguous)."""
    return f"{row.alertname}\x1f{row.severity}"


def _group_sort(alertname: str, severity: str) -> tuple[int, str, str]:
    return (_SEVERITY_RANK.get(severity.lower(), 3), alertname, severity)


def target_of(row: AlertRow) -> str:
    """What the alert is about, short: ``shop/web-7c9f`` (namespace/pod), ``node-3``; the
    other labels ``k=v`` when it has none of the usual ones."""
    return _target(row.labels)


@lru_cache(maxsize=16384)
def _target(labels: tuple[tuple[str, str], ...]) -> str:
    """Cached by label set: an alert keeps its labels for life (they are its identity), so
    every poll after the first finds its target here (bench/bench_alerts.py)."""
    have = dict(labels)
    parts = [have[name] for name in _TARGET_LABELS if have.get(name)]
    if len(parts) > 1 and "instance" in have and have["instance"] == parts[-1]:
        parts.pop()  # the scrape target adds nothing when the object is named
    if parts:
        return "/".join(parts)
    return ",".join(f"{k}={v}" for k, v in labels if k not in _HIDDEN_LABELS)


def _silenced_cell(row: AlertRow) -> str:
    parts = []
    if row.silenced_by:
        extra = f" +{len(row.silenced_by) - 1}" if len(row.silenced_by) > 1 else ""
        parts.append(f"silenced by {row.silenced_by[0][:8]}{extra}")
    if row.inhibited_by:
        extra = f" +{len(row.inhibited_by) - 1}" if len(row.inhibited_by) > 1 else ""
        parts.append(f"inhibited by {row.inhibited_by[0][:8]}{extra}")
    return ", ".join(parts)


def _tone(row: AlertRow) -> str | None:
    if row.stale or row.state in ("suppressed", "resolved"):
        return DIM
    if row.state in _ALERTING and _SEVERITY_RANK.get(row.severity.lower(), 3) == 0:
        return PROBLEM
    return WARNING


def _clock_time(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


def source_problems(health: Mapping[str, SourceHealth]) -> list[str]:
    """``prometheus unreachable since 14:02:11`` for each alert source that is not
    connected (sources that never reported are not configured and not listed)."""
    out = []
    for source in ALERT_SOURCES:
        h = health.get(source)
        if h is None or h.state == "connected":
            continue
        if h.state == "connecting":
            out.append(f"{source} connecting since {_clock_time(h.since)}")
        elif h.state == "stale" or "unreachable" in h.error.lower():
            out.append(f"{source} unreachable since {_clock_time(h.since)}")
        else:
            out.append(f"{source} failing since {_clock_time(h.since)}")
    return out


class AlertsPanel(VirtualPanel):
    """Firing alerts grouped by alertname and severity, with rule health and source state."""

    DEFAULT_CSS = """
    AlertsPanel.-source-down {
        border: round $error;
        border-title-color: $text-error;
    }
    """

    KINDS: ClassVar[tuple[str, ...]] = (ALERTS, ALERT_RULES)
    TITLE: ClassVar[str] = "Alerts"
    WATCHES_HEALTH: ClassVar[bool] = True
    """The App refreshes this panel when a source's health changes, rows or not."""
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("STATE", max_width=12),
        Column("SINCE", width=5, align="right"),
        Column("SEVERITY", max_width=10),
        Column("ALERT", max_width=36),
        Column("SUMMARY", max_width=96),
        Column("SOURCE", max_width=24),
        Column("SILENCED/INHIBITED", max_width=40),
    )

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None, disabled: bool = False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._members: dict[str, dict[RowId, AlertRow]] = {}
        """Group key -> its alerts, as shown."""
        self._group_of: dict[RowId, str] = {}
        self._oldest: dict[str, float] = {}
        """Group key -> the oldest ``since`` of its alerts (for the header's age)."""
        self._alerting = 0
        """Alerts shown that fire now (not stale): kept in :meth:`_move`, O(1) per change."""
        self._silenced = 0
        self._health: dict[str, SourceHealth] = {}
        self._problems: list[str] = []
        self._now = 0.0
        self._title_text = ""
        self._counts_text = ""
        super().apply_views({_NOTE: RowView(
            ("...", "", "", "waiting", "waiting for the alert sources to report", "", ""),
            ((-2, "", ""), 0, 0, 0.0, ""), DIM)})

    # ------------------------------------------------------------------ panel contract

    def prepare(self, store: Store, now: float) -> None:
        self._now = now
        health = store.all_health()
        self._health = {s: health[s] for s in ALERT_SOURCES if s in health}
        self._problems = source_problems(self._health)
        self._show_title()

    def view(self, store: Store, kind: str, row: Row, now: float) -> RowView | None:
        if isinstance(row, AlertRow):
            return self._alert_view(row, now)
        if isinstance(row, RuleRow):
            return self._rule_view(row, now)
        return None

    def _alert_view(self, row: AlertRow, now: float) -> RowView:
        source = f"{row.source} (stale)" if row.stale else row.source
        cells: tuple[Cell, ...] = (
            row.state, age(row.since, now), row.severity, "  " + target_of(row), row.summary,
            source, _silenced_cell(row))
        sort = (_group_sort(row.alertname, row.severity), 1, -STATE_RANK.get(row.state, 0),
                -(row.since or 0.0), row.key)
        return RowView(cells, sort, _tone(row))

    def _rule_view(self, row: RuleRow, now: float) -> RowView | None:
        if row.health == "ok" and not row.last_error:
            return None
        bad = row.health == "err" or bool(row.last_error)
        source = f"{row.source} (stale)" if row.stale else row.source
        text = row.last_error or ("not evaluated yet" if row.health == "unknown" else
                                  f"rule health {row.health or '?'}")
        cells: tuple[Cell, ...] = (
            f"rule {row.health or '?'}", age(row.last_evaluation, now), row.severity,
            f"rule {row.name} ({row.group})", text, source, "")
        tone = DIM if row.stale or not bad else PROBLEM
        return RowView(cells, ((-1, "", ""), 1, 0, 0.0, row.key), tone)

    def timed_cells(self, kind: str, row: Row, now: float) -> dict[int, Cell]:
        if isinstance(row, AlertRow):
            return {_SINCE: age(row.since, now)}
        return {}

    def timed_due(self, kind: str, row: Row, now: float) -> float | None:
        return age_changes_at(row.since, now) if isinstance(row, AlertRow) else None

    def apply_views(self, updates: dict[RowId, RowView | None], *, resort: bool = True) -> None:
        """Also keep the group headers of touched groups and the status note right."""
        if not resort:  # an age tick: no membership change, group ages follow below
            super().apply_views(updates, resort=resort)
            return
        dirty: set[str] = set()
        for rid, view in updates.items():
            if rid[0] != ALERTS:
                continue
            row = self._rows.get(rid) if view is not None else None
            self._move(rid, row if isinstance(row, AlertRow) else None, dirty)
        out = dict(updates)
        for group in dirty:
            out[(GROUPS, group)] = self._header_view(group)
        note = self._note_view()
        if note != self._views.get(_NOTE):
            out[_NOTE] = note
        super().apply_views(out, resort=resort)

    def _timed_cells_of(self, table_key: str, now: float) -> Mapping[int, Cell]:
        """Ages at draw time (the VirtualPanel way), group headers included: their "oldest
        since" is kept per group when the group changes, so drawing one costs O(1)."""
        rid = self.row_id(table_key)
        if rid[0] == GROUPS:
            oldest = self._oldest.get(rid[1])
            return {_SINCE: age(oldest, now)} if oldest is not None else {}
        return super()._timed_cells_of(table_key, now)

    # ------------------------------------------------------------------ groups

    def _move(self, rid: RowId, row: AlertRow | None, dirty: set[str]) -> None:
        old = self._group_of.get(rid)
        new = group_key(row) if row is not None else None
        if old is not None:
            members = self._members.get(old)
            held = members.get(rid) if members is not None else None
            if held is not None:
                self._count(held, -1)
            if members is not None and old != new:
                members.pop(rid, None)
            dirty.add(old)
        if row is None or new is None:
            self._group_of.pop(rid, None)
            return
        self._group_of[rid] = new
        self._members.setdefault(new, {})[rid] = row
        self._count(row, 1)
        dirty.add(new)

    def _count(self, row: AlertRow, sign: int) -> None:
        if row.state in _ALERTING and not row.stale:
            self._alerting += sign
        if row.silenced_by or row.state == "suppressed":
            self._silenced += sign

    def _header_view(self, group: str) -> RowView | None:
        members = self._members.get(group)
        if not members:
            self._members.pop(group, None)
            self._oldest.pop(group, None)
            return None
        alerts = list(members.values())
        first = alerts[0]
        live = [a for a in alerts if not a.stale] or alerts
        worst = max(live, key=lambda a: (STATE_RANK.get(a.state, 0), -(a.since or 0.0)))
        oldest = min((a.since for a in alerts if a.since), default=None)
        if oldest is None:
            self._oldest.pop(group, None)
        else:
            self._oldest[group] = oldest
        sources = ",".join(sorted({a.source for a in alerts}))
        silenced = sum(1 for a in alerts if a.silenced_by)
        inhibited = sum(1 for a in alerts if a.inhibited_by)
        muted = ", ".join(p for p in (f"{silenced} silenced" if silenced else "",
                                      f"{inhibited} inhibited" if inhibited else "") if p)
        stale = sum(1 for a in alerts if a.stale)
        if stale:
            sources += f" ({stale} stale)"
        cells: tuple[Cell, ...] = (
            worst.state, age(oldest, self._now), first.severity,
            f"{first.alertname} ({len(alerts)})", worst.summary, sources, muted)
        tone = DIM if stale == len(alerts) else _tone(worst)
        return RowView(cells, (_group_sort(first.alertname, first.severity), 0, 0, 0.0, ""),
                       tone)

    def _note_view(self) -> RowView | None:
        """The status line shown when no alert row is held (None otherwise)."""
        if self._group_of:
            return None
        sort = ((-2, "", ""), 0, 0, 0.0, "")
        if self._problems:
            text = "; ".join(self._problems) + ": alerts UNKNOWN, this is not all clear"
            return RowView(("unknown", "", "", "no alert data", text, "", ""), sort, PROBLEM)
        if not self._health:
            return RowView(("off", "", "", "no alert source",
                            "no alert source configured ([prometheus] / [alertmanager] url):"
                            " alerts are not watched", "", ""), sort, DIM)
        sources = ", ".join(sorted(self._health))
        broken = sum(1 for kind, _ in self._views if kind == ALERT_RULES)
        if broken:  # a rule that cannot be evaluated cannot fire: not a clean "all clear"
            return RowView(("ok?", "", "", "no alerts firing",
                            f"but {broken} alert rule(s) not evaluated or failing (listed "
                            f"above); {sources} connected", "", ""), sort, WARNING)
        return RowView(("ok", "", "", "no alerts firing", f"{sources} connected", "", ""),
                       sort, None)

    # ------------------------------------------------------------------ queries

    def alerts_of(self, rid: RowId | None) -> list[AlertRow]:
        """The alerts behind a row: itself, or every alert of a group header."""
        if rid is None:
            return []
        if rid[0] == GROUPS:
            return list(self._members.get(rid[1], {}).values())
        row = self._rows.get(rid)
        return [row] if isinstance(row, AlertRow) else []

    def selected_alerts(self) -> list[AlertRow]:
        """The alerts behind the row under the cursor (a group: all of its alerts)."""
        return self.alerts_of(self.selected_row)

    @property
    def source_status(self) -> list[str]:
        """What the title says about unhealthy alert sources (empty: all healthy)."""
        return list(self._problems)

    def groups(self) -> Iterable[str]:
        """Group keys shown (tests, tools)."""
        return list(self._members)

    # ------------------------------------------------------------------ chrome

    def _show_title(self) -> None:
        text = "; ".join(self._problems)
        if text == self._title_text:
            return
        self._title_text = text
        self.set_class(bool(text), "-source-down")
        if text:
            self.border_title = Content.assemble(self.TITLE, " ", (text, "$text-error"))
        else:
            self.border_title = Content(self.TITLE)

    def _show_counts(self) -> None:
        """"12 alerts  5 firing  3 silenced" instead of the base's row counts (headers and
        the note are not alerts)."""
        total, alerting, silenced = len(self._group_of), self._alerting, self._silenced
        parts = [f"{total} alert{'s' if total != 1 else ''}"]
        if alerting:
            parts.append(f"{alerting} firing")
        if silenced:
            parts.append(f"{silenced} silenced")
        if self._failing:
            parts.append(f"{len(self._failing)} failing")
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        self.set_class(bool(self._failing), "-problems")
        text = "  ".join(parts)
        if text != self._counts_text:
            self._counts_text = text
            self.border_subtitle = Content(text)
