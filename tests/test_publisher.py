"""The ordered publisher against a real Mosquitto that restarts while messages flow."""

import threading
import time
import uuid

import pytest

from bioreactor.mqtt import connect, disconnect, make_client
from bioreactor.publisher import OrderedPublisher
from tests.monitor_helpers import Collector, wait_until

COUNT = 800  # at 10 ms apart: still publishing well after paho reconnects (1-2 s backoff)


@pytest.mark.broker
def test_order_survives_a_broker_restart(private_broker):
    address = private_broker.address
    topic = f"ordered/{uuid.uuid4().hex[:8]}"
    publisher = OrderedPublisher(make_client(f"ordered-{uuid.uuid4().hex[:8]}", persistent=False), window=20)
    never = threading.Event()
    # paho resends what it holds only after on_connect returns; a slow callback widens the
    # moment in which a new message could overtake them.
    publisher.announce = lambda: time.sleep(0.3)

    def publish_all() -> None:
        for i in range(COUNT):
            publisher.publish(topic, str(i).encode(), never)
            time.sleep(0.01)

    with Collector(address, topic, persistent=True) as seen:
        connect(publisher.client, address)
        sender = threading.Thread(target=publish_all, daemon=True)
        sender.start()
        wait_until(lambda: len(seen.payloads(topic)) >= 50, what="the first messages")
        private_broker.stop()
        time.sleep(1.0)  # the sender keeps publishing into paho's offline queue, then waits
        private_broker.start()
        sender.join(60)
        assert not sender.is_alive() and publisher.window.drain(30)
        wait_until(lambda: len(set(seen.payloads(topic))) == COUNT, 60, "every message")
        received = [int(p) for p in seen.payloads(topic)]
    disconnect(publisher.client)
    # QoS 1 may repeat a message after the restart; first arrivals must be in publishing order.
    assert list(dict.fromkeys(received)) == list(range(COUNT))
