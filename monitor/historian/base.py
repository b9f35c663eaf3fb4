"""What the monitor stores, and the interface a storage backend implements.

The service hands the historian one :class:`Changeset` per unit of work: the
readings it processed, the events they caused, the messages still to publish
(the outbox) and the engine state after them. A backend stores a changeset
atomically, so after a crash the engine state, the history and the outbox
always agree: whatever the monitor acknowledged to the broker is stored, and
whatever it stored but had not yet published is published on restart.

Adding a database means implementing :class:`Historian`; the SQLite backend is
:class:`monitor.historian.sqlite.SqliteHistorian`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import pandas as pd

from bioreactor.contract import (
    Acknowledgement,
    AlarmEvent,
    DeadLetter,
    Reading,
    Recommendation,
)


class Table(StrEnum):
    """The record kinds a historian keeps, as exported."""

    READINGS = "readings"
    ALARMS = "alarms"
    ACKNOWLEDGEMENTS = "acknowledgements"
    RECOMMENDATIONS = "recommendations"
    DEAD_LETTERS = "dead_letters"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to publish at QoS 1, kept in the outbox until the broker confirmed it."""

    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state saved with the last changeset: the engine's and the service's own."""

    engine: bytes
    service: bytes


@dataclass(slots=True)
class Changeset:
    """Everything one unit of work changed; stored all-or-nothing.

    ``published`` lists outbox ids the broker has confirmed since the last
    changeset, which the historian may now forget.
    """

    readings: list[Reading] = field(default_factory=list)
    events: list[AlarmEvent] = field(default_factory=list)
    acknowledgements: list[tuple[Acknowledgement, AlarmEvent]] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    outbox: list[Outgoing] = field(default_factory=list)
    published: list[int] = field(default_factory=list)
    snapshot: Snapshot | None = None

    def __bool__(self) -> bool:
        return any(
            (
                self.readings,
                self.events,
                self.acknowledgements,
                self.recommendations,
                self.dead_letters,
                self.outbox,
                self.published,
                self.snapshot,
            )
        )


class Historian(Protocol):
    """Durable storage of the monitor's history, state and outbox.

    One writer (the service's worker thread) at a time.
    """

    def commit(self, changes: Changeset) -> list[int]:
        """Store ``changes`` atomically; return the ids given to ``changes.outbox``, in order."""
        ...

    def snapshot(self) -> Snapshot | None:
        """The state stored by the last changeset that carried one."""
        ...

    def pending(self) -> list[tuple[int, Outgoing]]:
        """Outbox messages not yet confirmed by the broker, oldest first."""
        ...

    def find_reading(self, reactor_id: str, batch_id: str, seq: int) -> Reading | None:
        """The stored reading with this key, if any."""
        ...

    def has_acknowledgement(self, ack: Acknowledgement) -> bool:
        """Whether exactly this acknowledgement was stored."""
        ...

    def frame(self, table: Table, batch_id: str | None = None) -> pd.DataFrame:
        """One kind of record as a table, optionally of one batch only."""
        ...

    def close(self) -> None:
        """Make everything durable and release the storage."""
        ...
