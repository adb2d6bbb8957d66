"""Small file-system helpers shared by the writers that must not lose data (the journal, the
baseline snapshots)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_dir"]


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
