"""Decode Kubernetes list and watch bodies from raw bytes straight into rows.

Why raw bytes and msgspec: for 30,000 pods the generated client models took 36 s and 3.1 GB,
``kubectl -o json`` 27 s and 3.9 GB; msgspec into slim structs takes well under a second of
CPU for the same bytes (see ``bench/bench_decode.py``). Each kind has ONE reused
``msgspec.json.Decoder`` for its list type and one for its item type, built at import.

Errors, and the choice made about them:

- Bytes that are not JSON, or a list whose envelope is wrong (``items`` not an array), raise
  :class:`DecodeError` naming the kind and msgspec's message with its JSON path.
- A wrong type inside ONE item (``$.items[3].status.phase`` is a number) must not blank the
  whole panel: the fast path decodes the list in one go, and only if that fails the slow path
  decodes item by item, keeps every good row, and reports each bad item in
  ``DecodedList.errors`` with its path. The keys of the bad items (when their metadata still
  decodes) are in ``DecodedList.failed_keys``, so a re-list can keep the previous rows for
  them (``Store.replace(kind, rows, keep=failed_keys)``) instead of reporting them deleted.
  If every item fails, that is a schema mismatch, not a bad item: :class:`DecodeError`.
- A watch event whose object does not decode raises :class:`DecodeError`; the source should
  report it and re-list, since skipping a MODIFIED would leave a stale row.

Timestamps are decoded by msgspec's C RFC3339 parser (``Z``, offsets such as ``+02:00``,
fractional seconds to nanoseconds, rounded to microseconds) and turned into epoch floats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar

import msgspec

from backends.kube import convert as cv
from backends.kube import convert_crds as crd
from backends.kube import schema as s
from backends.kube.schema import StatusIn
from backends.model import CLUSTER_SCOPED_KINDS, KINDS, Row, make_key

__all__ = [
    "EVENT_TYPES",
    "KINDS",
    "DecodeError",
    "DecodedList",
    "EventType",
    "StatusIn",
    "WatchEvent",
    "decode_event",
    "decode_list",
    "decode_object",
    "parse_time",
]

EventType: TypeAlias = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]
EVENT_TYPES: frozenset[str] = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"})
_ROW_EVENTS: dict[str, EventType] = {"ADDED": "ADDED", "MODIFIED": "MODIFIED", "DELETED": "DELETED"}


class DecodeError(ValueError):
    """Input that cannot be decoded; the message names the kind and the JSON path."""


class DecodedList(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a list response."""

    rows: list[Row]
    resource_version: str
    continue_token: str | None = None
    """Pass as ``continue=`` to fetch the next page; None on the last page."""
    errors: tuple[str, ...] = ()
    """One message per item that could not be decoded (the rest of the page is in rows)."""
    failed_keys: tuple[str, ...] = ()
    """Row keys of those items, where their metadata could still be read."""


class WatchEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One decoded watch event.

    ``row`` is set for ADDED/MODIFIED/DELETED (DELETED carries the last state), None for
    BOOKMARK and ERROR. ``status`` is set for ERROR only: code 410 means re-list.
    """

    type: EventType
    row: Row | None
    resource_version: str
    status: StatusIn | None = None


class _HasMeta(Protocol):
    @property
    def metadata(self) -> s.MetaIn: ...


T = TypeVar("T", bound=_HasMeta)


class _Codec(Generic[T]):
    """The decoders and the converter for one kind, built once."""

    __slots__ = ("convert", "item_decoder", "kind", "list_decoder", "namespaced")

    def __init__(
        self,
        kind: str,
        item_type: type[T],
        list_type: type[s.KList[T]],
        convert: Callable[[T], Row],
    ) -> None:
        self.kind = kind
        self.namespaced = kind not in CLUSTER_SCOPED_KINDS
        self.item_decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(item_type)
        self.list_decoder: msgspec.json.Decoder[s.KList[T]] = msgspec.json.Decoder(list_type)
        self.convert = convert

    def key_of(self, item: T) -> str:
        meta = item.metadata
        return make_key(meta.namespace, meta.name, namespaced=self.namespaced)


_CODECS: dict[str, _Codec[Any]] = {
    "nodes": _Codec("nodes", s.NodeIn, s.KList[s.NodeIn], cv.node_row),
    "pods": _Codec("pods", s.PodIn, s.KList[s.PodIn], cv.pod_row),
    "deployments": _Codec("deployments", s.WorkloadIn, s.KList[s.WorkloadIn], cv.deployment_row),
    "replicasets": _Codec("replicasets", s.WorkloadIn, s.KList[s.WorkloadIn], cv.replicaset_row),
    "events": _Codec("events", s.EventIn, s.KList[s.EventIn], cv.event_row),
    "applications": _Codec("applications", s.AppIn, s.KList[s.AppIn], crd.app_row),
    "gateways": _Codec("gateways", s.GatewayIn, s.KList[s.GatewayIn], crd.gateway_row),
    "httproutes": _Codec("httproutes", s.RouteIn, s.KList[s.RouteIn], crd.route_row),
    "applicationloadbalancers": _Codec(
        "applicationloadbalancers", s.AlbIn, s.KList[s.AlbIn], crd.alb_row
    ),
    "nodemetrics": _Codec(
        "nodemetrics", s.NodeMetricsIn, s.KList[s.NodeMetricsIn], cv.node_metrics_row
    ),
    "podmetrics": _Codec("podmetrics", s.PodMetricsIn, s.KList[s.PodMetricsIn], cv.pod_metrics_row),
}
assert set(_CODECS) == set(KINDS), "every kind in backends.model.KINDS needs a codec"

_RAW_LIST_DECODER = msgspec.json.Decoder(s.KList[msgspec.Raw])
_META_ONLY_DECODER = msgspec.json.Decoder(s.MetaOnlyIn)
_EVENT_DECODER = msgspec.json.Decoder(s.WatchEventIn)
_STATUS_DECODER = msgspec.json.Decoder(StatusIn)


def _codec(kind: str) -> _Codec[Any]:
    try:
        return _CODECS[kind]
    except KeyError:
        raise DecodeError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}") from None


def _at_item(message: str, index: int) -> str:
    """Make an item-relative msgspec path (``$.status``) absolute (``$.items[3].status``)."""
    return message.replace("`$", f"`$.items[{index}]", 1)


def _convert_all(
    codec: _Codec[T], items: Iterable[tuple[int, T]]
) -> tuple[list[Row], list[str], list[str]]:
    """Convert (index, item) pairs; an item that fails costs only itself."""
    rows: list[Row] = []
    errors: list[str] = []
    failed: list[str] = []
    convert = codec.convert
    for index, item in items:
        try:
            rows.append(convert(item))
        except ValueError as exc:  # includes msgspec.ValidationError from nested decodes
            key = codec.key_of(item)
            errors.append(f"{codec.kind}: item {index} ({key}): {exc}")
            failed.append(key)
    return rows, errors, failed


def _decode_one_by_one(codec: _Codec[Any], raw: bytes) -> DecodedList:
    """Slow path after the fast path failed: keep the good items, report the bad ones."""
    try:
        envelope = _RAW_LIST_DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"{codec.kind}: not a list response: {exc}") from None
    items: list[tuple[int, Any]] = []
    errors: list[str] = []
    failed: list[str] = []
    raw_items = envelope.items or []
    for index, raw_item in enumerate(raw_items):
        try:
            items.append((index, codec.item_decoder.decode(raw_item)))
        except msgspec.DecodeError as exc:
            errors.append(f"{codec.kind}: item {index}: {_at_item(str(exc), index)}")
            try:
                meta = _META_ONLY_DECODER.decode(raw_item).metadata
                failed.append(make_key(meta.namespace, meta.name, namespaced=codec.namespaced))
            except msgspec.DecodeError:
                pass
    rows, convert_errors, convert_failed = _convert_all(codec, items)
    errors.extend(convert_errors)
    failed.extend(convert_failed)
    if raw_items and not rows:
        raise DecodeError(f"{codec.kind}: no item could be decoded; first error: {errors[0]}")
    list_meta = envelope.metadata
    return DecodedList(
        rows=rows,
        resource_version=list_meta.resource_version,
        continue_token=list_meta.continue_ or None,
        errors=tuple(errors),
        failed_keys=tuple(failed),
    )


def decode_list(kind: str, raw: bytes) -> DecodedList:
    """Decode one page of a ``GET .../<kind>`` list response into rows.

    ``resource_version`` is the list's version to start the watch from; ``continue_token``
    is the token for the next page (None when this was the last one).
    """
    codec = _codec(kind)
    try:
        doc = codec.list_decoder.decode(raw)
    except msgspec.ValidationError:
        return _decode_one_by_one(codec, raw)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"{kind}: malformed JSON: {exc}") from None
    rows, errors, failed = _convert_all(codec, enumerate(doc.items or ()))
    if doc.items and not rows:
        raise DecodeError(f"{kind}: no item could be converted; first error: {errors[0]}")
    return DecodedList(
        rows=rows,
        resource_version=doc.metadata.resource_version,
        continue_token=doc.metadata.continue_ or None,
        errors=tuple(errors),
        failed_keys=tuple(failed),
    )


def decode_object(kind: str, raw: bytes) -> Row:
    """Decode a single object (a GET or the response to a write, for read-back checks)."""
    codec = _codec(kind)
    try:
        item = codec.item_decoder.decode(raw)
        return codec.convert(item)
    except ValueError as exc:
        raise DecodeError(f"{kind}: {exc}") from None


def decode_event(kind: str, raw_line: bytes) -> WatchEvent:
    """Decode one line of a watch stream (``{"type": ..., "object": ...}``)."""
    codec = _codec(kind)
    try:
        event = _EVENT_DECODER.decode(raw_line)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"{kind} watch event: {exc}") from None
    etype = event.type
    try:
        if etype == "ERROR":
            status = _STATUS_DECODER.decode(event.object)
            return WatchEvent(type="ERROR", row=None, resource_version="", status=status)
        if etype == "BOOKMARK":
            meta = _META_ONLY_DECODER.decode(event.object).metadata
            return WatchEvent(type="BOOKMARK", row=None, resource_version=meta.resource_version)
        row_event = _ROW_EVENTS.get(etype)
        if row_event is not None:
            item = codec.item_decoder.decode(event.object)
            return WatchEvent(
                type=row_event,
                row=codec.convert(item),
                resource_version=item.metadata.resource_version,
            )
    except ValueError as exc:
        raise DecodeError(f"{kind} {etype} event: {_object_path(str(exc))}") from None
    raise DecodeError(f"{kind} watch event: unknown type {etype!r}")


def _object_path(message: str) -> str:
    return message.replace("`$", "`$.object", 1)


def parse_time(text: str) -> float:
    """Epoch seconds of an RFC3339 timestamp (``2026-11-26T15:00:00Z``, ``...+02:00``).

    For callers outside the decoders (Prometheus ``activeAt``, journal entries). Raises
    ``ValueError`` on anything else.
    """
    try:
        value = msgspec.convert(text, datetime)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid RFC3339 timestamp {text!r}: {exc}") from None
    result = cv.epoch(value)
    assert result is not None
    return result
