"""The health endpoints panel: failing first, literal text, dimmed when stale, and never a
green panel while the probes are down. Fed through a real Store like the App feeds it."""

from __future__ import annotations

import msgspec

from backends.signals.health import ENDPOINTS, SOURCE, EndpointRow
from backends.store import Store
from tests.test_widgets_rows import HOSTILE, NOW, PanelApp
from widgets.endpoints import NOTES, EndpointsPanel

SIZE = (160, 20)


class Feed:
    """A store and the App's hand-over, including the wake-up on health changes."""

    def __init__(self) -> None:
        self.now = NOW
        self.store = Store(clock=lambda: self.now)
        self.seen = 0

    def tick(self, panel: EndpointsPanel) -> None:
        changes = self.store.changes_since(self.seen)
        self.seen = changes.version
        touched = set(changes.upserted) | set(changes.removed)
        if changes.full or touched.intersection(panel.KINDS) or (
                changes.health and panel.WATCHES_HEALTH):
            panel.refresh_from(self.store, changes, self.now)

    def put(self, *rows: EndpointRow) -> Feed:
        self.store.apply(ENDPOINTS, [("MODIFIED", row) for row in rows])
        return self


def probe(name: str, ok: bool = True, *, error: str = "", checked: float = NOW - 20,
          status: int | None = 200) -> EndpointRow:
    return EndpointRow(key=name, name=name, url=f"https://h/{name}", ok=ok, status=status,
                       latency_ms=12.4 if status else None, error=error, checked_at=checked)


def shown(panel: EndpointsPanel) -> list[list[str]]:
    table = panel.table
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_failing_first_with_code_latency_age_and_error() -> None:
    feed = Feed().put(probe("argocd"), probe("grafana", False, status=503,
                                            error="HTTP 503 (expected 2xx): database down"),
                      probe("shop", False, status=None, error="connection refused"))
    feed.store.set_health(SOURCE, "connected", "2 of 3 failing")
    panel = EndpointsPanel()
    async with PanelApp(panel).run_test(size=SIZE) as pilot:
        feed.tick(panel)
        await pilot.pause()
        rows = shown(panel)
        assert [r[0] for r in rows] == ["grafana", "shop", "argocd"]
        assert rows[0] == ["grafana", "FAIL", "503", "12 ms", "20s",
                           "HTTP 503 (expected 2xx): database down"]
        assert rows[1][1:4] == ["FAIL", "-", ""] and rows[1][5] == "connection refused"
        assert rows[2][1] == "ok"
        assert str(panel.border_subtitle) == "3 endpoints  2 failing"
        assert panel.has_class("-problems") and not panel.has_class("-source-down")
        # the age of the check moves with time alone
        panel.refresh_ages(NOW + 300)
        assert shown(panel)[2][4] == "5m"


async def test_hostile_text_renders_literally() -> None:
    feed = Feed().put(*(probe(name, False, error=f"HTTP 500: {name}") for name in HOSTILE))
    feed.store.set_health(SOURCE, "connected")
    panel = EndpointsPanel()
    app = PanelApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        feed.tick(panel)
        await pilot.pause()
        assert sorted(r[0] for r in shown(panel)) == sorted(HOSTILE)
        drawn = "\n".join(panel.table.render_line(y).text for y in range(1, 4))
        for name in HOSTILE:
            assert name in drawn and f"HTTP 500: {name}" in drawn
        assert app.is_running


async def test_stale_rows_are_dimmed_and_the_note_says_not_all_clear() -> None:
    feed = Feed().put(probe("argocd"), probe("grafana"))
    feed.store.set_health(SOURCE, "connected", now=NOW - 60)
    panel = EndpointsPanel()
    async with PanelApp(panel).run_test(size=SIZE) as pilot:
        feed.tick(panel)
        await pilot.pause()
        assert [r[1] for r in shown(panel)] == ["ok", "ok"]
        assert panel.table.get_row_at(0)[1].spans == []  # a healthy row has no tone

        # the probing itself fails: the poller keeps the rows, flagged stale
        feed.put(*(msgspec.structs.replace(r, stale=True)  # type: ignore[type-var]
                   for r in feed.store.rows(ENDPOINTS).values()))
        feed.store.set_health(SOURCE, "stale", "probing failed: boom", now=NOW)
        feed.tick(panel)
        await pilot.pause()
        rows = shown(panel)
        assert rows[0][:2] == ["probes down", "UNKNOWN"]
        assert "NOT all clear" in rows[0][5] and "probing failed: boom" in rows[0][5]
        assert [r[1] for r in rows[1:]] == ["ok (stale)", "ok (stale)"]
        dim = panel.get_component_rich_style("panel--dim", partial=True)
        assert panel.table.get_row_at(1)[1].spans[0].style == dim
        assert panel.has_class("-source-down")
        assert "probes down since" in str(panel.border_title)

        # the next good round brings everything back
        feed.put(probe("argocd"), probe("grafana"))
        feed.store.set_health(SOURCE, "connected", now=NOW + 10)
        feed.tick(panel)
        await pilot.pause()
        assert [r[1] for r in shown(panel)] == ["ok", "ok"]
        assert not panel.has_class("-source-down")
        assert str(panel.border_title) == "Endpoints"


async def test_empty_panel_says_why() -> None:
    feed = Feed()
    panel = EndpointsPanel()
    async with PanelApp(panel).run_test(size=SIZE) as pilot:
        assert shown(panel)[0][5] == "waiting for the first probe round"  # before any tick
        feed.store.set_health("nodes", "connected")  # another source: the App's first wake-up
        feed.tick(panel)
        await pilot.pause()
        assert "no health endpoints configured" in shown(panel)[0][5]

        feed.store.set_health(SOURCE, "connecting")
        feed.tick(panel)
        await pilot.pause()
        assert shown(panel)[0][5] == "waiting for the first probe round"

        feed.store.set_health(SOURCE, "error", "probing failed: no loop")
        feed.tick(panel)
        await pilot.pause()
        note = shown(panel)[0]
        assert note[0] == "probes down" and "NOT all clear" in note[5]
        assert panel.visible_rows() == [(NOTES, "status")]
        assert str(panel.border_subtitle) == "0 endpoints"

        feed.put(probe("argocd"))
        feed.store.set_health(SOURCE, "connected")
        feed.tick(panel)
        await pilot.pause()
        assert panel.visible_rows() == [(ENDPOINTS, "argocd")]  # the note is gone
