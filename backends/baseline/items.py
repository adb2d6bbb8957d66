"""The items a diff is made of, shared by the comparisons of :mod:`.diff` and
:mod:`.diff_signals` (kept apart so neither imports the other)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, TypeAlias, TypeVar

import msgspec

__all__ = ["DiffItem", "Severity", "by", "item"]

Severity: TypeAlias = Literal["worse", "better", "changed"]


class DiffItem(msgspec.Struct, frozen=True, kw_only=True):
    """One difference between the baseline and now."""

    kind: str
    key: str
    what: str
    before: str = ""
    after: str = ""
    severity: Severity
    rank: int
    delta: float | None = None
    """The size of a numeric change where a rule may tolerate some (restarts)."""


K = TypeVar("K")
T = TypeVar("T")


def by(values: Iterable[T], key: Callable[[T], K]) -> dict[K, T]:
    """``values`` indexed by ``key`` (the later of two equal keys wins)."""
    return {key(v): v for v in values}


def item(kind: str, key: str, what: str, severity: Severity, rank: int,
         before: object = "", after: object = "", delta: float | None = None) -> DiffItem:
    """A :class:`DiffItem`, with ``before``/``after`` turned into text."""
    return DiffItem(kind=kind, key=key, what=what, before=str(before), after=str(after),
                    severity=severity, rank=rank, delta=delta)
