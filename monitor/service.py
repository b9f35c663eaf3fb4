"""The monitor service: MQTT in, engine, historian, MQTT out.

Threads
    paho's network thread only puts received messages into a bounded
    :class:`~monitor.inbox.Inbox` (waiting, and counting the wait, when it is
    full). One worker thread owns the engine and the historian and does all the
    work, so per-reactor state needs no locks and readings keep their order.

Inputs
    readings, acknowledgements, and the publishers' retained statuses: an
    ``end_of_stream`` status ends that reactor's batch in the engine (its alarms
    clear and it is no longer expected to report), through the same worker and
    transaction as everything else.

Order of one unit of work (up to ``max_batch`` queued messages)
    1. decode and check every message, run the engine, collect events, dead
       letters, acknowledgements and due recommendations;
    2. store all of it, the messages to publish (the *outbox*) and the engine
       state in **one** historian transaction;
    3. publish the outbox at QoS 1;
    4. only then acknowledge the received messages to the broker (paho manual
       acknowledgement), in the order they arrived.

    A crash before 2 loses nothing: the broker still holds the unacknowledged
    messages and delivers them again to the persistent session. A crash between
    2 and 4 makes the broker deliver stored readings again; the restored engine
    rejects them as duplicates and the service, finding the same reading in the
    historian, counts them as redeliveries and acknowledges them. Outbox rows are
    deleted once the broker confirmed them, and published again on start if not.

Shutdown (SIGTERM/SIGINT)
    refuse new messages (they stay unacknowledged, so the broker keeps them),
    drain the inbox, wait for the broker to confirm the outbox, publish the
    ``offline`` status, disconnect, close the historian.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from bioreactor.contract import (
    Acknowledgement,
    ActiveAlarms,
    AlarmEvent,
    ContractError,
    DeadLetter,
    Reading,
    Recommendation,
    Status,
    StatusState,
    decode,
    encode,
)
from bioreactor.contract import topics as t
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from monitor.config import MonitorConfig
from monitor.engine import MonitorEngine, ReadingRejected
from monitor.historian import Changeset, Historian, Outgoing, Snapshot, SqliteHistorian
from monitor.inbox import Inbox
from monitor.metrics import MetricsMeter, ServiceCounters
from monitor.shutdown import run_until_signalled

log = logging.getLogger(__name__)

#: Every reactor publisher's retained status (online, offline, end of stream).
STATUS_WILDCARD = f"{t.ROOT}/+/{t.STATUS}"


class Engine(Protocol):
    """What the service needs of :class:`monitor.engine.MonitorEngine`."""

    def process(self, reading: Reading) -> list[AlarmEvent]: ...
    def acknowledge(self, reactor_id: str, ack: Acknowledgement) -> AlarmEvent: ...
    def end_batch(self, reactor_id: str, batch_id: str | None, timestamp: datetime) -> list[AlarmEvent]: ...
    def check_stale(self, now: datetime) -> list[AlarmEvent]: ...
    def active_alarms(self, reactor_id: str) -> ActiveAlarms: ...
    def reactors(self) -> list[str]: ...
    def save_state(self) -> bytes: ...


class Recommender(Protocol):
    """A feed-rate advisor such as :class:`models.recommender.FeedRecommender`.

    ``recommend`` gets, in order, every reading of the due reactors since their
    last advice (so the advisor can keep its own feature history) and returns
    one recommendation per reactor, for its latest reading.
    """

    def recommend(self, readings: list[Reading]) -> list[Recommendation]: ...


#: Builds the engine, from the state saved by a previous run when there is one.
EngineFactory = Callable[[bytes | None], Engine]


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """How the service runs; the checks themselves are configured in the engine.

    Attributes
    ----------
    client_id
        Stable MQTT client id: the broker keeps this session's backlog while the monitor is down.
    queue_size
        Bound of the hand-off queue between the MQTT thread and the worker.
    max_batch
        Most messages stored in one historian transaction.
    metrics_interval_s
        Seconds between two ``Metrics`` publications.
    stale_check_interval_s
        Seconds between two stale-reactor checks; 0 switches them off.
    recommendation_interval_h
        Culture hours between two feed-rate recommendations of one reactor.
    drain_timeout_s
        How long a shutdown waits for the broker to confirm what was published.
    """

    client_id: str = "bioreactor-monitor"
    queue_size: int = 1000
    max_batch: int = 200
    metrics_interval_s: float = 5.0
    stale_check_interval_s: float = 10.0
    recommendation_interval_h: float = 1.0
    drain_timeout_s: float = 10.0


@dataclass(slots=True)
class _Unit:
    """The messages of one unit of work and everything they changed."""

    changes: Changeset = field(default_factory=Changeset)
    touched: set[str] = field(default_factory=set)
    readings: dict[tuple[str, str, int], Reading] = field(default_factory=dict)
    acks: set[Acknowledgement] = field(default_factory=set)
    due: set[str] = field(default_factory=set)
    received: list[mqtt.MQTTMessage] = field(default_factory=list)


class _FleetClock:
    """'Now' for stale checks: the newest reading's time, advanced by wall time since it arrived.

    Readings may be replayed faster than real time, so the wall clock alone
    would call every reactor stale; the newest data time alone would stop when
    the whole fleet falls silent.
    """

    def __init__(self) -> None:
        self._data_time: datetime | None = None
        self._arrival = 0.0

    def saw(self, timestamp: datetime) -> None:
        if self._data_time is None or timestamp > self._data_time:
            self._data_time, self._arrival = timestamp, time.monotonic()

    def now(self) -> datetime | None:
        if self._data_time is None:
            return None
        return self._data_time + timedelta(seconds=time.monotonic() - self._arrival)


class MonitorService:
    """Runs the engine on the readings of every reactor on the broker.

    Parameters
    ----------
    address
        The MQTT broker.
    historian
        Where history, state and outbox are kept; the service closes it on stop.
    make_engine
        Builds the engine from saved state (``None`` on a first start).
    settings
        Service settings.
    recommender
        Optional feed-rate advisor, called when a reactor enters a new
        ``recommendation_interval_h`` of culture time; due reactors of one unit of
        work share one call.
    """

    def __init__(
        self,
        address: BrokerAddress,
        historian: Historian,
        make_engine: EngineFactory,
        settings: ServiceSettings = ServiceSettings(),
        recommender: Recommender | None = None,
    ) -> None:
        self.address = address
        self.settings = settings
        self.historian = historian
        self.recommender = recommender
        self.counters = ServiceCounters()
        self._make_engine = make_engine
        self._engine: Engine | None = None
        self._recommended: dict[str, tuple[str, int]] = {}
        # Readings each reactor's advisor has not seen yet: it keeps its own feature history.
        self._unadvised: dict[str, list[Reading]] = {}
        self._inbox: Inbox[mqtt.MQTTMessage] = Inbox(settings.queue_size)
        # Outbox messages in flight (MQTT message id -> outbox id), worker thread only; and
        # the message ids the broker acknowledged, appended by paho's thread.
        self._unconfirmed: dict[int, int] = {}
        self._acked: deque[int] = deque()
        self._clock = _FleetClock()
        self._meter = MetricsMeter(settings.client_id, time.monotonic())
        self._client = make_client(
            settings.client_id,
            will=(t.MONITOR_STATUS, self._status(StatusState.OFFLINE, "connection lost")),
        )
        self._client.manual_ack_set(True)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        # Runs under paho's lock: only hand the id over (MQTTMessageInfo.is_published() raises
        # for messages queued while offline, even after they went out).
        self._client.on_publish = lambda client, data, mid, reason, props: self._acked.append(mid)
        self._worker = threading.Thread(target=self._work, name="monitor-worker", daemon=True)
        self._stopped = threading.Event()
        #: Set on every (re)connection: restate each reactor's retained active alarms.
        self._restate = threading.Event()
        self.failure: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Restore saved state, republish what the last run left unconfirmed, connect, subscribe."""
        snapshot = self.historian.snapshot()
        self._engine = self._make_engine(snapshot.engine if snapshot else None)
        if snapshot is not None:
            self._recommended = {r: (b, n) for r, (b, n) in json.loads(snapshot.service).items()}
        pending = self.historian.pending()
        for outbox_id, message in pending:
            self._publish_outgoing(outbox_id, message)
        if pending:
            log.info("publishing %d messages left over from the previous run", len(pending))
        connect(self._client, self.address)
        self._worker.start()

    def stop(self) -> None:
        """Drain, flush and disconnect; safe to call more than once."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._inbox.close()
        if self._worker.is_alive():
            self._worker.join()
        info = self._client.publish(t.MONITOR_STATUS, self._status(StatusState.OFFLINE, "stopped"), qos=1, retain=True)
        self._await_acks({info.mid}, self.settings.drain_timeout_s)
        disconnect(self._client)
        self.historian.close()

    def run_until_signalled(self) -> None:
        """Run until SIGTERM or SIGINT (or a fatal worker error), then stop cleanly."""
        run_until_signalled(self.start, self.stop, self._worker.is_alive)
        if self.failure is not None:
            raise RuntimeError("the monitor worker failed") from self.failure

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the service has not been started")
        return self._engine

    @property
    def queue_depth(self) -> int:
        return self._inbox.depth

    @property
    def backpressure_waits(self) -> int:
        return self._inbox.backpressure_waits

    # -- paho network thread -------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            return
        # Subscriptions live in the persistent session, but a broker that lost it needs them again.
        client.subscribe([(t.READINGS_WILDCARD, 1), (t.ACKS_WILDCARD, 1), (STATUS_WILDCARD, 1)])
        client.publish(t.MONITOR_STATUS, self._status(StatusState.ONLINE), qos=1, retain=True)
        self._restate.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        # Not queued only while shutting down; unacknowledged, the broker delivers it again later.
        self._inbox.put(message)

    # -- worker thread -------------------------------------------------------------------------

    def _work(self) -> None:
        settings = self.settings
        next_metrics = time.monotonic() + settings.metrics_interval_s
        next_stale = time.monotonic() + settings.stale_check_interval_s
        try:
            while not (self._inbox.closed and self._inbox.depth == 0):
                messages = self._inbox.get_batch(settings.max_batch, timeout=0.2)
                unit = _Unit()
                for message in messages:
                    self._handle(message, unit)
                self._recommend(unit)
                now = time.monotonic()
                if settings.stale_check_interval_s > 0 and now >= next_stale:
                    next_stale = now + settings.stale_check_interval_s
                    self._check_stale(unit)
                self._finish(unit)
                if now >= next_metrics:
                    next_metrics = now + settings.metrics_interval_s
                    self._publish_metrics()
            self._drain_outbox()
        except BaseException as err:
            log.exception("the monitor worker stopped on an unexpected error")
            self.failure = err
            self._inbox.close()

    def _handle(self, message: mqtt.MQTTMessage, unit: _Unit) -> None:
        unit.received.append(message)
        reactor_id = t.reactor_from_topic(message.topic)
        leaf = message.topic.split("/", 2)[-1]
        if reactor_id is None and leaf == t.STATUS:
            return  # a service's own status (e.g. this monitor's), not a reactor's
        if reactor_id is None or leaf not in (t.READING, t.ACK, t.STATUS):
            self._dead_letter(message, "not a reading, acknowledgement or status topic", unit)
        elif leaf == t.READING:
            self._handle_reading(message, reactor_id, unit)
        elif leaf == t.ACK:
            self._handle_ack(message, reactor_id, unit)
        else:
            self._handle_status(message, reactor_id, unit)

    def _handle_reading(self, message: mqtt.MQTTMessage, reactor_id: str, unit: _Unit) -> None:
        try:
            reading = decode(Reading, bytes(message.payload))
        except ContractError as err:
            self._dead_letter(message, str(err), unit)
            return
        if reading.reactor_id != reactor_id:
            reason = f"reactor_id {reading.reactor_id!r} in the payload does not match the topic {message.topic!r}"
            self._dead_letter(message, reason, unit)
            return
        try:
            events = self.engine.process(reading)
        except ReadingRejected as err:
            if self._already_processed(reading, unit):
                self.counters.redeliveries += 1
            else:
                self._dead_letter(message, err.reason, unit)
            return
        except Exception as err:
            # A reading that trips a bug must not block the fleet by being redelivered forever.
            log.exception("the engine failed on a reading from %s", message.topic)
            self._dead_letter(message, f"the monitor could not check this reading: {err!r}", unit)
            return
        key = (reading.reactor_id, reading.batch_id, reading.seq)
        unit.readings[key] = reading
        self._note_if_due(reading, unit)
        unit.changes.readings.append(reading)
        self.counters.readings += 1
        self._clock.saw(reading.timestamp)
        self._record_events(events, unit)
        if events:  # the retained active list changes with alarm events, not with every reading
            unit.touched.add(reactor_id)

    def _already_processed(self, reading: Reading, unit: _Unit) -> bool:
        """Whether exactly this reading was processed before (a redelivery, not a conflict)."""
        key = (reading.reactor_id, reading.batch_id, reading.seq)
        stored = unit.readings.get(key) or self.historian.find_reading(*key)
        return stored is not None and encode(stored) == encode(reading)

    def _handle_ack(self, message: mqtt.MQTTMessage, reactor_id: str, unit: _Unit) -> None:
        try:
            ack = decode(Acknowledgement, bytes(message.payload))
        except ContractError as err:
            self._dead_letter(message, str(err), unit)
            return
        try:
            event = self.engine.acknowledge(reactor_id, ack)
        except KeyError:
            self._dead_letter(message, f"no alarm {ack.alarm_id!r} on reactor {reactor_id}", unit)
            return
        except ValueError as err:
            if ack in unit.acks or self.historian.has_acknowledgement(ack):
                self.counters.redeliveries += 1
            else:
                self._dead_letter(message, str(err), unit)
            return
        unit.acks.add(ack)
        unit.changes.acknowledgements.append((ack, event))
        self.counters.acknowledgements += 1
        self._record_events([event], unit)
        unit.touched.add(reactor_id)

    def _handle_status(self, message: mqtt.MQTTMessage, reactor_id: str, unit: _Unit) -> None:
        """A publisher's end of stream ends its batch: alarms clear and the reactor is not stale."""
        try:
            status = decode(Status, bytes(message.payload))
        except ContractError as err:
            self._dead_letter(message, str(err), unit)
            return
        if status.state is not StatusState.END_OF_STREAM:
            return
        events = self.engine.end_batch(reactor_id, status.batch_id, status.timestamp)
        self._record_events(events, unit)
        if reactor_id in self.engine.reactors():
            unit.touched.add(reactor_id)

    def _record_events(self, events: Sequence[AlarmEvent], unit: _Unit) -> None:
        for event in events:
            unit.changes.events.append(event)
            unit.changes.outbox.append(Outgoing(t.alarm_topic(event.reactor_id), encode(event)))
        self.counters.events += len(events)

    def _dead_letter(self, message: mqtt.MQTTMessage, reason: str, unit: _Unit) -> None:
        letter = DeadLetter(
            topic=message.topic,
            payload=message.payload.decode("utf-8", errors="backslashreplace"),
            reason=reason,
            source=self.settings.client_id,
            timestamp=datetime.now(UTC),
        )
        log.warning("dead letter from %s: %s", message.topic, reason)
        unit.changes.dead_letters.append(letter)
        unit.changes.outbox.append(Outgoing(t.DEAD_LETTER, encode(letter)))
        self.counters.dead_letters += 1

    def _note_if_due(self, reading: Reading, unit: _Unit) -> None:
        """Keep ``reading`` for the advisor; its reactor is due when it opens a new decision interval.

        Intervals are counted in culture time, per reactor and batch.
        """
        if self.recommender is None:
            return
        self._unadvised.setdefault(reading.reactor_id, []).append(reading)
        slot = (reading.batch_id, math.floor(reading.culture_h / self.settings.recommendation_interval_h))
        if self._recommended.get(reading.reactor_id) != slot:
            self._recommended[reading.reactor_id] = slot
            unit.due.add(reading.reactor_id)

    def _recommend(self, unit: _Unit) -> None:
        """One advisor call for every due reactor, with all its readings since its last advice."""
        if self.recommender is None or not unit.due:
            return
        readings = [r for reactor_id in sorted(unit.due) for r in self._unadvised.pop(reactor_id)]
        try:
            recommendations = self.recommender.recommend(readings)
        except Exception:
            # Advice is optional; monitoring must go on when the model fails.
            log.exception("the feed-rate recommender failed for %s", ", ".join(sorted(unit.due)))
            return
        for recommendation in recommendations:
            unit.changes.recommendations.append(recommendation)
            unit.changes.outbox.append(
                Outgoing(t.recommendation_topic(recommendation.reactor_id), encode(recommendation))
            )
        self.counters.recommendations += len(recommendations)

    def _check_stale(self, unit: _Unit) -> None:
        now = self._clock.now()
        if now is None:
            return
        events = self.engine.check_stale(now)
        self._record_events(events, unit)
        unit.touched.update(e.reactor_id for e in events)

    def _finish(self, unit: _Unit) -> None:
        """Store the unit, publish its outbox, then acknowledge its messages."""
        changes = unit.changes
        changes.published = self._confirmed()
        if self._restate.is_set() and not self._unconfirmed:
            # Everything published before the (re)connection is acknowledged, so these go last
            # and the broker keeps them: paho can let a message published just after a reconnection
            # overtake the ones it resends, which would leave an older retained list in place.
            self._restate.clear()
            unit.touched.update(self.engine.reactors())
        for reactor_id in sorted(unit.touched):
            active = self.engine.active_alarms(reactor_id)
            changes.outbox.append(Outgoing(t.active_alarms_topic(reactor_id), encode(active), retain=True))
        if unit.touched or changes.readings or changes.recommendations:
            changes.snapshot = Snapshot(self.engine.save_state(), json.dumps(self._recommended).encode())
        if changes:
            ids = self.historian.commit(changes)
            for outbox_id, outgoing in zip(ids, changes.outbox, strict=True):
                self._publish_outgoing(outbox_id, outgoing)
        for message in unit.received:
            self._client.ack(message.mid, message.qos)

    def _publish_outgoing(self, outbox_id: int, message: Outgoing) -> None:
        info = self._client.publish(message.topic, message.payload, qos=1, retain=message.retain)
        self._unconfirmed[info.mid] = outbox_id

    def _confirmed(self, acked: Iterable[int] = ()) -> list[int]:
        """Outbox ids the broker has acknowledged since the last call."""
        mids = [*acked]
        while self._acked:
            mids.append(self._acked.popleft())
        return [self._unconfirmed.pop(m) for m in mids if m in self._unconfirmed]

    def _await_acks(self, mids: set[int], timeout: float) -> set[int]:
        """Wait until the broker acknowledged ``mids``, the time is up or the connection is gone.

        Returns the message ids acknowledged meanwhile (all of them, not only ``mids``).
        """
        deadline = time.monotonic() + timeout
        acked: set[int] = set()
        while True:
            while self._acked:
                acked.add(self._acked.popleft())
            done = mids <= acked or time.monotonic() > deadline
            if done or not self._client.is_connected():
                return acked
            time.sleep(0.02)

    def _drain_outbox(self) -> None:
        acked = self._await_acks(set(self._unconfirmed), self.settings.drain_timeout_s)
        confirmed = self._confirmed(acked)
        if confirmed:
            self.historian.commit(Changeset(published=confirmed))
        if self._unconfirmed:
            log.warning("%d unconfirmed messages stay in the outbox", len(self._unconfirmed))

    def _publish_metrics(self) -> None:
        engine = self.engine
        metrics = self._meter.sample(
            self.counters,
            now=time.monotonic(),
            timestamp=datetime.now(UTC),
            queue_depth=self._inbox.depth,
            active_alarms=sum(len(engine.active_alarms(r).alarms) for r in engine.reactors()),
            backpressure_waits=self._inbox.backpressure_waits,
        )
        self._client.publish(t.MONITOR_METRICS, encode(metrics), qos=0, retain=True)

    def _status(self, state: StatusState, detail: str | None = None) -> bytes:
        return encode(Status(self.settings.client_id, state, datetime.now(UTC), detail=detail))


def engine_factory(config: MonitorConfig | None = None) -> EngineFactory:
    """Builds a :class:`~monitor.engine.MonitorEngine`, restored from saved state when given."""

    def make(state: bytes | None) -> Engine:
        if state is None:
            return MonitorEngine(config)
        return MonitorEngine.load_state(state, config)

    return make


def run_monitor(
    broker: str,
    historian_path: Path,
    *,
    config_path: Path | None = None,
    settings: ServiceSettings = ServiceSettings(),
    recommender: Recommender | None = None,
) -> None:
    """``bioreactor monitor``: run the service until SIGTERM or SIGINT."""
    config = MonitorConfig.from_toml(config_path) if config_path else MonitorConfig.default()
    service = MonitorService(
        BrokerAddress.parse(broker),
        SqliteHistorian(historian_path),
        engine_factory(config),
        settings,
        recommender,
    )
    log.info("monitoring %s as %r, history in %s", broker, settings.client_id, historian_path)
    service.run_until_signalled()
