"""Alarm lifecycle: on/off delays, duplicate suppression, acknowledgement, clearing."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bioreactor.contract import Acknowledgement, AlarmState, Severity
from monitor.alarms import AlarmBook, Delays
from monitor.checks.base import Explanation, Finding, reading_at

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LOW = Finding("limit_low", Severity.WARNING, Explanation("glucose 0.80 g/L low"), "glucose", 0.8, 1.0)


def feed(book, pattern):
    """``pattern``: one bool per 5-min sample, whether the finding holds."""
    events = []
    for i, present in enumerate(pattern):
        r = reading_at(T0 + timedelta(minutes=5 * i), glucose=0.8 if present else 1.6)
        events += book.observe(r, [LOW] if present else [])
    return events


def test_raised_once_then_suppressed_then_cleared():
    book = AlarmBook("R01", Delays(on=timedelta(minutes=10), off=timedelta(minutes=10)))
    events = feed(book, [True] * 10 + [False] * 5)
    assert [e.state for e in events] == [AlarmState.RAISED, AlarmState.CLEARED]
    raised, cleared = events
    assert raised.first_seen == T0 and raised.timestamp == T0 + timedelta(minutes=10)
    assert raised.alarm_id == cleared.alarm_id
    assert "glucose 0.80 g/L low for 10 min" in raised.message
    assert "glucose back to 1.60 g/L" in cleared.message
    assert cleared.last_seen == T0 + timedelta(minutes=45)


def test_a_statistical_alarm_clears_without_calling_the_value_normal():
    book = AlarmBook("R01", Delays(on=timedelta(minutes=10), off=timedelta(minutes=10)))
    jump = replace(LOW, check="zscore")
    events = []
    for i in range(8):
        r = reading_at(T0 + timedelta(minutes=5 * i), glucose=0.8)
        events += book.observe(r, [jump] if i < 4 else [])
    cleared = events[-1]
    assert cleared.state is AlarmState.CLEARED
    assert "glucose no longer stands out from its recent mean (glucose now 0.80 g/L)" in cleared.message
    assert "back to" not in cleared.message


def test_short_blips_never_raise_and_brief_returns_never_clear():
    book = AlarmBook("R01", Delays(on=timedelta(minutes=10), off=timedelta(minutes=10)))
    assert feed(book, [True, False] * 10) == []
    book = AlarmBook("R01", Delays(on=timedelta(minutes=10), off=timedelta(minutes=10)))
    events = feed(book, [True] * 3 + [False, True] * 10)
    assert [e.state for e in events] == [AlarmState.RAISED]


def test_active_set_tracks_last_seen_and_value():
    book = AlarmBook("R01", Delays())
    feed(book, [True] * 4)
    active = book.active(T0 + timedelta(minutes=15))
    assert len(active.alarms) == 1
    assert active.alarms[0].last_seen == T0 + timedelta(minutes=15)


def test_acknowledge_lifecycle():
    book = AlarmBook("R01", Delays())
    (raised,) = feed(book, [True])
    ack = Acknowledgement(raised.alarm_id, "ana", T0 + timedelta(minutes=1), "looking")
    event = book.acknowledge(ack)
    assert event.state is AlarmState.ACKNOWLEDGED and event.user == "ana"
    assert book.active(T0).alarms[0].state is AlarmState.ACKNOWLEDGED
    with pytest.raises(ValueError, match="already acknowledged"):
        book.acknowledge(ack)
    with pytest.raises(KeyError):
        book.acknowledge(Acknowledgement("nope", "ana", T0))
    cleared = book.clear_all(T0 + timedelta(hours=1), "batch ended")
    assert cleared[0].state is AlarmState.CLEARED and cleared[0].user is None
    with pytest.raises(ValueError, match="already cleared"):
        book.acknowledge(ack)
