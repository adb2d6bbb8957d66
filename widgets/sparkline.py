"""A one-line unicode sparkline (``▁▂▅█``) and the latest value, for a table cell.

Hand-written, and small on purpose:

- Textual's ``Sparkline`` is a widget: one per cell cannot live inside a ``DataTable`` row,
  and the apps panel must stay one table updated by key. A cell needs a plain string.
- Rich has no sparkline; a third-party package would be a dependency for twenty lines, and it
  would not do the two things the control room needs: gaps (a point Prometheus did not return
  is blank, never drawn as zero) and a scale anchored on the signal's thresholds (``high``):
  a healthy 50 ms latency stays a low line instead of filling the cell because it is the
  window's maximum, and a full bar means "at or past critical".
- When there are more points than cells, each cell shows the *maximum* of the points it
  covers, so a one-point error spike is never averaged away.

Pure functions on floats and strings; no Textual, no store. Values are formatted by
:func:`backends.signals.model.format_value`, shared with validation and the baseline diff.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from backends.signals.model import UNKNOWN_VALUE as UNKNOWN
from backends.signals.model import format_value

__all__ = ["BARS", "GAP", "UNKNOWN", "format_value", "sparkline", "squeeze"]


BARS = "▁▂▃▄▅▆▇█"
"""Eight levels, lowest first."""
GAP = " "
"""A point without a finite value."""


def squeeze(values: Sequence[float], width: int) -> list[float]:
    """At most ``width`` points: each the maximum of the finite values it covers (NaN when it
    covers none). Fewer values than ``width`` are returned as they are."""
    if width <= 0:
        return []
    if len(values) <= width:
        return list(values)
    out: list[float] = []
    n = len(values)
    for cell in range(width):
        group = [v for v in values[cell * n // width:(cell + 1) * n // width] if math.isfinite(v)]
        out.append(max(group) if group else math.nan)
    return out


def sparkline(values: Sequence[float], width: int | None = None, *,
              low: float | None = None, high: float | None = None) -> str:
    """One character per point (after :func:`squeeze` to ``width``), oldest first.

    The scale runs from the smallest finite value to the largest, widened to include ``low``
    and ``high`` when given (pass 0 and the critical threshold). NaN and infinities are gaps.
    A flat series with nothing to compare it to is drawn at the lowest level.
    """
    points = squeeze(values, width) if width is not None else list(values)
    finite = [v for v in points if math.isfinite(v)]
    if not finite:
        return GAP * len(points)
    bottom = min(finite) if low is None or not math.isfinite(low) else min(min(finite), low)
    top = max(finite) if high is None or not math.isfinite(high) else max(max(finite), high)
    span = top - bottom
    last = len(BARS) - 1
    chars = []
    for v in points:
        if not math.isfinite(v):
            chars.append(GAP)
        elif span <= 0:
            chars.append(BARS[0])
        else:
            chars.append(BARS[min(last, int((v - bottom) / span * len(BARS)))])
    return "".join(chars)


