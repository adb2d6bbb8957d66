"""Untrusted text is made terminal-safe (operations.md section 10), and fast."""

from __future__ import annotations

import re

import pytest

from backends import sanitize
from backends.sanitize import ELLIPSIS, clean, clean_multiline

HOSTILE = [
    "\x1b[31mred\x1b[0m",
    "\x1b]52;c;ZXZpbA==\x07",
    "\x1b]52;c;ZXZpbA==\x1b\\",
    "\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07",
    "\x1b]0;title",  # unterminated OSC
    "\x1bP1$r0m\x1b\\",  # DCS
    "\x1b_apc payload\x1b\\",
    "\x1b^pm\x1b\\",
    "\x1bXsos\x1b\\",
    "\x9b31m",  # 8-bit CSI
    "\x9d52;c;ZXZpbA==\x9c",  # 8-bit OSC with 8-bit ST
    "\x1bc",  # full reset
    "\x1b7\x1b8",
    "\x1b(B",
    "\x1b",
    "a\x00b\x07c\x08d\x7fe\x85f",
    "\u202eevil\u202c \u2066iso\u2069",
    "zero\u200bwidth\u200e\ufeff",
    "line\u2028sep\u2029",
]


def _assert_safe(text: str, *, allow_newline: bool = False) -> None:
    for ch in text:
        if allow_newline and ch == "\n":
            continue
        assert ch.isprintable(), f"unprintable {ch!r} in {text!r}"
        assert not 0x80 <= ord(ch) <= 0x9F
        assert ch != "\x1b"


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_comes_out_printable(text: str) -> None:
    _assert_safe(clean(text))
    _assert_safe(clean_multiline(text), allow_newline=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b[1;38;5;196mx", "x"),
        ("pre\x1b]52;c;ZXZpbA==\x07post", "prepost"),
        ("\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07", "click"),
        ("a\x1b]0;title", "a"),
        ("\x1bP1$r0m\x1b\\ok", "ok"),
        ("\x9b31mred", "red"),
        ("\x9d52;c;ZXZpbA==\x9cok", "ok"),
        ("x\x1bcy", "xy"),
        ("x\x1b(By", "xy"),
        ("x\x1b", "x"),
        ("a\x00b\x07c\x08d\x7fe\x85f", "abcdef"),
        ("\u202eevil\u202c", "evil"),
        ("\u2066iso\u2069", "iso"),
        ("non\u00a0breaking", "non breaking"),
        ("tab\there", "tab here"),
        ("two\nlines\r\n", "two lines  "),
    ],
)
def test_clean_removes_exactly_the_controls(text: str, expected: str) -> None:
    assert clean(text) == expected


def test_markup_is_left_alone_because_the_ui_renders_plain_text() -> None:
    for text in ("[bold red]x[/]", "[@click=app.quit]q", "[link=http://x]y"):
        assert clean(text) == text


def test_unicode_text_survives() -> None:
    for text in ("café", "日本語", "naïve ✓", "Ünïcödé 🚀", "e\u0301"):
        assert clean(text) == text


def test_non_strings_and_none() -> None:
    assert clean(None) == ""
    assert clean(42) == "42"
    assert clean(b"x") == "b'x'"
    assert clean_multiline(None) == ""


def test_multiline_keeps_newlines_and_normalises_cr() -> None:
    assert clean_multiline("a\nb") == "a\nb"
    assert clean_multiline("a\r\nb\rc") == "a\nb\nc"
    assert clean_multiline("x\ty") == "x       y"
    assert clean_multiline("\x1b[2Ja\n\x1b]52;c;QQ==\x07b") == "a\nb"
    assert clean_multiline("a\u2028b") == "ab"


def test_truncation_with_ellipsis() -> None:
    assert clean("abcdef", max_len=4) == "abc" + ELLIPSIS
    assert clean("abcd", max_len=4) == "abcd"
    assert clean("\x1b[31m" + "é" * 10, max_len=5) == "é" * 4 + ELLIPSIS
    assert clean("x" * 10, max_len=0) == ""
    assert clean_multiline("line\n" * 100, max_len=10) == "line\nline" + ELLIPSIS


class Seen:
    """Stands in for one of the sanitizer's compiled patterns and records the length of every
    string it is asked to scan: the work is counted, not timed."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.lengths: list[int] = []

    def sub(self, repl: str, s: str) -> str:
        self.lengths.append(len(s))
        return self.pattern.sub(repl, s)


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> Seen:
    """Every scan the escape regex does during the test."""
    seen = Seen(sanitize._ESCAPES)  # noqa: SLF001
    monkeypatch.setattr(sanitize, "_ESCAPES", seen)
    return seen


def test_huge_input_is_bounded(scans: Seen) -> None:
    huge = "\x1b[31m" + "a" * 10_000_000
    out = clean(huge, max_len=100)
    assert len(out) == 100
    # The regex saw a bounded prefix (4 x max_len + 64), never the ten million characters.
    assert scans.lengths and max(scans.lengths) <= 4 * 100 + 64, scans.lengths


def test_fast_path_is_fast(scans: Seen) -> None:
    """Plain names take the C-level check only: the regex never runs on them (a regex on
    every call would be the slow path this guards against)."""
    names = [f"pod-{i}-abcdef" for i in range(100_000)]
    for name in names:
        assert clean(name) == name
    assert scans.lengths == []
    clean("\x1b[31mred")
    assert scans.lengths == [len("\x1b[31mred")]  # the counter does see a real scan


def test_every_code_point_comes_out_safe() -> None:
    """Exhaustive: no code point, alone or among others, survives as a control character."""
    everything = "".join(chr(cp) for cp in range(0x110000))
    chunk = 8192
    for start in range(0, len(everything), chunk):
        text = everything[start : start + chunk]
        single = clean(text, max_len=chunk * 2)
        _assert_safe(single)
        assert "\n" not in single
        _assert_safe(clean_multiline(text, max_len=chunk * 2), allow_newline=True)
        assert clean(single, max_len=chunk * 2) == single  # idempotent


# ---------------------------------------------------------------- plain_line

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from backends.sanitize import plain_line  # noqa: E402

_parts = st.lists(st.one_of(st.text(max_size=40), st.text("abc-./:", max_size=700)), max_size=6)


@given(_parts, st.integers(min_value=1, max_value=1200))
def test_plain_line_true_means_clean_changes_no_part(parts: list[str], limit: int) -> None:
    """When the joined check says plain, cleaning each part with that limit changes nothing
    (the contract). It may say "not plain" for text clean would keep (printable non-ASCII:
    the careful way is taken), but never for short printable ASCII, the common case."""
    joined = "".join(parts)
    if plain_line(joined, limit):
        assert all(clean(part, limit) == part for part in parts)
    elif joined.isascii() and joined.isprintable():
        assert len(joined) > limit


def test_plain_line_rejects_what_clean_would_touch() -> None:
    assert plain_line("ns" + "pod-1" + "Running", 64)
    assert not plain_line("ns" + "pod\x1b[31m" + "Running", 64)
    assert not plain_line("tab\there", 64)
    assert not plain_line("caf\u00e9", 64), "non-ASCII goes the careful way"
    assert not plain_line("x" * 65, 64)
