"""The dashboard's MQTT bridge against a real broker, and the historian backfill."""

import uuid
from datetime import timedelta

import pytest

from bioreactor.contract import Acknowledgement, StatusState, decode, encode
from bioreactor.contract import topics as t
from bioreactor.mqtt import connect, disconnect, make_client
from dashboards.bridge import MqttBridge
from dashboards.history import backfill
from dashboards.state import FleetState
from monitor.historian import Changeset, SqliteHistorian
from tests.dashboard_helpers import active, alarm, latest, reading, recommendation, status, status_of, view_of
from tests.monitor_helpers import Collector, Publisher, wait_until


@pytest.mark.broker
def test_bridge_feeds_the_state_and_publishes_acknowledgements(private_broker):
    # A broker of its own: the bridge subscribes to every reactor, and a shared broker
    # may hold other reactors' retained statuses and active alarms.
    broker = private_broker.address
    reactor = f"dash-{uuid.uuid4().hex[:10]}"
    raised = alarm(reactor)
    retained = make_client(f"retain-{uuid.uuid4().hex[:8]}", persistent=False)
    connect(retained, broker)
    try:
        # Retained before the dashboard starts: it must get them on subscribe.
        retained.publish(t.status_topic(reactor), encode(status(reactor)), qos=1, retain=True).wait_for_publish(10)
        retained.publish(t.active_alarms_topic(reactor), encode(active(reactor, raised)), qos=1, retain=True)
        state = FleetState(history=5)
        bridge = MqttBridge(broker, state)
        bridge.start()
        try:
            wait_until(lambda: state.active_alarms() == [raised], what="retained active alarms")
            assert status_of(state, reactor) is StatusState.ONLINE
            with Publisher(broker) as publisher:
                publisher.readings(reading(reactor, seq) for seq in range(8))
                publisher.send(t.reading_topic(reactor), b"{broken")
                publisher.send(t.alarm_topic(reactor), encode(raised))
            wait_until(lambda: state.malformed == 1 and state.recent_events(), what="readings and events")
            wait_until(lambda: latest(state, reactor).seq == 7, what="all readings")
            assert [r.seq for r in state.readings_since(reactor).items] == [0, 2, 4, 6, 7]  # the whole batch, thinned

            with Collector(broker, t.ack_topic(reactor, "ana")) as acks:
                sent = bridge.acknowledge(reactor, raised.alarm_id, " ana ", "checked the pump")
                wait_until(lambda: acks.payloads(t.ack_topic(reactor, "ana")), what="the acknowledgement")
                received = decode(Acknowledgement, acks.payloads(t.ack_topic(reactor, "ana"))[0])
            assert received == sent and (received.user, received.comment) == ("ana", "checked the pump")
            with pytest.raises(ValueError, match="name"):
                bridge.acknowledge(reactor, raised.alarm_id, "  ")
        finally:
            bridge.stop()
    finally:
        disconnect(retained)


def test_backfill_loads_the_latest_batch_of_each_reactor(tmp_path):
    path = tmp_path / "historian.sqlite"
    old = [reading("R1", seq, "B0") for seq in range(3)]
    current = [reading("R1", seq, "B1") for seq in range(6)]
    other = [reading("R2", seq, "B7", viability=None) for seq in range(2)]
    raised = alarm("R1", at=current[-1].timestamp)
    rec = recommendation("R1", at=current[-1].timestamp + timedelta(minutes=30))
    with SqliteHistorian(path) as historian:
        historian.commit(Changeset(readings=old + current + other, events=[raised], recommendations=[rec]))
    state = FleetState(history=4)
    assert backfill(state, path) == 6 + 2
    # The whole latest batch, thinned evenly once it outgrows the history (the newest kept).
    assert [(r.batch_id, r.seq) for r in state.readings_since("R1").items] == [("B1", s) for s in (0, 2, 4, 5)]
    assert state.readings_since("R2").items == tuple(other)
    assert state.recent_events() == [raised]
    assert [(e.culture_h, e.payload) for e in state.events_since("R1").items] == [(current[-1].culture_h, raised)]
    assert view_of(state, "R1").recommendation == rec


def test_backfill_needs_an_existing_historian(tmp_path):
    with pytest.raises(FileNotFoundError):
        backfill(FleetState(), tmp_path / "missing.sqlite")
