"""Small file-system helpers shared by the writers that must not lose data (the journal, the
baseline snapshots, the timeline's exports). Kept light (no msgspec, no models): a headless
export imports it without the baseline's schema."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from backends.sanitize import clean

__all__ = ["FileWriteError", "fsync_dir", "write_atomic"]


class FileWriteError(Exception):
    """A file that could not be written; the message names the file and why."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{clean(self.path, 500)}: {problem}")


def fsync_dir(directory: Path) -> None:
    """Make a new or renamed entry in ``directory`` durable: a rename or a create lives in
    the directory, so a crash right after it could otherwise lose the file itself. Best
    effort: platforms and file systems that cannot fsync a directory are left alone."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` all or nothing, mode 0600.

    The bytes go to a temporary file in the target's own directory, flushed and fsynced, and
    only then get their name (a hard link: an existing file is never replaced unless
    ``overwrite``); the directory is fsynced too. A crash or a full disk leaves the old state
    or the whole new file, never half of one.

    Raises :class:`FileWriteError` when the file exists and ``overwrite`` is False, or when the
    disk refuses; a temporary file is never left behind.
    """
    directory = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise FileWriteError(path, f"cannot write here: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
        fsync_dir(directory)
    except OSError as exc:
        raise FileWriteError(path, f"cannot write: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _link_new(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` only if nothing has it (atomic with a hard link)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileWriteError(path, "already exists; refusing to overwrite it (choose another "
                            "name, or remove it first)") from None
    except OSError:
        # A file system without hard links: check, then rename (a tiny race, nothing worse
        # than what every editor does).
        if path.exists():
            raise FileWriteError(path, "already exists; refusing to overwrite it") from None
        os.replace(tmp, path)
