"""What the monitor stores, and the interface a storage backend implements.

The service hands the historian one :class:`Changeset` per unit of work: the
readings it processed, the events and incidents they caused, the messages still
to publish (the outbox), the engine's *journal* — every input that changed a
reactor's state, in order — and, now and then, per-reactor snapshots of the
engine state. A backend stores a changeset atomically, so after a crash the
journal, the history and the outbox always agree: whatever the monitor
acknowledged to the broker is stored, and whatever it stored but had not yet
published is published on restart.

Persisting state costs in proportion to what changed: each unit appends its
inputs to the journal (a few hundred bytes per reading); a reactor's full state
is written only in a snapshot, every few seconds, which also drops the journal
entries it covers. On restart (or when another monitor instance takes a reactor
over) the engine loads the reactor's snapshot and replays the journal entries
after it, deterministically, reaching exactly the state it had.

Reactors are partitioned (``partition_of``) so that several monitor instances
can share one store: each instance leases partitions, and the outbox and the
service's own state are kept per partition.

Adding a database means implementing :class:`Historian`; the backends are
:class:`monitor.historian.sqlite.SqliteHistorian` and
:class:`monitor.historian.postgres.PostgresHistorian`.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import pandas as pd

from bioreactor.contract import (
    Acknowledgement,
    AlarmEvent,
    DeadLetter,
    Incident,
    Reading,
    Recommendation,
)


class Table(StrEnum):
    """The record kinds a historian keeps, as exported."""

    READINGS = "readings"
    ALARMS = "alarms"
    INCIDENTS = "incidents"
    ACKNOWLEDGEMENTS = "acknowledgements"
    RECOMMENDATIONS = "recommendations"
    DEAD_LETTERS = "dead_letters"


class InputKind(StrEnum):
    """What a journal entry holds."""

    READING = "reading"  # the reading, as contract JSON
    ACK = "ack"  # the acknowledgement (user filled in) and when it arrived, as JSON
    END = "end"  # an end of stream: the batch id it names, or empty for the current batch
    STALE = "stale"  # a stale verdict: how long the reactor had been silent on its own clock, in seconds


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One input of the engine for one reactor, at its position in that reactor's journal."""

    reactor_id: str
    position: int
    kind: InputKind
    payload: bytes


@dataclass(frozen=True, slots=True)
class ReactorSnapshot:
    """A reactor's engine state including every journal entry up to ``position``."""

    reactor_id: str
    position: int
    state: bytes
    saved_at: datetime


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to publish at QoS 1, kept in the outbox until the broker confirmed it."""

    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True, slots=True)
class AcknowledgementRecord:
    """An acknowledgement as the trail keeps it: append-only, with who, when (both clocks) and what."""

    ack: Acknowledgement  # ``user`` is the authenticated MQTT user of the topic it came on
    event: AlarmEvent  # the acknowledged event it produced (data clock)
    received_at: datetime  # this machine's wall clock when it arrived


@dataclass(slots=True)
class Changeset:
    """Everything one unit of work of one partition changed; stored all-or-nothing.

    ``published`` lists outbox ids the broker has confirmed since the last changeset,
    which the historian may now forget. A snapshot replaces its reactor's previous one
    and deletes that reactor's journal entries up to its position.
    """

    partition: int = 0
    readings: list[Reading] = field(default_factory=list)
    events: list[AlarmEvent] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    acknowledgements: list[AcknowledgementRecord] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    outbox: list[Outgoing] = field(default_factory=list)
    published: list[int] = field(default_factory=list)
    journal: list[JournalEntry] = field(default_factory=list)
    snapshots: list[ReactorSnapshot] = field(default_factory=list)
    service_state: bytes | None = None

    def __bool__(self) -> bool:
        return any((
            self.readings, self.events, self.incidents, self.acknowledgements, self.recommendations,
            self.dead_letters, self.outbox, self.published, self.journal, self.snapshots,
            self.service_state is not None,
        ))


@functools.lru_cache(maxsize=1 << 16)  # called for every message; a fleet has few distinct ids
def partition_of(reactor_id: str, partitions: int) -> int:
    """The partition a reactor belongs to: a stable hash of its id (the same on every machine).

    >>> partition_of("R01", 1), partition_of("R01", 4) == partition_of("R01", 4)
    (0, True)
    """
    return zlib.crc32(reactor_id.encode()) % partitions


@dataclass(frozen=True, slots=True)
class Retention:
    """How long history is kept: readings older than ``readings`` are removed, or, with
    ``downsample``, thinned to one per ``downsample`` period (the journal and outbox are never
    touched: they are the monitor's working state)."""

    readings: timedelta = timedelta(days=365)
    downsample: timedelta | None = None
    events: timedelta = timedelta(days=3 * 365)  # alarms, incidents, acknowledgements, recommendations
    dead_letters: timedelta = timedelta(days=30)


class LeaseLostError(RuntimeError):
    """A commit for a partition this instance no longer holds (its connection, and leases, were lost)."""


class Historian(Protocol):
    """Durable storage of the monitor's history, journal, snapshots and outbox.

    One writer per partition at a time (the instance holding its lease).
    """

    def commit(self, changes: Changeset) -> list[int]:
        """Store ``changes`` atomically; return the ids given to ``changes.outbox``, in order."""
        ...

    def snapshots(self, partitions: Collection[int], of: int) -> list[ReactorSnapshot]:
        """The latest snapshot of every reactor whose ``partition_of(reactor, of)`` is in ``partitions``."""
        ...

    def journal(self, reactor_id: str, after: int) -> list[JournalEntry]:
        """The reactor's journal entries after ``after``, in order (its inputs since a snapshot)."""
        ...

    def journaled_reactors(self, partitions: Collection[int], of: int) -> list[str]:
        """Reactors in ``partitions`` that have journal entries (some may have no snapshot yet)."""
        ...

    def service_state(self, partition: int) -> bytes | None:
        """The service state stored by the partition's last changeset that carried one."""
        ...

    def pending(self, partition: int) -> list[tuple[int, Outgoing]]:
        """The partition's outbox messages not yet confirmed by the broker, oldest first."""
        ...

    def find_reading(self, reactor_id: str, batch_id: str, seq: int) -> Reading | None:
        """The stored reading with this key, if any."""
        ...

    def has_acknowledgement(self, ack: Acknowledgement) -> bool:
        """Whether exactly this acknowledgement (alarm, user, timestamp, comment) was stored."""
        ...

    def frame(
        self,
        table: Table,
        batch_id: str | None = None,
        *,
        reactor_id: str | None = None,
        since: datetime | None = None,
    ) -> pd.DataFrame:
        """One kind of record as a table, optionally of one batch or reactor, or since a time, in stored order."""
        ...

    def batches(self) -> pd.DataFrame:
        """One row per stored batch: reactor_id, batch_id, first and last timestamp, readings."""
        ...

    def apply_retention(self, now: datetime, retention: Retention) -> dict[str, int]:
        """Remove (or thin out) what is older than ``retention`` allows; rows affected per table."""
        ...

    def close(self) -> None:
        """Make everything durable and release the storage (and any lease)."""
        ...


class Leases(Protocol):
    """Exclusive ownership of partitions among monitor instances sharing a store."""

    def try_lease(self, partition: int) -> bool:
        """Take ``partition`` if no live instance holds it; True when this instance holds it now."""
        ...

    def held(self) -> set[int]:
        """The partitions this instance holds (lost ones are gone: a dead connection releases them)."""
        ...

    def release(self, partition: int) -> None:
        """Give ``partition`` back."""
        ...

    def heartbeat(self, instance: str) -> int:
        """Record that ``instance`` is alive; how many instances are alive now (for a fair share)."""
        ...
