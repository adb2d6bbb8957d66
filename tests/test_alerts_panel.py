"""The alerts panel: groups, rule health, and never an empty panel that passes for "all clear".

Fed like the App feeds it (the store's change set, health changes included), then read back
from its table. The real-server version is tests/test_app_alerts.py.
"""

from __future__ import annotations

import time
from typing import Any

from backends.signals.model import ALERT_RULES, ALERTS, AlertRow, RuleRow, mark_stale
from backends.store import Store
from tests.test_widgets_rows import HOSTILE, NOW, PanelApp
from widgets.alerts import GROUPS, NOTES, AlertsPanel, source_problems, target_of
from widgets.formatting import DIM, PROBLEM, WARNING, plain


class Feed:
    """A store and the App's hand-over, including the wake-up on health changes."""

    def __init__(self) -> None:
        self.now = NOW
        self.store = Store(clock=lambda: self.now)
        self.seen = 0

    def tick(self, panel: AlertsPanel) -> None:
        changes = self.store.changes_since(self.seen)
        self.seen = changes.version
        touched = set(changes.upserted) | set(changes.removed)
        if changes.full or touched.intersection(panel.KINDS) or (
                changes.health and panel.WATCHES_HEALTH):
            panel.refresh_from(self.store, changes, self.now)

    def healthy(self, *sources: str) -> Feed:
        for source in sources:
            self.store.set_health(source, "connected")
        return self

    def put(self, *rows: AlertRow | RuleRow) -> Feed:
        for row in rows:
            kind = ALERTS if isinstance(row, AlertRow) else ALERT_RULES
            self.store.apply(kind, [("MODIFIED", row)])
        return self


def alert(name: str, pod: str, *, source: str = "prometheus", severity: str = "warning",
          state: str = "firing", since: float = NOW - 300, **kw: Any) -> AlertRow:
    labels = (("alertname", name), ("namespace", "shop"), ("pod", pod),
              ("severity", severity))
    return AlertRow(key=f"{source}/{name}-{pod}", source=source,  # type: ignore[arg-type]
                    alertname=name, severity=severity, state=state,  # type: ignore[arg-type]
                    since=since, labels=labels, summary=f"{pod} is bad", **kw)


def rows(panel: AlertsPanel) -> list[tuple[str, str, list[str], str | None]]:
    """(kind, key, cells, tone) of every shown row, in display order."""
    out = []
    for kind, key in panel.visible_rows():
        cells = panel.table.get_cells(panel.table_key((kind, key)))
        assert cells is not None
        out.append((kind, key, [plain(c) for c in cells],
                    panel.table.get_tone(panel.table_key((kind, key)))))
    return out


def test_grouped_by_name_and_severity_worst_first() -> None:
    feed = Feed().healthy("prometheus", "alertmanager")
    panel = AlertsPanel()
    feed.put(alert("PodCrashLooping", "web-1"), alert("PodCrashLooping", "web-2"),
             alert("PodCrashLooping", "web-3", source="alertmanager", state="suppressed",
                   silenced_by=("0123456789abcdef",)),
             alert("DeploymentReplicasMismatch", "web", severity="critical", since=NOW - 30),
             alert("PodCrashLooping", "db-1", severity="critical", state="pending"))
    feed.tick(panel)
    shown = rows(panel)
    headers = [(key, cells) for kind, key, cells, _ in shown if kind == GROUPS]
    # critical groups before warning ones; within a severity by name
    assert [cells[3] for _, cells in headers] == [
        "DeploymentReplicasMismatch (1)", "PodCrashLooping (1)", "PodCrashLooping (3)"]
    crash = next(cells for _, cells in headers if cells[3] == "PodCrashLooping (3)")
    assert crash[0] == "firing"  # worst state of the group
    assert crash[1] == "5m"  # oldest since
    assert crash[5] == "alertmanager,prometheus"
    assert crash[6] == "1 silenced"
    # members follow their header, firing before suppressed
    keys = [key for _, key, _, _ in shown]
    header_at = keys.index("PodCrashLooping\x1fwarning")
    members = keys[header_at + 1: header_at + 4]
    assert members[-1] == "alertmanager/PodCrashLooping-web-3"
    silenced = next(c for k, key, c, _ in shown if key == "alertmanager/PodCrashLooping-web-3")
    assert silenced[6] == "silenced by 01234567"
    tones = {key: tone for _, key, _, tone in shown}
    assert tones["prometheus/DeploymentReplicasMismatch-web"] == PROBLEM
    assert tones["prometheus/PodCrashLooping-web-1"] == WARNING
    assert tones["alertmanager/PodCrashLooping-web-3"] == DIM
    # every footer word means something to act on (issue 13: "N failing" meant nothing)
    assert str(panel.border_subtitle) == \
        "5 alerts · 3 firing (1 critical) · 1 pending · 1 silenced"
    assert panel.has_class("-problems")
    assert not any(kind == NOTES for kind, _, _, _ in shown)
    # the alerts behind a group header are what the silence action acts on
    group = panel.alerts_of((GROUPS, "PodCrashLooping\x1fwarning"))
    assert sorted(a.label("pod") for a in group) == ["web-1", "web-2", "web-3"]


def test_groups_follow_changes_and_vanish() -> None:
    feed = Feed().healthy("prometheus")
    panel = AlertsPanel()
    a1, a2 = alert("X", "p1"), alert("X", "p2")
    feed.put(a1, a2)
    feed.tick(panel)
    assert panel.cells_of("X\x1fwarning", GROUPS)[3] == "X (2)"
    # escalation moves an alert to the critical group
    feed.put(AlertRow(**{**_fields(a2), "severity": "critical"}))
    feed.tick(panel)
    assert panel.cells_of("X\x1fwarning", GROUPS)[3] == "X (1)"
    assert panel.cells_of("X\x1fcritical", GROUPS)[3] == "X (1)"
    feed.store.replace(ALERTS, [])
    feed.tick(panel)
    assert [kind for kind, _, _, _ in rows(panel)] == [NOTES]
    assert list(panel.groups()) == []


def test_rule_health_problems_are_shown_on_top() -> None:
    feed = Feed().healthy("prometheus")
    panel = AlertsPanel()
    feed.put(alert("A", "p"),
             RuleRow(key="prometheus/f:g:Good", group="g", name="Good", health="ok"),
             RuleRow(key="prometheus/f:g:Bad", group="g", name="Bad", health="err",
                     last_error="many-to-many matching not allowed", last_evaluation=NOW - 2),
             RuleRow(key="prometheus/f:g:New", group="g", name="New", health="unknown"))
    feed.tick(panel)
    shown = rows(panel)
    assert [key for _, key, _, _ in shown][:2] == ["prometheus/f:g:Bad", "prometheus/f:g:New"]
    bad = shown[0]
    assert bad[2][0] == "rule err" and "many-to-many" in bad[2][4] and bad[3] == PROBLEM
    assert shown[1][2][4] == "not evaluated yet" and shown[1][3] == DIM
    assert all(key != "prometheus/f:g:Good" for _, key, _, _ in shown)
    # without alerts, the note does not pass for a clean all clear while rules fail
    feed.store.apply(ALERTS, [("DELETED", alert("A", "p"))])
    feed.tick(panel)
    note = next(cells for kind, _, cells, _ in rows(panel) if kind == NOTES)
    assert note[3] == "no alerts firing" and "2 alert rule(s) not evaluated or failing" \
        in note[4]


def test_unreachable_source_dims_its_alerts_and_says_since_when() -> None:
    feed = Feed().healthy("prometheus", "alertmanager")
    panel = AlertsPanel()
    feed.put(alert("A", "p1"), alert("A", "p2", source="alertmanager", state="active"))
    feed.tick(panel)
    assert str(panel.border_title) == "Alerts" and not panel.has_class("-source-down")
    feed.now = NOW + 10
    feed.store.set_health("prometheus", "stale", "unreachable: connection refused")
    mark_stale(feed.store, ALERTS, "prometheus")
    feed.tick(panel)
    since = time.strftime("%H:%M:%S", time.localtime(NOW + 10))
    assert f"prometheus unreachable since {since}" in str(panel.border_title)
    assert panel.has_class("-source-down")
    tones = {key: (cells, tone) for _, key, cells, tone in rows(panel)}
    cells, tone = tones["prometheus/A-p1"]
    assert tone == DIM and cells[5] == "prometheus (stale)"
    assert tones["alertmanager/A-p2"][1] == WARNING  # the healthy source's rows are not dimmed
    assert panel.cells_of("A\x1fwarning", GROUPS)[5] == "alertmanager,prometheus (1 stale)"
    # recovery: fresh rows, title back to plain
    feed.store.set_health("prometheus", "connected")
    feed.put(alert("A", "p1"))
    feed.tick(panel)
    assert str(panel.border_title) == "Alerts"
    assert dict((k, t) for _, k, _, t in rows(panel))["prometheus/A-p1"] == WARNING


def test_empty_panel_says_all_clear_only_when_every_source_is_healthy() -> None:
    feed = Feed()
    panel = AlertsPanel()
    assert plain(rows(panel)[0][2][4]).startswith("waiting")  # before the first refresh
    feed.store.set_health("pods", "connected")  # a kube source: not an alert source
    feed.tick(panel)
    note = rows(panel)
    assert len(note) == 1 and "no alert source configured" in note[0][2][4]
    feed.healthy("prometheus", "alertmanager")
    feed.tick(panel)
    note = rows(panel)
    assert note[0][2][3] == "no alerts firing" and note[0][3] is None
    assert "alertmanager, prometheus connected" in note[0][2][4]
    # one source down: never "no alerts firing"
    feed.store.set_health("alertmanager", "error", "unreachable: connect timeout")
    feed.tick(panel)
    note = rows(panel)
    assert len(note) == 1
    assert note[0][2][3] == "no alert data" and note[0][3] == PROBLEM
    assert "alertmanager unreachable since" in note[0][2][4]
    assert "not all clear" in note[0][2][4]
    assert "no alerts firing" not in " ".join(note[0][2])
    # still connecting is not all clear either
    feed.store.set_health("alertmanager", "connecting")
    feed.tick(panel)
    assert "alertmanager connecting since" in rows(panel)[0][2][4]
    # an alert arriving replaces the note
    feed.healthy("alertmanager").put(alert("A", "p"))
    feed.tick(panel)
    assert all(kind != NOTES for kind, _, _, _ in rows(panel))


def test_team_bus_down_counts_too() -> None:
    problems = source_problems({"mqtt": _health("error", "unreachable since 10:00:00: x"),
                                "pods": _health("stale", "gone")})
    assert len(problems) == 1 and problems[0].startswith("mqtt unreachable since")
    bad_answer = source_problems({"prometheus": _health("error", "bad answer: x")})
    assert bad_answer[0].startswith("prometheus failing since")


def test_targets_are_short_and_named() -> None:
    assert target_of(alert("A", "web-1")) == "shop/web-1"
    row = AlertRow(key="k", source="prometheus", alertname="Odd",
                   labels=(("alertname", "Odd"), ("severity", "x"), ("team", "a")))
    assert target_of(row) == "team=a"
    node = AlertRow(key="k", source="prometheus", alertname="NodeNotReady",
                    labels=(("alertname", "NodeNotReady"), ("instance", "10.0.0.1:9100"),
                            ("node", "aks-1")))
    assert target_of(node) == "aks-1"


def test_ages_move_for_members_and_headers() -> None:
    feed = Feed().healthy("prometheus")
    panel = AlertsPanel()
    feed.put(alert("A", "p", since=NOW - 30))
    feed.tick(panel)
    assert panel.cells_of("prometheus/A-p")[1] == "30s"
    panel.refresh_ages(NOW + 100)
    assert panel.cells_of("prometheus/A-p")[1] == "2m"
    assert panel.cells_of("A\x1fwarning", GROUPS)[1] == "2m"


async def test_hostile_text_renders_literally_and_nothing_crashes() -> None:
    feed = Feed().healthy("prometheus")
    panel = AlertsPanel()
    feed.put(*(AlertRow(key=f"prometheus/{i}", source="prometheus", alertname=text,
                        severity="critical", summary=text, labels=(("alertname", text),
                                                                   ("pod", text)))
               for i, text in enumerate(HOSTILE)))
    app = PanelApp(panel)
    async with app.run_test(size=(200, 20)) as pilot:
        feed.tick(panel)
        panel.focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        drawn = "\n".join(panel.table.render_line(y).text for y in range(8))
        for text in HOSTILE:
            assert text in drawn
        assert app.is_running and len(app.activated) == 1


def _fields(row: AlertRow) -> dict[str, Any]:
    return {f: getattr(row, f) for f in row.__struct_fields__}


def _health(state: str, error: str) -> Any:
    from backends.store import SourceHealth

    return SourceHealth(state=state, since=NOW, error=error)  # type: ignore[arg-type]


# ------------------------------------------------------------------ issue 13 point 5


def test_the_same_alert_from_prometheus_and_alertmanager_is_one_row() -> None:
    """One crash-looping pod reads "PodCrashLooping (1)", one row showing both sources and
    Alertmanager's state; the group and the footer count distinct alerts."""
    feed = Feed().healthy("prometheus", "alertmanager")
    panel = AlertsPanel()
    prom = alert("PodCrashLooping", "web-1", value="1e+00")
    feed.put(prom)
    feed.tick(panel)
    assert panel.cells_of("PodCrashLooping\x1fwarning", GROUPS)[3] == "PodCrashLooping (1)"
    am = alert("PodCrashLooping", "web-1", source="alertmanager", state="active",
               fingerprint="f00d", receivers=("oncall",))
    feed.put(am)
    feed.tick(panel)
    shown = rows(panel)
    alerts = [(key, cells) for kind, key, cells, _ in shown if kind == ALERTS]
    assert [key for key, _ in alerts] == [am.key]  # Prometheus's row is merged into it
    cells = alerts[0][1]
    assert cells[0] == "active" and cells[5] == "prometheus+alertmanager"
    assert panel.cells_of("PodCrashLooping\x1fwarning", GROUPS)[3] == "PodCrashLooping (1)"
    assert panel.cells_of("PodCrashLooping\x1fwarning", GROUPS)[5] == "alertmanager,prometheus"
    assert str(panel.border_subtitle) == "1 alert · 1 firing"
    merged = panel.alerts_of((ALERTS, am.key))
    assert len(merged) == 1 and merged[0].seen_by == ("prometheus", "alertmanager")
    assert merged[0].value == "1e+00" and merged[0].receivers == ("oncall",)
    # silenced in Alertmanager: the one row says so
    feed.put(AlertRow(**{**_fields(am), "state": "suppressed",
                         "silenced_by": ("0123456789abcdef",)}))
    feed.tick(panel)
    assert panel.cells_of(am.key, ALERTS)[0] == "silenced"
    assert str(panel.border_subtitle) == "1 alert · 1 silenced"
    # Alertmanager forgets it: Prometheus's row shows again, alone
    feed.store.apply(ALERTS, [("DELETED", am)])
    feed.tick(panel)
    assert [key for kind, key, _, _ in rows(panel) if kind == ALERTS] == [prom.key]
    assert panel.cells_of(prom.key, ALERTS)[5] == "prometheus"


def test_an_alert_about_a_pod_that_is_gone_is_marked() -> None:
    from backends.model import PodRow

    feed = Feed().healthy("prometheus")
    panel = AlertsPanel()
    feed.put(alert("PodCrashLooping", "web-1"), alert("PodCrashLooping", "web-2"))
    feed.tick(panel)
    # pods not listed yet: nobody can say the pod is gone
    assert not panel.cells_of("prometheus/PodCrashLooping-web-1", ALERTS)[4].startswith("pod")
    live = PodRow(key="shop/web-2", namespace="shop", name="web-2")
    feed.store.apply("pods", [("ADDED", live)])
    feed.store.set_health("pods", "connected")
    feed.store.note_event("pods")
    feed.tick(panel)
    assert panel.cells_of("prometheus/PodCrashLooping-web-1", ALERTS)[4] == \
        "pod gone · web-1 is bad"
    assert panel.cells_of("prometheus/PodCrashLooping-web-2", ALERTS)[4] == "web-2 is bad"
    assert str(panel.border_subtitle) == "2 alerts · 2 firing · 1 object gone"
    # the pod comes back (same name): the mark goes
    feed.store.apply("pods", [("ADDED", PodRow(key="shop/web-1", namespace="shop",
                                               name="web-1"))])
    feed.tick(panel)
    assert panel.cells_of("prometheus/PodCrashLooping-web-1", ALERTS)[4] == "web-1 is bad"
    assert str(panel.border_subtitle) == "2 alerts · 2 firing"
    # the pods source down: not known any more, so not claimed
    feed.store.apply("pods", [("DELETED", live)])
    feed.store.set_health("pods", "stale", "unreachable")
    feed.tick(panel)
    assert panel.cells_of("prometheus/PodCrashLooping-web-2", ALERTS)[4] == "web-2 is bad"


def test_an_alert_dated_in_the_future_says_skew_and_is_not_the_oldest() -> None:
    """Issue 13 point 13 for alert sources: a skewed ``activeAt`` reads "skew", not 0s,
    and the group's "oldest since" stays the real one."""
    feed = Feed().healthy("prometheus")
    panel = AlertsPanel()
    feed.put(alert("X", "p1", since=253402300799.0), alert("X", "p2", since=NOW - 600))
    feed.tick(panel)
    assert panel.cells_of("prometheus/X-p1", ALERTS)[1] == "skew"
    group = panel.table.get_cells(panel.table_key((GROUPS, "X\x1fwarning")))
    assert group is not None and plain(group[1]) == "10m"
