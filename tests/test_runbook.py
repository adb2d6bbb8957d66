"""The runbook: the strategy's checklists word for word, automatic items judged on evidence,
ticks by the operator, and the screen in the real App on the drill cluster."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from backends.baseline.runbook import (
    AUTO_ALERTS_QUIET,
    AUTO_BASELINE,
    AUTO_ENDPOINTS,
    AUTO_STAGING,
    AUTO_VALIDATION,
    Checklist,
    ChecklistError,
    Facts,
    default_checklist,
    evaluate,
    facts_from_store,
    iso,
    tick,
    untick,
)
from backends.ops.gate import current_operator
from backends.signals.bus_schema import PIPELINE, PipelineRow
from backends.signals.health import ENDPOINTS, EndpointRow
from backends.signals.model import ALERTS, AlertRow
from backends.store import Store
from drill.runner import DrillCluster
from tests.test_app import make_app, until
from tui.runbook_screen import RunbookScreen

#: The update strategy the runbook quotes, copied into the repository.
STRATEGY = Path(__file__).resolve().parent.parent / "docs" / "update-strategy.md"
EXPECTED = {
    "before": ["Review change impact analysis", "Verify staging environment health",
               "Create pre-update backup", "Notify stakeholders of maintenance window",
               "Prepare rollback plan"],
    "during": ["Monitor deployment progress", "Watch for alerts and anomalies",
               "Validate each phase before proceeding",
               "Maintain communication with stakeholders",
               "Be ready to execute rollback if needed"],
    "after": ["Verify all services are healthy", "Run post-deployment validation tests",
              "Monitor for 24-48 hours", "Document any issues encountered",
              "Update procedures based on lessons learned"],
}
NOW = 1_800_000_000.0


def manual_texts(checklist: Checklist, phase: str) -> list[str]:
    return [i.text for i in checklist.items if i.phase == phase and i.id not in
            (AUTO_BASELINE, AUTO_STAGING, AUTO_VALIDATION, AUTO_ALERTS_QUIET, AUTO_ENDPOINTS)]


def strategy_sections() -> dict[str, list[str]]:
    """The three checklists as the strategy document writes them."""
    text = STRATEGY.read_text()
    out: dict[str, list[str]] = {}
    for phase, title in (("before", "Before Each Update"), ("during", "During Update"),
                         ("after", "After Update")):
        block = text.split(f"### {title}\n", 1)[1].split("\n\n", 1)[0]
        out[phase] = re.findall(r"^- \[ \] (.+)$", block, flags=re.M)
    return out


def test_default_items_are_the_strategy_word_for_word() -> None:
    checklist = default_checklist()
    for phase, texts in EXPECTED.items():
        assert manual_texts(checklist, phase) == texts
    assert strategy_sections() == EXPECTED
    autos = {i.id: (i.phase, i.auto) for i in checklist.items if i.auto}
    assert autos == {AUTO_BASELINE: ("before", AUTO_BASELINE),
                     AUTO_VALIDATION: ("after", AUTO_VALIDATION),
                     AUTO_ALERTS_QUIET: ("after", AUTO_ALERTS_QUIET),
                     AUTO_ENDPOINTS: ("after", AUTO_ENDPOINTS)}
    # staging: manual unless the config names the staging environment
    assert checklist.item(AUTO_STAGING) is not None
    assert checklist.item(AUTO_STAGING).auto is None  # type: ignore[union-attr]
    staged = default_checklist(staging_automatic=True, change_id="CHG-42")
    assert staged.item(AUTO_STAGING).auto == AUTO_STAGING  # type: ignore[union-attr]
    assert staged.change_id == "CHG-42"
    ids = [i.id for i in checklist.items]
    assert len(ids) == len(set(ids)) and not any(i.done for i in checklist.items)


def test_evaluate_ticks_automatic_items_with_evidence() -> None:
    checklist = default_checklist(staging_automatic=True)
    unknown = evaluate(checklist, Facts(now=NOW))
    assert not any(i.done for i in unknown.items)  # nothing known: nothing claimed
    assert "cannot tell" in unknown.item(AUTO_ALERTS_QUIET).evidence  # type: ignore[union-attr]

    facts = Facts(baseline_taken_at=NOW - 600, baseline_by="alice", validation_passed=True,
                  validation_summary="12 checks passed", firing_critical_alerts=(),
                  alert_sources=("prometheus",), staging_ok=True,
                  staging_evidence="staging: 4 phase(s) succeeded", endpoints_failing=(),
                  endpoints_total=6, now=NOW)
    good = evaluate(checklist, facts)
    items = {i.id: i for i in good.items}
    assert all(items[a].done and items[a].by == "auto" for a in
               (AUTO_BASELINE, AUTO_VALIDATION, AUTO_ALERTS_QUIET, AUTO_STAGING, AUTO_ENDPOINTS))
    assert items[AUTO_BASELINE].evidence == f"baseline taken {iso(NOW - 600)} by alice"
    assert items[AUTO_BASELINE].at == iso(NOW - 600)
    assert items[AUTO_VALIDATION].evidence == "validation passed: 12 checks passed"
    assert items[AUTO_ALERTS_QUIET].evidence == "no critical alert firing (prometheus)"
    assert items[AUTO_ENDPOINTS].evidence == "all 6 health endpoints answer"
    assert not any(i.done for i in good.items if not i.auto)  # manual items untouched
    assert evaluate(good, facts) is good  # same facts: the same list, nothing redraws

    worse = evaluate(good, msgspec.structs.replace(
        facts, firing_critical_alerts=("PodCrashLooping", "PodCrashLooping"),
        validation_passed=False, validation_summary="2 failed", endpoints_failing=("shop",),
        now=NOW + 60))
    items = {i.id: i for i in worse.items}
    assert not items[AUTO_ALERTS_QUIET].done and items[AUTO_ALERTS_QUIET].at is None
    assert items[AUTO_ALERTS_QUIET].evidence == "2 critical alert(s) firing: PodCrashLooping"
    assert items[AUTO_VALIDATION].evidence == "validation failed: 2 failed"
    assert items[AUTO_ENDPOINTS].evidence == "1 of 6 failing: shop"
    assert items[AUTO_BASELINE].done  # still true

    stale = evaluate(good, msgspec.structs.replace(facts, alerts_stale=True))
    assert not stale.item(AUTO_ALERTS_QUIET).done  # type: ignore[union-attr]


def test_tick_and_untick_manual_items_only() -> None:
    checklist = default_checklist()
    item_id = "prepare-rollback-plan"
    ticked = tick(checklist, item_id, "alice", NOW)
    item = ticked.item(item_id)
    assert item is not None and item.done and item.by == "alice" and item.at == iso(NOW)
    assert ticked.done_count == 1 and checklist.done_count == 0  # values, not mutation
    back = untick(ticked, item_id)
    assert back.item(item_id) == checklist.item(item_id)
    with pytest.raises(ChecklistError, match="checked automatically"):
        tick(checklist, AUTO_BASELINE, "alice", NOW)
    with pytest.raises(ChecklistError, match="no checklist item 'nope'"):
        untick(checklist, "nope")


def test_checklist_round_trips_through_json() -> None:
    checklist = tick(evaluate(default_checklist(change_id="CHG-1"),
                              Facts(baseline_taken_at=NOW, now=NOW)),
                     "create-pre-update-backup", "bob", NOW)
    again = msgspec.json.decode(msgspec.json.encode(checklist), type=Checklist)
    assert again == checklist


def alert(name: str, severity: str, state: str = "firing", **kw: object) -> AlertRow:
    return AlertRow(key=f"prometheus/{name}", source="prometheus", alertname=name,
                    severity=severity, state=state, **kw)  # type: ignore[arg-type]


def test_facts_from_store() -> None:
    store = Store(clock=lambda: NOW)
    assert facts_from_store(store).firing_critical_alerts is None  # no source: unknown
    assert facts_from_store(store).endpoints_failing is None
    store.set_health("prometheus", "connected")
    store.note_event("prometheus")
    assert facts_from_store(store).firing_critical_alerts == ()
    store.apply(ALERTS, [("ADDED", alert("Watchdog", "none")),
                         ("ADDED", alert("Muted", "critical", state="suppressed")),
                         ("ADDED", alert("PodCrashLooping", "critical"))])
    facts = facts_from_store(store)
    assert facts.firing_critical_alerts == ("PodCrashLooping",)
    assert facts.alert_sources == ("prometheus",) and not facts.alerts_stale

    store.apply(ENDPOINTS, [("ADDED", EndpointRow(key="a", name="a", url="u", ok=True)),
                            ("ADDED", EndpointRow(key="b", name="b", url="u", ok=False))])
    facts = facts_from_store(store)
    assert facts.endpoints_failing == ("b",) and facts.endpoints_total == 2

    assert facts_from_store(store).staging_ok is None
    staged = facts_from_store(store, staging_environment="staging")
    assert staged.staging_ok is None and "no pipeline event" in staged.staging_evidence
    store.apply(PIPELINE, [("ADDED", PipelineRow(
        key="staging/applications", environment="staging", phase="applications",
        status="succeeded", time=NOW, revision="abc123"))])
    assert facts_from_store(store, staging_environment="staging").staging_ok is True
    store.apply(PIPELINE, [("ADDED", PipelineRow(
        key="staging/infrastructure", environment="staging", phase="infrastructure",
        status="failed", time=NOW))])
    staged = facts_from_store(store, staging_environment="staging")
    assert staged.staging_ok is False and "infrastructure failed" in staged.staging_evidence


async def test_runbook_screen_ticks_and_follows_the_store(drill: DrillCluster) -> None:
    app = make_app(drill)
    async with app.run_test(size=(200, 50)) as pilot:
        app.store.set_health("prometheus", "connected")
        app.store.note_event("prometheus")  # an alert source answered, nothing firing
        app.runbook.change.baseline_taken_at = NOW
        # a declared binding with an id: footer, help screen, keymap and command palette
        assert app.active_bindings["k"].binding.id == "runbook"
        assert "Runbook" in [c.title for c in app.get_system_commands(app.screen)]
        await pilot.press("k")
        screen = await until(pilot, lambda: isinstance(app.screen, RunbookScreen)
                             and app.screen, "the runbook screen")
        assert isinstance(screen, RunbookScreen)
        assert screen.selected_item == AUTO_BASELINE  # the cursor starts on the first item
        rows = {screen.table.get_row_at(i)[1].plain: [c.plain for c in
                                                     screen.table.get_row_at(i)]
                for i in range(screen.table.row_count)}
        assert rows["Before the update"][0] == ""  # phase titles group the items
        assert rows["Baseline taken"][0] == "[x] auto"
        assert rows["Alerts quiet (no critical alert firing)"][0] == "[x] auto"
        assert rows["Validation passed"][0] == "[ ] auto"
        assert rows["Validation passed"][4] == "validation not run yet (v)"

        await pilot.press("space")  # an automatic item: refused, nothing changes
        checklist = app.runbook.current_checklist()
        assert checklist.item(AUTO_BASELINE).by == "auto"  # type: ignore[union-attr]
        assert not app.frozen  # the screen's space, not the dashboard's freeze

        await pilot.press("down")  # "Staging healthy": manual without a staging environment
        assert screen.selected_item == AUTO_STAGING
        await pilot.press("space")
        item = app.runbook.current_checklist().item(AUTO_STAGING)
        assert item is not None and item.done and item.by == current_operator()
        await pilot.press("enter")  # enter toggles too
        item = app.runbook.current_checklist().item(AUTO_STAGING)
        assert item is not None and not item.done
        await pilot.press("space")

        # a critical alert starts firing: "alerts quiet" unticks itself, on screen too
        app.store.apply(ALERTS, [("ADDED", alert("PodCrashLooping", "critical"))])

        def quiet_cells() -> list[str]:
            for i in range(screen.table.row_count):
                cells = [c.plain for c in screen.table.get_row_at(i)]
                if cells[1].startswith("Alerts quiet"):
                    return cells
            return []

        await until(pilot, lambda: quiet_cells()[0] == "[ ] auto", "alerts quiet unticked")
        assert quiet_cells()[4] == "1 critical alert(s) firing: PodCrashLooping"
        assert "2 of" in str(screen.query_one("#runbook-title").render())

        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RunbookScreen), "closed")
        # the session keeps the ticks for the baseline's change record
        kept = app.runbook.current_checklist()
        assert kept.item(AUTO_STAGING).done  # type: ignore[union-attr]
        assert kept.item(AUTO_BASELINE).done  # type: ignore[union-attr]


# --------------------------------------------------------------------------- issue 13


def test_the_runbook_file_round_trips_per_context_and_refuses_strangers(
        tmp_path: Path) -> None:
    from backends.baseline.runbook_store import (
        RunbookStoreError,
        load_runbook,
        runbook_path,
        save_runbook,
    )

    path = runbook_path(tmp_path, "prod/aks\x1b[2J")
    assert path.parent == tmp_path and "\x1b" not in path.name
    assert load_runbook(path, "prod") is None  # nothing saved yet
    first = default_checklist(change_id="CHG-1")
    manual = next(i.id for i in first.items if i.auto is None)
    ticked = tick(first, manual, "alice\x1b]52;c;eA==\x07", NOW)
    save_runbook(path, "prod", ticked)
    save_runbook(path, "prod", default_checklist(change_id="CHG-2"))
    save_runbook(path, "prod", ticked)  # back to CHG-1: its ticks were kept
    got = load_runbook(path, "prod")
    assert got is not None and got.change_id == "CHG-1"
    item = got.item(manual)
    assert item is not None and item.done and item.by == "alice"  # sanitized on load
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(RunbookStoreError, match="another context"):
        load_runbook(path, "staging")
    path.write_text("[" * 100_000)
    with pytest.raises(RunbookStoreError, match="not a controlroom runbook"):
        load_runbook(path, "prod")


async def test_runbook_ticks_survive_a_restart_of_the_app(drill: DrillCluster,
                                                         tmp_path: Path) -> None:
    """Issue 13 point 3: the operator's ticks were the session's only; a restarted App
    (same context, same state dir) shows them again."""
    journal = tmp_path / "state" / "journal.sqlite3"
    first = make_app(drill, journal=journal)
    async with first.run_test(size=(200, 50)) as pilot:
        checklist = first.runbook.current_checklist()
        manual = next(i.id for i in checklist.items if i.auto is None)
        assert "ticked by" in first.runbook.toggle_runbook_item(manual)
        await until(pilot, lambda: (tmp_path / "state" / "runbook-drill.json").exists()
                    and b'"done":true' in (tmp_path / "state" / "runbook-drill.json")
                    .read_bytes(), "the tick saved")
    again = make_app(drill, journal=journal)
    async with again.run_test(size=(200, 50)):
        item = again.runbook.current_checklist().item(manual)
        assert item is not None and item.done and item.by == current_operator()
