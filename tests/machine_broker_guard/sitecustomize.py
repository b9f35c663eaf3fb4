"""Refuse, in every process of the test suite, a TCP connection to this machine's own MQTT broker.

The suite starts its own Mosquitto on a free port for each test module; the machine's
broker (loopback, the standard MQTT ports) belongs to its users, whose dashboards would
show whatever a test left there. ``tests/conftest.py`` installs this guard in the pytest
process and, through ``PYTHONPATH``, in every Python process a test starts (Python imports
``sitecustomize`` at start-up). A refused attempt is also written to the file named by
``BIOREACTOR_TEST_BROKER_GUARD_LOG``, so the session fails even if the code that tried
swallowed the error.
"""

from __future__ import annotations

import os
import socket
from typing import Any

#: Set by the conftest from :data:`bioreactor.mqtt.MQTT_PORT` and ``MQTTS_PORT``.
PORTS_VARIABLE = "BIOREACTOR_TEST_BROKER_GUARD_PORTS"
LOG_VARIABLE = "BIOREACTOR_TEST_BROKER_GUARD_LOG"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", "::", ""})


def _forbidden(address: Any) -> bool:
    ports = {int(p) for p in os.environ.get(PORTS_VARIABLE, "").split(",") if p}
    return isinstance(address, tuple) and len(address) >= 2 and address[1] in ports and str(address[0]) in _LOOPBACK


def _refuse(address: Any) -> None:
    where = f"{address[0]}:{address[1]}"
    log = os.environ.get(LOG_VARIABLE)
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"process {os.getpid()} tried to connect to {where}\n")
    raise ConnectionRefusedError(f"the test suite never connects to this machine's MQTT broker at {where}")


def install() -> None:
    """Wrap ``socket.connect`` and ``connect_ex`` (once per process)."""
    if getattr(socket.socket.connect, "guarded", False):
        return
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if _forbidden(address):
            _refuse(address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if _forbidden(address):
            _refuse(address)
        return connect_ex(self, address)

    guarded_connect.guarded = True  # type: ignore[attr-defined]
    socket.socket.connect = guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign,assignment]


if os.environ.get(PORTS_VARIABLE):
    install()
