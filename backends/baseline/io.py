"""Write baselines atomically and read them back defensively.

Writing (:func:`write_baseline`): the document is encoded first, then written to a temporary
file in the target's own directory (created 0600: a baseline names the cluster's workloads and
is nobody else's business), flushed and fsynced, and only then given its name; the directory is
fsynced too. A crash or a full disk leaves either the old state or the complete new file, never
half a baseline. By default an existing file is never replaced (the name is taken with a hard
link, which fails atomically if it exists): a baseline is a change record, and overwriting one
loses it. ``overwrite=True`` replaces atomically instead (reports a pipeline rewrites each run).

Reading (:func:`load_baseline`): a baseline file is untrusted input (operations.md section 10:
it may come from a ticket, another machine, an attacker). Every failure is a
:class:`BaselineError` naming the file and the problem: not a regular file, too large (over
:data:`MAX_BYTES`), empty, not JSON, truncated, not a controlroom snapshot, written by a newer
controlroom (schema version), a field of the wrong type (msgspec names the JSON path, e.g.
``$.nodes[0].cpu_m``). Every string, dict keys included, goes through
:func:`backends.sanitize.clean` (escape sequences and control characters removed, cut to
:data:`MAX_STRING` characters) BEFORE the document is typed, so nothing downstream ever sees a
hostile string; markup such as ``[bold red]`` stays literal text, for the UI renders it as plain
text. The file is opened read-only and never written: loading cannot damage it.

Both functions block (disk I/O, fsync): the control room calls them through
``asyncio.to_thread``; the headless commands call them directly.

Where files go: :func:`default_snapshot_dir` (``$CONTROLROOM_SNAPSHOT_DIR``, else the
platformdirs user data dir ``controlroom/snapshots``), named
``baseline-<context>-<UTC time>.json`` so that :func:`latest_snapshot` can find the newest one of
a context without opening every file.
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path
from typing import Any, Final

import msgspec
import platformdirs

from backends import fsutil
from backends.baseline.model import SCHEMA_VERSION, Baseline
from backends.sanitize import clean

__all__ = [
    "MAX_BYTES",
    "MAX_STRING",
    "SNAPSHOT_DIR_ENV",
    "BaselineError",
    "decode_baseline",
    "default_snapshot_dir",
    "encode_baseline",
    "latest_snapshot",
    "list_snapshots",
    "load_baseline",
    "snapshot_name",
    "write_atomic",
    "write_baseline",
]

MAX_BYTES: Final = 100 * 1024 * 1024
"""Larger files are refused unread: a real baseline of 30,000 pods is a few MB."""
MAX_STRING: Final = 4096
"""Longer strings in a loaded file are cut (with an ellipsis) to this many characters."""
SNAPSHOT_DIR_ENV: Final = "CONTROLROOM_SNAPSHOT_DIR"

_PREFIX: Final = "baseline-"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class BaselineError(Exception):
    """A baseline that cannot be written or read; the message names the file and why."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{clean(self.path, 500)}: {problem}")


# --------------------------------------------------------------------------- names


def default_snapshot_dir() -> Path:
    """Where baselines go unless ``--output`` says otherwise."""
    env = os.environ.get(SNAPSHOT_DIR_ENV)
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("controlroom")) / "snapshots"


def _safe(text: str) -> str:
    return _SAFE.sub("_", text).strip("._-")[:80] or "cluster"


def snapshot_name(baseline: Baseline) -> str:
    """``baseline-<context>-<YYYYmmddTHHMMSSZ>.json`` (the context made file-name safe)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(baseline.taken_at))
    return f"{_PREFIX}{_safe(baseline.context)}-{stamp}.json"


def list_snapshots(directory: Path | None = None, context: str | None = None) -> list[Path]:
    """Baseline files in ``directory`` (default: :func:`default_snapshot_dir`), newest first;
    only ``context``'s when given. Names only: no file is opened."""
    directory = directory or default_snapshot_dir()
    prefix = _PREFIX + (f"{_safe(context)}-" if context is not None else "")
    try:
        names = [p for p in directory.iterdir()
                 if p.name.startswith(prefix) and p.name.endswith(".json")]
    except OSError:
        return []
    if context is not None:  # "prod" must not match "prod-eu": the stamp follows the name
        stamp = re.compile(re.escape(prefix) + r"\d{8}T\d{6}Z(-\d+)?\.json$")
        names = [p for p in names if stamp.match(p.name)]
    return sorted(names, key=lambda p: (_stamp_of(p.name), p.name), reverse=True)


def _stamp_of(name: str) -> str:
    found = re.search(r"(\d{8}T\d{6}Z)(-\d+)?\.json$", name)
    return found.group(1) if found else ""


def latest_snapshot(context: str, directory: Path | None = None) -> Path | None:
    """The newest baseline of ``context`` in the snapshots dir, or None."""
    found = list_snapshots(directory, context)
    return found[0] if found else None


# --------------------------------------------------------------------------- writing


def encode_baseline(baseline: Baseline) -> bytes:
    """The file's bytes: indented JSON (a change record is read by people too)."""
    return msgspec.json.format(msgspec.json.encode(baseline), indent=1) + b"\n"


def write_atomic(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """:func:`backends.fsutil.write_atomic`, its failure as a :class:`BaselineError`.

    Raises :class:`BaselineError` when the file exists and ``overwrite`` is False, or when the
    disk refuses; a temporary file is never left behind.
    """
    try:
        fsutil.write_atomic(path, data, overwrite=overwrite)
    except fsutil.FileWriteError as exc:
        raise BaselineError(exc.path, exc.problem) from exc


def write_baseline(baseline: Baseline, path: Path | None = None, *,
                   directory: Path | None = None, overwrite: bool = False) -> Path:
    """Write ``baseline`` to ``path``, or under a fresh timestamped name in ``directory``
    (default: :func:`default_snapshot_dir`, created 0700); returns where it went."""
    data = encode_baseline(baseline)
    if path is not None:
        write_atomic(path, data, overwrite=overwrite)
        return path
    directory = directory or default_snapshot_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BaselineError(directory, f"cannot create the snapshots directory: "
                            f"{exc.strerror or exc}") from exc
    base = snapshot_name(baseline)
    for attempt in range(1, 100):
        name = base if attempt == 1 else base.replace(".json", f"-{attempt}.json")
        target = directory / name
        if target.exists():
            continue
        try:
            write_atomic(target, data)
        except BaselineError:
            if target.exists():  # taken between our check and our link: next name
                continue
            raise
        return target
    raise BaselineError(directory / base, "no free file name (99 baselines in one second?)")


# --------------------------------------------------------------------------- reading


def _read_bounded(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; a FIFO, a device or a directory is refused without blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise BaselineError(path, "no such file") from None
    except OSError as exc:
        raise BaselineError(path, f"cannot open: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BaselineError(path, "not a regular file")
        if info.st_size > max_bytes:
            raise BaselineError(path, f"too large ({info.st_size:,} bytes; a baseline is at "
                                f"most {max_bytes:,}): not a controlroom snapshot?")
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise BaselineError(path, f"cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise BaselineError(path, f"too large (more than {max_bytes:,} bytes)")
    return data


def _clean_tree(value: Any) -> Any:
    """Every string (and dict key) of a decoded JSON tree through :func:`clean`."""
    if isinstance(value, str):
        return clean(value, MAX_STRING)
    if isinstance(value, list):
        return [_clean_tree(item) for item in value]
    if isinstance(value, dict):
        return {clean(key, MAX_STRING): _clean_tree(item) for key, item in value.items()}
    return value


def decode_baseline(data: bytes, source: Path | str = "baseline") -> Baseline:
    """Validate and sanitize a baseline document; :class:`BaselineError` names the problem."""
    if not data.strip():
        raise BaselineError(source, "empty file: not a controlroom snapshot")
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        text = str(exc)
        if "truncated" in text:
            raise BaselineError(source, "truncated: the JSON ends early (was the file copied "
                                "or written completely?)") from None
        raise BaselineError(source, f"not JSON: {clean(text, 200)}") from None
    except RecursionError:
        raise BaselineError(source, "not a controlroom snapshot: nested too deeply") from None
    if not isinstance(raw, dict):
        raise BaselineError(source, f"not a controlroom snapshot: the top level is a "
                            f"{_json_type(raw)}, not an object")
    version = raw.get("schema_version")
    if version is None:
        raise BaselineError(source, "not a controlroom snapshot: no schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BaselineError(source, f"schema_version must be a whole number, got "
                            f"{_json_type(version)} - at `$.schema_version`")
    if version > SCHEMA_VERSION:
        raise BaselineError(source, f"written by a newer controlroom (schema version "
                            f"{version}; this one reads up to {SCHEMA_VERSION}): upgrade "
                            f"controlroom to read it")
    if version < 1:
        raise BaselineError(source, f"unknown schema version {version}")
    try:
        return msgspec.convert(_clean_tree(raw), Baseline)
    except msgspec.ValidationError as exc:
        raise BaselineError(source, f"wrong type: {clean(exc, 300)}") from None
    except RecursionError:
        raise BaselineError(source, "not a controlroom snapshot: nested too deeply") from None


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
             float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def load_baseline(path: Path, *, max_bytes: int = MAX_BYTES) -> Baseline:
    """Read, validate and sanitize the baseline at ``path`` (read-only; see the docstring)."""
    return decode_baseline(_read_bounded(path, max_bytes), path)
