"""The main job end to end: with no broker at the address, the demo starts Mosquitto, runs the
fleet through the monitor, and stops everything it started."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bioreactor.broker import free_port
from bioreactor.mqtt import BrokerAddress, broker_answers

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
