"""The monitor's history, journal, snapshots and outbox, in SQLite or PostgreSQL.

:class:`Historian` and :class:`Leases` are the interface; :class:`SqliteHistorian` (one
file, one monitor instance: the default) and :class:`PostgresHistorian` (shared by
several instances) the backends, both on the tables of :mod:`monitor.historian.schema`.
:func:`open_historian` picks one from what a ``--historian`` option says; :func:`export`
writes one table to CSV or Parquet.
"""

from __future__ import annotations

from pathlib import Path

from monitor.historian.base import (
    AcknowledgementRecord,
    Changeset,
    Historian,
    InputKind,
    JournalEntry,
    LeaseLostError,
    Leases,
    Outgoing,
    ReactorSnapshot,
    Retention,
    Table,
    partition_of,
)
from monitor.historian.export import ExportFormat, export
from monitor.historian.postgres import PostgresHistorian
from monitor.historian.relational import RelationalHistorian
from monitor.historian.schema import SCHEMA_VERSION, SchemaError
from monitor.historian.sqlite import DEFAULT_PATH, SqliteHistorian

#: URL schemes that name a PostgreSQL database rather than a file.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_historian(location: str | Path, *, readonly: bool = False) -> RelationalHistorian:
    """The historian a ``--historian`` option names: a ``postgresql://`` URL, or a SQLite file's path.

    Opening for writing creates or migrates the schema; ``readonly`` (dashboards, exports)
    refuses a missing file or a schema of another version. The result is both a
    :class:`Historian` and a :class:`Leases`.

    >>> import tempfile, pathlib
    >>> with open_historian(pathlib.Path(tempfile.mkdtemp()) / "h.sqlite") as historian:
    ...     type(historian).__name__, historian.batches().empty
    ('SqliteHistorian', True)
    """
    if isinstance(location, str) and location.startswith(POSTGRES_SCHEMES):
        return PostgresHistorian(location, readonly=readonly)
    return SqliteHistorian(location, readonly=readonly)


__all__ = [
    "DEFAULT_PATH",
    "POSTGRES_SCHEMES",
    "SCHEMA_VERSION",
    "AcknowledgementRecord",
    "Changeset",
    "ExportFormat",
    "Historian",
    "InputKind",
    "JournalEntry",
    "LeaseLostError",
    "Leases",
    "Outgoing",
    "PostgresHistorian",
    "ReactorSnapshot",
    "RelationalHistorian",
    "Retention",
    "SchemaError",
    "SqliteHistorian",
    "Table",
    "export",
    "open_historian",
    "partition_of",
]
