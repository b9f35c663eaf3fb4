"""Shared helpers of the monitor service tests: plausible readings, the offline expectation,
an MQTT collector and publishers, and `bioreactor monitor` processes."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from bioreactor.contract import AlarmEvent, Reading, encode, replace, topics
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from bioreactor.publisher import OrderedPublisher

if TYPE_CHECKING:
    from monitor.engine import MonitorEngine

#: The `bioreactor` command of this interpreter's environment.
BIOREACTOR = Path(sys.executable).parent / "bioreactor"

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


def fleet(reactors: int, count: int, crash_at: int, prefix: str = "R") -> list[Reading]:
    """Interleaved readings of several reactors (time order), the n-th (from 0) starving from
    ``crash_at + 3n``; reactors are ``<prefix>01``, ``<prefix>02``..."""
    streams = [starving(f"{prefix}{i + 1:02d}", count, crash_at + 3 * i) for i in range(reactors)]
    return [r for group in zip(*streams, strict=True) for r in group]


#: An alarm event as the tests compare them: alarm id, state, message.
EventKey = tuple[str, str, str]


def event_key(event: AlarmEvent) -> EventKey:
    return (event.alarm_id, event.state.value, event.message)


def make_engine() -> MonitorEngine:
    """An engine as `bioreactor monitor` runs it without options (default profile)."""
    from monitor.engine import MonitorEngine  # noqa: PLC0415 - most tests using these helpers need no engine

    return MonitorEngine(_default_config())


@functools.cache
def _default_config() -> Any:
    from monitor.run import monitor_config  # noqa: PLC0415

    return monitor_config(None, None)


def offline_events(readings: list[Reading], *, end_batches: bool = False) -> list[EventKey]:
    """The alarm events of the engine run offline, uninterrupted, over ``readings`` in order, sorted.

    With ``end_batches``, each reactor's batch then ends, as its publisher's end-of-stream
    status ends it for the service (what is still active clears).
    """
    engine = make_engine()
    events = [e for r in readings for e in engine.process(r).events]
    if end_batches:
        last = {r.reactor_id: r.batch_id for r in readings}
        events += [e for reactor, batch in sorted(last.items()) for e in engine.end_batch(reactor, batch).events]
    return sorted(event_key(e) for e in events)


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds. An error inside it (a store read while being written,
    a message not there yet) counts as "not yet", so a race cannot fail a test; the last one
    is reported on time-out."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            if predicate():
                return
        except Exception as err:
            last_error = err
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")
        time.sleep(0.05)


def start_monitor(
    address: BrokerAddress, historian: str | Path, client_id: str, log: Path, *options: str
) -> subprocess.Popen[bytes]:
    """A `bioreactor monitor` process; its output is appended to ``log``."""
    command = [
        str(BIOREACTOR), "monitor", "--broker", str(address),
        "--historian", str(historian), "--client-id", client_id, *options,
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )


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

    def send_retained(self, topic: str, payload: bytes) -> None:
        """Publish retained; an empty payload clears what the broker retains on ``topic``."""
        self._publisher.publish(topic, payload, self._never, retain=True)

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


class PacedPublisher:
    """Publishes readings from a thread, a little at a time, like a live fleet.

    With ``hold_at``, it stops after that many readings until :meth:`resume`, so a test
    can crash or restart something while part of the stream is still to come.
    """

    def __init__(self, address: BrokerAddress, readings: list[Reading], pause_s: float,
                 hold_at: int | None = None) -> None:
        self.readings = readings
        self.pause_s = pause_s
        self.hold_at = len(readings) if hold_at is None else hold_at
        self.sent = 0
        self._resumed = threading.Event()
        self._publisher = Publisher(address)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for i, r in enumerate(self.readings):
            if i == self.hold_at:
                self._resumed.wait()
            self._publisher.readings([r])
            self.sent += 1
            time.sleep(self.pause_s)

    def resume(self) -> None:
        self._resumed.set()

    def finish(self) -> None:
        self.resume()
        self._thread.join()
        self._publisher.close()
