"""What Mosquitto's persistence keeps across a crash, and how the monitor says what it lost.

Mosquitto writes its persistence database on a clean stop and every
``autosave_interval`` seconds (the shipped configurations: 30 s). A crash loses
what arrived since the last save, among it the readings queued for a monitor
that was offline. The monitor cannot get them back, but it must not stay silent:
the next reading's seq jumps, and a data-gap alarm names the readings that never
arrived. Here the broker saves only when stopped cleanly, so what the crash
loses is exactly what was queued.
"""

from __future__ import annotations

import uuid

import pytest

from bioreactor.broker import Mosquitto
from bioreactor.contract import AlarmEvent, AlarmState, Status, StatusState, decode, topics
from dashboards.history import stored_payloads
from monitor.historian import SqliteHistorian, Table
from tests.monitor_helpers import Collector, Publisher, reading, start_monitor, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def stored_seqs(path) -> list[int]:
    if not path.exists():
        return []
    with SqliteHistorian(path, readonly=True) as historian:
        return sorted(historian.frame(Table.READINGS)["seq"].tolist())


def stored_gaps(path) -> list[AlarmEvent]:
    with SqliteHistorian(path, readonly=True) as historian:
        frame = historian.frame(Table.ALARMS)
    return [e for e in stored_payloads(AlarmEvent, frame) if e.check == "data_gap"]


def online(seen: Collector) -> int:
    return sum(decode(Status, p).state is StatusState.ONLINE for p in seen.payloads(topics.MONITOR_STATUS))


def test_a_broker_crash_that_loses_queued_readings_raises_a_data_gap_naming_them(tmp_path):
    data_dir = tmp_path / "mosquitto-data"
    data_dir.mkdir()
    historian, log = tmp_path / "h.sqlite", tmp_path / "monitor.log"
    client_id = f"monitor-{uuid.uuid4().hex[:6]}"
    with Mosquitto(data_dir=data_dir, settings={"autosave_interval": "86400"}) as broker:
        with Collector(broker.address, topics.MONITOR_STATUS) as seen:
            monitor = start_monitor(broker.address, historian, client_id, log)
            wait_until(lambda: online(seen) >= 1, 60, "the monitor online")
        with Publisher(broker.address) as publisher:
            publisher.readings([reading("R01", seq) for seq in range(10)])
        wait_until(lambda: stored_seqs(historian) == list(range(10)), 60, "readings 0-9 stored")
        monitor.terminate()
        assert monitor.wait(60) == 0

        # Queued for the offline monitor's session, in the broker's memory only...
        with Publisher(broker.address) as publisher:
            publisher.readings([reading("R01", seq) for seq in range(10, 15)])
        broker.kill()  # ...and lost with it.
        broker.start()

        with Collector(broker.address, topics.MONITOR_STATUS) as seen:
            monitor = start_monitor(broker.address, historian, client_id, log)
            wait_until(lambda: online(seen) >= 1, 60, "the monitor online again")
        try:
            with Publisher(broker.address) as publisher:
                publisher.readings([reading("R01", seq) for seq in range(15, 20)])
            wait_until(lambda: stored_seqs(historian)[-1:] == [19], 60, "readings 15-19 stored")
        finally:
            monitor.terminate()
            monitor.wait(60)

    assert stored_seqs(historian) == [*range(10), *range(15, 20)]
    (gap,) = [e for e in stored_gaps(historian) if e.state is AlarmState.RAISED]
    assert "5 reading(s) of R01 never arrived: seq 10 to 14" in gap.message
