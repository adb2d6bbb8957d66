"""The one protobuf body the drill reads: a SelfSubjectAccessReview, as client-go sends it.

Clients built on client-go's typed clientset (k9s among them) send built-in kinds as
``application/vnd.kubernetes.protobuf``; a real kube-apiserver reads them, and k9s asks "may
I list pods?" that way before it shows any. The drill otherwise speaks JSON only (and answers
JSON, which such clients also accept), so it decodes just this kind, into the dict its JSON
path handles; any other protobuf body is still refused with 415.

The envelope (``k8s.io/apimachinery/pkg/runtime``): the magic ``k8s\\0``, then a
``runtime.Unknown`` message {1: TypeMeta {1: apiVersion, 2: kind}, 2: raw, 3:
contentEncoding, 4: contentType}; ``raw`` is the ``SelfSubjectAccessReview`` message
(``k8s.io/api/authorization/v1/generated.proto``): {1: metadata, 2: spec {1:
resourceAttributes {1: namespace, 2: verb, 3: group, 4: version, 5: resource, 6: subresource,
7: name}, 2: nonResourceAttributes {1: path, 2: verb}}}. Unknown fields are skipped, as
protobuf readers do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MAGIC = b"k8s\x00"
RESOURCE_FIELDS = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource",
                   6: "subresource", 7: "name"}
NON_RESOURCE_FIELDS = {1: "path", 2: "verb"}


class ProtobufError(ValueError):
    """The body is not a well-formed protobuf message of the expected shape."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field of one message: an int for varints and fixed
    widths, bytes for length-delimited fields."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ProtobufError("truncated field")
            yield number, data[pos:pos + size]
            pos += size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > len(data):
                raise ProtobufError("truncated field")
            yield number, int.from_bytes(data[pos:pos + width], "little")
            pos += width
        else:
            raise ProtobufError(f"unsupported wire type {wire}")


def _strings(data: bytes, names: dict[int, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, value in fields(data):
        if number in names and isinstance(value, bytes):
            out[names[number]] = value.decode("utf-8", "replace")
    return out


def _message(data: bytes, number: int) -> bytes | None:
    found = None
    for n, value in fields(data):
        if n == number and isinstance(value, bytes):
            found = value
    return found


def decode_access_review(body: bytes) -> dict[str, Any]:
    """A protobuf SelfSubjectAccessReview as its JSON dict (``kind``, ``apiVersion``,
    ``spec``); :class:`ProtobufError` when the body is anything else."""
    if not body.startswith(MAGIC):
        raise ProtobufError("no k8s protobuf envelope")
    envelope = body[len(MAGIC):]
    type_meta = _strings(_message(envelope, 1) or b"", {1: "apiVersion", 2: "kind"})
    if type_meta.get("kind") != "SelfSubjectAccessReview":
        raise ProtobufError(f"protobuf is read for SelfSubjectAccessReview only, "
                            f"not {type_meta.get('kind') or 'an unknown kind'}")
    raw = _message(envelope, 2) or b""
    spec_raw = _message(raw, 2) or b""
    spec: dict[str, Any] = {}
    resource = _message(spec_raw, 1)
    if resource is not None:
        spec["resourceAttributes"] = _strings(resource, RESOURCE_FIELDS)
    non_resource = _message(spec_raw, 2)
    if non_resource is not None:
        spec["nonResourceAttributes"] = _strings(non_resource, NON_RESOURCE_FIELDS)
    return {"kind": "SelfSubjectAccessReview",
            "apiVersion": type_meta.get("apiVersion", "authorization.k8s.io/v1"), "spec": spec}
