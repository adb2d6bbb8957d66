"""Fill a fresh store once, for the headless ``snapshot``, ``diff`` and ``validate`` commands.

The control room captures from its live store; a headless command has none, so
:func:`collect` builds one the same way the control room does, only once:

- the Kubernetes kinds through the very same watch sources (:class:`backends.kube.source_set
  .SourceSet`: discovery, paged lists, the same decoders and sanitizing), stopped as soon as
  every source has finished its first list (or was forbidden, not installed, or failed in a
  way that waiting will not fix); one that is still failing after ``timeout`` is left out and
  named;
- node and pod usage through one poll of :class:`~backends.kube.metrics.MetricsPoller`;
- one poll of Prometheus and of Alertmanager (when a URL is given), one round of the PromQL
  key signals, one probe of every configured health endpoint.

All of it runs concurrently, so a snapshot costs about as long as the slowest list. Each
source records its outcome in the store's health, which is exactly what
:func:`backends.baseline.capture.capture` reads to fill ``Baseline.missing``: a section that
could not be collected is named there rather than silently empty.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from backends.kube.metrics import MetricsPoller
from backends.kube.source import WatchSource
from backends.kube.source_set import SourceOptions, SourceSet
from backends.store import Store

if TYPE_CHECKING:
    from backends.config import Settings
    from backends.kube.source_set import ManagedTransport

__all__ = ["collect"]

log = logging.getLogger(__name__)

_GIVE_UP = frozenset({"forbidden", "not_installed", "error"})
"""First-list outcomes that waiting will not change (401, 403, 404, undecodable data)."""


async def collect(conn: ManagedTransport, store: Store, settings: Settings, *,
                  prometheus_url: str = "", alertmanager_url: str = "",
                  namespaces: Sequence[str] | None = None, timeout: float = 60.0,
                  probe: bool = True) -> list[str]:
    """Fill ``store`` with one list of every kind and one round of every other source.

    Returns notes on what could not be collected (also visible in the store's health). The
    connection stays open (the caller owns it).
    """
    jobs = [_kube(conn, store, namespaces, timeout), _metrics(conn, store, namespaces),
            _alerts(store, settings, prometheus_url, alertmanager_url),
            _signals(store, settings, prometheus_url)]
    if probe:
        jobs.append(_endpoints(store, settings))
    notes: list[str] = []
    for result in await asyncio.gather(*jobs, return_exceptions=True):
        if isinstance(result, BaseException):
            if isinstance(result, asyncio.CancelledError):
                raise result
            log.exception("collect: a source failed", exc_info=result)
            notes.append(f"internal error: {type(result).__name__}: {result}")
        else:
            notes.extend(result)
    return notes


def _settled(store: Store, source: WatchSource) -> bool:
    if source.lists >= 1:
        return True
    health = store.health(source.name)
    return health is not None and health.state in _GIVE_UP


async def _kube(conn: ManagedTransport, store: Store, namespaces: Sequence[str] | None,
                timeout: float) -> list[str]:
    sources = SourceSet(conn, store, namespaces=namespaces,
                        options=SourceOptions(metrics=False), close_connection=False)
    await sources.start()
    try:
        watch = [s for s in sources.sources if isinstance(s, WatchSource)]
        deadline = time.monotonic() + timeout
        while not all(_settled(store, s) for s in watch):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        notes = []
        for s in watch:
            if not _settled(store, s):
                health = store.health(s.name)
                why = f": {health.error}" if health is not None and health.error else ""
                notes.append(f"{s.name}: not listed within {timeout:g} s{why}")
        return notes
    finally:
        await sources.stop()


async def _metrics(conn: ManagedTransport, store: Store,
                   namespaces: Sequence[str] | None) -> list[str]:
    await MetricsPoller(conn, store, namespaces=namespaces).poll_once()
    return []


async def _alerts(store: Store, settings: Settings, prometheus_url: str,
                  alertmanager_url: str) -> list[str]:
    from backends.signals.alertmanager import alertmanager_poller
    from backends.signals.prometheus import Poller, prometheus_poller

    pollers: list[Poller] = []
    if prometheus_url:
        cfg = settings.prometheus
        pollers.append(prometheus_poller(store, prometheus_url, interval=cfg.interval,
                                         timeout=cfg.timeout, verify_tls=cfg.verify_tls))
    if alertmanager_url:
        am = settings.alertmanager
        pollers.append(alertmanager_poller(store, alertmanager_url, interval=am.interval,
                                           timeout=am.timeout, verify_tls=am.verify_tls))
    notes = []
    try:
        for poller, ok in zip(pollers, await asyncio.gather(*(p.poll_once() for p in pollers)),
                              strict=True):
            if not ok:
                health = store.health(poller.source)
                notes.append(f"{poller.source}: " + (health.error if health else "no answer"))
    finally:
        for poller in pollers:
            await poller.stop()
    return notes


async def _signals(store: Store, settings: Settings, prometheus_url: str) -> list[str]:
    if not prometheus_url or not settings.signals:
        return []
    # The factory is the poller module's own (one session, no retries, closed on stop).
    from backends.signals.promql import SOURCE, SignalPoller, _client_factory

    sessions: list[object] = []
    factory = _client_factory(prometheus_url, settings.prometheus.timeout,
                              settings.prometheus.verify_tls, sessions.append)

    def close() -> None:
        for session in sessions:
            close_session = getattr(session, "close", None)
            if close_session is not None:
                close_session()

    poller = SignalPoller(store, settings.signals, factory, on_close=close)
    try:
        ok = await poller.poll_once()
    finally:
        await poller.stop()
    if ok:
        return []
    health = store.health(SOURCE)
    return [f"signals: {health.error if health else 'no answer'}"]


async def _endpoints(store: Store, settings: Settings) -> list[str]:
    from backends.signals.health import ENDPOINTS, SOURCE, probe_all

    if not settings.endpoints:
        return []
    rows = await probe_all(settings.endpoints)
    store.replace(ENDPOINTS, rows)
    failing = [row.name for row in rows if not row.ok]
    store.set_health(SOURCE, "connected",
                     f"{len(failing)} of {len(rows)} failing" if failing else "")
    store.note_event(SOURCE)
    return []
