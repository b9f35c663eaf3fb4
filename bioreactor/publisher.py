"""QoS 1 publishing that keeps its order across reconnections and never outruns the broker.

paho marks a connection up before it resends the messages it still holds from
before a disconnection, so a message published in that instant overtakes them
and a subscriber sees readings out of order (the monitor would dead-letter the
older ones). After a disconnection an :class:`OrderedPublisher` therefore holds
new messages until everything published earlier is acknowledged. The number of
messages awaiting acknowledgement is bounded too, so publishing as fast as
possible never outruns the broker or piles up in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt

from bioreactor.mqtt import disconnect


class AckWindow:
    """Counts QoS 1 messages not yet acknowledged and holds the sender back.

    The sender waits while ``limit`` messages are unacknowledged, and after
    :meth:`hold` (a lost connection) until none is.

    >>> window = AckWindow(limit=2)
    >>> stop = threading.Event()
    >>> window.acquire(stop), window.acquire(stop), window.pending
    (True, True, 2)
    >>> stop.set(); window.acquire(stop)  # full: waits until stopped
    False
    >>> window.release(); window.hold(); window.acquire(stop)  # one still unacknowledged after a reconnect
    False
    >>> window.release(); window.acquire(stop)  # everything earlier acknowledged: go on
    True
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._pending = 0
        self._held = False
        self._changed = threading.Condition()

    @property
    def pending(self) -> int:
        return self._pending

    def acquire(self, stop: threading.Event | None) -> bool:
        """Take a slot, waiting while the sender must hold back, unless ``stop`` is ``None``.

        Returns ``False`` if ``stop`` is set while waiting. ``None`` is for messages
        sent from paho's own thread (which must never wait) or outside any order.
        """
        with self._changed:
            while stop is not None and (self._pending >= self._limit or (self._held and self._pending)):
                if stop.is_set():
                    return False
                self._changed.wait(0.1)
            self._pending += 1
            return True

    def release(self) -> None:
        """One message was acknowledged."""
        with self._changed:
            self._pending -= 1
            if not self._pending:
                self._held = False
            self._changed.notify_all()

    def hold(self) -> None:
        """The connection was lost: hold new messages until every earlier one is acknowledged."""
        with self._changed:
            # With nothing pending, the next message is queued by paho and then holds the rest.
            self._held = True

    def drain(self, timeout: float) -> bool:
        """Wait until every message is acknowledged; ``False`` on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._pending == 0, timeout)


class OrderedPublisher:
    """One MQTT client whose QoS 1 publishes pass through an :class:`AckWindow`.

    Create it before :func:`bioreactor.mqtt.connect`: it installs the client's
    ``on_publish``, ``on_connect`` and ``on_disconnect`` callbacks.
    """

    def __init__(self, client: mqtt.Client, window: int = 100) -> None:
        self.client = client
        self.window = AckWindow(window)
        #: Called again after each reconnection (e.g. to restate an ``online`` status).
        self.announce: Callable[[], None] | None = None
        client.on_publish = self._on_publish
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect

    def publish(self, topic: str, payload: bytes, stop: threading.Event | None, *, retain: bool = False) -> bool:
        """Publish at QoS 1; ``False`` if ``stop`` was set while waiting for the window."""
        if not self.window.acquire(stop):
            return False
        # While disconnected paho keeps QoS 1 messages and resends them on reconnect.
        self.client.publish(topic, payload, qos=1, retain=retain)
        return True

    def close(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for the broker's acknowledgements, then disconnect.

        Returns how many messages were still unacknowledged.
        """
        self.window.drain(timeout)
        unacknowledged = self.window.pending
        disconnect(self.client)
        return unacknowledged

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        if self.announce is not None and not getattr(reason, "is_failure", False):
            self.announce()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        self.window.hold()

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: object, props: object) -> None:
        self.window.release()
