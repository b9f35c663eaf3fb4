"""The guard that keeps the suite off this machine's broker works, here and in the processes tests start."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from bioreactor.mqtt import MQTT_PORT, MQTTS_PORT
from tests.machine_broker_guard import sitecustomize as broker_guard


@pytest.fixture
def own_log(tmp_path, monkeypatch):
    """Record this test's refused attempts apart, so they do not fail the session."""
    log = tmp_path / "attempts.log"
    monkeypatch.setenv(broker_guard.LOG_VARIABLE, str(log))
    return log


@pytest.mark.parametrize("port", [MQTT_PORT, MQTTS_PORT])
def test_a_connection_to_the_machines_broker_is_refused_and_recorded(own_log, port):
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match="never connects to this machine"):
        sock.connect(("127.0.0.1", port))
    assert f"127.0.0.1:{port}" in own_log.read_text()


def test_a_process_a_test_starts_is_guarded_too(own_log):
    code = f"import socket; socket.create_connection(('localhost', {MQTT_PORT}), timeout=5)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode != 0 and "never connects to this machine's MQTT broker" in result.stderr
    assert f"tried to connect to 127.0.0.1:{MQTT_PORT}" in own_log.read_text()  # localhost, resolved


def test_other_ports_are_untouched(own_log):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname(), timeout=5):
            pass
    assert not own_log.exists()
