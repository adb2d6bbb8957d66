"""Rows as arrays: the replay frames' form of a row, and the way back to the row type.

Why: a keyframe holds every row of the store (30,000 pods), and a seek rebuilds the state
from it plus every patch since. Stored as msgpack maps, a pod carries its twenty field names
(588 bytes a pod before compression, 18 MB per keyframe to inflate); as an array of its
fields in declaration order it carries none. And a seek can then work on the decoded arrays
themselves: a patch is ``row[index] = value`` on a Python list, where applying it to the
frozen row struct (``structs.replace`` of each changed field, nested) cost twenty times
more; the arrays become rows once, at the end, in two msgspec calls for a whole kind
(:func:`from_arrays`), which also validate every value (a damaged frame is named, never
shown half-right).

Each row type gets a mirror struct (``array_like``, the same fields, nested structs mirrored
too), made once when first asked for: :func:`to_arrays` converts rows to mirrors
(``from_attributes``, in C) for encoding, :func:`from_arrays` the decoded lists back.
"""

from __future__ import annotations

import functools
import operator
import types
import typing
from collections.abc import Sequence
from typing import Any

import msgspec

__all__ = ["field_index", "field_types", "from_arrays", "mirror", "to_arrays", "value_array"]

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
    """The ``array_like`` mirror of a struct type (cached)."""
    found = _MIRRORS.get(row_type)
    if found is None:
        fields = msgspec.structs.fields(row_type)
        found = msgspec.defstruct(f"{row_type.__name__}Array",
                                  [(f.name, _mirror_type(f.type)) for f in fields],
                                  array_like=True, frozen=True, gc=False)
        _MIRRORS[row_type] = found
    return found


def to_arrays(rows: Sequence[msgspec.Struct], row_type: type) -> list[Any]:
    """``rows`` as mirrors: msgpack encodes them as arrays (nested structs too)."""
    return msgspec.convert(rows, list[mirror(row_type)],  # type: ignore[misc]
                           from_attributes=True)


def from_arrays(arrays: Sequence[Any], row_type: type) -> list[Any]:
    """Decoded arrays (lists, possibly patched in place) back to ``row_type``, validated.
    Raises :class:`msgspec.ValidationError` for a value of the wrong type or count."""
    mirrored = msgspec.convert(arrays, list[mirror(row_type)])  # type: ignore[misc]
    return msgspec.convert(mirrored, list[row_type], from_attributes=True)  # type: ignore[valid-type]


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
