"""The monitor's MQTT connection for one partition of the fleet.

Each partition the monitor holds has its own persistent MQTT session (client id
``<base>-p<n>``, or the base id alone when there is one partition), so when an
instance dies, the instance that takes its partition over resumes that session:
the broker has kept every reading published meanwhile, unacknowledged. A link
subscribes to the whole fleet and keeps only its partition's reactors: the
others are acknowledged and dropped at once (another instance's session has
them too). Messages go to the service's inbox; paho's thread does nothing else.

Outgoing messages are counted until the broker confirms them (PUBACK), so the
outbox rows they came from can be forgotten, and on shutdown the link waits for
what is still in flight.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from bioreactor.contract import topics as t
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from monitor.historian.base import Outgoing, partition_of
from monitor.inbox import Inbox

#: Everything the monitor reads.
SUBSCRIPTIONS = ((t.READINGS_WILDCARD, 1), (t.ACKS_WILDCARD, 1), (t.STATUS_WILDCARD, 1))


def session_id(base: str, partition: int, partitions: int) -> str:
    """The MQTT client id of a partition's session.

    >>> session_id("monitor", 0, 1), session_id("monitor", 2, 4)
    ('monitor', 'monitor-p2')
    """
    return base if partitions == 1 else f"{base}-p{partition}"


class PartitionLink:
    """One partition's MQTT session: messages in (filtered to its reactors), confirmed publishing out.

    Parameters
    ----------
    address
        The broker.
    base_id
        The monitor's client id; the session's id adds the partition.
    partition, partitions
        Which partition of how many.
    inbox
        Where received messages go, as ``(partition, message)``.
    will
        ``(topic, payload)`` published by the broker if the connection is lost.
    on_connected
        Called (on paho's thread) after every (re)connection and subscription.
    """

    def __init__(
        self,
        address: BrokerAddress,
        base_id: str,
        partition: int,
        partitions: int,
        inbox: Inbox[tuple[int, mqtt.MQTTMessage]],
        *,
        will: tuple[str, bytes] | None = None,
        on_connected: Callable[[PartitionLink], None] | None = None,
    ) -> None:
        self.address = address
        self.partition, self.partitions = partition, partitions
        self.inbox = inbox
        self.client = make_client(session_id(base_id, partition, partitions), will=will)
        self.client.manual_ack_set(True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        # Runs under paho's lock: only hand the id over.
        self.client.on_publish = lambda client, data, mid, reason, props: self._acked.append(mid)
        self._on_connected = on_connected
        self._acked: deque[int] = deque()
        #: Outbox messages in flight: MQTT message id -> outbox id (worker thread only).
        self.unconfirmed: dict[int, int] = {}
        #: Set on every (re)connection: the retained lists must be restated once the resends are confirmed.
        self.reconnected = threading.Event()

    def start(self) -> None:
        """Connect (``ConnectionError`` if the broker refuses or does not answer) and start receiving."""
        connect(self.client, self.address)

    def stop(self) -> None:
        disconnect(self.client)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            return
        # Subscriptions live in the persistent session, but a broker that lost it needs them again.
        client.subscribe(list(SUBSCRIPTIONS))
        self.reconnected.set()
        if self._on_connected is not None:
            self._on_connected(self)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        reactor = t.reactor_from_topic(message.topic)
        # Another partition's reactor (or, beyond partition 0, a topic of no reactor): that session has it.
        mine = partition_of(reactor, self.partitions) == self.partition if reactor else self.partition == 0
        if not mine:
            client.ack(message.mid, message.qos)
            return
        # Not queued only while shutting down; unacknowledged, the broker delivers it again later.
        self.inbox.put((self.partition, message))

    def ack(self, message: mqtt.MQTTMessage) -> None:
        """Acknowledge a message to the broker, after what it caused is stored."""
        self.client.ack(message.mid, message.qos)

    def publish(self, outbox_id: int, message: Outgoing) -> None:
        """Publish an outbox message at QoS 1 and remember it until the broker confirms it."""
        info = self.client.publish(message.topic, message.payload, qos=1, retain=message.retain)
        self.unconfirmed[info.mid] = outbox_id

    def publish_now(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Publish outside the outbox (status, metrics); the MQTT message id."""
        return int(self.client.publish(topic, payload, qos=qos, retain=retain).mid)

    def confirmed(self, acked: set[int] | None = None) -> list[int]:
        """Outbox ids the broker has acknowledged since the last call."""
        mids = set(acked or ())
        while self._acked:
            mids.add(self._acked.popleft())
        return [self.unconfirmed.pop(m) for m in mids if m in self.unconfirmed]

    def await_acks(self, mids: set[int], timeout: float) -> set[int]:
        """Wait until the broker acknowledged ``mids``, the time is up or the connection is gone.

        Returns the message ids acknowledged meanwhile (all of them, not only ``mids``).
        """
        deadline = time.monotonic() + timeout
        acked: set[int] = set()
        while True:
            while self._acked:
                acked.add(self._acked.popleft())
            if mids <= acked or time.monotonic() > deadline or not self.client.is_connected():
                return acked
            time.sleep(0.02)
