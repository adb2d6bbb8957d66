"""Wiring of the MQTT team bus into the App: start it with the sources, feed it the journal
and the breaker state, and show what it received (header team line, pipeline strip).

Kept out of ``tui/app.py`` so the App stays a thin shell: the App calls three functions here
(:func:`team_bus_starter` through ``tui/run.py``, :func:`attach_journal` once the journal is
open, :func:`sync_team` from its once-a-second modes refresh and from the refresh tick when a
team kind changed), each handed exactly what it reads and draws on.

Where the bus lives: in the :class:`~tui.app.Session` (``session.bus``), created by the source
starter on the App's loop and stopped with the other sources, so a demo or a test that starts
sources differently simply has no bus.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from backends.config import Settings
from backends.signals.bus_schema import (
    PIPELINE,
    TEAMBREAKER,
    TEAMBUS,
    PipelineRow,
    TeamBreakerRow,
    TeamBusRow,
)
from backends.store import Store
from widgets.pipeline import team_text

if TYPE_CHECKING:
    from backends.ops.breaker import BreakerState
    from backends.ops.journal import Journal
    from backends.signals.mqtt import TeamBus
    from widgets.header import HeaderBar
    from widgets.pipeline import PipelineStrip

__all__ = ["TEAM_KINDS", "attach_journal", "sync_team", "team_bus_starter"]

TEAM_KINDS = frozenset({PIPELINE, TEAMBREAKER, TEAMBUS})
"""Store kinds whose change should repaint the team line and the pipeline strip."""

BusStarter = Callable[[Store], Awaitable["TeamBus | None"]]


def team_bus_starter(settings: Settings,
                     fallback_url: Callable[[], str | None] | None = None) -> BusStarter:
    """Start the team bus on a store when a broker is configured.

    ``settings.mqtt.url`` wins; otherwise ``fallback_url`` (the drill's own mosquitto in the
    demo, known only after the drill started, hence a callable). No URL: no bus, and nothing
    about MQTT appears on screen.
    """

    async def start(store: Store) -> TeamBus | None:
        url = settings.mqtt.url or (fallback_url() if fallback_url is not None else None)
        if not url:
            return None
        # Here, not at the top: MQTT (aiomqtt, paho) is imported only when a broker is
        # configured, after the first rows (issue 16: spawn to first rows).
        from backends.signals.mqtt import TeamBus

        bus = TeamBus(store, settings.mqtt, url=url)
        bus.start()
        return bus

    return start


def attach_journal(bus: TeamBus | None, journal: Journal | None) -> None:
    """Publish every journal entry of this session (called once the journal is open)."""
    if bus is not None and journal is not None:
        bus.watch_journal(journal.db)  # idempotent per journal


def sync_team(bus: TeamBus | None, store: Store, context: str, state: BreakerState | None,
              header: HeaderBar, strip: PipelineStrip) -> None:
    """Publish our breaker state if it changed, and show the team's: the header's team line
    (other instances' breakers, bus trouble) and the pipeline strip."""
    if bus is not None and (state is None or state.source != "cluster"):
        # a breaker known only from the cluster's marks is another operator's to publish
        bus.publish_breaker_state(context, state)
    breakers = [r for r in store.rows(TEAMBREAKER).values() if isinstance(r, TeamBreakerRow)]
    status = store.get(TEAMBUS, "bus")
    header.show_team(team_text(breakers, status if isinstance(status, TeamBusRow) else None))
    strip.show(r for r in store.rows(PIPELINE).values() if isinstance(r, PipelineRow))
