"""Node and pod usage from ``metrics.k8s.io`` (what ``kubectl top`` shows), polled.

Why polled and not watched: metrics-server serves only get/list, and refreshes every ~15 s
anyway (operations.md section 7). Each poll replaces the whole ``nodemetrics``/``podmetrics``
set: a pod that stopped has no metrics any more, and replace drops it; unchanged rows are not
stamped, so a quiet cluster wakes no panel.

Why non-overlapping: the next poll is armed only after the previous one finished (a sleep at
the end of the loop, not a fixed-rate timer), so a slow metrics-server can never have two
polls of ours stacked up on it (Dolphie's WorkerManager pattern, STYLE.md).

Version: ``v1`` where the cluster advertises it, else ``v1beta1``, found through discovery
and found again after a 404 (metrics-server reinstalled at another version). Forbidden and
not installed are health states with slow re-checks, like the watch sources; a failing poll
(metrics-server down: 503) keeps the last numbers and marks them stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from backends.kube.decode import DecodeError, decode_list
from backends.kube.discovery import resolve
from backends.kube.errors import KubeApiError, KubeError
from backends.kube.problems import forbidden_reason, summarise
from backends.kube.source import source_name
from backends.kube.wire import KubeTransport, namespaced_path
from backends.store import SourceState, Store

__all__ = ["MetricsPoller"]

log = logging.getLogger(__name__)

_PLURAL = {"nodemetrics": "nodes", "podmetrics": "pods"}


class MetricsPoller:
    """Poll NodeMetrics and PodMetrics (all namespaces, or each of ``namespaces``)."""

    def __init__(
        self,
        conn: KubeTransport,
        store: Store,
        interval: float = 15.0,
        *,
        namespaces: Sequence[str] | None = None,
        version: str | None = None,
        forbidden_retry: float = 60.0,
        recheck_interval: float = 300.0,
    ) -> None:
        self.name = "metrics"
        self._conn = conn
        self._store = store
        self._interval = interval
        self._namespaces = list(namespaces) if namespaces else None
        self._version = version
        """``v1``/``v1beta1`` once known; None means "ask discovery first"."""
        self._forbidden_retry = forbidden_retry
        self._recheck_interval = recheck_interval
        self._ever_ok: set[str] = set()
        self._wake = asyncio.Event()
        self.polls = 0
        """Completed polls (tests and the debug view read it)."""

    def targets(self) -> list[tuple[str, str | None]]:
        """(kind, namespace) pairs polled each round."""
        pods: list[str | None] = list(self._namespaces) if self._namespaces else [None]
        return [("nodemetrics", None), *(("podmetrics", ns) for ns in pods)]

    async def run(self) -> None:
        """Poll until cancelled; the next poll is armed when this one is done."""
        for kind, namespace in self.targets():
            self._store.set_health(source_name(kind, namespace), "connecting")
        while True:
            try:
                delay = await self.poll_once()
            except Exception as exc:  # noqa: BLE001 - a bug must not end the poller
                log.exception("metrics: unexpected failure")
                for kind, namespace in self.targets():
                    self._store.set_health(source_name(kind, namespace), "error",
                                           f"internal error: {type(exc).__name__}: {exc}")
                delay = self._interval
            if not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
            self._wake.clear()

    def retry_now(self) -> None:
        """End the wait before the next poll (the App's retry key)."""
        self._wake.set()

    async def poll_once(self) -> float:
        """One round over every target; returns the pause before the next round."""
        if self._version is None:
            try:
                self._version = await self._discover()
            except KubeError as exc:
                for kind, namespace in self.targets():
                    # the same words as every other source that lost the server
                    self._lost(kind, namespace,
                               summarise(exc, str(getattr(self._conn, "cluster", "") or "")))
                return self._interval
            if self._version is None:
                for kind, namespace in self.targets():
                    self._gone(kind, namespace, "not_installed",
                               "metrics.k8s.io is not served (no metrics-server)")
                return self._recheck_interval
        outcomes = [await self._poll(kind, namespace) for kind, namespace in self.targets()]
        self.polls += 1
        if "not_installed" in outcomes:
            self._version = None  # find it again (perhaps at another version)
        if all(outcome == "forbidden" for outcome in outcomes):
            return max(self._interval, self._forbidden_retry)
        return self._interval

    async def _discover(self) -> str | None:
        for kind in ("nodemetrics", "podmetrics"):
            resource = await resolve(self._conn, kind)
            if resource is not None:
                return resource.version
        return None

    async def _poll(self, kind: str, namespace: str | None) -> str:
        path = namespaced_path(
            f"/apis/metrics.k8s.io/{self._version}/{_PLURAL[kind]}", namespace
        )
        try:
            raw = await self._conn.get_raw(path)
        except KubeApiError as exc:
            if exc.status == 403:
                self._gone(kind, namespace, "forbidden",
                           forbidden_reason("list", path, exc.message,
                                            str(getattr(self._conn, "user", "") or "")))
                return "forbidden"
            if exc.status == 404:
                self._gone(kind, namespace, "not_installed", exc.message)
                return "not_installed"
            self._lost(kind, namespace, summarise(exc))
            return "lost"
        except KubeError as exc:
            self._lost(kind, namespace,
                       summarise(exc, str(getattr(self._conn, "cluster", "") or "")))
            return "lost"
        name = source_name(kind, namespace)
        try:
            page = decode_list(kind, raw)
        except DecodeError as exc:
            self._store.set_health(name, "error", str(exc))
            return "error"
        self._store.replace(kind, page.rows,
                            keep=set(page.failed_keys) | self._foreign_keys(kind, namespace))
        self._ever_ok.add(name)
        if page.errors:
            self._store.set_health(
                name, "error",
                f"{len(page.errors)} item(s) could not be decoded; first: {page.errors[0]}")
        else:
            self._store.set_health(name, "connected")
        self._store.note_event(name)
        return "ok"

    def _foreign_keys(self, kind: str, namespace: str | None) -> frozenset[str]:
        if namespace is None:
            return frozenset()
        prefix = f"{namespace}/"
        return frozenset(k for k in self._store.rows(kind) if not k.startswith(prefix))

    def _gone(self, kind: str, namespace: str | None, state: SourceState, why: str) -> None:
        """Forbidden or not installed: the old numbers are not ours to show any more."""
        self._store.replace(kind, (), keep=self._foreign_keys(kind, namespace))
        self._store.set_health(source_name(kind, namespace), state, why)

    def _lost(self, kind: str, namespace: str | None, why: str) -> None:
        name = source_name(kind, namespace)
        state: SourceState = "stale" if name in self._ever_ok else "error"
        self._store.set_health(name, state, why)
