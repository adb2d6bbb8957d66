"""The sparkline renderer, value formats, and the Argo CD panel's signal columns."""

from __future__ import annotations

import math

import pytest
from rich.text import Text

from backends.model import AppRow
from backends.signals.model import SIGNALS, SignalRow
from backends.store import Store
from tests.test_widgets_rows import PanelApp
from themes import THEMES
from widgets.apps import SPARK_WIDTH, AppsPanel, signal_cell
from widgets.sparkline import BARS, GAP, format_value, sparkline, squeeze

NAN = math.nan
NOW = 1_700_000_000.0

# ----------------------------------------------------------------------------- renderer


def test_rising_series_uses_the_whole_scale() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == BARS


def test_edges() -> None:
    assert sparkline([]) == ""
    assert sparkline([3.0]) == BARS[0]                      # one value: nothing to compare
    assert sparkline([5, 5, 5]) == BARS[0] * 3              # all equal: a flat baseline
    assert sparkline([NAN, NAN]) == GAP * 2                 # nothing finite
    assert sparkline([0, NAN, 7]) == BARS[0] + GAP + BARS[-1]
    assert sparkline([math.inf, 1, -math.inf, 2]) == GAP + BARS[0] + GAP + BARS[-1]
    assert sparkline([-3, -1, 1, 3]) == "▁▃▆█"              # negative values scale too


def test_anchors_widen_the_scale() -> None:
    # A healthy flat latency stays low when the scale reaches the critical threshold...
    assert sparkline([0.05, 0.05], low=0.0, high=1.0) == BARS[0] * 2
    # ...and a value at critical is a full bar.
    assert sparkline([0.0, 0.5, 1.0], low=0.0, high=1.0) == BARS[0] + BARS[4] + BARS[-1]
    # Values beyond the anchors extend the scale rather than overflow it.
    assert sparkline([0.0, 2.0], low=0.0, high=1.0) == BARS[0] + BARS[-1]
    # All equal at the anchor: a full line, not a flat baseline.
    assert sparkline([1.0, 1.0], low=0.0, high=1.0) == BARS[-1] * 2


def test_squeeze_keeps_spikes_and_gaps() -> None:
    values = [0.0] * 15 + [9.0] + [0.0] * 4
    assert squeeze(values, 5) == [0.0, 0.0, 0.0, 9.0, 0.0]
    assert sparkline(values, 5) == "▁▁▁█▁"
    squeezed = squeeze([NAN, NAN, 1.0, NAN], 2)
    assert math.isnan(squeezed[0]) and squeezed[1] == 1.0
    assert squeeze([1.0, 2.0], 8) == [1.0, 2.0]
    assert squeeze([1.0], 0) == []


@pytest.mark.parametrize(("value", "unit", "text"), [
    (0.0, "percent", "0.0%"),
    (0.091, "percent", "9.1%"),
    (0.45, "percent", "45%"),
    (1.0, "percent", "100%"),
    (0.35, "seconds", "350ms"),
    (0.9999, "seconds", "1.00s"),
    (1.25, "seconds", "1.25s"),
    (12.3, "seconds", "12s"),
    (1234.5, "number", "1.23e+03"),
    (-0.5, "number", "-0.5"),
    (None, "percent", "?"),
    (NAN, "seconds", "?"),
    (math.inf, "number", "?"),
])
def test_format_value(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


# ----------------------------------------------------------------------------- apps panel


def app_row(name: str, *, destination: str = "") -> AppRow:
    return AppRow(key=f"argocd/{name}", namespace="argocd", name=name, sync_status="Synced",
                  health_status="Healthy", auto_sync="on", revision="a" * 40,
                  destination_namespace=destination or name)


def signal(name: str, app_name: str, values: tuple[float, ...], **kw: object) -> SignalRow:
    latest = values[-1] if values and math.isfinite(values[-1]) else None
    return SignalRow(key=f"{name}/{app_name}", signal=name, app=app_name, values=values,
                     latest=latest, **kw)  # type: ignore[arg-type]


def feed(panel: AppsPanel, store: Store, since: int = 0) -> int:
    panel.refresh_from(store, store.changes_since(since), NOW)
    return store.version


def test_apps_row_includes_the_sparkline_without_mounting() -> None:
    store = Store(clock=lambda: NOW)
    store.apply("applications", [("ADDED", app_row("checkout")), ("ADDED", app_row("catalog")),
                                 ("ADDED", app_row("infra", destination="kube-system"))])
    store.apply(SIGNALS, [
        ("ADDED", signal("error ratio", "checkout", (0.0, 0.0, 0.02, 0.09), status="crit",
                         unit="percent", warn=0.01, crit=0.05)),
        ("ADDED", signal("p99 latency", "checkout", (0.05, 0.4), status="warn",
                         unit="seconds", warn=0.25, crit=1.0)),
        # joined by the app's destination namespace when no series has its name
        ("ADDED", signal("error ratio", "kube-system", (0.0, 0.0), status="ok",
                         unit="percent", warn=0.01, crit=0.05)),
        ("ADDED", signal("not configured", "checkout", (1.0,), status="crit")),
    ])
    panel = AppsPanel(signals=["error ratio", "p99 latency"])
    version = feed(panel, store)
    labels = [c.label for c in panel.COLUMNS]
    assert labels[:6] == ["NAME", "SYNC", "HEALTH", "AUTO-SYNC", "ERROR RATIO", "P99 LATENCY"]
    assert labels[-1] == "OPERATION"
    row = panel.cells_of("argocd/checkout")
    assert row[4] == f"{'▁▁▂█'.rjust(SPARK_WIDTH)} 9.0%"
    assert row[5] == f"{'▁▄'.rjust(SPARK_WIDTH)} 400ms"
    assert panel.cells_of("argocd/infra")[4] == f"{'▁▁'.rjust(SPARK_WIDTH)} 0.0%"
    assert panel.cells_of("argocd/catalog")[4:6] == ["", ""]
    assert "not configured" not in " ".join(row).lower()
    # A new poll wakes the app's row through the signal kind alone.
    store.apply(SIGNALS, [("MODIFIED", signal("error ratio", "checkout", (0.09, 0.0),
                                              status="ok", unit="percent", warn=0.01,
                                              crit=0.05))])
    version = feed(panel, store, version)
    assert panel.cells_of("argocd/checkout")[4] == f"{'█▁'.rjust(SPARK_WIDTH)} 0.0%"
    # A signal that vanished empties the cell.
    store.apply(SIGNALS, [("DELETED", signal("error ratio", "checkout", ()))])
    feed(panel, store, version)
    assert panel.cells_of("argocd/checkout")[4] == ""


def test_without_signals_the_columns_are_unchanged() -> None:
    panel = AppsPanel()
    assert [c.label for c in panel.COLUMNS] == [c.label for c in AppsPanel.COLUMNS]
    assert len(AppsPanel.COLUMNS) == 7


def test_signal_cell_text_is_plain_and_styled_by_status() -> None:
    from rich.style import Style

    styles = {"crit": Style(bold=True), "stale": Style(italic=True)}
    row = signal("[bold]x", "a", (0.0, 1.0), status="crit", unit="number")
    cell = signal_cell(row, styles)
    assert isinstance(cell, Text) and cell.plain.endswith(" 1")
    assert cell.spans and cell.spans[-1].style == Style(bold=True)
    stale = signal_cell(signal("x", "a", (1.0,), status="crit", stale=True), styles)
    assert isinstance(stale, Text) and stale.spans[-1].style == Style(italic=True)
    assert signal_cell(None, styles) == ""


async def test_mounted_signal_cells_take_the_themes_status_colours() -> None:
    store = Store(clock=lambda: NOW)
    store.apply("applications", [("ADDED", app_row("checkout"))])
    store.apply(SIGNALS, [("ADDED", signal("error ratio", "checkout", (0.0, 0.09),
                                           status="crit", unit="percent", crit=0.05))])
    panel = AppsPanel(signals=["error ratio"])
    feed(panel, store)  # fed before mount: coloured when mounted
    app = PanelApp(panel)
    async with app.run_test(size=(160, 20)) as pilot:
        await pilot.pause()
        cell = panel.table.get_row_at(0)[4]
        crit = panel.get_component_rich_style("apps--signal-crit", partial=True)
        assert cell.plain.endswith("9.0%")
        assert crit.color is not None and cell.spans[-1].style == crit
        # A theme switch recolours the signal cells too (theme variables, no hex here).
        for theme in THEMES:
            app.register_theme(theme)
        app.theme = THEMES[0].name
        await pilot.pause()
        await pilot.pause()
        before = panel.table.get_row_at(0)[4].spans[-1].style
        app.theme = THEMES[1].name
        await pilot.pause()
        await pilot.pause()
        after = panel.table.get_row_at(0)[4].spans[-1].style
        assert after != before
        assert after == panel.get_component_rich_style("apps--signal-crit", partial=True)
