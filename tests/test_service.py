"""The monitor service on a real Mosquitto: alarms, dead letters, acks, advice, metrics."""

from __future__ import annotations

import json
import math
import time
import uuid

import pytest

from bioreactor.contract import (
    Acknowledgement,
    ActiveAlarms,
    AlarmEvent,
    AlarmState,
    DeadLetter,
    Metrics,
    Reading,
    Recommendation,
    Status,
    StatusState,
    decode,
    encode,
    replace,
    topics,
)
from bioreactor.mqtt import connect, disconnect, make_client
from monitor.engine import MonitorEngine
from monitor.historian import SqliteHistorian, Table
from monitor.service import MonitorService, ServiceSettings
from tests.monitor_helpers import Collector, Publisher, reading, starving, wait_until

pytestmark = pytest.mark.broker


def stored(service: MonitorService, table: Table):
    """What the service's historian holds, read through a connection of its own."""
    assert isinstance(service.store, SqliteHistorian)
    with SqliteHistorian(service.store.path, readonly=True) as h:
        return h.frame(table)


class FeedAdvisor:
    """A trivial advisor shaped like the feed model: it sees every reading, advises on the latest.

    One more mL/h than the current feed, per reactor in the call.
    """

    def __init__(self) -> None:
        self.calls: list[list[Reading]] = []

    def recommend(self, readings: list[Reading]) -> list[Recommendation]:
        self.calls.append(list(readings))
        latest = {r.reactor_id: r for r in readings}
        return [
            Recommendation(
                reactor_id=r.reactor_id,
                batch_id=r.batch_id,
                timestamp=r.timestamp,
                recommended_feed_rate=(r.feed_rate or 0.0) + 1,
                current_feed_rate=r.feed_rate or 0.0,
                delta=1.0,
                interval_low=r.feed_rate or 0.0,
                interval_high=(r.feed_rate or 0.0) + 2,
                model_version="test",
            )
            for r in latest.values()
        ]


@pytest.fixture
def start_service(private_broker, tmp_path):
    started: list[MonitorService] = []

    def start(recommender=None, **settings) -> MonitorService:
        service = MonitorService(
            private_broker.address,
            SqliteHistorian(tmp_path / f"historian-{len(started)}.sqlite"),
            MonitorEngine,
            ServiceSettings(client_id=f"monitor-{uuid.uuid4().hex[:6]}", **settings),
            recommender,
        )
        service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def test_readings_in_alarms_out_with_message(private_broker, start_service):
    with Collector(private_broker.address, "bioreactor/#") as seen:
        service = start_service(metrics_interval_s=0.3)
        with Publisher(private_broker.address) as pub:
            pub.readings(starving("R01", 12, crash_at=4))
        wait_until(lambda: len(stored(service, Table.READINGS)) == 12, what="12 stored readings")
        wait_until(lambda: seen.payloads("bioreactor/R01/alarm"), what="an alarm event")

        def metrics() -> list[Metrics]:
            return [decode(Metrics, p) for p in seen.payloads(topics.MONITOR_METRICS)]

        wait_until(lambda: any(m.active_alarms >= 1 for m in metrics()), what="metrics counting the alarms")

        events = [decode(AlarmEvent, p) for p in seen.payloads("bioreactor/R01/alarm")]
        raised = [e for e in events if e.state is AlarmState.RAISED]
        glucose = [e for e in raised if e.variable == "glucose"]
        assert glucose, f"no glucose alarm among {[e.check for e in raised]}"
        assert "glucose" in glucose[0].message.lower() and len(glucose[0].message) > 40
        assert glucose[0].timestamp > reading(seq=4).timestamp  # after the on-delay

        assert all(m.dead_letters == 0 for m in metrics())
        assert any(m.readings_per_s > 0 for m in metrics())

    history = stored(service, Table.ALARMS)
    assert set(history["alarm_id"]) == {e.alarm_id for e in events}

    # A late subscriber gets the retained state at once: active alarms and status, no events.
    with Collector(private_broker.address, "bioreactor/R01/#", topics.MONITOR_STATUS) as late:
        wait_until(lambda: late.payloads("bioreactor/R01/alarms/active"), what="retained alarms")
        wait_until(lambda: late.payloads(topics.MONITOR_STATUS), what="retained status")
        assert all(retain for _, _, retain in late.messages)
        assert not late.payloads("bioreactor/R01/alarm")
    active = decode(ActiveAlarms, late.payloads("bioreactor/R01/alarms/active")[-1])
    assert {a.alarm_id for a in active.alarms} >= {e.alarm_id for e in glucose}
    assert decode(Status, late.payloads(topics.MONITOR_STATUS)[0]).state is StatusState.ONLINE


def test_bad_input_is_dead_lettered_and_good_readings_keep_flowing(private_broker, start_service):
    good = [reading("R02", seq) for seq in range(6)]
    valid = json.loads(encode(reading("R02", 100)))
    bad: list[tuple[str, bytes, str]] = [
        ("bioreactor/R02/reading", b"{not json", "malformed JSON"),
        ("bioreactor/R02/reading", b'{"glucose": "\xff\xfe"}', "'glucose'"),
        ("bioreactor/R02/reading", json.dumps({**valid, "seq": None}).encode(), "'seq'"),
        ("bioreactor/R02/reading", json.dumps({**valid, "do": "high"}).encode(), "'do'"),
        ("bioreactor/R02/reading", json.dumps({**valid, "ph": float("nan")}).encode(), "finite"),
        ("bioreactor/R02/reading", json.dumps({**valid, "vcd": 1e300}).encode(), "'vcd'"),
        ("bioreactor/R03/reading", encode(reading("R02", 101)), "does not match the topic"),
        ("bioreactor/R02/ack/ana", b"[]", "expected `object`"),
    ]
    service = start_service()
    with (
        Collector(private_broker.address, topics.DEAD_LETTER) as letters,
        Publisher(private_broker.address) as pub,
    ):
        for i, (topic, payload, _) in enumerate(bad):
            pub.readings(good[i : i + 1])
            pub.send(topic, payload)
        pub.readings(good[len(bad) :])
        pub.flush()
        pub.readings([good[2]])  # exactly what was processed: a redelivery, not an error
        pub.readings([replace(good[3], glucose=1.0)])  # same seq, other content: a conflict
        pub.readings([replace(reading("R02", 1), seq=50)])  # older than the newest reading
        expected = len(bad) + 2
        wait_until(lambda: len(letters.payloads(topics.DEAD_LETTER)) == expected, what="dead letters")
        pub.readings([reading("R02", 6)])
        wait_until(lambda: len(stored(service, Table.READINGS)) == 7, what="readings after errors")

    dead = [decode(DeadLetter, p) for p in letters.payloads(topics.DEAD_LETTER)]
    for (topic, payload, reason), letter in zip(bad, dead, strict=False):
        assert letter.topic == topic
        assert reason in letter.reason
        assert letter.payload == payload.decode("utf-8", errors="backslashreplace")
    assert "\\xff" in dead[1].payload
    assert [d.topic for d in dead[len(bad) :]] == ["bioreactor/R02/reading"] * 2
    assert service.counters.dead_letters == expected
    assert service.counters.redeliveries == 1
    assert list(stored(service, Table.READINGS)["seq"]) == list(range(7))
    assert len(stored(service, Table.DEAD_LETTERS)) == expected


def test_acknowledgement_over_mqtt_changes_state_and_is_stored(private_broker, start_service):
    service = start_service()
    with Collector(private_broker.address, "bioreactor/R04/#", topics.DEAD_LETTER) as seen:
        with Publisher(private_broker.address) as pub:
            pub.readings(starving("R04", 8, crash_at=2))
        wait_until(lambda: seen.payloads("bioreactor/R04/alarm"), what="an alarm")
        target = decode(AlarmEvent, seen.payloads("bioreactor/R04/alarm")[0])
        ack = Acknowledgement(
            alarm_id=target.alarm_id,
            user="ana",
            timestamp=target.timestamp,
            comment="feed pump checked",
        )
        with Publisher(private_broker.address) as pub:
            pub.send(topics.ack_topic("R04", "ana"), encode(replace(ack, user="mallory")))
            pub.send(topics.ack_topic("R04", "ana"), encode(replace(ack, alarm_id="R04:nope")))

        def acknowledged() -> list[AlarmEvent]:
            events = [decode(AlarmEvent, p) for p in seen.payloads("bioreactor/R04/alarm")]
            return [e for e in events if e.state is AlarmState.ACKNOWLEDGED]

        wait_until(acknowledged, what="the acknowledged event")
        wait_until(lambda: seen.payloads(topics.DEAD_LETTER), what="the unknown alarm's dead letter")

    event = acknowledged()[0]
    assert (event.alarm_id, event.user, event.comment) == (
        target.alarm_id,
        "ana",
        "feed pump checked",
    )
    active = decode(ActiveAlarms, seen.payloads("bioreactor/R04/alarms/active")[-1])
    states = {a.alarm_id: a.state for a in active.alarms}
    assert states[target.alarm_id] is AlarmState.ACKNOWLEDGED
    assert "R04:nope" in decode(DeadLetter, seen.payloads(topics.DEAD_LETTER)[0]).reason
    acks = stored(service, Table.ACKNOWLEDGEMENTS)
    assert acks[["alarm_id", "user", "batch_id"]].values.tolist() == [[target.alarm_id, "ana", "B1"]]


def test_recommendations_once_per_culture_interval(private_broker, start_service):
    advisor = FeedAdvisor()
    service = start_service(recommender=advisor, recommendation_interval_h=1.0)
    hours = [[reading(r, seq) for seq in range(12 * h, 12 * h + 12) for r in ("R05", "R06")] for h in range(3)]
    with Collector(private_broker.address, "bioreactor/+/recommendation") as seen:
        for hour, readings in enumerate(hours, start=1):
            with Publisher(private_broker.address) as pub:
                pub.readings(readings)
            total = 24 * hour

            def hour_stored(n: int = total) -> bool:
                return len(stored(service, Table.READINGS)) == n

            wait_until(hour_stored, what="an hour of readings")
        wait_until(lambda: len(seen.payloads("bioreactor/+/recommendation")) == 6, what="six recommendations")

    # The advisor saw every reading once, in order: it can keep its own history.
    everything = [r for readings in hours for r in readings]
    for reactor in ("R05", "R06"):
        seen_by_advisor = [r for call in advisor.calls for r in call if r.reactor_id == reactor]
        assert seen_by_advisor == [r for r in everything if r.reactor_id == reactor][: len(seen_by_advisor)]
    published = [decode(Recommendation, p) for p in seen.payloads("bioreactor/+/recommendation")]
    culture_h = {r.timestamp: r.culture_h for r in everything}
    per_hour = sorted((p.reactor_id, math.floor(culture_h[p.timestamp])) for p in published)
    assert per_hour == sorted((r, 48 + h) for r in ("R05", "R06") for h in range(3))
    assert {p.recommended_feed_rate - p.current_feed_rate for p in published} == {1.0}
    assert len(stored(service, Table.RECOMMENDATIONS)) == 6


def test_a_full_queue_makes_mqtt_wait_and_loses_nothing(private_broker, start_service):
    service = start_service(queue_size=1, max_batch=1)
    count = 150
    with Publisher(private_broker.address) as pub:
        pub.readings(reading("R07", seq) for seq in range(count))
    wait_until(lambda: len(stored(service, Table.READINGS)) == count, what="every reading")
    assert service.backpressure_waits > 0
    assert list(stored(service, Table.READINGS)["seq"]) == list(range(count))


def test_a_silent_reactor_goes_stale_and_recovers(private_broker, start_service):
    service = start_service(stale_check_interval_s=0.2)
    with Collector(private_broker.address, "bioreactor/R09/alarm") as seen:
        with Publisher(private_broker.address) as pub:
            pub.readings(reading(r, seq) for seq in range(3) for r in ("R08", "R09"))
            # R08 goes on for 40 minutes of culture time; R09 says nothing.
            pub.readings(reading("R08", seq) for seq in range(3, 11))
        wait_until(lambda: seen.payloads("bioreactor/R09/alarm"), what="a stale alarm")
        stale = decode(AlarmEvent, seen.payloads("bioreactor/R09/alarm")[0])
        with Publisher(private_broker.address) as pub:
            pub.readings([reading("R09", 3)])  # the next one: no gap in its seq
        wait_until(lambda: len(seen.payloads("bioreactor/R09/alarm")) == 2, what="the clearing")
        cleared = decode(AlarmEvent, seen.payloads("bioreactor/R09/alarm")[1])

    assert (stale.state, cleared.state) == (AlarmState.RAISED, AlarmState.CLEARED)
    assert stale.alarm_id == cleared.alarm_id and "R09" in stale.message
    alarms = stored(service, Table.ALARMS)
    assert list(alarms.loc[alarms["reactor_id"] == "R09", "state"]) == ["raised", "cleared"]


def test_a_reconnection_restates_the_retained_active_alarms(private_broker, start_service):
    service = start_service(stale_check_interval_s=0)  # the reactor falls silent: keep its alarms as they are
    with Publisher(private_broker.address) as pub:
        pub.readings(starving("R02", 12, crash_at=4))
    wait_until(lambda: service.engine.active_alarms("R02").alarms, what="active alarms")
    expected = {a.alarm_id for a in service.engine.active_alarms("R02").alarms}
    topic = topics.active_alarms_topic("R02")

    def retained() -> set[str]:
        with Collector(private_broker.address, topic) as late:
            time.sleep(0.3)
            payloads = [p for p in late.payloads(topic) if p]
        return {a.alarm_id for a in decode(ActiveAlarms, payloads[-1]).alarms} if payloads else set()

    wait_until(lambda: retained() == expected, what="the retained active alarms")
    # The broker's retained list goes stale (erased here), then the broker restarts.
    eraser = make_client(f"eraser-{uuid.uuid4().hex[:6]}", persistent=False)
    connect(eraser, private_broker.address)
    eraser.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
    disconnect(eraser)
    assert retained() == set()
    private_broker.restart()
    wait_until(lambda: retained() == expected, 30, "the active alarms restated after the reconnection")
