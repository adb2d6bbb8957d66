"""The simulation's clock, controller protocol, loop and event recorder.

Controllers are level-triggered: on each tick every controller looks at the current objects and
writes what is needed to move them toward their desired state, like Kubernetes controllers do
after a resync. That keeps them correct under interference (kubectl scaling, patching and
deleting things mid-scenario): whatever happened, the next tick starts from the truth.

Time is scenario time: :class:`SimClock` runs ``speed`` times faster than the wall clock, or is
advanced by hand in tests (``manual=True``), so no test sleeps longer than its scenario needs.
Controllers write only through :class:`~drill.state.ClusterState`, the same path the
HTTP handlers use, so kubectl and the control room see every change as watch events.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from drill import errors
from drill.resources import BY_KEY
from drill.state import ClusterState, Obj, rfc3339

log = logging.getLogger(__name__)
EVENTS = BY_KEY["events"]


_REPORTED_MAX = 4096
_reported: OrderedDict[tuple[str, str], None] = OrderedDict()


def ident(obj: Any) -> str:
    """``Kind namespace/name@resourceVersion`` of an object, whatever its shape."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    kind = obj.get("kind") if isinstance(obj, dict) else None
    ns = meta.get("namespace")
    name = f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))
    return f"{kind} {name}@{meta.get('resourceVersion')}"


def unreadable(controller: str, obj: Any, exc: BaseException) -> None:
    """Report that ``controller`` skipped an object it cannot read or write: a warning once per
    (controller, object version), so a bad object that stays bad does not flood the log on
    every tick, and a new version of it (perhaps still bad) is reported again."""
    key = (controller, ident(obj))
    if key in _reported:
        return
    _reported[key] = None
    while len(_reported) > _REPORTED_MAX:
        _reported.popitem(last=False)
    log.warning("%s skips %s: %s: %s", controller, key[1], type(exc).__name__,
                str(exc)[:300])


class SimClock:
    """Scenario time: wall time times ``speed`` from a start, or advanced by hand."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0,
                 manual: bool = False) -> None:
        self.start = start or datetime.now(UTC)
        self.speed = speed
        self.manual = manual
        self._wall0 = time.monotonic()
        self._offset = 0.0

    def elapsed(self) -> float:
        """Scenario seconds since the start."""
        if self.manual:
            return self._offset
        return (time.monotonic() - self._wall0) * self.speed + self._offset

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed())

    def advance(self, seconds: float) -> None:
        """Move scenario time forward (in manual mode the only way it moves)."""
        self._offset += seconds


class Controller(Protocol):
    """One simulated controller."""

    name: str

    def reconcile(self, now: datetime) -> None:
        """Look at the current objects and write what moves them toward desired state."""


class EventRecorder:
    """Writes core/v1 Events the way client-go's recorder does: the same (object, reason,
    message) within the series bumps ``count`` and ``lastTimestamp`` instead of a new event;
    old events expire after a TTL like the apiserver's one-hour event TTL."""

    def __init__(self, state: ClusterState, clock: Callable[[], datetime],
                 ttl: float = 3600.0) -> None:
        self.state = state
        self.clock = clock
        self.ttl = ttl
        self._last_gc = 0.0

    def record(self, obj: Obj, type_: str, reason: str, message: str, component: str) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        digest = hashlib.sha1(f"{meta.get('uid')}/{reason}/{message}".encode()).hexdigest()[:16]
        name = f"{meta['name']}.{digest}"
        now = rfc3339(self.clock())
        existing = self.state.find_readable(EVENTS, ns, name)
        try:
            if existing is not None:
                def bump(ev: Obj) -> Obj:
                    ev["count"] = int(ev.get("count") or 1) + 1
                    ev["lastTimestamp"] = now
                    return ev
                self.state.mutate(EVENTS, ns, name, bump)
                return
            if self.state.find_readable(BY_KEY["namespaces"], "", ns) is None:
                return
            self.state.create(EVENTS, {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": {"kind": obj.get("kind"), "name": meta["name"],
                                   "namespace": meta.get("namespace", ""),
                                   "uid": meta.get("uid"), "apiVersion": obj.get("apiVersion"),
                                   "resourceVersion": meta.get("resourceVersion")},
                "reason": reason, "message": message, "type": type_, "count": 1,
                "firstTimestamp": now, "lastTimestamp": now,
                "source": {"component": component}, "reportingComponent": component,
                "reportingInstance": "",
            })
        except errors.ApiError as exc:  # interference (a deleted namespace): never crash
            log.debug("event %s not recorded: %s", name, exc)

    def expire(self, now: datetime) -> None:
        """Delete events whose last occurrence is older than the TTL."""
        t = now.timestamp()
        if t - self._last_gc < 60:
            return
        self._last_gc = t
        cutoff = rfc3339(now - timedelta(seconds=self.ttl))
        for ev in self.state.readable(EVENTS):
            meta = ev["metadata"]
            # An event without any time (stored past the checks) is as old as can be.
            if str(ev.get("lastTimestamp") or meta.get("creationTimestamp") or "") < cutoff:
                try:
                    self.state.delete(EVENTS, meta.get("namespace", ""), meta["name"])
                except errors.ApiError:
                    pass


class Simulation:
    """Runs the controllers on every tick of scenario time."""

    def __init__(self, state: ClusterState, clock: SimClock,
                 controllers: list[Any], tick: float = 0.5) -> None:
        self.state = state
        self.clock = clock
        self.controllers = controllers
        self.tick = tick
        self.hooks: list[Callable[[datetime], None]] = []
        self.errors: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def step(self) -> None:
        """One pass of every controller at the current scenario time."""
        now = self.clock.now()
        for hook in list(self.hooks):
            try:
                hook(now)
            except Exception as exc:  # noqa: BLE001 - a failing hook must not stop the loop
                self._failed(getattr(hook, "__qualname__", type(hook).__name__), exc)
        for ctl in self.controllers:
            try:
                ctl.reconcile(now)
            except errors.ApiError as exc:
                # A write raced with interference (Conflict, NotFound): the next tick retries
                # from the truth, exactly as a real controller requeues.
                log.debug("%s: %s", ctl.name, exc.message)
            except Exception as exc:  # noqa: BLE001 - one controller's bug must not stop the rest
                self._failed(ctl.name, exc)

    def _failed(self, who: str, exc: BaseException) -> None:
        """Record a controller's (or hook's) failure: in :attr:`errors` (bounded: tests assert
        it stays empty), and in the log with a traceback the first time each message is
        seen, rather than on every tick."""
        msg = f"{who}: {type(exc).__name__}: {exc}"
        if msg not in self.errors:
            log.exception("controller failed: %s", msg)
        self.errors.append(msg)
        del self.errors[:-1000]

    def advance(self, seconds: float) -> None:
        """Manual time: move forward in ticks, reconciling at each."""
        remaining = seconds
        while remaining > 1e-9:
            dt = min(self.tick, remaining)
            self.clock.advance(dt)
            remaining -= dt
            self.step()

    async def run(self) -> None:
        """Real time: one step per tick of scenario time (at least every 50 ms of wall time
        when sped up, so a fast drill still moves smoothly)."""
        wall_tick = max(0.05, self.tick / max(self.clock.speed, 1e-9))
        while True:
            self.step()
            await asyncio.sleep(wall_tick)

    def start(self) -> None:
        if self._task is None and not self.clock.manual:
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
