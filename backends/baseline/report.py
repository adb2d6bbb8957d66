"""Diffs and validations as text for a terminal, JSON for tools, JUnit XML for pipelines.

Every string in a :class:`~backends.baseline.diff.Diff` or a
:class:`~backends.baseline.validate.Validation` was sanitized where it entered the program (the
live store's decoders, or :func:`backends.baseline.io.load_baseline`), so the text renderings
print it as is; they never build markup. The JUnit document is built with
:mod:`xml.etree.ElementTree`, which escapes every value, and has one ``testcase`` per check
(``failure`` with the evidence for a failed check, ``skipped`` with the reason for a skipped
one), so a CI system shows each rule as a test with the offending objects in its message.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import Final

import msgspec

from backends.baseline.diff import Diff
from backends.baseline.model import Baseline
from backends.baseline.validate import Validation

__all__ = [
    "FORMATS",
    "render_baseline_summary",
    "render_diff_json",
    "render_diff_text",
    "render_validation",
    "render_validation_json",
    "render_validation_junit",
    "render_validation_text",
    "utc",
]

FORMATS: Final = ("text", "json", "junit")
_TAG: Final = {"worse": "WORSE", "better": "better", "changed": "changed"}
_STATUS: Final = {"pass": "PASS", "fail": "FAIL", "skip": "skip", "unknown": "????"}
"""``????``: cannot check (the data was not readable); it stands out, and is not PASS."""
_MESSAGE_ITEMS: Final = 5
"""Evidence lines quoted in a JUnit failure's one-line ``message`` (all are in the body)."""


def utc(epoch: float | None) -> str:
    """``2026-11-26 15:04:05 UTC`` (or ``?``): the one time format of every report."""
    if epoch is None:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def render_baseline_summary(b: Baseline) -> str:
    """A few lines saying what a baseline holds (``controlroom snapshot`` prints them)."""
    problems = len(b.problem_pods)
    pods = sum(g.total for g in b.pods)
    firing = sum(1 for a in b.alerts if a.state in ("firing", "active"))
    lines = [
        f"baseline of context {b.context} (cluster {b.cluster}) taken {utc(b.taken_at)} by "
        f"{b.operator or '?'}" + (f", change {b.change_id}" if b.change_id else ""),
        f"  {len(b.nodes)} nodes ({sum(1 for n in b.nodes if n.ready != 'True')} not Ready), "
        f"{len(b.workloads)} deployments, {pods} pods ({problems} not running or not ready), "
        f"{len(b.apps)} apps, {len(b.routes)} routes, {firing} firing alerts, "
        f"{len(b.endpoints)} endpoints, {len(b.signals)} signals, {len(b.events)} warning "
        "events",
    ]
    lines.extend(f"  not captured: {section}: {why}" for section, why in b.missing.items())
    lines.extend(f"  note: {note}" for note in b.notes)
    return "\n".join(lines)


def render_diff_text(d: Diff, *, limit: int = 50) -> str:
    """The diff as the terminal shows it: counts, then each kind worst first. At most
    ``limit`` items per kind are printed (the rest are counted)."""
    worse, better, changed = (len(d.of(s)) for s in ("worse", "better", "changed"))
    lines = [f"Diff against the baseline of {d.baseline_context} taken "
             f"{utc(d.baseline_taken_at)}"
             + (f" (change {d.baseline_change_id})" if d.baseline_change_id else "")
             + f"; now {utc(d.current_taken_at)}",
             f"worse: {worse}  better: {better}  changed: {changed}"]
    if not d.items:
        lines.append("nothing changed")
    for kind, items in d.groups():
        n_worse = sum(1 for i in items if i.severity == "worse")
        lines.append("")
        lines.append(f"{kind} ({n_worse} worse, {len(items) - n_worse} other)")
        for item in items[:limit]:
            change = f"  [{item.before} -> {item.after}]" if item.before or item.after else ""
            lines.append(f"  {_TAG[item.severity]:<7} {item.key}: {item.what}{change}")
        if len(items) > limit:
            lines.append(f"  ... and {len(items) - limit} more")
    if d.notes:
        lines.append("")
        lines.extend(f"note: {note}" for note in d.notes)
    return "\n".join(lines)


def render_diff_json(d: Diff) -> str:
    """The diff as JSON (the :class:`Diff` struct, items in display order)."""
    return msgspec.json.format(msgspec.json.encode(d), indent=2).decode()


def render_validation_text(v: Validation) -> str:
    """One line per check (PASS/FAIL/skip/????), the evidence under each one that did not
    pass, and a verdict: PASSED, FAILED (something is known to be wrong), or CANNOT CHECK
    (nothing failed, but something could not be looked at)."""
    lines = [f"Validation of context {v.context} at {utc(v.taken_at)}"
             + (f" against the baseline of {utc(v.baseline_taken_at)}"
                if v.baseline_taken_at is not None else "")
             + (f" (change {v.baseline_change_id})" if v.baseline_change_id else "")]
    for check in v.checks:
        lines.append(f"  {_STATUS[check.status]:<4} {check.id}: {check.description}")
        if check.status != "pass":
            lines.extend(f"         {line}" for line in check.evidence)
    unknown = (f"{len(v.unknown)} check(s) could not be made: "
               + ", ".join(c.id for c in v.unknown)) if v.unknown else ""
    if v.verdict == "failed":
        lines.append(f"FAILED: {len(v.failures)} check(s) failed: "
                     + ", ".join(c.id for c in v.failures) + (f"; {unknown}" if unknown else ""))
    elif v.verdict == "unknown":
        lines.append(f"CANNOT CHECK: {unknown}")
    else:
        lines.append("PASSED")
    return "\n".join(lines)


def render_validation_json(v: Validation) -> str:
    """The validation as JSON, with ``passed`` spelled out for tools."""
    body = msgspec.to_builtins(v)
    body["passed"] = v.passed
    body["verdict"] = v.verdict
    return msgspec.json.format(msgspec.json.encode(body), indent=2).decode()


def render_validation_junit(v: Validation) -> str:
    """JUnit XML: one ``testsuite`` for the run, one ``testcase`` per check. A check that
    could not be made is an ``error`` (the test could not run), never a pass or a skip."""
    failures = len(v.failures)
    errors = len(v.unknown)
    skipped = sum(1 for c in v.checks if c.status == "skip")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(v.taken_at))
    root = ET.Element("testsuites", name="controlroom validate", tests=str(len(v.checks)),
                      failures=str(failures), errors=str(errors), skipped=str(skipped))
    suite = ET.SubElement(root, "testsuite", name=f"controlroom validate {v.context}",
                          tests=str(len(v.checks)), failures=str(failures), errors=str(errors),
                          skipped=str(skipped), timestamp=stamp, time="0")
    props = ET.SubElement(suite, "properties")
    for name, value in (("context", v.context), ("cluster", v.cluster),
                        ("baseline_taken_at", utc(v.baseline_taken_at)
                         if v.baseline_taken_at is not None else ""),
                        ("change_id", v.baseline_change_id)):
        ET.SubElement(props, "property", name=name, value=value)
    for check in v.checks:
        case = ET.SubElement(suite, "testcase", classname="controlroom.validate",
                             name=f"{check.id}: {check.description}", time="0")
        if check.status == "fail":
            shown = "; ".join(check.evidence[:_MESSAGE_ITEMS])
            more = len(check.evidence) - _MESSAGE_ITEMS
            message = f"{len(check.evidence)} offending: {shown}" + (
                f"; and {more} more" if more > 0 else "")
            failure = ET.SubElement(case, "failure", message=message[:2000],
                                    type="ValidationFailure")
            failure.text = "\n".join(check.evidence)
        elif check.status == "unknown":
            error = ET.SubElement(case, "error", message="; ".join(check.evidence)[:2000],
                                  type="CannotCheck")
            error.text = "\n".join(check.evidence)
        elif check.status == "skip":
            ET.SubElement(case, "skipped", message="; ".join(check.evidence)[:2000])
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def render_validation(v: Validation, fmt: str) -> str:
    """``fmt`` is one of :data:`FORMATS`."""
    if fmt == "json":
        return render_validation_json(v)
    if fmt == "junit":
        return render_validation_junit(v)
    if fmt == "text":
        return render_validation_text(v)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
