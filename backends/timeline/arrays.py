"""Rows as arrays: the replay frames' form of a row, and the way back to the row type.

Why: a keyframe holds every row of the store (30,000 pods), and a seek rebuilds the state
from it plus every patch since. Stored as msgpack maps, a pod carries its twenty field names
(588 bytes a pod before compression, 18 MB per keyframe to inflate); as an array of its
fields in declaration order it carries none. And a seek can then work on the decoded arrays
themselves: each row type gets a mirror struct (``array_like``, mutable, the same fields,
nested structs mirrored too), msgpack decodes a keyframe straight into mirrors (in C, with
every value's type checked), and a patch is a ``setattr`` on a mirror, where applying it to
the frozen row struct (``structs.replace`` of each changed field, nested) cost several
times more. The mirrors become rows once, at the end, in one msgspec call for a whole kind
(:func:`from_mirrors`), which validates them again (a damaged frame is named, never shown
half-right).

Mirrors are made once, when first asked for: :func:`to_mirrors` converts rows to mirrors
(``from_attributes``, in C) for encoding and for patching rows of a live store.
"""

from __future__ import annotations

import functools
import operator
import types
import typing
from collections.abc import Sequence
from typing import Any

import msgspec

__all__ = ["field_index", "field_types", "from_mirrors", "mirror", "to_mirrors", "value_array",
           "whole_value"]

_MIRRORS: dict[type, type] = {}


def _mirror_type(tp: Any) -> Any:
    """``tp`` with every struct type in it replaced by its mirror."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return mirror(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is None or not args or origin is typing.Literal:
        return tp
    new = tuple(a if a is Ellipsis else _mirror_type(a) for a in args)
    if new == args:
        return tp
    if origin is typing.Union or origin is types.UnionType:
        return functools.reduce(operator.or_, new)
    return origin[new]


def mirror(row_type: type) -> type:
    """The ``array_like``, mutable mirror of a struct type (cached)."""
    found = _MIRRORS.get(row_type)
    if found is None:
        fields = msgspec.structs.fields(row_type)
        found = msgspec.defstruct(f"{row_type.__name__}Array",
                                  [(f.name, _mirror_type(f.type)) for f in fields],
                                  array_like=True, gc=False)
        _MIRRORS[row_type] = found
    return found


def to_mirrors(rows: Sequence[msgspec.Struct], row_type: type) -> list[Any]:
    """``rows`` as fresh mirrors: msgpack encodes them as arrays (nested structs too), and
    a patch may change them in place."""
    return msgspec.convert(rows, list[mirror(row_type)],  # type: ignore[misc]
                           from_attributes=True)


def from_mirrors(mirrors: Sequence[Any], row_type: type) -> list[Any]:
    """Mirrors (possibly patched) back to ``row_type``, every value validated. Raises
    :class:`msgspec.ValidationError` for a value of the wrong type."""
    return msgspec.convert(mirrors, list[row_type], from_attributes=True)  # type: ignore[valid-type]


@functools.cache
def field_types(row_type: type) -> tuple[Any, ...]:
    """The field types of a struct type, in array order."""
    return tuple(f.type for f in msgspec.structs.fields(row_type))


@functools.cache
def field_index(row_type: type) -> dict[str, int]:
    """A field's place in the array."""
    return {name: i for i, name in enumerate(row_type.__struct_fields__)}  # type: ignore[attr-defined]


def value_array(value: Any, tp: Any) -> Any:
    """A whole field value in array form (structs in it as mirrors), for a patch."""
    mirrored = _mirror_type(tp)
    if mirrored is tp:
        return value
    return msgspec.convert(value, mirrored, from_attributes=True)


@functools.cache
def _converted(mirror_type: type) -> tuple[Any, ...]:
    """Per field of a mirror: its type when a whole value must be converted to it (it holds
    structs, which a patch carries as arrays), else None."""
    return tuple(f.type if _holds_struct(f.type) else None
                 for f in msgspec.structs.fields(mirror_type))


def _holds_struct(tp: Any) -> bool:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return True
    return any(_holds_struct(a) for a in typing.get_args(tp) if a is not Ellipsis)


def whole_value(mirror_type: type, index: int, value: Any) -> Any:
    """A patch's whole value for a mirror's field (arrays of structs made mirrors again)."""
    tp = _converted(mirror_type)[index]
    return value if tp is None else msgspec.convert(value, tp)
