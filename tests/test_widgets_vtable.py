"""VirtualTable mounted in a tiny App: only visible lines are drawn, the cursor follows its key,
markup-like text stays text, and keys move the cursor."""

from __future__ import annotations

from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from tests.test_widgets_rows import HOSTILE
from widgets.vtable import Column, VirtualTable

SIZE = (100, 24)


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.selected: list[str] = []
        self.highlighted: list[str] = []

    def compose(self) -> ComposeResult:
        yield VirtualTable([Column("NAME"), Column("STATUS", max_width=20),
                            Column("N", align="right")])

    def on_virtual_table_row_selected(self, event: VirtualTable.RowSelected) -> None:
        self.selected.append(event.key)

    def on_virtual_table_row_highlighted(self, event: VirtualTable.RowHighlighted) -> None:
        self.highlighted.append(event.key)


def load(table: VirtualTable, count: int) -> None:
    for i in range(count):
        table.upsert(f"k{i:05d}", (f"pod-{i:05d}", "Running", str(i)), (1, i))
    table.commit()


def screen_text(table: VirtualTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


async def test_only_visible_lines_are_rendered_with_30000_rows() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        await pilot.pause()
        table.lines_rendered = table.strips_built = 0
        load(table, 30_000)
        await pilot.pause()
        height = table.size.height
        assert table.row_count == 30_000
        # One screen (maybe painted twice while the scrollbar appears), never 30,000 lines.
        assert 0 < table.lines_rendered <= 2 * height
        assert 0 < table.strips_built <= height
        table.lines_rendered = table.strips_built = 0
        table.focus()
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_key == "k29999"
        assert table.lines_rendered <= 2 * height
        assert table.strips_built <= height + 1
        assert "pod-29999" in "\n".join(screen_text(table))


async def test_update_in_place_rebuilds_only_that_row() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        load(table, 1_000)
        await pilot.pause()
        table.strips_built = 0
        # Same width as "Running": no column grows, so only this row's strip is rebuilt.
        table.upsert("k00003", ("pod-00003", "Pending", "3"), (1, 3), tone="warning")
        table.commit()
        await pilot.pause()
        assert table.strips_built == 1
        assert table.key_at(3) == "k00003"
        assert "Pending" in screen_text(table)[4]
        # A wider value grows the column once: the visible rows are redrawn, nothing more.
        table.strips_built = 0
        table.upsert("k00004", ("pod-00004", "CrashLoopBackOff", "4"), (1, 4), tone="problem")
        table.commit()
        await pilot.pause()
        assert table.column_widths[1] == len("CrashLoopBackOff")
        assert table.strips_built <= table.size.height


async def test_cursor_keeps_its_key_when_rows_move_and_steps_aside_when_removed() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        load(table, 100)
        table.focus()
        await pilot.press("down", "down", "down")
        assert table.cursor_key == "k00003"
        # Three rows jump above it (they became problems): it is still selected.
        for key in ("k00050", "k00060", "k00070"):
            table.upsert(key, ("moved", "CrashLoopBackOff", "0"), (0, key), tone="problem")
        table.commit()
        assert table.cursor_key == "k00003"
        assert table.cursor_index == 6
        assert table.keys()[:3] == ["k00050", "k00060", "k00070"]
        # The selected row goes away: the cursor stays at the same height, on its neighbour.
        table.remove_row("k00003")
        table.commit()
        assert table.cursor_index == 6
        assert table.cursor_key == "k00004"
        await pilot.pause()
        assert app.highlighted[-1] == "k00004"


async def test_keys_and_enter() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        load(table, 200)
        table.focus()
        page = table.size.height - 2  # header + horizontal scrollbar-free content
        await pilot.press("pagedown")
        assert table.cursor_index >= page - 1
        await pilot.press("home")
        assert table.cursor_index == 0
        await pilot.press("down", "up", "down", "enter")
        await pilot.pause()
        assert app.selected == ["k00001"]
        await pilot.press("end")
        assert table.cursor_key == "k00199"
        assert table.scroll_y > 0


async def test_click_selects_then_activates() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        load(table, 50)
        await pilot.pause()
        await pilot.click(VirtualTable, offset=(3, 3))  # line 3 = row 2 (line 0 is the header)
        assert table.cursor_key == "k00002"
        await pilot.click(VirtualTable, offset=(3, 3))
        await pilot.pause()
        assert app.selected == ["k00002"]


async def test_markup_like_cells_render_literally() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        for i, text in enumerate(HOSTILE):
            table.upsert(f"h{i}", (text, Text(text), str(i)), (i,))
        table.commit()
        table.focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        lines = screen_text(table)
        for i, text in enumerate(HOSTILE):
            assert lines[i + 1].count(text) == 2  # the str cell and the Text cell
        assert app.is_running and app.selected == ["h1"]


async def test_filter_narrows_and_row_filter_hides() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        load(table, 300)
        await pilot.pause()
        table.set_filter("POD-0012")
        assert table.keys() == [f"k0012{i}" for i in range(10)]
        assert table.cursor_key == "k00120"
        table.set_filter("")
        table.set_row_filter(lambda key: key.endswith("7"))
        assert table.row_count == 30 and table.total_count == 300
        # The predicate is re-evaluated when a row changes.
        table.upsert("k00007", ("pod-00007", "Pending", "7"), (1, 7))
        table.commit()
        assert table.has_row("k00007") and "k00007" in table.keys()
        table.set_row_filter(None)
        assert table.row_count == 300


async def test_tones_use_the_component_classes() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        table.upsert("a", ("fine", "Running", "1"), (0,))
        table.upsert("b", ("bad", "CrashLoopBackOff", "2"), (1,), tone="problem")
        table.upsert("c", ("done", "Completed", "3"), (2,), tone="dim")
        table.commit()
        await pilot.pause()
        problem = table.get_component_rich_style("vtable--problem", partial=True)
        dim = table.get_component_rich_style("vtable--dim", partial=True)
        line_b = table.render_line(2)
        line_c = table.render_line(3)
        assert any(seg.style and seg.style.color == problem.color for seg in line_b)
        assert any(seg.style and seg.style.color == dim.color for seg in line_c)
        assert problem.color != dim.color


async def test_fed_before_mount() -> None:
    table = VirtualTable([Column("NAME")])
    table.upsert("a", ("early",), (0,))
    table.commit()
    app = App[None]()
    async with app.run_test(size=SIZE) as pilot:
        await app.mount(table)
        await pilot.pause()
        assert table.cursor_key == "a"
        assert "early" in table.render_line(1).text


async def test_growing_and_shrinking_keeps_the_scrollbar_right_without_screen_layouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows arriving page by page change the table's virtual size on every commit; that
    must not lay out the whole screen each time (only when the scrollbar comes or goes)."""
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        load(table, 100)
        await pilot.pause()
        assert table.show_vertical_scrollbar
        layouts: list[bool] = []
        screen = app.screen
        original = screen._refresh_layout  # noqa: SLF001 - counting, not changing

        def counting(*args: Any, **kwargs: Any) -> None:
            layouts.append(True)
            original(*args, **kwargs)

        monkeypatch.setattr(screen, "_refresh_layout", counting)
        for count in (200, 500, 1_000):
            load(table, count)
            await pilot.pause()
        assert layouts == []
        assert table.vertical_scrollbar.window_virtual_size == 1_001  # rows + header
        table.focus()
        await pilot.press("end")
        await pilot.pause()
        assert table.scroll_y == table.max_scroll_y > 0
        assert "pod-00999" in "\n".join(screen_text(table))
        for key in [f"k{i:05d}" for i in range(5, 1_000)]:
            table.remove_row(key)
        table.commit()
        await pilot.pause()
        assert not table.show_vertical_scrollbar and table.scroll_y == 0
        assert "pod-00004" in "\n".join(screen_text(table))


async def test_changes_off_screen_do_not_repaint_the_rows_shown() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VirtualTable)
        load(table, 1_000)
        await pilot.pause()
        table.lines_rendered = 0
        table.upsert("k00900", ("pod-00900", "Failed", "900"), (1, 900))  # far below
        table.upsert("k99999", ("pod-99999", "Running", "0"), (2, 0))  # appended at the end
        table.commit()
        await pilot.pause()
        assert table.lines_rendered == 0 and table.row_count == 1_001
        table.upsert("k00002", ("pod-00002", "Failed", "2"), (1, 2))  # on screen
        table.commit()
        await pilot.pause()
        assert table.lines_rendered > 0 and "Failed" in screen_text(table)[3]
        table.lines_rendered = 0
        table.upsert("k00000a", ("pod-00000a", "Running", "0"), (1, 0, 1))  # pushes rows down
        table.commit()
        await pilot.pause()
        assert table.lines_rendered > 0 and "pod-00000a" in screen_text(table)[2]
