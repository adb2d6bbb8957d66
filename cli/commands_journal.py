"""``journal``: every write the control room made (or refused), from the journal alone."""

from __future__ import annotations

import argparse

from backends.sanitize import clean
from cli.render import out
from cli.session import OK, USAGE, CommandState, fail, journal_path, settings_of

__all__ = ["journal"]


def journal(args: argparse.Namespace, state: CommandState) -> int:
    """Print the journal; no cluster is contacted. A journal that does not exist yet is
    empty (reading must not create the file)."""
    from backends.ops.journal import JournalDB, JournalError
    from backends.ops.journal_view import format_entries, parse_since

    since = None
    if args.since is not None:
        try:
            since = parse_since(args.since)
        except ValueError as exc:
            fail(USAGE, str(exc))
    settings_of(args)  # a bad --config is reported like everywhere else
    path = journal_path(args)
    if not path.exists():
        return OK
    try:
        with JournalDB.open(path) as db:
            entries = db.entries(since=since, context=getattr(args, "context", None))
    except JournalError as exc:
        fail(USAGE, clean(exc, 500))
    text = format_entries(entries)
    if text:
        out(text)
    return OK
