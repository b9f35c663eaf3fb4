"""MonitorEngine: events per reading, stream checks, state round trip, stale, incidents, coverage."""

from datetime import UTC, datetime, timedelta

from bioreactor.contract import Acknowledgement, AlarmState, IncidentState
from monitor.checks.base import reading_at
from monitor.config import MonitorConfig
from monitor.engine import MonitorEngine

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CONFIG = MonitorConfig.default()


def sequence(n, start=0, reactor_id="R01", **values):
    """Readings every 5 min; glucose falls into starvation from sample 20."""
    for i in range(start, start + n):
        glucose = max(0.2, 4.0 - 0.3 * max(0, i - 20))
        yield reading_at(T0 + timedelta(minutes=5 * i), seq=i, reactor_id=reactor_id, glucose=glucose, **values)


def events_of(engine, readings):
    return [e for r in readings for e in engine.process(r).events]


def test_events_are_raised_once_and_carry_the_numbers():
    engine = MonitorEngine(CONFIG)
    raised = [e for e in events_of(engine, sequence(60)) if e.state is AlarmState.RAISED]
    keys = [(e.check, e.variable) for e in raised]
    assert len(keys) == len(set(keys))  # duplicate suppression
    low_low = next(e for e in raised if e.check == "limit_low_low")
    assert low_low.value is not None and f"{low_low.value:.2f} g/L" in low_low.message
    assert engine.active_alarms("R01").alarms
    assert engine.reactors() == ["R01"]


def test_one_reading_at_a_time_or_all_at_once_gives_the_same_events():
    """Waves are an implementation detail: each reactor's events depend only on its own readings."""
    fleet = [r for i in range(60) for r in (
        reading_at(T0 + timedelta(minutes=5 * i), seq=i, reactor_id="A", glucose=max(0.2, 4 - 0.3 * max(0, i - 20))),
        reading_at(T0 + timedelta(minutes=5 * i, seconds=7), seq=i, reactor_id="B", do=40 - max(0, i - 30)),
    )]
    one_by_one = events_of(MonitorEngine(CONFIG), fleet)
    at_once = MonitorEngine(CONFIG).process(fleet).events
    assert one_by_one == at_once and one_by_one


def test_duplicates_out_of_order_and_suspect_jumps_change_nothing():
    engine = MonitorEngine(CONFIG)
    readings = list(sequence(30))
    engine.process(readings)
    before = engine.save_state()
    for bad, reason in [
        (readings[-1], "duplicate seq 29"),
        (readings[10], "out of order"),
        (reading_at(readings[-1].timestamp, seq=99), "duplicate timestamp"),
        (reading_at(readings[-1].timestamp + timedelta(minutes=5), seq=10**12), "suspect seq jump"),
    ]:
        outcome = engine.process(bad)
        assert reason in outcome.rejected[0][1] and not outcome.events
    assert engine.save_state() == before


def test_a_gap_in_seq_raises_a_data_gap_naming_the_missing_range():
    engine = MonitorEngine(CONFIG)
    engine.process(list(sequence(5)))
    outcome = engine.process(reading_at(T0 + timedelta(minutes=45), seq=9))
    (gap,) = [e for e in outcome.events if e.check == "data_gap"]
    assert gap.state is AlarmState.RAISED and "4 reading(s) of R01 never arrived: seq 5 to 8" in gap.message


def test_save_load_gives_identical_subsequent_events():
    readings = list(sequence(80))
    straight = MonitorEngine(CONFIG)
    straight.process(readings[:22])
    resumed = MonitorEngine.load_state(straight.save_state(), CONFIG)
    rest_a = events_of(straight, readings[22:])
    rest_b = events_of(resumed, readings[22:])
    assert rest_a == rest_b and rest_a


def test_new_batch_clears_alarms_and_old_batch_is_rejected():
    engine = MonitorEngine(CONFIG)
    engine.process(list(sequence(40)))
    assert engine.active_alarms("R01").alarms
    events = engine.process(reading_at(T0 + timedelta(days=20), seq=0, batch_id="B002")).events
    assert events and all(e.state is AlarmState.CLEARED for e in events)
    assert "batch B001 ended" in events[0].message
    assert not engine.active_alarms("R01").alarms
    late = engine.process(reading_at(T0 + timedelta(days=21), seq=500, batch_id="B001"))
    assert "has ended" in late.rejected[0][1]


def test_stale_is_stamped_on_the_reactors_own_clock_and_cleared_by_the_next_reading():
    engine = MonitorEngine(CONFIG)
    readings = list(sequence(5))
    engine.process(readings)
    last = readings[-1].timestamp
    assert not engine.stale("R01", timedelta(minutes=10)).events
    (stale,) = engine.stale("R01", timedelta(minutes=30)).events
    assert stale.check == "stale" and "for 30 min on its own clock" in stale.message
    assert stale.timestamp == last + timedelta(minutes=CONFIG.alarms.stale_timeout_min)
    assert not engine.stale("R01", timedelta(minutes=40)).events
    # The publisher resumes with its own timestamps, earlier than the alarm: no negative duration.
    events = engine.process(reading_at(last + timedelta(minutes=5), seq=5)).events
    (cleared,) = [e for e in events if e.check == "stale"]
    assert cleared.state is AlarmState.CLEARED and "after 0 min in alarm" in cleared.message


def test_acknowledge_is_stamped_on_the_data_clock_and_keeps_the_wall_clock():
    engine = MonitorEngine(CONFIG)
    raised = [e for e in events_of(engine, sequence(40)) if e.state is AlarmState.RAISED]
    ack = Acknowledgement(alarm_id=raised[0].alarm_id, user="ops", timestamp=datetime(2030, 5, 5, tzinfo=UTC))
    wall = datetime(2031, 1, 1, tzinfo=UTC)
    (event,) = engine.acknowledge("R01", ack, received_at=wall).events
    assert event.state is AlarmState.ACKNOWLEDGED and event.user == "ops"
    assert event.timestamp == engine.last_time("R01") and event.received_at == wall
    try:
        engine.acknowledge("R01", ack)
    except ValueError:
        pass
    else:
        raise AssertionError("a second acknowledgement was accepted")


def test_end_of_batch_clears_alarms_and_stops_stale_until_next_reading():
    engine = MonitorEngine(CONFIG)
    readings = list(sequence(40))
    engine.process(readings)
    active = engine.active_alarms("R01").alarms
    assert active
    assert not engine.end_batch("R01", "B000").events  # not the current batch
    events = engine.end_batch("R01", "B001").events
    assert {e.alarm_id for e in events} == {a.alarm_id for a in active}
    assert all(e.state is AlarmState.CLEARED and "batch B001 ended" in e.message for e in events)
    assert all(e.timestamp == readings[-1].timestamp for e in events)  # on the data clock
    assert not engine.active_alarms("R01").alarms
    assert not engine.end_batch("R99", None).events  # unknown reactor
    resumed = MonitorEngine.load_state(engine.save_state(), CONFIG)
    assert not resumed.stale("R01", timedelta(hours=5)).events
    nxt = reading_at(readings[-1].timestamp + timedelta(hours=6), seq=100, batch_id="B002")
    resumed.process(nxt)
    (stale,) = resumed.stale("R01", timedelta(minutes=30)).events
    assert stale.batch_id == "B002"


def test_co_occurring_alarms_form_one_incident_under_the_diagnosis():
    engine = MonitorEngine(CONFIG)
    wiggle = [(-1) ** i for i in range(45)]  # live probes are never perfectly flat
    readings = [reading_at(T0 + timedelta(minutes=5 * i), seq=i, ph=(7.0 if i < 30 else 6.6) + 0.01 * wiggle[i],
                           do=40.0 + wiggle[i], temperature=37.0 + 0.05 * wiggle[i],
                           base_rate=0.5 if i < 30 else 0.0) for i in range(45)]
    outcome = engine.process(readings)
    raised = {e.check for e in outcome.events if e.state is AlarmState.RAISED}
    assert {"base_pump", "limit_low_low", "limit_low"} <= raised
    (incident,) = engine.active_alarms("R01").incidents
    assert incident.diagnosis == "base_pump" and incident.alarms[0].check == "base_pump"
    assert {m.check for m in incident.alarms} == raised
    assert outcome.incidents[0].state is IncidentState.OPENED
    assert {a.incident_id for a in engine.active_alarms("R01").alarms} == {incident.incident_id}


def test_coverage_says_which_checks_cannot_run_and_why():
    engine = MonitorEngine(CONFIG)
    outcome = engine.process(reading_at(T0, lactate=None, co2_flow=None))
    coverage = outcome.coverage["R01"]
    skipped = {s.check: s.reason for s in coverage.skipped}
    assert "lactate" in skipped["glucose_starvation"] and "lactate" in skipped["ph_probe"]
    assert "limit" in coverage.running and "base_pump" in coverage.running
    # Unchanged coverage is not reported again.
    assert not engine.process(reading_at(T0 + timedelta(minutes=5), seq=1, lactate=None, co2_flow=None)).coverage
