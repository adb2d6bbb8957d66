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
- Nothing vanishes silently (issue 13): every item that fails is also a
  :class:`DecodeFailure` in ``DecodedList.failures``: the store kind, the object's namespace
  and name (empty when even its metadata is unreadable), and why, in one line. That is the
  shape a source hands on (per source, replaced at each list) for the header and the panels
  to name, and what makes a validation of the kind "cannot check".
- Depth is bounded: msgspec decodes recursively and raises ``RecursionError`` on an object
  nested ~1,000 levels deep, which used to fail the whole list (and escape as a traceback).
  Now a ``RecursionError`` anywhere sends the list down the per-item path; when even the
  envelope cannot be split by msgspec, a small iterative scanner (:func:`_split_list`) finds
  the items, and an item nested more than :data:`MAX_DEPTH` levels is a failure of its own,
  named from its metadata, while the others of its list decode as usual.

Timestamps are decoded by msgspec's C RFC3339 parser (``Z``, offsets such as ``+02:00``,
fractional seconds to nanoseconds, rounded to microseconds) and turned into epoch floats.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar

import msgspec

from backends.kube import convert as cv
from backends.kube import convert_crds as crd
from backends.kube import schema as s
from backends.kube.schema import StatusIn
from backends.model import CLUSTER_SCOPED_KINDS, KINDS, Row, make_key
from backends.sanitize import clean

__all__ = [
    "EVENT_TYPES",
    "KINDS",
    "MAX_DEPTH",
    "DecodeError",
    "DecodeFailure",
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


MAX_DEPTH = 100
"""Items nested deeper than this are not decoded when the list had to be split by hand
(real objects, Helm values included, stay far below; Python's own limit is ~1,000)."""


class DecodeError(ValueError):
    """Input that cannot be decoded; the message names the kind and the JSON path."""


class DecodeFailure(msgspec.Struct, frozen=True, kw_only=True):
    """One object of a list that could not be made into a row, named for a person.

    ``kind`` is the store kind (``nodes``, ``applications``); ``namespace`` is empty for
    cluster-scoped kinds, ``name`` empty when not even the metadata could be read (then
    ``index``, the item's position in its page, is the only handle); ``why`` is one line
    (msgspec's message with its JSON path, or the converter's reason). Strings are
    sanitized: they may go straight to the header.
    """

    kind: str
    namespace: str = ""
    name: str = ""
    why: str
    index: int = -1

    def line(self) -> str:
        """``nodes bad-node: Expected `array | null`, got `str` - at `$.status...```."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where or f'item {self.index}'}: {self.why}"


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
    failures: tuple[DecodeFailure, ...] = ()
    """The same items, named (kind, namespace, name, why): see :class:`DecodeFailure`."""


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
_META_DECODER = msgspec.json.Decoder(s.MetaIn)
_LIST_META_DECODER = msgspec.json.Decoder(s.ListMetaIn)
_TOO_DEEP = "nested too deeply to decode"
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


def _failure(codec: _Codec[Any], meta: s.MetaIn | None, why: str, index: int) -> DecodeFailure:
    return DecodeFailure(kind=codec.kind,
                         namespace=clean(meta.namespace, 253) if meta is not None else "",
                         name=clean(meta.name, 253) if meta is not None else "",
                         why=clean(why, 500), index=index)


class _Outcome:
    """What a per-item decode gathered: rows, error lines, keys and named failures."""

    __slots__ = ("errors", "failed", "failures", "rows")

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.failures: list[DecodeFailure] = []

    def fail(self, codec: _Codec[Any], index: int, meta: s.MetaIn | None, why: str,
             error: str) -> None:
        self.errors.append(error)
        self.failures.append(_failure(codec, meta, why, index))
        if meta is not None:
            self.failed.append(make_key(meta.namespace, meta.name, namespaced=codec.namespaced))

    def page(self, codec: _Codec[Any], meta: s.ListMetaIn, total: int) -> DecodedList:
        if total and not self.rows:
            raise DecodeError(f"{codec.kind}: no item could be decoded; first error: "
                              f"{self.errors[0]}")
        return DecodedList(rows=self.rows, resource_version=meta.resource_version,
                           continue_token=meta.continue_ or None, errors=tuple(self.errors),
                           failed_keys=tuple(self.failed), failures=tuple(self.failures))


def _convert_all(codec: _Codec[T], items: Iterable[tuple[int, T]], out: _Outcome) -> None:
    """Convert (index, item) pairs; an item that fails costs only itself."""
    convert = codec.convert
    for index, item in items:
        try:
            out.rows.append(convert(item))
        except ValueError as exc:  # includes msgspec.ValidationError from nested decodes
            key = codec.key_of(item)
            out.fail(codec, index, item.metadata, str(exc),
                     f"{codec.kind}: item {index} ({key}): {exc}")


def _item_label(codec: _Codec[Any], index: int, meta: s.MetaIn | None) -> str:
    """``nodes: item 5 (broken-node)``: the position and, when readable, the object's key,
    so the one line a header shows names the object (issue 13)."""
    if meta is None or not meta.name:
        return f"{codec.kind}: item {index}"
    key = make_key(meta.namespace, meta.name, namespaced=codec.namespaced)
    return f"{codec.kind}: item {index} ({clean(key, 300)})"


def _meta_of(raw_item: bytes) -> s.MetaIn | None:
    try:
        return _META_ONLY_DECODER.decode(raw_item).metadata
    except (msgspec.DecodeError, RecursionError):
        return None


def _decode_one_by_one(codec: _Codec[Any], raw: bytes) -> DecodedList:
    """Slow path after the fast path failed: keep the good items, report the bad ones."""
    try:
        envelope = _RAW_LIST_DECODER.decode(raw)
    except RecursionError:
        return _decode_split(codec, raw)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"{codec.kind}: not a list response: {exc}") from None
    out = _Outcome()
    decoded: list[tuple[int, Any]] = []
    raw_items = envelope.items or []
    for index, raw_item in enumerate(raw_items):
        try:
            decoded.append((index, codec.item_decoder.decode(raw_item)))
        except msgspec.DecodeError as exc:
            meta = _meta_of(raw_item)
            out.fail(codec, index, meta, str(exc),
                     f"{_item_label(codec, index, meta)}: {_at_item(str(exc), index)}")
        except RecursionError:
            meta = _meta_of(raw_item)
            out.fail(codec, index, meta, _TOO_DEEP,
                     f"{_item_label(codec, index, meta)}: {_TOO_DEEP}")
    _convert_all(codec, decoded, out)
    return out.page(codec, envelope.metadata, len(raw_items))


def _decode_split(codec: _Codec[Any], raw: bytes) -> DecodedList:
    """The list split by :func:`_split_list` (msgspec could not even skip over an item)."""
    try:
        list_meta, spans = _split_list(raw)
    except ValueError as exc:
        raise DecodeError(f"{codec.kind}: not a list response: {exc}") from None
    try:
        meta = _LIST_META_DECODER.decode(list_meta) if list_meta else s.ListMetaIn()
    except (msgspec.DecodeError, RecursionError):
        raise DecodeError(f"{codec.kind}: not a list response: unreadable metadata") from None
    out = _Outcome()
    decoded: list[tuple[int, Any]] = []
    for index, span in enumerate(spans):
        item_meta = _item_meta(span.meta)
        why = ""
        if span.depth > MAX_DEPTH:
            why = f"nested more than {MAX_DEPTH} levels deep"
        else:
            try:
                decoded.append((index, codec.item_decoder.decode(span.raw)))
            except msgspec.DecodeError as exc:
                why = _at_item(str(exc), index)
            except RecursionError:
                why = _TOO_DEEP
        if why:
            out.fail(codec, index, item_meta, why,
                     f"{_item_label(codec, index, item_meta)}: {why}")
    _convert_all(codec, decoded, out)
    return out.page(codec, meta, len(spans))


def _item_meta(raw: bytes) -> s.MetaIn | None:
    if not raw:
        return None
    try:
        return _META_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None


class _Span(msgspec.Struct, frozen=True):
    raw: bytes
    depth: int
    """How deep the item nests (an empty object is 1)."""
    meta: bytes
    """The item's ``metadata`` object, or empty."""


_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},:]')


def _split_list(raw: bytes) -> tuple[bytes, list[_Span]]:
    """Split a list body into its ``metadata`` and its items without recursion.

    Only for bodies msgspec cannot walk (an item nested ~1,000 levels deep): a linear scan
    of strings and brackets, so one hostile item costs its own length, not the list. Raises
    ValueError when the body is not a JSON object with an ``items`` array.
    """
    depth = 0
    keys: dict[int, bytes] = {}
    last_string = b""
    list_meta = b""
    list_meta_at = -1
    in_items = False
    item_at = -1
    item_depth = 0
    item_meta = b""
    item_meta_at = -1
    spans: list[_Span] = []

    def close_item(end: int) -> None:
        nonlocal item_depth, item_meta
        body = raw[item_at:end].strip()
        if body:
            spans.append(_Span(body, item_depth, item_meta))
        item_depth = 0
        item_meta = b""
        keys.pop(3, None)

    for token in _TOKENS.finditer(raw):
        text = token.group()
        first = text[:1]
        if first == b'"':
            last_string = text
        elif first == b":":
            keys[depth] = last_string
        elif first in (b"{", b"["):
            depth += 1
            if depth == 1 and first != b"{":
                raise ValueError("the top level is not an object")
            if depth == 2 and keys.get(1) == b'"items"' and first == b"[":
                in_items, item_at = True, token.end()
            elif depth == 2 and keys.get(1) == b'"metadata"' and first == b"{":
                list_meta_at = token.start()
            elif in_items and depth == 4 and keys.get(3) == b'"metadata"' and first == b"{":
                item_meta_at = token.start()
            if in_items:
                item_depth = max(item_depth, depth - 2)
        elif first in (b"}", b"]"):
            if depth == 2 and list_meta_at >= 0 and not in_items:
                list_meta, list_meta_at = raw[list_meta_at:token.end()], -1
            if in_items and depth == 4 and item_meta_at >= 0:
                item_meta, item_meta_at = raw[item_meta_at:token.end()], -1
            if in_items and depth == 2:
                close_item(token.start())
                in_items = False
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced brackets")
        elif first == b"," and in_items and depth == 2:
            close_item(token.start())
            item_at = token.end()
    if depth != 0:
        raise ValueError("truncated")
    if not spans and b'"items"' not in raw:
        raise ValueError("no items array")
    return list_meta, spans


def decode_list(kind: str, raw: bytes) -> DecodedList:
    """Decode one page of a ``GET .../<kind>`` list response into rows.

    ``resource_version`` is the list's version to start the watch from; ``continue_token``
    is the token for the next page (None when this was the last one).
    """
    codec = _codec(kind)
    try:
        doc = codec.list_decoder.decode(raw)
    except (msgspec.ValidationError, RecursionError):
        return _decode_one_by_one(codec, raw)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"{kind}: malformed JSON: {exc}") from None
    out = _Outcome()
    items = doc.items or ()
    _convert_all(codec, enumerate(items), out)
    if items and not out.rows:
        raise DecodeError(f"{kind}: no item could be converted; first error: {out.errors[0]}")
    return out.page(codec, doc.metadata, len(items))


def decode_object(kind: str, raw: bytes) -> Row:
    """Decode a single object (a GET or the response to a write, for read-back checks)."""
    codec = _codec(kind)
    try:
        item = codec.item_decoder.decode(raw)
        return codec.convert(item)
    except ValueError as exc:
        raise DecodeError(f"{kind}: {exc}") from None
    except RecursionError:
        raise DecodeError(f"{kind}: {_TOO_DEEP}") from None


def decode_event(kind: str, raw_line: bytes) -> WatchEvent:
    """Decode one line of a watch stream (``{"type": ..., "object": ...}``)."""
    codec = _codec(kind)
    try:
        event = _EVENT_DECODER.decode(raw_line)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"{kind} watch event: {exc}") from None
    except RecursionError:
        raise DecodeError(f"{kind} watch event: {_TOO_DEEP}") from None
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
    except RecursionError:
        raise DecodeError(f"{kind} {etype} event: {_TOO_DEEP}") from None
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
