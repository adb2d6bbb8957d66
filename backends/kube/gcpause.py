"""Python's cyclic garbage collector while a big cluster loads: paused, then frozen.

Why: the rows themselves are ``gc=False`` msgspec structs and cost the collector nothing, but
loading 30,000 pods still allocates hundreds of thousands of tracked containers around them
(the store's index sets and dicts, the panels' cell tuples and row models, asyncio and HTTP
objects). Each 700 of them trigger a young collection, and every few of those an older one;
a full collection walks the whole heap, and while a big cluster loads it paused the event loop
for 200 ms and more at a time, stretching the load itself (bench/bench_live.py). Nearly
everything allocated then lives as long as the App, so collecting it is wasted work.

What: :class:`LoadPause` disables the collector while the first lists of a source set load
and, when the last one is in (or failed, or ``limit`` seconds passed, or the set stopped),
calls ``gc.freeze()``, which moves every object alive into a permanent generation the collector
never walks again, then re-enables it. From then on a full collection walks only what was
created after the load, so its pause stays short under a flood of watch events.

The price, accepted: cyclic garbage made during the load (a few exceptions and futures) is not
collected until then, and what is still garbage at the freeze is frozen with the rest and never
freed; reference counting frees everything else as usual. The collector is process-wide, so
pauses nest (two source sets in one process, as in the tests): the first pause disables it, the
last resume freezes and enables it, and a collector that was already disabled by someone else
is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Collection, Iterator

__all__ = [
    "LoadPause",
    "collector_held",
    "collector_paused",
    "freeze_startup_heap",
    "hold_until_startup_frozen",
    "release_startup_hold",
]

log = logging.getLogger(__name__)

_holders = 0
_disabled_by_us = False
_startup_frozen = False
_startup_held = False


def freeze_startup_heap() -> bool:
    """Freeze what is alive now (the imported modules, classes and constants), once per
    process; True the first time.

    Call it when the program has imported what it needs and is about to build its screen.
    Why: the heap after importing Textual, kubernetes, aiohttp and msgspec holds about 250,000
    objects that live as long as the process. Building the App's screen allocates enough to
    trigger a full collection, which walked all of them and paused the event loop for 50 to
    80 ms while the first lists were already loading (bench/bench_live.py, "longest GC pause
    while loading"). Frozen, no collection ever walks them again. Once per process: a test
    run builds hundreds of Apps, and freezing again would keep the cyclic garbage of every
    earlier one alive.
    """
    global _startup_frozen
    if _startup_frozen:
        release_startup_hold()
        return False
    _startup_frozen = True
    gc.freeze()
    release_startup_hold()
    return True


def hold_until_startup_frozen() -> None:
    """Disable the collector until :func:`freeze_startup_heap` (or :func:`release_startup_hold`).

    The launcher calls it before importing the screen (Textual, aiohttp, kubernetes.aio and
    the App's modules). Why: those imports make about 130,000 tracked objects that live as
    long as the process, and they triggered ~190 collections, ~45 ms of the time to first
    rows (issue 16: spawn to first rows under 0.6 s), only to find about 2,400 objects of
    import-time garbage; :func:`freeze_startup_heap` then moves everything alive into the
    permanent generation anyway. The price: that little garbage is frozen too (never freed).
    Nothing happens if the collector is off already (someone else's choice) or the startup
    heap is frozen already.
    """
    global _startup_held
    if gc.isenabled() and not _startup_frozen and not _startup_held:
        gc.disable()
        _startup_held = True


def release_startup_hold() -> None:
    """End :func:`hold_until_startup_frozen`'s pause (idempotent; no hold: nothing)."""
    global _startup_held
    if _startup_held:
        _startup_held = False
        gc.enable()


def collector_paused() -> bool:
    """Whether a :class:`LoadPause` holds the collector now (tests and the debug view)."""
    return _holders > 0


@contextlib.contextmanager
def collector_held() -> Iterator[None]:
    """The collector off for one burst of allocation whose objects live on, then back on,
    NOT frozen (unlike a :class:`LoadPause`: what the burst made is replaced by the next one
    and must stay freeable).

    Why: a replay's seek (backends/timeline/replay.py) builds 30,000 pods' mirrors and rows,
    and every 700 new tracked objects a young collection walked them again, an older one
    every few of those: about 0.12 s of a 0.6 s seek at 1,000 changes/s, and a full
    collection in the middle stretched the worst seek past 1 s (bench/bench_timeline.py,
    issue 17 point 6). The collector is process-wide: a collector someone else disabled is
    left alone, and if a :class:`LoadPause` began meanwhile, its last resume turns it back on.
    """
    global _disabled_by_us
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if _holders == 0:
            gc.enable()
        else:
            _disabled_by_us = True  # a LoadPause began meanwhile: its last resume enables


def _pause() -> None:
    global _holders, _disabled_by_us
    if _holders == 0:
        _disabled_by_us = gc.isenabled()
        if _disabled_by_us:
            gc.disable()
    _holders += 1


def _resume() -> None:
    global _holders, _disabled_by_us
    _holders -= 1
    if _holders == 0 and _disabled_by_us:
        _disabled_by_us = False
        gc.freeze()
        gc.enable()


class LoadPause:
    """The collector paused until every named source has listed once (see the module doc).

    Call :meth:`start` when the sources start (on the event loop), :meth:`listed` as each
    first list ends (well or badly), and :meth:`end` when the sources stop; ending twice, or
    hearing of a source twice, is harmless.
    """

    def __init__(self, names: Collection[str], limit: float) -> None:
        self._pending = set(names)
        self._limit = limit
        self._timer: asyncio.TimerHandle | None = None
        self._state = "new"

    @property
    def active(self) -> bool:
        """True between :meth:`start` and :meth:`end`."""
        return self._state == "paused"

    def start(self) -> None:
        """Pause the collector (nothing to wait for, or ``limit`` <= 0: do nothing)."""
        if self._state != "new":
            return
        if not self._pending or self._limit <= 0:
            self._state = "ended"
            return
        self._state = "paused"
        _pause()
        self._timer = asyncio.get_running_loop().call_later(self._limit, self._expire)

    def listed(self, name: str) -> None:
        """Source ``name`` finished its first list, or failed it; the last one ends the pause."""
        self._pending.discard(name)
        if not self._pending:
            self.end()

    def end(self) -> None:
        """Freeze what survived and re-enable the collector (once)."""
        if self._state != "paused":
            self._state = "ended"
            return
        self._state = "ended"
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        _resume()

    def _expire(self) -> None:
        self._timer = None
        log.info("garbage collector resumed after %.0f s; still listing: %s",
                 self._limit, ", ".join(sorted(self._pending)))
        self.end()
