"""The monitor survives crashes, broker restarts and shutdowns without losing or repeating work.

Each test compares with the engine run offline, uninterrupted, over the same
readings: the service must store exactly those readings once and exactly those
alarm events, and publish every one of those events.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bioreactor.contract import AlarmEvent, Reading, Recommendation, Status, StatusState, decode, topics
from bioreactor.mqtt import BrokerAddress
from monitor.historian import SqliteHistorian, Table
from monitor.service import MonitorService, ServiceSettings
from tests.monitor_helpers import (
    Collector,
    PacedPublisher,
    Publisher,
    fleet,
    make_engine,
    offline_events,
    start_monitor,
    wait_until,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def stored_events(path: Path) -> list[tuple[str, str, str]]:
    frame = read(path, Table.ALARMS)
    return sorted(zip(frame["alarm_id"], frame["state"], frame["message"], strict=True))


def published_events(seen: Collector) -> set[tuple[str, str, str]]:
    events = [decode(AlarmEvent, p) for p in seen.payloads("bioreactor/+/alarm")]
    return {(e.alarm_id, e.state.value, e.message) for e in events}


def read(path: Path, table: Table):
    with SqliteHistorian(path, readonly=True) as historian:
        return historian.frame(table)


def stored_count(path: Path) -> int:
    return len(read(path, Table.READINGS)) if path.exists() else 0


def assert_each_reading_stored_once(path: Path, readings: list[Reading]) -> None:
    frame = read(path, Table.READINGS)
    keys = list(zip(frame["reactor_id"], frame["batch_id"], frame["seq"], strict=True))
    assert len(keys) == len(set(keys))
    assert set(keys) == {(r.reactor_id, r.batch_id, r.seq) for r in readings}


class MonitorRuns:
    """Successive `bioreactor monitor` processes of one service: same client id and historian."""

    def __init__(self, address: BrokerAddress, workdir: Path) -> None:
        self.address = address
        self.historian = workdir / "h.sqlite"
        self.log = workdir / "monitor.log"
        self.client_id = f"monitor-{uuid.uuid4().hex[:6]}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, seen: Collector) -> None:
        """Start a process and wait until it says it is online (``seen`` follows the status)."""
        online = statuses(seen, StatusState.ONLINE)
        self.process = start_monitor(self.address, self.historian, self.client_id, self.log)
        wait_until(lambda: statuses(seen, StatusState.ONLINE) > online, 60, "the monitor online")

    def stop(self, signum: signal.Signals) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(30)

    def stored(self) -> int:
        return stored_count(self.historian)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def monitor_runs(private_broker, tmp_path) -> Iterator[MonitorRuns]:
    runs = MonitorRuns(private_broker.address, tmp_path)
    yield runs
    runs.close()


def statuses(seen: Collector, state: StatusState) -> int:
    return sum(decode(Status, p).state is state for p in seen.payloads(topics.MONITOR_STATUS))


def test_killed_monitor_restarts_without_loss_or_repeats(monitor_runs):
    runs, historian = monitor_runs, monitor_runs.historian
    readings = fleet(reactors=4, count=60, crash_at=15)
    with Collector(runs.address, "bioreactor/+/alarm", topics.MONITOR_STATUS) as seen:
        runs.start(seen)
        # Half the stream before the kill; the rest arrives while the monitor is down and after.
        publisher = PacedPublisher(runs.address, readings, pause_s=0.01, hold_at=len(readings) // 2)
        wait_until(lambda: runs.stored() >= 40, 60, "40 readings stored")
        runs.stop(signal.SIGKILL)
        killed_at = publisher.sent
        publisher.resume()
        wait_until(lambda: statuses(seen, StatusState.OFFLINE) == 1, what="the last will")
        runs.start(seen)
        wait_until(lambda: runs.stored() == len(readings), 90, "every reading")
        publisher.finish()
        expected = offline_events(readings)
        wait_until(lambda: published_events(seen) >= set(expected), what="every event published")
        assert runs.stop(signal.SIGTERM) == 0, runs.log.read_text()

    assert killed_at <= len(readings) // 2, "the kill must happen while readings still arrive"
    assert_each_reading_stored_once(historian, readings)
    assert stored_events(historian) == expected
    assert published_events(seen) == set(expected)
    assert any(state == "raised" for _, state, _ in expected)
    assert read(historian, Table.DEAD_LETTERS).empty


class Gate:
    """A recommender that holds the worker inside a unit of work until released."""

    def __init__(self) -> None:
        self.armed = False
        self.holding = threading.Event()
        self.release = threading.Event()

    def recommend(self, readings: list[Reading]) -> list[Recommendation]:
        if self.armed:
            self.armed = False
            self.holding.set()
            self.release.wait(30)
        return []


def test_broker_restart_mid_stream_loses_and_repeats_nothing(private_broker, tmp_path):
    address, path = private_broker.address, tmp_path / "h.sqlite"
    readings = fleet(reactors=3, count=60, crash_at=20)
    gate = Gate()
    service = MonitorService(
        address,
        SqliteHistorian(path),
        make_engine,
        ServiceSettings(client_id=f"monitor-{uuid.uuid4().hex[:6]}", recommendation_interval_h=0.01),
        gate,
    )
    service.start()
    try:
        with Collector(address, "bioreactor/+/alarm", persistent=True) as seen:
            # Half the stream before the broker goes down, the rest while it is down and after.
            publisher = PacedPublisher(address, readings, pause_s=0.01, hold_at=len(readings) // 2)
            wait_until(lambda: stored_count(path) >= 30, what="30 readings stored")
            gate.armed = True
            assert gate.holding.wait(30)
            held = stored_count(path)
            # The worker now holds received readings; it stores them and publishes their events
            # while the broker is down.
            private_broker.stop()
            gate.release.set()
            wait_until(lambda: stored_count(path) > held, what="work done while the broker is down")
            publisher.resume()  # into the publisher's offline queue
            private_broker.start()
            publisher.finish()
            wait_until(lambda: stored_count(path) == len(readings), 60, "every reading")
            expected = offline_events(readings)
            wait_until(lambda: published_events(seen) >= set(expected), what="every event")
    finally:
        service.stop()

    assert 30 <= held <= len(readings) // 2
    assert_each_reading_stored_once(path, readings)
    assert stored_events(path) == expected
    assert published_events(seen) == set(expected)
    assert read(path, Table.DEAD_LETTERS).empty
    with SqliteHistorian(path, readonly=True) as historian:
        assert historian.pending(0) == []


def test_sigterm_drains_flushes_and_says_offline(monitor_runs):
    runs, historian = monitor_runs, monitor_runs.historian
    readings = fleet(reactors=2, count=150, crash_at=40)
    with Collector(runs.address, topics.MONITOR_STATUS) as seen:
        runs.start(seen)
        with Publisher(runs.address) as pub:
            pub.readings(readings)
        wait_until(lambda: runs.stored() > 0, what="the first readings stored")
        assert runs.stop(signal.SIGTERM) == 0, runs.log.read_text()
        wait_until(lambda: statuses(seen, StatusState.OFFLINE) == 1, what="the offline status")

        offline = [decode(Status, p) for p in seen.payloads(topics.MONITOR_STATUS)][-1]
        assert offline.detail == "stopped"  # said by the monitor itself, not its last will
        wal = historian.with_name(historian.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        assert runs.stored() > 0

        # What the stopped monitor had not taken stays with the broker for the next run.
        runs.start(seen)
        wait_until(lambda: runs.stored() == len(readings), 60, "every reading")
        assert runs.stop(signal.SIGTERM) == 0

    assert_each_reading_stored_once(historian, readings)
    assert stored_events(historian) == offline_events(readings)
