"""Alert subscribers: filters, readable lines, webhook retries, the `bioreactor alerts` command."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

import pytest

from bioreactor.contract import (
    AlarmEvent,
    AlarmState,
    Incident,
    IncidentAlarm,
    IncidentState,
    Severity,
    decode,
    encode,
    replace,
    topics,
)
from monitor.alerts import AlertFilter, AlertTail, Follow, Notice, WebhookSender, format_alarm
from tests.monitor_helpers import START, Publisher, wait_until


def event(reactor_id: str = "R01", severity: Severity = Severity.CRITICAL, check: str = "glucose"):
    return AlarmEvent(
        alarm_id=f"{reactor_id}:B1:{check}:{START.isoformat()}",
        reactor_id=reactor_id,
        batch_id="B1",
        check=check,
        severity=severity,
        state=AlarmState.RAISED,
        timestamp=START,
        first_seen=START,
        last_seen=START,
        message=f"{check} out of range on {reactor_id}.",
    )


class Receiver:
    """A local HTTP server answering each POST with the next status of ``statuses`` (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[bytes] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.bodies.append(body)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made: list[Receiver] = []

    def make(statuses: list[int]) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_filter_by_severity_and_reactor():
    warning, critical = event(severity=Severity.WARNING), event()
    assert AlertFilter().accepts(warning)
    assert AlertFilter(min_severity=Severity.WARNING).accepts(critical)
    assert not AlertFilter(min_severity=Severity.CRITICAL).accepts(warning)
    only_r2 = AlertFilter(reactors=frozenset({"R02"}))
    assert not only_r2.accepts(critical)
    assert only_r2.accepts(event("R02"))
    assert only_r2.topics() == ["bioreactor/R02/incident"]  # incidents unless told otherwise
    assert AlertFilter().topics() == ["bioreactor/+/incident"]
    assert AlertFilter(reactors=frozenset({"R02"}), follow=Follow.ALARMS).topics() == ["bioreactor/R02/alarm"]


def test_format_names_time_reactor_severity_state_and_message():
    line = format_alarm(replace(event("R07"), state=AlarmState.CLEARED))
    assert line.startswith("2026-03-01 08:00:00Z  R07  CRITICAL  cleared")
    assert line.endswith("glucose out of range on R07.")


def test_webhook_retries_with_backoff_until_accepted(receiver_factory):
    receiver = receiver_factory([503, 500])
    waits: list[float] = []
    sender = WebhookSender(receiver.url, attempts=4, backoff_s=0.5, sleep=waits.append)
    assert sender.send(event())
    assert receiver.attempts == 3
    assert waits == [0.5, 1.0]
    assert decode(AlarmEvent, receiver.bodies[0]) == event()


def test_webhook_does_not_retry_a_client_error(receiver_factory):
    receiver = receiver_factory([400])
    sender = WebhookSender(receiver.url, attempts=4, sleep=lambda s: None)
    assert not sender.send(event())
    assert receiver.attempts == 1
    assert sender.failures == 1


def test_webhook_gives_up_after_its_attempts(receiver_factory):
    receiver = receiver_factory([503] * 10)
    waits: list[float] = []
    sender = WebhookSender(receiver.url, attempts=3, backoff_s=1, max_backoff_s=1.5, sleep=waits.append)
    assert not sender.send(event())
    assert receiver.attempts == 3
    assert waits == [1, 1.5]


def test_webhook_retries_an_unreachable_receiver(receiver_factory):
    receiver = receiver_factory([])
    url = receiver.url
    receiver.close()
    waits: list[float] = []
    assert not WebhookSender(url, attempts=2, sleep=waits.append, timeout_s=1).send(event())
    assert waits == [0.5]


def test_webhook_refuses_other_schemes():
    with pytest.raises(ValueError, match="http"):
        WebhookSender("ftp://example.org")


def fresh_ids(count: int) -> list[str]:
    """Reactor ids of this test alone: the session broker is shared."""
    prefix = uuid.uuid4().hex[:6]
    return [f"T{prefix}{i}" for i in range(count)]


@pytest.mark.broker
def test_tail_passes_filtered_events_to_sinks_and_webhook(broker, receiver_factory):
    r1, r2, r3 = fresh_ids(3)
    receiver = receiver_factory([503])
    seen: list[Notice] = []
    tail = AlertTail(
        broker,
        [seen.append, WebhookSender(receiver.url, backoff_s=0.05)],
        AlertFilter(min_severity=Severity.CRITICAL, reactors=frozenset({r1, r2}), follow=Follow.ALARMS),
    )
    tail.start()
    try:
        wanted = [event(r1), event(r2, check="ph")]
        with Publisher(broker) as pub:
            # wanted[0] twice: a QoS 1 redelivery must not reach the sinks again.
            for e in [event(r1, Severity.WARNING, "do"), wanted[0], event(r3), wanted[0], wanted[1]]:
                pub.send(topics.alarm_topic(e.reactor_id), encode(e))
            pub.send(topics.alarm_topic(r1), b"not json")
        wait_until(lambda: len(receiver.bodies) == 2, what="two webhook deliveries")
    finally:
        tail.stop()
    assert seen == wanted and tail.repeats == 1
    assert [decode(AlarmEvent, b) for b in receiver.bodies] == wanted
    assert receiver.attempts == 3


@contextmanager
def alerts_command(broker, *options: str) -> Iterator[IO[str]]:
    """The output of a `bioreactor alerts` process, once it follows its topics; stopped (and its
    exit checked) after."""
    command = [str(Path(sys.executable).parent / "bioreactor"), "alerts", "--broker", str(broker), *options]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        assert "following" in process.stderr.readline()
        yield process.stdout
    finally:
        process.terminate()
        process.wait(10)
    assert process.returncode == 0


@pytest.mark.broker
def test_alerts_command_follows_alarm_events_when_asked(broker):
    r1, r2 = fresh_ids(2)
    with alerts_command(broker, "--severity", "critical", "--reactor", r2, "--follow", "alarms") as output:
        with Publisher(broker) as pub:
            for e in [event(r1), event(r2, Severity.WARNING), event(r2, check="ph")]:
                pub.send(topics.alarm_topic(e.reactor_id), encode(e))
        line = output.readline()
    assert line.strip() == format_alarm(event(r2, check="ph"))


def incident(reactor_id: str, alarms: int, state: IncidentState = IncidentState.OPENED) -> Incident:
    members = tuple(
        IncidentAlarm(alarm_id=f"{reactor_id}:B1:{c}", check=c, severity=Severity.CRITICAL, state=AlarmState.RAISED,
                      first_seen=START)
        for c in ("temperature_control", "limit_high_high", "cusum")[:alarms]
    )
    return Incident(incident_id=f"{reactor_id}:B1:1", reactor_id=reactor_id, batch_id="B1", state=state,
                    timestamp=START, opened_at=START, diagnosis="temperature_control", severity=Severity.CRITICAL,
                    message=f"temperature 39.8 °C on {reactor_id}, 2.8 above its set point.", alarms=members)


@pytest.mark.broker
def test_alerts_command_follows_incidents_by_default(broker):
    (reactor,) = fresh_ids(1)
    with alerts_command(broker, "--reactor", reactor) as output:
        with Publisher(broker) as pub:
            # The single alarms of the incident are on their own topic, which this tail does not follow.
            pub.send(topics.alarm_topic(reactor), encode(event(reactor)))
            pub.send(topics.incident_topic(reactor), encode(incident(reactor, 1)))
            pub.send(topics.incident_topic(reactor), encode(incident(reactor, 3, IncidentState.UPDATED)))
        lines = [output.readline().strip() for _ in range(2)]
    assert lines[0].endswith(f"CRITICAL  opened        temperature_control: temperature 39.8 °C on {reactor}, "
                             "2.8 above its set point.")
    assert lines[1].endswith("2.8 above its set point. (+2 related alarms)") and "  updated  " in lines[1]
