"""Thin helpers around paho-mqtt 2.x: broker addresses and reliable MQTT v5 clients.

Every client of the project is MQTT v5 with a stable client id, a persistent
session (``clean_start=False`` with a session expiry, without which the broker
drops the session on disconnect) and automatic reconnect with backoff.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
#: How long the broker keeps a disconnected client's session and queued QoS 1 messages.
SESSION_EXPIRY_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker listens.

    >>> BrokerAddress.parse("mqtt://10.0.0.5:1884")
    BrokerAddress(host='10.0.0.5', port=1884)
    >>> BrokerAddress.parse("localhost")
    BrokerAddress(host='localhost', port=1883)
    """

    host: str
    port: int = 1883

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parsed = urlparse(url if "://" in url else f"mqtt://{url}")
        if parsed.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"unsupported broker scheme {parsed.scheme!r} in {url!r} (use mqtt://)")
        if not parsed.hostname:
            raise ValueError(f"no host in broker address {url!r}")
        return cls(parsed.hostname, parsed.port or 1883)

    def __str__(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def broker_answers(address: BrokerAddress, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``address``."""
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return True
    except OSError:
        return False


def make_client(
    client_id: str,
    *,
    persistent: bool = True,
    will: tuple[str, bytes] | None = None,
) -> mqtt.Client:
    """An MQTT v5 client; ``persistent`` keeps its session and QoS 1 backlog across restarts.

    ``will`` is a ``(topic, payload)`` published retained at QoS 1 if the client
    vanishes without disconnecting.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    # Mosquitto's default of 20 in-flight messages throttles bulk replays.
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)  # 0 = unbounded while offline: never drop locally
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.user_data_set({"persistent": persistent})
    return client


def connect(client: mqtt.Client, address: BrokerAddress, *, timeout: float = 10.0) -> None:
    """Connect, start the network thread and wait for the broker's CONNACK.

    Raises ``ConnectionError`` when the broker refuses or does not answer in time.
    """
    persistent = bool(client.user_data_get().get("persistent", True))
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY_S if persistent else 0
    connected = threading.Event()
    failure: list[str] = []
    previous: Callable[..., None] | None = client.on_connect

    def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        if getattr(reason, "is_failure", False):
            failure.append(str(reason))
        connected.set()
        if previous is not None:
            previous(c, userdata, flags, reason, props)

    client.on_connect = on_connect
    try:
        client.connect(
            address.host,
            address.port,
            keepalive=30,
            clean_start=not persistent,
            properties=properties,
        )
    except OSError as err:
        raise ConnectionError(f"cannot reach the MQTT broker at {address}: {err}") from err
    client.loop_start()
    try:
        if not connected.wait(timeout):
            raise ConnectionError(f"no answer from the MQTT broker at {address} within {timeout} s")
        if failure:
            raise ConnectionError(f"the MQTT broker at {address} refused the connection: {failure[0]}")
    except ConnectionError:
        client.loop_stop()
        raise
    finally:
        client.on_connect = previous


def disconnect(client: mqtt.Client) -> None:
    """Disconnect cleanly (the will is not sent) and stop the network thread."""
    client.disconnect()
    client.loop_stop()
