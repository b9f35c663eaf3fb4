"""Alert subscribers: follow incidents (or single alarm events) on a terminal, forward them to a webhook.

By default a subscriber follows *incidents*: the monitor groups an alarm with the
others of its root cause (ISA-18.2 consequential alarms), so one temperature-loop
failure is one line per change of the problem, not seven alarm lines. Automation
that acts on each alarm follows alarm events instead.

>>> from datetime import datetime, UTC
>>> from bioreactor.contract import AlarmEvent, AlarmState, Severity
>>> at = datetime(2026, 1, 3, 14, 5, tzinfo=UTC)
>>> event = AlarmEvent(alarm_id="R01:B1:glucose:x", reactor_id="R01", batch_id="B1",
...     check="glucose", severity=Severity.CRITICAL, state=AlarmState.RAISED, timestamp=at,
...     first_seen=at, last_seen=at, message="Glucose 0.3 g/L is below 0.5 g/L.")
>>> print(format_alarm(event))
2026-01-03 14:05:00Z  R01  CRITICAL  raised        Glucose 0.3 g/L is below 0.5 g/L.
>>> AlertFilter(min_severity=Severity.CRITICAL, reactors=frozenset({"R02"})).accepts(event)
False
>>> AlertFilter(reactors=frozenset({"R02"})).topics(), AlertFilter(follow=Follow.ALARMS).topics()
(['bioreactor/R02/incident'], ['bioreactor/+/alarm'])
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import paho.mqtt.client as mqtt

from bioreactor.contract import AlarmEvent, ContractError, Incident, Severity, decode, encode
from bioreactor.contract import topics as t
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from bioreactor.recent import RecentKeys
from monitor.inbox import Inbox
from monitor.lograte import RateLimitedLog
from monitor.shutdown import run_until_signalled

log = logging.getLogger(__name__)

_RANK = {Severity.WARNING: 0, Severity.CRITICAL: 1}

#: HTTP statuses worth trying again: the receiver is busy or briefly broken.
_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


#: What a subscriber is told about: an alarm event or an incident.
Notice = AlarmEvent | Incident


class Follow(StrEnum):
    """What a subscriber follows."""

    INCIDENTS = "incidents"
    ALARMS = "alarms"


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which incidents or alarm events to pass on.

    Parameters
    ----------
    min_severity
        Pass this severity and above (``warning`` passes everything); ``None`` = all.
    reactors
        Only these reactors; empty = the whole fleet.
    follow
        Incidents (the default) or every alarm event.
    """

    min_severity: Severity | None = None
    reactors: frozenset[str] = frozenset()
    follow: Follow = Follow.INCIDENTS

    @property
    def kind(self) -> type[AlarmEvent] | type[Incident]:
        """The payload type of the followed topics."""
        return Incident if self.follow is Follow.INCIDENTS else AlarmEvent

    def topics(self) -> list[str]:
        """The topics to subscribe to: per reactor, so the broker does the filtering."""
        incidents = self.follow is Follow.INCIDENTS
        if not self.reactors:
            return [t.INCIDENTS_WILDCARD if incidents else t.ALARMS_WILDCARD]
        per_reactor = t.incident_topic if incidents else t.alarm_topic
        return [per_reactor(r) for r in sorted(self.reactors)]

    def accepts(self, event: Notice) -> bool:
        if self.reactors and event.reactor_id not in self.reactors:
            return False
        return self.min_severity is None or _RANK[event.severity] >= _RANK[self.min_severity]


def format_alarm(event: AlarmEvent) -> str:
    """One readable line: time, reactor, severity, state, message."""
    return _line(event, event.state.value, event.message)


def _line(notice: Notice, state: str, text: str) -> str:
    when = notice.timestamp.strftime("%Y-%m-%d %H:%M:%SZ")
    return f"{when}  {notice.reactor_id}  {notice.severity.value.upper():<8}  {state:<12}  {text}"


def format_notice(notice: Notice) -> str:
    """One readable line of an alarm event, or of an incident with how many alarms it groups.

    >>> from datetime import datetime, UTC
    >>> from bioreactor.contract import IncidentState
    >>> at = datetime(2026, 1, 3, 14, 5, tzinfo=UTC)
    >>> incident = Incident(incident_id="R01:B1:1", reactor_id="R01", batch_id="B1", state=IncidentState.UPDATED,
    ...     timestamp=at, opened_at=at, diagnosis="temperature_control", severity=Severity.CRITICAL,
    ...     message="Temperature 39.8 °C.")
    >>> print(format_notice(incident))
    2026-01-03 14:05:00Z  R01  CRITICAL  updated       temperature_control: Temperature 39.8 °C.
    """
    if isinstance(notice, AlarmEvent):
        return format_alarm(notice)
    related = len(notice.alarms) - 1
    grouped = f" (+{related} related alarm{'s' if related > 1 else ''})" if related > 0 else ""
    return _line(notice, notice.state.value, f"{notice.diagnosis}: {notice.message}{grouped}")


def _identity(notice: Notice) -> str:
    return notice.alarm_id if isinstance(notice, AlarmEvent) else notice.incident_id


class WebhookSender:
    """POSTs incidents or alarm events as JSON, retrying with exponential backoff.

    Parameters
    ----------
    url
        The receiver (``http://`` or ``https://``).
    attempts
        Tries per event, the first included.
    backoff_s, max_backoff_s
        Wait before the second try, doubled after each failure up to the maximum.
    timeout_s
        Per request.
    """

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        timeout_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must start with http:// or https://, got {url!r}")
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        self.url = url
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self._sleep = sleep
        self.failures = 0

    def __call__(self, event: Notice) -> None:
        self.send(event)

    def send(self, event: Notice) -> bool:
        """Deliver ``event``; ``False`` (and a logged error) when every attempt failed."""
        body = encode(event)
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            outcome = self._post(body)
            if outcome is None:
                return True
            problem, retryable = outcome
            if attempt == self.attempts or not retryable:
                break
            log.warning(
                "webhook attempt %d/%d failed (%s); retrying in %.1f s",
                attempt,
                self.attempts,
                problem,
                delay,
            )
            self._sleep(delay)
            delay = min(delay * 2, self.max_backoff_s)
        self.failures += 1
        log.error("webhook gave up on %s after %d attempts: %s", _identity(event), attempt, problem)
        return False

    def _post(self, body: bytes) -> tuple[str, bool] | None:
        """``None`` on success, else the problem and whether another try may help."""
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
            return None
        except urllib.error.HTTPError as err:
            return f"HTTP {err.code}", err.code in _RETRYABLE
        except (urllib.error.URLError, OSError) as err:
            return str(getattr(err, "reason", err)), True


class AlertTail:
    """Subscribes to incidents or alarm events and hands the accepted ones to ``sinks``, in order.

    Sinks run on a worker thread, never on paho's; a message is acknowledged to
    the broker after every sink has seen it. With a ``client_id`` the session is
    persistent, so events published while the subscriber is down are delivered
    when it returns (what a webhook forwarder wants); without one it is a plain
    tail of what happens from now on.
    """

    def __init__(
        self,
        address: BrokerAddress,
        sinks: Sequence[Callable[[Notice], None]],
        alert_filter: AlertFilter = AlertFilter(),
        client_id: str | None = None,
    ) -> None:
        self.address = address
        self.sinks = list(sinks)
        self.filter = alert_filter
        persistent = client_id is not None
        self._client = make_client(client_id or "", persistent=persistent)
        self._client.manual_ack_set(True)
        self._client.on_connect = self._on_connect
        self._subscribed = threading.Event()
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._inbox: Inbox[mqtt.MQTTMessage] = Inbox(1000)
        self._worker = threading.Thread(target=self._work, name="alerts-worker", daemon=True)
        self._seen: RecentKeys[tuple[Any, ...]] = RecentKeys()
        self.delivered = 0
        #: Events received again (QoS 1 redelivery) and not handed to the sinks twice.
        self.repeats = 0
        #: Payloads on the followed topics that break the contract (counted, logged at a bounded rate).
        self.malformed = 0
        self.errors = 0
        self._log = RateLimitedLog(log)

    def start(self, timeout: float = 10.0) -> None:
        """Connect and return once the broker confirmed the subscriptions."""
        connect(self._client, self.address)
        self._worker.start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise ConnectionError(f"the MQTT broker at {self.address} did not confirm the subscription")

    def stop(self) -> None:
        self._inbox.close()
        if self._worker.is_alive():
            self._worker.join()
        disconnect(self._client)

    def alive(self) -> bool:
        return self._worker.is_alive()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not getattr(reason, "is_failure", False):
            client.subscribe([(topic, 1) for topic in self.filter.topics()])

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(message)  # refused only while stopping: unacknowledged, it comes again

    def _work(self) -> None:
        while not (self._inbox.closed and self._inbox.depth == 0):
            for message in self._inbox.get_batch(100, timeout=0.2):
                try:
                    self._deliver(message)
                except Exception:  # one bad message must not stop the tail
                    self.errors += 1
                    log.exception("unexpected error on a message of %s", message.topic)
                self._client.ack(message.mid, message.qos)

    def _deliver(self, message: mqtt.MQTTMessage) -> None:
        if not message.payload:  # MQTT's way of clearing a retained message: nothing happened
            return
        try:
            event: Notice = decode(self.filter.kind, bytes(message.payload))
        except ContractError as err:
            self.malformed += 1
            self._log.warning("malformed", "ignoring a malformed %s on %.200s: %.300s", self.filter.kind.__name__,
                              message.topic, err)
            return
        if not self.filter.accepts(event):
            return
        if not self._seen.first_time(event.key):
            self.repeats += 1
            return
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:
                log.exception("an alert sink failed on %s", _identity(event))
        self.delivered += 1


def run_alerts(
    broker: str,
    alert_filter: AlertFilter,
    *,
    webhook: str | None = None,
    client_id: str | None = None,
) -> None:
    """``bioreactor alerts``: print matching incidents or alarm events (and POST them) until SIGTERM/SIGINT."""
    # Flushed per line so that a pipe (| grep, | tee) sees each alarm at once.
    sinks: list[Callable[[Notice], None]] = [lambda event: print(format_notice(event), flush=True)]
    if webhook is not None:
        sinks.append(WebhookSender(webhook))
    address = BrokerAddress.parse(broker)
    tail = AlertTail(address, sinks, alert_filter, client_id)

    def start() -> None:
        tail.start()
        topics = ", ".join(alert_filter.topics())
        print(f"following {alert_filter.follow.value} on {address} ({topics}); Ctrl-C to stop", file=sys.stderr,
              flush=True)

    run_until_signalled(start, tail.stop, tail.alive)
