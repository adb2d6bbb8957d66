"""Baseline use cases: list the cluster into a store, take a baseline, diff, validate.

:func:`list_cluster` is THE way to fill a fresh store once from a cluster for anyone without
the App's live store: the headless ``snapshot``/``diff``/``validate`` and the CLI breaker's
proposal use it (the breaker used to have its own five-kind lister, ``fill_store``, which
read the same kinds with other code and another notion of "could not list"). It runs the
very watch sources the App runs (:func:`backends.baseline.collect.collect`).

Nothing here writes to the cluster: the dry-run of these actions is the action itself. Files
are the face's business (the CLI writes ``-o FILE``; the App its snapshots dir), since where
a baseline goes and whether it may be overwritten is a question for the face's operator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from backends.baseline.capture import capture, make_meta, with_checklist
from backends.baseline.diff import Diff, diff
from backends.baseline.model import Baseline
from backends.baseline.validate import Validation, regressions, validate
from backends.store import Store

if TYPE_CHECKING:
    from backends.baseline.items import DiffItem
    from backends.baseline.runbook import Checklist
    from backends.config import Settings
    from backends.kube.source_set import ManagedTransport

__all__ = ["compare", "list_cluster", "live_baseline", "store_baseline", "validate_now"]


async def list_cluster(conn: ManagedTransport, settings: Settings, *,
                       prometheus_url: str = "", alertmanager_url: str = "",
                       namespaces: Sequence[str] | None = None, timeout: float = 60.0,
                       probe: bool = True) -> tuple[Store, list[str]]:
    """A fresh store filled once (every watched kind, one metrics poll; alerts, key signals
    and health endpoints when URLs / ``probe`` say so), and notes on what could not be
    collected (the face prints them; they are also in the store's health)."""
    from backends.baseline.collect import collect

    store = Store()
    notes = await collect(conn, store, settings, prometheus_url=prometheus_url,
                          alertmanager_url=alertmanager_url, namespaces=namespaces,
                          timeout=timeout, probe=probe)
    return store, notes


def store_baseline(store: Store, context: str, cluster: str, change_id: str, now: float,
                   checklist: Checklist | None = None) -> Baseline:
    """A baseline of ``store`` at ``now`` with the runbook ``checklist`` as its change record
    (None: the default checklist for ``change_id``). Runs on the store's loop (pure, fast)."""
    from backends.baseline.runbook import default_checklist

    baseline = capture(store, make_meta(context, cluster, change_id), now)
    return with_checklist(baseline, checklist or default_checklist(
        change_id=baseline.change_id), store)


async def live_baseline(conn: ManagedTransport, settings: Settings, context: str,
                        cluster: str, change_id: str = "", *, prometheus_url: str = "",
                        alertmanager_url: str = "", namespaces: Sequence[str] | None = None,
                        timeout: float = 60.0,
                        clock: Callable[[], float] = time.time) -> tuple[Baseline, list[str]]:
    """A baseline of the live cluster now (:func:`list_cluster`, then
    :func:`store_baseline`), and the collection notes. URLs default to the config's."""
    store, notes = await list_cluster(
        conn, settings, prometheus_url=prometheus_url or settings.prometheus.url,
        alertmanager_url=alertmanager_url or settings.alertmanager.url,
        namespaces=namespaces, timeout=timeout)
    return store_baseline(store, context, cluster, change_id, clock()), notes


def compare(baseline: Baseline, current: Baseline,
            settings: Settings) -> tuple[Diff, list[DiffItem]]:
    """What got worse, better or changed, and the regressions validation would fail on
    (the ``[validate] regressions`` kinds): a face fails (exit 1) when that list is not
    empty. Pure: run it in a thread from a UI."""
    result = diff(baseline, current)
    return result, regressions(result, settings.validate)


def validate_now(current: Baseline, settings: Settings,
                 baseline: Baseline | None = None) -> Validation:
    """The post-update checks of ``current`` (and no regression against ``baseline`` when
    given). Pure: run it in a thread from a UI."""
    return validate(current, settings.validate, baseline)
