"""The store: the UI's single source of truth (one-way data flow, ARCHITECTURE.md).

Sources push decoded deltas in (:meth:`Store.apply` for watch events, :meth:`Store.replace` for
a re-list); the refresh tick pulls out what changed since it last looked
(:meth:`Store.changes_since`) and updates table cells by key. Widgets never fetch, and nothing
here knows about widgets.

Design choices, and why:

- Versions, not callbacks. Every row change bumps one monotonically increasing counter and
  stamps the row's key with it. A consumer remembers the version it last saw; many consumers
  at different paces need no bookkeeping here, and a burst of 5,000 MODIFIED events for one
  pod is one entry in the next change set (only the latest state matters).
- Per kind, ``key -> version`` lives in an insertion-ordered dict that is re-inserted on every
  change, so it stays sorted by version and :meth:`changes_since` walks it backwards and stops
  at the consumer's version: O(changes), never O(rows), and never a sort.
- Deletions leave a tombstone (``key -> version``) so a consumer learns about them. Tombstones
  are capped; a consumer older than the oldest dropped tombstone gets ``full=True`` and must
  rebuild from :meth:`rows`.
- No-op updates are dropped: rows are frozen structs that compare by value, so a MODIFIED
  whose slim row is unchanged (a node heartbeat, a resourceVersion bump) does not count as a
  change and wakes nobody. The same makes a re-list cheap: only real differences are stamped.
- Derived indexes (pods by node, pods by owner, ReplicaSet -> Deployment, problem pods,
  restart baselines) are updated incrementally in O(1) per changed row. Pod -> Deployment is
  resolved lazily through the ReplicaSet index at query time, so it is right whichever of
  pod and ReplicaSet arrives first. Owner links use namespace/name, as kubectl does for
  display; uids are on the rows for actions that must be exact.
- Time-dependent judgements (pending too long) are made at query time by
  :meth:`problem_pods`, from a small index of pending pods, not by rescanning pods.

The store is not thread-safe by design: everything runs on the event loop (ARCHITECTURE.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from itertools import islice
from types import MappingProxyType
from typing import Literal, TypeAlias

import msgspec

from backends.model import KINDS, PodRow, ReplicaSetRow, Row, make_key
from backends.podproblem import pending_for, problem_reason
from backends.sanitize import clean

__all__ = ["UNDECODABLE_SHOWN", "ChangeSet", "Op", "SourceHealth", "SourceState", "Store"]

Op: TypeAlias = Literal["ADDED", "MODIFIED", "DELETED"]
SourceState: TypeAlias = Literal[
    "connected", "connecting", "stale", "error", "forbidden", "not_installed"
]

_EMPTY: frozenset[str] = frozenset()
UNDECODABLE_SHOWN = 5
"""Undecodable objects named per source in its health (a header line has room for few)."""
_UNDECODABLE_LINE_MAX = 300
_NO_ROWS: Mapping[str, Row] = MappingProxyType({})


class SourceHealth(msgspec.Struct, frozen=True, kw_only=True):
    """How a data source is doing, for the header's health strip."""

    state: SourceState
    since: float
    """When ``state`` last changed: "stale since T"."""
    error: str = ""
    """Last error text (sanitized); empty when healthy."""
    last_event: float | None = None
    """When data last arrived: the strip shows its age."""
    undecodable: int = 0
    """How many objects the source holds in the cluster but could not decode (issue 13,
    point 11). Not a state of its own: the source is live and its other rows are right, but
    its kind is incomplete, so the header and the panel name them and validation of the kind
    cannot check. Kept across state changes until the source says otherwise."""
    undecodable_objects: tuple[str, ...] = ()
    """The first few of them as ``DecodeFailure.line()`` (``pods payments/web-1: why``),
    sanitized: at most :data:`UNDECODABLE_SHOWN`, the rest are only counted."""


class ChangeSet(msgspec.Struct, frozen=True, kw_only=True):
    """What changed between a consumer's last version and ``version``.

    With ``full=False``: ``upserted[kind]`` are keys to (re)render from :meth:`Store.get`,
    ``removed[kind]`` keys to drop. A key appears in at most one of them, with its latest
    state. With ``full=True`` the consumer fell too far behind: ``upserted`` lists every key
    that exists now and the consumer must drop any row it shows that is not listed.
    ``health`` maps each source whose health changed to its current health.
    """

    version: int
    full: bool = False
    upserted: dict[str, frozenset[str]] = msgspec.field(default_factory=dict)
    removed: dict[str, frozenset[str]] = msgspec.field(default_factory=dict)
    health: dict[str, SourceHealth] = msgspec.field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when nothing changed (the tick can skip all work)."""
        return not (self.full or self.upserted or self.removed or self.health)


def _index_add(index: dict[str, set[str]], bucket: str, key: str) -> None:
    members = index.get(bucket)
    if members is None:
        index[bucket] = {key}
    else:
        members.add(key)


def _index_discard(index: dict[str, set[str]], bucket: str, key: str) -> None:
    members = index.get(bucket)
    if members is not None:
        members.discard(key)
        if not members:
            del index[bucket]


def _owner_id(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


class Store:
    """Rows by kind and key, a version counter, derived indexes and source health.

    ``tombstone_limit`` caps remembered deletions per kind; ``clock`` is injectable so tests
    and the drill cluster control time.
    """

    def __init__(
        self,
        *,
        tombstone_limit: int = 50_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._tombstone_limit = tombstone_limit
        self._version = 0
        self._horizon = 0
        """Consumers whose version is below this may have missed a dropped tombstone."""
        self._rows: dict[str, dict[str, Row]] = {}
        self._stamps: dict[str, dict[str, int]] = {}
        self._tombs: dict[str, dict[str, int]] = {}
        self._health: dict[str, SourceHealth] = {}
        self._health_stamps: dict[str, int] = {}
        # Derived indexes.
        self._pods_by_node: dict[str, set[str]] = {}
        self._pods_by_owner: dict[str, set[str]] = {}
        self._rs_deployment: dict[str, str] = {}
        self._deployment_rs: dict[str, set[str]] = {}
        self._problems: dict[str, str] = {}
        self._pending_since: dict[str, float] = {}
        self._restart_base: dict[str, int] = {}

    # ------------------------------------------------------------ reading

    @property
    def version(self) -> int:
        """The version of the latest change; pass it to :meth:`changes_since` next time."""
        return self._version

    def rows(self, kind: str) -> Mapping[str, Row]:
        """A read-only live view of one kind's rows by key."""
        return MappingProxyType(self._table(kind))

    def held(self, kind: str) -> Mapping[str, Row]:
        """The kind's rows as held now (read-only; empty for a kind never seen), for loops
        over many keys: one lookup of the kind instead of one :meth:`get` per key."""
        table = self._rows.get(kind)
        return _NO_ROWS if table is None else MappingProxyType(table)

    def get(self, kind: str, key: str) -> Row | None:
        """The row, or None."""
        return self._rows.get(kind, {}).get(key)

    def count(self, kind: str) -> int:
        """How many rows of a kind are held."""
        return len(self._rows.get(kind, ()))

    # ------------------------------------------------------------ writing

    def apply(self, kind: str, events: Iterable[tuple[Op, Row]]) -> int:
        """Apply watch deltas in order; returns how many changed something.

        ADDED and MODIFIED upsert (an unchanged row is ignored), DELETED removes by the row's
        key (a delete for an unknown key is ignored: it may have been missed by a re-list).
        """
        changed = 0
        for op, row in events:
            if op == "DELETED":
                changed += self._remove(kind, row.key)
            elif op == "ADDED" or op == "MODIFIED":
                changed += self._upsert(kind, row)
            else:
                raise ValueError(f"unknown watch operation {op!r} for {kind}")
        return changed

    def replace(self, kind: str, rows: Iterable[Row], *, keep: Collection[str] = ()) -> int:
        """Make ``rows`` the complete set for ``kind`` (a re-list after 410 or reconnect).

        Objects missing from ``rows`` are removed (no ghosts of objects deleted while we were
        disconnected); rows equal to what is held are not stamped, so a re-list that finds
        nothing new wakes nobody. Keys in ``keep`` are left as they are: pass the keys of
        items that failed to decode (``DecodedList.failed_keys``), which exist but could not be
        read. Synchronous, so no consumer can observe a half-applied re-list.
        """
        incoming: dict[str, Row] = {row.key: row for row in rows}
        current = self._rows.get(kind, {})
        kept = keep if isinstance(keep, set | frozenset) else frozenset(keep)
        gone = [key for key in current if key not in incoming and key not in kept]
        changed = 0
        for key in gone:
            changed += self._remove(kind, key)
        for row in incoming.values():
            changed += self._upsert(kind, row)
        return changed

    def clear(self, kind: str) -> int:
        """Remove every row of a kind (the source went away: forbidden, not installed)."""
        return self.replace(kind, ())

    def _bump(self) -> int:
        self._version += 1
        return self._version

    def _table(self, kind: str) -> dict[str, Row]:
        """The kind's rows, creating its bookkeeping together so they never disagree."""
        table = self._rows.get(kind)
        if table is None:
            table = self._rows[kind] = {}
            self._stamps[kind] = {}
            self._tombs[kind] = {}
        return table

    def _upsert(self, kind: str, row: Row) -> int:
        table = self._table(kind)
        key = row.key
        old = table.get(key)
        if old is not None and (old is row or old == row):
            return 0
        table[key] = row
        version = self._bump()
        stamps = self._stamps[kind]
        stamps.pop(key, None)  # re-insert at the end: the dict stays ordered by version
        stamps[key] = version
        self._tombs[kind].pop(key, None)
        self._index(kind, old, row)
        return 1

    def _remove(self, kind: str, key: str) -> int:
        table = self._rows.get(kind)
        if table is None or key not in table:
            return 0
        old = table.pop(key)
        version = self._bump()
        self._stamps[kind].pop(key, None)
        tombs = self._tombs[kind]
        tombs.pop(key, None)
        tombs[key] = version
        if len(tombs) > self._tombstone_limit:
            oldest = next(iter(tombs))
            self._horizon = max(self._horizon, tombs.pop(oldest))
        self._index(kind, old, None)
        return 1

    # ------------------------------------------------------------ change sets

    def changes_since(self, version: int) -> ChangeSet:
        """What changed after ``version`` (compacted: one entry per key, latest state)."""
        if version < self._horizon or version < 0 or version > self._version:
            return self._full_change_set()
        upserted: dict[str, frozenset[str]] = {}
        removed: dict[str, frozenset[str]] = {}
        for kind, stamps in self._stamps.items():
            keys = _newer_than(stamps, version)
            if keys:
                upserted[kind] = keys
        for kind, tombs in self._tombs.items():
            keys = _newer_than(tombs, version)
            if keys:
                removed[kind] = keys
        health = {
            source: self._health[source] for source in _newer_than(self._health_stamps, version)
        }
        return ChangeSet(version=self._version, upserted=upserted, removed=removed, health=health)

    def _full_change_set(self) -> ChangeSet:
        return ChangeSet(
            version=self._version,
            full=True,
            upserted={kind: frozenset(table) for kind, table in self._rows.items() if table},
            health=dict(self._health),
        )

    # ------------------------------------------------------------ source health

    def set_health(
        self, source: str, state: SourceState, error: str = "", *, now: float | None = None
    ) -> SourceHealth:
        """Record a source's state; ``since`` only moves when the state actually changes."""
        now = self._clock() if now is None else now
        old = self._health.get(source)
        new = SourceHealth(
            state=state,
            since=old.since if old is not None and old.state == state else now,
            error=clean(error),
            last_event=old.last_event if old is not None else None,
            undecodable=old.undecodable if old is not None else 0,
            undecodable_objects=old.undecodable_objects if old is not None else (),
        )
        if new != old:
            self._set_health(source, new)
        return new

    def set_undecodable(self, source: str, count: int, objects: Iterable[str] = (), *,
                        now: float | None = None) -> None:
        """Record the objects ``source`` could not decode now (0: none), named by the first
        few ``DecodeFailure.line()`` in ``objects`` (cleaned again here: they go to the
        header as they are). The state is left alone: the source still delivers."""
        named = tuple(clean(line, _UNDECODABLE_LINE_MAX)
                      for line in islice(objects, UNDECODABLE_SHOWN))
        count = max(count, len(named))
        old = self._health.get(source)
        if old is None:
            now = self._clock() if now is None else now
            old = SourceHealth(state="connecting", since=now)
        elif old.undecodable == count and old.undecodable_objects == named:
            return
        self._set_health(source, msgspec.structs.replace(
            old, undecodable=count, undecodable_objects=named))

    def note_event(self, source: str, *, now: float | None = None) -> None:
        """Record that data arrived from ``source`` (call once per batch, not per row)."""
        now = self._clock() if now is None else now
        old = self._health.get(source)
        if old is None:
            old = SourceHealth(state="connected", since=now)
        self._set_health(source, msgspec.structs.replace(old, last_event=now))

    def _set_health(self, source: str, health: SourceHealth) -> None:
        self._health[source] = health
        self._health_stamps.pop(source, None)
        self._health_stamps[source] = self._bump()

    def health(self, source: str) -> SourceHealth | None:
        """The source's health, or None if it never reported."""
        return self._health.get(source)

    def all_health(self) -> Mapping[str, SourceHealth]:
        """Every source's health (read-only view)."""
        return MappingProxyType(self._health)

    def first_lists_loading(self) -> bool:
        """True while a source of a cluster kind is still on its first list ("connecting").

        The UI hands changes over less often then (each hand-over re-sorts and repaints while
        the rows keep arriving). Sources are named ``kind`` or ``kind@namespace``; alert
        sources, the team bus and health probes are not cluster kinds and do not count.
        """
        return any(h.state == "connecting" and name.partition("@")[0] in KINDS
                   for name, h in self._health.items())

    # ------------------------------------------------------------ derived indexes

    def _index(self, kind: str, old: Row | None, new: Row | None) -> None:
        if kind == "pods":
            new_pod = new if isinstance(new, PodRow) else None
            first_pending: float | None = None
            if isinstance(old, PodRow):
                first_pending = self._unindex_pod(old, new_pod)
            if new_pod is not None:
                self._index_pod(new_pod, first_pending)
        elif kind == "replicasets":
            if isinstance(old, ReplicaSetRow):
                self._unindex_replicaset(old)
            if isinstance(new, ReplicaSetRow):
                self._index_replicaset(new)

    def _index_pod(self, pod: PodRow, first_pending: float | None) -> None:
        key = pod.key
        if pod.node:
            _index_add(self._pods_by_node, pod.node, key)
        if pod.owner_kind:
            owner = _owner_id(pod.owner_kind, pod.namespace, pod.owner_name)
            _index_add(self._pods_by_owner, owner, key)
        uid = pod.uid or key
        base = self._restart_base.get(uid)
        if base is None or pod.restarts < base:
            base = self._restart_base[uid] = pod.restarts
        reason = problem_reason(pod.status, failing=pod.problem, ready=pod.ready_containers,
                                total=pod.total_containers, restarts_rising=pod.restarts - base)
        if reason:
            self._problems[key] = reason
        if pod.phase == "Pending" and pod.deleted is None:
            # Pending since creation; without a creation time, since the store first saw it.
            since = pod.created or first_pending
            self._pending_since[key] = self._clock() if since is None else since

    def _unindex_pod(self, pod: PodRow, new: PodRow | None) -> float | None:
        """Undo _index_pod for the old row; returns its pending-since time for reuse."""
        key = pod.key
        if pod.node:
            _index_discard(self._pods_by_node, pod.node, key)
        if pod.owner_kind:
            owner = _owner_id(pod.owner_kind, pod.namespace, pod.owner_name)
            _index_discard(self._pods_by_owner, owner, key)
        self._problems.pop(key, None)
        uid = pod.uid or key
        if new is None or (new.uid or new.key) != uid:
            # Gone, or replaced by a new pod of the same name: its baseline goes with it.
            self._restart_base.pop(uid, None)
        return self._pending_since.pop(key, None)

    def _index_replicaset(self, rs: ReplicaSetRow) -> None:
        if rs.deployment:
            deployment = make_key(rs.namespace, rs.deployment)
            self._rs_deployment[rs.key] = deployment
            _index_add(self._deployment_rs, deployment, rs.key)

    def _unindex_replicaset(self, rs: ReplicaSetRow) -> None:
        deployment = self._rs_deployment.pop(rs.key, None)
        if deployment is not None:
            _index_discard(self._deployment_rs, deployment, rs.key)

    # ------------------------------------------------------------ index queries

    def pods_on_node(self, node: str) -> frozenset[str]:
        """Keys of the pods scheduled on ``node``."""
        return frozenset(self._pods_by_node.get(node, _EMPTY))

    def pods_of_owner(self, kind: str, namespace: str, name: str) -> frozenset[str]:
        """Keys of the pods whose controller is ``kind`` ``namespace/name``."""
        return frozenset(self._pods_by_owner.get(_owner_id(kind, namespace, name), _EMPTY))

    def replicasets_of_deployment(self, deployment_key: str) -> frozenset[str]:
        """Keys of the ReplicaSets controlled by the Deployment (all revisions)."""
        return frozenset(self._deployment_rs.get(deployment_key, _EMPTY))

    def pods_of_deployment(self, deployment_key: str) -> frozenset[str]:
        """Keys of the pods of a Deployment, through its ReplicaSets (any revision)."""
        namespace = deployment_key.partition("/")[0]
        pods: set[str] = set()
        for rs_key in self._deployment_rs.get(deployment_key, _EMPTY):
            rs_name = rs_key.partition("/")[2]
            pods.update(self._pods_by_owner.get(_owner_id("ReplicaSet", namespace, rs_name), ()))
        return frozenset(pods)

    def deployment_of_pod(self, pod_key: str) -> str | None:
        """The key of the Deployment that owns a pod through a ReplicaSet, if known yet."""
        pod = self._rows.get("pods", {}).get(pod_key)
        if not isinstance(pod, PodRow) or pod.owner_kind != "ReplicaSet":
            return None
        return self._rs_deployment.get(make_key(pod.namespace, pod.owner_name))

    def restart_baseline(self, pod_uid: str) -> int | None:
        """Restart count when the store first saw this pod (None if it is not held)."""
        return self._restart_base.get(pod_uid)

    def problem_pods(
        self, *, now: float | None = None, pending_after: float = 300.0
    ) -> dict[str, str]:
        """Pods that need the on-call's eyes, key -> short reason.

        CrashLoopBackOff and other failing statuses, running-but-not-ready, restarts risen
        since the store first saw the pod, and pods Pending for longer than
        ``pending_after`` seconds. O(problems + pending), fine to call every tick.
        """
        now = self._clock() if now is None else now
        result = dict(self._problems)
        for key, since in self._pending_since.items():
            waited = now - since
            if waited >= pending_after and key not in result:
                result[key] = pending_for(waited)
        return result


def _newer_than(stamps: dict[str, int], version: int) -> frozenset[str]:
    """Keys stamped after ``version``, walking the version-ordered dict from its end."""
    keys: list[str] = []
    for key, stamp in reversed(stamps.items()):
        if stamp <= version:
            break
        keys.append(key)
    return frozenset(keys) if keys else _EMPTY
