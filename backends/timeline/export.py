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
- CSV: the :mod:`csv` module's quoting (commas, quotes and line breaks inside a value);
  values are written exactly, so a spreadsheet user should import them as text;
- JSON: msgspec's encoder (exact, round-trips to :class:`~backends.timeline.entry.TimelineEntry`).

Times are UTC throughout (``2026-12-07 20:04:05Z`` in Markdown and CSV, Unix seconds and
RFC 3339 in JSON): a post-mortem is read across time zones.

Pure functions of the entries: the CLI (``controlroom timeline``) reads the recording and
writes the file; the benchmark times the same calls.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final, Literal, TypeAlias

import msgspec

from backends.timeline.correlate import (
    DEFAULT_WINDOW_S,
    Correlation,
    alert_target,
    correlate,
    is_change,
    is_firing,
)
from backends.timeline.entry import TimelineEntry

__all__ = ["FORMATS", "ExportFormat", "Span", "render", "to_csv", "to_json", "to_markdown"]

ExportFormat: TypeAlias = Literal["md", "json", "csv"]
FORMATS: Final[tuple[ExportFormat, ...]] = ("md", "json", "csv")

JSON_FORMAT: Final = "controlroom-timeline"
JSON_VERSION: Final = 1

CSV_EOL: Final = "\r\n"
"""RFC 4180's line ending (the csv module's default)."""
CSV_COLUMNS: Final = ("time", *TimelineEntry.__struct_fields__, "followed")
"""Every entry field, the time in words first and, for a firing alert, the correlation."""

_MD_SPECIAL: Final = re.compile(r"([\\`*_\[\]<|~&])")
"""What would start emphasis, code, a link, HTML, a table cell or an entity: escaped. (``>``,
``#`` and ``-`` only matter at a line's start, where a value never stands.)"""
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

_CONDITIONS: Final = frozenset({"gateway", "node"})
"""Not made on purpose, but what a post-mortem's "what changed" must show beside the changes."""
_WHAT_WE_DID: Final = frozenset({"journal", "bus"})


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
              span: Span) -> tuple[list[TimelineEntry], list[Correlation]]:
    """The entries oldest first (equal times keep the recording's order) and the correlation
    of each firing alert among them; ``earlier`` (changes before the range) only serve as
    candidates, so an alert early in the range still names the change it followed."""
    ordered = sorted(entries, key=lambda e: e.at)
    alerts = {id(e) for e in ordered}
    found = correlate([*earlier, *ordered], window=span.window)
    return ordered, [c for c in found if id(c.alert) in alerts]


def to_markdown(entries: Sequence[TimelineEntry], span: Span,
                earlier: Sequence[TimelineEntry] = ()) -> str:
    """The post-mortem draft: summary, what changed, what fired (with the change each alert
    followed), what we did, when it recovered, and the full timeline as a table."""
    ordered, correlations = _prepared(entries, earlier, span)
    last_state: dict[tuple[str, ...], bool] = {}
    for e in ordered:
        if e.kind == "alert":  # the same alert on another object is another alert
            last_state[(e.name, e.namespace, e.workload, e.app, alert_target(e))] = is_firing(e)
    still = sorted({ident[0] for ident, firing in last_state.items() if firing})
    changes = [e for e in ordered if is_change(e) or e.kind in _CONDITIONS]
    ours = [e for e in ordered if e.kind in _WHAT_WE_DID]
    recovered = [e for e in ordered if _recovered(e)]
    gaps = [e for e in ordered if e.kind == "source"]
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
    out.extend(f"| {when(e.at)} | {e.kind} | {md(_object(e))} | {md(e.change or e.after)} | "
               f"{md(_actor(e))} | {md(e.detail)} |" for e in ordered)
    return "\n".join(out) + "\n"


def _fired(c: Correlation) -> str:
    return f"- **{when(c.alert.at)}** {md(c.words)}"


def _actor(e: TimelineEntry) -> str:
    return f"{e.actor} @ {e.revision}" if e.revision and e.actor else e.actor or e.revision


def to_json(entries: Sequence[TimelineEntry], span: Span,
            earlier: Sequence[TimelineEntry] = ()) -> str:
    """The entries (oldest first, every field exact) and, per firing alert, its index in
    ``entries`` with the change it followed (the whole entry: it may precede the range;
    null: none recorded) and the words."""
    ordered, found = _prepared(entries, earlier, span)
    index = {id(e): i for i, e in enumerate(ordered)}
    correlations = [{"alert": index[id(c.alert)], "change": c.change,
                     "change_index": index.get(id(c.change)), "carried_by": c.carried_by,
                     "also": c.also, "words": c.words} for c in found]
    doc = {"format": JSON_FORMAT, "version": JSON_VERSION, "source": span.source,
           "context": span.context, "since": _rfc3339(span.since),
           "until": _rfc3339(span.until), "window_seconds": span.window,
           "entries": ordered, "correlations": correlations}
    return msgspec.json.encode(doc).decode() + "\n"


@functools.lru_cache(maxsize=1 << 16)
def _csv_cell(value: str) -> str:
    """One field as the :mod:`csv` module writes it (quoted when it holds a comma, a quote
    or a line break). Each distinct value once: the writer's per-field scan cost ~10 us a
    row, and an hour's values recur (kinds, objects, actors, changes)."""
    if not value:
        return ""  # a lone empty field is written '""' by csv; in a row it is nothing
    buffer = io.StringIO()
    # The rows' terminator (RFC 4180's CRLF): csv quotes a field holding one of its
    # characters, so a lone CR or LF inside a value is quoted too.
    csv.writer(buffer, lineterminator=CSV_EOL).writerow((value,))
    return buffer.getvalue()[:-len(CSV_EOL)]


def to_csv(entries: Sequence[TimelineEntry], span: Span,
           earlier: Sequence[TimelineEntry] = ()) -> str:
    """One row per entry (oldest first): :data:`CSV_COLUMNS`; times as Python writes a
    float (exact: it reads back to the same number)."""
    ordered, found = _prepared(entries, earlier, span)
    followed = {id(c.alert): c.words for c in found}
    cell = _csv_cell
    lines = [",".join(CSV_COLUMNS)]
    for e in ordered:
        lines.append(",".join((
            when(e.at), repr(e.at), repr(e.seen), cell(e.context), cell(e.kind),
            cell(e.namespace), cell(e.name), cell(e.object_kind), cell(e.app),
            cell(e.workload), cell(e.change), cell(e.before), cell(e.after), cell(e.actor),
            cell(e.actor_kind), cell(e.revision), cell(e.severity), cell(e.detail),
            cell(followed.get(id(e), "")))))
    return CSV_EOL.join(lines) + CSV_EOL


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
