"""LogView on its own: wrap over a ring that drops old lines, staying on the same lines when
scrolled up, timestamps, and search that wraps around the ring."""

from __future__ import annotations

from textual.app import App, ComposeResult

from backends.kube.logs import LogLine
from backends.logbuffer import LogBuffer
from tests.waiting import pilot_until as until
from widgets.logview import LogView

WIDTH = 40


class Host(App[None]):
    def __init__(self, buffer: LogBuffer) -> None:
        super().__init__()
        self.buffer = buffer

    def compose(self) -> ComposeResult:
        yield LogView(self.buffer)


def line(n: int) -> LogLine:
    """Line ``n``: widths from 5 to about 130 cells, so some take one row and some four."""
    return LogLine(f"2026-11-26T15:00:{n % 60:02d}.000000000Z",
                   f"<{n:05d}>" + "abcdefghij"[n % 10] * ((n * 37) % 125))


def rows(view: LogView) -> list[str]:
    return view.rendered_rows()


async def test_wrapped_rows_hold_exactly_the_held_lines_as_the_ring_turns() -> None:
    buffer = LogBuffer(30)
    app = Host(buffer)
    async with app.run_test(size=(WIDTH, 200)) as pilot:
        view = app.query_one(LogView)
        view.wrap = True
        for start in range(0, 100, 25):  # four batches: the ring turns twice over
            buffer.extend(line(n) for n in range(start, start + 25))
            view.lines_changed()
            await pilot.pause()
            held = [entry.text for _, entry in buffer.lines()]
            expected_rows = sum(max(1, -(-len(text) // WIDTH)) for text in held)
            assert view.virtual_size.height == expected_rows
            await until(pilot, lambda: view.size.height > 0, "laid out")
            shown = rows(view)[:expected_rows] if expected_rows <= view.size.height else []
            if shown:
                assert "".join(r.rstrip() for r in shown) == "".join(held)
        assert buffer.first == 70 and len(buffer) == 30


async def test_scrolled_up_the_view_stays_on_its_lines_while_old_ones_drop() -> None:
    buffer = LogBuffer(50)
    app = Host(buffer)
    async with app.run_test(size=(WIDTH, 10)) as pilot:
        view = app.query_one(LogView)
        buffer.extend(line(n) for n in range(50))
        view.lines_changed()
        await pilot.pause()
        assert view.at_end and rows(view)[-1].startswith("<00049>")
        view.scroll_to(y=20, animate=False)
        await pilot.pause()
        assert rows(view)[0].startswith("<00020>")
        buffer.extend(line(n) for n in range(50, 55))  # five old lines drop out
        view.lines_changed()
        await pilot.pause()
        assert rows(view)[0].startswith("<00020>")  # the same line, five rows higher up
        view.scroll_end(animate=False)
        await pilot.pause()
        buffer.extend(line(n) for n in range(55, 60))
        view.lines_changed()
        await until(pilot, lambda: rows(view)[-1].startswith("<00059>"), "following the end")


async def test_timestamps_and_search_wrap_around_the_ring() -> None:
    buffer = LogBuffer(20)
    app = Host(buffer)
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        buffer.extend(LogLine(f"2026-11-26T15:00:{n:02d}.000000000Z",
                              f"{'ERROR' if n % 7 == 0 else 'info'} line {n}")
                      for n in range(40))
        view.lines_changed()
        view.timestamps = True
        await pilot.pause()
        assert rows(view)[-1].startswith("2026-11-26T15:00:39.000000000Z info line 39")
        assert view.set_search("error") == 3  # 21, 28, 35 are held; 0, 7, 14 dropped
        assert view.next_match() == 35  # the first match from the first line on screen
        assert view.next_match() == 21  # around the ring to its oldest held line
        assert rows(view)[0].rstrip().endswith("ERROR line 21")  # scrolled to it
        assert view.next_match() == 28
        assert view.next_match(forward=False) == 21
        assert view.next_match(forward=False) == 35  # around backwards
        assert view.set_search("nothing like this") == 0 and view.next_match() is None
