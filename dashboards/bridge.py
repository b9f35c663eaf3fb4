"""The dashboard server's one MQTT connection: broker messages in, acknowledgements out.

Messages go straight into :class:`~dashboards.state.FleetState` on paho's
network thread: decoding a payload and appending to a bounded deque under a
short lock never blocks, so no extra queue or worker is needed. Bokeh models
are never touched here; browser sessions pull from the state on their own loop.
The session is not persistent: on (re)connect the broker sends the retained
statuses and active-alarm lists again, which is the current truth, and missed
readings are history the dashboard does not need to replay.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from bioreactor.contract import Acknowledgement, encode
from bioreactor.contract import topics as t
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from dashboards.state import FleetState

log = logging.getLogger(__name__)

#: Everything the dashboard shows; retained topics (status, active alarms) arrive on subscribe.
SUBSCRIPTIONS: tuple[str, ...] = (
    *(f"{t.ROOT}/+/{leaf}" for leaf in (t.READING, t.STATUS, t.ALARM, t.ACTIVE_ALARMS, t.RECOMMENDATION)),
    t.MONITOR_STATUS,
)
#: Every message at QoS 1: alarm events must not be lost between broker and dashboard.
QOS = 1


class MqttBridge:
    """Feeds a :class:`FleetState` from the broker and publishes operator acknowledgements.

    Parameters
    ----------
    address
        The broker.
    state
        Where messages go.
    """

    def __init__(self, address: BrokerAddress, state: FleetState) -> None:
        self.address = address
        self.state = state
        client_id = f"bioreactor-dashboard-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._client = make_client(client_id, persistent=False)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._subscribed = threading.Event()
        self._connected = threading.Event()
        self._stopping = False

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up right now."""
        return self._connected.is_set()

    def start(self, timeout: float = 10.0) -> None:
        """Connect and return once the broker confirmed the subscriptions; raises ``ConnectionError``."""
        connect(self._client, self.address, timeout=timeout)
        if not self._subscribed.wait(timeout):
            disconnect(self._client)
            raise ConnectionError(f"the MQTT broker at {self.address} did not confirm the subscriptions")

    def stop(self) -> None:
        self._stopping = True
        disconnect(self._client)

    def acknowledge(self, reactor_id: str, alarm_id: str, user: str, comment: str = "") -> Acknowledgement:
        """Publish an operator's acknowledgement of ``alarm_id`` (QoS 1) for the monitor to apply.

        Raises ``ValueError`` for an empty user or alarm id, ``ConnectionError``
        when the broker is not connected (the click would otherwise be lost silently).
        """
        if not user.strip():
            raise ValueError("enter your name: an acknowledgement must say who made it")
        if not alarm_id:
            raise ValueError("choose an alarm to acknowledge")
        if not self.connected:
            raise ConnectionError(f"not connected to the MQTT broker at {self.address}; try again shortly")
        now = datetime.now(UTC)
        ack = Acknowledgement(
            alarm_id=alarm_id,
            user=user.strip(),
            # Milliseconds, as on the wire: the returned acknowledgement is exactly the one the monitor gets.
            timestamp=now.replace(microsecond=now.microsecond // 1000 * 1000),
            comment=comment.strip() or None,
        )
        self._client.publish(t.ack_topic(reactor_id, ack.user or ""), encode(ack), qos=QOS)
        log.info("%s acknowledged %s", ack.user, alarm_id)
        return ack

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        if getattr(reason, "is_failure", False):
            return
        self._connected.set()
        # A clean session forgets subscriptions: subscribe on every (re)connect.
        client.subscribe([(topic, QOS) for topic in SUBSCRIPTIONS])

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        self._connected.clear()
        if not self._stopping:
            log.warning("lost the MQTT broker at %s (%s); reconnecting", self.address, reason)

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reasons: object, props: object) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            self.state.apply(message.topic, bytes(message.payload))
        except Exception:
            # A bug must not stop the feed every browser session depends on.
            log.exception("could not apply a message from %s", message.topic)
