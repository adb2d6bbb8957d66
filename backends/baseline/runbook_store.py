"""Runbook ticks that survive a restart of the App: one small file per context in the state dir.

Why: the runbook is the change record of an update that can last longer than one App (a
crash, a reboot of the jump host, a colleague taking over in another terminal). Ticks that
vanish with the process make the operator re-tick from memory, which is exactly what a
checklist is there to avoid (issue 13, point 3).

Where and what: ``runbook-<context>.json`` beside the journal (the state dir, not the cache
dir: cache cleaners must not take it), mode 0600, written atomically
(:func:`backends.baseline.io.write_atomic`). It holds, per change id, the checklist as last
ticked, and which change is current; the App restores the current one at start. Only the
manual ticks matter: automatic items are re-evaluated from the store on every read anyway.

Reading is defensive like every file we read: a missing file is "nothing saved"; a file that
is not ours, too large, or of the wrong shape is a :class:`RunbookStoreError` naming the file
(the App says so once and starts with a fresh checklist; the file is left alone until the
next tick replaces it), and every string is sanitized on load.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Final

import msgspec

from backends.baseline.io import BaselineError, write_atomic
from backends.baseline.runbook import Checklist
from backends.sanitize import clean

__all__ = ["MAX_BYTES", "RunbookStoreError", "load_runbook", "runbook_path", "save_runbook"]

MAX_BYTES: Final = 1024 * 1024
"""A runbook file is a few KB; anything far larger is not one."""
_KEEP: Final = 20
"""Checklists of older changes kept per context (the current one always is)."""
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class RunbookStoreError(Exception):
    """The runbook file cannot be read or written; the message names the file."""


class _Saved(msgspec.Struct, frozen=True, kw_only=True):
    """The file: the context, the current change id, and each change's checklist."""

    context: str
    current: str = ""
    changes: dict[str, Checklist] = msgspec.field(default_factory=dict)


def runbook_path(state_dir: Path, context: str) -> Path:
    """``<state_dir>/runbook-<context, file-name safe>.json``."""
    safe = _SAFE.sub("_", context).strip("._-")[:80] or "cluster"
    return state_dir / f"runbook-{safe}.json"


def _read(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RunbookStoreError(f"runbook {path}: cannot open: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RunbookStoreError(f"runbook {path}: not a regular file")
        if info.st_size > MAX_BYTES:
            raise RunbookStoreError(f"runbook {path}: too large ({info.st_size:,} bytes)")
        return os.read(fd, MAX_BYTES + 1)
    except OSError as exc:
        raise RunbookStoreError(f"runbook {path}: cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _clean_checklist(checklist: Checklist) -> Checklist:
    items = tuple(msgspec.structs.replace(
        item, id=clean(item.id, 200), text=clean(item.text, 500), by=clean(item.by, 200),
        at=clean(item.at, 40) if item.at is not None else None,
        evidence=clean(item.evidence, 500)) for item in checklist.items)
    return msgspec.structs.replace(checklist, items=items,
                                   change_id=clean(checklist.change_id, 200))


def _load_all(path: Path, context: str) -> _Saved | None:
    data = _read(path)
    if data is None:
        return None
    try:
        saved = msgspec.json.decode(data, type=_Saved)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise RunbookStoreError(f"runbook {path}: not a controlroom runbook: "
                                f"{clean(exc, 200)}") from None
    if saved.context != context:
        raise RunbookStoreError(f"runbook {path}: written for another context "
                                f"({clean(saved.context, 100)!r})")
    return saved


def load_runbook(path: Path, context: str) -> Checklist | None:
    """The checklist of the current change of ``context`` saved at ``path``, or None when
    nothing was saved. Blocking (disk): call it from a thread on an event loop."""
    saved = _load_all(path, context)
    if saved is None:
        return None
    checklist = saved.changes.get(saved.current)
    return _clean_checklist(checklist) if checklist is not None else None


def save_runbook(path: Path, context: str, checklist: Checklist) -> None:
    """Make ``checklist`` the current change's of ``context`` at ``path`` (atomically, 0600;
    the directory is created 0700). Other changes' checklists are kept (the newest
    :data:`_KEEP`); an unreadable old file is replaced. Blocking (fsync)."""
    try:
        saved = _load_all(path, context)
    except RunbookStoreError:
        saved = None
    changes = dict(saved.changes) if saved is not None else {}
    changes.pop(checklist.change_id, None)
    changes[checklist.change_id] = checklist  # last = newest
    while len(changes) > _KEEP:
        del changes[next(iter(changes))]
    data = msgspec.json.encode(_Saved(context=context, current=checklist.change_id,
                                      changes=changes))
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, data, overwrite=True)
    except (OSError, BaselineError) as exc:
        raise RunbookStoreError(f"runbook {path}: cannot write: {clean(exc, 300)}") from exc
