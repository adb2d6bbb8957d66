"""Which change each alert most likely followed: the words a post-mortem starts from.

Why pure functions over a list of entries: the timeline screen, the post-mortem export and
replay all ask the same question of the same recording ("PodCrashLooping fired; what changed
just before, on the same app, workload or route?"), and the answer must not differ between
them. Nothing here reads a file or a clock; the callers hand in the entries.

The rule, kept deliberately simple so an engineer can check it by eye:

- an alert's *start* is its entry's ``at`` (the source's firing time);
- a *candidate* is a change entry (:func:`is_change`: made on purpose, not a controller's
  reaction or a status report) of the same context that happened at
  or before that start and no more than ``window`` seconds earlier, and that touches what the
  alert is about: the same Argo CD app, or the same workload or route (object ``Kind/name``
  or owning workload) in the same namespace;
- the latest candidate wins. Candidates at the same instant are ranked by how closely they
  touch the alert (the workload or route itself before its app), then by kind (the spec
  change, which is what broke, before the sync that carried it); the others at that instant
  are counted in the words, never hidden;
- no candidate: "no change recorded before it", never a guess from another app.

A spec or route change written by Argo CD's controller is said with the sync that carried it
(its initiator and revision), when the recording holds that sync operation of the same app
shortly before: "image checkout:1.5.0 synced by argocd (automated) at rev abc123".
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

from backends.timefmt import duration
from backends.timeline.entry import EntryKind, TimelineEntry

__all__ = [
    "CHANGE_KINDS",
    "DEFAULT_WINDOW_S",
    "Correlation",
    "alert_names",
    "alert_subject",
    "alert_target",
    "change_words",
    "correlate",
    "is_change",
    "is_firing",
    "is_resolved",
]

CHANGE_KINDS: Final[frozenset[EntryKind]] = frozenset({"spec", "sync", "route", "app",
                                                       "journal"})
"""The entries an alert can have followed: what someone or something changed on purpose."""

DEFAULT_WINDOW_S: Final = 2 * 3600.0
"""How far back before an alert's start a change is still a candidate (2 hours)."""

SYNC_LINK_S: Final = 600.0
"""How long after we saw an Argo CD sync operation a spec or route change written by Argo
CD's controller is said to have been carried by it."""

SYNC_SLACK_S: Final = 30.0
"""How much earlier than its sync such a change may have been seen (watches of different
kinds deliver in their own order)."""

_KIND_RANK: Final[dict[str, int]] = {"spec": 4, "route": 3, "sync": 2, "journal": 1, "app": 0}
"""Among changes at the same instant and as close to the alert: what broke first."""

_RESOLVED_WORDS: Final = ("resolved", "inactive", "ok")


class Correlation(msgspec.Struct, frozen=True, kw_only=True):
    """One firing alert and the change it most likely followed (None: none recorded)."""

    alert: TimelineEntry
    change: TimelineEntry | None
    carried_by: TimelineEntry | None = None
    """The Argo CD sync that carried ``change`` when Argo CD's controller wrote it."""
    also: int = 0
    """How many other candidate changes happened at the very same instant as ``change``."""
    words: str = ""
    """The sentence for the screen and the post-mortem."""


def is_resolved(entry: TimelineEntry) -> bool:
    """An alert entry that says the alert stopped firing."""
    state = (entry.after or entry.change).strip().lower()
    return entry.kind == "alert" and state.startswith(_RESOLVED_WORDS)


def is_firing(entry: TimelineEntry) -> bool:
    """An alert entry that says the alert started (or is) firing."""
    return entry.kind == "alert" and not is_resolved(entry)


def is_change(entry: TimelineEntry) -> bool:
    """An entry an alert can have followed: a change someone or something made on purpose
    (:data:`CHANGE_KINDS`), not a controller's reaction to one or a status report. Left out,
    because they follow the real change and would otherwise stand in for it: a ReplicaSet's
    replicas moved by its Deployment's controller, a route's conditions (the gateway
    controller's verdict), an app's sync or health status."""
    if entry.kind not in CHANGE_KINDS:
        return False
    words = entry.change.lower()
    if entry.kind == "spec":
        return not (entry.object_kind == "ReplicaSet" and entry.workload)
    if entry.kind == "route":
        return not words.startswith("conditions")
    if entry.kind == "app":
        return words in ("created", "deleted") or "revision" in words or "auto-sync" in words
    return True


def _objects(entry: TimelineEntry) -> set[str]:
    """The workload or route ``Kind/name`` an entry is about (itself and its owner)."""
    found = {entry.workload} if entry.workload else set()
    if entry.kind != "alert" and entry.object_kind and entry.name:
        found.add(f"{entry.object_kind}/{entry.name}")
    return found


def _names(entry: TimelineEntry) -> set[str]:
    return {o.rpartition("/")[2] for o in _objects(entry)}


def alert_target(alert: TimelineEntry) -> str:
    """The object an alert's labels named (the recorder words it ``firing on TARGET``: the
    pod, else the deployment, service, route or instance)."""
    head, on, rest = alert.change.partition(" on ")
    return rest.split(" ", 1)[0] if on and head in ("firing", "resolved") else ""


def alert_names(alert: TimelineEntry) -> set[str]:
    """The names of what the alert is about: its workload when the labels said it; else its
    target and, for a pod, the names its owners would have (a Deployment's pod is
    ``NAME-HASH-SUFFIX``, a ReplicaSet's, StatefulSet's or DaemonSet's ``NAME-SUFFIX``):
    exact names, never a prefix, so ``checkout`` is not taken for ``checkout-stable``."""
    if alert.workload:
        return {alert.workload.rpartition("/")[2]}
    # An ``app`` label names the workload more often than the Argo CD app (``app:
    # checkout-stable``): an exact name in the alert's namespace.
    names = {alert.app} if alert.app else set()
    target = alert_target(alert)
    if not target:
        return names
    parts = target.split("-")
    return names | {target} | {"-".join(parts[:-cut]) for cut in (1, 2) if len(parts) > cut}


def _closeness(alert: TimelineEntry, change: TimelineEntry) -> int:
    """2: the same workload or route in the same namespace; 1: the same Argo CD app;
    0: unrelated."""
    if change.context != alert.context:
        return 0
    if alert.namespace and change.namespace == alert.namespace \
            and alert_names(alert) & _names(change):
        return 2
    if alert.app and change.app == alert.app:
        return 1
    return 0


def alert_subject(alert: TimelineEntry, change: TimelineEntry | None = None) -> str:
    """What the alert is about, in one word: its workload's name; else the workload of the
    ``change`` it followed that its pod belongs to; else its target; else its app or
    namespace ("" when it names none of them)."""
    if alert.workload:
        return alert.workload.rpartition("/")[2]
    if change is not None and _closeness(alert, change) == 2:
        owners = (alert_names(alert) - {alert_target(alert), alert.app}) & _names(change)
        if owners:
            return min(owners, key=len)
    return alert_target(alert) or alert.app or alert.namespace


def _short_change(change: TimelineEntry) -> str:
    """``image checkout:1.4.2 -> checkout:1.5.0`` says ``image checkout:1.5.0``: the value it
    went to is what the alert followed. Anything else is said as recorded."""
    words = change.change or change.after or change.name
    left, arrow, right = words.partition(" -> ")
    field, space, _old = left.partition(" ")
    if arrow and space and " -> " not in right and "," not in words and ";" not in words:
        return f"{field} {right}"
    return words


def change_words(change: TimelineEntry, carried_by: TimelineEntry | None = None,
                 alert: TimelineEntry | None = None) -> str:
    """The change as a post-mortem line says it: what, on which object (unless it is the
    ``alert``'s own workload or route, already named), by whom, at which revision."""
    what = _short_change(change)
    own = alert is not None and alert.namespace == change.namespace \
        and change.name == alert_subject(alert, change)
    if not own and change.name not in what:
        where = f"{change.namespace}/{change.name}" if change.namespace else change.name
        what = f"{what} on {change.object_kind or change.kind} {where}".strip()
    actor = carried_by.actor if carried_by is not None else change.actor
    kind = carried_by.actor_kind if carried_by is not None else change.actor_kind
    revision = carried_by.revision if carried_by is not None else change.revision
    if actor:
        what += f" {'synced by' if kind == 'argocd' else 'by'} {actor}"
    if revision and revision[:12] not in what:
        what += f" at rev {revision[:12]}"
    return what


def _carrier(change: TimelineEntry, syncs: Sequence[TimelineEntry]) -> TimelineEntry | None:
    """The Argo CD sync of the change's app that carried a change Argo CD's controller
    wrote: the latest sync of that app we saw start at most :data:`SYNC_LINK_S` before the
    change (``seen``, our own clock: a source's clock may be skewed against the cluster's
    field managers, and the watch of Applications may deliver the sync a moment after the
    Deployment it changed, hence :data:`SYNC_SLACK_S`)."""
    if change.kind not in ("spec", "route") or not change.app \
            or change.actor_kind not in ("field-manager", "unknown", "system") \
            or (change.actor and "argocd" not in change.actor.lower()):
        return None
    best: TimelineEntry | None = None
    for sync in syncs:
        if sync.app == change.app and sync.context == change.context \
                and -SYNC_SLACK_S <= change.seen - sync.seen <= SYNC_LINK_S \
                and (best is None or sync.seen > best.seen):
            best = sync
    return best


def _words(alert: TimelineEntry, change: TimelineEntry | None, carried_by: TimelineEntry | None,
           also: int, window: float) -> str:
    subject = alert_subject(alert, change)
    head = f"{alert.name} on {subject}" if subject else alert.name
    if change is None:
        return f"{head}: no change recorded before it (within {duration(window)})"
    gap = duration(alert.at - change.at)
    text = f"{head} {gap} after {change_words(change, carried_by, alert)}"
    if also:
        text += f" (and {also} other change{'s' if also > 1 else ''} at the same time)"
    return text


def _choose(alert: TimelineEntry, candidates: list[tuple[TimelineEntry, int]],
            syncs: Sequence[TimelineEntry]) -> tuple[TimelineEntry, TimelineEntry | None]:
    """The latest candidate (module docstring), and the sync that carried it. When that is
    an Argo CD sync (or an app's revision change) and the recording holds the change it
    made to the alert's own workload or route, that change is what the alert followed: a
    sync ends after the Deployment it changed, and "image X synced by argocd" says more than
    "sync Succeeded"."""
    best, _close = max(candidates, key=lambda c: (c[0].at, c[1], _KIND_RANK.get(c[0].kind, 0)))
    if best.kind in ("sync", "app"):
        carried = []
        for change, close in candidates:
            carrier = _carrier(change, syncs) if close == 2 else None
            if carrier is not None and carrier.app == best.app \
                    and (not best.revision or carrier.revision == best.revision):
                carried.append((change, carrier))
        if carried:
            return max(carried, key=lambda c: c[0].at)
    return best, _carrier(best, syncs)


def correlate(entries: Iterable[TimelineEntry], *,
              window: float = DEFAULT_WINDOW_S) -> list[Correlation]:
    """For each firing alert entry in ``entries`` (in their order), the change it most
    likely followed (module docstring). ``entries`` need not be sorted."""
    if window < 0:
        raise ValueError(f"correlation window must not be negative, got {window}")
    listed = list(entries)
    changes = sorted((e for e in listed if is_change(e)), key=lambda e: e.at)
    times = [c.at for c in changes]
    syncs = [c for c in changes if c.kind == "sync"]
    found: list[Correlation] = []
    for alert in listed:
        if not is_firing(alert):
            continue
        end = bisect.bisect_right(times, alert.at)
        start = bisect.bisect_left(times, alert.at - window)
        candidates = [(c, close) for c in changes[start:end]
                      if (close := _closeness(alert, c))]
        if not candidates:
            found.append(Correlation(alert=alert, change=None,
                                     words=_words(alert, None, None, 0, window)))
            continue
        chosen, carried = _choose(alert, candidates, syncs)
        tied = sum(1 for c, _ in candidates if c.at == chosen.at) - 1
        found.append(Correlation(alert=alert, change=chosen, carried_by=carried, also=tied,
                                 words=_words(alert, chosen, carried, tied, window)))
    return found
