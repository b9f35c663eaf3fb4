"""Broker security: credentials and TLS in ``BrokerAddress``, and ``deploy/``'s secured Mosquitto.

The broker tests run a real Mosquitto from ``deploy/mosquitto-secure.conf`` and
``deploy/acl`` (:class:`~bioreactor.broker.SecureMosquitto`, on free loopback
ports, passwords and certificates made by the ``deploy/`` scripts). That a
publish outside an identity's ACL has no effect is proven without waiting for
nothing: the broker answers a QoS 1 publish only after it has routed (or dropped)
it, so a marker published after that answer reaches a subscriber after any copy
of the forbidden message would have; once the marker is there, absence is final.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from bioreactor.broker import ROLES, SecureMosquitto
from bioreactor.contract import Acknowledgement, AlarmEvent, AlarmState, decode, encode, topics
from bioreactor.mqtt import (
    ENV_CA_FILE,
    ENV_PASSWORD,
    ENV_PASSWORD_FILE,
    ENV_USERNAME,
    MQTT_PORT,
    MQTTS_PORT,
    BrokerAddress,
    connect,
    disconnect,
    make_client,
)
from monitor.engine import MonitorEngine
from monitor.historian import SqliteHistorian
from monitor.service import MonitorService, ServiceSettings
from tests.monitor_helpers import Collector, Publisher, starving, wait_until

SECRET = "s3cr3t-Pa55"


# --- BrokerAddress: parsing, credentials, TLS ---------------------------------------------


def test_user_and_password_from_the_url_userinfo():
    address = BrokerAddress.parse("mqtt://alice:p%40ss%3Aword@10.0.0.5:1884", env={})
    assert (address.host, address.port, address.tls) == ("10.0.0.5", 1884, False)
    assert (address.username, address.password) == ("alice", "p@ss:word")


def test_user_and_password_from_the_environment():
    address = BrokerAddress.parse("broker.local", env={ENV_USERNAME: "monitor", ENV_PASSWORD: SECRET})
    assert (address.host, address.port, address.username, address.password) == (
        "broker.local",
        MQTT_PORT,
        "monitor",
        SECRET,
    )


def test_the_url_wins_over_the_environment():
    env = {ENV_USERNAME: "monitor", ENV_PASSWORD: "from-env"}
    assert BrokerAddress.parse("mqtt://ana:from-url@h", env=env).password == "from-url"
    assert BrokerAddress.parse("mqtt://ana@h", env=env).username == "ana"
    assert BrokerAddress.parse("mqtt://ana@h", env=env).password == "from-env"


def test_password_from_the_first_line_of_a_file(tmp_path):
    secret = tmp_path / "monitor.password"
    secret.write_text(f"{SECRET}\nnot this line\n")
    env = {ENV_USERNAME: "monitor", ENV_PASSWORD_FILE: str(secret)}
    assert BrokerAddress.parse("mqtt://h", env=env).password == SECRET
    secret.write_text(f"{SECRET}\r\n")  # a file written on Windows
    assert BrokerAddress.parse("mqtt://h", env=env).password == SECRET
    # The variable itself wins over the file.
    assert BrokerAddress.parse("mqtt://h", env={**env, ENV_PASSWORD: "direct"}).password == "direct"


@pytest.mark.parametrize("content", [None, "", "\nsecond line\n"], ids=["missing", "empty", "empty-first-line"])
def test_an_unusable_password_file_is_an_error(tmp_path, content):
    secret = tmp_path / "monitor.password"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(ValueError, match=ENV_PASSWORD_FILE):
        BrokerAddress.parse("mqtt://h", env={ENV_USERNAME: "monitor", ENV_PASSWORD_FILE: str(secret)})


def test_the_environment_defaults_to_os_environ(monkeypatch, tmp_path):
    secret = tmp_path / "alerts.password"
    secret.write_text(SECRET)
    monkeypatch.setenv(ENV_USERNAME, "alerts")
    monkeypatch.setenv(ENV_PASSWORD_FILE, str(secret))
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    address = BrokerAddress.parse("mqtt://h")
    assert (address.username, address.password) == ("alerts", SECRET)


def test_mqtts_defaults_to_its_registered_port_and_the_ca_file_from_the_environment(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("not parsed before connecting")
    assert BrokerAddress.parse("mqtts://broker.local", env={}) == BrokerAddress("broker.local", MQTTS_PORT, tls=True)
    address = BrokerAddress.parse("mqtts://broker.local:9883", env={ENV_CA_FILE: str(ca)})
    assert (address.port, address.tls, address.ca_file) == (9883, True, str(ca))
    # Plain MQTT has no use for a CA; tcp:// is mqtt://.
    assert BrokerAddress.parse("tcp://broker.local", env={ENV_CA_FILE: str(ca)}) == BrokerAddress("broker.local")
    with pytest.raises(ValueError, match=ENV_CA_FILE):
        BrokerAddress.parse("mqtts://broker.local", env={ENV_CA_FILE: str(tmp_path / "missing.crt")})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http//foo", "malformed"),
        ("mqtt:/foo", "malformed"),
        ("mqtt://host/some/path", "malformed"),
        ("mqtt://host?x=1", "malformed"),
        ("mqtt://host:port", "malformed"),
        ("http://foo", "unsupported broker scheme"),
        ("mqtt://", "no host"),
        ("mqtt://:secret@host", "needs a user name"),
    ],
)
def test_a_malformed_address_is_rejected(url, message):
    with pytest.raises(ValueError, match=message):
        BrokerAddress.parse(url, env={})


def test_a_password_needs_a_user_name():
    with pytest.raises(ValueError, match="needs a user name"):
        BrokerAddress.parse("mqtt://h", env={ENV_PASSWORD: SECRET})
    with pytest.raises(ValueError, match="needs a user name"):
        BrokerAddress("h", password=SECRET)


def test_an_unusable_ca_file_fails_the_connection_clearly(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    address = BrokerAddress.parse("mqtts://127.0.0.1", env={ENV_CA_FILE: str(ca)})
    with pytest.raises(ConnectionError, match=ENV_CA_FILE):  # before any connection attempt
        connect(make_client("no-broker-needed", persistent=False), address)


def test_str_and_repr_never_show_the_password():
    for address in (
        BrokerAddress.parse(f"mqtts://ana:{SECRET}@broker.local", env={}),
        BrokerAddress.parse("mqtt://broker.local", env={ENV_USERNAME: "ana", ENV_PASSWORD: SECRET}),
    ):
        assert SECRET not in str(address) and SECRET not in repr(address) and SECRET not in f"{address!r}"
        assert "ana@broker.local" in str(address) and "'***'" in repr(address)
    # str() parses back to the same address, the password coming from the environment again.
    address = BrokerAddress.parse("mqtts://ana@broker.local", env={ENV_PASSWORD: SECRET})
    assert BrokerAddress.parse(str(address), env={ENV_PASSWORD: SECRET}) == address
    assert str(BrokerAddress("::1", MQTT_PORT)) == f"mqtt://[::1]:{MQTT_PORT}"


# --- a real secured Mosquitto ------------------------------------------------------------


@pytest.fixture(scope="module")
def secure():
    """A Mosquitto from deploy/mosquitto-secure.conf and deploy/acl, for this module."""
    with SecureMosquitto() as broker:
        yield broker


class Identity:
    """One role's connection: publishes at QoS 1 and returns the broker's PUBACK reason."""

    def __init__(self, address: BrokerAddress) -> None:
        self.client = make_client(f"security-{uuid.uuid4().hex[:8]}", persistent=False)
        self._reasons: dict[int, str] = {}
        self._answered = threading.Condition()
        self.client.on_publish = self._on_publish
        connect(self.client, address)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._answered:
            self._reasons[mid] = str(reason)
            self._answered.notify_all()

    def publish(self, topic: str, payload: bytes) -> str:
        """Publish (not retained) and wait for the broker's answer: ``Success`` or ``Not authorized``."""
        info = self.client.publish(topic, payload, qos=1)
        with self._answered:
            assert self._answered.wait_for(lambda: info.mid in self._reasons, 10), f"no PUBACK for {topic}"
            return self._reasons.pop(info.mid)

    def close(self) -> None:
        disconnect(self.client)

    def __enter__(self) -> Identity:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unique(label: str) -> bytes:
    return f"{label}-{uuid.uuid4().hex}".encode()


def refusal(address: BrokerAddress) -> str:
    client = make_client(f"refused-{uuid.uuid4().hex[:8]}", persistent=False)
    with pytest.raises(ConnectionError) as refused:
        connect(client, address, timeout=10)
    return str(refused.value)


@pytest.mark.broker
def test_anonymous_clients_are_refused(secure):
    message = refusal(secure.address)
    assert "refused an anonymous connection" in message and "\n" not in message


@pytest.mark.broker
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_wrong_password_is_refused(secure, tls):
    wrong = f"wrong-{uuid.uuid4().hex}"
    message = refusal(secure.login("monitor", tls=tls, password=wrong))
    assert "refused user 'monitor'" in message and ENV_PASSWORD_FILE in message
    assert wrong not in message and "\n" not in message


@pytest.mark.broker
def test_an_unknown_user_is_refused(secure):
    assert "refused user 'mallory'" in refusal(secure.login("mallory", password=SECRET))


@pytest.mark.broker
@pytest.mark.parametrize("role", ROLES)
def test_each_role_connects_with_its_password(secure, role):
    with Identity(secure.login(role)) as identity:
        assert identity.client.is_connected()


@pytest.mark.broker
def test_tls_with_the_generated_ca(secure):
    dashboard, simulator = secure.login("dashboard", tls=True), secure.login("simulator", tls=True)
    password = secure.password_file("dashboard").read_text().strip()
    assert str(dashboard) == f"mqtts://dashboard@127.0.0.1:{secure.tls_port}"
    assert password not in str(dashboard) and password not in repr(dashboard)
    payload = unique("over-tls")
    with Collector(dashboard, "bioreactor/SECTLS/#") as seen, Identity(simulator) as sender:
        assert sender.publish("bioreactor/SECTLS/reading", payload) == "Success"
        wait_until(lambda: payload in seen.payloads("bioreactor/SECTLS/reading"), what="the reading over TLS")


@pytest.mark.broker
def test_tls_without_the_ca_is_refused(secure):
    # The system's CA store does not know the local CA: the handshake fails, nothing is sent.
    env = {ENV_USERNAME: "dashboard", ENV_PASSWORD_FILE: str(secure.password_file("dashboard"))}
    address = BrokerAddress.parse(f"mqtts://127.0.0.1:{secure.tls_port}", env=env)
    assert "certificate verify failed" in refusal(address).lower()


DENIED = [
    # publisher, a topic outside its ACL, then (who, where) publishes the marker; who watches `bioreactor/#`.
    pytest.param(
        "alerts", "bioreactor/SEC01/alarm", ("monitor", "bioreactor/SEC01/alarm"), "dashboard",
        id="alerts-alarm",
    ),
    pytest.param(
        "simulator", "bioreactor/SEC02/ack/simulator", ("simulator", "bioreactor/SEC02/reading"), "monitor",
        id="simulator-ack",
    ),
    pytest.param(
        "simulator", "bioreactor/SEC03/alarm", ("simulator", "bioreactor/SEC03/reading"), "dashboard",
        id="simulator-alarm",
    ),
    pytest.param(
        "simulator", topics.MONITOR_STATUS, ("simulator", "bioreactor/SEC04/reading"), "dashboard",
        id="simulator-monitor-status",
    ),
    pytest.param(
        "dashboard", "bioreactor/SEC05/reading", ("dashboard", "bioreactor/SEC05/ack/ana"), "monitor",
        id="dashboard-reading",
    ),
    pytest.param(
        "monitor", "bioreactor/SEC06/reading", ("monitor", "bioreactor/SEC06/alarm"), "dashboard",
        id="monitor-reading",
    ),
    pytest.param(
        "monitor", "bioreactor/SEC07/ack/ana", ("monitor", "bioreactor/SEC07/alarm"), "dashboard",
        id="monitor-ack",
    ),
]


@pytest.mark.broker
@pytest.mark.parametrize(("sender", "topic", "marker", "watcher"), DENIED)
def test_a_publish_outside_the_acl_has_no_effect(secure, sender, topic, marker, watcher):
    (marker_sender, marker_topic), forged, mark = marker, unique("forged"), unique("marker")
    with Collector(secure.login(watcher), "bioreactor/#") as seen, Identity(secure.login(sender)) as forger:
        assert forger.publish(topic, forged) == "Not authorized"
        # After that answer (on the same connection when the role may publish anything at all).
        if marker_sender == sender:
            assert forger.publish(marker_topic, mark) == "Success"
        else:
            with Identity(secure.login(marker_sender)) as other:
                assert other.publish(marker_topic, mark) == "Success"
        wait_until(lambda: mark in seen.payloads(marker_topic), what=f"the marker on {marker_topic}")
        assert forged not in seen.payloads("#")


ALLOWED = [
    pytest.param("simulator", "bioreactor/SEC11/reading", "monitor", id="simulator-reading"),
    pytest.param("simulator", "bioreactor/SEC12/status", "monitor", id="simulator-status"),
    pytest.param("simulator", topics.DEAD_LETTER, "dashboard", id="simulator-dead-letter"),
    pytest.param("monitor", "bioreactor/SEC13/alarm", "alerts", id="monitor-alarm"),
    pytest.param("monitor", "bioreactor/SEC14/incident", "alerts", id="monitor-incident"),
    pytest.param("monitor", "bioreactor/SEC15/recommendation", "dashboard", id="monitor-recommendation"),
    pytest.param("monitor", topics.DEAD_LETTER, "dashboard", id="monitor-dead-letter"),
    pytest.param("monitor", topics.MONITOR_METRICS, "dashboard", id="monitor-metrics"),
    pytest.param("dashboard", "bioreactor/SEC16/ack/ana", "monitor", id="dashboard-ack"),
]


@pytest.mark.broker
@pytest.mark.parametrize(("sender", "topic", "watcher"), ALLOWED)
def test_a_publish_inside_the_acl_arrives(secure, sender, topic, watcher):
    payload = unique("allowed")
    with Collector(secure.login(watcher), topic) as seen, Identity(secure.login(sender)) as publisher:
        assert publisher.publish(topic, payload) == "Success"
        wait_until(lambda: payload in seen.payloads(topic), what=f"{watcher} receiving {topic}")


@pytest.mark.broker
def test_a_subscriber_never_receives_what_it_may_not_read(secure):
    reading, alarm = unique("reading"), unique("alarm")
    with (
        Collector(secure.login("alerts"), "bioreactor/#") as alerts,
        Collector(secure.login("dashboard"), "bioreactor/#") as dashboard,
    ):
        with Identity(secure.login("simulator")) as simulator:
            assert simulator.publish("bioreactor/SEC21/reading", reading) == "Success"
        with Identity(secure.login("monitor")) as monitor:
            assert monitor.publish("bioreactor/SEC21/alarm", alarm) == "Success"
        wait_until(lambda: alarm in alerts.payloads("bioreactor/SEC21/alarm"), what="the alarm at alerts")
        wait_until(lambda: alarm in dashboard.payloads("bioreactor/SEC21/alarm"), what="the alarm at the dashboard")
        assert reading in dashboard.payloads("bioreactor/SEC21/reading")  # delivered, to those who may read it
        assert reading not in alerts.payloads("#")


@pytest.mark.broker
def test_the_services_work_under_their_roles(secure, tmp_path: Path):
    """Simulator readings -> monitor -> alarms to `alerts`; the dashboard's ack is applied."""
    reactor = "SEC31"
    service = MonitorService(
        secure.login("monitor"),
        SqliteHistorian(tmp_path / "historian.sqlite"),
        MonitorEngine,
        ServiceSettings(client_id=f"monitor-{uuid.uuid4().hex[:6]}", metrics_interval_s=0.3),
    )
    try:
        with Collector(secure.login("alerts"), topics.ALARMS_WILDCARD) as alerts:
            service.start()
            with Publisher(secure.login("simulator")) as simulator:
                simulator.readings(starving(reactor, 8, crash_at=2))

            def events(state: AlarmState) -> list[AlarmEvent]:
                found = [decode(AlarmEvent, p) for p in alerts.payloads(topics.alarm_topic(reactor))]
                return [e for e in found if e.state is state]

            wait_until(lambda: events(AlarmState.RAISED), what="a raised alarm at alerts")
            target = events(AlarmState.RAISED)[0]
            ack = Acknowledgement(alarm_id=target.alarm_id, timestamp=target.timestamp, comment="checked")
            with Identity(secure.login("dashboard")) as dashboard:
                assert dashboard.publish(topics.ack_topic(reactor, "ana"), encode(ack)) == "Success"
            wait_until(lambda: events(AlarmState.ACKNOWLEDGED), what="the acknowledged alarm at alerts")
            assert events(AlarmState.ACKNOWLEDGED)[0].user == "ana"
    finally:
        service.stop()
        clear_retained(secure)


def clear_retained(secure: SecureMosquitto) -> None:
    """Clear every retained message under ``bioreactor/`` (each by a role that may write it), and check."""
    writers = {"status": "simulator", "reading": "simulator"}

    def retained() -> list[str]:
        marker = unique("marker")
        with Collector(secure.login("dashboard"), "bioreactor/#") as seen:
            # Retained messages are queued on SUBSCRIBE, before a marker published after the SUBACK.
            with Identity(secure.login("simulator")) as simulator:
                assert simulator.publish("bioreactor/SEC99/reading", marker) == "Success"
            wait_until(lambda: marker in seen.payloads("bioreactor/SEC99/reading"), what="the marker")
            return sorted({topic for topic, payload, retain in seen.messages if retain and payload})

    for topic in retained():
        role = "monitor" if topic.startswith("bioreactor/_monitor/") else writers.get(topic.split("/")[-1], "monitor")
        client = make_client(f"clear-{uuid.uuid4().hex[:8]}", persistent=False)
        connect(client, secure.login(role))
        client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
        disconnect(client)
    assert retained() == []
