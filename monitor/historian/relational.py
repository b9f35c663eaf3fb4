"""The historian on a SQL database: everything but the connection, the transaction and the leases.

:class:`RelationalHistorian` implements :class:`~monitor.historian.base.Historian` once, on
the tables of :mod:`monitor.historian.schema`, in statements both SQLite and PostgreSQL
understand (``ON CONFLICT`` upserts, window functions, ``IS NOT DISTINCT FROM``). A backend
subclasses it with its connection, how it runs a transaction, and its
:class:`~monitor.historian.base.Leases`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Self

import pandas as pd

from bioreactor.contract import (
    Acknowledgement,
    AlarmEvent,
    DeadLetter,
    Incident,
    Reading,
    Recommendation,
    from_dict,
)
from monitor.historian import schema
from monitor.historian.base import (
    Changeset,
    InputKind,
    JournalEntry,
    Outgoing,
    ReactorSnapshot,
    Retention,
    Table,
    partition_of,
)
from monitor.historian.schema import Cursor, Dialect, PayloadRows, TableSpec, micros, quoted


class RelationalHistorian(ABC):
    """A :class:`~monitor.historian.base.Historian` and :class:`~monitor.historian.base.Leases`
    on a SQL database.

    Opening one for writing brings the database to the current schema
    (:func:`monitor.historian.schema.upgrade`); opening it read-only refuses any other version.
    """

    dialect: ClassVar[Dialect]

    def __init__(self, source: str, *, readonly: bool) -> None:
        """Check or upgrade the schema behind the backend's connection (closed again on failure)."""
        self.source = source
        self.readonly = readonly
        try:
            self._specs = self._open_tables()
        except BaseException:
            self.close()
            raise
        self._payload_rows = {
            name: PayloadRows(cls, self._specs[name].columns)
            for name, cls in (
                ("readings", Reading),
                ("alarms", AlarmEvent),
                ("incidents", Incident),
                ("recommendations", Recommendation),
                ("dead_letters", DeadLetter),
            )
        }
        self._inserts = {name: self._sql(schema.insert_sql(spec)) for name, spec in self._specs.items()}

    def _open_tables(self) -> dict[str, TableSpec]:
        specs = schema.tables()
        if self.readonly:
            schema.check_version(self._cursor(), self.dialect, self.source)
        else:
            with self._transaction() as cursor:
                self._before_upgrade(cursor)
                schema.upgrade(cursor, self.dialect, specs, self.source)
        # A reader whose contract has a field the store lacks (a read-only one: a writer adds it)
        # reads the columns the store has.
        cursor = self._cursor()
        present = {
            name: {column for (column,) in cursor.execute(self.dialect.list_columns, (name,)).fetchall()}
            for name in specs
        }
        return {
            name: replace(spec, columns=tuple(c for c in spec.columns if c.name in present[name]))
            for name, spec in specs.items()
        }

    # What a backend provides -----------------------------------------------------------------

    @abstractmethod
    def _cursor(self) -> Cursor:
        """A cursor for reading (outside any transaction this historian started)."""

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Cursor]:
        """A cursor in a write transaction: committed when the block ends, rolled back on an error."""

    @abstractmethod
    def _before_upgrade(self, cursor: Cursor) -> None:
        """Serialise opening against other processes, before the schema is looked at (in the transaction)."""

    @abstractmethod
    def _verify_lease(self, cursor: Cursor, partition: int) -> None:
        """Raise :class:`~monitor.historian.base.LeaseLostError` unless this instance holds ``partition`` now."""

    def _write_rows(self, cursor: Cursor, table: str, rows: Sequence[Sequence[Any]]) -> None:
        """Append ``rows`` (every column of ``table`` but ``id``, in order) to ``table``."""
        cursor.executemany(self._inserts[table], rows)

    @abstractmethod
    def try_lease(self, partition: int) -> bool: ...

    @abstractmethod
    def held(self) -> set[int]: ...

    @abstractmethod
    def release(self, partition: int) -> None: ...

    @abstractmethod
    def heartbeat(self, instance: str) -> int: ...

    @abstractmethod
    def close(self) -> None: ...

    # Writing -----------------------------------------------------------------------------------

    def commit(self, changes: Changeset) -> list[int]:
        """Store ``changes`` in one transaction; return the ids given to ``changes.outbox``, in order.

        Journal entries are stored before snapshots, so a snapshot in the same changeset
        drops the entries it covers.
        """
        if not changes:
            return []
        self._refuse_if_readonly()
        with self._transaction() as cursor:
            self._verify_lease(cursor, changes.partition)
            for table, records in (
                ("readings", changes.readings),
                ("alarms", changes.events),
                ("incidents", changes.incidents),
                ("recommendations", changes.recommendations),
                ("dead_letters", changes.dead_letters),
            ):
                if records:
                    self._write_rows(cursor, table, [self._payload_rows[table](r) for r in records])
            if changes.acknowledgements:
                self._write_rows(cursor, "acknowledgements", [schema.ack_row(a) for a in changes.acknowledgements])
            insert_outbox = self._inserts["outbox"] + " RETURNING id"
            ids = [
                int(cursor.execute(insert_outbox, (changes.partition, m.topic, m.payload, m.retain)).fetchone()[0])
                for m in changes.outbox
            ]
            if changes.published:
                cursor.executemany(
                    self._sql('DELETE FROM outbox WHERE id = ? AND "partition" = ?'),
                    [(i, changes.partition) for i in changes.published],
                )
            if changes.journal:
                self._write_rows(
                    cursor,
                    "journal",
                    [(e.reactor_id, e.position, e.kind, e.payload) for e in changes.journal],  # kind: a str
                )
            if changes.snapshots:
                cursor.executemany(
                    self._upsert("snapshots"),
                    [(s.reactor_id, s.position, s.state, micros(s.saved_at)) for s in changes.snapshots],
                )
                cursor.executemany(
                    self._sql('DELETE FROM journal WHERE reactor_id = ? AND "position" <= ?'),
                    [(s.reactor_id, s.position) for s in changes.snapshots],
                )
            if changes.service_state is not None:
                cursor.execute(self._upsert("service_state"), (changes.partition, changes.service_state))
        return ids

    def apply_retention(self, now: datetime, retention: Retention) -> dict[str, int]:
        """Remove (or thin out) what is older than ``retention`` allows, in one transaction.

        With ``retention.downsample``, old readings keep the first of each reactor's batch in
        every period (periods counted from the epoch, so applying it again changes nothing).
        The journal, snapshots, outbox and service state are never touched. Returns the rows
        removed per table.
        """
        cutoffs = {
            "readings": retention.readings,
            "alarms": retention.events,
            "incidents": retention.events,
            "acknowledgements": retention.events,
            "recommendations": retention.events,
            "dead_letters": retention.dead_letters,
        }
        self._refuse_if_readonly()
        removed = {}
        with self._transaction() as cursor:
            for table, age in cutoffs.items():
                cutoff = micros(now - age)
                if table == "readings" and retention.downsample is not None:
                    cursor.execute(self._sql(_THIN_READINGS), (retention.downsample // schema.MICROSECOND, cutoff))
                else:
                    dated_by = self._specs[table].dated_by
                    cursor.execute(self._sql(f'DELETE FROM {table} WHERE "{dated_by}" < ?'), (cutoff,))
                removed[table] = cursor.rowcount
        return removed

    # Reading -----------------------------------------------------------------------------------

    def snapshots(self, partitions: Collection[int], of: int) -> list[ReactorSnapshot]:
        """The latest snapshot of every reactor of ``partitions`` (out of ``of``), by reactor id."""
        cursor = self._cursor()
        reactors = self._in_partitions("SELECT reactor_id FROM snapshots ORDER BY reactor_id", partitions, of)
        select = self._sql('SELECT "position", state, saved_at FROM snapshots WHERE reactor_id = ?')
        found = []
        for reactor in reactors:
            position, state, saved_at = cursor.execute(select, (reactor,)).fetchone()
            found.append(ReactorSnapshot(reactor, position, bytes(state), schema.from_micros(saved_at)))
        return found

    def journal(self, reactor_id: str, after: int) -> list[JournalEntry]:
        rows = self._cursor().execute(
            self._sql(
                'SELECT "position", kind, payload FROM journal WHERE reactor_id = ? AND "position" > ?'
                ' ORDER BY "position"'
            ),
            (reactor_id, after),
        )
        return [
            JournalEntry(reactor_id, position, InputKind(kind), bytes(payload))
            for position, kind, payload in rows.fetchall()
        ]

    def journaled_reactors(self, partitions: Collection[int], of: int) -> list[str]:
        return self._in_partitions("SELECT DISTINCT reactor_id FROM journal ORDER BY reactor_id", partitions, of)

    def service_state(self, partition: int) -> bytes | None:
        row = self._cursor().execute(self._sql('SELECT state FROM service_state WHERE "partition" = ?'), (partition,))
        found = row.fetchone()
        return None if found is None else bytes(found[0])

    def pending(self, partition: int) -> list[tuple[int, Outgoing]]:
        rows = self._cursor().execute(
            self._sql('SELECT id, topic, payload, retain FROM outbox WHERE "partition" = ? ORDER BY id'), (partition,)
        )
        return [(i, Outgoing(topic, bytes(payload), bool(retain))) for i, topic, payload, retain in rows.fetchall()]

    def find_reading(self, reactor_id: str, batch_id: str, seq: int) -> Reading | None:
        columns = self._specs["readings"].columns
        row = (
            self._cursor()
            .execute(
                self._sql(
                    f"SELECT {quoted(c.name for c in columns)} FROM readings"
                    " WHERE reactor_id = ? AND batch_id = ? AND seq = ?"
                ),
                (reactor_id, batch_id, seq),
            )
            .fetchone()
        )
        return None if row is None else from_dict(Reading, schema.record(columns, row))

    def has_acknowledgement(self, ack: Acknowledgement) -> bool:
        row = self._cursor().execute(
            self._sql(
                'SELECT 1 FROM acknowledgements WHERE alarm_id = ? AND "user" IS NOT DISTINCT FROM ?'
                ' AND "timestamp" = ? AND comment IS NOT DISTINCT FROM ? LIMIT 1'
            ),
            (ack.alarm_id, ack.user, micros(ack.timestamp), ack.comment),
        )
        return row.fetchone() is not None

    def frame(
        self,
        table: Table,
        batch_id: str | None = None,
        *,
        reactor_id: str | None = None,
        since: datetime | None = None,
    ) -> pd.DataFrame:
        """One kind of record as a table in stored order, filtered in the database.

        Times are pandas UTC datetimes; JSON columns (an incident's alarms, a recommendation's
        drivers) are JSON text. Dead letters belong to no batch or reactor: asking for one is
        a ``ValueError``.
        """
        spec = self._specs[Table(table).value]
        conditions: list[str] = []
        params: list[str | int] = []
        for column, value in (("batch_id", batch_id), ("reactor_id", reactor_id)):
            if value is None:
                continue
            if column not in spec:
                raise ValueError(
                    f"{spec.name.replace('_', ' ')} belong to no {column.removesuffix('_id')};"
                    f" export them without --{column.removesuffix('_id')}"
                )
            conditions.append(f"{column} = ?")
            params.append(value)
        if since is not None:
            conditions.append(f'"{spec.dated_by}" >= ?')
            params.append(micros(since))
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        names = quoted(c.name for c in spec.columns)
        rows = self._cursor().execute(self._sql(f"SELECT {names} FROM {spec.name}{where} ORDER BY id"), params)
        return schema.frame(spec.columns, rows.fetchall())

    def batches(self) -> pd.DataFrame:
        """One row per stored batch, by reactor and start: reactor_id, batch_id, first, last (UTC), readings."""
        rows = (
            self._cursor()
            .execute(
                'SELECT reactor_id, batch_id, MIN("timestamp"), MAX("timestamp"), COUNT(*) FROM readings'
                ' GROUP BY reactor_id, batch_id ORDER BY reactor_id, MIN("timestamp"), batch_id'
            )
            .fetchall()
        )
        table = pd.DataFrame.from_records(rows, columns=["reactor_id", "batch_id", "first", "last", "readings"])
        for column in ("first", "last"):
            table[column] = pd.to_datetime(table[column], unit="us", utc=True)
        return table

    # Helpers -----------------------------------------------------------------------------------

    def _refuse_if_readonly(self) -> None:
        if self.readonly:
            raise PermissionError(f"{self.source} is open read-only")

    def _sql(self, statement: str) -> str:
        return self.dialect.sql(statement)

    def _upsert(self, table: str) -> str:
        spec = self._specs[table]
        updates = ", ".join(f'"{c.name}" = excluded."{c.name}"' for c in spec.columns if c.name not in spec.key)
        return self._sql(f"{schema.insert_sql(spec)} ON CONFLICT ({quoted(spec.key)}) DO UPDATE SET {updates}")

    def _in_partitions(self, query: str, partitions: Collection[int], of: int) -> list[str]:
        # The partition is a hash of the reactor id computed in Python (partition_of), the same
        # on every machine; the reactor ids of the journal and snapshots are few, so filter here.
        return [r for (r,) in self._cursor().execute(query).fetchall() if partition_of(r, of) in partitions]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# Old readings but the first of each reactor's batch in each period of the given length
# (microseconds), for retention by down-sampling.
_THIN_READINGS = (
    "DELETE FROM readings WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER ("
    ' PARTITION BY reactor_id, batch_id, "timestamp" / CAST(? AS BIGINT) ORDER BY "timestamp", id) AS nth'
    ' FROM readings WHERE "timestamp" < ?) AS numbered WHERE nth > 1)'
)
