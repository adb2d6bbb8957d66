"""Modal screens: the help screen (every key, what it does) and the detail view of one object
(for an Argo CD app, with the commit behind each history entry when the REST API is set)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from backends.config import ArgoCDSettings
from backends.model import AppRow
from backends.sanitize import clean
from backends.store import Store
from tui.modal import ContextModal
from widgets.keylist import KeyList
from widgets.panels import DetailView


class HelpScreen(ContextModal[None]):
    """Every active key with its description and tooltip (Escape or ? closes).

    Opaque, unlike the other modals: a see-through modal keeps the dashboard below it a
    "background screen" that Textual re-lays out when the modal opens and redraws (dimmed)
    under it on every change, and under a flood of pod events that cost more than the help
    itself (issue 16, point 5, key to paint; cProfile: half of an open). The keys are one
    :class:`~widgets.keylist.KeyList`, and the screen is kept between opens
    (:func:`help_screen`), so a second open composes and lays out nothing new.
    """

    async def action_help_keys(self) -> None:
        """``?`` on the help screen closes it (every other modal opens it)."""
        self.dismiss()

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help_close",
                tooltip="Close the help screen"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background; }
    HelpScreen > VerticalScroll { width: 90%; height: 80%; border: round $primary;
                                  background: $surface; }
    """

    def __init__(self, rows: list[tuple[str, str, str]], made_for: object = None) -> None:
        super().__init__()
        self._rows = rows
        self.made_for = made_for
        """What the screen was built for (target line, theme): kept while it still holds."""

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Content.styled("Keys (remap them in the config file's [keys] table "
                                        "by binding id)", "bold"))
            yield KeyList(self._rows, id="help-keys")

    def show_rows(self, rows: list[tuple[str, str, str]]) -> None:
        """Show ``rows`` from the top (a reused screen: only changed keys are laid out)."""
        self._rows = rows
        if self.is_mounted:
            self.query_one(KeyList).set_rows(rows)
            self.query_one(VerticalScroll).scroll_home(animate=False)


HELP_SCREEN = "help"
"""The name the help screen is installed under (kept between opens)."""


def help_screen(app: App[Any]) -> HelpScreen | None:
    """The help screen to push for the screen on top, or None when it is open already.

    The screen of the last open is reused (installed, so Textual keeps it when it closes)
    with its rows replaced; a new one is built when what its target line or colours were
    made from changed (a context switch, a theme), since a screen off the stack is not
    restyled."""
    made_for = (getattr(app, "target", None), app.theme)
    old = app.get_screen(HELP_SCREEN) if app.is_screen_installed(HELP_SCREEN) else None
    if old is not None and old in app.screen_stack:
        return None
    rows = help_rows(app)
    if isinstance(old, HelpScreen) and old.made_for == made_for:
        old.show_rows(rows)
        return old
    if old is not None:
        app.uninstall_screen(HELP_SCREEN)
        old.remove()
    screen = HelpScreen(rows, made_for)
    app.install_screen(screen, HELP_SCREEN)
    return screen


class DetailScreen(ContextModal[None]):
    """Everything about one object: fields, conditions, recent events."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="detail_close",
                tooltip="Back to the dashboard"),
    ]
    DEFAULT_CSS = """
    DetailScreen { align: center middle; }
    DetailScreen > DetailView { width: 90%; height: 85%; border: round $primary;
                                background: $surface; }
    """

    def __init__(self, store: Store, kind: str | None, key: str | None,
                 argocd: ArgoCDSettings | None = None) -> None:
        super().__init__()
        self._store = store
        self._kind = kind
        self._key = key
        self._argocd = argocd

    def compose(self) -> ComposeResult:
        yield DetailView(self._store, self._kind, self._key)

    def on_mount(self) -> None:
        app = self._store.get("applications", self._key or "")
        if self._kind != "applications" or not isinstance(app, AppRow):
            return
        view = self.query_one(DetailView)
        if self._argocd is None or not self._argocd.server:
            view.set_revisions(None, "commit author and message: set [argocd] server (and "
                                     "its token) in the config")
            return
        view.set_revisions(None, f"reading commit details from {self._argocd.server}...")
        self.run_worker(self._commits(app, self._argocd, view), group="detail-commits",
                        exclusive=True, exit_on_error=False)

    async def _commits(self, app: AppRow, argocd: ArgoCDSettings, view: DetailView) -> None:
        """Author and subject of each history revision, from Argo CD's REST API."""
        from backends.ops.argocd_revisions import (
            fetch_history_metadata,  # at first use (first rows)
        )

        revisions = [e.revision for e in app.history[-10:]]
        try:
            found = await fetch_history_metadata(argocd, app.namespace, app.name, revisions)
        except ValueError as exc:
            view.set_revisions(None, f"commit details unavailable: {clean(exc, 300)}")
            return
        view.set_revisions(found, f"commits from the Argo CD API at {argocd.server}")


ENTER_ROW = ("enter", "Open", "Details of the selected row (a pod's containers and exit "
             "codes, an Argo CD app's resource tree and history...)")
"""Enter is listed even when no table has the focus (it is the key every list answers)."""


def help_rows(app: App[Any]) -> list[tuple[str, str, str]]:
    """(keys, description, tooltip) of every active binding of the screen on top (the
    dashboard with its focused panel's keys, or the modal the help was asked from), Enter
    always among them, for the help screen."""
    rows = []
    for key, active in app.active_bindings.items():
        b = active.binding
        rows.append((app.get_key_display(b) or key, b.description or b.action, b.tooltip or ""))
    if "enter" not in app.active_bindings:
        key, description, tooltip = ENTER_ROW
        rows.append((app.get_key_display(Binding(key, "")), description, tooltip))
    return sorted(set(rows))


def binding_commands(app: App[Any], bindings: Iterable[BindingType]) -> Iterator[SystemCommand]:
    """A command palette entry per binding with a tooltip (the palette runs the action as
    the key would, so a disabled one says why)."""
    for binding in bindings:
        if isinstance(binding, Binding) and binding.tooltip:
            action = binding.action

            def run(action: str = action) -> None:
                app.call_later(app.run_action, action)

            yield SystemCommand(binding.description, binding.tooltip, run)
