"""The one age formatter (backends/timefmt.py): bounded for times from outside (issue 13
point 13: a time in the future is said as such, never "0s ago", and never outranks now)."""

from __future__ import annotations

from backends.timefmt import (
    FUTURE_AGE,
    FUTURE_TOLERANCE,
    age,
    age_changes_at,
    ago,
    bounded,
    in_future,
)

NOW = 1_700_000_000.0
YEAR_9999 = 253402300799.0


def test_past_ages_are_unchanged() -> None:
    assert age(NOW - 42, NOW) == "42s"
    assert age(NOW - 7 * 60, NOW) == "7m"
    assert ago(NOW - 300, NOW) == "5m ago"
    assert age(None, NOW) == "?" and ago(None, NOW) == ""


def test_a_time_in_the_future_is_said_as_such_never_0s() -> None:
    for moment in (NOW + 60, NOW + 86400, YEAR_9999):
        assert age(moment, NOW) == FUTURE_AGE == "skew"
        assert ago(moment, NOW) == "in the future (clock skew)"
        assert in_future(moment, NOW)
    # a little skew between two synchronised clocks is still "now"
    assert age(NOW + FUTURE_TOLERANCE / 2, NOW) == "0s"
    assert not in_future(NOW + FUTURE_TOLERANCE / 2, NOW)


def test_a_future_time_never_outranks_the_present() -> None:
    assert bounded(YEAR_9999, NOW) == NOW
    assert bounded(NOW - 5, NOW) == NOW - 5
    assert bounded(NOW + FUTURE_TOLERANCE / 2, NOW) == NOW + FUTURE_TOLERANCE / 2


def test_a_future_age_changes_when_the_clock_catches_up() -> None:
    due = age_changes_at(NOW + 100, NOW)
    assert due == NOW + 100 - FUTURE_TOLERANCE
    assert age(NOW + 100, due + 0.1) == "0s"
