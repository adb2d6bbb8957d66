"""Row types for alerts and alert rules, shared by every alert source.

Prometheus, Alertmanager and the MQTT team bus all put their alerts into the same store kind
(:data:`ALERTS`) with the same row type, so one panel shows them side by side and the silence
action does not care where an alert came from. Each source owns the keys that start with its
own prefix (``"prometheus/..."``); :func:`replace_source` replaces one source's rows without
touching the others' (a plain ``Store.replace`` would delete them).

Rows are frozen, untracked msgspec structs like those in :mod:`backends.model` (same reasons:
shared without copies, compared by value so unchanged polls wake nobody, never in a cycle).
Every display string was passed through :func:`backends.sanitize.clean` by the decoder, once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal, TypeAlias

import msgspec

from backends.model import Row
from backends.store import Store

__all__ = [
    "ALERTS",
    "ALERT_RULES",
    "ALERT_SOURCES",
    "STATE_RANK",
    "AlertRow",
    "AlertSource",
    "AlertState",
    "RuleRow",
    "SIGNALS",
    "SignalRow",
    "SignalStatus",
    "alert_identity",
    "alert_key",
    "mark_stale",
    "merge_alerts",
    "primary_key",
    "replace_source",
    "signal_key",
    "source_of_key",
]

ALERTS = "alerts"
"""Store kind of :class:`AlertRow`."""
ALERT_RULES = "alertrules"
"""Store kind of :class:`RuleRow`."""

AlertSource: TypeAlias = Literal["prometheus", "alertmanager", "mqtt"]
ALERT_SOURCES: tuple[AlertSource, ...] = ("prometheus", "alertmanager", "mqtt")

AlertState: TypeAlias = Literal[
    "pending", "firing", "active", "suppressed", "unprocessed", "resolved"
]
"""Prometheus says pending/firing, Alertmanager active/suppressed/unprocessed; MQTT forwards
either, and "resolved" is what a forwarded webhook says when an alert ends."""

STATE_RANK: dict[str, int] = {
    "firing": 5,
    "active": 5,
    "unprocessed": 4,
    "pending": 3,
    "suppressed": 2,
    "resolved": 1,
}
"""How bad a state is, for a group's "worst state": a firing alert outranks a silenced one."""


def alert_key(source: str, ident: str) -> str:
    """The row key: ``source/ident`` so each source owns a disjoint slice of the kind."""
    return f"{source}/{ident}"


def source_of_key(key: str) -> str:
    """The source that owns a row key."""
    return key.partition("/")[0]


class AlertRow(Row, frozen=True, gc=False, kw_only=True):
    """One alert as a source reported it.

    ``key`` is ``"<source>/<id>"`` (:func:`alert_key`), the id being Alertmanager's
    fingerprint or, for Prometheus which has none, a digest of the label set.
    """

    source: AlertSource
    alertname: str
    severity: str = ""
    state: AlertState = "firing"
    since: float | None = None
    """Prometheus ``activeAt`` / Alertmanager ``startsAt``; None when absent."""
    ends: float | None = None
    """Alertmanager ``endsAt`` (when it will resolve unless re-sent); None when absent."""
    summary: str = ""
    description: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    """All labels as sorted pairs (``alertname`` included): the silence matchers use them."""
    fingerprint: str = ""
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    receivers: tuple[str, ...] = ()
    value: str = ""
    """Prometheus's sample value as text (``"1e+00"``)."""
    generator_url: str = ""
    stale: bool = False
    """The source is unreachable and this is its last known state: the panel dims it."""
    sources: tuple[str, ...] = ()
    """Set on a row made by :func:`merge_alerts`: every source that reports this alert, in
    :data:`ALERT_SOURCES` order. Empty on a source's own row (then ``source`` alone)."""

    stale_sources: tuple[str, ...] = ()
    """On a merged row: the sources whose row is stale (unreachable, last known state)."""

    @property
    def seen_by(self) -> tuple[str, ...]:
        """The sources that report this alert (``sources``, or just ``source``)."""
        return self.sources or (self.source,)

    def label(self, name: str) -> str:
        """One label's value, "" when absent (a linear scan: alerts carry a handful)."""
        for key, value in self.labels:
            if key == name:
                return value
        return ""


class RuleRow(Row, frozen=True, gc=False, kw_only=True):
    """An alerting rule from Prometheus ``/api/v1/rules``: is the rule itself healthy?

    A rule whose query errors never fires, which looks exactly like "all is well"; so the
    panel shows rules whose ``health`` is not "ok" as problems of their own.
    """

    source: AlertSource = "prometheus"
    group: str
    file: str = ""
    name: str
    state: str = ""
    """inactive | pending | firing."""
    health: str = ""
    """ok | err | unknown."""
    last_error: str = ""
    query: str = ""
    duration: float = 0.0
    """``for:`` in seconds."""
    severity: str = ""
    summary: str = ""
    active: int = 0
    """How many alerts of this rule are pending or firing."""
    last_evaluation: float | None = None
    stale: bool = False


def alert_identity(row: AlertRow) -> tuple[tuple[str, str], ...]:
    """What makes two rows the same alert: the label set. Prometheus evaluates the rule and
    sends the alert, with the same labels, to Alertmanager, which keys it by a digest of
    those labels (its fingerprint); the team bus keys forwarded alerts the same way. The row
    keys differ per source (each owns its slice of the store), the label set does not."""
    return row.labels


_PRIMARY: dict[str, int] = {"alertmanager": 0, "prometheus": 1, "mqtt": 2}
"""Whose row a merged alert is built on: Alertmanager knows whether it is silenced or
inhibited and where it is routed, which the on-call needs most; then Prometheus."""
_SOURCE_ORDER: dict[str, int] = {s: i for i, s in enumerate(ALERT_SOURCES)}


def primary_key(rows: Iterable[AlertRow]) -> str:
    """The key of the row a merge of ``rows`` is built on (see :func:`merge_alerts`), without
    building it: the other sources' rows of the alert are hidden behind it."""
    return min((_PRIMARY.get(r.source, 9), r.key) for r in rows)[1]


def merge_alerts(rows: Iterable[AlertRow]) -> AlertRow:
    """One row for one alert reported by several sources (same :func:`alert_identity`).

    Built on the Alertmanager row (its state: active, suppressed, unprocessed; its silences
    and receivers), keeping its key; ``sources`` lists every source; it is stale only when
    every source's row is (one live source still vouches for it); Prometheus's sample value
    and the earliest known start fill what the primary lacks.
    """
    members = sorted(rows, key=lambda r: (_PRIMARY.get(r.source, 9), r.key))
    primary = members[0]
    if len(members) == 1:
        return primary
    sources = tuple(sorted({r.source for r in members}, key=lambda s: _SOURCE_ORDER.get(s, 9)))
    since = primary.since or min((r.since for r in members if r.since), default=None)
    value = primary.value or next((r.value for r in members if r.value), "")
    stale = tuple(s for s in sources if any(r.stale for r in members if r.source == s))
    return msgspec.structs.replace(primary, sources=sources, since=since, value=value,
                                   stale=all(r.stale for r in members), stale_sources=stale)


SIGNALS = "signals"
"""Store kind of :class:`SignalRow` (owned by the PromQL poller, :mod:`backends.signals.promql`)."""

SignalStatus: TypeAlias = Literal["ok", "warn", "crit", "unknown"]


def signal_key(signal: str, app: str) -> str:
    """The row key: ``<signal name>/<app>`` (signal names never contain a slash)."""
    return f"{signal}/{app}"


class SignalRow(Row, frozen=True, gc=False, kw_only=True):
    """One PromQL key signal of one app over the configured range (a sparkline's data).

    ``values`` are evenly spaced ``step`` seconds apart, oldest first, ending at ``at``; a
    point Prometheus did not return (or returned as NaN/Inf) is NaN, a gap in the line. All
    gaps share one NaN object, so an unchanged poll compares equal (``nan != nan``, but the
    tuple comparison short-cuts on identity) and wakes nobody.
    """

    signal: str
    """The configured signal name (the apps panel's column)."""
    app: str
    """Value of the signal's join label: the Argo CD app (or its namespace)."""
    values: tuple[float, ...] = ()
    latest: float | None = None
    """The last point when it is a finite number; None makes the status "unknown"."""
    at: float | None = None
    """Time of the last point of the range (epoch seconds)."""
    status: SignalStatus = "unknown"
    """``latest`` against the signal's thresholds."""
    unit: str = "number"
    """``percent``, ``seconds`` or ``number``: how the panel formats ``latest``."""
    order: int = 0
    """Position of the signal in the configuration: the order of the columns."""
    warn: float | None = None
    crit: float | None = None
    stale: bool = False
    """Prometheus is unreachable (or this signal's query failed): last known values."""

def replace_source(store: Store, kind: str, source: str, rows: Iterable[Row]) -> int:
    """Make ``rows`` the complete set of ``source``'s rows of ``kind``; others stay.

    Every row key must start with ``source/``. O(rows of the kind): fine at poll rate.
    """
    prefix = f"{source}/"
    others = [key for key in store.rows(kind) if not key.startswith(prefix)]
    return store.replace(kind, rows, keep=frozenset(others))


def mark_stale(store: Store, kind: str, source: str, *, stale: bool = True) -> int:
    """Flag (or unflag) every row of ``source`` as stale, keeping them in the store.

    Why keep them: when Prometheus is unreachable the last known alerts are the best
    information the on-call has; clearing them would make the panel look like "all clear".
    """
    prefix = f"{source}/"
    changed: list[Row] = []
    for key, row in store.rows(kind).items():
        if key.startswith(prefix) and getattr(row, "stale", stale) != stale:
            changed.append(msgspec.structs.replace(row, stale=stale))
    return store.apply(kind, (("MODIFIED", row) for row in changed))


UNKNOWN_VALUE = "?"
"""How a signal without a finite value reads."""


def format_value(value: float | None, unit: str) -> str:
    """A signal value as people read it: ``9.1%``, ``45%`` (percent: 0.091 is 9.1%), ``350ms``, ``1.25s``, ``12s`` (seconds), or
    three significant digits; ``?`` without a finite value."""
    if value is None or not math.isfinite(value):
        return UNKNOWN_VALUE
    if unit == "percent":
        pct = value * 100
        return f"{pct:.1f}%" if abs(pct) < 9.95 else f"{pct:.0f}%"
    if unit == "seconds":
        if abs(value) < 0.9995:
            return f"{value * 1000:.0f}ms"
        return f"{value:.2f}s" if abs(value) < 9.995 else f"{value:.0f}s"
    return f"{value:.3g}"
