"""The engine's inputs as journal entries, and their replay after a snapshot.

Every input that changes a reactor's state — a reading, an acknowledgement, an
end of stream, a stale verdict — is journaled with the next position of that
reactor's journal, in the same transaction as its effects. The engine is
deterministic, so loading a reactor's snapshot and replaying its later entries
rebuilds exactly the state it had: that is how the monitor restarts, and how
another instance takes a reactor over, without saving every reactor's full
state in every transaction.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.engine import MonitorEngine
>>> journal = Journal()
>>> entries = [journal.reading(reading_at(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=5 * i), seq=i,
...                                       glucose=0.3)) for i in range(4)]
>>> [e.position for e in entries]
[1, 2, 3, 4]
>>> engine = MonitorEngine()
>>> replay(engine, entries)
>>> [a.check for a in engine.active_alarms("R01").alarms]
['limit_low', 'limit_low_low']
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from bioreactor.contract import Acknowledgement, Reading, decode, encode, parse_timestamp
from monitor.engine import MonitorEngine
from monitor.historian.base import InputKind, JournalEntry


class Journal:
    """Hands out journal entries with each reactor's next position."""

    def __init__(self) -> None:
        self._positions: dict[str, int] = {}

    def position(self, reactor_id: str) -> int:
        """The position of the reactor's last entry (0: none)."""
        return self._positions.get(reactor_id, 0)

    def restore(self, reactor_id: str, position: int) -> None:
        """Continue the reactor's journal after ``position`` (after a restart or a takeover)."""
        self._positions[reactor_id] = max(position, self.position(reactor_id))

    def _entry(self, reactor_id: str, kind: InputKind, payload: bytes) -> JournalEntry:
        position = self.position(reactor_id) + 1
        self._positions[reactor_id] = position
        return JournalEntry(reactor_id, position, kind, payload)

    def reading(self, reading: Reading) -> JournalEntry:
        return self._entry(reading.reactor_id, InputKind.READING, encode(reading))

    def acknowledgement(self, reactor_id: str, ack: Acknowledgement, received_at: datetime) -> JournalEntry:
        payload = json.dumps({"ack": json.loads(encode(ack)), "received_at": received_at.isoformat()})
        return self._entry(reactor_id, InputKind.ACK, payload.encode())

    def end(self, reactor_id: str, batch_id: str | None) -> JournalEntry:
        return self._entry(reactor_id, InputKind.END, (batch_id or "").encode())

    def stale(self, reactor_id: str, silent: timedelta) -> JournalEntry:
        return self._entry(reactor_id, InputKind.STALE, repr(silent.total_seconds()).encode())


def replay(engine: MonitorEngine, entries: Iterable[JournalEntry]) -> None:
    """Apply journaled inputs to ``engine`` in order; their outcomes were stored when they first happened."""
    for entry in entries:
        if entry.kind is InputKind.READING:
            engine.process(decode(Reading, entry.payload))
        elif entry.kind is InputKind.ACK:
            data = json.loads(entry.payload)
            ack = decode(Acknowledgement, json.dumps(data["ack"]))
            engine.acknowledge(entry.reactor_id, ack, received_at=parse_timestamp(data["received_at"]))
        elif entry.kind is InputKind.END:
            engine.end_batch(entry.reactor_id, entry.payload.decode() or None)
        else:
            engine.stale(entry.reactor_id, timedelta(seconds=float(entry.payload)))


__all__ = ["Journal", "replay"]
