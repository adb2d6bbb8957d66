"""The one place that decides which actions are enabled: :func:`action_state`.

Textual asks ``App.check_action`` before it runs an action and whenever the key bar is
redrawn; the App answers with this function and nothing else. Every key of the control room
is listed in :data:`NEEDS` with what it needs before it can do anything (a test holds that
every binding of the App is listed, so a new key must say what it needs):

- ``NOTHING``: always enabled (looking, filtering, the journal, the baseline and runbook keys;
  those that need a session say so themselves when pressed too early);
- ``WRITE_GATE``: a connection and the session's write gate (the cluster actions);
- ``ALERTMANAGER``: the write gate (its policy and journal) and an Alertmanager client.

Read-only mode disables every key that writes (``WRITE_GATE`` and ``ALERTMANAGER``): the key
bar dims them, as the README promises, and a dimmed key pressed anyway is answered with
:func:`why_disabled` (the App's ``run_action``): read-only, and how to start writable. The
gate refuses every write in that mode whatever a caller does (``backends/ops/gate.py``); the
dimming is so the engineer is told before, not after. A disabled key answers ``None`` (shown
dimmed); Textual's own actions (palette, focus...) are not ours to disable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

__all__ = ["NEEDS", "Need", "Readiness", "action_state", "why_disabled"]


class Need(Enum):
    """What an action needs before it can do anything."""

    NOTHING = "nothing"
    WRITE_GATE = "a connection and the write gate"
    ALERTMANAGER = "the write gate and an Alertmanager"


@dataclass(frozen=True)
class Readiness:
    """What the session has right now."""

    gate: bool
    """The write gate is built (the sources are up and a connection can be written to)."""
    alertmanager: bool
    """An Alertmanager client is configured for this session."""
    read_only: bool = False
    """The session is read-only (``--read-only`` or ``read_only`` in the config): no key
    that writes is enabled."""


NEEDS: Mapping[str, Need] = {
    # the App's own keys
    "quit_clean": Need.NOTHING,
    "help": Need.NOTHING,
    "filter": Need.NOTHING,
    "freeze": Need.NOTHING,
    "toggle_all_pods": Need.NOTHING,
    "cycle_theme": Need.NOTHING,
    "retry_now": Need.NOTHING,
    "switch_context": Need.NOTHING,  # 1-9, several contexts (tui/fleet.py)
    "fleet_screen": Need.NOTHING,
    "focus_next": Need.NOTHING,
    "focus_previous": Need.NOTHING,
    "maximize_panel": Need.NOTHING,
    "detail": Need.NOTHING,
    "logs": Need.NOTHING,  # says itself when there is no connection yet (tui/log_actions.py)
    "worst_row": Need.NOTHING,
    "worst_anywhere": Need.NOTHING,
    "command_line": Need.NOTHING,
    "filter_all": Need.NOTHING,
    "clear_filters": Need.NOTHING,
    "next_trouble": Need.NOTHING,
    "links": Need.NOTHING,
    # cluster actions (tui/actions.py, tui/rollbacks.py)
    "pause_sync": Need.WRITE_GATE,
    "scale_down": Need.WRITE_GATE,
    "scale_restore": Need.WRITE_GATE,
    "rollout_pause": Need.WRITE_GATE,
    "rollback": Need.WRITE_GATE,
    "shift_traffic": Need.WRITE_GATE,
    "pause_scope": Need.WRITE_GATE,
    "helm_rollback": Need.WRITE_GATE,
    "breaker": Need.WRITE_GATE,
    "release": Need.WRITE_GATE,
    "journal": Need.NOTHING,  # reading the journal needs no connection
    "timeline": Need.NOTHING,  # reading the recording needs no connection
    # alerts (tui/alert_actions.py)
    "silence": Need.ALERTMANAGER,
    "expire_silence": Need.ALERTMANAGER,
    # baseline and runbook (tui/baseline_actions.py, tui/runbook_actions.py)
    "baseline": Need.NOTHING,
    "diff": Need.NOTHING,
    "validate": Need.NOTHING,
    "runbook": Need.NOTHING,
}


def action_state(action: str, ready: Readiness) -> bool | None:
    """Textual's ``check_action`` answer: True (enabled) or None (shown, dimmed)."""
    return None if why_disabled(action, ready) else True


def why_disabled(action: str, ready: Readiness, context: str = "") -> str:
    """Why ``action`` is disabled now, in words for the operator ("" when it is enabled).

    Read-only comes first: a read-only session stays read-only once connected, so "not
    connected yet" would promise a key that will never light up."""
    need = NEEDS.get(action, Need.NOTHING)
    if need is Need.NOTHING:
        return ""
    if ready.read_only:
        where = f"context {context!r}" if context else "this session"
        return (f"read-only mode: {where} gets no write (--read-only, or read_only in the "
                "config); start the control room again without them to act")
    if not ready.gate:
        return "not connected yet: the write keys light up once the sources are up"
    if need is Need.ALERTMANAGER and not ready.alertmanager:
        return "no Alertmanager configured ([alertmanager] url) or not connected yet"
    return ""
