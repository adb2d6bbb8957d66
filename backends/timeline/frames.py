"""Replay frames: the store's slim rows at a moment (keyframe) and what changed since (delta).

Why frames next to the entries: entries say what changed in words, but a replay must show
every panel as it was (issue 17, point 5), so the recording also keeps the rows themselves.
A keyframe holds every row of every recorded kind; a delta the rows upserted and the keys
removed since the previous frame (the latest state per key, as :meth:`Store.changes_since`
compacts them). The state at time T is the newest keyframe at or before T plus the deltas
after it up to T, which bounds a seek by the keyframe interval, not by the recording's length.

Encoding (file format 3): per kind, the rows as one msgpack array of arrays (each row its
fields in declaration order, :mod:`backends.timeline.arrays`: no field names), the whole
frame msgpack and zlib-compressed. In a delta, a row the recorder held before is stored as a
patch: only its changed fields, by their place in the row, and inside a tuple of parts (a
pod's containers) only the changed fields of the changed part; a pod flipping Ready costs a
few bytes instead of its whole row. A patched row the keyframe holds is named by its place
in the keyframe (``placed``: the places sorted, stored as gaps between them, small integers
that compress to a byte or two), not by its key: a pod's key was two thirds of a compressed
patch under the 1,000 changes/s flood. Rows new since the keyframe are named by key.

Seeking (:class:`FrameState`) works on the decoded rows: a patch is an assignment into a
row's mutable mirror; the mirrors become typed rows once per seek
(:func:`arrays.from_mirrors`, which validates every value: a damaged frame raises
:class:`FrameError`, never a half-right panel).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate
from typing import Any

import msgspec

from backends import model as m
from backends.signals import bus_schema as bus
from backends.signals.health import ENDPOINTS, EndpointRow
from backends.signals.model import ALERT_RULES, ALERTS, SIGNALS, AlertRow, RuleRow, SignalRow
from backends.store import SourceHealth, Store
from backends.timeline.arrays import (
    field_types,
    from_mirrors,
    mirror,
    to_mirrors,
    value_array,
    whole_value,
)

__all__ = [
    "ROW_TYPES",
    "Frame",
    "FrameError",
    "FrameState",
    "Order",
    "apply_frame",
    "diff_fields",
    "encode_frame",
    "keyframe_order",
    "patch_row",
]

ROW_TYPES: Mapping[str, type[m.Row]] = {
    "nodes": m.NodeRow,
    "pods": m.PodRow,
    "deployments": m.DeploymentRow,
    "replicasets": m.ReplicaSetRow,
    "events": m.EventRow,
    "applications": m.AppRow,
    "gateways": m.GatewayRow,
    "httproutes": m.RouteRow,
    "applicationloadbalancers": m.AlbRow,
    ALERTS: AlertRow,
    ALERT_RULES: RuleRow,
    SIGNALS: SignalRow,
    ENDPOINTS: EndpointRow,
    bus.PIPELINE: bus.PipelineRow,
    bus.TEAMBREAKER: bus.TeamBreakerRow,
    bus.TEAMACTIONS: bus.TeamActionRow,
    bus.TEAMBUS: bus.TeamBusRow,
}
"""Every store kind a replay shows, with its row type (a kind not listed is not recorded:
the metrics, which change every poll for every pod and say nothing about who changed what)."""

Order = Mapping[str, Sequence[str]]
"""A keyframe's keys per kind, in the order of its rows: what a delta's places refer to."""
Patch = dict[int, Any]

_ENCODER = msgspec.msgpack.Encoder()
_MIRRORS = {kind: msgspec.msgpack.Decoder(list[mirror(row_type)])  # type: ignore[misc]
            for kind, row_type in ROW_TYPES.items()}


class Frame(msgspec.Struct, frozen=True, kw_only=True):
    """One frame as stored: rows per kind (encoded arrays), patches of rows new since the
    keyframe (key, patch), patches of the keyframe's rows (gaps between their places,
    patches), removed keys, source health."""

    at: float
    rows: dict[str, bytes] = msgspec.field(default_factory=dict)
    removed: dict[str, list[str]] = msgspec.field(default_factory=dict)
    health: dict[str, SourceHealth] = msgspec.field(default_factory=dict)
    patches: dict[str, list[tuple[str, Patch]]] = msgspec.field(default_factory=dict)
    placed: dict[str, tuple[list[int], list[Patch]]] = msgspec.field(default_factory=dict)


class FrameError(ValueError):
    """A frame that cannot be decoded (a damaged recording)."""


# ---------------------------------------------------------------- patches


def _patch_value(old: object, new: object, tp: Any) -> object:
    """``["s", {...}]`` a struct's changed fields, ``["t", [...]]`` a same-length tuple of
    structs element by element (None: unchanged), ``["v", value]`` a whole value (in array
    form: structs in it as arrays)."""
    if isinstance(old, msgspec.Struct) and type(old) is type(new):
        return ["s", diff_fields(old, new)]
    if (isinstance(old, tuple) and isinstance(new, tuple) and len(old) == len(new) and old
            and all(isinstance(o, msgspec.Struct) and type(o) is type(n)
                    for o, n in zip(old, new, strict=True))):
        return ["t", [None if o == n else ["s", diff_fields(o, n)]
                      for o, n in zip(old, new, strict=True)]]
    return ["v", value_array(new, tp)]


def diff_fields(old: msgspec.Struct, new: msgspec.Struct) -> Patch:
    """The fields of ``new`` that differ from ``old`` (same type), by their place in the
    row, as patch values."""
    types = field_types(type(new))
    return {i: _patch_value(getattr(old, name), getattr(new, name), types[i])
            for i, name in enumerate(new.__struct_fields__)
            if getattr(old, name) != getattr(new, name)}


def _apply(row: Any, patch: Patch) -> None:
    """Apply a patch to a row's mirror (:mod:`backends.timeline.arrays`), in place."""
    names = row.__struct_fields__
    for index, (tag, value) in patch.items():
        name = names[index]
        if tag == "v":
            setattr(row, name, whole_value(type(row), index, value))
        elif tag == "s":
            _apply(getattr(row, name), value)
        elif tag == "t":
            parts = getattr(row, name)
            if len(parts) != len(value):
                raise ValueError(f"patch of {len(value)} parts for {len(parts)}")
            for place, part in enumerate(value):
                if part is not None:
                    if part[0] != "s":
                        raise ValueError(f"unknown part patch {part[0]!r}")
                    _apply(parts[place], part[1])
        else:
            raise ValueError(f"unknown patch tag {tag!r}")


_PATCH_ERRORS = (TypeError, ValueError, IndexError, KeyError, AttributeError,
                 msgspec.ValidationError)


def patch_row(old: m.Row, patch: Patch) -> m.Row:
    """``old`` with a patch made by :func:`diff_fields` applied."""
    (row,) = to_mirrors([old], type(old))
    _apply(row, patch)
    (new,) = from_mirrors([row], type(old))
    return new


# ---------------------------------------------------------------- encoding


def encode_frame(at: float, rows: Mapping[str, Iterable[m.Row]],
                 removed: Mapping[str, Iterable[str]] | None = None,
                 health: Mapping[str, SourceHealth] | None = None, *,
                 before: Mapping[str, Mapping[str, m.Row]] | None = None,
                 places: Mapping[str, Mapping[str, int]] | None = None,
                 level: int = 6) -> bytes:
    """The frame's stored body (only kinds of :data:`ROW_TYPES`). With ``before`` (the rows
    as of the previous frame, per kind), a row held there is stored as a patch; with
    ``places`` (each key's place in the last keyframe, per kind), a patched row the keyframe
    holds is named by its place. A keyframe's rows are stored in the order given."""
    full: dict[str, list[m.Row]] = {}
    keyed: dict[str, list[tuple[str, Patch]]] = {}
    placed: dict[str, list[tuple[int, Patch]]] = {}
    for kind, items in rows.items():
        if kind not in ROW_TYPES:
            continue
        held = (before or {}).get(kind, {})
        place = (places or {}).get(kind, {})
        for row in items:
            old = held.get(row.key)
            if old is None or type(old) is not type(row):
                full.setdefault(kind, []).append(row)
                continue
            patch = diff_fields(old, row)
            index = place.get(row.key)
            if index is None:
                keyed.setdefault(kind, []).append((row.key, patch))
            else:
                placed.setdefault(kind, []).append((index, patch))
    encoded = {kind: _encode_rows(items, ROW_TYPES[kind]) for kind, items in full.items()
               if items}
    gaps: dict[str, tuple[list[int], list[Patch]]] = {}
    for kind, at_places in placed.items():
        at_places.sort(key=lambda item: item[0])
        indexes = [index for index, _ in at_places]
        gaps[kind] = ([b - a for a, b in zip([0, *indexes], indexes, strict=False)],
                      [patch for _, patch in at_places])
    gone = {kind: list(keys) for kind, keys in (removed or {}).items() if kind in ROW_TYPES}
    frame = Frame(at=at, rows=encoded, removed={k: v for k, v in gone.items() if v},
                  health=dict(health or {}), patches=keyed, placed=gaps)
    return zlib.compress(_ENCODER.encode(frame), level)


_CHUNK = 2000


def _encode_rows(rows: Sequence[m.Row], row_type: type) -> bytes:
    """Rows as one msgpack array of arrays, converted to mirrors a chunk at a time: a
    keyframe's 30,000 pods as mirrors at once would cost tens of MB for a moment, and the
    process keeps that high-water mark."""
    if len(rows) <= _CHUNK:
        return _ENCODER.encode(to_mirrors(rows, row_type))
    parts = [_array_header(len(rows))]
    for start in range(0, len(rows), _CHUNK):
        chunk = _ENCODER.encode(to_mirrors(rows[start:start + _CHUNK], row_type))
        parts.append(chunk[len(_array_header(min(_CHUNK, len(rows) - start))):])
    return b"".join(parts)


def _array_header(count: int) -> bytes:
    """msgpack's header of an array of ``count`` items."""
    if count < 16:
        return bytes([0x90 | count])
    if count < 0x10000:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


# ---------------------------------------------------------------- decoding


_FRAME_DECODER = msgspec.msgpack.Decoder(Frame)


def _decode(body: bytes) -> tuple[Frame, dict[str, list[Any]]]:
    """The frame and its whole rows per kind, as mirrors (checked, mutable)."""
    try:
        frame = _FRAME_DECODER.decode(zlib.decompress(body))
        rows = {kind: _MIRRORS[kind].decode(raw) for kind, raw in frame.rows.items()
                if kind in _MIRRORS}
    except (zlib.error, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FrameError(f"damaged replay frame: {exc}") from exc
    return frame, rows


def keyframe_order(body: bytes) -> dict[str, list[str]]:
    """A keyframe's keys per kind, in its rows' order (what its deltas' places mean)."""
    _frame, rows = _decode(body)
    return {kind: [row.key for row in items] for kind, items in rows.items()}


def _resolved(frame: Frame, order: Order) -> Iterable[tuple[str, str, Patch]]:
    """Every patch of a delta as (kind, key, patch), places resolved through ``order``."""
    for kind, by_key in frame.patches.items():
        for key, patch in by_key:
            yield kind, key, patch
    for kind, (gaps, by_place) in frame.placed.items():
        keys = order.get(kind)
        if keys is None or len(gaps) != len(by_place):
            raise FrameError(f"damaged replay frame: patches of {kind} without their keyframe")
        try:
            for index, patch in zip(accumulate(gaps), by_place, strict=True):
                yield kind, keys[index], patch
        except IndexError as exc:
            raise FrameError(f"damaged replay frame: a {kind} patch past its keyframe") from exc


class FrameState:
    """The recorded state being rebuilt by a seek: rows as mirrors, keyed per kind.

    :meth:`keyframe` then :meth:`delta` for each delta after it, oldest first; :meth:`rows`
    types the mirrors once at the end. Not shared between threads.
    """

    def __init__(self) -> None:
        self.at = 0.0
        self.mirrors: dict[str, dict[str, Any]] = {}
        self.order: dict[str, list[str]] = {}
        self.health: dict[str, SourceHealth] = {}

    def keyframe(self, body: bytes) -> None:
        """Start from a keyframe (every row it holds, nothing else)."""
        frame, rows = _decode(body)
        self.order = {kind: [row.key for row in items] for kind, items in rows.items()}
        self.mirrors = {kind: dict(zip(self.order[kind], items, strict=True))
                        for kind, items in rows.items()}
        self.health = dict(frame.health)
        self.at = frame.at

    def delta(self, body: bytes) -> None:
        """Apply a delta of the current keyframe."""
        frame, rows = _decode(body)
        for kind, items in rows.items():
            table = self.mirrors.setdefault(kind, {})
            for row in items:
                table[row.key] = row
        for kind, key, patch in _resolved(frame, self.order):
            held = self.mirrors.get(kind, {}).get(key)
            if held is not None:
                try:
                    _apply(held, patch)
                except _PATCH_ERRORS as exc:
                    raise FrameError(f"damaged replay patch of {key}: {exc}") from exc
        for kind, keys in frame.removed.items():
            gone = self.mirrors.get(kind)
            if gone is not None:
                for key in keys:
                    gone.pop(key, None)
        self.health.update(frame.health)
        self.at = frame.at

    def rows(self) -> dict[str, dict[str, m.Row]]:
        """The state's rows, typed and validated (kind -> key -> row)."""
        return {kind: {row.key: row for row in _typed(list(table.values()), kind)}
                for kind, table in self.mirrors.items()}


def apply_frame(store: Store, body: bytes, *, keyframe: bool, order: Order | None = None
                ) -> float:
    """Bring ``store`` to the frame's state (playing forwards): a keyframe replaces every
    recorded kind, a delta upserts, patches and removes (``order``: its keyframe's, from
    :func:`keyframe_order`). Returns the frame's time."""
    if keyframe:
        state = FrameState()
        state.keyframe(body)
        typed = state.rows()
        for kind in ROW_TYPES:
            store.replace(kind, typed.get(kind, {}).values())
        frame_health = state.health
        at = state.at
    else:
        frame, rows = _decode(body)
        for kind, items in rows.items():
            store.apply(kind, (("MODIFIED", row) for row in _typed(items, kind)))
        touched: dict[str, dict[str, Any]] = {}
        for kind, key, patch in _resolved(frame, order or {}):
            table = touched.setdefault(kind, {})
            held = table.get(key)
            if held is None:
                row = store.held(kind).get(key)
                if row is None:
                    continue
                (held,) = to_mirrors([row], ROW_TYPES[kind])
                table[key] = held
            try:
                _apply(held, patch)
            except _PATCH_ERRORS as exc:
                raise FrameError(f"damaged replay patch of {key}: {exc}") from exc
        for kind, table in touched.items():
            store.apply(kind, (("MODIFIED", row) for row in _typed(list(table.values()), kind)))
        for kind, keys in frame.removed.items():
            if kind in ROW_TYPES:
                store.apply(kind, (("DELETED", _Key(key=key)) for key in keys))
        frame_health = frame.health
        at = frame.at
    for source, health in frame_health.items():
        store.set_health(source, health.state, health.error, now=health.since)
    return at


def _typed(mirrors: list[Any], kind: str) -> list[m.Row]:
    try:
        return from_mirrors(mirrors, ROW_TYPES[kind])
    except (msgspec.ValidationError, TypeError) as exc:
        raise FrameError(f"damaged replay frame: {kind}: {exc}") from exc


class _Key(m.Row, frozen=True):
    """A row that is only a key: what a DELETED needs."""
