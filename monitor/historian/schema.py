"""The historian's tables, defined once for every SQL backend, with the schema version and its migrations.

A table is a :class:`TableSpec`: named, typed columns (the record tables take theirs from
the contract's payload fields, so every :class:`~bioreactor.contract.Reading` field is a
column of its own), a key or an ``id`` that keeps the order of arrival, indexes, and the
column that dates a row. A :class:`Dialect` renders it as one database's SQL: its column
types, its auto-numbered key, its placeholder and how to list tables and columns.

Times are stored as integer microseconds since 1970-01-01 UTC (:func:`micros`), so a range
query or a retention cut is an integer comparison on an index in any database, and a
timestamp reads back exactly as it was written.

:func:`upgrade` brings a database to :data:`SCHEMA_VERSION`, step by step, inside the
caller's transaction, then adds the columns a newer contract has that the database lacks.

>>> from datetime import datetime, UTC
>>> micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)), from_micros(1_000_005).isoformat()
(1000005, '1970-01-01T00:00:01.000005+00:00')
>>> print(create_table(SQLITE, tables()["service_state"]))
CREATE TABLE service_state ("partition" INTEGER NOT NULL, "state" BLOB NOT NULL, PRIMARY KEY ("partition"))
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Protocol

import msgspec
import pandas as pd

from bioreactor.contract import AlarmEvent, DeadLetter, Incident, Reading, Recommendation
from monitor.historian.base import AcknowledgementRecord

log = logging.getLogger(__name__)

#: The version of the tables below; a database records its own in ``schema_version``.
#: 1 is the first file format (ISO text times, the engine state as one pickle); it had no
#: ``schema_version`` table.
SCHEMA_VERSION = 2

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """A time zone-aware ``moment`` as integer microseconds since the epoch (exact, unlike a float)."""
    return (moment - EPOCH) // MICROSECOND


def from_micros(value: int) -> datetime:
    """The UTC datetime of :func:`micros` ``value``."""
    return EPOCH + timedelta(microseconds=value)


class Kind(Enum):
    """What a column holds; each dialect maps it to a type of its own."""

    TEXT = "text"
    REAL = "real"
    INTEGER = "integer"
    BOOL = "bool"
    TIME = "time"  # microseconds since the epoch
    JSON = "json"  # JSON text: lists of nested structs (an incident's alarms, a recommendation's drivers)
    BLOB = "blob"


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table: its name (a payload field's, where it holds one) and what it holds."""

    name: str
    kind: Kind
    required: bool = False  # NOT NULL (never for a column added to an existing table)


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table: its columns, and either a ``key`` or an auto-numbered ``id`` in order of arrival.

    ``dated_by`` names the column that range queries (``since``) and retention compare;
    ``ids_never_reused`` asks for ids that are not given again even after the highest was deleted.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    dated_by: str | None = None
    ids_never_reused: bool = False

    def __contains__(self, column: str) -> bool:
        return any(c.name == column for c in self.columns)


def payload_columns(cls: type[msgspec.Struct]) -> tuple[Column, ...]:
    """One column per field of a payload class, typed from its annotation.

    >>> [(c.name, c.kind.value, c.required) for c in payload_columns(Reading)[:5]]
    [('timestamp', 'time', True), ('reactor_id', 'text', True), ('batch_id', 'text', True), ('seq', 'integer', True), \
('culture_h', 'real', True)]
    """
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType), f"{cls!r} is not a payload struct"
    return tuple(Column(f.name, _kind(f.type), f.required) for f in info.fields)


def _kind(kind: msgspec.inspect.Type) -> Kind:
    if isinstance(kind, msgspec.inspect.UnionType):
        (kind,) = (t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType))
    if isinstance(kind, msgspec.inspect.Metadata):  # a unit: Annotated[float, quantity(...)]
        kind = kind.type
    kinds: tuple[tuple[type[msgspec.inspect.Type], Kind], ...] = (
        (msgspec.inspect.DateTimeType, Kind.TIME),
        (msgspec.inspect.BoolType, Kind.BOOL),
        (msgspec.inspect.IntType, Kind.INTEGER),
        (msgspec.inspect.FloatType, Kind.REAL),
        (msgspec.inspect.StrType, Kind.TEXT),
        (msgspec.inspect.EnumType, Kind.TEXT),
    )
    return next((k for t, k in kinds if isinstance(kind, t)), Kind.JSON)


#: The readings table has a column per :class:`Reading` field. A field added to the contract
#: later becomes a column added to existing databases when they are opened (:func:`upgrade`).
READING_COLUMNS = payload_columns(Reading)

#: The acknowledgement trail: who acknowledged which alarm of which batch, with the sender's
#: clock (``timestamp``), the acknowledged event's data clock and this machine's wall clock.
ACK_COLUMNS = (
    Column("reactor_id", Kind.TEXT, True),
    Column("batch_id", Kind.TEXT, True),
    Column("alarm_id", Kind.TEXT, True),
    Column("user", Kind.TEXT),
    Column("comment", Kind.TEXT),
    Column("timestamp", Kind.TIME, True),
    Column("event_timestamp", Kind.TIME, True),
    Column("received_at", Kind.TIME),  # unknown for acknowledgements migrated from schema 1
)


def ack_row(record: AcknowledgementRecord) -> tuple[Any, ...]:
    """The :data:`ACK_COLUMNS` of an acknowledgement."""
    ack, event = record.ack, record.event
    return (
        event.reactor_id,
        event.batch_id,
        ack.alarm_id,
        ack.user,
        ack.comment,
        micros(ack.timestamp),
        micros(event.timestamp),
        micros(record.received_at),
    )


def _batch_records(
    name: str, columns: tuple[Column, ...], dated_by: str = "timestamp", also_by: tuple[str, ...] = ()
) -> TableSpec:
    """A table of records of a reactor's batch, looked up by batch, by reactor, by time (and ``also_by``)."""
    indexes = tuple((column,) for column in ("batch_id", "reactor_id", dated_by, *also_by))
    return TableSpec(name, columns, indexes=indexes, dated_by=dated_by)


def tables() -> dict[str, TableSpec]:
    """Every table of the current schema, by name (built on each call, from :data:`READING_COLUMNS`)."""
    specs = (
        TableSpec(
            "readings",
            READING_COLUMNS,
            unique=("reactor_id", "batch_id", "seq"),  # also serves lookups by reactor
            indexes=(("batch_id",), ("timestamp",)),
            dated_by="timestamp",
        ),
        _batch_records("alarms", payload_columns(AlarmEvent)),
        _batch_records("incidents", payload_columns(Incident)),
        _batch_records("acknowledgements", ACK_COLUMNS, dated_by="event_timestamp", also_by=("alarm_id",)),
        _batch_records("recommendations", payload_columns(Recommendation)),
        TableSpec("dead_letters", payload_columns(DeadLetter), indexes=(("timestamp",),), dated_by="timestamp"),
        TableSpec(
            "outbox",
            (
                Column("partition", Kind.INTEGER, True),
                Column("topic", Kind.TEXT, True),
                Column("payload", Kind.BLOB, True),
                Column("retain", Kind.BOOL, True),
            ),
            indexes=(("partition",),),
            # An id the service still holds (awaiting the broker) must never name a newer message.
            ids_never_reused=True,
        ),
        TableSpec(
            "journal",
            (
                Column("reactor_id", Kind.TEXT, True),
                Column("position", Kind.INTEGER, True),
                Column("kind", Kind.TEXT, True),
                Column("payload", Kind.BLOB, True),
            ),
            key=("reactor_id", "position"),
        ),
        TableSpec(
            "snapshots",
            (
                Column("reactor_id", Kind.TEXT, True),
                Column("position", Kind.INTEGER, True),
                Column("state", Kind.BLOB, True),
                Column("saved_at", Kind.TIME, True),
            ),
            key=("reactor_id",),
        ),
        TableSpec(
            "service_state",
            (Column("partition", Kind.INTEGER, True), Column("state", Kind.BLOB, True)),
            key=("partition",),
        ),
    )
    return {spec.name: spec for spec in specs}


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between two SQL databases for these tables.

    Statements are written once with ``?`` placeholders; :meth:`sql` puts in the dialect's own.
    """

    types: Mapping[Kind, str]
    identity: str  # the auto-numbered ``id`` column's type and constraint
    identity_never_reused: str  # the same, for TableSpec.ids_never_reused
    placeholder: str
    list_tables: str  # a query of the current schema's table names
    list_columns: str  # a query of one table's column names (the table name is its parameter)
    own_tables: tuple[str, ...] = field(default=())  # DDL of tables only this dialect has

    def sql(self, statement: str) -> str:
        """``statement`` with this dialect's placeholders.

        >>> POSTGRES.sql("SELECT 1 WHERE a = ?")
        'SELECT 1 WHERE a = %s'
        """
        if self.placeholder == "?":
            return statement
        assert "%" not in statement, "a literal % would be taken for a placeholder"
        return statement.replace("?", self.placeholder)


SQLITE = Dialect(
    types={
        Kind.TEXT: "TEXT",
        Kind.REAL: "REAL",
        Kind.INTEGER: "INTEGER",
        Kind.BOOL: "INTEGER",
        Kind.TIME: "INTEGER",
        Kind.JSON: "TEXT",
        Kind.BLOB: "BLOB",
    },
    # A rowid is the highest plus one, so it is reused once the highest row is deleted;
    # AUTOINCREMENT prevents that at the cost of a counter update per row (twice the insert time).
    identity="INTEGER PRIMARY KEY",
    identity_never_reused="INTEGER PRIMARY KEY AUTOINCREMENT",
    placeholder="?",
    list_tables="SELECT name FROM sqlite_master WHERE type = 'table'",
    list_columns="SELECT name FROM pragma_table_info(?)",
)

POSTGRES = Dialect(
    types={
        Kind.TEXT: "TEXT",
        Kind.REAL: "DOUBLE PRECISION",
        Kind.INTEGER: "BIGINT",
        Kind.BOOL: "BOOLEAN",
        Kind.TIME: "BIGINT",
        Kind.JSON: "TEXT",
        Kind.BLOB: "BYTEA",
    },
    identity="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    identity_never_reused="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",  # sequences never go back
    placeholder="%s",
    # The catalogs, not information_schema: its views take tens of milliseconds a query.
    list_tables="SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
    list_columns=(
        "SELECT attname FROM pg_attribute"
        " WHERE attrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident(%s))"
        " AND attnum > 0 AND NOT attisdropped"
    ),
    # Monitor instances sharing the database, for a fair share of partitions (heartbeat).
    own_tables=("CREATE TABLE instances (instance TEXT PRIMARY KEY, seen_at TIMESTAMPTZ NOT NULL)",),
)


def quoted(names: Iterable[str]) -> str:
    """Column names quoted (``user``, ``check``, ``do`` and ``limit`` are reserved words), comma-separated."""
    return ", ".join(f'"{name}"' for name in names)


def create_table(dialect: Dialect, spec: TableSpec) -> str:
    """The CREATE TABLE statement of ``spec`` in ``dialect``."""
    identity = dialect.identity_never_reused if spec.ids_never_reused else dialect.identity
    parts = [] if spec.key else [f"id {identity}"]
    parts += [f'"{c.name}" {dialect.types[c.kind]}{" NOT NULL" if c.required else ""}' for c in spec.columns]
    if spec.key:
        parts.append(f"PRIMARY KEY ({quoted(spec.key)})")
    if spec.unique:
        parts.append(f"UNIQUE ({quoted(spec.unique)})")
    return f"CREATE TABLE {spec.name} ({', '.join(parts)})"


def insert_sql(spec: TableSpec) -> str:
    """An INSERT of one row of every column but ``id``, with ``?`` placeholders (see :meth:`Dialect.sql`)."""
    names = [c.name for c in spec.columns]
    return f"INSERT INTO {spec.name} ({quoted(names)}) VALUES ({', '.join('?' for _ in names)})"


def create_indexes(spec: TableSpec) -> list[str]:
    """The CREATE INDEX statements of ``spec`` (the same in every dialect)."""
    return [f"CREATE INDEX {spec.name}_by_{'_'.join(cols)} ON {spec.name} ({quoted(cols)})" for cols in spec.indexes]


class Cursor(Protocol):
    """What the historian needs of a DB-API cursor (``sqlite3`` and ``psycopg`` both have it)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, query: str, params: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, query: str, rows: Iterable[Sequence[Any]], /) -> object: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


# Row conversion ------------------------------------------------------------------------------

_JSON = msgspec.json.Encoder()


def _sql_value(kind: Kind) -> Callable[[Any], Any] | None:
    """How a Python value of a ``kind`` column becomes a SQL parameter (``None``: as it is)."""
    if kind is Kind.TIME:
        return micros
    if kind is Kind.JSON:
        return lambda value: _JSON.encode(value).decode()
    return None


class PayloadRows:
    """Rows of one table made from payload structs: a value per column, in column order.

    A column the payload class lacks (added by a newer contract, say) gets ``None``.
    """

    def __init__(self, cls: type[msgspec.Struct], columns: Sequence[Column]) -> None:
        fields = [f.name for f in msgspec.structs.fields(cls)]
        self._picks = [fields.index(c.name) if c.name in fields else None for c in columns]
        self._all_fields = [c.name for c in columns] == fields  # the usual case: take the values as they are
        self._conversions = [(i, convert) for i, c in enumerate(columns) if (convert := _sql_value(c.kind))]

    def __call__(self, payload: msgspec.Struct) -> list[Any]:
        values = msgspec.structs.astuple(payload)
        row = list(values) if self._all_fields else [None if i is None else values[i] for i in self._picks]
        for i, convert in self._conversions:
            if row[i] is not None:
                row[i] = convert(row[i])
        return row


def record(columns: Sequence[Column], row: Sequence[Any]) -> dict[str, Any]:
    """A stored row as the Python values of its columns (``None`` left out), e.g. for ``from_dict``."""
    return {c.name: _python_value(c.kind, value) for c, value in zip(columns, row, strict=True) if value is not None}


def _python_value(kind: Kind, value: Any) -> Any:
    if kind is Kind.TIME:
        return from_micros(value)
    if kind is Kind.JSON:
        return json.loads(value)
    if kind is Kind.BOOL:
        return bool(value)
    return value


def frame(columns: Sequence[Column], rows: list[Any]) -> pd.DataFrame:
    """Stored rows as a table: times as UTC datetimes, JSON as its text.

    >>> frame(tables()["snapshots"].columns, [("R1", 3, b"s", 1_000_000)])["saved_at"].iloc[0]
    Timestamp('1970-01-01 00:00:01+0000', tz='UTC')
    """
    table = pd.DataFrame.from_records(rows, columns=[c.name for c in columns])
    for column in columns:
        if column.kind is Kind.TIME:
            table[column.name] = pd.to_datetime(table[column.name], unit="us", utc=True)
        elif column.kind is Kind.BOOL:
            table[column.name] = table[column.name].astype(bool)
    return table


# Versions and migrations ---------------------------------------------------------------------


class SchemaError(RuntimeError):
    """A database this code cannot use as it is (newer, or older and opened read-only)."""


def _table_names(cursor: Cursor, dialect: Dialect) -> set[str]:
    return {name for (name,) in cursor.execute(dialect.list_tables).fetchall()}


def stored_version(cursor: Cursor, dialect: Dialect) -> int:
    """The database's schema version: 0 when it is empty, 1 for the format before versions."""
    present = _table_names(cursor, dialect)
    if "schema_version" in present:
        return int(cursor.execute("SELECT version FROM schema_version").fetchone()[0])
    return 1 if "readings" in present else 0


def _refusal(version: int, source: str) -> SchemaError:
    if version == 0:
        return SchemaError(f"{source} holds no historian: open it for writing once (start the monitor on it)")
    if version > SCHEMA_VERSION:
        advice = f"newer than this monitor's {SCHEMA_VERSION}: upgrade the monitor"
    else:
        advice = (
            f"this monitor reads {SCHEMA_VERSION}: open it for writing once (start the monitor on it) to migrate it"
        )
    return SchemaError(f"{source} has historian schema {version}, {advice}")


def check_version(cursor: Cursor, dialect: Dialect, source: str) -> None:
    """Refuse (:class:`SchemaError`) a database that is not at :data:`SCHEMA_VERSION`, for read-only use."""
    version = stored_version(cursor, dialect)
    if version != SCHEMA_VERSION:
        raise _refusal(version, source)


def upgrade(cursor: Cursor, dialect: Dialect, specs: Mapping[str, TableSpec], source: str) -> None:
    """Bring the database behind ``cursor`` to :data:`SCHEMA_VERSION` (in the caller's transaction).

    An empty database gets every table; an older one runs each migration step in turn; then
    every table gains the columns of ``specs`` it lacks. ``source`` names the database in logs.
    """
    version = stored_version(cursor, dialect)
    if version > SCHEMA_VERSION:
        raise _refusal(version, source)
    if version in (0, 1):  # neither an empty database nor schema 1 has the version table
        cursor.execute(f"CREATE TABLE schema_version (version {dialect.types[Kind.INTEGER]} NOT NULL)")
        cursor.execute(dialect.sql("INSERT INTO schema_version (version) VALUES (?)"), (version or SCHEMA_VERSION,))
    if version == 0:
        _create_tables(cursor, dialect, specs)
    for step in range(version or SCHEMA_VERSION, SCHEMA_VERSION):
        MIGRATIONS[step](cursor, dialect, specs, source)
        cursor.execute(dialect.sql("UPDATE schema_version SET version = ?"), (step + 1,))
        log.info("%s: historian schema migrated from version %d to %d", source, step, step + 1)
    for spec in specs.values():
        present = {name for (name,) in cursor.execute(dialect.list_columns, (spec.name,)).fetchall()}
        for column in spec.columns:
            if column.name not in present:
                cursor.execute(f'ALTER TABLE {spec.name} ADD COLUMN "{column.name}" {dialect.types[column.kind]}')
                log.info("%s: historian table %s gained column %s", source, spec.name, column.name)


def _create_tables(cursor: Cursor, dialect: Dialect, specs: Mapping[str, TableSpec]) -> None:
    for spec in specs.values():
        cursor.execute(create_table(dialect, spec))
        for statement in create_indexes(spec):
            cursor.execute(statement)
    for statement in dialect.own_tables:
        cursor.execute(statement)


#: The tables of schema 1, moved aside and copied into the new ones by :func:`_from_version_1`.
_VERSION_1_TABLES = ("readings", "alarms", "acknowledgements", "recommendations", "dead_letters", "outbox")
_COPY_CHUNK = 10_000


def _from_version_1(cursor: Cursor, dialect: Dialect, specs: Mapping[str, TableSpec], source: str) -> None:
    """Schema 1 → 2: keep the history and the outbox, drop the pickled engine state.

    Times were ISO text and become microseconds. An acknowledgement gains its acknowledged
    event's data-clock time and arrival time from the ``acknowledged`` event of its alarm
    (when that event is missing, its own time stands in and the arrival time stays empty).
    Outbox messages go to partition 0. The engine state is deleted unread — unpickling
    stored bytes would run whatever they say — so the monitor's engine starts afresh.

    This step creates the tables as :func:`tables` defines them now; when a later schema
    changes a table in a way added columns cannot express, freeze the version-2 tables here.
    """
    for name in _VERSION_1_TABLES:
        cursor.execute(f"ALTER TABLE {name} RENAME TO version_1_{name}")
    cursor.execute("DROP TABLE state")
    _create_tables(cursor, dialect, specs)
    acknowledged = {
        alarm_id: (timestamp, received_at)
        for alarm_id, timestamp, received_at in cursor.execute(
            "SELECT alarm_id, \"timestamp\", received_at FROM version_1_alarms WHERE state = 'acknowledged'"
        ).fetchall()
    }

    def ack_times(row: dict[str, Any]) -> dict[str, Any]:
        event_timestamp, received_at = acknowledged.get(row["alarm_id"], (row["timestamp"], None))
        return {"event_timestamp": event_timestamp, "received_at": received_at}

    completions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "acknowledgements": ack_times,
        "outbox": lambda row: {"partition": 0},
    }
    copied = {name: _copy_version_1(cursor, dialect, specs[name], completions.get(name)) for name in _VERSION_1_TABLES}
    for name in _VERSION_1_TABLES:
        cursor.execute(f"DROP TABLE version_1_{name}")
    log.warning(
        "%s: historian migrated from schema 1, history kept (%s); the stored engine state was dropped unread,"
        " so the monitor's engine starts afresh",
        source,
        ", ".join(f"{count} {name}" for name, count in copied.items()),
    )


def _copy_version_1(
    cursor: Cursor,
    dialect: Dialect,
    spec: TableSpec,
    complete: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> int:
    """Copy the schema-1 table ``version_1_<name>`` into ``spec``, in stored order; rows copied.

    ``complete`` gives what a row of schema 1 lacks. Page by page (by id), so a file of
    millions of readings is never held in memory at once.
    """
    old = [name for (name,) in cursor.execute(dialect.list_columns, (f"version_1_{spec.name}",)).fetchall()]
    names = [c.name for c in spec.columns]
    times = [c.name for c in spec.columns if c.kind is Kind.TIME]
    insert = dialect.sql(insert_sql(spec))
    page = dialect.sql(f"SELECT {quoted(old)} FROM version_1_{spec.name} WHERE id > ? ORDER BY id LIMIT ?")
    copied = last_id = 0
    while rows := cursor.execute(page, (last_id, _COPY_CHUNK)).fetchall():
        records = [dict(zip(old, row, strict=True)) for row in rows]
        for record in records:
            if complete is not None:
                record.update(complete(record))
            for name in times:  # ISO text in schema 1
                if isinstance(record.get(name), str):
                    record[name] = micros(datetime.fromisoformat(record[name]))
        cursor.executemany(insert, [[record.get(name) for name in names] for record in records])
        copied += len(rows)
        last_id = records[-1]["id"]
    return copied


MIGRATIONS: dict[int, Callable[[Cursor, Dialect, Mapping[str, TableSpec], str], None]] = {1: _from_version_1}
