"""What the App is looking at and what it is connected through: :class:`Target` and
:class:`Session`.

Kept out of ``tui/app.py`` so the App's collaborators (``tui/actions.py``,
``tui/alert_actions.py``...) can name these types without importing the App that owns them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from backends.cleartext import config_warnings
from backends.config import Settings
from backends.sanitize import clean

if TYPE_CHECKING:
    from backends.kube.connection import KubeConnection
    from backends.signals.alertmanager import AlertmanagerClient
    from backends.signals.mqtt import TeamBus
    from backends.store import Store

__all__ = ["Session", "SourceStarter", "Target"]


@dataclass
class Session:
    """A live connection: the sources feeding the store and how to stop them. ``conn`` is
    what actions write through (behind the write gate); None for a store-only session."""

    stop: Callable[[], Awaitable[None]]
    conn: KubeConnection | None = None
    alertmanager: AlertmanagerClient | None = None
    """The Alertmanager client the silence action sends through (None: not configured)."""
    bus: TeamBus | None = None
    """The MQTT team bus, None when not configured."""
    retry: Callable[[], None] | None = None
    """Ends every failing source's backoff wait: they reconnect now (the retry key)."""

    def warnings(self, settings: Settings) -> list[str]:
        """What the engineer is told once per start (plain text, never markup): credentials
        withheld from, or sent in the clear to, plain-http servers (backends/cleartext.py)."""
        found = (*(self.conn.warnings if self.conn is not None else ()),
                 *config_warnings(settings))
        return [clean(line, 500) for line in found]


#: Starts the sources feeding a store; returns the session.
SourceStarter = Callable[["Store"], Awaitable[Session]]


@dataclass
class Target:
    """What the control room is looking at."""

    cluster: str
    context: str
    production: bool = False
    read_only: bool = False
    namespaces: list[str] = field(default_factory=list)
