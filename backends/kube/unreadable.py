"""The objects of one watch source that could not be decoded, now (issue 13, point 11).

Nothing vanishes silently: a source that cannot decode an object keeps showing the others
and says which objects are missing, with why. :class:`Unreadable` is that set, kept from
each list and each watch event; :func:`event_failure` reads what a watch event whose object
does not decode still tells (its type and name), so the source can record it instead of
re-listing the whole kind every time one bad object changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import msgspec

from backends.kube.decode import DecodeError, DecodeFailure
from backends.model import CLUSTER_SCOPED_KINDS, make_key
from backends.sanitize import clean

__all__ = ["UNDECODABLE_NAMED", "BadEvent", "Unreadable", "event_failure"]

UNDECODABLE_NAMED = 100
"""Undecodable objects a source remembers with their reason; beyond, only their keys (a
cluster full of bad objects must cost a set of keys, not 500 characters each)."""


class Unreadable:
    """The objects of one source that could not be decoded, now, by row key.

    Keys, so that a later version that decodes (a MODIFIED) or the object's deletion takes
    it out again. Items whose metadata could not be read either have no key: they are held
    under a placeholder that no event matches, until the next list replaces the set.
    """

    __slots__ = ("_by_key", "_named", "_namespaced")

    def __init__(self, kind: str) -> None:
        self._namespaced = kind not in CLUSTER_SCOPED_KINDS
        self._by_key: dict[str, DecodeFailure | None] = {}
        self._named = 0

    def __len__(self) -> int:
        return len(self._by_key)

    def key_of(self, failure: DecodeFailure) -> str:
        if not failure.name:
            return f"\0item {failure.index}"  # never a row key: no event can match it
        return make_key(failure.namespace, failure.name, namespaced=self._namespaced)

    def replace(self, failures: Iterable[DecodeFailure]) -> bool:
        """A list's failures are the whole truth; True when the set changed."""
        before = dict(self._by_key)
        self._by_key.clear()
        self._named = 0
        for position, failure in enumerate(failures):
            key = self.key_of(failure)
            if key in self._by_key:  # two nameless items, in different pages
                key = f"{key} #{position}"
            self.add(key, failure)
        return before != self._by_key

    def add(self, key: str, failure: DecodeFailure) -> bool:
        if key in self._by_key:
            old = self._by_key[key]
            if old is None:
                return False  # counted already, beyond the named limit
            self._by_key[key] = failure  # the newest reason
            return old != failure
        keep = self._named < UNDECODABLE_NAMED
        self._named += keep
        self._by_key[key] = failure if keep else None
        return True

    def discard(self, key: str) -> bool:
        if key not in self._by_key:
            return False
        self._named -= self._by_key.pop(key) is not None
        return True

    def clear(self) -> bool:
        changed = bool(self._by_key)
        self._by_key.clear()
        self._named = 0
        return changed

    def lines(self) -> Iterable[str]:
        """The named ones as :meth:`DecodeFailure.line`, in the order they were found."""
        return (f.line() for f in self._by_key.values() if f is not None)


class _PeekMeta(msgspec.Struct, rename="camel"):
    name: str = ""
    namespace: str = ""
    resource_version: str = ""


class _PeekObject(msgspec.Struct):
    metadata: _PeekMeta = msgspec.field(default_factory=_PeekMeta)


class _PeekEvent(msgspec.Struct):
    type: str = ""
    object: _PeekObject = msgspec.field(default_factory=_PeekObject)


_PEEK_EVENT = msgspec.json.Decoder(_PeekEvent)
"""Only the type and the object's name: what a watch event that does not decode still says."""


class BadEvent(NamedTuple):
    """A watch event whose object did not decode, named from its metadata."""

    type: str
    """``ADDED``, ``MODIFIED`` or ``DELETED``."""
    failure: DecodeFailure
    key: str
    """The object's row key as the store holds it (raw, not sanitized)."""
    resource_version: str


def event_failure(kind: str, line: bytes, exc: DecodeError) -> BadEvent | None:
    """Name the object of a watch event that did not decode (``exc``), or None when not even
    its type and name can be read (then only a re-list can tell what changed)."""
    try:
        peek = _PEEK_EVENT.decode(line)
    except (msgspec.DecodeError, RecursionError):
        return None
    meta = peek.object.metadata
    if peek.type not in ("ADDED", "MODIFIED", "DELETED") or not meta.name:
        return None
    why = str(exc).removeprefix(f"{kind} {peek.type} event: ")
    failure = DecodeFailure(kind=kind, namespace=clean(meta.namespace, 253),
                            name=clean(meta.name, 253), why=clean(why, 500))
    key = make_key(meta.namespace, meta.name, namespaced=kind not in CLUSTER_SCOPED_KINDS)
    return BadEvent(peek.type, failure, key, meta.resource_version)
