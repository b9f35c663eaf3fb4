"""MonitorEngine: events per reading, rejection without state change, state round trip, stale."""

from datetime import UTC, datetime, timedelta

import pytest

from bioreactor.contract import Acknowledgement, AlarmState
from monitor.checks.base import reading_at
from monitor.config import MonitorConfig
from monitor.engine import MonitorEngine, ReadingRejected

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CONFIG = MonitorConfig.from_mapping({"alarms": {"disabled": ["multivariate"]}})


def sequence(n, start=0, **values):
    """Readings every 5 min; glucose falls into starvation from sample 20."""
    for i in range(start, start + n):
        glucose = max(0.2, 4.0 - 0.3 * max(0, i - 20))
        yield reading_at(T0 + timedelta(minutes=5 * i), seq=i, glucose=glucose, **values)


def test_events_are_raised_once_and_carry_the_numbers():
    engine = MonitorEngine(CONFIG)
    events = [e for r in sequence(60) for e in engine.process(r)]
    raised = [e for e in events if e.state is AlarmState.RAISED]
    keys = [(e.check, e.variable) for e in raised]
    assert len(keys) == len(set(keys))  # duplicate suppression
    low_low = next(e for e in raised if e.check == "limit_low_low")
    assert low_low.value is not None and f"{low_low.value:.2f} g/L" in low_low.message
    assert engine.active_alarms("R01").alarms
    assert engine.reactors() == ["R01"]


def test_duplicates_and_out_of_order_change_nothing():
    engine = MonitorEngine(CONFIG)
    readings = list(sequence(30))
    for r in readings:
        engine.process(r)
    before = engine.save_state()
    with pytest.raises(ReadingRejected, match="duplicate seq 29"):
        engine.process(readings[-1])
    with pytest.raises(ReadingRejected, match="out of order"):
        engine.process(readings[10])
    with pytest.raises(ReadingRejected, match="duplicate timestamp"):
        engine.process(reading_at(readings[-1].timestamp, seq=99))
    assert engine.save_state() == before


def test_save_load_gives_identical_subsequent_events():
    readings = list(sequence(80))
    straight = MonitorEngine(CONFIG)
    for r in readings[:22]:
        straight.process(r)
    resumed = MonitorEngine.load_state(straight.save_state(), CONFIG)
    rest_a = [e for r in readings[22:] for e in straight.process(r)]
    rest_b = [e for r in readings[22:] for e in resumed.process(r)]
    assert rest_a == rest_b and rest_a


def test_new_batch_clears_alarms_and_old_batch_is_rejected():
    engine = MonitorEngine(CONFIG)
    for r in sequence(40):
        engine.process(r)
    assert engine.active_alarms("R01").alarms
    first = reading_at(T0 + timedelta(days=20), seq=0, batch_id="B002")
    events = engine.process(first)
    assert events and all(e.state is AlarmState.CLEARED for e in events)
    assert "batch B001 ended" in events[0].message
    assert not engine.active_alarms("R01").alarms
    with pytest.raises(ReadingRejected, match="has ended"):
        engine.process(reading_at(T0 + timedelta(days=21), seq=500, batch_id="B001"))


def test_stale_raised_once_and_cleared_by_next_reading():
    engine = MonitorEngine(CONFIG)
    readings = list(sequence(5))
    for r in readings:
        engine.process(r)
    last = readings[-1].timestamp
    assert engine.check_stale(last + timedelta(minutes=10)) == []
    (stale,) = engine.check_stale(last + timedelta(minutes=30))
    assert stale.check == "stale" and "30 min" in stale.message
    assert engine.check_stale(last + timedelta(minutes=40)) == []
    events = engine.process(reading_at(last + timedelta(minutes=45), seq=5))
    assert [(e.check, e.state) for e in events] == [("stale", AlarmState.CLEARED)]


def test_acknowledge_through_the_engine():
    engine = MonitorEngine(CONFIG)
    raised = [e for r in sequence(40) for e in engine.process(r) if e.state is AlarmState.RAISED]
    ack = Acknowledgement(raised[0].alarm_id, "ops", raised[0].timestamp)
    assert engine.acknowledge("R01", ack).state is AlarmState.ACKNOWLEDGED
    with pytest.raises(ValueError):
        engine.acknowledge("R01", ack)
    with pytest.raises(KeyError):
        engine.acknowledge("R99", ack)


def test_end_of_batch_clears_alarms_and_stops_stale_until_next_reading():
    engine = MonitorEngine(CONFIG)
    readings = list(sequence(40))
    for r in readings:
        engine.process(r)
    active = engine.active_alarms("R01").alarms
    assert active
    last = readings[-1].timestamp
    assert engine.end_batch("R01", "B000", last) == []  # not the current batch
    events = engine.end_batch("R01", "B001", last + timedelta(minutes=1))
    assert {e.alarm_id for e in events} == {a.alarm_id for a in active}
    assert all(e.state is AlarmState.CLEARED and "batch B001 ended" in e.message for e in events)
    assert not engine.active_alarms("R01").alarms
    assert engine.end_batch("R01", None, last) == []  # nothing left to clear
    assert engine.end_batch("R99", None, last) == []  # unknown reactor
    assert engine.check_stale(last + timedelta(hours=5)) == []
    resumed = MonitorEngine.load_state(engine.save_state(), CONFIG)
    assert resumed.check_stale(last + timedelta(hours=5)) == []
    nxt = reading_at(last + timedelta(hours=6), seq=100, batch_id="B002")
    resumed.process(nxt)
    (stale,) = resumed.check_stale(nxt.timestamp + timedelta(minutes=30))
    assert stale.check == "stale" and stale.batch_id == "B002"
