"""``timeline``: a recording written out for the post-mortem (Markdown, JSON or CSV).

``controlroom timeline FILE-or-CONTEXT [--since 2h] [--until T] [--format md|json|csv]
[-o OUT]`` reads a recording (:mod:`backends.timeline.store`) and writes the entries of the
range with the change each alert followed (:mod:`backends.timeline.export`). No cluster is
contacted: the recording is the evidence, and the export works on a laptop after the fact.

FILE-or-CONTEXT: an existing file is read as a recording; anything else is a context name
(a directory of the same name does not hide a context's recording),
whose recording is the one ``controlroom record`` writes by default
(:func:`~backends.timeline.store.default_path` under ``--state-dir``). Changes before
``--since`` (within the correlation window) are read too, so an alert early in the range
still names the change it followed.

Exit codes: 0 written; 2 a bad flag, no such recording, a file that is not a recording or is
truncated or corrupt (named with the problem, the file left as it is), or an output file that
exists (an edited draft is never overwritten without ``--force``).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Final

from backends.sanitize import clean
from cli.session import OK, USAGE, CommandState, fail, journal_path

__all__ = ["recording_path", "timeline"]

_TERMINAL_UNSAFE: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters a terminal would act on (a recording is a file anyone could have
handed us): removed from what is printed to a terminal, never from a file written."""


def _moment(flag: str, value: str | None) -> float | None:
    from backends.ops.journal_view import parse_since

    if value is None:
        return None
    try:
        return parse_since(value).timestamp()
    except ValueError as exc:
        fail(USAGE, str(exc).replace("--since", flag, 1))


def recording_path(args: argparse.Namespace) -> Path:
    """The recording FILE-or-CONTEXT names (module docstring); exit 2 when there is none."""
    from backends.timeline.store import default_path

    given = str(args.recording)
    path = Path(given).expanduser()
    if path.is_file():
        return path
    by_context = default_path(journal_path(args).parent, given)
    if by_context.exists():
        return by_context
    what = "a directory, not a timeline recording" if path.is_dir() else "no such file"
    fail(USAGE, f"no recording {clean(given, 300)}: {what}, and no recording of a context of "
         f"that name at {clean(str(by_context), 300)} (start one with `controlroom record`)")


def timeline(args: argparse.Namespace, state: CommandState) -> int:
    """Write the export to ``-o`` (atomically) or to stdout."""
    from backends.fsutil import FileWriteError, write_atomic
    from backends.timeline import feed
    from backends.timeline.correlate import CHANGE_KINDS, DEFAULT_WINDOW_S
    from backends.timeline.export import Span, render, render_bytes
    from backends.timeline.store import TimelineFileError, TimelineReader, file_size

    since = _moment("--since", args.since)
    until = _moment("--until", args.until)
    if since is not None and until is not None and until < since:
        fail(USAGE, "--until is before --since: nothing to export")
    if args.output is not None and args.output.exists() and not args.force:
        fail(USAGE, f"{clean(str(args.output), 300)} already exists; an export never "
             "replaces a file (an edited draft would be lost): choose another name or pass "
             "--force")
    path = recording_path(args)
    if args.output is not None and args.output.exists() and args.output.samefile(path):
        fail(USAGE, f"{clean(str(args.output), 300)} is the recording itself: write the "
             "export elsewhere")
    whole = file_size(path) <= feed.CHECK_WHOLE_BYTES
    try:
        with TimelineReader(path, check=whole) as reader:
            entries = reader.entries(since, until, newest_first=False)
            earlier = [] if since is None else [  # causes of the first alerts in the range
                e for e in reader.entries(since - DEFAULT_WINDOW_S, since, kinds=CHANGE_KINDS,
                                          newest_first=False) if e.at < since]
            recorded = reader.span()
            context = reader.meta.context
    except TimelineFileError as exc:
        fail(USAGE, clean(exc, 600))
    first, last = recorded or (time.time(), time.time())
    span = Span(source=str(path), context=context,
                since=since if since is not None else first,
                until=until if until is not None else max(last, since or last))
    if not whole:
        print(f"timeline: {clean(str(path), 300)} is {file_size(path) // 2**20} MB: only the "
              "pages this range needed were checked (they were sound), not the whole file",
              file=sys.stderr)
    if args.output is None:
        text = render(entries, span, args.format, earlier)
        sys.stdout.write(_TERMINAL_UNSAFE.sub("", text) if sys.stdout.isatty() else text)
        sys.stdout.flush()
        return OK
    try:
        write_atomic(args.output, render_bytes(entries, span, args.format, earlier),
                     overwrite=args.force)
    except FileWriteError as exc:
        fail(USAGE, clean(exc, 600))
    print(f"timeline: {len(entries)} entries of {clean(context, 200)} written to "
          f"{clean(str(args.output), 300)} ({args.format})", file=sys.stderr)
    return OK
