"""The main job end to end: with no broker at the address, the demo starts Mosquitto, runs the
fleet through the monitor, and stops everything it started."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bioreactor.broker import free_port
from bioreactor.demo import MONITOR_CLIENT_ID, fresh_start
from bioreactor.mqtt import BrokerAddress, broker_answers, connect, disconnect, make_client
from tests.monitor_helpers import Publisher

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_demo_runs_the_chain_on_its_own_broker(tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        [
            sys.executable, "-m", "bioreactor", "demo", "--broker", f"mqtt://127.0.0.1:{port}",
            "--days", "0.5", "--speed", "100000", "--reactors", "2", "--exit-after-harvest",
            "--dashboard-port", str(free_port()), "--workdir", str(tmp_path),
            "--model", str(tmp_path / "feed_model.joblib"),
        ],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "started Mosquitto from mosquitto.conf" in result.stdout
    assert "dashboard: http://127.0.0.1:" in result.stdout
    assert not broker_answers(BrokerAddress("127.0.0.1", port)), "the demo left its broker running"
    with sqlite3.connect(tmp_path / "historian.sqlite") as db:
        (stored,) = db.execute("SELECT COUNT(*) FROM readings").fetchone()
        (advised,) = db.execute("SELECT COUNT(*) FROM recommendations").fetchone()
    assert stored == 2 * 145  # every published reading reached the monitor's historian
    assert advised > 0  # the model trained on first run advised on the feed
    assert (tmp_path / "feed_model.joblib").exists()


def test_a_new_demo_run_starts_afresh(private_broker, tmp_path: Path) -> None:
    address = private_broker.address
    workdir = tmp_path / "demo"
    workdir.mkdir()
    historian = workdir / "historian.sqlite"
    for name in ("historian.sqlite", "historian.sqlite-wal", "historian.sqlite-shm"):
        (workdir / name).write_bytes(b"the last run")
    # The last run's monitor left its session, which queued a message meanwhile.
    monitor = make_client(MONITOR_CLIENT_ID)
    connect(monitor, address)
    monitor.subscribe("bioreactor/+/reading", qos=1)
    time.sleep(0.3)
    disconnect(monitor)
    with Publisher(address) as publisher:
        publisher.send("bioreactor/R09/reading", b"left over")

    fresh_start(address, historian)

    assert not list(workdir.iterdir())
    # Had the session survived, the queued message would arrive on reconnecting, unasked.
    received: list[bytes] = []
    again = make_client(MONITOR_CLIENT_ID)
    again.on_message = lambda client, userdata, message: received.append(bytes(message.payload))
    connect(again, address)
    time.sleep(0.5)
    disconnect(again)
    assert received == []
