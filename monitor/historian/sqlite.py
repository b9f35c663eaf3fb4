"""The historian in one SQLite file (WAL mode).

WAL lets dashboards and ``bioreactor export`` read while the monitor writes.
``synchronous=NORMAL`` keeps every committed changeset across a crash of the
monitor process; a power loss may lose the last few commits, the same exposure
as the broker's own periodic persistence.

>>> import tempfile, pathlib
>>> from datetime import datetime, UTC
>>> from bioreactor.contract import Reading
>>> path = pathlib.Path(tempfile.mkdtemp()) / "h.sqlite"
>>> reading = Reading(timestamp=datetime(2026, 1, 1, tzinfo=UTC), reactor_id="R1",
...     batch_id="B1", seq=0, culture_h=0.0, vcd=0.4, glucose=6.0, lactate=0.2, do=95.0,
...     ph=7.05, temperature=37.0, agitation=80.0, airflow=0.02, feed_rate=0.0)
>>> with SqliteHistorian(path) as historian:
...     historian.commit(Changeset(readings=[reading], outbox=[Outgoing("t", b"x")]))
...     historian.find_reading("R1", "B1", 0) == reading, len(historian.frame(Table.READINGS))
[1]
(True, 1)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from bioreactor.contract import (
    Acknowledgement,
    AlarmEvent,
    DeadLetter,
    Reading,
    Recommendation,
    format_timestamp,
    from_dict,
    to_dict,
)
from monitor.historian.base import Changeset, Outgoing, Snapshot, Table

#: Where ``bioreactor monitor`` keeps its history by default (relative to the working directory).
DEFAULT_PATH = Path("runs") / "historian.sqlite"


def _columns(cls: type, *, skip: Sequence[str] = ("schema",)) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.name not in skip]


_READING_COLUMNS = _columns(Reading)
_EVENT_COLUMNS = _columns(AlarmEvent)
_RECOMMENDATION_COLUMNS = _columns(Recommendation)
_DEAD_LETTER_COLUMNS = _columns(DeadLetter)
_ACK_COLUMNS = ["reactor_id", "batch_id", *_columns(Acknowledgement)]
_TIME_COLUMNS = ("timestamp", "first_seen", "last_seen")


def _table_sql(name: str, columns: Iterable[str], extra: str = "") -> str:
    quoted = ", ".join(f'"{c}"' for c in columns)
    return f"CREATE TABLE IF NOT EXISTS {name} (id INTEGER PRIMARY KEY, {quoted}{extra})"


_SCHEMA = (
    _table_sql(Table.READINGS, _READING_COLUMNS, ", UNIQUE (reactor_id, batch_id, seq)"),
    _table_sql(Table.ALARMS, _EVENT_COLUMNS),
    _table_sql(Table.ACKNOWLEDGEMENTS, _ACK_COLUMNS),
    _table_sql(Table.RECOMMENDATIONS, _RECOMMENDATION_COLUMNS),
    _table_sql(Table.DEAD_LETTERS, _DEAD_LETTER_COLUMNS),
    "CREATE INDEX IF NOT EXISTS alarms_batch ON alarms (batch_id)",
    "CREATE INDEX IF NOT EXISTS recommendations_batch ON recommendations (batch_id)",
    "CREATE INDEX IF NOT EXISTS acknowledgements_alarm ON acknowledgements (alarm_id)",
    "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, topic TEXT NOT NULL,"
    " payload BLOB NOT NULL, retain INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " engine BLOB NOT NULL, service BLOB NOT NULL)",
)


def _row(payload: Any, columns: Sequence[str]) -> tuple[Any, ...]:
    values = to_dict(payload)
    if "drivers" in values:
        values["drivers"] = json.dumps(values["drivers"])
    return tuple(values.get(c) for c in columns)


def _insert(cursor: sqlite3.Cursor, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    if rows:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


class SqliteHistorian:
    """A :class:`~monitor.historian.base.Historian` in one SQLite file.

    Parameters
    ----------
    path
        The database file; its directory is created when missing.
    readonly
        Open an existing file for reading only (exports, dashboards).
    """

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(f"no historian at {self.path}")
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One writer thread uses the connection; it may be opened and closed by another.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._db.execute(statement)

    def commit(self, changes: Changeset) -> list[int]:
        cur = self._db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            _insert(
                cur,
                Table.READINGS,
                _READING_COLUMNS,
                [_row(r, _READING_COLUMNS) for r in changes.readings],
            )
            _insert(cur, Table.ALARMS, _EVENT_COLUMNS, [_row(e, _EVENT_COLUMNS) for e in changes.events])
            _insert(
                cur,
                Table.ACKNOWLEDGEMENTS,
                _ACK_COLUMNS,
                [
                    (event.reactor_id, event.batch_id, *_row(ack, _ACK_COLUMNS[2:]))
                    for ack, event in changes.acknowledgements
                ],
            )
            _insert(
                cur,
                Table.RECOMMENDATIONS,
                _RECOMMENDATION_COLUMNS,
                [_row(r, _RECOMMENDATION_COLUMNS) for r in changes.recommendations],
            )
            _insert(
                cur,
                Table.DEAD_LETTERS,
                _DEAD_LETTER_COLUMNS,
                [_row(d, _DEAD_LETTER_COLUMNS) for d in changes.dead_letters],
            )
            ids = []
            for message in changes.outbox:
                cur.execute(
                    "INSERT INTO outbox (topic, payload, retain) VALUES (?, ?, ?)",
                    (message.topic, message.payload, int(message.retain)),
                )
                ids.append(int(cur.lastrowid or 0))
            cur.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in changes.published])
            if changes.snapshot is not None:
                cur.execute(
                    "INSERT OR REPLACE INTO state (id, engine, service) VALUES (1, ?, ?)",
                    (changes.snapshot.engine, changes.snapshot.service),
                )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return ids

    def snapshot(self) -> Snapshot | None:
        row = self._db.execute("SELECT engine, service FROM state WHERE id = 1").fetchone()
        return None if row is None else Snapshot(bytes(row[0]), bytes(row[1]))

    def pending(self) -> list[tuple[int, Outgoing]]:
        rows = self._db.execute("SELECT id, topic, payload, retain FROM outbox ORDER BY id")
        return [(i, Outgoing(topic, bytes(payload), bool(retain))) for i, topic, payload, retain in rows]

    def find_reading(self, reactor_id: str, batch_id: str, seq: int) -> Reading | None:
        names = ", ".join(f'"{c}"' for c in _READING_COLUMNS)
        row = self._db.execute(
            f"SELECT {names} FROM readings WHERE reactor_id = ? AND batch_id = ? AND seq = ?",
            (reactor_id, batch_id, seq),
        ).fetchone()
        return None if row is None else from_dict(Reading, dict(zip(_READING_COLUMNS, row, strict=True)))

    def has_acknowledgement(self, ack: Acknowledgement) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM acknowledgements WHERE alarm_id = ? AND user = ? AND timestamp = ? AND comment IS ?",
            (ack.alarm_id, ack.user, format_timestamp(ack.timestamp), ack.comment),
        ).fetchone()
        return row is not None

    def frame(self, table: Table, batch_id: str | None = None) -> pd.DataFrame:
        query = f"SELECT * FROM {Table(table)}"
        params: tuple[str, ...] = ()
        if batch_id is not None:
            if table is Table.DEAD_LETTERS:
                raise ValueError("dead letters belong to no batch; export them without --batch")
            query, params = f"{query} WHERE batch_id = ?", (batch_id,)
        frame = pd.read_sql_query(f"{query} ORDER BY id", self._db, params=params)
        for column in _TIME_COLUMNS:
            if column in frame:
                frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        return frame.drop(columns="id")

    def close(self) -> None:
        # Fold the WAL into the database file so a copied .sqlite file is complete on its own.
        # A read-only connection or a busy reader makes it fail: the data is committed anyway.
        with contextlib.suppress(sqlite3.OperationalError):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    def __enter__(self) -> SqliteHistorian:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
