"""Shared helpers of the monitor service tests: plausible readings and an MQTT collector."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt

from bioreactor.contract import Reading, encode, topics
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from bioreactor.publisher import OrderedPublisher

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SAMPLE = timedelta(minutes=5)


def reading(reactor_id: str = "R01", seq: int = 0, batch_id: str = "B1", **values: Any) -> Reading:
    """A healthy mid-culture reading, ``seq`` samples after :data:`START`."""
    base = Reading(
        timestamp=START + seq * SAMPLE,
        reactor_id=reactor_id,
        batch_id=batch_id,
        seq=seq,
        culture_h=48.0 + seq * SAMPLE.total_seconds() / 3600,
        vcd=5.0,
        viability=97.0,
        glucose=4.5,
        lactate=1.5,
        do=40.0,
        ph=7.0,
        temperature=37.0,
        agitation=120.0,
        airflow=0.05,
        feed_rate=10.0,
        volume=2.5,
        do_setpoint=40.0,
        ph_setpoint=7.0,
        temperature_setpoint=37.0,
    )
    return replace(base, **values)


def starving(reactor_id: str, count: int, crash_at: int, batch_id: str = "B1") -> list[Reading]:
    """``count`` readings whose glucose collapses below the low-low limit from ``crash_at`` on."""
    return [reading(reactor_id, seq, batch_id, glucose=0.2 if seq >= crash_at else 4.5) for seq in range(count)]


def fleet(reactors: int, count: int, crash_at: int) -> list[Reading]:
    """Interleaved readings of several reactors (time order), each starving from ``crash_at``."""
    streams = [starving(f"R{i + 1:02d}", count, crash_at + 3 * i) for i in range(reactors)]
    return [r for group in zip(*streams, strict=True) for r in group]


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Collector:
    """Subscribes (QoS 1) and keeps every message received, with its retain flag.

    ``persistent`` keeps the session across a broker restart, so nothing published
    meanwhile is missed.
    """

    def __init__(self, address: BrokerAddress, *subscriptions: str, persistent: bool = False) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = make_client(f"collector-{uuid.uuid4().hex[:8]}", persistent=persistent)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        connect(self._client, address)
        self._client.subscribe([(s, 1) for s in subscriptions])
        if not self._subscribed.wait(10):
            raise AssertionError("no SUBACK from the broker")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def payloads(self, topic_filter: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if mqtt.topic_matches_sub(topic_filter, t)]

    def close(self) -> None:
        disconnect(self._client)

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Publisher:
    """A QoS 1 publisher, the project's ordered one, that waits until the broker has every message."""

    def __init__(self, address: BrokerAddress) -> None:
        self._publisher = OrderedPublisher(make_client(f"publisher-{uuid.uuid4().hex[:8]}", persistent=False))
        self._never = threading.Event()  # wait for the broker as long as it takes
        connect(self._publisher.client, address)

    def send(self, topic: str, payload: bytes) -> None:
        self._publisher.publish(topic, payload, self._never)

    def readings(self, readings: Iterable[Reading]) -> None:
        for r in readings:
            self.send(topics.reading_topic(r.reactor_id), encode(r))

    def flush(self, timeout: float = 30.0) -> None:
        assert self._publisher.window.drain(timeout), f"no PUBACK for every message within {timeout} s"

    def close(self) -> None:
        self.flush()
        self._publisher.close(0.0)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
