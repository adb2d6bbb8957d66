"""Small pure functions that turn row fields into cell strings (no Textual, no store).

Everything here returns plain ``str``: the tables wrap cells in ``Text`` themselves, so no
cluster string is ever parsed as markup. Times are epoch seconds; ``now`` is always passed in
(the refresh tick's clock), which keeps rendering deterministic in tests.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len, set_cell_size
from rich.text import Text

from backends import timefmt
from backends.model import BackendRef, Condition
from backends.timefmt import age, age_changes_at

__all__ = [
    "DIM",
    "rank_key",
    "PROBLEM",
    "WARNING",
    "NEGATIVE_CONDITIONS",
    "age",
    "age_changes_at",
    "ago",
    "condition_words",
    "describe_condition",
    "failing_conditions",
    "iec_bytes",
    "is_failing",
    "middle_cut",
    "percent",
    "plain",
    "short_image",
    "short_images",
    "short_revision",
    "weights",
]

#: Row tones: how bad a row is. Panels and tables map them to component classes
#: (``vtable--problem``...) so CSS, not Python, decides the colours.
PROBLEM = "problem"
WARNING = "warning"
DIM = "dim"

_UNKNOWN = "?"


def plain(cell: Text | str) -> str:
    """The text of a cell as the engineer reads it (for filters and tests)."""
    return cell.plain if isinstance(cell, Text) else cell


def rank_key(rank: int, *texts: str) -> str:
    """A sort key that orders exactly like ``(rank, *texts)``, as one string.

    Why: a big table sorts and bisects its rows by ``(sort_key, row_key)``. With a tuple as
    the sort key every comparison is a nested tuple comparison in Python; with a string,
    ``list.sort`` uses its C fast path for strings, and placing 7,500 newly listed pods went
    from a fifth of a refresh tick to a small part of it (bench/bench_live.py). The texts are
    joined with NUL, which sorts below every character and cannot occur in sanitized text, so
    a text that is a prefix of another still sorts first. ``rank`` must be 0-999.
    """
    return f"{rank:03d}" + "\x00".join(texts)


def ago(moment: float | None, now: float) -> str:
    """``5m ago``, ``in the future (clock skew)``, or ``""`` when the moment is unknown (the
    one formatter: :func:`backends.timefmt.ago`)."""
    return timefmt.ago(moment, now)


def percent(used: float, total: float) -> str:
    """``43%``, or ``?`` when either side is unknown (0 means not reported)."""
    if total <= 0 or used < 0:
        return _UNKNOWN
    return f"{used * 100 / total:.0f}%"


def iec_bytes(value: float) -> str:
    """``16.0Gi``, ``512Mi``: Kubernetes' binary units, one decimal above Mi."""
    for unit, size in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f}{unit}" if unit in ("Ti", "Gi") else \
                f"{value / size:.0f}{unit}"
    return f"{value:.0f}"


def short_revision(revision: str) -> str:
    """Git SHAs cut to 7 characters (per source for multi-source apps); tags kept."""
    parts = []
    for part in revision.split(","):
        part = part.strip()
        if len(part) >= 12 and all(c in "0123456789abcdef" for c in part.lower()):
            part = part[:7]
        parts.append(part)
    return ",".join(parts)


def short_image(image: str) -> str:
    """The last path segment of an image reference, with a digest cut to 12 hex digits.

    ``myacr.azurecr.io/shop/checkout:1.4.2`` -> ``checkout:1.4.2``: the registry rarely
    matters during an incident, the tag always does.
    """
    name, at, digest = image.partition("@")
    name = name.rsplit("/", 1)[-1]
    if at:
        algo, _, value = digest.partition(":")
        return f"{name}@{algo}:{value[:12]}" if value else f"{name}@{digest[:12]}"
    return name


def short_images(images: Iterable[str]) -> str:
    """First image shortened, ``+N`` when there are more (sidecars)."""
    listed = list(images)
    if not listed:
        return ""
    first = short_image(listed[0])
    return first if len(listed) == 1 else f"{first} +{len(listed) - 1}"


NEGATIVE_CONDITIONS: frozenset[str] = frozenset({"Conflicted", "Detached", "PartiallyInvalid"})
"""Condition types that are healthy when ``False`` (Gateway API "abnormal-true" conditions)."""


def is_failing(condition: Condition) -> bool:
    """Whether a condition reports trouble (polarity-aware: ``Conflicted=True`` is bad)."""
    if condition.type in NEGATIVE_CONDITIONS:
        return condition.status == "True"
    return condition.status != "True"


def failing_conditions(conditions: Iterable[Condition]) -> list[Condition]:
    """The conditions that report trouble, in order."""
    return [condition for condition in conditions if is_failing(condition)]


def describe_condition(condition: Condition) -> str:
    """``ResolvedRefs=False (BackendNotFound)``: short enough for a table cell."""
    text = f"{condition.type}={condition.status}"
    return f"{text} ({condition.reason})" if condition.reason else text


def condition_words(condition: Condition) -> str:
    """``ResolvedRefs False: BackendNotFound``: a failing condition in words, as a table's
    status cell says it (the reason is what the reader acts on, so it comes whole)."""
    text = f"{condition.type} {condition.status}"
    return f"{text}: {condition.reason}" if condition.reason else text


def weights(backends: Iterable[BackendRef], route_namespace: str) -> str:
    """``checkout-stable:90 checkout-canary:10`` (namespace shown only when it differs)."""
    parts = []
    for backend in backends:
        name = backend.name
        if backend.namespace and backend.namespace != route_namespace:
            name = f"{backend.namespace}/{name}"
        parts.append(f"{name}:{backend.weight}")
    return " ".join(parts)


_ELLIPSIS = "\u2026"
_SEPARATORS = "-._/:"


def middle_cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut in the middle when it is longer.

    Why: sibling names share their start and differ at their end (``aks-userblue-87654321-
    vmss000002``, ``checkout-stable-68c555fdc9-9f4f4``), so cutting the end, as a table does,
    makes them all look alike. The tail keeps whole name parts (split at ``- . _ / :``) up
    to about half the room, the head takes the rest and drops a separator it would end on:
    ``aks-userblue…vmss000002``. A last part too long for half the room is cut by
    characters, half and half. Never wider than ``width``; ``""`` for a width below 1.
    """
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return _ELLIPSIS[:max(width, 0)]
    room = width - 1  # one cell for the ellipsis
    half = room // 2
    starts = [i + 1 for i, char in enumerate(text) if char in _SEPARATORS]
    tail = ""
    for start in reversed(starts):  # from the last part back, whole parts only
        candidate = text[start:]
        if cell_len(candidate) > half:
            break
        tail = candidate
    if not tail:  # the last part alone is longer than half the room
        tail = _right_cells(text, half)
    head = set_cell_size(text, room - cell_len(tail)).rstrip(" ")
    if len(head) > 1 and head[-1] in _SEPARATORS:
        head = head[:-1]
    return f"{head}{_ELLIPSIS}{tail}"


def _right_cells(text: str, cells: int) -> str:
    """The longest end of ``text`` that takes at most ``cells`` cells."""
    taken = ""
    for char in reversed(text):
        if cell_len(char + taken) > cells:
            break
        taken = char + taken
    return taken
