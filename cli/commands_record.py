"""``record``: the incident timeline recorded headless for the 24-48 hour watch (issue 17).

``controlroom record [--context C] [-o FILE] [--retention 72h]`` watches the context with the
same sources as the control room (watch sources per kind, the alert pollers of the config,
the team bus) and records every meaningful change into one timeline file per context
(:mod:`backends.timeline.store`), until SIGINT or SIGTERM.

Unattended, so:

- it starts only when it can connect (exit 2 with one line otherwise: a cron or systemd unit
  must see that it never ran), and from then on outlives API server and broker restarts
  (the sources reconnect on their own, and the loss and return of each is recorded);
- it resumes: an existing file of the same context is continued, with what it last recorded
  as the baseline, so what changed while it was down is recorded after the relist;
- the writer commits at least twice a second, so a SIGKILL loses at most the last second;
- a damaged or foreign file is refused (exit 2, naming the file and the problem) and left as
  it is; never overwritten.

No write is ever made: the command holds no gate and no journal (it only reads the journal
file to record our writes, with their operator).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from backends.sanitize import clean
from cli.session import (
    OK,
    USAGE,
    CommandState,
    connected,
    context_of,
    fail,
    journal_path,
    settings_of,
)

if TYPE_CHECKING:
    from backends.config_sources import MqttSettings

__all__ = ["record"]


def record(args: argparse.Namespace, state: CommandState) -> int:
    """Run the recorder until SIGINT/SIGTERM."""
    from backends.config import parse_duration
    from backends.timeline.store import DEFAULT_MAX_BYTES, TimelineFileError, default_path

    try:
        retention = parse_duration(args.retention)
    except ValueError as exc:
        fail(USAGE, f"--retention: {exc}")
    if retention <= 0:
        fail(USAGE, "--retention must be longer than 0")
    max_bytes = DEFAULT_MAX_BYTES if args.max_mb is None else int(args.max_mb * 1024 * 1024)
    if max_bytes <= 0:
        fail(USAGE, "--max-mb must be more than 0")
    settings = settings_of(args)
    context, _cluster = context_of(args)
    journal = journal_path(args)
    output = Path(args.output) if args.output else default_path(journal.parent, context)
    try:
        return asyncio.run(_record(args, settings, context, output, journal, retention,
                                   max_bytes))
    except TimelineFileError as exc:
        fail(USAGE, clean(exc, 500))


async def _record(args: argparse.Namespace, settings: object, context: str, output: Path,
                  journal: Path, retention: float, max_bytes: int) -> int:
    from backends.config import Settings
    from backends.kube.source_set import SourceOptions, start_all
    from backends.signals.alertmanager import alertmanager_poller
    from backends.signals.mqtt import TeamBus
    from backends.signals.prometheus import prometheus_poller
    from backends.store import Store
    from backends.timeline.live import open_recording

    assert isinstance(settings, Settings)
    store = Store()
    # The file first: a damaged or busy one is refused before anything connects.
    recording = await open_recording(store, output, context, journal_path=journal,
                                     retention=retention, max_bytes=max_bytes)
    try:
        conn = await connected(args, context)
    except BaseException:
        await recording.stop()
        raise
    namespaces = getattr(args, "namespace", None) or settings.context(context).namespaces
    options = SourceOptions(metrics=False)  # usage numbers say nothing about who changed what
    sources = await start_all(conn, store, list(namespaces) or None, options=options)
    pollers = []
    if settings.prometheus.url:
        cfg = settings.prometheus
        pollers.append(prometheus_poller(store, cfg.url, interval=cfg.interval,
                                         timeout=cfg.timeout, verify_tls=cfg.verify_tls))
    if settings.alertmanager.url:
        am = settings.alertmanager
        pollers.append(alertmanager_poller(store, am.url, interval=am.interval,
                                           timeout=am.timeout, verify_tls=am.verify_tls))
    for poller in pollers:
        poller.start()
    bus: TeamBus | None = None
    if settings.mqtt.url:
        try:
            bus = TeamBus(store, _lasting_session(settings.mqtt, context))
            bus.start()
        except ValueError as exc:
            print(f"warning: team bus: {clean(exc, 300)}; not recorded", file=sys.stderr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"recording: context {context} to {output}"
          + (" (resumed)" if recording.resumed else ""), flush=True)
    summaries = (asyncio.create_task(_publish_summaries(bus, store, context, settings, stop),
                                     name="fleet summaries") if bus is not None else None)
    try:
        await stop.wait()
    finally:
        if summaries is not None:
            summaries.cancel()
            await asyncio.gather(summaries, return_exceptions=True)
        await recording.stop()
        if bus is not None:
            await bus.stop(flush_timeout=0.5)
        for poller in pollers:
            await poller.stop()
        await sources.stop()
        await conn.close()
    writer = recording.writer
    print(f"recorded: {writer.entries_written} entries, {writer.frames_written} frames "
          f"to {output}", flush=True)
    return OK


def _lasting_session(mqtt: MqttSettings, context: str) -> MqttSettings:
    """The bus settings the recorder connects with: unless the config names a client id, one
    of its own per host and context, which makes the broker keep its session (its
    subscriptions, and the team's QoS 1 messages while it is away).

    Why: a control room's bus is a per-run session (nothing left behind on the broker), so
    what the team publishes while it reconnects is gone. A recorder is there to miss
    nothing for two days: across a broker restart (a persisting broker restores the session
    and queues what is published before the recorder is back) and across its own restart
    (the actions published meanwhile arrive when it reconnects). One session per host and
    context: the file lock already allows one recorder of a context per state directory."""
    import socket

    import msgspec

    if mqtt.client_id:
        return mqtt
    name = "".join(c if c.isalnum() or c in "-_." else "_"
                   for c in f"{socket.gethostname()[:40]}-{context[:60]}")
    return msgspec.structs.replace(mqtt, client_id=f"controlroom-record-{name}")


async def _publish_summaries(bus: object, store: object, context: str, settings: object,
                             stop: asyncio.Event) -> None:
    """Issue 18 point 4: a headless recorder is a fleet member too. Every
    ``SUMMARY_INTERVAL_S`` it publishes its context's summary retained on
    ``<prefix>/summary/<context>``, as a control room does, so a fleet screen sees a cluster
    that only a recorder watches. The breaker is not read here (``breaker_engaged`` None:
    the summary says unknown rather than off)."""
    import time

    from backends.config import Settings
    from backends.fleet_summary import summarize
    from backends.signals.bus_summary import SUMMARY_INTERVAL_S, publish_summary
    from backends.signals.mqtt import TeamBus
    from backends.store import Store

    assert isinstance(bus, TeamBus) and isinstance(store, Store)
    assert isinstance(settings, Settings)
    production = settings.is_production(context)
    while not stop.is_set():
        now = time.time()
        publish_summary(bus, summarize(store, context, now, production=production), now)
        try:
            await asyncio.wait_for(stop.wait(), SUMMARY_INTERVAL_S)
        except TimeoutError:
            pass
