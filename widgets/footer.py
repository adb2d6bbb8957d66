"""KeyFooter: the key bar at the bottom of the dashboard, as ONE widget drawing one line.

Why not Textual's ``Footer``: it is a container holding one ``FooterKey`` widget per binding
(18 on the dashboard), and it answers every ``bindings_updated`` signal by recomposing: remove
and re-mount every key, restyle each, and lay out the whole screen. While the App starts,
focus, keymap and the session's actions each signal; every recompose cost a layout and a
repaint of every panel, and every later full repaint drew 18 more widgets. While 30,000 pods
loaded, the footer alone was about an eighth of the App's CPU time (bench/bench_live.py,
measured with and without it in one run).

Here the bindings are read into a tuple of :class:`_Key` items; when the tuple changes the
line is redrawn (a repaint of one line, never a layout: the bar is always one line high).
What the engineer gets is what ``Footer`` gave: the shown bindings of the focused chain in
order, one per action, disabled ones dimmed, the command palette key at the right end, a
click on a key presses it (a disabled one rings the bell) and hovering a key shows its
tooltip. Keys that do not fit are cut with an ellipsis; the help screen (``?``) lists all.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget

__all__ = ["KeyFooter"]

_DIM = Style(dim=True)


class _Key(NamedTuple):
    key: str
    display: str
    description: str
    enabled: bool
    tooltip: str


class KeyFooter(Widget, can_focus=False):
    """The shown key bindings on one line (see the module docstring)."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"key-footer--key", "key-footer--description"}
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        width: 1fr;
        color: $footer-foreground;
        background: $footer-background;
        &:hover { pointer: pointer; }
        & > .key-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .key-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._keys: tuple[_Key, ...] = ()
        self._palette: _Key | None = None
        self._spans: list[tuple[int, int, _Key]] = []
        """Where each key was drawn (start, end column), for clicks and tooltips."""

    @property
    def keys_shown(self) -> tuple[str, ...]:
        """The keys on the bar, in order (palette key last); for tests."""
        keys = tuple(k.key for k in self._keys)
        return keys + ((self._palette.key,) if self._palette else ())

    @property
    def keys_dimmed(self) -> tuple[str, ...]:
        """The keys on the bar drawn dimmed (disabled), in order; for tests."""
        return tuple(k.key for k in self._keys if not k.enabled)

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._read_bindings()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        # Like Footer: while the terminal has no focus the bindings flicker; keep what is shown.
        if screen.app.app_focus and screen is self.screen:
            self._read_bindings()

    def _read_bindings(self) -> None:
        app = self.app
        active = self.screen.active_bindings
        keys: list[_Key] = []
        actions: set[str] = set()
        for _node, binding, enabled, tooltip in active.values():
            if not binding.show or binding.action in actions:
                continue  # one key per action, as Footer shows them
            actions.add(binding.action)
            keys.append(_Key(binding.key, app.get_key_display(binding), binding.description,
                             enabled, tooltip or binding.tooltip or binding.description))
        palette = None
        if app.ENABLE_COMMAND_PALETTE and app.COMMAND_PALETTE_BINDING in active:
            _node, binding, enabled, tooltip = active[app.COMMAND_PALETTE_BINDING]
            palette = _Key(binding.key, app.get_key_display(binding), binding.description,
                           enabled, binding.tooltip or binding.description)
            keys = [k for k in keys if k.key != binding.key]
        if (tuple(keys), palette) != (self._keys, self._palette):
            self._keys, self._palette = tuple(keys), palette
            self.refresh()  # one line repainted; never a layout

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-footer--key")
        text_style = self.get_component_rich_style("key-footer--description")
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        spans: list[tuple[int, int, _Key]] = []

        def add(item: _Key) -> None:
            start = line.cell_len
            dim = Style() if item.enabled else _DIM
            line.append(f" {item.display} ", key_style + dim)
            if item.description:
                line.append(f"{item.description} ", text_style + dim)
            spans.append((start, line.cell_len, item))

        for item in self._keys:
            add(item)
        palette = self._palette
        if palette is not None:
            # The palette key keeps its place at the right end; the keys give way to it.
            width = self.size.width
            label = 3 + len(palette.display) + len(palette.description)
            room = max(width - label, 0)
            if line.cell_len > room:
                line.truncate(room, overflow="ellipsis")
                spans = [(start, min(end, room), item) for start, end, item in spans
                         if start < room]
            line.append(" " * (room - line.cell_len))
            add(palette)
        self._spans = spans
        return line

    def _key_at(self, x: int) -> _Key | None:
        for start, end, item in self._spans:
            if start <= x < end:
                return item
        return None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        item = self._key_at(event.x)
        if item is None:
            return
        if item.enabled:
            self.app.simulate_key(item.key)
        else:
            self.app.bell()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        item = self._key_at(event.x)
        tooltip = item.tooltip if item is not None else None
        if tooltip != self.tooltip:
            self.tooltip = tooltip
