"""Fixtures shared by the test suite.

Every broker a test talks to is a Mosquitto of the suite's own, started from a
temporary configuration on a free port and stopped by its PID: tests never use
the machine's broker, so they neither see nor leave anyone else's messages.

``broker``
    Module-wide :class:`~bioreactor.mqtt.BrokerAddress` of a private Mosquitto.
    Tests of one module share it, so each uses its own reactor ids or topics.
``private_broker``
    A started :class:`~bioreactor.broker.Mosquitto` of one test's own, with
    persistence in a temporary directory, for tests that restart the broker.

Every test, and every command a test starts, signs and verifies feed-rate models
with a key of the session's own (``BIOREACTOR_MODEL_KEY_FILE``), never the
user's key in ``~/.config``. And none of them can reach the machine's broker: a
guard (``tests/machine_broker_guard/``) refuses any connection to loopback on the
standard MQTT ports, in this process and in every Python process a test starts, and
the session fails if anything tried.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bioreactor.broker import Mosquitto
from bioreactor.mqtt import MQTT_PORT, MQTTS_PORT, BrokerAddress
from tests.machine_broker_guard import sitecustomize as broker_guard

GUARD_DIR = Path(broker_guard.__file__).parent


@pytest.fixture(scope="session", autouse=True)
def _no_machine_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Refuse connections to this machine's broker everywhere; fail the session if any was tried."""
    log = tmp_path_factory.mktemp("broker-guard") / "attempts.log"
    log.touch()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(broker_guard.PORTS_VARIABLE, f"{MQTT_PORT},{MQTTS_PORT}")
        patch.setenv(broker_guard.LOG_VARIABLE, str(log))
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(GUARD_DIR), os.environ.get("PYTHONPATH")])))
        broker_guard.install()
        yield
    attempts = log.read_text()
    assert not attempts, f"tests tried to reach this machine's MQTT broker:\n{attempts}"


@pytest.fixture(scope="session", autouse=True)
def _model_signing_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A model-signing key for this session, inherited by the commands tests start."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BIOREACTOR_MODEL_KEY_FILE", str(tmp_path_factory.mktemp("signing") / "model-signing.key"))
        yield


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerAddress]:
    """The address of a Mosquitto started for this test module."""
    with Mosquitto() as private:
        yield private.address


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto for one test, persisting to ``tmp_path``; ``.restart()`` keeps its state."""
    data_dir = tmp_path / "mosquitto-data"
    data_dir.mkdir()
    with Mosquitto(data_dir=data_dir) as private:
        yield private
