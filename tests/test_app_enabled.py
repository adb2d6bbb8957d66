"""Which keys are enabled is decided in one table (``tui/enabled.py``): every key of the App
is listed there with what it needs, and the answers are the ones the key bar always gave
(dimmed, not hidden, until the session can act)."""

from __future__ import annotations

from textual.binding import Binding

from tui.actions import ACTION_BINDINGS
from tui.alert_actions import ALERT_BINDINGS
from tui.app import ControlRoomApp
from tui.enabled import NEEDS, Need, Readiness, action_state, why_disabled

NOTHING_YET = Readiness(gate=False, alertmanager=False)
GATE_ONLY = Readiness(gate=True, alertmanager=False)
EVERYTHING = Readiness(gate=True, alertmanager=True)


def test_every_key_says_what_it_needs_and_has_an_action() -> None:
    # A parametrised action (``switch_context(1)``) is checked by its name, as Textual's
    # check_action receives it.
    actions = {b.action.partition("(")[0] for b in ControlRoomApp.BINDINGS
               if isinstance(b, Binding)}
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


def test_read_only_dims_every_write_key_and_says_why() -> None:
    """Issue 14 point 8: read-only disables (dims) every key that writes, once connected
    as before, and :func:`why_disabled` names read-only and how to change it; the keys that
    only look stay enabled."""
    read_only = Readiness(gate=True, alertmanager=True, read_only=True)
    for action, need in NEEDS.items():
        why = why_disabled(action, read_only, "aks-prod-weu")
        if need is Need.NOTHING:
            assert action_state(action, read_only) is True and why == "", action
        else:
            assert action_state(action, read_only) is None, action
            assert "read-only" in why and "--read-only" in why and "aks-prod-weu" in why
    assert why_disabled("pause_sync", NOTHING_YET).startswith("not connected yet")
    assert "Alertmanager" in why_disabled("silence", GATE_ONLY)
    assert why_disabled("pause_sync", EVERYTHING) == ""


def test_every_modal_screen_carries_the_target_line() -> None:
    """Issue 14 point 5: every modal of the App derives from ContextModal, which docks the
    context (and PRODUCTION, READ-ONLY) on its top row."""
    import importlib
    import pkgutil

    from textual.screen import ModalScreen

    import tui
    from tui.modal import ContextModal

    for info in pkgutil.iter_modules(tui.__path__):
        importlib.import_module(f"tui.{info.name}")

    def subclasses(cls: type) -> set[type]:
        out = set(cls.__subclasses__())
        for sub in list(out):
            out |= subclasses(sub)
        return out

    ours = {c for c in subclasses(ModalScreen) if c.__module__.startswith("tui.")}
    assert len(ours) >= 10, ours
    assert {c for c in ours if not issubclass(c, ContextModal)} == set()
