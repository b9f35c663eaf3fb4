"""Fixtures shared by the test suite.

``broker``
    Session-wide :class:`~bioreactor.mqtt.BrokerAddress` of a real Mosquitto:
    the machine's at 127.0.0.1:1883 when it answers, else a private one started
    for the session. Tests share it, so each must use its own reactor ids or
    topics (e.g. with ``uuid4``) and clear the retained messages it leaves.
``private_broker``
    A started :class:`~bioreactor.broker.Mosquitto` of one test's own, with
    persistence in a temporary directory, for tests that restart the broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bioreactor.broker import Mosquitto
from bioreactor.mqtt import DEFAULT_BROKER, BrokerAddress, broker_answers


@pytest.fixture(scope="session")
def broker() -> Iterator[BrokerAddress]:
    """The address of a running Mosquitto shared by the whole session."""
    address = BrokerAddress.parse(DEFAULT_BROKER)
    if broker_answers(address):
        yield address
        return
    with Mosquitto() as private:
        yield private.address


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto for one test, persisting to ``tmp_path``; ``.restart()`` keeps its state."""
    data_dir = tmp_path / "mosquitto-data"
    data_dir.mkdir()
    with Mosquitto(data_dir=data_dir) as private:
        yield private
