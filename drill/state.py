"""The drill cluster's object state: storage, resourceVersions, watch history and semantics.

This is the part of an apiserver plus etcd that clients can observe: every write gets the next
global resourceVersion and appends a watch event to a per-resource history window; a watch from a
version older than the window is answered with 410 Expired. Writes are synchronous (no ``await``
inside), so on the single event loop every write is atomic and every watcher sees every change
exactly once and in order.

Stored objects are treated as immutable: every write stores a new dict. That makes list
snapshots (for ``limit``/``continue`` paging) and watch events free of copies, and lets each
object's JSON encoding be cached once per version.

The simulated controllers (the drill cluster's kubelet, deployment controller, Argo CD) write
through the same methods as the HTTP handlers, so kubectl and the control room see their every
change as watch events, and validation, generation and resourceVersion rules apply to them too.

Over 500 lines because storage, resourceVersions and the watch history keep one invariant:
every write takes the next version and appends its event in the same synchronous step. Split
apart, a write could reach the objects without passing the history.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from drill import defaults, errors, managed
from drill.patch import PatchError, UnsupportedPatch, apply_patch, supports_strategic
from drill.resources import BY_KEY, ResourceType, by_kind
from drill.schema import check_depth, check_types
from drill.selectors import FieldSelector, LabelSelector
from drill.validation import validate

_encode = msgspec.json.encode
log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects


def rfc3339(t: datetime) -> str:
    """Kubernetes' timestamp form: second precision, UTC, ``Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Entry:
    """One stored object version with its JSON encoding, computed at most once."""

    __slots__ = ("_ok", "_raw", "obj")

    def __init__(self, obj: Obj) -> None:
        self.obj = obj
        self._raw: bytes | None = None
        self._ok: bool | None = None

    def readable(self, rt: ResourceType) -> bool:
        """Whether the object has the shape the write checks guarantee (JSON types, depth).

        Always true for what came through the API; false only for an object stored past the
        checks (:meth:`ClusterState.store_unchecked`). Decided once per version, and reported
        once, as a warning, when false."""
        if self._ok is None:
            try:
                check_types(rt, self.obj)
                self._ok = True
            except errors.ApiError as exc:
                self._ok = False
                meta = self.obj.get("metadata") or {}
                log.warning("the simulation skips %s %s/%s@%s: %s", rt.kind,
                            meta.get("namespace", ""), meta.get("name"),
                            meta.get("resourceVersion"), exc.message[:300])
        return self._ok

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = _encode(self.obj)
        return self._raw


@dataclass(slots=True)
class WatchEvent:
    """A change in the history of one resource: ``prev`` lets selector watches compute
    ADDED/DELETED transitions when an object starts or stops matching."""

    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    entry: Entry
    prev: Obj | None


@dataclass
class _History:
    """Per-resource watch history window (like the apiserver's watch cache)."""

    events: list[WatchEvent] = field(default_factory=list)
    rvs: list[int] = field(default_factory=list)
    #: Highest resourceVersion whose event was dropped from the window: watching from an older
    #: version would miss changes, so it must get 410 Expired.
    dropped_upto: int = 0
    changed: asyncio.Event | None = None


@dataclass
class _Snapshot:
    """A consistent list result kept for ``continue`` tokens."""

    rv: int
    entries: list[Entry]


class Expired(errors.ApiError):
    def __init__(self, rv: int, oldest: int) -> None:
        super().__init__(410, "Expired", f"too old resource version: {rv} ({oldest})")


class ClusterState:
    """All objects of the drill cluster, keyed by resource type and (namespace, name)."""

    def __init__(
        self,
        *,
        window: int = 20_000,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.window = window
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.rv = 0
        self._objs: dict[str, dict[Key, Entry]] = {key: {} for key in BY_KEY}
        self._hist: dict[str, _History] = {key: _History() for key in BY_KEY}
        self._snapshots: OrderedDict[str, _Snapshot] = OrderedDict()
        #: owner uid -> set of (resource key, namespace, name) of its dependents
        self._dependents: dict[str, set[tuple[str, str, str]]] = {}
        #: Resource keys whose objects terminate gracefully (a simulated kubelet removes them);
        #: without a kubelet, pods are removed at once.
        self.graceful: set[str] = set()
        #: Called after every committed write, for in-process observers (metrics exporter).
        self.observers: list[Callable[[ResourceType, str, Obj, Obj | None], None]] = []
        #: Who the next writes are by (manager, operation) for managedFields
        #: (:mod:`drill.managed`); None: the in-process controllers.
        self.writer: tuple[str, str] | None = None

    # ----------------------------------------------------------------------------- reading

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        entry = self._objs[rt.key].get((namespace if rt.namespaced else "", name))
        if entry is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return entry.obj

    def find(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        entry = self._objs[rt.key].get((namespace if rt.namespaced else "", name))
        return entry.obj if entry else None

    def entry(self, rt: ResourceType, namespace: str, name: str) -> Entry:
        entry = self._objs[rt.key].get((namespace if rt.namespaced else "", name))
        if entry is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return entry

    def objects(self, rt: ResourceType, namespace: str | None = None) -> list[Obj]:
        """Current objects of a type (in one namespace, or all), in storage key order."""
        return [e.obj for e in self.entries(rt, namespace)]

    def readable(self, rt: ResourceType, namespace: str | None = None) -> list[Obj]:
        """:meth:`objects` without the malformed ones: what the simulated controllers work
        on. An object whose fields have the wrong JSON types (which no write through the API
        can store) is skipped, as a controller skips what it cannot decode, rather than
        crashing the controller's whole pass for every other object."""
        return [e.obj for e in self.entries(rt, namespace) if e.readable(rt)]

    def find_readable(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        """:meth:`find`, None for a malformed object (see :meth:`readable`)."""
        entry = self._objs[rt.key].get((namespace if rt.namespaced else "", name))
        return entry.obj if entry is not None and entry.readable(rt) else None

    def entries(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> list[Entry]:
        store = self._objs[rt.key]
        keys = sorted(store) if namespace is None else sorted(
            k for k in store if k[0] == namespace)
        out = []
        for k in keys:
            e = store[k]
            if labels is not None and not labels.matches(e.obj["metadata"].get("labels")):
                continue
            if fields is not None and not fields.matches(e.obj):
                continue
            out.append(e)
        return out

    def count(self, rt: ResourceType) -> int:
        return len(self._objs[rt.key])

    # ----------------------------------------------------------------------------- paging

    def list_page(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
        limit: int,
        continue_token: str | None,
    ) -> tuple[list[Entry], int, str | None, int | None]:
        """One page of a list: (entries, resourceVersion, next continue token, remaining).

        The first page takes a snapshot of the whole filtered result; later pages are served
        from it, so a paged list is consistent at one resourceVersion like etcd's.
        """
        if continue_token:
            try:
                sid, start = continue_token.rsplit(":", 1)
                offset = int(start)
            except ValueError as exc:
                raise errors.bad_request("continue key is not valid: malformed token") from exc
            snap = self._snapshots.get(sid)
            if snap is None:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter.")
        else:
            sid = uuid.uuid4().hex
            snap = _Snapshot(self.rv, self.entries(rt, namespace, labels, fields))
            offset = 0
        page = snap.entries[offset:offset + limit] if limit > 0 else snap.entries[offset:]
        end = offset + len(page)
        if end < len(snap.entries):
            self._snapshots[sid] = snap
            self._snapshots.move_to_end(sid)
            while len(self._snapshots) > 64:
                self._snapshots.popitem(last=False)
            return page, snap.rv, f"{sid}:{end}", len(snap.entries) - end
        self._snapshots.pop(sid, None)
        return page, snap.rv, None, None

    # ----------------------------------------------------------------------------- history

    def history(self, rt: ResourceType) -> _History:
        return self._hist[rt.key]

    def events_after(self, rt: ResourceType, rv: int) -> list[WatchEvent]:
        """Events of a resource newer than ``rv``; 410 when some were dropped from the window."""
        h = self._hist[rt.key]
        if rv < h.dropped_upto:
            raise Expired(rv, h.dropped_upto)
        i = bisect.bisect_right(h.rvs, rv)
        return h.events[i:]

    def changed(self, rt: ResourceType) -> asyncio.Event:
        """An event set at the next write of this resource (a fresh one after each write)."""
        h = self._hist[rt.key]
        if h.changed is None:
            h.changed = asyncio.Event()
        return h.changed

    def compact(self) -> None:
        """Drop every retained watch event, as an etcd compaction does: any watch or continue
        token from before now gets 410 Expired."""
        for h in self._hist.values():
            if h.events:
                h.dropped_upto = max(h.dropped_upto, h.rvs[-1])
            h.dropped_upto = max(h.dropped_upto, self.rv)
            h.events.clear()
            h.rvs.clear()
        self._snapshots.clear()

    def _record(self, rt: ResourceType, typ: str, entry: Entry, prev: Obj | None) -> None:
        h = self._hist[rt.key]
        h.events.append(WatchEvent(self.rv, typ, entry, prev))
        h.rvs.append(self.rv)
        if len(h.events) > 2 * self.window:
            cut = len(h.events) - self.window
            h.dropped_upto = h.rvs[cut - 1]
            del h.events[:cut]
            del h.rvs[:cut]
        if h.changed is not None:
            h.changed.set()
            h.changed = None
        for observer in self.observers:
            observer(rt, typ, entry.obj, prev)

    # ----------------------------------------------------------------------------- writing

    def _key(self, rt: ResourceType, obj: Obj) -> Key:
        meta = obj["metadata"]
        return (meta.get("namespace", "") if rt.namespaced else "", meta["name"])

    def _commit(self, rt: ResourceType, obj: Obj, typ: str, prev: Obj | None, *,
                checked: bool = False, subresource: str = "") -> Obj:
        """Store a new version; ``checked``: it passed :func:`validate` (so it is readable
        without checking its shape again)."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        if typ != "DELETED":
            managed.stamp(obj, prev, self.writer or managed.DEFAULT_MANAGER,
                          rfc3339(self.clock()),
                          api_version=rt.api_version, subresource=subresource)
        entry = Entry(obj)
        if checked:
            entry._ok = True  # noqa: SLF001 - the state owns its entries
        self._objs[rt.key][self._key(rt, obj)] = entry
        self._index_owners(rt, obj, prev)
        self._record(rt, typ, entry, prev)
        return obj

    def _index_owners(self, rt: ResourceType, obj: Obj | None, prev: Obj | None) -> None:
        def ref_of(o: Obj) -> tuple[str, str, str]:
            return (rt.key, o["metadata"].get("namespace", ""), o["metadata"]["name"])

        if prev is not None:
            for uid in _owner_uids(prev):
                deps = self._dependents.get(uid)
                if deps:
                    deps.discard(ref_of(prev))
        if obj is not None:
            for uid in _owner_uids(obj):
                self._dependents.setdefault(uid, set()).add(ref_of(obj))

    def create(self, rt: ResourceType, obj: Obj, *, namespace: str | None = None,
               dry_run: bool = False) -> Obj:
        """Create an object: assigns uid, creationTimestamp, generation and resourceVersion."""
        check_depth(obj)  # before the (recursive) copy, which a deep value would crash
        obj = copy.deepcopy(obj)
        self._check_type(rt, obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if rt.namespaced:
            ns = meta.get("namespace") or namespace or "default"
            if namespace and meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request")
            meta["namespace"] = ns
            if self.find(BY_KEY["namespaces"], "", ns) is None:
                raise errors.not_found("namespaces", "", ns)
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
        check_types(rt, obj)  # decoded before defaulted, as in the real server
        obj = self._defaulted(rt, obj, None)
        meta = obj["metadata"]  # defaulting may have copied the object: stamp the copy
        validate(rt, obj, None)
        if self.find(rt, meta.get("namespace", ""), meta["name"]) is not None:
            raise errors.already_exists(rt.plural, rt.group, meta["name"])
        meta["uid"] = meta.get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = meta.get("creationTimestamp") or rfc3339(self.clock())
        if rt.kind in defaults.NO_GENERATION:
            meta.pop("generation", None)
        else:
            meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        meta.pop("resourceVersion", None)
        meta.pop("selfLink", None)
        if rt.plural == "namespaces":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})
        if dry_run:
            return obj
        return self._commit(rt, obj, "ADDED", None, checked=True)

    def _defaulted(self, rt: ResourceType, obj: Obj, old: Obj | None) -> Obj:
        """``obj`` with the server's defaults and allocations (:mod:`drill.defaults`)."""
        services = (e.obj for e in self._objs[BY_KEY["services"].key].values())
        return defaults.apply(rt.kind, obj, old, services)

    def _check_type(self, rt: ResourceType, obj: Any) -> None:
        if not isinstance(obj, dict):
            raise errors.bad_request(f"the body of the request must be a {rt.kind} object")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version is None and kind is None:
            obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
            return
        if api_version != rt.api_version or kind != rt.kind:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) or kind ({kind}) does not match "
                f"the expected API version ({rt.api_version}) and kind ({rt.kind})")

    def update(self, rt: ResourceType, namespace: str, name: str, obj: Obj, *,
               subresource: str = "", dry_run: bool = False) -> Obj:
        """PUT semantics: a ``metadata.resourceVersion`` in the body is a precondition."""
        check_depth(obj)
        obj = copy.deepcopy(obj) if isinstance(obj, dict) else obj
        self._check_type(rt, obj)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if meta.get("name") not in (None, name):
            raise errors.bad_request(
                "the name of the object "
                f"({meta.get('name')}) does not match the name on the URL ({name})")
        if rt.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request")
        # The whole body is decoded before the status half is dropped (a real server refuses
        # a wrong-typed status sent to the main resource too).
        check_types(rt, obj)
        return self._replace(rt, namespace, name, obj, subresource, dry_run)

    def _replace(self, rt: ResourceType, namespace: str, name: str, new: Obj,
                 subresource: str, dry_run: bool) -> Obj:
        current = self.get(rt, namespace, name)
        want_rv = new.get("metadata", {}).get("resourceVersion")
        if want_rv not in (None, "") and str(want_rv) != current["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name)
        merged = self._defaulted(rt, self._merge_server_fields(rt, current, new, subresource),
                                 current)
        validate(rt, merged, current)
        if _same(merged, current):
            return current  # a no-op write does not bump the resourceVersion, as in Kubernetes
        if dry_run:
            return merged
        meta = merged["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and \
                rt.key not in self.graceful:
            return self._remove(rt, merged)
        return self._commit(rt, merged, "MODIFIED", current, checked=True,
                            subresource=subresource)

    def _merge_server_fields(self, rt: ResourceType, current: Obj, new: Obj,
                             subresource: str) -> Obj:
        """Keep what clients cannot change: identity, timestamps, generation; and for
        resources with a status subresource, the half of the object this endpoint does not
        own (status on the main resource, everything but status on ``/status``)."""
        merged = dict(new)
        meta = dict(new.get("metadata") or {})
        cur_meta = current["metadata"]
        for k in ("name", "uid", "creationTimestamp", "generation", "deletionTimestamp",
                  "deletionGracePeriodSeconds"):
            if k in cur_meta:
                meta[k] = cur_meta[k]
            else:
                meta.pop(k, None)
        if rt.namespaced:
            meta["namespace"] = cur_meta["namespace"]
        else:
            meta.pop("namespace", None)
        meta.pop("selfLink", None)
        if "managedFields" not in meta and "managedFields" in cur_meta:
            meta["managedFields"] = cur_meta["managedFields"]  # omitted: kept, as upstream
        merged["metadata"] = meta
        merged["apiVersion"], merged["kind"] = rt.api_version, rt.kind
        if subresource == "status":
            merged = {k: v for k, v in current.items() if k != "status"}
            if "status" in new:
                merged["status"] = new["status"]
            merged["metadata"] = dict(cur_meta)
        elif rt.has_status_subresource:
            merged.pop("status", None)
            if "status" in current:
                merged["status"] = current["status"]
        if subresource != "status":
            ignore = {"metadata", "status"} if rt.has_status_subresource else {"metadata"}
            if any(merged.get(k) != current.get(k)
                   for k in (set(merged) | set(current)) - ignore - {"apiVersion", "kind"}):
                if rt.kind not in defaults.NO_GENERATION:
                    meta["generation"] = int(cur_meta.get("generation", 1)) + 1
        return merged

    def patch(self, rt: ResourceType, namespace: str, name: str, body: bytes,
              content_type: str, *, subresource: str = "", dry_run: bool = False) -> Obj:
        current = self.get(rt, namespace, name)
        if "strategic-merge-patch" in content_type and not supports_strategic(rt.kind):
            raise errors.unsupported_media(
                f"the body of the request was in an unknown format - accepted media types "
                f"include: application/json-patch+json, application/merge-patch+json, "
                f"application/apply-patch+yaml (strategic merge patch is not supported for "
                f"{rt.kind}.{rt.group or 'core'})")
        try:
            patched = apply_patch(current, body, content_type, rt.kind)
        except UnsupportedPatch as exc:
            raise errors.unsupported_media(str(exc)) from exc
        except PatchError as exc:
            if exc.reason == "Invalid":
                raise errors.ApiError(422, "Invalid", str(exc), kind=rt.plural, name=name,
                                      group=rt.group) from exc
            raise errors.bad_request(str(exc)) from exc
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch must leave an object")
        if not isinstance(patched.get("metadata"), dict):
            raise errors.bad_request("the patch must leave metadata an object")
        if patched["metadata"].get("name") != name:
            raise errors.bad_request("the patch may not change the object's name")
        check_types(rt, patched)  # the patched object is decoded whole, as for an update
        return self._replace(rt, namespace, name, patched, subresource, dry_run)

    def mutate(self, rt: ResourceType, namespace: str, name: str,
               fn: Callable[[Obj], Obj | None], *, subresource: str = "") -> Obj:
        """Read-modify-write for in-process controllers: ``fn`` gets a deep copy and returns
        the new object (or None for no change). Atomic, since nothing awaits in between."""
        current = self.get(rt, namespace, name)
        new = fn(copy.deepcopy(current))
        if new is None:
            return current
        return self._replace(rt, namespace, name, new, subresource, False)

    def delete(self, rt: ResourceType, namespace: str, name: str, *, dry_run: bool = False,
               propagation: str = "Background", grace_seconds: int | None = None,
               preconditions: dict[str, Any] | None = None) -> Obj:
        """Delete: finalizers and graceful termination first mark ``deletionTimestamp``;
        dependents (by ownerReferences) are deleted (Background/Foreground) or orphaned."""
        current = self.get(rt, namespace, name)
        pre = preconditions or {}
        meta = current["metadata"]
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise errors.conflict(rt.plural, rt.group, name,
                                  f"Precondition failed: UID in precondition: {pre['uid']}, "
                                  f"UID in object meta: {meta.get('uid')}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
            raise errors.conflict(rt.plural, rt.group, name,
                                  "Precondition failed: resourceVersion in precondition: "
                                  f"{pre['resourceVersion']}, resourceVersion in object meta: "
                                  f"{meta.get('resourceVersion')}")
        if dry_run:
            return current
        graceful = rt.key in self.graceful and grace_seconds != 0
        if meta.get("finalizers") or graceful:
            if meta.get("deletionTimestamp"):
                return current
            new = copy.deepcopy(current)
            new["metadata"]["deletionTimestamp"] = rfc3339(self.clock())
            spec = current.get("spec")
            default = spec.get("terminationGracePeriodSeconds", 30) \
                if isinstance(spec, dict) else 30
            grace = grace_seconds if grace_seconds is not None else (
                default if graceful and isinstance(default, int) else 30 if graceful else 0)
            new["metadata"]["deletionGracePeriodSeconds"] = grace
            out = self._commit(rt, new, "MODIFIED", current)
        else:
            out = self._remove(rt, current)
        uid = meta.get("uid")
        if isinstance(uid, str) and uid:
            self._cascade(uid, propagation)
        if rt.plural == "namespaces" and not rt.group:
            for other in list(self._objs):
                ort = BY_KEY[other]
                if ort.namespaced:
                    for e in self.entries(ort, name):
                        if self.find(ort, name, e.obj["metadata"]["name"]) is not None:
                            self.delete(ort, name, e.obj["metadata"]["name"], grace_seconds=0)
        return out

    def _remove(self, rt: ResourceType, obj: Obj) -> Obj:
        key = self._key(rt, obj)
        prev = self._objs[rt.key][key].obj
        del self._objs[rt.key][key]
        self.rv += 1
        gone = dict(obj)
        gone["metadata"] = dict(obj["metadata"], resourceVersion=str(self.rv))
        self._index_owners(rt, None, prev)
        self._record(rt, "DELETED", Entry(gone), prev)
        return gone

    def _cascade(self, uid: str, propagation: str) -> None:
        for rkey, ns, dname in sorted(self._dependents.pop(uid, set())):
            drt = BY_KEY[rkey]
            dep = self.find(drt, ns, dname)
            if dep is None:
                continue
            try:
                if propagation == "Orphan":
                    def drop_ref(o: Obj, uid: str = uid) -> Obj:
                        refs = [r for r in o["metadata"].get("ownerReferences", [])
                                if r.get("uid") != uid]
                        o["metadata"]["ownerReferences"] = refs
                        if not refs:
                            del o["metadata"]["ownerReferences"]
                        return o
                    self.mutate(drt, ns, dname, drop_ref)
                else:
                    self.delete(drt, ns, dname, propagation=propagation)
            except Exception as exc:  # noqa: BLE001 - the owner's delete stands regardless
                # A dependent that cannot be orphaned or deleted (malformed, stored past the
                # checks) is left behind, as the garbage collector leaves what it cannot
                # process; it never fails the owner's delete.
                log.warning("garbage collection skips %s %s/%s: %s: %s", drt.kind, ns, dname,
                            type(exc).__name__, str(exc)[:200])

    def store_unchecked(self, rt: ResourceType, obj: Obj) -> Obj:
        """Store an object as it is, past every write check (types, depth, validation).

        Only for tests of the drill's defence in depth: what a real cluster could hold only
        through a CRD without a schema, an older API version or a bug, which the controllers
        and printers must survive anyway. Needs ``metadata.name`` (the storage key)."""
        obj = dict(obj, metadata=dict(obj["metadata"]))
        if rt.namespaced:
            obj["metadata"].setdefault("namespace", "default")
        key = self._key(rt, obj)
        current = self._objs[rt.key].get(key)
        return self._commit(rt, obj, "ADDED" if current is None else "MODIFIED",
                            None if current is None else current.obj)

    # ----------------------------------------------------------------------------- helpers

    def load(self, objects: Iterable[Obj]) -> None:
        """Create seed objects (namespaces first, so namespaced objects find theirs)."""
        objs = list(objects)
        objs.sort(key=lambda o: 0 if o.get("kind") == "Namespace" else 1)
        for obj in objs:
            self.create(by_kind(obj["apiVersion"], obj["kind"]), obj)

    def dump(self) -> dict[str, Any]:
        """Everything, for debugging and tests."""
        return {key: [e.obj for e in store.values()] for key, store in self._objs.items()}


def _owner_uids(obj: Obj) -> list[str]:
    """The owners' uids of an object (none from a malformed ``ownerReferences``)."""
    refs = obj["metadata"].get("ownerReferences")
    if not isinstance(refs, list):
        return []
    return [r["uid"] for r in refs if isinstance(r, dict) and isinstance(r.get("uid"), str)]


def _same(a: Obj, b: Obj) -> bool:
    """Equal ignoring resourceVersion: decides whether a write is a no-op."""
    if a.keys() != b.keys():
        return False
    for k in a:
        if k == "metadata":
            ma = {x: y for x, y in a[k].items() if x != "resourceVersion"}
            mb = {x: y for x, y in b[k].items() if x != "resourceVersion"}
            if ma != mb:
                return False
        elif a[k] != b[k]:
            return False
    return True


def dumps(obj: Any) -> str:
    """JSON text for logs and tests."""
    return json.dumps(obj, sort_keys=True)
