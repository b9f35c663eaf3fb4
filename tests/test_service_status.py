"""The service follows publishers' end-of-stream status: alarms clear, the reactor is not stale."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from bioreactor.broker import Mosquitto
from bioreactor.contract import AlarmEvent, AlarmState, Status, StatusState, decode, encode, topics
from monitor.engine import MonitorEngine
from monitor.historian import SqliteHistorian
from monitor.service import MonitorService, ServiceSettings
from tests.monitor_helpers import START, Collector, Publisher, reading, starving, wait_until

pytestmark = pytest.mark.broker


def events(seen: Collector, reactor_id: str) -> list[AlarmEvent]:
    return [decode(AlarmEvent, p) for p in seen.payloads(topics.alarm_topic(reactor_id))]


def test_end_of_stream_clears_alarms_and_silences_stale(private_broker: Mosquitto, tmp_path: Path) -> None:
    historian = tmp_path / "historian.sqlite"
    service = MonitorService(
        private_broker.address,
        SqliteHistorian(historian),
        MonitorEngine,
        ServiceSettings(client_id=f"monitor-{uuid.uuid4().hex[:6]}", stale_check_interval_s=0.2),
    )
    service.start()
    try:
        with Collector(private_broker.address, "bioreactor/+/alarm") as seen:
            with Publisher(private_broker.address) as pub:
                # R05 starves, then its batch ends; R07 stops without notice; R06 runs on.
                pub.readings(r for seq in range(8) for r in (
                    starving("R05", 8, crash_at=0)[seq], reading("R06", seq), reading("R07", seq)
                ))
            wait_until(lambda: events(seen, "R05"), what="R05's starvation alarms")
            raised = {e.alarm_id for e in events(seen, "R05")}
            done = Status("R05", StatusState.END_OF_STREAM, START + timedelta(minutes=36), "B1", "batch done")
            with Publisher(private_broker.address) as pub:
                pub.send(topics.status_topic("R05"), encode(done))
                pub.readings(reading("R06", seq) for seq in range(8, 16))
            wait_until(lambda: events(seen, "R07"), what="R07 going stale")
            r05 = events(seen, "R05")
        assert {e.alarm_id for e in r05 if e.state is AlarmState.CLEARED} == raised
        assert all("batch B1 ended" in e.message for e in r05 if e.state is AlarmState.CLEARED)
        assert not any(e.check == "stale" for e in r05)  # R07 was judged stale in the same pass
        assert events(seen, "R07")[0].check == "stale"
        assert not service.engine.active_alarms("R05").alarms
    finally:
        service.stop()
    # The end of the batch is part of the persisted state: a restarted monitor keeps R05 quiet.
    again = MonitorService(
        private_broker.address, SqliteHistorian(historian), MonitorEngine,
        ServiceSettings(client_id=f"monitor-{uuid.uuid4().hex[:6]}", stale_check_interval_s=0),
    )
    again.start()
    try:
        assert not again.engine.stale("R05", timedelta(hours=5)).events
        # R06 fell silent too: its stale alarm was restored, or is raised now.
        restored = [a.check for a in again.engine.active_alarms("R06").alarms]
        assert "stale" in restored + [e.check for e in again.engine.stale("R06", timedelta(hours=5)).events]
    finally:
        again.stop()
