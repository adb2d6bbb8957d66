"""Health endpoints: does Argo CD, Grafana, each application answer its health check?

One row per configured endpoint (``[[endpoints]]``, in the demo the drill's own): ``ok`` or
``FAIL``, the HTTP code, the latency, how long ago it was checked, and why it failed in plain
words. Failing endpoints sort first and count in the subtitle.

An empty or green panel must never look like "all clear" when it is not:

- when the probes themselves cannot run (the ``endpoints`` source is stale or in error), the
  rows are the last known ones: they are dimmed (the poller flags them ``stale``), the border
  title says since when the probes are down, and a note row at the top says the results are
  NOT current;
- with no rows, the note says why: no endpoint configured, or waiting for the first round.

The note is a row of its own pseudo kind (``endpointnotes``), not in the store. Every string
shown was sanitized where it entered (the probes); cells are ``Text``, never markup.
"""

from __future__ import annotations

import time
from typing import ClassVar

from textual.content import Content

from backends.model import Row
from backends.signals.health import ENDPOINTS, SOURCE, EndpointRow
from backends.store import SourceHealth, Store
from widgets.formatting import DIM, PROBLEM, WARNING, age, age_changes_at
from widgets.panel import RowId, RowView
from widgets.rowmodel import Cell, Column
from widgets.table_panel import TablePanel

__all__ = ["NOTES", "EndpointsPanel", "probes_problem"]

NOTES = "endpointnotes"
"""Pseudo kind of the status note (not in the store)."""
_NOTE: RowId = (NOTES, "status")
_CHECKED = 4
_ERROR_MAX = 160
_NOTE_SORT: tuple[int, str] = (-1, "")


def _clock_time(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


def probes_problem(health: SourceHealth | None) -> str:
    """``probes down since 14:02:11: <why>`` when the probing itself is not running, else ""."""
    if health is None or health.state in ("connected", "connecting"):
        return ""
    why = f": {health.error}" if health.error else ""
    return f"probes down since {_clock_time(health.since)}{why}"


class EndpointsPanel(TablePanel):
    """Health endpoint probes: status, code, latency, age of the check and the error."""

    DEFAULT_CSS = """
    EndpointsPanel.-source-down {
        border: round $error;
        border-title-color: $text-error;
    }
    """

    KINDS: ClassVar[tuple[str, ...]] = (ENDPOINTS,)
    TITLE: ClassVar[str] = "Endpoints"
    WATCHES_HEALTH: ClassVar[bool] = True
    """The App refreshes this panel when a source's health changes, rows or not."""
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("ENDPOINT", priority=1, min_width=8, cut="middle"),
        Column("STATUS", priority=1),
        Column("CODE", width=4, align="right", priority=3),
        Column("LATENCY", width=8, align="right", priority=4),
        Column("CHECKED", width=7, align="right", priority=6),
        Column("ERROR", priority=2, min_width=10, ideal=30),
    )
    """By priority (widgets/column_fit.py): the endpoint, its status and error first."""

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None, disabled: bool = False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._health: SourceHealth | None = None
        self._problem = ""
        self._title_text = ""
        self._counts_text = ""
        super().apply_views({_NOTE: RowView(
            ("...", "waiting", "", "", "", "waiting for the first probe round"),
            _NOTE_SORT, DIM)})

    # ------------------------------------------------------------------ panel contract

    def prepare(self, store: Store, now: float) -> None:
        self._health = store.health(SOURCE)
        self._problem = probes_problem(self._health)
        self._show_title()

    def view(self, store: Store, kind: str, row: Row, now: float) -> RowView | None:
        if not isinstance(row, EndpointRow):
            return None
        status = "ok" if row.ok else "FAIL"
        if row.stale:
            status += " (stale)"
        latency = f"{row.latency_ms:.0f} ms" if row.latency_ms is not None else ""
        error = row.error if len(row.error) <= _ERROR_MAX else row.error[:_ERROR_MAX - 1] + "…"
        cells: tuple[Cell, ...] = (
            row.name, status, str(row.status) if row.status is not None else "-", latency,
            age(row.checked_at, now), error)
        tone = DIM if row.stale else (None if row.ok else PROBLEM)
        # Failing endpoints first; the note (sort -1) above everything.
        return RowView(cells, (0 if not row.ok else 1, row.name), tone)

    def timed_cells(self, kind: str, row: Row, now: float) -> dict[int, Cell]:
        if isinstance(row, EndpointRow):
            return {_CHECKED: age(row.checked_at, now)}
        return {}

    def timed_due(self, kind: str, row: Row, now: float) -> float | None:
        return age_changes_at(row.checked_at, now) if isinstance(row, EndpointRow) else None

    def apply_views(self, updates: dict[RowId, RowView | None], *, resort: bool = True) -> None:
        """Also keep the status note right (it depends on the rows and the source health)."""
        if not resort:  # an age tick: neither rows nor health changed
            super().apply_views(updates, resort=resort)
            return
        out = dict(updates)
        note = self._note_view()
        if note != self._views.get(_NOTE):
            out[_NOTE] = note
        super().apply_views(out, resort=resort)

    def _note_view(self) -> RowView | None:
        """The status line: probes down (always shown), or why there is no row (else None)."""
        if self._problem:
            return RowView(("probes down", "UNKNOWN", "", "", "",
                            f"{self._problem}: results below are the last known, this is"
                            " NOT all clear"), _NOTE_SORT, PROBLEM)
        held = any(kind == ENDPOINTS for kind, _ in self._rows)
        if held:
            return None
        if self._health is None:
            return RowView(("off", "", "", "", "",
                            "no health endpoints configured ([[endpoints]] in the config):"
                            " endpoints are not watched"), _NOTE_SORT, DIM)
        return RowView(("...", "waiting", "", "", "", "waiting for the first probe round"),
                       _NOTE_SORT, WARNING if self._health.state != "connecting" else DIM)

    # ------------------------------------------------------------------ chrome

    @property
    def source_status(self) -> str:
        """What the title says about the probes ("" while they run)."""
        return self._problem

    def _show_title(self) -> None:
        text = self._problem
        if text == self._title_text:
            return
        self._title_text = text
        self.set_class(bool(text), "-source-down")
        if text:
            self.border_title = Content.assemble(self.TITLE, " ", (text, "$text-error"))
        else:
            self.border_title = Content(self.TITLE)

    def _show_counts(self) -> None:
        """``6 endpoints  2 failing`` (the note row is not an endpoint)."""
        total = sum(1 for kind, _ in self._views if kind == ENDPOINTS)
        failing = sum(1 for rid in self._failing if rid[0] == ENDPOINTS)
        parts = [f"{total} endpoint{'s' if total != 1 else ''}"]
        if failing:
            parts.append(f"{failing} failing")
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        self.set_class(bool(failing), "-problems")
        text = "  ".join(parts)
        if text != self._counts_text:
            self._counts_text = text
            self.border_subtitle = Content(text)
