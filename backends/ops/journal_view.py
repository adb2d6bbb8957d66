"""The journal as ``controlroom journal [--since ...]`` shows it: aligned lines, ``--since``.

Why apart from :mod:`backends.ops.journal`: that module keeps the record durable; this one only
reads it for a person at a terminal, and can change its columns without touching the file
format.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from backends.ops.journal import JournalEntry
from backends.sanitize import clean

__all__ = ["format_entries", "parse_since"]


_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_DURATION_FULL = re.compile(r"(?:\d+\s*[smhdw]\s*)+")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """Parse a ``--since`` value into an aware UTC datetime.

    Accepted: a duration back from now (``30s``, ``30m``, ``1h``, ``2d``, ``1w``, or combined
    ``1h30m``), or an ISO 8601 time (``2026-11-26T10:00:00Z``, ``...+01:00``, a plain date).
    A time without a zone is the operator's local time, as in ``journalctl --since``.
    Raises ValueError with the accepted forms.
    """
    text = value.strip().lower()
    now = now or datetime.now(UTC)
    shown = clean(repr(value), 80)
    if text and _DURATION_FULL.fullmatch(text):
        try:
            seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(text))
            return (now - timedelta(seconds=seconds)).astimezone(UTC)
        except (OverflowError, ValueError):
            # Python dates end at year 1; "99999999999d" is before that (and a number too
            # long to convert is a ValueError of its own): say so, not OverflowError.
            raise ValueError(f"--since {shown}: too far back (a duration must stay after "
                             "the year 1; use a time like 2026-11-26T10:00:00Z)") from None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"--since {shown}: expected a duration like 30m, 1h, 2d, 1h30m or a time like"
            " 2026-11-26T10:00:00Z") from None
    try:
        if moment.tzinfo is None:
            moment = moment.astimezone()  # local time, as a human at the terminal means it
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"--since {shown}: out of range once turned into UTC") from None


def format_entries(entries: Sequence[JournalEntry]) -> str:
    """One line per entry for ``controlroom journal``: id, time (UTC), operator, context,
    action, target, status, reason; columns aligned, every field sanitized (names and
    reasons may come from the cluster or another operator, and the terminal must not
    interpret them). The empty string for no entries."""
    if not entries:
        return ""
    rows: list[list[str]] = []
    for e in entries:
        status = e.status if not e.outcome_unknown or e.status == "pending" else "unknown"
        action = e.action + (f" [{e.step}]" if e.step else "")
        rows.append([
            f"#{e.id}",
            e.ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            clean(e.operator, 40),
            clean(e.context, 60),
            clean(action, 60),
            clean(e.target, 120),
            status,
            clean(e.reason, 300),
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)), r[-1]])
        .rstrip()
        for r in rows)
