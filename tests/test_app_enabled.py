"""Which keys are enabled is decided in one table (``tui/enabled.py``): every key of the App
is listed there with what it needs, and the answers are the ones the key bar always gave
(dimmed, not hidden, until the session can act)."""

from __future__ import annotations

from textual.binding import Binding

from tui.actions import ACTION_BINDINGS
from tui.alert_actions import ALERT_BINDINGS
from tui.app import ControlRoomApp
from tui.enabled import NEEDS, Need, Readiness, action_state

NOTHING_YET = Readiness(gate=False, alertmanager=False)
GATE_ONLY = Readiness(gate=True, alertmanager=False)
EVERYTHING = Readiness(gate=True, alertmanager=True)


def test_every_key_says_what_it_needs_and_has_an_action() -> None:
    actions = {b.action for b in ControlRoomApp.BINDINGS if isinstance(b, Binding)}
    assert actions <= set(NEEDS), actions - set(NEEDS)
    for action in NEEDS:
        assert callable(getattr(ControlRoomApp, f"action_{action}", None)), action


def test_cluster_keys_wait_for_the_gate_the_journal_does_not() -> None:
    for binding in ACTION_BINDINGS:
        expected = True if binding.action == "journal" else None
        assert action_state(binding.action, NOTHING_YET) is expected, binding.action
        assert action_state(binding.action, GATE_ONLY) is True, binding.action


def test_alert_keys_need_the_gate_and_an_alertmanager() -> None:
    for binding in ALERT_BINDINGS:
        assert NEEDS[binding.action] is Need.ALERTMANAGER
        assert action_state(binding.action, NOTHING_YET) is None
        assert action_state(binding.action, GATE_ONLY) is None
        assert action_state(binding.action, Readiness(gate=False, alertmanager=True)) is None
        assert action_state(binding.action, EVERYTHING) is True


def test_looking_keys_and_textuals_own_actions_are_always_enabled() -> None:
    for action in ("help", "filter", "freeze", "baseline", "diff", "validate", "runbook",
                   "command_palette", "quit", "no_such_action"):
        assert action_state(action, NOTHING_YET) is True, action
