"""The timeline written out for the post-mortem: Markdown to edit, JSON and CSV to process.

Why these three: the update strategy asks for a post-mortem of every issue, and its first
draft is the timeline itself: what changed, what fired (and which change each alert
followed), what we did, when it recovered. Markdown is that draft, ready to paste into the
incident document; JSON and CSV are the same entries, exact, for a script or a spreadsheet.

Every text field of an entry came from the cluster, an alert source, the team bus or an
operator, so each format escapes it its own way and none trusts it:

- Markdown: one line per value (line breaks and control characters become spaces), the
  characters that would start emphasis, code, a link, HTML or a table cell
  (:data:`_MD_SPECIAL`) backslash-escaped: a pod name like ``a|b`` or ``<img ...>`` stays text;
- CSV: the :mod:`csv` module's quoting (commas, quotes and line breaks inside a value),
  and a text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
  single quote in front (:data:`FORMULA_START`): a spreadsheet would run it as a formula,
  and a post-mortem is opened in one (:mod:`backends.timeline.csvrows`). Every other value
  is written exactly;
- JSON: msgspec's encoder (exact, round-trips to :class:`~backends.timeline.entry.TimelineEntry`).

Times are UTC throughout (``2026-12-07 20:04:05Z`` in Markdown and CSV, Unix seconds and
RFC 3339 in JSON): a post-mortem is read across time zones.

Pure functions of the entries: the CLI (``controlroom timeline``) reads the recording and
writes the file; the benchmark times the same calls. The worst flood hour is 200,000 entries
and the issue gives the whole command 2 s, so the per-row work is done column by column in C
(:mod:`backends.timeline.columns`: each distinct value escaped once, rows joined by
``str.format``), the JSON straight from msgspec's encoder to the file's bytes, the
correlation sees only alerts and changes, and only the few entries a section lists are judged
one by one.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import compress, count, repeat
from math import floor
from typing import Final, Literal, TypeAlias

import msgspec

from backends.timeline.columns import Memo, column, seconds
from backends.timeline.correlate import (
    CHANGE_KINDS,
    DEFAULT_WINDOW_S,
    Correlation,
    alert_target,
    correlate,
    is_change,
    is_firing,
)
from backends.timeline.csvrows import CSV_COLUMNS, FORMULA_START, csv_rows
from backends.timeline.entry import TimelineEntry

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "FORMULA_START",
    "ExportFormat",
    "Span",
    "render",
    "render_bytes",
    "to_csv",
    "to_json",
    "to_markdown",
]

ExportFormat: TypeAlias = Literal["md", "json", "csv"]
FORMATS: Final[tuple[ExportFormat, ...]] = ("md", "json", "csv")

JSON_FORMAT: Final = "controlroom-timeline"
JSON_VERSION: Final = 1

_MD_SPECIAL: Final = re.compile(r"([\\`*_\[\]<|~&])")
"""What would start emphasis, code, a link, HTML, a table cell or an entity: escaped. (``>``,
``#`` and ``-`` only matter at a line's start, where a value never stands.)"""
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

_CONDITIONS: Final = frozenset({"gateway", "node"})
"""Not made on purpose, but what a post-mortem's "what changed" must show beside the changes."""
_WHAT_WE_DID: Final = frozenset({"journal", "bus"})
_ALERTS: Final = frozenset({"alert"})
_GAPS: Final = frozenset({"source"})
_CHANGED: Final = CHANGE_KINDS | _CONDITIONS
"""The kinds "what changed" picks from (a change kind still has to pass ``is_change``)."""
_RECOVERING: Final = frozenset({"alert", "rollout", "app", "node"})
"""The kinds that can say a recovery (:func:`_recovered` decides)."""
_CORRELATED: Final = CHANGE_KINDS | _ALERTS
"""What the correlation reads: the alerts and the changes they may have followed."""
_AT: Final = operator.attrgetter("at")


class Span(msgspec.Struct, frozen=True, kw_only=True):
    """What was exported: the recording, its context and the time range asked for."""

    source: str
    context: str
    since: float
    until: float
    window: float = DEFAULT_WINDOW_S


def when(moment: float) -> str:
    """A moment in UTC, to the second: ``2026-12-07 20:04:05Z``."""
    return _second(int(moment // 1))


@functools.lru_cache(maxsize=4096)
def _second(second: int) -> str:
    # A busy hour records hundreds of entries per second: format each second once.
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


@functools.lru_cache(maxsize=1 << 16)
def md(text: str) -> str:
    """Untrusted text as one line of literal Markdown (safe in a table cell). Cached: the
    same kinds, objects, actors and changes recur thousands of times in an hour."""
    return _MD_SPECIAL.sub(r"\\\1", _CONTROL.sub(" ", text)).strip()


def _object(e: TimelineEntry) -> str:
    where = f"{e.namespace}/{e.name}" if e.namespace else e.name
    return f"{e.object_kind} {where}".strip()


def _line(e: TimelineEntry) -> str:
    """An entry as one Markdown bullet: when, what, on what, by whom."""
    text = f"**{when(e.at)}** {md(_object(e))}: {md(e.change or e.after or e.kind)}"
    if e.actor:
        text += f", by {md(e.actor)}"
    if e.revision:
        text += f", rev {md(e.revision)}"
    if e.detail:
        text += f" ({md(e.detail)})"
    return f"- {text}"


_HEALTHY_AGAIN: Final = re.compile(r"\bhealth \S+ -> Healthy\b")
_ROLLED_OUT: Final = re.compile(r"-> NewReplicaSetAvailable\b|\brollout complete\b")


def _recovered(e: TimelineEntry) -> bool:
    """Alerts resolving, rollouts completing (the Deployment's Progressing reason
    NewReplicaSetAvailable), apps back to Healthy, nodes Ready again."""
    if e.kind == "alert":
        return not is_firing(e)
    if e.kind == "rollout":
        return bool(_ROLLED_OUT.search(e.change))
    if e.kind == "app":
        return bool(_HEALTHY_AGAIN.search(e.change))
    return e.kind == "node" and e.after.startswith("Ready=True") and "-> Ready=True" in e.change


def _plural(count: int, word: str) -> str:
    if count == 1:
        return f"1 {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("y") else f"{count} {word}s"


def _section(title: str, lines: Sequence[str], empty: str) -> list[str]:
    return [f"## {title}", "", *(lines or [f"_{empty}_"]), ""]


def _prepared(entries: Sequence[TimelineEntry], earlier: Sequence[TimelineEntry],
              span: Span) -> tuple[list[TimelineEntry], list[str], list[Correlation]]:
    """The entries oldest first (equal times keep the recording's order), their kinds, and
    the correlation of each firing alert among them; ``earlier`` (changes before the range)
    only serve as candidates, so an alert early in the range still names the change it
    followed. Only alerts and changes reach the correlation (nothing else can be either)."""
    ordered = sorted(entries, key=_AT)
    kinds = column(ordered, "kind")
    relevant = list(compress(ordered, map(_CORRELATED.__contains__, kinds)))
    alerts = {id(e) for e in relevant if e.kind == "alert"}
    before = [e for e in earlier if e.kind in _CORRELATED]
    found = correlate([*before, *relevant], window=span.window) if alerts else []
    return ordered, kinds, [c for c in found if id(c.alert) in alerts]


def _of_kinds(ordered: Sequence[TimelineEntry], kinds: Sequence[str],
              wanted: frozenset[str]) -> list[TimelineEntry]:
    """The entries of the ``wanted`` kinds, in order (selected in C)."""
    return list(compress(ordered, map(wanted.__contains__, kinds)))


def _table(ordered: Sequence[TimelineEntry]) -> str:
    """The timeline table's rows (six cells a row, one row a line). Row by row with no Python
    call inside (the escaping and the second's text are C-level cache hits): measured faster
    than building it column by column, unlike the CSV's twenty cells a row."""
    esc, second = md, _second
    rows: list[str] = []
    add = rows.append
    for e in ordered:
        where = f"{e.object_kind} {e.namespace}/{e.name}" if e.namespace else \
            f"{e.object_kind} {e.name}"
        actor = f"{e.actor} @ {e.revision}" if e.actor and e.revision else e.actor or e.revision
        add(f"| {second(floor(e.at))} | {e.kind} | {esc(where)} | {esc(e.change or e.after)} | "
            f"{esc(actor)} | {esc(e.detail)} |")
    return "\n".join(rows)


def to_markdown(entries: Sequence[TimelineEntry], span: Span,
                earlier: Sequence[TimelineEntry] = ()) -> str:
    """The post-mortem draft: summary, what changed, what fired (with the change each alert
    followed), what we did, when it recovered, and the full timeline as a table."""
    ordered, kinds, correlations = _prepared(entries, earlier, span)
    alerts = _of_kinds(ordered, kinds, _ALERTS)
    last_state: dict[tuple[str, ...], bool] = {}
    for e in alerts:  # the same alert on another object is another alert
        last_state[(e.name, e.namespace, e.workload, e.app, alert_target(e))] = is_firing(e)
    still = sorted({ident[0] for ident, firing in last_state.items() if firing})
    changes = [e for e in _of_kinds(ordered, kinds, _CHANGED)
               if e.kind in _CONDITIONS or is_change(e)]
    ours = _of_kinds(ordered, kinds, _WHAT_WE_DID)
    recovered = [e for e in _of_kinds(ordered, kinds, _RECOVERING) if _recovered(e)]
    gaps = _of_kinds(ordered, kinds, _GAPS)
    out = [f"# Incident timeline: {md(span.context)}", "",
           f"{when(span.since)} to {when(span.until)} (UTC), from {md(span.source)}.", "",
           "## Summary", ""]
    out.append(f"- {_plural(len(ordered), 'entry')}: {_plural(len(changes), 'change')}, "
               f"{_plural(len(correlations), 'alert')} fired, "
               f"{_plural(len(ours), 'action')} by us or the team, "
               f"{_plural(len(recovered), 'recovery')}.")
    if correlations:
        first = correlations[0]
        out.append(f"- First alert: {md(first.words)}, at {when(first.alert.at)}.")
    if still:
        out.append(f"- **Still firing at the end of the export**: "
                   f"{md(', '.join(still))}.")
    elif correlations:
        last = max((e for e in recovered if e.kind == "alert"), key=lambda e: e.at,
                   default=None)
        if last is not None:
            out.append(f"- Every alert resolved by {when(last.at)}.")
    if gaps:
        out.append(f"- **The recording has {len(gaps)} source gap or recovery entries**: "
                   "what happened meanwhile may be missing (see the timeline).")
    out.append("")
    out += _section("What changed", [_line(e) for e in changes], "no change recorded")
    out += _section("What fired", [_fired(c) for c in correlations], "no alert fired")
    out += _section("What we did", [_line(e) for e in ours], "no action recorded")
    out += _section("When it recovered", [_line(e) for e in recovered],
                    "no recovery recorded: alerts still firing or rollouts unfinished")
    out += ["## Timeline", "", "| time (UTC) | kind | object | change | actor | detail |",
            "|---|---|---|---|---|---|"]
    if ordered:
        out.append(_table(ordered))
    return "\n".join(out) + "\n"


def _fired(c: Correlation) -> str:
    return f"- **{when(c.alert.at)}** {md(c.words)}"


def to_json(entries: Sequence[TimelineEntry], span: Span,
            earlier: Sequence[TimelineEntry] = ()) -> str:
    """The entries (oldest first, every field exact) and, per firing alert, its index in
    ``entries`` with the change it followed (the whole entry: it may precede the range;
    null: none recorded) and the words."""
    return _json_bytes(entries, span, earlier).decode()


def _json_bytes(entries: Sequence[TimelineEntry], span: Span,
                earlier: Sequence[TimelineEntry]) -> bytes:
    """:func:`to_json` as the encoder writes it (UTF-8 bytes, never a str in between: an
    hour of the worst flood is 90 MB of JSON, and each copy of it costs)."""
    ordered, _kinds, found = _prepared(entries, earlier, span)
    index = dict(zip(map(id, ordered), count())) if found else {}
    correlations = [{"alert": index[id(c.alert)], "change": c.change,
                     "change_index": index.get(id(c.change)), "carried_by": c.carried_by,
                     "also": c.also, "words": c.words} for c in found]
    doc = {"format": JSON_FORMAT, "version": JSON_VERSION, "source": span.source,
           "context": span.context, "since": _rfc3339(span.since),
           "until": _rfc3339(span.until), "window_seconds": span.window,
           "entries": ordered, "correlations": correlations}
    return msgspec.json.encode(doc) + b"\n"


def to_csv(entries: Sequence[TimelineEntry], span: Span,
           earlier: Sequence[TimelineEntry] = ()) -> str:
    """One row per entry (oldest first): :data:`CSV_COLUMNS`, times as Python writes a float,
    a formula's start neutralised (:mod:`backends.timeline.csvrows`)."""
    ordered, _kinds, found = _prepared(entries, earlier, span)
    by_alert = {id(c.alert): c.words for c in found}
    return csv_rows(ordered, list(Memo(_second).over(seconds(column(ordered, "at")))),
                    list(map(by_alert.get, map(id, ordered), repeat(""))))


def render_bytes(entries: Sequence[TimelineEntry], span: Span, fmt: ExportFormat,
                 earlier: Sequence[TimelineEntry] = ()) -> bytes:
    """:func:`render` as the UTF-8 bytes of the file (what ``-o`` writes): the JSON
    straight from its encoder."""
    if fmt == "json":
        return _json_bytes(entries, span, earlier)
    return render(entries, span, fmt, earlier).encode()


def render(entries: Sequence[TimelineEntry], span: Span, fmt: ExportFormat,
           earlier: Sequence[TimelineEntry] = ()) -> str:
    """The export in ``fmt`` (``earlier``: changes before the range, for correlation)."""
    if fmt == "md":
        return to_markdown(entries, span, earlier)
    if fmt == "json":
        return to_json(entries, span, earlier)
    if fmt == "csv":
        return to_csv(entries, span, earlier)
    raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
