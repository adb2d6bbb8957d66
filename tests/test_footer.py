"""KeyFooter: the key bar as one widget (widgets/footer.py).

What must hold, as with Textual's Footer: the shown bindings of the focused chain, one key per
action, hidden ones left out, disabled ones dimmed and refusing clicks, the palette key at the
right end even when the keys do not fit, a click presses the key, hovering shows the tooltip.
What is new: a change of bindings repaints the one line and never lays out the screen.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from widgets.footer import KeyFooter


class Box(Static, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "toggle", "All rows", tooltip="Show every row"),
    ]

    def action_toggle(self) -> None:
        self.app.pressed.append("a")  # type: ignore[attr-defined]


class KeysApp(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit_soft", "Quit"),
        Binding("x", "write", "Write", tooltip="Writes something"),
        Binding("y", "quit_soft", "Also quit"),  # same action: shown once, as in Footer
        Binding("z", "secret", "Secret", show=False),
    ]

    def __init__(self, *, long: bool = False) -> None:
        super().__init__()
        self.pressed: list[str] = []
        self.bells = 0
        self.writes_allowed = False
        if long:
            for n in range(40):
                self.bind(f"f{n % 12 + 1}", f"noop({n})", description=f"Long action {n}")

    def compose(self) -> ComposeResult:
        yield Box("one", id="one")
        yield Static("two", id="two")
        yield KeyFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "write":
            return True if self.writes_allowed else None  # None: shown, but disabled
        return True

    def action_quit_soft(self) -> None:
        self.pressed.append("q")

    def action_write(self) -> None:
        self.pressed.append("x")

    def action_noop(self, n: int) -> None:
        self.pressed.append(f"noop{n}")

    def bell(self) -> None:
        self.bells += 1


def _line(footer: KeyFooter) -> str:
    return "".join(segment.text for segment in footer.render_line(0))


async def test_shows_the_focused_chain_one_key_per_action() -> None:
    app = KeysApp()
    async with app.run_test(size=(120, 10)) as pilot:
        footer = app.query_one(KeyFooter)
        assert not footer.children, "one widget, no FooterKey children"
        app.query_one("#one").focus()
        await pilot.pause()
        keys = footer.keys_shown
        assert keys[0] == "a", "the focused widget's own keys come first"
        assert "q" in keys and "x" in keys
        assert "y" not in keys, "a second key for the same action is not shown"
        assert "z" not in keys, "show=False stays hidden"
        assert keys[-1] == "ctrl+p", "the palette key is last"
        line = _line(footer)
        assert " a All rows " in line and " q Quit " in line
        assert line.rstrip().endswith("palette")

        app.set_focus(None)
        await pilot.pause()
        assert "a" not in footer.keys_shown, "keys follow the focus"


async def test_a_binding_change_repaints_one_line_without_a_layout() -> None:
    app = KeysApp()
    async with app.run_test(size=(120, 10)) as pilot:
        footer = app.query_one(KeyFooter)
        await pilot.pause()
        calls: list[dict[str, Any]] = []
        original = footer.refresh

        def spy(*regions: Any, **kwargs: Any) -> Widget:
            calls.append(kwargs)
            return original(*regions, **kwargs)

        footer.refresh = spy  # type: ignore[method-assign]
        app.query_one("#one").focus()
        await pilot.pause()
        app.set_focus(None)
        await pilot.pause()
        assert calls, "the bar was repainted when the keys changed"
        assert not any(c.get("layout") or c.get("recompose") for c in calls), calls


async def test_click_presses_the_key_and_a_disabled_key_rings_the_bell() -> None:
    app = KeysApp()
    async with app.run_test(size=(120, 10)) as pilot:
        footer = app.query_one(KeyFooter)
        app.set_focus(None)
        await pilot.pause()
        line = _line(footer)
        quit_at = line.index(" q Quit") + 1
        write_at = line.index(" x Write") + 1

        await pilot.click(KeyFooter, offset=(quit_at, 0))
        await pilot.pause()
        assert app.pressed == ["q"]

        await pilot.click(KeyFooter, offset=(write_at, 0))
        await pilot.pause()
        assert app.pressed == ["q"], "a disabled key does nothing"
        assert app.bells == 1

        app.writes_allowed = True
        app.refresh_bindings()
        await pilot.pause()
        await pilot.click(KeyFooter, offset=(write_at, 0))
        await pilot.pause()
        assert app.pressed == ["q", "x"]


async def test_disabled_keys_are_dimmed_and_hover_shows_the_tooltip() -> None:
    app = KeysApp()
    async with app.run_test(size=(120, 10)) as pilot:
        footer = app.query_one(KeyFooter)
        app.set_focus(None)
        await pilot.pause()
        segments = list(footer.render_line(0))
        write = [s for s in segments if s.text.strip() == "x"]
        quit_ = [s for s in segments if s.text.strip() == "q"]
        assert write and write[0].style is not None and write[0].style.dim
        assert quit_ and not (quit_[0].style and quit_[0].style.dim)

        write_at = _line(footer).index(" x Write") + 1
        await pilot.hover(KeyFooter, offset=(write_at, 0))
        await pilot.pause()
        assert footer.tooltip == "Writes something"


async def test_keys_that_do_not_fit_give_way_to_the_palette_key() -> None:
    app = KeysApp(long=True)
    async with app.run_test(size=(80, 10)) as pilot:
        footer = app.query_one(KeyFooter)
        await pilot.pause()
        line = _line(footer)
        assert len(line) == 80
        assert "\u2026" in line, "cut keys end in an ellipsis"
        assert line.rstrip().endswith("palette"), line
        palette_at = line.index("^p")
        await pilot.click(KeyFooter, offset=(palette_at, 0))
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CommandPalette"
