"""The sources of one connection: discovery, one watch source per kind, start and stop.

Split from :mod:`backends.kube.source` (one source's list-then-watch loop) because this is a
different job: deciding WHICH sources run (the watched kinds, per namespace or once for
cluster-scoped kinds, where discovery says each kind is served), starting them in two steps
(core kinds before API-group discovery, so the first rows do not wait for it), and stopping
them and the connection together.

Garbage collection: :meth:`SourceSet.start` pauses Python's cyclic collector until every watch
source has finished (or failed) its first list, then freezes what survived and re-enables it
(:mod:`backends.kube.gcpause` says why; ``SourceOptions.gc_pause_limit`` caps the pause and 0
turns it off). Only the first lists: a later re-list of a long-running session collects as
usual, so nothing a misbehaving server provokes can pile up frozen garbage.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from backends.kube.discovery import WANTED, Discovery, default_resource, discover, resolve
from backends.kube.errors import KubeError
from backends.kube.gcpause import LoadPause
from backends.kube.source import Source, WatchSource, source_name
from backends.kube.wire import KubeTransport
from backends.store import Store

__all__ = [
    "REQUIRED",
    "WATCHED",
    "ManagedTransport",
    "SourceOptions",
    "SourceSet",
    "mark_unavailable",
    "start_all",
]

log = logging.getLogger(__name__)


def _initial_path(kind: str, found: Discovery | None) -> str | None:
    """Where to list ``kind``: what discovery found, None when not served, and the usual
    path when discovery could not say (the list's answer then tells: 404, not installed)."""
    if found is None or kind in found.errors:
        return default_resource(kind).path()
    if kind in found.missing:
        return None
    resource = found.resources.get(kind)
    return resource.path() if resource is not None else default_resource(kind).path()



# --------------------------------------------------------------------------- the set


WATCHED: tuple[tuple[str, str | None], ...] = (
    ("nodes", None),
    ("pods", None),
    ("deployments", None),
    ("replicasets", None),
    ("events", "type=Warning"),
    ("applications", None),
    ("gateways", None),
    ("httproutes", None),
    ("applicationloadbalancers", None),
)
"""The watched kinds and their field selectors (only Warning events matter on call)."""

REQUIRED: frozenset[str] = frozenset({"nodes", "pods", "events", "deployments", "replicasets"})
"""Kinds every Kubernetes API server serves (core and apps): one that is not served means
the URL points at the wrong server (or a broken one), never that the cluster is empty."""


@dataclass(frozen=True)
class SourceOptions:
    """Tunables of the sources (the defaults are for production; tests shorten them)."""

    page_size: int = 500
    backoff_initial: float = 0.5
    backoff_cap: float = 30.0
    watch_timeout: float = 300.0
    batch_window: float = 0.05
    batch_max: int = 1000
    forbidden_retry: float = 60.0
    recheck_interval: float = 300.0
    metrics: bool = True
    metrics_interval: float = 15.0
    discovery_timeout: float = 15.0
    gc_pause_limit: float = 30.0
    """Longest the garbage collector stays paused while the first lists load; 0: no pause."""
    bookmark_interval: float | None = 60.0
    """How often the API server is expected to send a watch bookmark (a real API server's
    watch cache: every minute; the drill: its ``--bookmark-interval``). A watch silent for
    twice as long is stalled: stale, and restarted. None: no stall detection."""
    backoff_reset: float | None = 120.0
    """The reconnect backoff starts again from ``backoff_initial`` once the last failure is
    this long ago (client-go's reflector: two minutes)."""


class ManagedTransport(KubeTransport, Protocol):
    """A transport the source set may close when it stops."""

    async def close(self) -> None: ...


class SourceSet:
    """Every source of one connection: one per watched kind (per namespace when namespaces
    are given; cluster-scoped kinds once) plus the metrics poller.

    :meth:`start` runs discovery and starts one task per source; :meth:`stop` cancels and
    awaits them all and closes the connection. The App may instead take :attr:`sources`
    after :meth:`plan` and run each ``source.run()`` in its own worker.
    """

    def __init__(
        self,
        conn: ManagedTransport,
        store: Store,
        *,
        namespaces: Sequence[str] | None = None,
        options: SourceOptions | None = None,
        kinds: Collection[str] | None = None,
        close_connection: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self._conn = conn
        self._store = store
        self._namespaces = list(dict.fromkeys(namespaces)) if namespaces else None
        self._options = options or SourceOptions()
        self._kinds = set(kinds) if kinds is not None else {kind for kind, _ in WATCHED}
        self._close_connection = close_connection
        self._rng = rng if rng is not None else random.Random()
        self.sources: list[Source] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.load_pause: LoadPause | None = None
        """The collector pause of the first lists (see the module docstring)."""
        self.discovery: Discovery | None = None
        """What discovery found (None when it could not be done and defaults were used)."""

    async def plan(self) -> list[Source]:
        """Run discovery and build (not start) the sources."""
        wanted = self._wanted()
        self._mark_connecting(wanted)
        self.discovery = await self._discover(wanted)
        self.sources = self._build(wanted, self.discovery, metrics=True)
        return self.sources

    def _wanted(self) -> tuple[str, ...]:
        return tuple(kind for kind, _ in WATCHED if kind in self._kinds)

    def _mark_connecting(self, kinds: Sequence[str]) -> None:
        for kind in kinds:
            for namespace in self._scopes(kind):
                self._store.set_health(source_name(kind, namespace), "connecting")

    async def _discover(self, kinds: Sequence[str]) -> Discovery | None:
        try:
            async with asyncio.timeout(self._options.discovery_timeout):
                return await discover(self._conn, tuple(kinds))
        except (KubeError, TimeoutError) as exc:
            log.warning("discovery failed (%s); assuming the usual API versions", exc)
            return None

    def _build(self, kinds: Sequence[str], found: Discovery | None, *,
               metrics: bool) -> list[Source]:
        from backends.kube.metrics import MetricsPoller  # metrics imports this module

        opts = self._options
        sources: list[Source] = []
        for kind, field_selector in WATCHED:
            if kind not in kinds:
                continue
            path = _initial_path(kind, found)
            for namespace in self._scopes(kind):
                sources.append(WatchSource(
                    self._conn, self._store, kind, path,
                    namespace=namespace,
                    field_selector=field_selector,
                    page_size=opts.page_size,
                    backoff_cap=opts.backoff_cap,
                    backoff_initial=opts.backoff_initial,
                    watch_timeout=opts.watch_timeout,
                    batch_window=opts.batch_window,
                    batch_max=opts.batch_max,
                    forbidden_retry=opts.forbidden_retry,
                    recheck_interval=opts.recheck_interval,
                    rediscover=self._rediscoverer(kind),
                    rng=random.Random(self._rng.random()),
                    on_first_list=self._first_list_over,
                    required=kind in REQUIRED,
                    bookmark_interval=opts.bookmark_interval,
                    backoff_reset=opts.backoff_reset,
                ))
        if metrics and opts.metrics:
            sources.append(MetricsPoller(
                self._conn, self._store, opts.metrics_interval,
                namespaces=self._namespaces,
                forbidden_retry=opts.forbidden_retry,
                recheck_interval=opts.recheck_interval,
            ))
        return sources

    def _scopes(self, kind: str) -> list[str | None]:
        if self._namespaces and WANTED[kind].namespaced:
            return list(self._namespaces)
        return [None]

    def _rediscoverer(self, kind: str) -> Callable[[], Awaitable[str | None]]:
        async def rediscover() -> str | None:
            resource = await resolve(self._conn, kind)
            return resource.path() if resource is not None else None

        return rediscover

    def _first_list_over(self, name: str) -> None:
        if self.load_pause is not None:
            self.load_pause.listed(name)

    async def start(self) -> list[asyncio.Task[None]]:
        """Discover, then start one task per source, the collector paused until their first
        lists are in; returns the tasks.

        Unless :meth:`plan` was called first, in two steps: the kinds of the core API group
        (pods, nodes, events) need only ``/api/v1`` to be found, so their lists start while
        the API groups (apps, Argo CD, Gateway API, AGC) are still being discovered: the
        biggest list begins a discovery round trip or five earlier.
        """
        if self.tasks:
            raise RuntimeError("the source set is already started")
        wanted = self._wanted()
        self.load_pause = LoadPause(
            [source_name(kind, ns) for kind in wanted for ns in self._scopes(kind)],
            self._options.gc_pause_limit,
        )
        self.load_pause.start()
        try:
            await self._start_in_two_steps(wanted)
        except BaseException:
            self.load_pause.end()  # never leave the collector off behind a failed start
            for task in self.tasks:  # nor sources running that nobody can stop
                task.cancel()
            raise
        return self.tasks

    async def _start_in_two_steps(self, wanted: Sequence[str]) -> None:
        if self.sources:  # planned by the caller
            self._launch(self.sources)
            return
        self._mark_connecting(wanted)
        core = [kind for kind in wanted if not WANTED[kind].group]
        grouped = [kind for kind in wanted if WANTED[kind].group]
        found = await self._discover(core) if core else None
        self._launch(self._build(core, found, metrics=False))
        if found is not None or not core:  # discovery works: ask about the groups too
            more = await self._discover(grouped) if grouped else None
            if found is not None and more is not None:
                found = Discovery(resources={**found.resources, **more.resources},
                                  missing=found.missing | more.missing,
                                  errors={**found.errors, **more.errors})
            else:
                found = more
        self.discovery = found
        self._launch(self._build(grouped, found, metrics=True))

    def _launch(self, sources: Sequence[Source]) -> None:
        self.sources = [*self.sources, *sources] if self.tasks else list(sources)
        self.tasks.extend(
            asyncio.create_task(source.run(), name=f"controlroom-source-{source.name}")
            for source in sources
        )

    def retry_now(self) -> None:
        """Every source waiting between attempts tries again at once (the retry key)."""
        for source in self.sources:
            source.retry_now()

    async def stop(self) -> None:
        """Cancel every source, wait for each to finish, close the connection."""
        tasks, self.tasks = self.tasks, []
        if self.load_pause is not None:
            self.load_pause.end()
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(
                result, asyncio.CancelledError
            ):
                log.error("source task %s failed: %r", task.get_name(), result)
        if self._close_connection:
            await self._conn.close()

    async def __aenter__(self) -> SourceSet:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def mark_unavailable(store: Store, why: str,
                     namespaces: Sequence[str] | None = None) -> None:
    """No source could start (the connection failed: credentials, kubeconfig, TLS set-up):
    every source that would run says so, with ``why``, where its data would be. A source
    that had data before is ``stale`` (its rows stay), one that never had any ``error``."""
    scoped = list(dict.fromkeys(namespaces)) if namespaces else None
    for kind, _ in WATCHED:
        scopes: list[str | None] = list(scoped) if scoped and WANTED[kind].namespaced \
            else [None]
        for namespace in scopes:
            name = source_name(kind, namespace)
            old = store.health(name)
            had = old is not None and old.last_event is not None
            store.set_health(name, "stale" if had else "error", why)


async def start_all(
    conn: ManagedTransport,
    store: Store,
    namespaces: Sequence[str] | None = None,
    *,
    options: SourceOptions | None = None,
) -> SourceSet:
    """Start every source for ``conn``; ``await result.stop()`` ends them and the connection."""
    sources = SourceSet(conn, store, namespaces=namespaces, options=options)
    await sources.start()
    return sources
