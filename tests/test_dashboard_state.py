"""The dashboard's fleet state, fed with contract messages exactly as the MQTT bridge feeds it."""

from datetime import timedelta
from itertools import pairwise

import pytest

from bioreactor.contract import AlarmState, Severity, StatusState, encode, replace
from bioreactor.contract import topics as t
from dashboards.state import Cursor, FleetState
from tests.dashboard_helpers import START, active, alarm, latest, reading, recommendation, status, status_of, view_of


def feed_readings(state: FleetState, reactor_id: str, seqs, batch_id: str = "B1") -> None:
    for seq in seqs:
        state.apply(t.reading_topic(reactor_id), encode(reading(reactor_id, seq, batch_id)))


def test_history_is_followed_incrementally():
    state = FleetState(history=8)
    feed_readings(state, "R1", range(5))
    first = state.readings_since("R1")
    assert first.reset and [r.seq for r in first.items] == [0, 1, 2, 3, 4]

    feed_readings(state, "R1", range(5, 7))
    second = state.readings_since("R1", first.cursor)
    assert not second.reset and [r.seq for r in second.items] == [5, 6]
    assert state.readings_since("R1", second.cursor).items == ()


def test_a_full_history_keeps_the_whole_batch_evenly_thinned():
    """An operator opening a reactor after harvest sees the batch from its first reading."""
    state = FleetState(history=40)
    feed_readings(state, "R1", range(1000))
    seqs = [r.seq for r in state.readings_since("R1").items]
    assert len(seqs) <= 40
    assert seqs[0] == 0 and seqs[-10:] == list(range(990, 1000))  # the newest quarter at full resolution
    run = next(i for i in range(len(seqs) - 1, 0, -1) if seqs[i] - seqs[i - 1] != 1)
    older = seqs[:run]
    steps = {b - a for a, b in pairwise(older)}
    assert len(steps) == 1, f"the older part is not evenly sampled: {older}"

    # Thinning rewrote what a reader had seen: its next look replaces everything.
    cursor = state.readings_since("R1").cursor
    feed_readings(state, "R1", range(1000, 1040))
    assert state.readings_since("R1", cursor).reset


def test_redelivered_and_older_readings_are_ignored():
    state = FleetState()
    feed_readings(state, "R1", [0, 1, 2, 1, 2])
    assert [r.seq for r in state.readings_since("R1").items] == [0, 1, 2]
    assert state.duplicates == 2
    assert state.malformed == 0


def test_new_batch_restarts_the_reactor_history():
    state = FleetState()
    feed_readings(state, "R1", range(4), batch_id="B1")
    cursor = state.readings_since("R1").cursor
    feed_readings(state, "R1", range(2), batch_id="B2")
    update = state.readings_since("R1", cursor)
    assert update.reset
    assert [(r.batch_id, r.seq) for r in update.items] == [("B2", 0), ("B2", 1)]
    assert view_of(state, "R1").batch_id == "B2"


@pytest.mark.parametrize("state_", list(StatusState))
def test_retained_status_is_shown_and_cleared(state_):
    state = FleetState()
    state.apply(t.status_topic("R7"), encode(status("R7", state_)))
    assert status_of(state, "R7") is state_
    state.apply(t.status_topic("R7"), b"")  # the retained message was deleted
    assert status_of(state, "R7") is None
    assert state.reactors() == ["R7"] and state.malformed == 0


def test_active_alarms_follow_the_retained_topic():
    state = FleetState()
    warning = alarm("R1", check="limit_low", severity=Severity.WARNING, at=START)
    critical = alarm("R2", severity=Severity.CRITICAL, at=START + timedelta(hours=1))
    acknowledged = alarm(
        "R1", check="rate", severity=Severity.WARNING, state=AlarmState.ACKNOWLEDGED, at=START - timedelta(hours=1)
    )
    state.apply(t.active_alarms_topic("R1"), encode(active("R1", warning, acknowledged)))
    state.apply(t.active_alarms_topic("R2"), encode(active("R2", critical)))

    assert [a.alarm_id for a in state.active_alarms()] == [
        critical.alarm_id,  # critical first, then unacknowledged (ISA-18.2), then oldest first
        warning.alarm_id,
        acknowledged.alarm_id,
    ]
    assert [v.reactor_id for v in state.overview()] == ["R2", "R1"]  # trouble first
    assert view_of(state, "R1").alarm_counts() == {Severity.WARNING: 2, Severity.CRITICAL: 0}

    state.apply(t.active_alarms_topic("R1"), encode(active("R1")))
    state.apply(t.active_alarms_topic("R2"), b"")
    assert state.active_alarms() == []


def test_events_and_recommendations_are_placed_on_the_culture_time_axis():
    state = FleetState()
    feed_readings(state, "R1", range(13))  # culture 48 h .. 49 h, every 5 min
    last = latest(state, "R1")
    raised = alarm("R1", at=last.timestamp)
    state.apply(t.alarm_topic("R1"), encode(raised))
    state.apply(t.recommendation_topic("R1"), encode(recommendation("R1", at=last.timestamp + timedelta(hours=1))))
    # An event of another batch is listed but has no place on this batch's plots.
    state.apply(t.alarm_topic("R1"), encode(alarm("R1", check="rate", batch_id="B0")))

    placed = state.events_since("R1").items
    assert [(e.culture_h, e.payload) for e in placed] == [(last.culture_h, raised)]
    (rec,) = state.recommendations_since("R1").items
    assert rec.culture_h == pytest.approx(last.culture_h + 1)
    assert view_of(state, "R1").recommendation == rec.payload
    assert [e.check for e in state.recent_events()] == ["rate", "limit_low_low"]  # newest first


def test_a_redelivered_alarm_event_is_recorded_once():
    state = FleetState()
    raised = alarm("R1")
    acknowledged = replace(raised, state=AlarmState.ACKNOWLEDGED, user="ana")
    for event in (raised, raised, acknowledged, raised):
        state.add_event(event)
    assert state.recent_events() == [acknowledged, raised] and state.duplicates == 2


def test_recent_events_are_bounded():
    state = FleetState(events=3)
    for i in range(5):
        state.add_event(alarm("R1", check=f"check{i}"))
    assert [e.check for e in state.recent_events()] == ["check4", "check3", "check2"]
    assert [e.check for e in state.recent_events(limit=1)] == ["check4"]


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (t.reading_topic("R1"), b"{not json"),
        (t.reading_topic("R1"), b'{"schema": 1}'),
        (t.reading_topic("R1"), encode(reading("R1")).replace(b'"ph":7.0', b'"ph":"high"')),
        (t.reading_topic("R1"), encode(reading("R2"))),  # payload of another reactor
        (t.alarm_topic("R1"), b'{"alarm_id": 3}'),
        (t.active_alarms_topic("R1"), encode(active("R1", alarm("R9")))),
        (t.status_topic("R1"), b'{"source": "R1", "state": "sleeping", "timestamp": "2026-01-01T00:00:00Z"}'),
        (t.recommendation_topic("R1"), b"\xff\xfe"),
        (t.MONITOR_STATUS, b"[]"),
    ],
)
def test_malformed_payloads_are_counted_and_change_nothing(topic, payload):
    state = FleetState()
    feed_readings(state, "R1", [0])
    before = (state.overview(), state.active_alarms(), state.recent_events(), state.monitor_status)
    state.apply(topic, payload)
    assert state.malformed == 1
    assert topic in (state.last_problem or "")
    assert (state.overview(), state.active_alarms(), state.recent_events(), state.monitor_status) == before


def test_topics_the_dashboard_does_not_show_are_ignored_without_counting():
    state = FleetState()
    ignored = (t.ack_topic("R1", "ana"), t.DEAD_LETTER, t.MONITOR_METRICS, "bioreactor/_x/reading", "other/R1/reading")
    for topic in ignored:
        state.apply(topic, b"anything")
    assert state.malformed == 0 and state.reactors() == []


def test_monitor_status():
    state = FleetState()
    state.apply(t.MONITOR_STATUS, encode(status("monitor", StatusState.OFFLINE)))
    monitor = state.monitor_status
    assert monitor is not None and monitor.state is StatusState.OFFLINE


def test_unknown_reactor_gives_nothing_and_resets_a_stale_cursor():
    state = FleetState()
    assert state.readings_since("nope").items == ()
    assert state.readings_since("nope", Cursor(3, 10)).reset
    assert state.view("nope") is None
