"""Alerts: what Prometheus, Alertmanager and the team bus say is firing, grouped.

Each alert is ONE row, whichever sources report it: Prometheus fires it and sends it, with
the same label set, to Alertmanager, so the rows of one label set are merged
(:func:`~backends.signals.model.merge_alerts`) into the Alertmanager row, which shows both
sources and Alertmanager's state in words (active, silenced, inhibited). An alert naming a
pod, Deployment or node that the (fully listed, connected) cluster does not have says
"pod gone". The footer counts distinct alerts in words a reader acts on.

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

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import ClassVar, TypeVar

from textual.content import Content

from backends.model import Row
from backends.signals.model import (
    ALERT_RULES,
    ALERT_SOURCES,
    ALERTS,
    STATE_RANK,
    AlertRow,
    RuleRow,
    alert_identity,
    merge_alerts,
    primary_key,
)
from backends.store import ChangeSet, SourceHealth, Store
from backends.timefmt import bounded
from widgets.alert_cells import (
    OBJECT_KINDS,
    TALLY_ORDER,
    TALLY_WORDS,
    alert_tone,
    group_key,
    group_sort,
    object_of,
    silenced_cell,
    source_problems,
    state_word,
    tallies_of,
    target_of,
)
from widgets.formatting import DIM, PROBLEM, WARNING, age, age_changes_at
from widgets.panel import RowId, RowView
from widgets.rowmodel import Cell, Column
from widgets.virtual_panel import VirtualPanel

__all__ = ["GROUPS", "NOTES", "AlertsPanel", "group_key", "object_of", "source_problems",
           "state_word", "target_of"]

GROUPS = "alertgroups"
"""Pseudo kind of the group header rows (not in the store)."""
NOTES = "alertnotes"
"""Pseudo kind of the status note shown when there is no alert row."""
_NOTE: RowId = (NOTES, "status")

_SINCE = 1
_K = TypeVar("_K")
class AlertsPanel(VirtualPanel):
    """Firing alerts grouped by alertname and severity, with rule health and source state."""

    DEFAULT_CSS = """
    AlertsPanel.-source-down {
        border: round $error;
        border-title-color: $text-error;
    }
    """

    KINDS: ClassVar[tuple[str, ...]] = (ALERTS, ALERT_RULES, *OBJECT_KINDS)
    ROW_KINDS: ClassVar[tuple[str, ...]] = (ALERTS, ALERT_RULES)
    """Pods, Deployments and nodes only wake the alerts about them ("pod gone")."""
    TITLE: ClassVar[str] = "Alerts"
    WATCHES_HEALTH: ClassVar[bool] = True
    """The App refreshes this panel when a source's health changes, rows or not."""
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("STATE", max_width=12, priority=3, min_width=6),
        Column("SINCE", width=5, align="right", priority=2),
        Column("SEVERITY", max_width=10, priority=4, min_width=4),
        Column("ALERT", max_width=36, priority=1, min_width=14, ideal=20, cut="middle"),
        Column("SUMMARY", max_width=96, priority=1, min_width=10, ideal=31),
        Column("SOURCE", max_width=32, priority=7, min_width=6),
        Column("SILENCED/INHIBITED", max_width=40, priority=5, min_width=8),
    )
    """By priority (widgets/column_fit.py): the alert's name and summary first."""

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None, disabled: bool = False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._members: dict[str, dict[RowId, AlertRow]] = {}
        """Group key -> its alerts, as shown."""
        self._group_of: dict[RowId, str] = {}
        self._oldest: dict[str, float] = {}
        """Group key -> the oldest ``since`` of its alerts (for the header's age)."""
        self._tally: Counter[str] = Counter()
        """Footer counts (firing, silenced, object gone...): kept in :meth:`_move`, O(1)
        per change."""
        self._tallied: dict[RowId, tuple[str, ...]] = {}
        """What each shown alert added to ``_tally`` (taken back when it changes)."""
        self._by_identity: dict[tuple[tuple[str, str], ...], set[str]] = {}
        """Alert identity (label set) -> store keys of every source's row of it."""
        self._identity_of: dict[str, tuple[tuple[str, str], ...]] = {}
        self._by_object: dict[tuple[str, str], set[str]] = {}
        """(kind, key) of a pod/Deployment/node -> keys of the alerts that name it."""
        self._object_of: dict[str, tuple[str, str]] = {}
        self._merged: dict[RowId, AlertRow] = {}
        """Shown alert rows as shown: merged over the sources that report them."""
        self._gone: dict[RowId, str] = {}
        """Shown alerts whose object is gone: ``pod gone``."""
        self._listed: dict[str, frozenset[str]] = {}
        """Object kind -> namespaces fully listed and connected ("" for all)."""
        self._extra: set[RowId] = set()
        self._health: dict[str, SourceHealth] = {}
        self._problems: list[str] = []
        self._now = 0.0
        self._title_text = ""
        self._counts_text = ""
        super().apply_views({_NOTE: RowView(
            ("...", "", "", "waiting", "waiting for the alert sources to report", "", ""),
            ((-2, "", ""), 0, 0, 0.0, ""), DIM)})

    # ------------------------------------------------------------------ panel contract

    def refresh_from(self, store: Store, changes: ChangeSet, now: float) -> None:
        """Index the changed alerts by identity and object first, so the other sources'
        rows of the same alert are viewed again (one of them shows, merged)."""
        held = store.held(ALERTS)
        if changes.full:
            keys: Iterable[str] = set(held) | set(self._identity_of)
        else:
            keys = changes.upserted.get(ALERTS, frozenset()) | \
                changes.removed.get(ALERTS, frozenset())
        for key in keys:
            row = held.get(key)
            self._index(key, row if isinstance(row, AlertRow) else None)
        super().refresh_from(store, changes, now)

    def _index(self, key: str, row: AlertRow | None) -> None:
        old = self._identity_of.get(key)
        if row is not None and old is not None and old == alert_identity(row):
            # The usual change (state, staleness): same alert, same object; its partners
            # (if any) are viewed again, since the merged row carries this row's part.
            members = self._by_identity.get(old)
            if members is not None and len(members) > 1:
                self._extra.update((ALERTS, k) for k in members if k != key)
            return
        self._identity_of.pop(key, None)
        if old is not None:
            self._unlink(self._by_identity, old, key)
        obj = self._object_of.pop(key, None)
        if obj is not None:
            self._unlink(self._by_object, obj, key)
        if row is None:
            return
        new = alert_identity(row)
        self._identity_of[key] = new
        self._by_identity.setdefault(new, set()).add(key)
        if old is not None and old != new:
            self._extra.update((ALERTS, k) for k in self._by_identity.get(old, ()))
        self._extra.update((ALERTS, k) for k in self._by_identity[new] if k != key)
        ref = object_of(row.labels)
        if ref is not None:
            self._object_of[key] = (ref[0], ref[1])
            self._by_object.setdefault((ref[0], ref[1]), set()).add(key)

    def _unlink(self, index: dict[_K, set[str]], bucket: _K, key: str) -> None:
        members = index.get(bucket)
        if members is None:
            return
        members.discard(key)
        if members:
            self._extra.update((ALERTS, k) for k in members)
        else:
            del index[bucket]

    def extra_targets(self, now: float) -> Iterable[RowId]:
        extra, self._extra = self._extra, set()
        return extra

    def dependents(self, kind: str, keys: Iterable[str]) -> Iterator[RowId]:
        """The alerts that name a pod, Deployment or node that appeared or went."""
        index = self._by_object
        for key in keys:
            for alert in index.get((kind, key), ()):
                yield ALERTS, alert

    def prepare(self, store: Store, now: float) -> None:
        self._now = now
        health = store.all_health()
        self._health = {s: health[s] for s in ALERT_SOURCES if s in health}
        self._problems = source_problems(self._health)
        listed: dict[str, set[str]] = {}
        for name, h in health.items():
            kind, _, namespace = name.partition("@")
            if kind in OBJECT_KINDS and h.state == "connected" and h.last_event is not None:
                listed.setdefault(kind, set()).add(namespace)
        frozen = {kind: frozenset(spaces) for kind, spaces in listed.items()}
        if frozen != self._listed:  # what we can know changed: every named object again
            self._listed = frozen
            self._extra.update((ALERTS, key) for key in self._object_of)
        self._show_title()

    def view(self, store: Store, kind: str, row: Row, now: float) -> RowView | None:
        if isinstance(row, AlertRow):
            return self._alert_view(store, row, now)
        if isinstance(row, RuleRow):
            return self._rule_view(row, now)
        return None

    def _alert_view(self, store: Store, row: AlertRow, now: float) -> RowView | None:
        """One row per alert, whichever sources report it: the row of a source whose alert
        another source also reports is hidden, and the primary (Alertmanager's) shows both
        (:func:`~backends.signals.model.merge_alerts`)."""
        rid = (ALERTS, row.key)
        keys = self._by_identity.get(alert_identity(row), ())
        if len(keys) > 1:
            held = store.held(ALERTS)
            members = [m for k in keys if isinstance(m := held.get(k), AlertRow)]
            if primary_key(members) != rid[1]:
                self._merged.pop(rid, None)
                self._gone.pop(rid, None)
                return None
            row = merge_alerts(members)
        self._merged[rid] = row
        gone = self._gone_of(store, row)
        if gone:
            self._gone[rid] = gone
        else:
            self._gone.pop(rid, None)
        if row.stale:
            source = "+".join(row.seen_by) + " (stale)"
        else:  # one source down: its part of the row is its last known state
            source = "+".join(f"{s} (stale)" if s in row.stale_sources else s
                              for s in row.seen_by)
        summary = f"{gone} · {row.summary}" if gone else row.summary
        cells: tuple[Cell, ...] = (
            state_word(row), age(row.since, now), row.severity, "  " + target_of(row), summary,
            source, silenced_cell(row))
        since = bounded(row.since, now) if row.since else 0.0  # a future time is "now"
        sort = (group_sort(row.alertname, row.severity), 1, -STATE_RANK.get(row.state, 0),
                -since, row.key)
        return RowView(cells, sort, alert_tone(row))

    def _gone_of(self, store: Store, row: AlertRow) -> str:
        """``pod gone`` when the alert names a pod (Deployment, node) that the cluster,
        fully listed and connected, does not have; "" when it exists or we cannot know."""
        ref = object_of(row.labels)
        if ref is None:
            return ""
        kind, key, ns, word = ref
        listed = self._listed.get(kind, frozenset())
        if "" not in listed and ns not in listed:  # "": listed in every namespace
            return ""
        return "" if key in store.held(kind) else f"{word} gone"

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
        if row is not None:
            row = self._merged.get(rid, row)
        new = group_key(row) if row is not None else None
        counted = self._tallied.pop(rid, ())
        self._tally.subtract(counted)
        if old is not None:
            members = self._members.get(old)
            if members is not None and old != new:
                members.pop(rid, None)
            dirty.add(old)
        if row is None or new is None:
            self._group_of.pop(rid, None)
            self._merged.pop(rid, None)
            self._gone.pop(rid, None)
            return
        self._group_of[rid] = new
        self._members.setdefault(new, {})[rid] = row
        tallies = tallies_of(row, self._gone.get(rid, ""))
        self._tallied[rid] = tallies
        self._tally.update(tallies)
        dirty.add(new)

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
        sources = ",".join(sorted({s for a in alerts for s in a.seen_by}))
        silenced = sum(1 for a in alerts if a.silenced_by)
        inhibited = sum(1 for a in alerts if a.inhibited_by)
        muted = ", ".join(p for p in (f"{silenced} silenced" if silenced else "",
                                      f"{inhibited} inhibited" if inhibited else "") if p)
        stale = sum(1 for a in alerts if a.stale)
        if stale:
            sources += f" ({stale} stale)"
        cells: tuple[Cell, ...] = (
            state_word(worst), age(oldest, self._now), first.severity,
            f"{first.alertname} ({len(alerts)})", worst.summary, sources, muted)
        tone = DIM if stale == len(alerts) else alert_tone(worst)
        return RowView(cells, (group_sort(first.alertname, first.severity), 0, 0, 0.0, ""),
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
        row = self._merged.get(rid) or self._rows.get(rid)
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
        """Words a reader can act on: ``4 alerts · 3 firing (1 critical) · 1 silenced ·
        1 object gone · 1 rule failing``. Each alert counts once, whichever sources report it; "firing"
        excludes silenced ones (they are someone's already), "stale" are from a source that
        is unreachable, "object gone" name a pod, Deployment or node that no longer exists.
        The red title (``-problems``) still means a critical alert firing or a rule failing.
        """
        total = len(self._group_of)
        parts = [f"{total} alert{'s' if total != 1 else ''}"]
        for name in TALLY_ORDER:
            n = self._tally.get(name, 0)
            if n > 0:
                parts.append(f"{n} {TALLY_WORDS.get(name, name)}")
                critical = self._tally.get("critical", 0)
                if name == "firing" and critical > 0:
                    parts[-1] += f" ({critical} critical)"
        rules = sum(1 for kind, _ in self._failing if kind == ALERT_RULES)
        if rules:
            parts.append(f"{rules} rule{'s' if rules != 1 else ''} failing")
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        self.set_class(bool(self._failing), "-problems")
        text = " · ".join(parts)
        if text != self._counts_text:
            self._counts_text = text
            self.border_subtitle = Content(text)
