"""Kubernetes watch sources: list, then watch, forever; client-go's reflector feeding the store.

The contract (operations.md section 9), and how each part is met here:

- List in pages (``limit``, ``continue``) without ``resourceVersion``: a consistent read, so
  the list's ``metadata.resourceVersion`` is a point from which the watch misses nothing.
  The FIRST list of a source applies each page as it arrives, so a 30,000-pod cluster shows
  rows after the first 500; it ends with a :meth:`Store.replace` of the whole set, which is
  a no-op for rows already applied and removes anything left over from before.
- Every LATER list (after 410 Expired, a decode error, a forbidden/not-installed spell)
  gathers all pages first and then swaps the set in with one synchronous
  :meth:`Store.replace`: no consumer ever sees half of a re-list, objects deleted while we
  were away disappear (no ghosts), and keys are unique by construction (no duplicates).
- Watch from the list's version with ``allowWatchBookmarks=true`` and ``timeoutSeconds``
  jittered between 1x and 2x ``watch_timeout`` (client-go: 5-10 minutes, so thousands of
  clients do not reconnect in step). The newest version seen, BOOKMARKs included, is where
  the next watch resumes.
- A stream that ends (timeout) is resumed at once; a network error is resumed from the last
  version after a capped exponential backoff with jitter. A 410 (HTTP status, or an ERROR
  event with code 410) means history is gone: re-list. The backoff starts again from its
  initial delay once the last failure is ``backoff_reset`` seconds ago (client-go's two
  minutes, :class:`~backends.backoff.Backoff`).
- A watch silent (no event, no bookmark) for ``STALL_FACTOR x bookmark_interval`` (the
  server's bookmark interval: a minute for a real watch cache) is stalled: ``stale``, and
  restarted from the last version. A dead link must never pass for a quiet cluster.
- 403: health ``forbidden`` ("forbidden: list httproutes.gateway.networking.k8s.io for
  <user>"), rows dropped, retried slowly. 404 of the collection: ``not_installed``, rows
  dropped, re-checked rarely (through discovery when the source was given a ``rediscover``
  callback, so a CRD installed later is found at its served version); never a tight error
  loop. A kind every Kubernetes API serves (``required``: nodes, pods...) that is not served
  is no empty cluster but a wrong server: health ``error`` saying so, retried with backoff.
- Health: ``connecting`` until the first list completes, ``connected`` while the watch is
  open, ``stale`` from the moment of loss (its ``since`` is when we lost it, and the rows
  stay so the UI can say "stale since T"), ``error`` when it never had data and cannot get
  any, or for an undecodable list or a watch event without readable metadata. The reason is
  one readable line (:mod:`backends.kube.problems`), never the transport's raw error.
- Nothing vanishes silently (issue 13, point 11): an object that fails to decode is no
  reason to stop showing the others, so the source stays ``connected`` and keeps the set of
  its objects that could not be read now (from each list, and from watch events: a later
  version that decodes, or its deletion, takes it out), bounded (:mod:`.unreadable`), on
  its health (``SourceHealth.undecodable``) for the header, its panel and validation.
  A watch event whose object does not decode but whose metadata does is recorded so without
  a re-list (one bad pod updated every few seconds must not re-list 30,000 pods each time);
  its old row, if any, stays, as a re-list would keep it.
- :meth:`WatchSource.retry_now` ends any wait at once (the App's retry key).
- Watch events are applied in batches: everything that arrives within ``batch_window``
  (50 ms, at most ``batch_max`` = 1,000 events) is one :meth:`Store.apply` and one
  :meth:`Store.note_event`, which is what keeps 1,000 events/s cheap.

Per-namespace sources (``namespace="payments"``) share their kind's table with the other
namespaces' sources, so their re-lists and clears keep every key outside their namespace.

Over 500 lines because the reflector is one state machine (list, watch, failures, health)
whose parts share its fields; what could be cut along a seam is apart already (readahead,
problems, backoff, the set of undecodable objects in :mod:`backends.kube.unreadable`).

The set of sources for one connection (discovery, start, stop, the garbage collector's
pause while the first lists load) is :mod:`backends.kube.source_set`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from backends.backoff import Backoff
from backends.kube.decode import DecodeError, DecodeFailure, decode_event, decode_list
from backends.kube.errors import KubeApiError, KubeError, KubeUnreachable
from backends.kube.problems import forbidden_reason, not_served_reason, stall_reason, summarise
from backends.kube.readahead import SEND_AHEAD, drop_ahead, peek_continue
from backends.kube.unreadable import Unreadable, event_failure
from backends.kube.wire import KubeTransport, LineStream, Params, namespaced_path
from backends.model import CLUSTER_SCOPED_KINDS, Row
from backends.store import Op, SourceState, Store

__all__ = [
    "STALL_FACTOR",
    "Source",
    "WatchSource",
    "WatchStalled",
    "peek_continue",
    "source_name",
]

log = logging.getLogger(__name__)

_OPS: dict[str, Op] = {"ADDED": "ADDED", "MODIFIED": "MODIFIED", "DELETED": "DELETED"}
_QUICK_END = 1.0
"""A watch that ends sooner than this without delivering anything counts as a failure for
backoff purposes: a server (or proxy) that accepts and hangs up at once must not be
hammered."""


STALL_FACTOR = 2.0
"""A watch silent for this many expected bookmark intervals is stalled (one interval of
margin: a bookmark may be sent just after the interval's end)."""


class WatchStalled(KubeError):
    """A watch delivered neither events nor bookmarks for longer than expected."""


def source_name(kind: str, namespace: str | None = None) -> str:
    """The health-strip name of a source: the kind, or ``kind@namespace`` when scoped."""
    return f"{kind}@{namespace}" if namespace else kind


class Source(Protocol):
    """A long-lived data source: ``run()`` forever until cancelled, reporting health."""

    name: str

    async def run(self) -> None: ...

    def retry_now(self) -> None:
        """End the current wait between attempts (the App's retry key)."""


class WatchSource:
    """List and watch one kind (in all namespaces or in one) into the store.

    ``path`` is the kind's collection path across namespaces (``/api/v1/pods``); None means
    discovery found the kind not served, in which case ``rediscover`` (required then) is
    asked again every ``recheck_interval`` seconds and must return the path or None.

    ``required``: every Kubernetes API serves this kind, so "not served" is a fault (a wrong
    server), not a missing add-on. ``bookmark_interval``: how often the server is expected to
    send bookmarks (None: no stall detection). ``sleep``: how waits between attempts are
    made (tests count them); by default a wait that :meth:`retry_now` ends early.
    """

    def __init__(
        self,
        conn: KubeTransport,
        store: Store,
        kind: str,
        path: str | None,
        *,
        namespace: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        page_size: int = 500,
        backoff_cap: float = 30.0,
        backoff_initial: float = 0.5,
        watch_timeout: float = 300.0,
        batch_window: float = 0.05,
        batch_max: int = 1000,
        forbidden_retry: float = 60.0,
        recheck_interval: float = 300.0,
        rediscover: Callable[[], Awaitable[str | None]] | None = None,
        name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_first_list: Callable[[str], None] | None = None,
        required: bool = False,
        bookmark_interval: float | None = None,
        backoff_reset: float | None = 120.0,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if path is None and rediscover is None:
            raise ValueError(f"{kind}: a source without a path needs a rediscover callback")
        if namespace and kind in CLUSTER_SCOPED_KINDS:
            raise ValueError(f"{kind} are cluster-scoped: they cannot be watched per namespace")
        self.kind = kind
        self.namespace = namespace
        self.name = name or source_name(kind, namespace)
        self._conn = conn
        self._store = store
        self._path = path
        self._field_selector = field_selector
        self._label_selector = label_selector
        self._page_size = page_size
        self._watch_timeout = watch_timeout
        self._batch_window = batch_window
        self._batch_max = batch_max
        self._forbidden_retry = forbidden_retry
        self._recheck_interval = recheck_interval
        self._rediscover = rediscover
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._backoff = Backoff(backoff_initial, backoff_cap, self._rng,
                                reset_after=backoff_reset, clock=clock)
        self._required = required
        self._bookmark_interval = bookmark_interval
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._verb = "list"
        self._server = str(getattr(conn, "cluster", "") or "")
        self._user = str(getattr(conn, "user", "") or "")
        self._on_first_list = on_first_list
        """Told (once, with the source's name) when the first list is done or failed."""
        self.resource_version = ""
        """The newest resourceVersion seen (list, events, bookmarks): where a watch resumes."""
        self._need_list = True
        self._listed_once = False
        self._applied_progressively = False
        self._ever_connected = False
        self._expired_in_row = 0
        self._unreadable = Unreadable(kind)
        """Objects that could not be decoded now, on the health for the header and panels."""
        self.lists = 0
        """How many lists completed (tests and the debug view read it)."""

    # ------------------------------------------------------------------ main loop

    async def run(self) -> None:
        """List and watch until cancelled. Never raises anything but CancelledError."""
        if self._path is None:
            self._clear()
            if self._required:
                self._health("error", not_served_reason())
            else:
                self._health("not_installed", "the cluster does not serve this resource")
            self._first_list_over()
        else:
            self._health("connecting")
        while True:
            try:
                delay = await self._step()
            except KubeApiError as exc:
                delay = self._on_api_error(exc)
            except KubeUnreachable as exc:
                log.info("%s: %s", self.name, exc)
                delay = self._on_lost(summarise(exc, self._server))
            except WatchStalled as exc:
                delay = self._on_lost(str(exc))
            except DecodeError as exc:
                self._need_list = True
                self._health("error", str(exc))
                delay = self._backoff.next()
            except Exception as exc:  # noqa: BLE001 - a bug must not end the source for good
                log.exception("%s: unexpected failure", self.name)
                self._need_list = True
                self._health("error", f"internal error: {type(exc).__name__}: {exc}")
                delay = self._backoff.next()
            self._first_list_over()  # a first attempt that failed is over too
            if delay > 0:
                await self._pause(delay)

    def retry_now(self) -> None:
        """End the current wait between attempts: the next attempt starts at once."""
        self._wake.set()

    async def _pause(self, delay: float) -> None:
        """Wait ``delay`` seconds, or less when :meth:`retry_now` is called meanwhile."""
        if self._sleep is not None:
            await self._sleep(delay)
            return
        if not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
        self._wake.clear()

    async def _step(self) -> float:
        """One round: (re-)list if needed, then one watch. Returns the pause before the next."""
        if self._path is None:
            await self._wait_until_installed()
        if self._need_list:
            await self._list()
        return await self._watch()

    # ------------------------------------------------------------------ list

    def _collection(self) -> str:
        assert self._path is not None
        return namespaced_path(self._path, self.namespace)

    def _selectors(self) -> dict[str, str | int | bool | None]:
        return {"fieldSelector": self._field_selector, "labelSelector": self._label_selector}

    async def _list(self) -> None:
        """List every page; apply pages as they come only on the very first list.

        The next page is requested before this one is decoded (its continue token is read
        from the head of the body, see :func:`peek_continue`), so the server prepares page
        n+1 while we decode page n: on a 30,000-pod list the App otherwise sat idle for a
        third of a second between pages in all (bench/bench_live.py). The decoded token is
        the authority: a request made with a different hint is dropped and made again.
        """
        path = self._collection()
        self._verb = "list"
        progressive = not self._listed_once and not self._applied_progressively
        rows: list[Row] = []
        failed: set[str] = set()
        failures: list[DecodeFailure] = []
        token: str | None = None
        restarted = False
        ahead: tuple[str, asyncio.Task[bytes]] | None = None
        try:
            while True:
                try:
                    if ahead is not None and ahead[0] == token:
                        raw = await ahead[1]
                    else:
                        drop_ahead(ahead)
                        raw = await self._conn.get_raw(path, self._page_params(token))
                    ahead = None
                except KubeApiError as exc:
                    ahead = None
                    if exc.status == 410 and token is not None and not restarted:
                        # The continue token outlived its snapshot (compaction): start
                        # again, and this time gather everything before showing it.
                        log.info("%s: list continue token expired; listing again", self.name)
                        rows.clear()
                        failed.clear()
                        failures.clear()
                        token = None
                        restarted = True
                        progressive = False
                        continue
                    raise
                hint = peek_continue(raw)
                if hint is not None:
                    ahead = (hint, asyncio.ensure_future(
                        self._conn.get_raw(path, self._page_params(hint))))
                    # Decoding blocks the loop; first let the request reach the wire.
                    await asyncio.wait({ahead[1]}, timeout=SEND_AHEAD)
                page = decode_list(self.kind, raw)
                rows.extend(page.rows)
                failed.update(page.failed_keys)
                failures.extend(page.failures)
                if progressive and page.rows:
                    self._store.apply(self.kind, [("ADDED", row) for row in page.rows])
                    self._store.note_event(self.name)
                    self._applied_progressively = True
                if page.continue_token is None:
                    version = page.resource_version
                    break
                token = page.continue_token
        finally:
            drop_ahead(ahead)
        self._store.replace(self.kind, rows, keep=failed | self._foreign_keys())
        self._store.note_event(self.name)
        self.resource_version = version
        self._need_list = False
        self._listed_once = True
        self._ever_connected = True
        self.lists += 1
        if self._unreadable.replace(failures):
            self._publish_unreadable()
        self._backoff.reset()
        self._mark_connected()
        self._first_list_over()
        log.debug("%s: listed %d rows at resourceVersion %s", self.name, len(rows), version)

    def _first_list_over(self) -> None:
        if self._on_first_list is not None:
            tell, self._on_first_list = self._on_first_list, None
            tell(self.name)

    def _page_params(self, token: str | None) -> Params:
        return {"limit": self._page_size, "continue": token, **self._selectors()}

    def _foreign_keys(self) -> frozenset[str]:
        """Keys of the kind's rows outside this source's namespace (left alone by re-lists)."""
        if self.namespace is None:
            return frozenset()
        prefix = f"{self.namespace}/"
        return frozenset(k for k in self._store.rows(self.kind) if not k.startswith(prefix))

    def _clear(self) -> None:
        self._store.replace(self.kind, (), keep=self._foreign_keys())
        if self._unreadable.clear():
            self._publish_unreadable()

    def _publish_unreadable(self) -> None:
        self._store.set_undecodable(self.name, len(self._unreadable), self._unreadable.lines())

    # ------------------------------------------------------------------ watch

    async def _watch(self) -> float:
        """Watch from :attr:`resource_version` until the stream ends; returns the pause."""
        seconds = max(1, int(self._watch_timeout * (1.0 + self._rng.random())))
        params: Params = {
            "watch": True,
            "resourceVersion": self.resource_version or None,
            "allowWatchBookmarks": True,
            "timeoutSeconds": seconds,
            **self._selectors(),
        }
        started = self._clock()
        delivered = 0
        self._verb = "watch"
        async with await self._conn.open_stream(self._collection(), params) as stream:
            self._mark_connected()
            while lines := await self._read(stream):
                delivered += self._apply_lines(lines)
        if delivered or self._clock() - started >= _QUICK_END:
            self._backoff.reset()
            return 0.0
        return self._backoff.next()

    async def _read(self, stream: LineStream) -> list[bytes]:
        """The next batch of lines; raises :class:`WatchStalled` when neither an event nor a
        bookmark came within ``STALL_FACTOR`` expected bookmark intervals."""
        expected = self._bookmark_interval
        if expected is None or expected <= 0:
            return await stream.read_batch(max_lines=self._batch_max, window=self._batch_window)
        limit = expected * STALL_FACTOR
        window = asyncio.timeout(limit)
        try:
            async with window:
                return await stream.read_batch(max_lines=self._batch_max,
                                               window=self._batch_window)
        except TimeoutError:
            if window.expired():
                raise WatchStalled(stall_reason(limit, expected)) from None
            raise

    def _apply_lines(self, lines: Sequence[bytes]) -> int:
        """Decode a batch of watch lines and apply it as one store call."""
        ops: list[tuple[Op, Row]] = []
        seen = 0
        unreadable = False
        try:
            for line in lines:
                try:
                    event = decode_event(self.kind, line)
                except DecodeError as exc:
                    if not self._unreadable_event(line, exc, ops):
                        raise
                    unreadable = True
                    seen += 1
                    continue
                if event.type == "ERROR":
                    status = event.status
                    code = status.code if status is not None and status.code else 500
                    reason = status.reason if status is not None else ""
                    message = status.message if status is not None else ""
                    raise KubeApiError(code, reason or "Error", message or "watch error event")
                op = _OPS.get(event.type)
                if op is not None and event.row is not None:
                    ops.append((op, event.row))
                    unreadable |= self._unreadable.discard(event.row.key)
                if event.resource_version:
                    self.resource_version = event.resource_version
                seen += 1
        finally:
            # What decoded before a bad line is applied; its version is already recorded.
            if ops:
                self._store.apply(self.kind, ops)
            if seen:
                self._store.note_event(self.name)
                self._expired_in_row = 0
            if unreadable:
                self._publish_unreadable()
        return seen

    def _unreadable_event(self, line: bytes, exc: DecodeError,
                          ops: list[tuple[Op, Row]]) -> bool:
        """Record a watch event whose object does not decode (or drop the object, when the
        event deletes it); False when not even its type and name can be read (re-list)."""
        bad = event_failure(self.kind, line, exc)
        if bad is None:
            return False
        if bad.type == "DELETED":
            self._unreadable.discard(self._unreadable.key_of(bad.failure))
            held = self._store.get(self.kind, bad.key) or next(
                (row for _, row in reversed(ops) if row.key == bad.key), None)
            if held is not None:
                ops.append(("DELETED", held))
        else:
            self._unreadable.add(self._unreadable.key_of(bad.failure), bad.failure)
        if bad.resource_version:
            self.resource_version = bad.resource_version
        log.info("%s: %s", self.name, bad.failure.line())
        return True

    # ------------------------------------------------------------------ failures

    def _on_api_error(self, exc: KubeApiError) -> float:
        status = exc.status
        if status == 410:
            # History is gone: re-list. Once at once; if it keeps happening, back off.
            self._need_list = True
            self._expired_in_row += 1
            log.info("%s: %s; re-listing", self.name, exc)
            return 0.0 if self._expired_in_row <= 1 else self._backoff.next()
        if status == 403:
            self._need_list = True
            self._clear()
            self._health("forbidden", forbidden_reason(
                self._verb, self._path or self.kind, exc.message, self._user))
            return self._forbidden_retry
        if status == 404 and self._required:
            # Nodes or pods not found: the URL points at something that is not (or not
            # only) a Kubernetes API server. Never an empty cluster; keep what we had.
            self._need_list = True
            self._health(self._lost_state(), not_served_reason())
            return self._backoff.next()
        if status == 404:
            self._need_list = True
            self._clear()
            self._health("not_installed", exc.message)
            if self._rediscover is not None:
                self._path = None  # _wait_until_installed asks discovery, rarely
                return 0.0
            return self._recheck_interval
        if status == 401:
            log.info("%s: %s", self.name, exc)
            self._health(self._lost_state(), summarise(exc))
            return max(self._backoff.next(), min(self._forbidden_retry, 10.0))
        if status == 429 or status >= 500:
            return self._on_lost(summarise(exc))
        # 400 (a selector the server refuses), 405, 406...: will not fix itself soon.
        self._need_list = True
        self._health(self._lost_state(), summarise(exc))
        return self._forbidden_retry

    def _lost_state(self) -> SourceState:
        """``stale`` when rows were shown (they stay, dimmed), else ``error``."""
        return "stale" if self._ever_connected else "error"

    def _on_lost(self, why: str) -> float:
        """The connection is gone: keep the rows, mark them stale from now, back off."""
        self._health(self._lost_state(), why)
        delay = self._backoff.next()
        log.info("%s: %s; retrying in %.1fs", self.name, why, delay)
        return delay

    async def _wait_until_installed(self) -> None:
        """Ask discovery every ``recheck_interval`` until the kind is served."""
        assert self._rediscover is not None
        while self._path is None:
            await self._pause(self._recheck_interval)
            try:
                self._path = await self._rediscover()
            except KubeError as exc:
                log.info("%s: discovery failed: %s", self.name, exc)
        self._need_list = True
        self._health("connecting")

    # ------------------------------------------------------------------ health

    def _mark_connected(self) -> None:
        self._health("connected")

    def _health(self, state: SourceState, error: str = "") -> None:
        self._store.set_health(self.name, state, error)
