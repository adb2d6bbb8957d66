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
from pathlib import Path
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

__all__ = [
    "IncompleteBaseline",
    "compare",
    "engaged_breakers",
    "list_cluster",
    "live_baseline",
    "refuse_incomplete",
    "store_baseline",
    "validate_now",
]


class IncompleteBaseline(Exception):
    """A baseline without nodes, workloads or pods: never written, never compared with. The
    message says which sections and why, in one line."""

    def __init__(self, gaps: list[str], doing: str) -> None:
        self.gaps = gaps
        super().__init__(f"{doing}: " + "; ".join(gaps))


def refuse_incomplete(baseline: Baseline, doing: str) -> None:
    """Raise :class:`IncompleteBaseline` when ``baseline`` lacks a required section (nodes,
    workloads, pods could not be read): a baseline of nothing must never be written (it
    would become the context's newest and pass every diff), nor be compared with.
    ``doing`` starts the message ("refusing to write the baseline", "cannot compare")."""
    gaps = baseline.gaps()
    if gaps:
        raise IncompleteBaseline(gaps, doing)


def engaged_breakers(journal: Path, context: str) -> list[str]:
    """The headlines of the circuit breakers engaged (or half-done) on ``context``, from the
    journal at ``journal`` (none when it does not exist: reading must not create it).
    Raises :class:`~backends.ops.journal.JournalError` when the journal cannot be read.
    Why validation asks: an update validated while the breaker holds workloads at 0 and
    traffic away is not finished, whatever the checks of the rest say."""
    from backends.ops.breaker import breaker_status_db
    from backends.ops.journal import JournalDB

    if not journal.exists():
        return []
    with JournalDB.open(journal) as db:
        state = breaker_status_db(db, context)
    return [state.headline()] if state.engaged else []


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
                 baseline: Baseline | None = None, *, breakers: Sequence[str] | None = None,
                 breakers_unknown: str = "") -> Validation:
    """The post-update checks of ``current`` (and no regression against ``baseline`` when
    given; a breaker in ``breakers`` fails it, see :func:`engaged_breakers`). Pure: run it
    in a thread from a UI."""
    return validate(current, settings.validate, baseline, breakers=breakers,
                    breakers_unknown=breakers_unknown)
