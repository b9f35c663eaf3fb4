"""The historian in one SQLite file (WAL mode): the embedded default, for one monitor instance.

WAL lets dashboards and ``bioreactor export`` read while the monitor writes.
``synchronous=NORMAL`` keeps every committed changeset across a crash of the
monitor process; a power loss may lose the last few commits, the same exposure
as the broker's own periodic persistence.

A file has one writer: a single monitor process, which holds every partition. Several
monitor instances sharing a store need PostgreSQL
(:class:`~monitor.historian.postgres.PostgresHistorian`).

>>> import tempfile, pathlib
>>> from datetime import datetime, UTC
>>> from bioreactor.contract import Reading
>>> from monitor.historian.base import Changeset, Outgoing, Table
>>> path = pathlib.Path(tempfile.mkdtemp()) / "h.sqlite"
>>> reading = Reading(timestamp=datetime(2026, 1, 1, tzinfo=UTC), reactor_id="R1",
...     batch_id="B1", seq=0, culture_h=0.0, glucose=6.0, ph=7.05)
>>> with SqliteHistorian(path) as historian:
...     historian.try_lease(0)
...     historian.commit(Changeset(readings=[reading], outbox=[Outgoing("t", b"x")]))
...     historian.find_reading("R1", "B1", 0) == reading, len(historian.frame(Table.READINGS))
True
[1]
(True, 1)
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from monitor.historian.relational import RelationalHistorian
from monitor.historian.schema import SQLITE, Cursor

#: Where ``bioreactor monitor`` keeps its history by default (relative to the working directory).
DEFAULT_PATH = Path("runs") / "historian.sqlite"


class SqliteHistorian(RelationalHistorian):
    """The historian in one SQLite file.

    Parameters
    ----------
    path
        The database file; its directory is created when missing. An older file is
        migrated in place when opened for writing.
    readonly
        Open an existing file for reading only (exports, dashboards); it must be at the
        current schema version.

    Leases: one process writes a file, so :meth:`try_lease` always grants and
    :meth:`heartbeat` counts one instance.
    """

    dialect = SQLITE

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(f"no historian at {self.path}")
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One writer thread uses the connection; it may be opened and closed by another.
            # isolation_level=None: transactions are the explicit BEGIN IMMEDIATE of _transaction.
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._leased: set[int] = set()
        super().__init__(str(self.path), readonly=readonly)

    def _cursor(self) -> Cursor:
        return self._db.cursor()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        cursor = self._db.cursor()
        # IMMEDIATE takes the write lock up front, so a transaction never fails half-way for
        # lack of it (and a second process opening the file waits for the migration to finish).
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")

    def _before_upgrade(self, cursor: Cursor) -> None:
        """Nothing to do: BEGIN IMMEDIATE already made any other process wait."""

    def _verify_lease(self, cursor: Cursor, partition: int) -> None:
        """Nothing to verify: the only process writing the file holds every partition."""

    def try_lease(self, partition: int) -> bool:
        self._leased.add(partition)
        return True

    def held(self) -> set[int]:
        return set(self._leased)

    def release(self, partition: int) -> None:
        self._leased.discard(partition)

    def heartbeat(self, instance: str) -> int:
        return 1

    def close(self) -> None:
        # Fold the WAL into the database file so a copied .sqlite file is complete on its own.
        # A read-only connection or a busy reader makes it fail: the data is committed anyway.
        with contextlib.suppress(sqlite3.OperationalError):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()
