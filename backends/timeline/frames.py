"""Replay frames: the store's slim rows at a moment (keyframe) and what changed since (delta).

Why frames next to the entries: entries say what changed in words, but a replay must show
every panel as it was (issue 17, point 5), so the recording also keeps the rows themselves.
A keyframe holds every row of every recorded kind; a delta the rows upserted and the keys
removed since the previous frame (the latest state per key, as :meth:`Store.changes_since`
compacts them). The state at time T is the newest keyframe at or before T plus the deltas
after it up to T, which bounds a seek by the keyframe interval, not by the recording's length.

Encoding: per kind, the rows as one msgspec-msgpack array (decoded back with the kind's row
type, so nothing is guessed), the whole frame msgpack and zlib-compressed (rows of one kind
repeat namespaces, nodes and images: they compress several times over).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping

import msgspec

from backends import model as m
from backends.signals import bus_schema as bus
from backends.signals.health import ENDPOINTS, EndpointRow
from backends.signals.model import ALERT_RULES, ALERTS, SIGNALS, AlertRow, RuleRow, SignalRow
from backends.store import SourceHealth, Store

__all__ = ["ROW_TYPES", "Frame", "FrameError", "apply_frame", "decode_frame", "encode_frame"]

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
    """One frame as stored: rows per kind (encoded lists), removed keys, source health."""

    at: float
    rows: dict[str, bytes] = msgspec.field(default_factory=dict)
    removed: dict[str, list[str]] = msgspec.field(default_factory=dict)
    health: dict[str, SourceHealth] = msgspec.field(default_factory=dict)


_FRAME_DECODER = msgspec.msgpack.Decoder(Frame)


class FrameError(ValueError):
    """A frame that cannot be decoded (a damaged recording)."""


def encode_frame(at: float, rows: Mapping[str, Iterable[m.Row]],
                 removed: Mapping[str, Iterable[str]] | None = None,
                 health: Mapping[str, SourceHealth] | None = None, *, level: int = 6) -> bytes:
    """The frame's stored body (only kinds of :data:`ROW_TYPES`)."""
    encoded = {kind: _ENCODER.encode(list(items)) for kind, items in rows.items()
               if kind in ROW_TYPES}
    gone = {kind: list(keys) for kind, keys in (removed or {}).items() if kind in ROW_TYPES}
    frame = Frame(at=at, rows={k: v for k, v in encoded.items() if v != b"\x90"},
                  removed={k: v for k, v in gone.items() if v}, health=dict(health or {}))
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


def apply_frame(store: Store, body: bytes, *, keyframe: bool) -> float:
    """Bring ``store`` to the frame's state: a keyframe replaces every recorded kind, a delta
    upserts and removes. Returns the frame's time."""
    frame, rows = decode_frame(body)
    if keyframe:
        for kind in ROW_TYPES:
            store.replace(kind, rows.get(kind, ()))
    else:
        for kind, items in rows.items():
            store.apply(kind, (("MODIFIED", row) for row in items))
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
