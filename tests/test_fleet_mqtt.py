"""End to end on a real Mosquitto: a simulated fleet's readings all arrive, in order, without gaps."""

from __future__ import annotations

import itertools
import queue
import uuid
from collections import defaultdict

import paho.mqtt.client as mqtt
import pytest

from bioreactor.contract import Reading, Status, StatusState, decode
from bioreactor.contract.topics import ROOT
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from simulator.faults import Fault
from simulator.fleet import FleetPlan, publish_fleet

pytestmark = pytest.mark.broker


def test_three_reactors_every_reading_in_order(broker: BrokerAddress) -> None:
    prefix = f"T{uuid.uuid4().hex[:6]}-"
    received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscriber = make_client(f"sub-{prefix}", persistent=False)
    subscriber.on_message = lambda _c, _u, message: received.put(message)
    connect(subscriber, broker)
    reactor_ids = [f"{prefix}{i:02d}" for i in (1, 2, 3)]
    subscriber.subscribe([(f"{ROOT}/{rid}/#", 1) for rid in reactor_ids])
    plan = FleetPlan(
        reactors=3, days=0.5, sample_minutes=5, seed=4, reactor_prefix=prefix,
        faults=((f"{prefix}02", Fault.parse("agitator_failure@6:0.8")),),
    )
    try:
        published = publish_fleet(plan, broker, speed=None)
        readings: dict[str, list[Reading]] = defaultdict(list)
        statuses: dict[str, list[Status]] = defaultdict(list)
        while sum(len(v) for v in readings.values()) < published or len(statuses) < 3 or any(
            s[-1].state is not StatusState.END_OF_STREAM for s in statuses.values()
        ):
            message = received.get(timeout=20)
            if message.topic.endswith("/reading"):
                reading = decode(Reading, message.payload)
                readings[reading.reactor_id].append(reading)
            elif message.topic.endswith("/status"):
                status = decode(Status, message.payload)
                statuses[status.source].append(status)
    finally:
        for rid in reactor_ids:  # leave no retained status behind
            subscriber.publish(f"{ROOT}/{rid}/status", b"", qos=1, retain=True).wait_for_publish(5)
        disconnect(subscriber)

    assert published == 3 * 145
    assert sorted(readings) == reactor_ids
    for series in readings.values():
        assert [r.seq for r in series] == list(range(145))
        assert all(a.timestamp < b.timestamp for a, b in itertools.pairwise(series))
    assert statuses[f"{prefix}01"][0].state is StatusState.ONLINE
    faulty = readings[f"{prefix}02"]
    assert all(r.fault == "none" for r in faulty if r.culture_h < 6)
    assert all(r.fault == "agitator_failure" for r in faulty if r.culture_h >= 6)
    assert min(r.agitation for r in faulty if r.culture_h > 6 and r.agitation is not None) < 30.0
