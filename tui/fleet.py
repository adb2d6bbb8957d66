"""Several contexts in one control room (issue 18): each watched context is a
:class:`FleetMember` with its own store, sources, alert sources, session and the App's
collaborators built for it (its own write gate, journal workspace, breaker watch, runbook).

The panels show one member at a time. Switching (number keys, ``:ctx NAME``) swaps the App's
store, target, settings, session and collaborators for the member's and hands the panels a
full change set of its store, so every row of the previous context leaves the screen: a plan
made after a switch is planned, confirmed (production gate of THAT context) and journaled in
that context alone. The other members keep running in the background and feed the fleet
strip (:mod:`widgets.fleet_strip`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.binding import Binding

from backends.config import Settings
from backends.fleet_summary import ContextSummary, summarize
from backends.kube.problems import summarise
from backends.kube.source_set import mark_unavailable
from backends.store import Store
from tui.session import Session, SourceStarter, Target

log = logging.getLogger(__name__)

#: ``1`` to ``9``: show the n-th watched context (the fleet strip numbers them); ``W``: the
#: fleet screen (every context on the team bus, tui/fleet_screen.py). Keys free in main's
#: tui/app.py BINDINGS too (``F`` filters every panel there); hidden from the key bar.
FLEET_BINDINGS = [
    Binding(str(n), f"switch_context({n - 1})", f"Context {n}", id=f"switch_context_{n}",
            show=False, tooltip=f"Show the {n}. watched context in the panels")
    for n in range(1, 10)
] + [Binding("W", "fleet_screen", "Fleet", id="fleet_screen", show=False,
             tooltip="Every context known on the team bus, with the age of its summary")]

#: The App attributes one member owns; swapped together on a switch.
OWNED = ("store", "settings", "target", "session", "_start_sources", "_stop_sources", "actions",
         "rollbacks", "alerts", "runbook", "baselines", "logs", "links", "timeline")
"""What each context has of its own. The trouble line reads the App's store through a getter
(one mounted widget for every context); navigation, the command line and the layout act on
the panels, which every context shares."""


@dataclass
class FleetMember:
    """One watched context: what starts its sources, and (once built) what it owns."""

    target: Target
    settings: Settings
    starter: SourceStarter
    owned: dict[str, Any] = field(default_factory=dict)
    start_failure: str = ""

    @property
    def context(self) -> str:
        return self.target.context

    @property
    def store(self) -> Store | None:
        store = self.owned.get("store")
        return store if isinstance(store, Store) else None

    def summary(self, now: float) -> ContextSummary:
        """Its line of the fleet strip (``unknown`` until its store has a source)."""
        store = self.store
        if store is None:
            return ContextSummary(context=self.context, production=self.target.production,
                                  problem="connecting")
        actions = self.owned.get("actions")
        state = actions.breaker_state if actions is not None else None
        engaged = None if actions is None or actions.journal is None else bool(
            state is not None and state.engaged)
        return summarize(store, self.context, now, production=self.target.production,
                         breaker_engaged=engaged)


def build_owned(app: Any, member: FleetMember, journal_path: Path | None,
                clock: Any) -> dict[str, Any]:
    """The collaborators of one context, built exactly as ``ControlRoomApp.__init__`` builds
    the first context's (each bound to the member's store, settings and target)."""
    from tui.actions import ActionController
    from tui.alert_actions import AlertActions
    from tui.baseline_actions import BaselineActions
    from tui.link_actions import LinkActions
    from tui.log_actions import LogActions
    from tui.rollbacks import RollbackActions
    from tui.runbook_actions import RunbookActions
    from tui.timeline_actions import TimelineActions

    store = Store(clock=clock)
    settings, target = member.settings, member.target
    owned: dict[str, Any] = {"store": store, "settings": settings, "target": target,
                             "session": None, "_start_sources": member.starter,
                             "_stop_sources": None}
    actions = ActionController(app, store, settings, target, journal_path=journal_path,
                               clock=clock)
    runbook = RunbookActions(app, store, settings, clock, context=target.context,
                             state_dir=journal_path.parent if journal_path else None)
    owned.update(
        actions=actions,
        rollbacks=RollbackActions(app, store, settings, actions),
        alerts=AlertActions(app, settings, actions),
        runbook=runbook,
        baselines=BaselineActions(app, store, settings, target, runbook,
                                  started=lambda: owned["session"] is not None, clock=clock,
                                  breakers=actions.engaged_breakers),
        logs=LogActions(app, store, lambda: owned["session"]),
        links=LinkActions(app, store, settings.links, target),
        timeline=TimelineActions(app, store, app.navigator, target.context,
                                 journal_path.parent if journal_path else None))
    return owned


class Fleet:
    """The App's watched contexts: the first is the one the App was built for."""

    def __init__(self, app: Any, members: list[FleetMember],
                 journal_path: Path | None, clock: Any) -> None:
        self.app = app
        self.members = members
        self.active = 0
        self._journal_path = journal_path
        self._clock = clock

    def adopt_first(self) -> None:
        """The App's own collaborators are the first member's."""
        self.members[0].owned = {name: getattr(self.app, name) for name in OWNED}

    def start_background(self) -> None:
        """Build and start every other member (each a worker of its own, retried by the
        member's own loop like the App's first start)."""
        for member in self.members[1:]:
            member.owned = build_owned(self.app, member, self._journal_path, self._clock)
            self.app.run_worker(self._run(member), group=f"fleet-{member.context}",
                                exit_on_error=False)
        self.wire_staging()
        from backends.signals.bus_summary import SUMMARY_INTERVAL_S

        self.app.set_interval(SUMMARY_INTERVAL_S, self.publish_summaries)

    async def _run(self, member: FleetMember) -> None:
        import asyncio

        from backends.backoff import Backoff

        backoff = Backoff(1.0, 30.0)
        store = member.owned["store"]
        while True:
            try:
                session: Session = await member.starter(store)
            except Exception as exc:  # noqa: BLE001 - shown on the strip, retried
                member.start_failure = summarise(exc)
                mark_unavailable(store, member.start_failure, member.target.namespaces or None)
                await asyncio.sleep(backoff.next())
                continue
            break
        member.start_failure = ""
        member.owned["session"] = session
        member.owned["_stop_sources"] = session.stop
        await member.owned["actions"].open(session)

    def staging(self) -> FleetMember | None:
        """The watched staging context: the one named by ``staging_environment``, else a
        non-production context with "staging" in its name (None when none is watched)."""
        wanted = self.members[0].settings.staging_environment
        for member in self.members:
            if (wanted and member.context == wanted) or (
                    not wanted and not member.target.production
                    and "staging" in member.context.casefold()):
                return member
        return None

    def wire_staging(self) -> None:
        """Every other context's runbook ticks "Staging healthy" from the staging context's
        live validation (backends/baseline/staging_live.py)."""
        from backends.baseline.staging_live import staging_from_store

        staging = self.staging()
        if staging is None or len(self.members) < 2:
            return

        def live() -> tuple[bool | None, str]:
            store = staging.store
            if store is None:
                return None, f"{staging.context}: not connected yet"
            return staging_from_store(store, staging.context, staging.settings.validate,
                                      self._clock())

        for member in self.members:
            runbook = member.owned.get("runbook")
            if member is not staging and runbook is not None:
                runbook.staging_live = live

    def names(self) -> list[str]:
        return [m.context for m in self.members]

    def switch(self, name: str) -> str:
        """Show context ``name`` in the panels; "" when done, else why not."""
        index = next((i for i, m in enumerate(self.members) if m.context == name), None)
        if index is None:
            return f"no watched context {name!r} (watched: {', '.join(self.names())})"
        if index == self.active:
            return ""
        app = self.app
        # A dialog or a running plan belongs to the context it was opened on: switching
        # under it would show one context's plan over another's panels.
        if len(app.screen_stack) > 1:
            return "close the open screen first: it belongs to " + app.target.context
        if app.actions.step_cancel is not None:
            return "a plan is running on " + app.target.context + "; switch when it ends"
        current = self.members[self.active]
        current.owned = {attr: getattr(app, attr) for attr in OWNED}
        for attr, value in self.members[index].owned.items():
            setattr(app, attr, value)
        self.active = index
        app.start_failure = self.members[index].start_failure
        app._seen = -1  # the next tick hands the panels a full change set of this store
        app.header.show_target(app.target.cluster, app.target.context, app.target.production)
        app.refresh_tick()
        app.refresh_ages()
        app.refresh_bindings()
        return ""

    def _live(self, index: int) -> dict[str, Any]:
        """A member's owned attributes; the active one's are the App's own right now."""
        if index == self.active:
            return {attr: getattr(self.app, attr) for attr in OWNED}
        return self.members[index].owned

    def stores(self) -> list[Store]:
        return [store for i in range(len(self.members))
                if isinstance(store := self._live(i).get("store"), Store)]

    def publish_summaries(self) -> int:
        """Publish every watched context's summary, retained, on the team bus (through its
        own bus, else the first one connected); the number published."""
        from backends.signals.bus_summary import publish_summary

        buses = [getattr(self._live(i).get("session"), "bus", None)
                 for i in range(len(self.members))]
        fallback = next((bus for bus in buses if bus is not None), None)
        now = self._clock()
        sent = 0
        for index, member in enumerate(self.members):
            bus = buses[index] or fallback
            if bus is not None and member.store is not None:
                publish_summary(bus, member.summary(now), now)
                sent += 1
        return sent

    def summaries(self, now: float) -> list[ContextSummary]:
        return [m.summary(now) for m in self.members]

    async def stop(self) -> None:
        """Stop every member's sources and close its actions (the active one's included)."""
        for index, member in enumerate(self.members):
            owned = member.owned if index != self.active else {
                attr: getattr(self.app, attr) for attr in OWNED}
            stop = owned.get("_stop_sources")
            if stop is not None:
                owned["_stop_sources"] = None
                if index == self.active:
                    self.app._stop_sources = None
                await stop()
            actions = owned.get("actions")
            if actions is not None:
                await actions.close()
