"""The monitor service: MQTT in, engine, historian, MQTT out — a thin shell around the engine.

Threads
    paho's network threads (one per partition link) only put received messages
    into a bounded :class:`~monitor.inbox.Inbox` (waiting, and counting the
    wait, when it is full). One worker thread owns the engine and the store and
    does all the work, so per-reactor state needs no locks and readings keep
    their order.

Inputs
    readings, acknowledgements (``bioreactor/<reactor>/ack/<user>``: the user
    is the topic's, which the broker's ACL ties to the sender), and the
    publishers' retained statuses: an ``end_of_stream`` ends that reactor's
    batch. Every message is admitted, ignored or dead-lettered with its reason
    (:mod:`monitor.intake`); an unexpected error costs that one message, never
    the service.

One unit of work (up to ``max_batch`` queued messages of one partition)
    1. run the engine on the messages, consecutive readings together (waves);
    2. store the readings, events, incidents, acknowledgements, recommendations,
       dead letters, the outbox and the engine's journal entries in **one**
       transaction;
    3. publish the outbox at QoS 1;
    4. only then acknowledge the received messages to the broker (manual ack).

    A crash before 2 loses nothing: the broker still holds the unacknowledged
    messages for the persistent session. A crash between 2 and 4 makes the
    broker deliver stored readings again; the restored engine refuses them as
    duplicates and the service, finding the same reading stored, counts them as
    redeliveries. Outbox rows are deleted once the broker confirmed them, and
    published again on start if not.

State
    Every few seconds, each reactor with new journal entries is snapshotted (its
    whole engine state, as data) and the journal it covers is dropped. On start,
    and when a partition is taken over from a dead instance, each reactor is
    loaded from its snapshot and its later journal entries are replayed: the
    engine is deterministic, so it reaches exactly the state it had.

Partitions
    Reactors are split into ``partitions`` by a stable hash. Each instance
    leases a fair share of them from the store (PostgreSQL advisory locks; the
    SQLite store grants everything to its single instance) and holds one MQTT
    session per partition. An instance that dies loses its leases with its
    database connection; the others take its partitions over, resuming their
    sessions and their state.

Staleness
    judged per reactor from the pace of its own stream and this machine's wall
    clock (:mod:`monitor.staleness`), never against another reactor's clock.

Shutdown (SIGTERM/SIGINT)
    refuse new messages (they stay unacknowledged, so the broker keeps them),
    drain the inbox, snapshot, wait for the broker to confirm the outbox,
    publish the ``offline`` status, disconnect, close the store.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import paho.mqtt.client as mqtt

from bioreactor.contract import (
    Acknowledgement,
    AlarmEvent,
    Coverage,
    DeadLetter,
    Reading,
    Recommendation,
    Status,
    StatusState,
    encode,
    replace,
)
from bioreactor.contract import topics as t
from bioreactor.mqtt import BrokerAddress
from monitor.engine import MonitorEngine, Outcome
from monitor.health import ServiceHealth
from monitor.historian.base import (
    AcknowledgementRecord,
    Changeset,
    Historian,
    Leases,
    Outgoing,
    ReactorSnapshot,
    partition_of,
)
from monitor.inbox import Inbox
from monitor.intake import Admitted, Intake, Rejected
from monitor.journal import Journal, replay
from monitor.links import PartitionLink
from monitor.lograte import RateLimitedLog
from monitor.metrics import MetricsMeter, ServiceCounters
from monitor.shutdown import ServiceFailedError, run_until_signalled
from monitor.staleness import StreamPace

log = logging.getLogger(__name__)


class Store(Historian, Leases, Protocol):
    """A historian that also leases partitions (both backends are)."""


class Recommender(Protocol):
    """A feed-rate advisor such as :class:`models.recommender.FeedRecommender`.

    ``recommend`` gets, in order, every reading of the due reactors since their
    last advice (so the advisor can keep its own feature history) and returns
    one recommendation per reactor, for its latest reading.
    """

    def recommend(self, readings: list[Reading]) -> list[Recommendation]: ...


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """How the service runs; the checks themselves are configured in the engine.

    Attributes
    ----------
    client_id
        Stable MQTT client id (per partition, ``-p<n>`` is added): the broker keeps a session's
        backlog while no monitor holds it.
    instance
        This instance's name among those sharing a store (default: the client id).
    partitions
        How many partitions the fleet is split into (1 with the SQLite store).
    queue_size
        Bound of the hand-off queue between the MQTT threads and the worker.
    max_batch
        Most messages stored in one transaction.
    metrics_interval_s
        Seconds between two ``Metrics`` publications.
    stale_check_interval_s
        Seconds between two stale-reactor checks; 0 switches them off.
    snapshot_interval_s
        Seconds between two snapshots of the reactors whose state changed.
    lease_interval_s
        Seconds between two looks at the partitions' leases (and the heartbeat).
    recommendation_interval_h
        Culture hours between two feed-rate recommendations of one reactor.
    drain_timeout_s
        How long a shutdown waits for the broker to confirm what was published.
    """

    client_id: str = "bioreactor-monitor"
    instance: str | None = None
    partitions: int = 1
    queue_size: int = 1000
    max_batch: int = 500
    metrics_interval_s: float = 5.0
    stale_check_interval_s: float = 10.0
    snapshot_interval_s: float = 30.0
    lease_interval_s: float = 5.0
    recommendation_interval_h: float = 1.0
    drain_timeout_s: float = 10.0


@dataclass(slots=True)
class _Unit:
    """The messages of one unit of work of one partition and everything they changed."""

    partition: int
    changes: Changeset
    touched: set[str] = field(default_factory=set)
    readings: dict[tuple[str, str, int], Reading] = field(default_factory=dict)
    pending: list[tuple[mqtt.MQTTMessage, Reading]] = field(default_factory=list)  # readings not yet run
    acks: set[Acknowledgement] = field(default_factory=set)
    due: set[str] = field(default_factory=set)
    advice_moved: bool = False  # a reactor entered a new recommendation interval: save the service state
    received: list[mqtt.MQTTMessage] = field(default_factory=list)


class MonitorService:
    """Runs the engine on the readings of every reactor of the partitions it holds.

    Parameters
    ----------
    address
        The MQTT broker.
    store
        Where history, journal, snapshots and outbox are kept; the service closes it on stop.
    make_engine
        Builds an empty engine (reactors are loaded into it from the store).
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
        store: Store,
        make_engine: Callable[[], MonitorEngine],
        settings: ServiceSettings = ServiceSettings(),
        recommender: Recommender | None = None,
    ) -> None:
        self.address = address
        self.settings = settings
        self.store = store
        self.recommender = recommender
        self.counters = ServiceCounters()
        self.engine = make_engine()
        self.instance = settings.instance or settings.client_id
        self._journal = Journal()
        self._snapshotted: dict[str, int] = {}  # reactor -> journal position of its last snapshot
        self._recommended: dict[str, tuple[str, int]] = {}
        # Readings each reactor's advisor has not seen yet: it keeps its own feature history.
        self._unadvised: dict[str, list[Reading]] = {}
        self._paces: dict[str, StreamPace] = {}
        self._inbox: Inbox[tuple[int, mqtt.MQTTMessage]] = Inbox(settings.queue_size)
        self._links: dict[int, PartitionLink] = {}
        self._intake = Intake()
        self._health = ServiceHealth(settings.client_id)
        self._log = RateLimitedLog(log)
        self._meter = MetricsMeter(settings.client_id, time.monotonic())
        self._worker = threading.Thread(target=self._work, name="monitor-worker", daemon=True)
        self._stopped = threading.Event()
        self._started_at = time.monotonic()
        self.failure: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Take this instance's partitions (restoring their state), connect, start working."""
        self.store.heartbeat(self.instance)
        if self.settings.partitions == 1:
            self._take(0)  # nothing to share: no need to wait for other instances' heartbeats
        self._worker.start()

    def stop(self) -> None:
        """Drain, snapshot, flush and disconnect; safe to call more than once."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._inbox.close()
        if self._worker.is_alive():
            self._worker.join()
        for partition in list(self._links):
            self._drop(partition, offline=True)
        self.store.close()

    def run_until_signalled(self, started: Callable[[], None] = lambda: None) -> None:
        """Run until SIGTERM or SIGINT, then stop cleanly; :class:`ServiceFailedError` on a fatal error.

        ``started`` is called once the service is connected and working.
        """

        def start() -> None:
            self.start()
            started()

        try:
            run_until_signalled(start, self.stop, self._worker.is_alive)
        except ServiceFailedError as err:
            raise ServiceFailedError(f"the monitor worker failed: {self.failure!r}") from err

    @property
    def partitions(self) -> list[int]:
        """The partitions this instance holds."""
        return sorted(self._links)

    @property
    def queue_depth(self) -> int:
        return self._inbox.depth

    @property
    def backpressure_waits(self) -> int:
        """How often paho's thread found the inbox full and waited (the broker kept the backlog)."""
        return self._inbox.backpressure_waits

    # -- partitions ----------------------------------------------------------------------------

    def _take(self, partition: int) -> bool:
        """Lease ``partition``, load its reactors, publish what its outbox kept, connect its session."""
        if not self.store.try_lease(partition):
            return False
        restored = self._restore(partition)
        will = (t.MONITOR_STATUS, self._status(StatusState.OFFLINE, "connection lost"))
        link = PartitionLink(
            self.address, self.settings.client_id, partition, self.settings.partitions, self._inbox,
            will=will if partition == 0 else None, on_connected=self._on_connected,
        )
        pending = self.store.pending(partition)
        self._links[partition] = link
        link.start()
        for outbox_id, message in pending:
            link.publish(outbox_id, message)
        log.info("partition %d of %d: %d reactors restored, %d messages left over published",
                 partition, self.settings.partitions, restored, len(pending))
        return True

    def _restore(self, partition: int) -> int:
        """Load the partition's reactors from their snapshots and replay their journals."""
        of = self.settings.partitions
        snapshots = {s.reactor_id: s for s in self.store.snapshots([partition], of)}
        reactors = sorted(set(snapshots) | set(self.store.journaled_reactors([partition], of)))
        for reactor_id in reactors:
            snapshot = snapshots.get(reactor_id)
            position = 0
            if snapshot is not None:
                try:
                    self.engine.load(reactor_id, snapshot.state)
                    position = snapshot.position
                except ValueError as err:  # saved by another version or configuration
                    log.warning("%s: snapshot not usable (%s); replaying its whole journal", reactor_id, err)
            entries = self.store.journal(reactor_id, position)
            replay(self.engine, entries)
            last = entries[-1].position if entries else position
            self._journal.restore(reactor_id, last)
            self._snapshotted[reactor_id] = position
        state = self.store.service_state(partition)
        if state is not None:
            self._recommended.update({r: (b, n) for r, (b, n) in json.loads(state).items()})
        return len(reactors)

    def _drop(self, partition: int, *, offline: bool = False) -> None:
        """Give ``partition`` back: snapshot its reactors, confirm its outbox, disconnect, release the lease."""
        link = self._links.pop(partition)
        self._snapshot(partition, link, force=True)
        acked = link.await_acks(set(link.unconfirmed), self.settings.drain_timeout_s)
        confirmed = link.confirmed(acked)
        if confirmed:
            self.store.commit(Changeset(partition=partition, published=confirmed))
        if link.unconfirmed:
            log.warning("%d unconfirmed messages stay in the outbox of partition %d", len(link.unconfirmed), partition)
        if offline and partition == 0:
            mid = link.publish_now(t.MONITOR_STATUS, self._status(StatusState.OFFLINE, "stopped"), retain=True)
            link.await_acks({mid}, self.settings.drain_timeout_s)
        link.stop()
        self.store.release(partition)

    def _balance(self) -> None:
        """Hold a fair share of the partitions: take free ones, give back extras."""
        alive = max(1, self.store.heartbeat(self.instance))
        if self.settings.partitions == 1:
            return
        if time.monotonic() - self._started_at < 2 * self.settings.lease_interval_s:
            return  # let the other instances' heartbeats arrive before sharing out
        share = math.ceil(self.settings.partitions / alive)
        start = hash(self.instance) % self.settings.partitions  # instances try different partitions first
        for step in range(self.settings.partitions):
            if len(self._links) >= share:
                break
            partition = (start + step) % self.settings.partitions
            if partition not in self._links:
                self._take(partition)
        while len(self._links) > share:
            self._drop(max(self._links))

    def _on_connected(self, link: PartitionLink) -> None:
        if link.partition == 0 or 0 not in self._links:
            link.publish_now(t.MONITOR_STATUS, self._status(StatusState.ONLINE), retain=True)

    # -- worker thread -------------------------------------------------------------------------

    def _work(self) -> None:
        settings = self.settings
        timers = {"metrics": 0.0, "stale": 0.0, "snapshot": 0.0, "lease": 0.0}
        try:
            while not (self._inbox.closed and self._inbox.depth == 0):
                batch = self._inbox.get_batch(settings.max_batch, timeout=0.2)
                for partition in sorted({p for p, _ in batch}):
                    if partition in self._links:
                        self._work_on(partition, [m for p, m in batch if p == partition])
                now = time.monotonic()
                if now >= timers["lease"] and not self._inbox.closed:
                    timers["lease"] = now + settings.lease_interval_s
                    self._balance()
                if settings.stale_check_interval_s > 0 and now >= timers["stale"]:
                    timers["stale"] = now + settings.stale_check_interval_s
                    self._check_stale(now)
                if now >= timers["snapshot"]:
                    timers["snapshot"] = now + settings.snapshot_interval_s
                    for partition, link in list(self._links.items()):
                        self._snapshot(partition, link)
                if now >= timers["metrics"]:
                    timers["metrics"] = now + settings.metrics_interval_s
                    self._publish_metrics()
        except BaseException as err:
            log.exception("the monitor worker stopped on an unexpected error")
            self.failure = err
            self._inbox.close()

    def _work_on(self, partition: int, messages: Sequence[mqtt.MQTTMessage]) -> None:
        link = self._links[partition]
        unit = _Unit(partition, Changeset(partition=partition))
        for message in messages:
            self._handle(message, unit)
        self._run_readings(unit)
        self._recommend(unit)
        self._finish(unit, link)

    def _handle(self, message: mqtt.MQTTMessage, unit: _Unit) -> None:
        """Admit one message and act on it; whatever goes wrong, it is dead-lettered, never fatal."""
        unit.received.append(message)
        self.counters.messages += 1
        try:
            decision = self._intake.admit(message.topic, bytes(message.payload))
            if isinstance(decision, Rejected):
                self._dead_letter(message, decision.reason, unit)
            elif isinstance(decision, Admitted):
                payload = decision.payload
                if isinstance(payload, Reading):
                    self._paces.setdefault(payload.reactor_id, StreamPace()).saw(
                        payload.timestamp.timestamp(), time.monotonic()
                    )
                    unit.pending.append((message, payload))  # run together with the readings around it
                    return
                self._run_readings(unit)  # acks and statuses act after the readings before them
                if isinstance(payload, Acknowledgement):
                    # The user is the topic's, which the broker's ACL ties to the sender's identity.
                    self._handle_ack(message, decision.reactor_id, replace(payload, user=decision.user), unit)
                elif payload.state is StatusState.END_OF_STREAM:
                    self._handle_end(decision.reactor_id, payload, unit)
        except Exception as err:  # a bug must cost one message, not the service
            self._unexpected(message, err, unit)

    def _unexpected(self, message: mqtt.MQTTMessage, err: Exception, unit: _Unit) -> None:
        log.exception("unexpected error on a message of %s", message.topic)
        self.counters.errors += 1
        self._dead_letter(message, f"the monitor could not handle this message: {err!r}", unit)
        event = self._health.error(message.topic, err, datetime.now(UTC))
        if event is not None:
            self._record_service_alarm(event, unit)

    def _run_readings(self, unit: _Unit) -> None:
        """Run the unit's waiting readings through the engine together (one wave per reactor step)."""
        if not unit.pending:
            return
        pending, unit.pending = unit.pending, []
        try:
            outcome = self.engine.process([r for _, r in pending])
        except Exception as err:  # a bug in a check: retry one by one so it costs only its own reading
            if len(pending) == 1:
                self._unexpected(pending[0][0], err, unit)
                return
            for one in pending:
                unit.pending = [one]
                self._run_readings(unit)
            return
        refused = {id(r): reason for r, reason in outcome.rejected}
        for message, reading in pending:
            reason = refused.get(id(reading))
            if reason is None:
                self._accepted(reading, unit)
            elif self._already_processed(reading, unit):
                self.counters.redeliveries += 1
            else:
                self._dead_letter(message, reason, unit)
        self._record(outcome, unit)

    def _accepted(self, reading: Reading, unit: _Unit) -> None:
        unit.readings[(reading.reactor_id, reading.batch_id, reading.seq)] = reading
        unit.changes.readings.append(reading)
        unit.changes.journal.append(self._journal.reading(reading))
        self._note_if_due(reading, unit)
        self.counters.readings += 1

    def _already_processed(self, reading: Reading, unit: _Unit) -> bool:
        """Whether exactly this reading was processed before (a redelivery, not a conflict)."""
        key = (reading.reactor_id, reading.batch_id, reading.seq)
        stored = unit.readings.get(key) or self.store.find_reading(*key)
        return stored is not None and encode(stored) == encode(reading)

    def _handle_ack(self, message: mqtt.MQTTMessage, reactor_id: str, ack: Acknowledgement, unit: _Unit) -> None:
        received = datetime.now(UTC)
        try:
            outcome = self.engine.acknowledge(reactor_id, ack, received_at=received)
        except KeyError:
            self._dead_letter(message, f"no alarm {ack.alarm_id!r} on reactor {reactor_id}", unit)
            return
        except ValueError as err:
            if ack in unit.acks or self.store.has_acknowledgement(ack):
                self.counters.redeliveries += 1
            else:
                self._dead_letter(message, str(err), unit)
            return
        unit.acks.add(ack)
        unit.changes.journal.append(self._journal.acknowledgement(reactor_id, ack, received))
        unit.changes.acknowledgements.append(AcknowledgementRecord(ack, outcome.events[0], received))
        self.counters.acknowledgements += 1
        self._record(outcome, unit)

    def _handle_end(self, reactor_id: str, status: Status, unit: _Unit) -> None:
        """A publisher's end of stream ends its batch: alarms clear and the reactor is not stale."""
        outcome = self.engine.end_batch(reactor_id, status.batch_id)
        if outcome.events:
            unit.changes.journal.append(self._journal.end(reactor_id, status.batch_id))
        self._record(outcome, unit)

    def _record(self, outcome: Outcome, unit: _Unit) -> None:
        changes = unit.changes
        for event in outcome.events:
            changes.events.append(event)
            changes.outbox.append(Outgoing(t.alarm_topic(event.reactor_id), encode(event)))
        for incident in outcome.incidents:
            changes.incidents.append(incident)
            changes.outbox.append(Outgoing(t.incident_topic(incident.reactor_id), encode(incident)))
        for reactor_id, coverage in outcome.coverage.items():
            self._announce(coverage)
            changes.outbox.append(Outgoing(t.coverage_topic(reactor_id), encode(coverage), retain=True))
        self.counters.events += len(outcome.events)
        self.counters.data_gaps += sum(e.check == "data_gap" and e.state.value == "raised" for e in outcome.events)
        unit.touched |= outcome.touched

    @staticmethod
    def _announce(coverage: Coverage) -> None:
        """Say once (and again when it changes) which checks cannot run on a reactor, and why."""
        for skipped in coverage.skipped:
            log.info("%s: %s cannot run: %s", coverage.reactor_id, skipped.check, skipped.reason)

    def _record_service_alarm(self, event: AlarmEvent, unit: _Unit) -> None:
        unit.changes.events.append(event)
        unit.changes.outbox.append(Outgoing(t.MONITOR_ALARM, encode(event)))
        self.counters.events += 1

    def _dead_letter(self, message: mqtt.MQTTMessage, reason: str, unit: _Unit) -> None:
        letter = dead_letter(message.topic, bytes(message.payload), reason, self.settings.client_id)
        self._log.warning("dead letter", "dead letter from %.200s: %.500s", message.topic, reason)
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
            unit.advice_moved = True

    def _recommend(self, unit: _Unit) -> None:
        """One advisor call for every due reactor, with all its readings since its last advice."""
        if self.recommender is None or not unit.due:
            return
        readings = [r for reactor_id in sorted(unit.due) for r in self._unadvised.pop(reactor_id, [])]
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

    def _check_stale(self, wall_now: float) -> None:
        """Each reactor's silence, on its own clock; a stale verdict is journaled like any input."""
        for partition, link in list(self._links.items()):
            unit = _Unit(partition, Changeset(partition=partition))
            for reactor_id in self.engine.reactors():
                if partition_of(reactor_id, self.settings.partitions) != partition or reactor_id not in self._paces:
                    continue
                silent = self._paces[reactor_id].silent(wall_now)
                outcome = self.engine.stale(reactor_id, silent) if silent > timedelta(0) else Outcome()
                if outcome.events:
                    unit.changes.journal.append(self._journal.stale(reactor_id, silent))
                    self._record(outcome, unit)
            cleared = self._health.tick(datetime.now(UTC)) if partition == min(self._links) else None
            if cleared is not None:
                self._record_service_alarm(cleared, unit)
            self._finish(unit, link)

    def _snapshot(self, partition: int, link: PartitionLink, *, force: bool = False) -> None:
        """Snapshot the partition's reactors whose journal grew since their last snapshot."""
        now = datetime.now(UTC)
        snapshots = []
        for reactor_id in self.engine.reactors():
            if partition_of(reactor_id, self.settings.partitions) != partition:
                continue
            position = self._journal.position(reactor_id)
            if position > self._snapshotted.get(reactor_id, 0) or (force and position):
                snapshots.append(ReactorSnapshot(reactor_id, position, self.engine.dump(reactor_id), now))
                self._snapshotted[reactor_id] = position
        if snapshots:
            unit = _Unit(partition, Changeset(partition=partition, snapshots=snapshots))
            unit.changes.service_state = self._service_state(partition)
            self._finish(unit, link)

    def _service_state(self, partition: int) -> bytes:
        mine = {r: s for r, s in self._recommended.items() if partition_of(r, self.settings.partitions) == partition}
        return json.dumps(mine).encode()

    def _finish(self, unit: _Unit, link: PartitionLink) -> None:
        """Store the unit, publish its outbox, then acknowledge its messages."""
        changes = unit.changes
        changes.published = link.confirmed()
        if unit.advice_moved:
            changes.service_state = self._service_state(unit.partition)
        if link.reconnected.is_set() and not link.unconfirmed:
            # Everything published before the (re)connection is acknowledged, so these go last
            # and the broker keeps them: paho can let a message published just after a reconnection
            # overtake the ones it resends, which would leave an older retained list in place.
            link.reconnected.clear()
            unit.touched.update(r for r in self.engine.reactors()
                                if partition_of(r, self.settings.partitions) == unit.partition)
        for reactor_id in sorted(unit.touched):
            active = self.engine.active_alarms(reactor_id)
            changes.outbox.append(Outgoing(t.active_alarms_topic(reactor_id), encode(active), retain=True))
        if changes:
            ids = self.store.commit(changes)
            for outbox_id, outgoing in zip(ids, changes.outbox, strict=True):
                link.publish(outbox_id, outgoing)
        for message in unit.received:
            link.ack(message)

    def _publish_metrics(self) -> None:
        if not self._links:
            return
        engine = self.engine
        metrics = self._meter.sample(
            self.counters,
            now=time.monotonic(),
            timestamp=datetime.now(UTC),
            queue_depth=self._inbox.depth,
            active_alarms=sum(len(engine.active_alarms(r).alarms) for r in engine.reactors()),
            backpressure_waits=self._inbox.backpressure_waits,
        )
        self._links[min(self._links)].publish_now(t.MONITOR_METRICS, encode(metrics), qos=0, retain=True)

    def _status(self, state: StatusState, detail: str | None = None) -> bytes:
        return encode(Status(source=self.settings.client_id, state=state, timestamp=datetime.now(UTC), detail=detail))


#: Characters of an undecodable payload kept in its dead letter: enough to see what it was,
#: bounded so a 1 MB payload does not become a 1 MB dead letter stored and published again.
DEAD_LETTER_CHARS = 2000


def dead_letter(topic: str, payload: bytes, reason: str, source: str) -> DeadLetter:
    """The dead letter of a message: its topic, the start of its payload, its size and the reason.

    >>> letter = dead_letter("bioreactor/R1/reading", b"x" * 10_000, "too big", "monitor")
    >>> len(letter.payload), letter.size
    (2000, 10000)
    """
    return DeadLetter(
        topic=topic[:1024] or "?",
        payload=payload[: DEAD_LETTER_CHARS * 4].decode("utf-8", errors="backslashreplace")[:DEAD_LETTER_CHARS],
        size=len(payload),
        reason=reason[:4000] or "?",
        source=source,
        timestamp=datetime.now(UTC),
    )
