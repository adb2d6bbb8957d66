"""The control room App: a thin shell wiring sources to the store and the store to panels.

Data flows one way (ARCHITECTURE.md): watch sources (App-level workers) feed the Store; a refresh
tick every ``refresh_ms`` takes the change set since the last tick and hands each panel only the
changes of its kinds. Panels never fetch. Freezing the view (``space``) stops the hand-over, not
the sources, so nothing is lost while the engineer reads.

The keys are owned by collaborators the App builds in ``__init__`` and reaches by name; each
gets exactly what it needs (the store, the settings, the target, the App as a
:class:`~tui.host.Host`): ``actions`` (the write side: journal, gate, plan flow, the cluster
keys and the breaker), ``rollbacks`` (``r``, ``H``), ``alerts`` (silence), ``runbook`` (the
change record and ``k``), ``baselines`` (``b``, ``d``, ``v``), ``logs`` (``l``),
``navigator`` (``g``, ``G``: the worst row), ``commands`` (``:``, ``F``, Escape),
``trouble`` (the line under the header, ``n``), ``links`` (``o``) and ``timeline``
(``i``: the recorded timeline). The App's ``action_*`` methods are one-line hand-overs
(Textual looks actions up on the App), and which of them are enabled is decided in one
place, :func:`tui.enabled.action_state`.

Over 500 lines because Textual finds every key's action on the App: each key adds its
one-line hand-over here, while the work stays in the collaborators.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from textual import events, on, work
from textual.actions import ActionParseResult
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.dom import DOMNode
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget

from backends.backoff import Backoff
from backends.config import Settings, remember_theme
from backends.kube.gcpause import freeze_startup_heap
from backends.kube.problems import summarise
from backends.kube.source_set import mark_unavailable
from backends.sanitize import clean
from backends.store import Store
from themes import THEMES
from tui import bus_wiring
from tui.actions import ACTION_BINDINGS, ActionController
from tui.alert_actions import ALERT_BINDINGS, AlertActions
from tui.baseline_actions import BASELINE_BINDINGS, BaselineActions
from tui.command_actions import COMMAND_BINDINGS, CommandActions
from tui.ctx_command import ctx_command
from tui.enabled import NEEDS, Readiness, action_state, why_disabled
from tui.fleet import FLEET_BINDINGS, Fleet, FleetMember
from tui.layout import LAYOUT_BINDINGS, LayoutController
from tui.link_actions import LINK_BINDINGS, LinkActions
from tui.log_actions import LOG_BINDINGS, LogActions
from tui.navigation import NAVIGATION_BINDINGS, Navigator
from tui.rollbacks import RollbackActions
from tui.runbook_actions import RUNBOOK_BINDINGS, RunbookActions
from tui.screens import DetailScreen, binding_commands, help_screen
from tui.session import Session, SourceStarter, Target
from tui.timeline_actions import TIMELINE_BINDINGS, TimelineActions
from tui.trouble_actions import TROUBLE_BINDINGS, TroubleActions
from widgets.filter_box import FilterBox
from widgets.fleet_strip import FleetStrip
from widgets.footer import KeyFooter
from widgets.header import HeaderBar
from widgets.messages import PanelRowActivated
from widgets.panel import Panel
from widgets.panels import PodsPanel, dashboard_panels
from widgets.pipeline import PipelineStrip

__all__ = ["ControlRoomApp", "Session", "SessionStarted", "SourceStarter", "Target"]


log = logging.getLogger(__name__)

LOADING_HANDOVER_S = 0.4
"""Slowest hand-over of changes to the panels while first lists load (see refresh_tick)."""
START_RETRY = (1.0, 30.0)
"""Initial and longest wait before the sources are started again after a failed start
(``R`` starts them at once)."""


class SessionStarted(Message):
    """The sources run and the connection is up: actions can be planned."""


class ControlRoomApp(App[int]):
    """The on-call engineer's screen."""

    CSS_PATH = str(Path(__file__).resolve().parent.parent / "themes" / "controlroom.tcss")
    TITLE = "controlroom"
    ENABLE_COMMAND_PALETTE = True
    ALLOW_IN_MAXIMIZED_VIEW = ("HeaderBar, TroubleLine, PanelPager, FilterBox, CommandLine, "
                               "KeyFooter")
    """A maximised panel keeps the header (context, PRODUCTION, modes), the trouble line, the
    pager line, the filter and command lines (while open) and the key bar (tui/layout.py)."""
    ESCAPE_TO_MINIMIZE = False
    """Escape keeps its meaning (close, cancel, clear); ``z`` restores the grid."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit_clean", "Quit", id="quit",
                tooltip="Close every watch and exit"),
        Binding("question_mark", "help", "Help", id="help", tooltip="Keys and what they do"),
        Binding("slash", "filter", "Filter", id="filter",
                tooltip="Filter the focused panel by text"),
        Binding("space", "freeze", "Freeze", id="freeze",
                tooltip="Freeze the view for reading; data keeps flowing into the store"),
        Binding("a", "toggle_all_pods", "All pods", id="toggle_all_pods",
                tooltip="Pods panel: problem pods only, or all pods"),
        Binding("t", "cycle_theme", "Theme", id="cycle_theme",
                tooltip="Next theme (remembered in the config file)"),
        Binding("R", "retry_now", "Retry", id="retry_now", show=False,
                tooltip="Reconnect every failing source now instead of waiting for its backoff"),
        Binding("tab", "focus_next", "Next panel", id="focus_next", show=False,
                tooltip="Focus the next panel"),
        Binding("shift+tab", "focus_previous", "Previous panel", id="focus_previous",
                show=False, tooltip="Focus the previous panel"),
        *NAVIGATION_BINDINGS,
        *ACTION_BINDINGS,
        *ALERT_BINDINGS,
        *RUNBOOK_BINDINGS,
        *BASELINE_BINDINGS,
        *LOG_BINDINGS,
        *COMMAND_BINDINGS,
        *TROUBLE_BINDINGS,
        *LINK_BINDINGS,
        *LAYOUT_BINDINGS,
        *TIMELINE_BINDINGS,
        *FLEET_BINDINGS,
    ]

    def __init__(self, settings: Settings, settings_path: Path | None, target: Target,
                 start_sources: SourceStarter, *, theme: str | None = None,
                 clock: Callable[[], float] = time.time,
                 journal_path: Path | None = None,
                 watch: list[FleetMember] | None = None) -> None:
        super().__init__()
        freeze_startup_heap()  # before the screen is built (backends/kube/gcpause.py)
        self.session: Session | None = None
        self.settings = settings
        self.settings_path = settings_path
        self.target = target
        self.store = Store(clock=clock)
        self.frozen = False
        self._start_sources = start_sources
        self._stop_sources: Callable[[], Awaitable[None]] | None = None
        self._seen = 0
        self._clock = clock
        self._use_theme(theme or settings.theme)
        self.panels: list[Panel] = []
        self._last_panel: Panel | None = None
        """The last dashboard panel that had the focus (the keys act on it while the focus is
        in the filter box)."""
        self._handed_rows = False
        self._last_handover = 0.0
        self._retry_start = asyncio.Event()
        """Set by the retry key while no session runs: start the sources again now."""
        self.start_failure = ""
        """Why the sources could not be started ("" once they run, or before the first try)."""
        # the collaborators that own the keys (module docstring)
        self.actions = ActionController(self, self.store, settings, target,
                                        journal_path=journal_path, clock=clock)
        self.rollbacks = RollbackActions(self, self.store, settings, self.actions)
        self.alerts = AlertActions(self, settings, self.actions)
        self.runbook = RunbookActions(self, self.store, settings, clock, context=target.context,
                                      state_dir=journal_path.parent if journal_path else None)
        self.navigator = Navigator(self, self.panels)
        self.baselines = BaselineActions(self, self.store, settings, target, self.runbook,
                                         started=lambda: self.session is not None,
                                         clock=clock, breakers=self.actions.engaged_breakers)
        self.logs = LogActions(self, self.store, lambda: self.session)
        self.commands = CommandActions(self, self.panels, lambda: self.filter_box,
                                       lambda text: ctx_command(self.fleet, text))
        self.trouble = TroubleActions(self, lambda: self.store, self.panels, self.navigator)
        self.links = LinkActions(self, self.store, settings.links, target)
        self.layout = LayoutController(self, self.panels, compact_width=settings.compact_width,
                                       compact_height=settings.compact_height)
        self.timeline = TimelineActions(self, self.store, self.navigator, target.context,
                                        journal_path.parent if journal_path else None)
        # Issue 18: the other watched contexts (tui/fleet.py), each with its own everything.
        self.fleet = Fleet(self, [FleetMember(target, settings, start_sources), *(watch or [])],
                           journal_path, clock)

    # ----------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        self.layout.prepare(self.screen, self.size)
        self.header = HeaderBar(id="header")
        yield self.header
        self.fleet_strip = FleetStrip(id="fleet")
        self.fleet_strip.display = len(self.fleet.members) > 1
        yield self.fleet_strip
        self.pipeline_strip = PipelineStrip(id="pipeline")
        yield self.pipeline_strip
        yield self.trouble.line
        self.panels[:] = dashboard_panels([s.name for s in self.settings.signals])
        with Grid(id="dashboard"):
            yield from self.panels
        self.filter_box = FilterBox(id="filter")
        yield self.filter_box
        yield self.commands.line
        yield KeyFooter()

    def _use_theme(self, name: str) -> None:
        """Register our themes and start on ``name`` (unknown: the first of ours).

        In ``__init__``, before the stylesheet is first read, and not in ``on_mount``: set
        there, the theme re-parsed and re-applied the whole CSS after the first layout,
        ~50 ms of the time to the first frame (issue 16: spawn to first rows). Textual's
        watcher still queues a CSS refresh; with no widget mounted yet it costs little.
        """
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = name if name in self.available_themes else THEMES[0].name

    def on_mount(self) -> None:
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        self.header.show_target(self.target.cluster, self.target.context, self.target.production)
        self._show_modes()
        self.set_interval(self.settings.refresh_ms / 1000, self.refresh_tick)
        # Until the first rows are on screen, look at the store every 20 ms instead of every
        # refresh_ms: the first list page should not wait up to a whole tick to be seen
        # (bench/bench_live.py, "first rows on screen"). Stops itself; the regular tick stays.
        self._warmup = self.set_interval(0.02, self._warmup_tick)
        self._warmup_until = time.monotonic() + 10.0
        self.set_interval(1.0, self.refresh_ages)
        self.run_sources()
        self.fleet.adopt_first()
        self.fleet.start_background()
        if self.panels:
            self.panels[0].focus()
        self.layout.attach(self.screen)

    def on_resize(self, event: events.Resize) -> None:
        self.layout.apply(event.size)

    def action_maximize_panel(self) -> None:
        self.layout.toggle()

    def action_focus_next(self) -> None:
        self.layout.step(1)

    def action_focus_previous(self) -> None:
        self.layout.step(-1)

    def _show_modes(self) -> None:
        state = self.actions.breaker_state
        breaker = ""
        if state is not None and state.engaged:
            since = state.since.strftime("%H:%M:%S") if state.since else "?"
            half = " HALF-DONE" if state.half_done else ""
            breaker = (f"BREAKER ENGAGED{half} by {clean(state.by or '?')} since {since} "
                       f"({len(state.targets)} targets; ctrl+r releases)")
        self.header.show_modes(
            "READ-ONLY" if self.target.read_only else "",
            "FROZEN (space to resume)" if self.frozen else "", breaker,
            self.actions.breaker_doubt)
        self._sync_team()  # publish our breaker if it changed; show the team's

    def _sync_team(self) -> None:
        bus_wiring.sync_team(self.session.bus if self.session else None, self.store,
                             self.target.context, self.actions.breaker_state, self.header,
                             self.pipeline_strip)

    # ----------------------------------------------------------------- data flow

    @work(group="sources", exclusive=True, exit_on_error=False)
    async def run_sources(self) -> None:
        """Start the sources (one long-lived worker; they run until quit).

        A start that fails (an exec plugin or kubeconfig that cannot give credentials, a TLS
        set-up that fails...) goes through the failure funnel like any source failure: every
        source that would run says why where its data would be (header, panels), a
        notification says it once, and the start is tried again with a capped backoff, or
        at once with the retry key.
        """
        backoff = Backoff(*START_RETRY)
        while True:
            try:
                session = await self._start_sources(self.store)
            except Exception as exc:  # noqa: BLE001 - every failure is shown, none ends us
                log.warning("the sources could not be started: %r", exc)
                self._start_failed(summarise(exc))
                await self._wait_for_retry(backoff.next())
                continue
            break
        self.start_failure = ""
        self.session = session
        self._stop_sources = session.stop
        self.post_message(SessionStarted())

    def _start_failed(self, why: str) -> None:
        if not self.is_running:  # the App is closing: nobody to tell
            return
        mark_unavailable(self.store, why, self.target.namespaces or None)
        # The alert pollers start with the session: a configured source that could not start
        # must not leave the alerts panel saying "no alert source configured" (a false calm).
        for source, url in (("prometheus", self.settings.prometheus.url),
                            ("alertmanager", self.settings.alertmanager.url)):
            if url and self.store.health(source) is None:
                self.store.set_health(source, "error",
                                      f"not started: cannot connect to the cluster ({why})")
        if why != self.start_failure:
            self.notify(f"cannot connect to the cluster: {why} (R retries now)",
                        title="connection failed", severity="error", markup=False,
                        timeout=10)
        self.start_failure = why
        self.refresh_tick()

    async def _wait_for_retry(self, delay: float) -> None:
        """Wait ``delay`` seconds or until the retry key is pressed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._retry_start.wait()
        self._retry_start.clear()

    def _warmup_tick(self) -> None:
        """The fast tick of the first moments (see on_mount); ends at the first rows."""
        if self.store.version:
            self.refresh_tick()
        if any(self.store.count(kind) for kind in ("pods", "nodes", "deployments")) \
                or time.monotonic() > self._warmup_until:
            self._warmup.stop()

    def refresh_tick(self) -> None:
        """Hand each panel the changes of its kinds since the last tick."""
        now = self._clock()
        health = self.store.all_health()
        self.header.show_health(health, now)
        if self.frozen:
            return
        # While first lists still load and rows are already on screen, hand changes over at
        # most every LOADING_HANDOVER_S: each hand-over re-sorts and repaints, and at 150 ms
        # that competed with decoding for the one event loop (bench/bench_live.py: ~0.25 s
        # of ticks and frames in a 1.5 s load of 30,000 pods).
        mono = time.monotonic()
        if (self._handed_rows and mono - self._last_handover < LOADING_HANDOVER_S
                and self.store.first_lists_loading()):
            return
        changes = self.store.changes_since(self._seen)
        if changes.is_empty:
            return
        self._seen = changes.version
        self._last_handover = mono
        self._handed_rows = self._handed_rows or bool(changes.upserted)
        touched = set(changes.upserted) | set(changes.removed)
        if changes.full or touched & bus_wiring.TEAM_KINDS:
            self._sync_team()
        health_kinds = {name.partition("@")[0] for name in changes.health}
        with self.batch_update():
            for panel in self.panels:
                if changes.full or touched.intersection(panel.KINDS) or (
                        changes.health and panel.WATCHES_HEALTH):
                    panel.refresh_from(self.store, changes, now)
                elif health_kinds & panel.fed_by:
                    panel.show_sources(self.store)  # a source's state alone changed

    async def on_unmount(self) -> None:
        """However the App ends, close the watches (and the drill, in the demo)."""
        if self._stop_sources is not None:
            stop, self._stop_sources = self._stop_sources, None
            await stop()
        await self.actions.close()
        await self.fleet.stop()

    def refresh_ages(self) -> None:
        """Keep "age" and "last seen" cells moving while the cluster is quiet; show the
        breaker state and run the drift watchdog."""
        self._show_modes()
        self.actions.check_drift()
        if len(self.fleet.members) > 1:
            self.fleet_strip.show(self.fleet.summaries(self._clock()), self.target.context)
        if self.frozen:
            return
        now = self._clock()
        self.trouble.refresh(now)
        self.layout.lead_to(self.trouble.first_panel())
        for panel in self.panels:
            panel.refresh_ages(now)

    # ----------------------------------------------------------------- actions

    async def action_quit_clean(self) -> None:
        """Close every watch before exiting, so nothing is left half-open."""
        if self._stop_sources is not None:
            await self._stop_sources()
            self._stop_sources = None
        await self.actions.close()
        await self.fleet.stop()
        self.workers.cancel_group(self, "sources")
        self.exit(0)

    def action_help(self) -> None:
        screen = help_screen(self)
        if screen is not None:
            self.push_screen(screen)

    def action_switch_context(self, index: int) -> None:
        """Number keys: the panels show the index-th watched context (tui/fleet.py)."""
        if index < len(self.fleet.members):
            why = self.fleet.switch(self.fleet.members[index].context)
            if why:
                self.notify(why, title="context", severity="warning", markup=False)

    def action_fleet_screen(self) -> None:
        from tui.fleet_screen import FleetScreen

        self.push_screen(FleetScreen(self.fleet.stores, self._clock))

    def action_retry_now(self) -> None:
        """Reconnect now: start the sources again if they never started, else end every
        failing source's backoff wait."""
        session = self.session
        if session is None:
            self._retry_start.set()
        elif session.retry is not None:
            session.retry()
        self.notify("reconnecting now", timeout=2, markup=False)

    def action_freeze(self) -> None:
        self.frozen = not self.frozen
        self._show_modes()
        if not self.frozen:
            self.refresh_tick()

    def action_filter(self) -> None:
        self.filter_box.open(self.focused_panel())

    def action_worst_row(self) -> None:
        self.navigator.worst_row()

    def action_worst_anywhere(self) -> None:
        self.navigator.worst_anywhere()

    def action_detail(self) -> None:
        panel = self.focused_panel()
        if panel is not None and panel.selected_key is not None:
            self.push_screen(DetailScreen(self.store, panel.selected_kind, panel.selected_key,
                                          self.settings.argocd))

    @on(SessionStarted)
    async def arm_actions(self) -> None:
        """The sources are up: open the journal, build the workspace the use cases act with
        (the gate, the store, the Alertmanager client), light the action keys."""
        session = self.session
        if session is None:
            return
        await self.actions.open(session)
        # every journal entry goes out on the team bus
        bus_wiring.attach_journal(session.bus, self.actions.journal)
        for warning in session.warnings(self.settings):  # plain-http credentials
            self.notify(warning, title="credentials", severity="warning", timeout=30, markup=False)

    @on(PanelRowActivated)
    def open_detail(self, event: PanelRowActivated) -> None:
        self.push_screen(DetailScreen(self.store, event.kind, event.key, self.settings.argocd))

    def action_toggle_all_pods(self) -> None:
        for panel in self.panels:
            if isinstance(panel, PodsPanel):
                panel.toggle_all()

    def action_cycle_theme(self) -> None:
        names = [t.name for t in THEMES]
        current = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(current + 1) % len(names)]
        if self.settings_path is not None:
            try:
                remember_theme(self.settings_path, self.theme)
            except (OSError, ValueError) as exc:
                self.notify(f"theme not remembered: {exc}", severity="warning", markup=False)

    # ----------------------------------------------------------------- the collaborators' keys
    # One-line hand-overs: Textual finds actions on the App; the work is the collaborators'.

    def action_pause_sync(self) -> None:
        self.actions.pause_sync()

    def action_scale_down(self) -> None:
        self.actions.scale_down()

    def action_scale_restore(self) -> None:
        self.actions.scale_restore()

    def action_rollout_pause(self) -> None:
        self.actions.rollout_pause()

    def action_rollback(self) -> None:
        self.rollbacks.rollback()

    def action_shift_traffic(self) -> None:
        self.actions.shift_traffic()

    def action_pause_scope(self) -> None:
        self.actions.pause_scope()

    def action_helm_rollback(self) -> None:
        self.rollbacks.helm_rollback()

    def action_breaker(self) -> None:
        self.actions.breaker(engaging=True)

    def action_release(self) -> None:
        self.actions.breaker(engaging=False)

    def action_journal(self) -> None:
        self.actions.journal_screen()

    def action_silence(self) -> None:
        self.alerts.silence()

    def action_expire_silence(self) -> None:
        self.alerts.expire_silence()

    def action_baseline(self) -> None:
        self.baselines.take()

    def action_diff(self) -> None:
        self.baselines.diff()

    def action_validate(self) -> None:
        self.baselines.validate()

    def action_runbook(self) -> None:
        self.runbook.open_screen()

    def action_logs(self) -> None:
        self.logs.open()

    def action_command_line(self) -> None:
        self.commands.open()

    def action_filter_all(self) -> None:
        self.commands.filter_all()

    def action_clear_filters(self) -> None:
        self.commands.clear_filters()

    def action_next_trouble(self) -> None:
        self.trouble.next()

    def action_links(self) -> None:
        self.links.open()

    def action_timeline(self) -> None:
        self.timeline.open()

    def _readiness(self) -> Readiness:
        return Readiness(gate=self.actions.gate is not None,
                         alertmanager=self.alerts.client is not None,
                         read_only=self.target.read_only)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Which actions are enabled: decided in :func:`tui.enabled.action_state` alone."""
        return action_state(action, self._readiness())

    async def run_action(self, action: str | ActionParseResult,
                         default_namespace: DOMNode | None = None,
                         namespaces: Mapping[str, DOMNode] | None = None) -> bool:
        """A dimmed key of ours pressed anyway (or chosen in the palette) says why it is
        dimmed (:func:`tui.enabled.why_disabled`) instead of doing nothing in silence."""
        if isinstance(action, str) and default_namespace in (None, self) and action in NEEDS:
            why = why_disabled(action, self._readiness(), self.target.context)
            if why:
                self.notify(why, title="key disabled", severity="warning", markup=False,
                            timeout=8)
                return True
        return await super().run_action(action, default_namespace, namespaces)

    # ----------------------------------------------------------------- helpers (the Host)

    def focused_panel(self) -> Panel | None:
        """The dashboard panel holding the focus, else the last one that held it."""
        node: Widget | None = self.focused
        while node is not None:
            if isinstance(node, Panel) and node in self.panels:
                self._last_panel = node
                return node
            parent = node.parent
            node = parent if isinstance(parent, Widget) else None
        return self._last_panel

    def panel_for(self, kind: str) -> Panel | None:
        return next((p for p in self.panels if kind in p.KINDS), None)

    # Screen[Any]: Textual's own signature of this hook.
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every action of the control room in the command palette."""
        yield from super().get_system_commands(screen)
        yield from binding_commands(self, self.BINDINGS)
        yield SystemCommand("Detail", "Details of the selected object (Enter on a row)",
                            self.action_detail)
