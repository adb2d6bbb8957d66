"""One job per module: no product file over 500 lines without a reason written at its top.

Why a test: a module grows one function at a time and nobody decides that it now has two
jobs; a limit makes the decision explicit. A file may be longer when its module docstring
says why, in a sentence starting with the marker below, e.g.::

    Over 500 lines because it is one port of apimachinery's strategicpatch, kept in the
    upstream order so it can be compared with the original function by function.

The marker belongs in the module docstring (the top of the file, where a reader looks first),
anywhere in it: usually as its last paragraph, after the description of the module's job that
the reason refers to.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("backends", "tui", "widgets", "cli", "drill", "controlroom", "themes")
LIMIT = 500
MARKER = "Over 500 lines because"

def _product_files() -> list[Path]:
    return sorted(p for room in ROOMS for p in (ROOT / room).rglob("*.py"))


def _has_reason(path: Path) -> bool:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return MARKER in " ".join(doc.split())


def test_no_product_file_is_over_the_limit_without_a_reason() -> None:
    too_long = []
    for path in _product_files():
        rel = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > LIMIT and not _has_reason(path):
            too_long.append(f"{rel}: {lines} lines")
    assert not too_long, (
        f"over {LIMIT} lines with no {MARKER!r} sentence in the module docstring "
        f"(split the module along its seams, or write why it is one job): {too_long}")


def test_the_marker_is_found_in_a_real_reason() -> None:
    """The check reads what it means to read (a reason wrapped over several lines)."""
    assert _has_reason(ROOT / "drill" / "patch.py")
