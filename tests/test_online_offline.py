"""The same CSV gives the same alarms offline (`bioreactor analyze`) and streamed through
`bioreactor replay` -> broker -> `bioreactor monitor`."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bioreactor.broker import Mosquitto
from bioreactor.contract import AlarmEvent, AlarmState, Status, StatusState, decode
from bioreactor.contract.topics import ALARMS_WILDCARD, MONITOR_STATUS
from bioreactor.demo import wait_for, wait_until_monitor_idle
from monitor.analyze import analyze_csv
from monitor.run import monitor_config
from simulator.dataset import write_csv
from simulator.engine import BatchConfig, simulate
from simulator.faults import Fault
from tests.monitor_helpers import Collector, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _key(event: AlarmEvent) -> tuple[str, str, str, str]:
    return (event.alarm_id, event.state.value, event.timestamp.isoformat(), event.message)


def _ended_by_the_stream(event: AlarmEvent) -> bool:
    ended = event.message.startswith("Cleared: batch ") and " ended" in event.message
    return event.state is AlarmState.CLEARED and ended


def test_replayed_csv_raises_the_alarms_of_the_offline_analysis(private_broker: Mosquitto, tmp_path: Path) -> None:
    start = datetime(2026, 2, 1, tzinfo=UTC)
    configs = [
        BatchConfig("OL-B1", "OL1", start, fault=Fault.parse("aeration_loss@30:0.85")),
        BatchConfig("OL-B2", "OL2", start, fault=Fault.parse("base_pump_failure@20")),
    ]
    frame = simulate(configs, seed=9, days=2.5)
    csv = tmp_path / "run.csv"
    write_csv(frame, csv)
    offline = sorted(_key(e) for e in analyze_csv(csv, config=monitor_config(None, None)).events)
    assert offline, "the faults raised no alarm offline"

    broker = str(private_broker.address)
    monitor = subprocess.Popen(
        [sys.executable, "-m", "bioreactor", "monitor", "--broker", broker,
         "--historian", str(tmp_path / "h.sqlite"), "--client-id", f"mon-{uuid.uuid4().hex[:6]}"],
    )
    try:
        wait_for(private_broker.address, MONITOR_STATUS, lambda p: decode(Status, p).state is StatusState.ONLINE, 60)
        with Collector(private_broker.address, ALARMS_WILDCARD) as seen:
            replay = subprocess.run(
                [sys.executable, "-m", "bioreactor", "replay", str(csv), "--as-fast-as-possible", "--broker", broker],
                capture_output=True, text=True, timeout=300, check=False,
            )
            assert replay.returncode == 0, replay.stderr
            wait_until_monitor_idle(private_broker.address, after=datetime.now(UTC), readings=len(frame))
            # The stream's end-of-stream status clears what is still active ("batch ... ended", at
            # the last reading); the offline analysis has no such status.
            def online() -> list[tuple[str, str, str, str]]:
                events = [decode(AlarmEvent, p) for p in seen.payloads(ALARMS_WILDCARD)]
                return sorted(_key(e) for e in events if not _ended_by_the_stream(e))

            wait_until(lambda: len(online()) >= len(offline), 60, "the alarm events of every reading")
    finally:
        monitor.send_signal(signal.SIGTERM)
        monitor.wait(timeout=60)
    assert online() == offline
