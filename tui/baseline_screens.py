"""The baseline keys' screens: the change id question, the diff, and the validation report.

- :class:`ChangeIdScreen` asks ``b``'s one question (which change is this baseline for?) and
  returns the answer, or None when the operator backs out: nothing is captured then.
- :class:`DiffScreen` shows :func:`backends.baseline.diff.diff` the way the on-call reads it
  during an update: the kind with the worst item first, a header per kind counting what got
  worse, better and changed, then one line per item (``key: what: before -> after``) coloured
  by severity, and at the bottom what could not be compared (so "nothing worse" is never read
  into data nobody saw).
- :class:`ValidationScreen` shows :func:`backends.baseline.validate.validate`: the verdict
  first (that is the question being asked), then one line per check with its evidence.

Everything on these screens comes from a baseline, and a baseline may be a file from anywhere
(a ticket, another machine): it is untrusted text. It was sanitized on load, and here it only
ever enters :class:`~textual.content.Content` as plain parts (``Content.assemble`` never parses
markup), so ``[bold red]`` shows as those characters. Content rather than ``rich.text.Text``
because its styles may name theme variables (``$text-error``): the colours follow the theme
like every panel's, with no hex anywhere. Widget ids are fixed names, never built from kinds
or keys.

Lists are capped (:data:`ITEMS_PER_KIND`, :data:`EVIDENCE_PER_CHECK`) with a line saying how
many more there are: a cluster in meltdown can produce thousands of items, and the headless
``controlroom diff`` / ``validate`` print them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Final

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Input, Static

from backends.baseline.diff import Diff, DiffItem
from backends.baseline.model import Baseline
from backends.baseline.report import utc
from backends.baseline.validate import Check, Validation
from backends.sanitize import clean
from tui.modal import ContextModal

__all__ = [
    "EVIDENCE_PER_CHECK",
    "ITEMS_PER_KIND",
    "SEVERITY_STYLES",
    "STATUS_STYLES",
    "ChangeIdScreen",
    "DiffScreen",
    "ValidationScreen",
    "check_block",
    "diff_item_line",
    "kind_header",
    "summarize",
]

ITEMS_PER_KIND: Final = 300
"""Items shown per kind; the rest are counted (``controlroom diff`` prints them all)."""
EVIDENCE_PER_CHECK: Final = 200
"""Evidence lines shown per check; the rest are counted."""
CHANGE_ID_MAX: Final = 200
"""A change id is a ticket or pipeline run reference, not an essay."""

SEVERITY_STYLES: Final[dict[str, str]] = {
    "worse": "bold $text-error",
    "better": "$text-success",
    "changed": "$text-accent",
}
STATUS_STYLES: Final[dict[str, str]] = {
    "pass": "$text-success",
    "fail": "bold $text-error",
    "skip": "$text-warning",
    "unknown": "bold $text-warning",
}
_TAGS: Final = {"worse": "WORSE", "better": "better", "changed": "changed"}
_STATUS: Final = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP", "unknown": "????"}
_MUTED: Final = "$text-muted"


def _plain(text: object, limit: int = 1000) -> str:
    """One line of untrusted text, cleaned again (cheap) so a file can never smuggle a line
    break or a control code past whichever loader produced it."""
    return clean(text, limit)


def _count(n: int, label: str, style: str) -> tuple[str, str]:
    """``3 worse`` styled only when there is something to see."""
    return (f"{n} {label}", style if n else _MUTED)


# --------------------------------------------------------------------------- change id


class ChangeIdScreen(ContextModal[str | None]):
    """Ask which change a baseline is for; dismissed with the (possibly empty) id, or None.

    | Key(s) | Description |
    | :- | :- |
    | enter | Take the baseline with this change id (empty: none). |
    | escape | Cancel: no baseline is taken. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="change_id_cancel",
                tooltip="Take no baseline"),
    ]
    DEFAULT_CSS = """
    ChangeIdScreen { align: center middle; }
    ChangeIdScreen > Vertical { width: 80; height: auto; border: round $primary;
                                background: $surface; padding: 0 1; }
    ChangeIdScreen .change-id--hint { color: $text-muted; }
    """

    def __init__(self, context: str, change_id: str = "") -> None:
        super().__init__()
        self._kube_context = context
        self._change_id = change_id

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content.assemble(("Baseline", "bold"), " of context ",
                                          (_plain(self._kube_context, 200), "bold")),
                         id="change-id-title", markup=False)
            yield Input(value=_plain(self._change_id, CHANGE_ID_MAX),
                        placeholder="change id (optional): ticket, pipeline run",
                        max_length=CHANGE_ID_MAX, id="change-id")
            yield Static(Content("Enter takes the baseline and saves it, Escape cancels."),
                         classes="change-id--hint", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#change-id")
    def confirmed(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(_plain(event.value, CHANGE_ID_MAX).strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


# --------------------------------------------------------------------------- diff


def kind_header(kind: str, items: Sequence[DiffItem]) -> Content:
    """``pods: 3 worse · 1 better · 0 changed``."""
    counts = {s: sum(1 for i in items if i.severity == s) for s in _TAGS}
    return Content.assemble(
        (_plain(kind, 100), "bold"), ": ",
        _count(counts["worse"], "worse", SEVERITY_STYLES["worse"]), " · ",
        _count(counts["better"], "better", SEVERITY_STYLES["better"]), " · ",
        _count(counts["changed"], "changed", SEVERITY_STYLES["changed"]))


def diff_item_line(item: DiffItem) -> Content:
    """``WORSE   checkout/checkout-stable: replica mismatch: <before> -> <after>``."""
    style = SEVERITY_STYLES.get(item.severity, "")
    parts: list[str | tuple[str, str]] = [
        (f"{_TAGS.get(item.severity, item.severity):<8}", style),
        (_plain(item.key), "bold"), ": ", (_plain(item.what), style)]
    if item.before or item.after:
        parts += [": ", _plain(item.before or "-"), (" -> ", _MUTED),
                  _plain(item.after or "-")]
    return Content.assemble(*parts)


def _items_block(items: Sequence[DiffItem]) -> Content:
    lines = [diff_item_line(i) for i in items[:ITEMS_PER_KIND]]
    if len(items) > ITEMS_PER_KIND:
        lines.append(Content.styled(f"... and {len(items) - ITEMS_PER_KIND} more "
                                    "(controlroom diff prints them all)", _MUTED))
    return Content("\n").join(lines)


class DiffScreen(ContextModal[None]):
    """What got worse, better or changed since a baseline, grouped by kind, worst first.

    | Key(s) | Description |
    | :- | :- |
    | up/down, pgup/pgdn | Scroll. |
    | escape, q, d | Back to the dashboard. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,d", "dismiss", "Close", id="diff_close",
                tooltip="Back to the dashboard"),
    ]
    DEFAULT_CSS = """
    DiffScreen { align: center middle; }
    DiffScreen > Vertical { width: 95%; height: 90%; border: round $primary;
                            background: $surface; }
    DiffScreen #diff-title, DiffScreen #diff-summary { padding: 0 1; }
    DiffScreen #diff-body { height: 1fr; padding: 0 1; }
    DiffScreen .diff--kind { margin-top: 1; }
    DiffScreen .diff--items { padding-left: 2; }
    DiffScreen .diff--notes { margin-top: 1; color: $text-muted; }
    DiffScreen #diff-hint { padding: 0 1; color: $text-muted; }
    """

    def __init__(self, result: Diff, baseline: Baseline, source: str) -> None:
        """``source`` says where the baseline came from ("taken in this session", a file)."""
        super().__init__()
        self.result = result
        self.baseline = baseline
        self._source = source

    def title_content(self) -> Content:
        """The baseline being compared with: context, time, operator, change id, source."""
        b = self.baseline
        parts: list[str | tuple[str, str]] = [
            ("Diff", "bold"), " against the baseline of ", (_plain(b.context, 200), "bold"),
            " taken ", (utc(b.taken_at), "bold"), " by ", (_plain(b.operator or "?", 200), "bold")]
        if b.change_id:
            parts += [", change ", (_plain(b.change_id, 200), "bold")]
        parts += [(f"  ({_plain(self._source, 500)})", _MUTED)]
        return Content.assemble(*parts)

    def summary_content(self) -> Content:
        r = self.result
        return Content.assemble(
            f"now {utc(r.current_taken_at)}: ",
            _count(len(r.of("worse")), "worse", SEVERITY_STYLES["worse"]), " · ",
            _count(len(r.of("better")), "better", SEVERITY_STYLES["better"]), " · ",
            _count(len(r.of("changed")), "changed", SEVERITY_STYLES["changed"]))

    def notes_content(self) -> Content | None:
        """What could not be compared, and why: the bottom of the screen."""
        r = self.result
        lines: list[Content] = []
        if r.not_compared:
            lines.append(Content.assemble(("not compared: ", "bold"),
                                          _plain(", ".join(r.not_compared))))
        lines += [Content.assemble("note: ", _plain(note)) for note in r.notes]
        return Content("\n").join(lines) if lines else None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_content(), id="diff-title", markup=False)
            yield Static(self.summary_content(), id="diff-summary", markup=False)
            with VerticalScroll(id="diff-body"):
                groups = self.result.groups()
                if not groups:
                    yield Static(Content.styled("nothing changed since the baseline",
                                                SEVERITY_STYLES["better"]),
                                 classes="diff--kind", markup=False)
                for kind, items in groups:
                    yield Static(kind_header(kind, items), classes="diff--kind", markup=False)
                    yield Static(_items_block(items), classes="diff--items", markup=False)
                notes = self.notes_content()
                if notes is not None:
                    yield Static(notes, classes="diff--notes", markup=False)
            yield Static(Content("up/down, pgup/pgdn: scroll  ·  esc: close"), id="diff-hint",
                         markup=False)

    def on_mount(self) -> None:
        self.query_one("#diff-body", VerticalScroll).focus()  # the arrow keys scroll


# --------------------------------------------------------------------------- validation


def summarize(result: Validation) -> str:
    """One line for the runbook's "Validation passed" evidence and the screen's verdict."""
    total = len(result.checks)
    skipped = sum(1 for c in result.checks if c.status == "skip")
    skip = f", {skipped} skipped" if skipped else ""
    unknown = result.unknown
    cannot = (f"{len(unknown)} could not be checked: "
              + ", ".join(_plain(c.id, 100) for c in unknown)) if unknown else ""
    if result.passed:
        return f"{total} checks{skip}, none failed"
    failed = result.failures
    if not failed:
        return f"{total} checks{skip}, none failed, {cannot}"
    return (f"{len(failed)} of {total} checks failed{skip}: "
            + ", ".join(_plain(c.id, 100) for c in failed) + (f"; {cannot}" if cannot else ""))


def check_block(check: Check) -> Content:
    """``FAIL  workloads-ready: every Deployment has all replicas ready`` then the evidence,
    indented under it."""
    style = STATUS_STYLES.get(check.status, "")
    lines = [Content.assemble((f"{_STATUS.get(check.status, check.status):<5}", style),
                              (_plain(check.id, 200), "bold"), ": ",
                              _plain(check.description))]
    lines += [Content.assemble("       ", _plain(e)) for e in check.evidence[:EVIDENCE_PER_CHECK]]
    if len(check.evidence) > EVIDENCE_PER_CHECK:
        lines.append(Content.styled(f"       ... and {len(check.evidence) - EVIDENCE_PER_CHECK}"
                                    " more", _MUTED))
    return Content("\n").join(lines)


class ValidationScreen(ContextModal[None]):
    """The post-update validation: the verdict, then every check with its evidence.

    | Key(s) | Description |
    | :- | :- |
    | up/down, pgup/pgdn | Scroll. |
    | escape, q, v | Back to the dashboard. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,v", "dismiss", "Close", id="validation_close",
                tooltip="Back to the dashboard"),
    ]
    DEFAULT_CSS = """
    ValidationScreen { align: center middle; }
    ValidationScreen > Vertical { width: 95%; height: 90%; border: round $primary;
                                  background: $surface; }
    ValidationScreen #validation-verdict, ValidationScreen #validation-title { padding: 0 1; }
    ValidationScreen #validation-body { height: 1fr; padding: 0 1; }
    ValidationScreen #validation-hint { padding: 0 1; color: $text-muted; }
    """

    def __init__(self, result: Validation, against: str) -> None:
        """``against`` says what the regression checks compared with (a baseline and where
        it came from, or that there was none)."""
        super().__init__()
        self.result = result
        self._against = against

    def verdict_content(self) -> Content:
        r = self.result
        word, style = {"passed": ("PASSED", STATUS_STYLES["pass"]),
                       "failed": ("FAILED", STATUS_STYLES["fail"]),
                       "unknown": ("CANNOT CHECK", STATUS_STYLES["unknown"])}[r.verdict]
        return Content.assemble((word, f"bold {style}"), ": ", summarize(r))

    def title_content(self) -> Content:
        r = self.result
        return Content.assemble(
            ("Validation", "bold"), " of context ", (_plain(r.context, 200), "bold"),
            f" at {utc(r.taken_at)}", (f"  ({_plain(self._against, 500)})", _MUTED))

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.verdict_content(), id="validation-verdict", markup=False)
            yield Static(self.title_content(), id="validation-title", markup=False)
            with VerticalScroll(id="validation-body"):
                for check in self.result.checks:
                    yield Static(check_block(check), classes="validation--check",
                                 markup=False)
            yield Static(Content("up/down, pgup/pgdn: scroll  ·  esc: close"),
                         id="validation-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#validation-body", VerticalScroll).focus()
