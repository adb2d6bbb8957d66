"""The breaker's annotation as a schema: what each changed object carries, and what of it a
reader may trust.

Why the object carries the prior state: the journal is one operator's file. Another
operator's state dir, a journal that was deleted or truncated, a laptop that died: each
would leave production scaled to 0 with nobody able to see it or put it back. So every
object a breaker changes carries, in :data:`~backends.ops.breaker_model.BREAKER_ANNOTATION`,
the value it had before (``prior``: the auto-sync block, the replicas, the route rules'
``backendRefs``: exactly what the journal's first write records), the emergency value
(``intent``), the breaker's operation id, who engaged it and when, and how many objects that
engagement meant to change (``targets``). ``breaker status`` and ``breaker release`` read
these from the cluster (:mod:`backends.ops.breaker.cluster`) as well as the journal.

Why a schema: annotations are text anybody with ``patch`` on the object can write, and
release turns ``prior`` into a write to production. So a mark is decoded with a bounded size
(:data:`MAX_MARK_BYTES`), into typed structs (msgspec), per phase (replicas a whole number
within int32, a route's rules with indices and backend lists, an auto-sync block an object
or null), and an operation id of the breaker's own form. A mark that fails any of this is a
:class:`MarkError` naming the problem: reported by status, never restored from. Strings in
it are raw (sanitize before display).

Marks written before the prior was recorded (``{"operation", "by", "since"}`` only) still
decode: the cluster then shows the breaker engaged, and release needs the journal of the
operator who engaged it for that object.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Final

import msgspec

from backends.ops.breaker_model import OPERATION_PREFIX, PHASE_KIND, PHASES
from backends.sanitize import clean

__all__ = [
    "MAX_MARK_BYTES",
    "Mark",
    "MarkError",
    "decode_mark",
    "mark_value",
    "read_mark",
]

MAX_MARK_BYTES: Final = 32 * 1024
"""Longest mark read (and written with its prior): a route's rules fit many times over;
the API server's limit for all annotations of an object is 256 KiB."""
_OPERATION: Final = re.compile(re.escape(OPERATION_PREFIX) + r"[0-9a-z][0-9a-z-]{0,39}")
_MAX_WHO: Final = 256
_INT32: Final = 2**31 - 1


class Mark(msgspec.Struct, frozen=True, kw_only=True):
    """One object's breaker annotation, decoded and checked. ``phase`` is "" (and
    ``prior`` None) for a mark written before the prior state was recorded on objects."""

    operation: str
    by: str = ""
    since: str = ""
    phase: str = ""
    prior: dict[str, Any] | None = None
    intent: dict[str, Any] | None = None
    targets: int = 0

    @property
    def restorable(self) -> bool:
        """The mark holds the prior state release puts back."""
        return bool(self.phase) and self.prior is not None

    def since_time(self) -> datetime | None:
        try:
            return datetime.fromisoformat(self.since.replace("Z", "+00:00"))
        except ValueError:
            return None


class MarkError(ValueError):
    """A breaker annotation that cannot be trusted; the message says why (sanitized)."""


# The prior state each phase records (the journal's ``prior`` of the phase's first write),
# checked field by field; other keys are kept as they are (the planners own them).


class _ScalePrior(msgspec.Struct):
    replicas: int


class _Ref(msgspec.Struct):
    name: str


class _Rule(msgspec.Struct):
    index: int
    backendRefs: list[_Ref]  # noqa: N815 - the Gateway API's field name


class _ShiftPrior(msgspec.Struct):
    rules: list[_Rule]


class _FreezePrior(msgspec.Struct):
    automated: dict[str, Any] | None


class _PausePrior(msgspec.Struct):
    paused: bool | None  # None: the field was absent, and is removed again on release


_PRIORS: Final[dict[str, type[msgspec.Struct]]] = {
    "scale": _ScalePrior, "shift": _ShiftPrior, "freeze": _FreezePrior, "pause": _PausePrior}


def _check_prior(phase: str, prior: dict[str, Any]) -> None:
    schema = _PRIORS.get(phase)
    if schema is None:
        return  # a phase this module has no schema for: the planner's restore checks it
    try:
        msgspec.convert(prior, type=schema)
    except msgspec.ValidationError as exc:
        raise MarkError(f"its prior state is not a {phase} prior: {clean(exc, 200)}") from None
    if phase == "scale" and not 0 <= prior["replicas"] <= _INT32:
        raise MarkError(f"its prior replicas {prior['replicas']} are not within 0..{_INT32}")
    if phase == "shift":
        indices = [r["index"] for r in prior["rules"]]
        if not prior["rules"] or any(not 0 <= i < 1024 for i in indices) or \
                len(set(indices)) != len(indices):
            raise MarkError("its prior route rules have no, out-of-range or repeated indices")


def decode_mark(text: Any, kind: str | None = None) -> Mark:
    """The mark in ``text`` (an annotation value as read), checked (module doc). ``kind``:
    the kind of the object it was found on, which the mark's phase must match. Raises
    :class:`MarkError`."""
    if not isinstance(text, str):
        raise MarkError(f"the annotation is {type(text).__name__}, not text")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_MARK_BYTES:
        raise MarkError(f"the annotation is longer than {MAX_MARK_BYTES} bytes")
    try:
        mark = msgspec.json.decode(text, type=Mark)
    except msgspec.ValidationError as exc:
        raise MarkError(f"not a breaker mark: {clean(exc, 200)}") from None
    except msgspec.DecodeError:
        raise MarkError("the annotation is not JSON") from None
    if not _OPERATION.fullmatch(mark.operation):
        raise MarkError(f"operation {clean(mark.operation, 60)!r} is not a breaker's id")
    if len(mark.by) > _MAX_WHO or len(mark.since) > 64:
        raise MarkError("its operator or time is too long")
    if mark.since and mark.since_time() is None:
        raise MarkError(f"since {clean(mark.since, 40)!r} is not a time")
    if not 0 <= mark.targets <= 100_000:
        raise MarkError(f"targets {mark.targets} is out of range")
    if mark.phase:
        if mark.phase not in PHASES:
            raise MarkError(f"phase {clean(mark.phase, 40)!r} is not a breaker phase")
        if kind is not None and PHASE_KIND[mark.phase] != kind:
            raise MarkError(f"a {mark.phase} mark on a {clean(kind, 40)}")
        if mark.prior is not None:
            _check_prior(mark.phase, mark.prior)
    return mark


def read_mark(text: Any, kind: str | None = None) -> Mark | None:
    """:func:`decode_mark`, or None for anything that is not a trustworthy mark (judging
    whether an object is still ours; :func:`decode_mark` says why when that matters)."""
    if text is None:
        return None
    try:
        return decode_mark(text, kind)
    except MarkError:
        return None


def mark_value(operation_id: str, by: str, since: str, *, phase: str = "",
               prior: Any = None, intent: Any = None, targets: int = 0) -> str:
    """The annotation's JSON text: compact, keys in a fixed order (who and when first, so a
    reader that only shows the start still shows them). ``prior``/``intent`` are left out
    when they would make the mark longer than :data:`MAX_MARK_BYTES` (the journal still
    has them; status then says release needs it)."""
    head = {"operation": operation_id, "by": by, "since": since}
    if not phase:
        return json.dumps(head, separators=(",", ":"))
    full = {**head, "phase": phase, "targets": targets, "prior": prior, "intent": intent}
    text = json.dumps(full, separators=(",", ":"))
    if len(text.encode()) <= MAX_MARK_BYTES:
        return text
    return json.dumps({**head, "phase": phase, "targets": targets}, separators=(",", ":"))
