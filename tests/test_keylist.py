"""The help screen's key list (widgets/keylist.py): one light widget instead of a DataTable
(issue 16, point 5, key to paint under a flood). What it must keep: every word of every
description, at any width, in three aligned columns when there is room."""

from __future__ import annotations

from widgets.keylist import HEADER, KeyList

ROWS = [
    ("⏎", "Open", "Details of the selected row (a pod's containers and exit codes, an Argo CD "
                  "app's resource tree and history...)"),
    (":", "Go to", "Jump to a panel by name (:pods :deploy :apps :routes :alerts :events "
                   ":nodes, k9s short names :po :no :ev, any unambiguous prefix)"),
    ("ctrl+r", "Release", "Release the circuit breaker: restore everything from the journal"),
    ("[", "markup?", "[bold]not markup[/bold] and $dollars stay as they are"),
    ("x", "Blank", ""),
]


def _letters(text: str) -> str:
    """The text without its spaces (a word longer than the width is broken, not dropped)."""
    return "".join(text.split())


def test_every_word_is_kept_in_order_at_any_width() -> None:
    keys = KeyList(ROWS)
    expected = _letters(" ".join(cell for row in [HEADER, *ROWS] for cell in row))
    for width in (200, 90, 60, 40, 24, 12):
        assert _letters(" ".join(keys.lines(width))) == expected, width
        if width >= 24:
            assert all(len(line) <= width for line in keys.lines(width)), width


def test_descriptions_share_one_column_and_wrap_under_it() -> None:
    keys = KeyList(ROWS)
    lines = keys.lines(70)
    indent = len("ctrl+r") + 2 + len("Release") + 2  # the widest key and action, the gaps
    assert lines[0].startswith("key") and lines[0][indent:].startswith("what it does")
    release = next(line for line in lines if line.startswith("ctrl+r"))
    assert release[indent:].startswith("Release the circuit breaker")
    assert all(len(line) <= 70 for line in lines)
    # a wrapped description goes on under its own column, not under the keys
    wrapped = lines[lines.index(next(ln for ln in lines if ln.startswith(":"))) + 1]
    assert wrapped[:indent].strip() == "" and wrapped[indent:].strip()


def test_too_narrow_for_columns_puts_the_description_under_its_key() -> None:
    lines = KeyList(ROWS).lines(24)
    at = lines.index(next(line for line in lines if line.startswith("ctrl+r")))
    assert lines[at].split() == ["ctrl+r", "Release"]
    assert lines[at + 1].startswith("    Release the")


def test_same_rows_are_not_laid_out_again() -> None:
    keys = KeyList(ROWS)
    first = keys.lines(80)
    assert not keys.set_rows(list(ROWS))
    assert keys.set_rows(ROWS[:1])
    assert keys.rows == tuple(ROWS[:1]) and keys.lines(80) != first
