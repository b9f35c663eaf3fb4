"""No message can stop the monitor: each input that once did is dead-lettered, and the service goes on.

Every case runs against a real Mosquitto: the poison message is published, then a
good reading, and the good reading must be processed by the same monitor.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from bioreactor.contract import (
    AlarmEvent,
    AlarmState,
    Clock,
    DeadLetter,
    Reading,
    Severity,
    Status,
    StatusState,
    decode,
    encode,
    topics,
)
from monitor.alerts import AlertFilter, AlertTail, Follow, Notice
from monitor.engine import MonitorEngine, Outcome
from monitor.historian import SqliteHistorian, Table
from monitor.service import MonitorService, ServiceSettings
from tests.monitor_helpers import Collector, Publisher, reading, wait_until

pytestmark = pytest.mark.broker

NESTED = '{"x": ' + "[" * 300 + "]" * 300 + "}"  # a few hundred bytes, 301 levels deep


def raw_reading(reactor_id: str, seq: int, field: str, raw: str) -> bytes:
    """A valid reading of ``reactor_id`` whose ``field`` holds the raw JSON text ``raw``."""
    text = json.dumps({**json.loads(encode(reading(reactor_id, seq))), field: "@"})
    return text.replace('"@"', raw).encode()


def fresh_service(address, tmp_path, **settings) -> MonitorService:
    service = MonitorService(
        address,
        SqliteHistorian(tmp_path / f"h-{uuid.uuid4().hex[:6]}.sqlite"),
        MonitorEngine,
        ServiceSettings(client_id=f"monitor-{uuid.uuid4().hex[:6]}", **settings),
    )
    service.start()
    return service


def stored_seqs(service: MonitorService, reactor_id: str) -> list[int]:
    assert isinstance(service.store, SqliteHistorian)
    with SqliteHistorian(service.store.path, readonly=True) as h:
        frame = h.frame(Table.READINGS)
    return frame.loc[frame["reactor_id"] == reactor_id, "seq"].tolist()


# The inputs that used to stop the monitor for good, and what its dead letter must say.
POISON = [
    pytest.param("reading", NESTED.encode(), "levels deep", id="nested-reading"),
    pytest.param("ack", NESTED.encode(), "levels deep", id="nested-ack"),
    pytest.param("status", NESTED.encode(), "levels deep", id="nested-status"),
    pytest.param("reading", ("vcd", "9" * 400), "'vcd'", id="400-digit-vcd"),
    pytest.param("reading", ("vcd", "9" * 5001), "'vcd'", id="5001-digit-vcd"),
    pytest.param("reading", ("seq", str(10**20)), "'seq'", id="seq-1e20"),
    pytest.param("reading", ("timestamp", '"0001-01-01T00:00:00+01:00"'), "'timestamp'", id="year-1"),
    pytest.param("reading", ("timestamp", '"9999-12-31T23:59:59.999Z"'), "'timestamp'", id="year-9999"),
    pytest.param("reading", ("timestamp", '"2099-01-01T00:00:00Z"'), "ahead of this machine's clock", id="2099"),
    pytest.param("reading", ("seq", str(2**62)), "'seq'", id="seq-2**62"),
    pytest.param("reading", ("batch_id", json.dumps("b" * 1_100_000)), "exceeds the limit", id="1MB-batch"),
]


@pytest.mark.parametrize(("leaf", "poison", "reason"), POISON)
def test_a_poison_message_is_dead_lettered_and_the_monitor_goes_on(broker, tmp_path, leaf, poison, reason):
    reactor = f"P{uuid.uuid4().hex[:6]}"
    topic = {"reading": topics.reading_topic(reactor), "status": topics.status_topic(reactor),
             "ack": topics.ack_topic(reactor, "ana")}[leaf]
    payload = poison if isinstance(poison, bytes) else raw_reading(reactor, 1, *poison)
    service = fresh_service(broker, tmp_path)
    try:
        with Collector(broker, topics.DEAD_LETTER) as letters, Publisher(broker) as pub:
            pub.readings([reading(reactor, 0)])
            pub.send(topic, payload)
            pub.readings([reading(reactor, 2)])
            wait_until(lambda: stored_seqs(service, reactor) == [0, 2], what="the good readings around the poison")
            wait_until(lambda: letters.payloads(topics.DEAD_LETTER), what="the dead letter")
        (letter,) = [decode(DeadLetter, p) for p in letters.payloads(topics.DEAD_LETTER)]
        assert letter.topic == topic and reason in letter.reason
        assert letter.size == len(payload) and len(letter.payload) <= 2000
        assert service.failure is None and service.counters.errors == 0
    finally:
        service.stop()


def test_a_retained_poison_status_does_not_stop_a_fresh_monitor(broker, tmp_path):
    """The retained message comes again to every new subscriber: each must survive it."""
    reactor = f"P{uuid.uuid4().hex[:6]}"
    with Publisher(broker) as pub:
        pub.send_retained(topics.status_topic(reactor), NESTED.encode())
    try:
        for _ in range(2):  # a monitor, then a fresh one with a new client id and historian
            service = fresh_service(broker, tmp_path)
            try:
                with Publisher(broker) as pub:
                    pub.readings([reading(reactor, 0)])
                wait_until(partial(stored_seqs, service, reactor), what="the reading after the status")
                assert stored_seqs(service, reactor) == [0]
                assert service.counters.dead_letters == 1 and service.failure is None
            finally:
                service.stop()
    finally:
        with Publisher(broker) as pub:
            pub.send_retained(topics.status_topic(reactor), b"")  # clear it: nothing retained is left behind


def test_an_empty_retained_payload_is_ignored_not_dead_lettered(broker, tmp_path):
    reactor = f"P{uuid.uuid4().hex[:6]}"
    service = fresh_service(broker, tmp_path)
    try:
        with Publisher(broker) as pub:
            pub.send(topics.status_topic(reactor), b"")
            pub.readings([reading(reactor, 0)])
        wait_until(lambda: stored_seqs(service, reactor) == [0], what="the reading")
        assert service.counters.dead_letters == 0
    finally:
        service.stop()


def test_a_replay_stream_may_carry_old_and_future_dates_a_live_one_no_future(broker, tmp_path):
    live, replayed = f"L{uuid.uuid4().hex[:6]}", f"Y{uuid.uuid4().hex[:6]}"
    future = datetime.now(UTC) + timedelta(days=3)
    service = fresh_service(broker, tmp_path)
    try:
        with Publisher(broker) as pub:
            status = Status(source=replayed, state=StatusState.ONLINE, timestamp=datetime.now(UTC),
                            clock=Clock.REPLAY)
            pub.send(topics.status_topic(replayed), encode(status))
            pub.readings([reading(replayed, 0, timestamp=future), reading(live, 0, timestamp=future)])
            pub.readings([reading(live, 1)])
        wait_until(lambda: stored_seqs(service, replayed) == [0], what="the replayed reading")
        wait_until(lambda: stored_seqs(service, live) == [1], what="the live reading after the rejected one")
        assert service.counters.dead_letters == 1
    finally:
        service.stop()


class Exploding(MonitorEngine):
    """An engine with a bug: it fails on readings whose glucose is exactly 13.0."""

    def process(self, readings: Reading | Iterable[Reading]) -> Outcome:
        batch = [readings] if isinstance(readings, Reading) else list(readings)
        if any(r.glucose == 13.0 for r in batch):
            raise RuntimeError("a bug in a check")
        return super().process(batch)


def test_an_unexpected_error_costs_one_message_and_alarms_the_operator(broker, tmp_path):
    reactor = f"P{uuid.uuid4().hex[:6]}"
    service = MonitorService(
        broker,
        SqliteHistorian(tmp_path / "h.sqlite"),
        Exploding,
        ServiceSettings(client_id=f"monitor-{uuid.uuid4().hex[:6]}"),
    )
    service.start()
    try:
        with Collector(broker, topics.DEAD_LETTER, topics.MONITOR_ALARM) as seen, Publisher(broker) as pub:
            pub.readings([reading(reactor, 0), reading(reactor, 1, glucose=13.0), reading(reactor, 2)])
            pub.readings([reading(reactor, 3, glucose=13.0), reading(reactor, 4)])
            wait_until(lambda: stored_seqs(service, reactor) == [0, 2, 4], what="the readings around the bug")
            wait_until(lambda: len(seen.payloads(topics.DEAD_LETTER)) == 2, what="two dead letters")
            wait_until(lambda: seen.payloads(topics.MONITOR_ALARM), what="the monitor's own alarm")
        letters = [decode(DeadLetter, p) for p in seen.payloads(topics.DEAD_LETTER)]
        assert all("a bug in a check" in letter.reason for letter in letters)
        (alarm,) = [decode(AlarmEvent, p) for p in seen.payloads(topics.MONITOR_ALARM)]  # one alarm, not two
        assert alarm.state is AlarmState.RAISED and alarm.reactor_id == "_monitor"
        assert "RuntimeError: a bug in a check" in alarm.message
        assert service.counters.errors == 2 and service.failure is None
    finally:
        service.stop()


def test_alerts_survive_nested_and_foreign_payloads(broker):
    received: list[Notice] = []
    tail = AlertTail(broker, [received.append], AlertFilter(reactors=frozenset({"R77"}), follow=Follow.ALARMS))
    tail.start()
    try:
        good = AlarmEvent(
            alarm_id="R77:B:x:1", reactor_id="R77", batch_id="B", check="x", severity=Severity.WARNING,
            state=AlarmState.RAISED, timestamp=datetime.now(UTC), first_seen=datetime.now(UTC),
            last_seen=datetime.now(UTC), message="a real alarm",
        )
        with Publisher(broker) as pub:
            pub.send(topics.alarm_topic("R77"), NESTED.encode())
            pub.send(topics.alarm_topic("R77"), b"\xff" * 100)
            pub.send(topics.alarm_topic("R77"), encode(good))
        wait_until(lambda: received, what="the good alarm after the bad ones")
        assert tail.alive() and tail.malformed == 2 and received == [good]
    finally:
        tail.stop()
