"""Property-based fuzzing of the running monitor: whatever arrives on its topics, it keeps working.

Hypothesis generates 100,000 messages on every topic the monitor subscribes to
(readings, statuses, acknowledgements; valid and invalid reactor ids and users), with
payloads that are valid, valid with one field corrupted, deeply nested, huge, random
bytes or empty, and publishes each through a real Mosquitto as it is generated. Then
the monitor must have taken every message, stopped on none, met no unexpected error,
and still process a good reading.
"""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bioreactor.contract import encode
from monitor.engine import MonitorEngine
from monitor.historian import SqliteHistorian
from monitor.service import MonitorService, ServiceSettings
from tests.monitor_helpers import Publisher, reading, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

MESSAGES = 100_000

REACTORS = st.sampled_from(["F1", "F2", "F3", "_x", "bad id", "F1.2-x", "R" * 64])
USERS = st.sampled_from(["ana", "bob", "x" * 64, "@"])
FIELDS = sorted(json.loads(encode(reading("F1", 0))))
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.just("9" * 400),
    st.just("2099-01-01T00:00:00Z"),
    st.just("0001-01-01T00:00:00+01:00"),
    st.lists(st.integers(), max_size=3),
)
RAW = st.one_of(
    st.binary(max_size=200),
    st.just(b""),
    st.just(b'{"x": ' + b"[" * 300 + b"]" * 300 + b"}"),
    st.just(b"NaN"),
    st.integers(min_value=1, max_value=200).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
)


@st.composite
def message(draw: st.DrawFn) -> tuple[str, bytes]:
    reactor = draw(REACTORS)
    leaf = draw(st.sampled_from(["reading", "status", "ack"]))
    topic = f"bioreactor/{reactor}/{leaf}" + (f"/{draw(USERS)}" if leaf == "ack" else "")
    kind = draw(st.sampled_from(["valid", "corrupt", "raw"]))
    if kind == "raw":
        return topic, draw(RAW)
    base = json.loads(encode(reading(reactor if reactor.isalnum() else "F1", draw(st.integers(0, 50)))))
    if leaf == "status":
        base = {"schema": 2, "source": reactor, "state": "end_of_stream", "timestamp": base["timestamp"]}
    elif leaf == "ack":
        base = {"schema": 2, "alarm_id": "F1:x", "timestamp": base["timestamp"], "comment": "c"}
    if kind == "corrupt":
        base[draw(st.sampled_from(sorted(base)))] = draw(JUNK)
    return topic, json.dumps(base).encode()


@pytest.fixture(scope="module")
def monitor(broker, tmp_path_factory):
    service = MonitorService(
        broker,
        SqliteHistorian(tmp_path_factory.mktemp("fuzz") / "h.sqlite"),
        MonitorEngine,
        ServiceSettings(client_id=f"fuzz-{uuid.uuid4().hex[:6]}"),
    )
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def sent(broker, monitor):
    """Messages published so far: a publisher shared by the generating test and the checks after it."""
    publisher = Publisher(broker)
    count = [0]

    def send(topic: str, payload: bytes) -> None:
        publisher.send(topic, payload)
        count[0] += 1

    yield send, count
    publisher.close()


@settings(max_examples=MESSAGES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(item=message())
def test_generate_and_publish(sent, item):
    send, _ = sent
    send(*item)


def test_the_monitor_took_every_message_and_stopped_on_none(broker, monitor, sent):
    _, count = sent
    assert count[0] >= MESSAGES
    probe = reading(f"Z{uuid.uuid4().hex[:8]}", 0)
    with Publisher(broker) as pub:
        pub.readings([probe])

    def settled() -> bool:
        return monitor.counters.messages >= count[0] + 1 or monitor.failure is not None

    wait_until(settled, timeout=600, what="the monitor to take every message")
    counters = monitor.counters
    print(
        f"\nfuzz: {count[0]} messages sent, {counters.messages - 1} taken, {counters.dead_letters} dead-lettered, "
        f"{counters.readings} readings processed, {counters.redeliveries} redeliveries, "
        f"{counters.errors} unexpected errors, worker failure: {monitor.failure!r}"
    )
    assert monitor.failure is None and counters.errors == 0
    wait_until(lambda: probe.reactor_id in monitor.engine.reactors(), what="the probe reading")
