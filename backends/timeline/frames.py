"""Replay frames: the store's slim rows at a moment (keyframe) and what changed since (delta).

Why frames next to the entries: entries say what changed in words, but a replay must show
every panel as it was (issue 17, point 5), so the recording also keeps the rows themselves.
A keyframe holds every row of every recorded kind; a delta the rows upserted and the keys
removed since the previous frame (the latest state per key, as :meth:`Store.changes_since`
compacts them). The state at time T is the newest keyframe at or before T plus the deltas
after it up to T, which bounds a seek by the keyframe interval, not by the recording's length.

Encoding: per kind, the rows as one msgspec-msgpack array (decoded back with the kind's row
type, so nothing is guessed), the whole frame msgpack and zlib-compressed (rows of one kind
repeat namespaces, nodes and images: they compress several times over). In a delta, a row
the recorder held before is stored as a patch: only its changed fields, and inside a tuple
of parts (a pod's containers) only the changed fields of the changed part; a pod flipping
Ready costs tens of bytes instead of its whole row. A patch is applied to the row held at
that point of the replay (:func:`patch_row`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from backends import model as m
from backends.signals import bus_schema as bus
from backends.signals.health import ENDPOINTS, EndpointRow
from backends.signals.model import ALERT_RULES, ALERTS, SIGNALS, AlertRow, RuleRow, SignalRow
from backends.store import SourceHealth, Store

__all__ = [
    "ROW_TYPES",
    "Frame",
    "FrameError",
    "apply_frame",
    "apply_to_tables",
    "decode_frame",
    "diff_fields",
    "encode_frame",
    "patch_row",
    "settle",
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

_ENCODER = msgspec.msgpack.Encoder()
_DECODERS = {kind: msgspec.msgpack.Decoder(list[row_type])  # type: ignore[valid-type]
             for kind, row_type in ROW_TYPES.items()}


class Frame(msgspec.Struct, frozen=True, kw_only=True):
    """One frame as stored: rows per kind (encoded lists), patches per kind (key, changed
    fields), removed keys, source health."""

    at: float
    rows: dict[str, bytes] = msgspec.field(default_factory=dict)
    removed: dict[str, list[str]] = msgspec.field(default_factory=dict)
    health: dict[str, SourceHealth] = msgspec.field(default_factory=dict)
    patches: dict[str, list[tuple[str, dict[str, Any]]]] = msgspec.field(default_factory=dict)


# ---------------------------------------------------------------- patches


def _patch_value(old: object, new: object) -> object:
    """``["s", {...}]`` a struct's changed fields, ``["t", [...]]`` a same-length tuple of
    structs element by element (None: unchanged), ``["v", value]`` a whole value."""
    if isinstance(old, msgspec.Struct) and type(old) is type(new):
        return ["s", diff_fields(old, new)]
    if (isinstance(old, tuple) and isinstance(new, tuple) and len(old) == len(new) and old
            and all(isinstance(o, msgspec.Struct) and type(o) is type(n)
                    for o, n in zip(old, new, strict=True))):
        return ["t", [None if o == n else _patch_value(o, n)
                      for o, n in zip(old, new, strict=True)]]
    return ["v", new]


def diff_fields(old: msgspec.Struct, new: msgspec.Struct) -> dict[str, Any]:
    """The fields of ``new`` that differ from ``old`` (same type), as patch values."""
    return {name: _patch_value(getattr(old, name), getattr(new, name))
            for name in new.__struct_fields__ if getattr(old, name) != getattr(new, name)}


def _apply_value(current: Any, patch: Any) -> Any:
    tag, value = patch
    if tag == "s":
        return _apply_fields(current, value)
    if tag == "t":
        return [c if p is None else _apply_value(c, p) for c, p in zip(current, value,
                                                                         strict=True)]
    return value


def _apply_fields(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for name, value in patch.items():
        merged[name] = _apply_value(merged.get(name), value)
    return merged


def _apply_in_place(current: dict[str, Any], patch: dict[str, Any]) -> None:
    """:func:`_apply_fields` on a dict the caller owns (a seek's pending rows): no copies."""
    for name, (tag, value) in patch.items():
        if tag == "s" and isinstance(current.get(name), dict):
            _apply_in_place(current[name], value)
        elif tag == "t" and isinstance(current.get(name), list):
            items = current[name]
            for index, part in enumerate(value):
                if part is None:
                    continue
                if part[0] == "s" and isinstance(items[index], dict):
                    _apply_in_place(items[index], part[1])
                else:
                    items[index] = _apply_value(items[index], part)
        else:
            current[name] = _apply_value(current.get(name), [tag, value])


def patch_row(old: m.Row, patch: dict[str, Any]) -> m.Row:
    """``old`` with a patch made by :func:`diff_fields` applied (typed again by msgspec)."""
    merged = _apply_fields(msgspec.to_builtins(old), patch)
    return msgspec.convert(merged, type(old))


_FRAME_DECODER = msgspec.msgpack.Decoder(Frame)


class FrameError(ValueError):
    """A frame that cannot be decoded (a damaged recording)."""


def encode_frame(at: float, rows: Mapping[str, Iterable[m.Row]],
                 removed: Mapping[str, Iterable[str]] | None = None,
                 health: Mapping[str, SourceHealth] | None = None, *,
                 before: Mapping[str, Mapping[str, m.Row]] | None = None,
                 level: int = 6) -> bytes:
    """The frame's stored body (only kinds of :data:`ROW_TYPES`). With ``before`` (the rows
    as of the previous frame, per kind), a row held there is stored as a patch."""
    full: dict[str, list[m.Row]] = {}
    patches: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for kind, items in rows.items():
        if kind not in ROW_TYPES:
            continue
        held = (before or {}).get(kind, {})
        for row in items:
            old = held.get(row.key)
            if old is not None and type(old) is type(row):
                patches.setdefault(kind, []).append((row.key, diff_fields(old, row)))
            else:
                full.setdefault(kind, []).append(row)
    encoded = {kind: _ENCODER.encode(items) for kind, items in full.items() if items}
    gone = {kind: list(keys) for kind, keys in (removed or {}).items() if kind in ROW_TYPES}
    frame = Frame(at=at, rows=encoded, removed={k: v for k, v in gone.items() if v},
                  health=dict(health or {}), patches=patches)
    return zlib.compress(_ENCODER.encode(frame), level)


def decode_frame(body: bytes) -> tuple[Frame, dict[str, list[m.Row]]]:
    """The frame and its rows per kind, typed; raises :class:`FrameError` when damaged."""
    try:
        frame = _FRAME_DECODER.decode(zlib.decompress(body))
        rows = {kind: _DECODERS[kind].decode(raw) for kind, raw in frame.rows.items()
                if kind in _DECODERS}
    except (zlib.error, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FrameError(f"damaged replay frame: {exc}") from exc
    return frame, rows


def apply_to_tables(tables: dict[str, dict[str, m.Row]], health: dict[str, SourceHealth],
                    body: bytes, *, keyframe: bool,
                    pending: dict[str, dict[str, dict[str, Any]]] | None = None) -> float:
    """Bring plain tables (kind -> key -> row) and health to the frame's state: what a seek
    rebuilds in, without the store's per-row index work. Returns the frame's time.

    With ``pending``, patched rows are kept there as plain dicts (kind -> key -> fields)
    and patched again by later frames; :func:`settle` types them once at the end: a pod
    patched in a hundred frames is converted once, not a hundred times."""
    frame, rows = decode_frame(body)
    if keyframe:
        tables.clear()
        health.clear()
        if pending is not None:
            pending.clear()
    for kind, items in rows.items():
        table = tables.setdefault(kind, {})
        waiting = pending.get(kind) if pending is not None else None
        for row in items:
            table[row.key] = row
            if waiting:
                waiting.pop(row.key, None)
    for kind, patches in frame.patches.items():
        table = tables.setdefault(kind, {})
        if pending is None:
            for key, patch in patches:
                old = table.get(key)
                if old is not None:
                    table[key] = _patched(old, patch)
            continue
        waiting = pending.setdefault(kind, {})
        for key, patch in patches:
            current = waiting.get(key)
            if current is None:
                old = table.get(key)
                if old is None:
                    continue
                current = waiting[key] = msgspec.to_builtins(old)
            _apply_in_place(current, patch)
    for kind, keys in frame.removed.items():
        gone = tables.get(kind)
        waiting = pending.get(kind) if pending is not None else None
        for key in keys:
            if gone is not None:
                gone.pop(key, None)
            if waiting:
                waiting.pop(key, None)
    health.update(frame.health)
    return frame.at


def settle(tables: dict[str, dict[str, m.Row]],
           pending: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Type the rows :func:`apply_to_tables` left as dicts in ``pending``, into ``tables``."""
    for kind, waiting in pending.items():
        row_type = ROW_TYPES.get(kind)
        table = tables.setdefault(kind, {})
        if row_type is None:
            continue
        for key, fields in waiting.items():
            try:
                table[key] = msgspec.convert(fields, row_type)
            except (msgspec.ValidationError, TypeError, ValueError) as exc:
                raise FrameError(f"damaged replay patch of {key}: {exc}") from exc
    pending.clear()


def _patched(old: m.Row, patch: dict[str, Any]) -> m.Row:
    try:
        return patch_row(old, patch)
    except (msgspec.ValidationError, TypeError, ValueError) as exc:
        raise FrameError(f"damaged replay patch of {old.key}: {exc}") from exc


def apply_frame(store: Store, body: bytes, *, keyframe: bool) -> float:
    """Bring ``store`` to the frame's state: a keyframe replaces every recorded kind, a delta
    upserts, patches and removes. Returns the frame's time."""
    frame, rows = decode_frame(body)
    if keyframe:
        for kind in ROW_TYPES:
            store.replace(kind, rows.get(kind, ()))
    else:
        for kind, items in rows.items():
            store.apply(kind, (("MODIFIED", row) for row in items))
        for kind, patches in frame.patches.items():
            held = store.held(kind)
            patched = [_patched(held[key], patch) for key, patch in patches if key in held]
            store.apply(kind, (("MODIFIED", row) for row in patched))
        for kind, keys in frame.removed.items():
            row_type = ROW_TYPES.get(kind)
            if row_type is None:
                continue
            store.apply(kind, (("DELETED", _Key(key=key)) for key in keys))
    for source, health in frame.health.items():
        store.set_health(source, health.state, health.error, now=health.since)
    return frame.at


class _Key(m.Row, frozen=True):
    """A row that is only a key: what a DELETED needs."""
