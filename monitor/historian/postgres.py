"""The historian in PostgreSQL, shared by several monitor instances.

The tables live in the connection's current schema (the first existing one on its
``search_path``: ``?options=-csearch_path%3Dplant_a`` in the URL picks another). Every
:meth:`~PostgresHistorian.commit` is one transaction.

Leases are session-level advisory locks (``pg_try_advisory_lock``) taken on the very
connection that commits. They last exactly as long as that connection: when an instance
dies, its server session ends and its partitions are free for the others (a killed
process's socket closes at once; a machine that vanishes is noticed by TCP keepalives within
about 25 seconds). A commit first checks, inside its transaction, that this session still
holds the partition's lock, so an instance that lost its connection — and with it its
leases — can store nothing for a partition another instance may now own; it gets
:class:`~monitor.historian.base.LeaseLostError` or a connection error, and must open a new
historian and lease again.

The locks' first key is a hash of the schema name, so stores in different schemas of one
database do not contend; the second is the partition.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from monitor.historian.base import LeaseLostError
from monitor.historian.relational import RelationalHistorian
from monitor.historian.schema import POSTGRES, Cursor, SchemaError, quoted

#: An instance that has not sent a heartbeat for this long no longer counts as alive.
INSTANCE_TIMEOUT = timedelta(seconds=15)
#: Instances silent for this long are forgotten (each restart may come with a new name).
INSTANCE_FORGOTTEN = timedelta(days=1)

# Every lease of this session, as pg_locks lists a two-key advisory lock (objsubid 2).
_OWN_LEASES = (
    "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    " AND granted AND objsubid = 2 AND classid::bigint = ?"
)


class PostgresHistorian(RelationalHistorian):
    """The historian in a PostgreSQL database, with partition leases for several instances.

    Parameters
    ----------
    dsn
        A libpq connection string or ``postgresql://`` URL. The schema is created, or
        migrated, in the connection's current schema when opened for writing.
    readonly
        Read only (dashboards, exports): the session's transactions are read-only, and
        the schema must be at the current version.

    A commit stores nothing unless this instance holds ``changes.partition``
    (:meth:`try_lease`), single instances included.
    """

    dialect = POSTGRES

    def __init__(self, dsn: str, *, readonly: bool = False) -> None:
        settings = [
            # The server notices a vanished client machine (and frees its leases) within
            # idle + interval x count = 25 s, inside the 30 s takeover budget.
            "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3",
            *(["-c default_transaction_read_only=on"] if readonly else []),
        ]
        options = " ".join([str(conninfo_to_dict(dsn).get("options") or ""), *settings]).strip()
        # autocommit: reads do not leave the session idle in a transaction; writes are explicit
        # transactions (_transaction).
        self._db = psycopg.connect(make_conninfo(dsn, options=options), autocommit=True)
        info = self._db.info
        where = f"PostgreSQL {info.dbname} at {info.host}:{info.port}"
        current = self._db.execute("SELECT current_schema()").fetchone()
        if current is None or current[0] is None:
            self._db.close()
            raise SchemaError(f"{where}: no schema of the search_path exists to hold the historian")
        self.schema: str = current[0]
        self._lease_key = zlib.crc32(f"bioreactor-monitor/{self.schema}".encode()) & 0x7FFF_FFFF
        super().__init__(f"{where}, schema {self.schema}", readonly=readonly)

    def _cursor(self) -> Cursor:
        return self._db.cursor()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        with self._db.cursor() as cursor, self._db.transaction():
            yield cursor

    def _before_upgrade(self, cursor: Cursor) -> None:
        # Instances starting together would otherwise both create (or migrate) the tables;
        # this lock (one key: apart from the two-key leases) waits for the other to commit.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (self._lease_key,))

    def _verify_lease(self, cursor: Cursor, partition: int) -> None:
        held = cursor.execute(self._sql(f"{_OWN_LEASES} AND objid::bigint = ?"), (self._lease_key, partition))
        if held.fetchone() is None:
            raise LeaseLostError(f"partition {partition} is not leased by this instance: nothing was stored")

    def _write_rows(self, cursor: Cursor, table: str, rows: Sequence[Sequence[Any]]) -> None:
        # COPY streams the rows as one statement: with it this process spends less than half
        # the time executemany took on a unit of readings and journal entries. It runs on a
        # cursor of its own, in the same transaction (a transaction belongs to the connection).
        names = quoted(c.name for c in self._specs[table].columns)
        with self._db.cursor() as copying, copying.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def try_lease(self, partition: int) -> bool:
        """Take ``partition`` unless another session holds it; True when this one holds it now.

        Asking again for a partition already held changes nothing (one :meth:`release` frees it).
        On a lost connection it raises ``psycopg.OperationalError``: its leases are gone with
        it, so open a new historian and lease again.
        """
        granted = self._db.execute(
            self._sql(
                f"SELECT CASE WHEN EXISTS ({_OWN_LEASES} AND objid::bigint = ?) THEN true"
                " ELSE pg_try_advisory_lock(?, ?) END"
            ),
            (self._lease_key, partition, self._lease_key, partition),
        ).fetchone()
        return bool(granted and granted[0])

    def held(self) -> set[int]:
        """The partitions this session holds; none once its connection is gone."""
        try:
            return {int(p) for (p,) in self._db.execute(self._sql(_OWN_LEASES), (self._lease_key,)).fetchall()}
        except psycopg.OperationalError:
            return set()

    def release(self, partition: int) -> None:
        self._db.execute(
            self._sql(f"SELECT pg_advisory_unlock(?, ?) WHERE EXISTS ({_OWN_LEASES} AND objid::bigint = ?)"),
            (self._lease_key, partition, self._lease_key, partition),
        )

    def heartbeat(self, instance: str) -> int:
        """Record that ``instance`` is alive (on the server's clock); instances seen within
        :data:`INSTANCE_TIMEOUT`, this one included."""
        with self._transaction() as cursor:
            cursor.execute(
                "INSERT INTO instances (instance, seen_at) VALUES (%s, now())"
                " ON CONFLICT (instance) DO UPDATE SET seen_at = excluded.seen_at",
                (instance,),
            )
            cursor.execute("DELETE FROM instances WHERE seen_at < now() - %s", (INSTANCE_FORGOTTEN,))
            alive = cursor.execute("SELECT count(*) FROM instances WHERE seen_at > now() - %s", (INSTANCE_TIMEOUT,))
            return int(alive.fetchone()[0])

    def close(self) -> None:
        """Close the connection, which also releases every lease."""
        self._db.close()
