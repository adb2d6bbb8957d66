"""LogsScreen: a container's log, followed or read once, searched, with the crash's last words.

``l`` on a pod (or a Deployment: its newest failing pod, :mod:`tui.log_actions`) opens it.
What the engineer gets, so a crash loop does not send them back to kubectl:

- the container's state on top, from the store (restarts, the last termination's reason and
  exit code: ``OOMKilled (exit code 137)``), refreshed every second;
- follow on (default) or off; ``p`` the previous instance's log, the last words before the
  crash, read once, with that instance's end (reason, exit code, time) above it;
- tail size and since-time, sent as the API's ``tailLines`` and ``sinceSeconds``;
- wrap, timestamps, search with highlights and ``n``/``N`` between matching lines;
- a status line that is never calm when unsure: ``following since 14:02:11``, ``stream broken
  since 14:03:05: ...; retrying``, ``forbidden: ...``.

Reading is :mod:`backends.kube.logs` (the connection, sanitizing, resume after a break), the
ring is :class:`~backends.logbuffer.LogBuffer` (bounded memory), drawing is
:class:`~widgets.logview.LogView` (plain text, never markup). Every read runs in one worker of
the group ``logs`` (exclusive: changing a setting cancels the read or follow that runs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Static

from backends.kube.errors import KubeError
from backends.kube.logs import (
    FollowState,
    LogFollower,
    LogLine,
    LogRequest,
    classify,
    read_logs,
)
from backends.kube.wire import KubeTransport
from backends.logbuffer import DEFAULT_RING, LogBuffer
from backends.model import ContainerInfo, PodRow
from backends.store import Store
from tui.modal import ContextModal
from tui.pickers import PickerScreen, PickRow
from widgets.detail_sections import container_line, last_termination
from widgets.footer import KeyFooter
from widgets.logview import LogView
from widgets.sourcestate import clock_time

__all__ = ["SINCE_CHOICES", "TAIL_CHOICES", "LogsScreen"]

TAIL_CHOICES: tuple[int | None, ...] = (100, 500, 1000, 5000, None)
"""What ``t`` cycles through (``tailLines``; None: everything the kubelet keeps)."""
SINCE_CHOICES: tuple[int | None, ...] = (None, 60, 300, 900, 3600, 6 * 3600, 86400)
"""What ``s`` cycles through (``sinceSeconds``; None: no limit)."""
_OK = "$text-success"
_WARN = "bold $text-warning"
_BAD = "bold $text-error"
_MUTED = "$foreground-muted"


class _SearchBox(Input):
    """The search box: Escape closes the box (the screen's Escape would close the screen)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close_box", "Close search", id="logs_search_close",
                tooltip="Close the search box; the highlights stay"),
    ]

    class Closed(Message):
        """The engineer closed the search box."""

    def action_close_box(self) -> None:
        self.post_message(self.Closed())


def _seconds(value: int | None) -> str:
    if value is None:
        return "all"
    if value % 3600 == 0:
        return f"{value // 3600}h"
    return f"{value // 60}m" if value % 60 == 0 else f"{value}s"


class LogsScreen(ContextModal[None]):
    """One container's log (see the module docstring).

    | Key(s) | Description |
    | :- | :- |
    | f | Follow on / off. |
    | p | The previous instance's log (the crash's last words) / back to the current one. |
    | c | Choose the container. |
    | t / s | Tail size / since-time (``tailLines`` / ``sinceSeconds``). |
    | w / T | Wrap / timestamps on or off. |
    | / | Search; Enter jumps to the next match. |
    | n / N | Next / previous matching line. |
    | escape, q | Back to the dashboard. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="logs_close", tooltip="Back to the dashboard"),
        Binding("f", "toggle_follow", "Follow", id="logs_follow",
                tooltip="Follow the log as it grows (follow=true), or read it once"),
        Binding("p", "toggle_previous", "Previous", id="logs_previous",
                tooltip="The previous container instance's log: the crash's last words "
                "(previous=true)"),
        Binding("c", "choose_container", "Container", id="logs_container",
                tooltip="Choose the container of the pod"),
        Binding("t", "cycle_tail", "Tail", id="logs_tail",
                tooltip="How many of the last lines to read (tailLines)"),
        Binding("s", "cycle_since", "Since", id="logs_since",
                tooltip="Only lines of the last minutes or hours (sinceSeconds)"),
        Binding("w", "toggle_wrap", "Wrap", id="logs_wrap", tooltip="Wrap long lines"),
        Binding("T", "toggle_timestamps", "Timestamps", id="logs_timestamps",
                tooltip="Show each line's timestamp"),
        Binding("slash", "search", "Search", id="logs_search",
                tooltip="Highlight a text in every line; Enter jumps to the next match"),
        Binding("n", "next_match", "Next match", id="logs_next", show=False,
                tooltip="The next line with the search text"),
        Binding("N", "previous_match", "Prev match", id="logs_prev", show=False,
                tooltip="The previous line with the search text"),
    ]
    DEFAULT_CSS = """
    LogsScreen { background: $background 60%; }
    LogsScreen > Vertical { width: 100%; height: 100%; background: $surface; }
    LogsScreen #logs-title, LogsScreen #logs-container, LogsScreen #logs-state {
        height: auto; padding: 0 1;
    }
    LogsScreen #logs-search { dock: bottom; margin-bottom: 1; }
    """

    def __init__(self, conn: KubeTransport, store: Store, pod_key: str,
                 container: str | None = None, *, follow: bool = True,
                 ring: int = DEFAULT_RING, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._conn = conn
        self._store = store
        self.pod_key = pod_key
        self.namespace, _, self.pod = pod_key.rpartition("/")
        self.container = container or self._default_container()
        self.follow = follow
        self.previous = False
        self.tail: int | None = 500
        self.since: int | None = None
        self.buffer = LogBuffer(ring)
        self.state = ""
        """The status line as plain text (what the engineer reads; tests read it too)."""
        self._clock = clock

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="logs-title")
            yield Static(id="logs-container")
            yield Static(id="logs-state")
            yield LogView(self.buffer, id="logs-view")
            yield _SearchBox(placeholder="search this log (Enter: next match, Esc: close the "
                                         "box)", id="logs-search")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#logs-search", Input).display = False
        self.view.focus()
        self.set_interval(1.0, self._show_container)
        self._restart()

    @property
    def view(self) -> LogView:
        return self.query_one("#logs-view", LogView)

    # ------------------------------------------------------------------ what is shown

    def _row(self) -> PodRow | None:
        row = self._store.get("pods", self.pod_key)
        return row if isinstance(row, PodRow) else None

    def _info(self) -> ContainerInfo | None:
        row = self._row()
        if row is None:
            return None
        return next((c for c in row.containers if c.name == self.container), None)

    def _default_container(self) -> str:
        """The first container with a problem (the one the engineer came for), else the
        first app container."""
        row = self._row()
        if row is None or not row.containers:
            return ""
        apps = [c for c in row.containers if not c.init] or list(row.containers)
        failing = [c for c in apps if c.restarts or c.last_reason or
                   (c.state != "running" and c.reason not in ("", "Completed"))]
        return (failing or apps)[0].name

    def _show_title(self) -> None:
        what = "previous instance" if self.previous else (
            "following" if self.follow else "read once")
        parts: list[str | tuple[str, str]] = [
            ("Logs ", "bold"), (self.pod_key, "bold $text-primary"),
            "  container ", (self.container or "?", "bold"), f"  · {what}",
            f" · tail {self.tail if self.tail is not None else 'all'}",
            f" · since {_seconds(self.since)}",
            f" · wrap {'on' if self.view.wrap else 'off'}",
            f" · {len(self.buffer)} lines held (ring {self.buffer.maxlen})"]
        if self.buffer.dropped:
            parts.append((f", {self.buffer.dropped} older dropped", _MUTED))
        if self.view.search:
            parts.append((f" · search {self.view.search!r}: "
                          f"{self.buffer.count(self.view.search)} lines", _WARN))
        self.query_one("#logs-title", Static).update(Content.assemble(*parts))

    def _show_container(self) -> None:
        info = self._info()
        now = self._clock()
        if info is None:
            line: list[str | tuple[str, str]] = [(
                "the pod is gone from the store" if self._row() is None else
                f"container {self.container!r} is not in the pod's status", _WARN)]
        else:
            line = list(container_line(info, now))
        self.query_one("#logs-container", Static).update(Content.assemble(*line))
        self._show_title()

    def _set_state(self, text: str, style: str = "") -> None:
        self.state = text
        self.query_one("#logs-state", Static).update(Content.styled(text, style))

    # ------------------------------------------------------------------ reading

    def _request(self) -> LogRequest:
        return LogRequest(self.namespace, self.pod, self.container, previous=self.previous,
                          tail_lines=self.tail, since_seconds=self.since)

    def _restart(self) -> None:
        """Forget what is held and read again with the current settings."""
        self.buffer.clear()
        self.view.lines_changed()
        self._show_container()
        if self.previous or not self.follow:
            self.run_worker(self._read_once(self._request()), group="logs", exclusive=True,
                            exit_on_error=False)
        else:
            follower = LogFollower(self._conn, self._request(), on_lines=self._add,
                                   on_state=self._follow_state, clock=self._clock)
            self.run_worker(follower.run(), group="logs", exclusive=True, exit_on_error=False)

    def _add(self, lines: list[LogLine]) -> None:
        self.buffer.extend(lines)
        self.view.lines_changed()
        self._show_title()

    async def _read_once(self, req: LogRequest) -> None:
        self._set_state("reading...", _MUTED)
        try:
            lines = await read_logs(self._conn, req)
        except KubeError as exc:
            failure = classify(exc)
            self._set_state(f"{failure.message} (at {clock_time(self._clock())})", _BAD)
            return
        self._add(lines)
        at = clock_time(self._clock())
        if req.previous:
            info = self._info()
            ended = last_termination(info) if info is not None else ""
            when = (f" at {clock_time(info.last_finished)}"
                    if info is not None and info.last_finished else "")
            self._set_state(f"previous instance: {len(lines)} lines; it ended "
                            f"{ended or '(reason unknown)'}{when} · read at {at} (p: current)",
                            _BAD if ended else _WARN)
        else:
            self._set_state(f"{len(lines)} lines read at {at}; not following (f follows)",
                            _MUTED)
        self._show_title()

    def _follow_state(self, state: FollowState) -> None:
        since = clock_time(state.since)
        if state.phase == "connecting":
            self._set_state("connecting...", _MUTED)
        elif state.phase == "following":
            self._set_state(f"following since {since}", _OK)
        elif state.phase == "ended":
            self._set_state(f"stream ended at {since}: {state.message}", _WARN)
        elif state.phase == "broken":
            self._set_state(f"stream broken since {since}: {state.message}; retrying", _BAD)
        else:
            self._set_state(f"{state.message} (since {since}); not following", _BAD)
        self._show_title()

    # ------------------------------------------------------------------ keys

    def action_close(self) -> None:
        self.workers.cancel_group(self, "logs")
        self.dismiss(None)

    def action_toggle_follow(self) -> None:
        if self.previous:
            self.notify("the previous instance has ended: there is nothing to follow "
                        "(p goes back to the current one)", timeout=4, markup=False)
            return
        self.follow = not self.follow
        self._restart()

    def action_toggle_previous(self) -> None:
        self.previous = not self.previous
        self._restart()

    def action_cycle_tail(self) -> None:
        self.tail = TAIL_CHOICES[(TAIL_CHOICES.index(self.tail) + 1) % len(TAIL_CHOICES)] \
            if self.tail in TAIL_CHOICES else TAIL_CHOICES[0]
        self._restart()

    def action_cycle_since(self) -> None:
        self.since = SINCE_CHOICES[(SINCE_CHOICES.index(self.since) + 1) % len(SINCE_CHOICES)] \
            if self.since in SINCE_CHOICES else SINCE_CHOICES[0]
        self._restart()

    def action_toggle_wrap(self) -> None:
        self.view.wrap = not self.view.wrap
        self._show_title()

    def action_toggle_timestamps(self) -> None:
        self.view.timestamps = not self.view.timestamps

    def action_choose_container(self) -> None:
        row = self._row()
        containers = row.containers if row is not None else ()
        if len(containers) < 2:
            self.notify(f"the pod has one container: {self.container}", timeout=3,
                        markup=False)
            return
        now = self._clock()
        rows = [PickRow(c.name, (c.name + (" (init)" if c.init else ""),
                                 Content.assemble(*container_line(c, now)).plain))
                for c in containers]

        def chosen(name: str | None) -> None:
            if name and name != self.container:
                self.container = name
                self._restart()

        self.app.push_screen(PickerScreen(f"Container of {self.pod_key}", ("container",
                                                                           "state"),
                                          rows, default=self.container,
                                          hint="Enter to show its log, Escape to keep this one"),
                             chosen)

    def action_search(self) -> None:
        box = self.query_one("#logs-search", Input)
        box.display = True
        box.value = self.view.search
        box.focus()

    @on(Input.Changed, "#logs-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.view.set_search(event.value)
        self._show_title()

    @on(Input.Submitted, "#logs-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.view.next_match()
        self._hide_search()

    def _hide_search(self) -> None:
        self.query_one("#logs-search", Input).display = False
        self.view.focus()

    @on(_SearchBox.Closed)
    def _search_closed(self) -> None:
        self._hide_search()

    def action_next_match(self) -> None:
        if self.view.next_match() is None and self.view.search:
            self.notify(f"no line holds {self.view.search!r}", timeout=3, markup=False)

    def action_previous_match(self) -> None:
        if self.view.next_match(forward=False) is None and self.view.search:
            self.notify(f"no line holds {self.view.search!r}", timeout=3, markup=False)
