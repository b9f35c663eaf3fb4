"""How long the historian takes to commit a typical unit of work, on SQLite and PostgreSQL.

A unit is what the monitor stores after a burst of readings: 200 readings of 20 reactors,
their 200 journal entries (each reading's contract JSON), 4 alarm events, 4 outbox
messages and the confirmation of the previous unit's; every 10th unit also snapshots
the 20 reactors (2 KB each), as the monitor does every few seconds::

    python -m monitor.historian.benchmark                       # SQLite in a temporary file
    python -m monitor.historian.benchmark --postgres postgresql://postgres@127.0.0.1:5432/test

PostgreSQL runs in a temporary schema of that database, dropped afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bioreactor.contract import (
    PROCESS_VARIABLES,
    SETPOINT_FIELDS,
    AlarmEvent,
    AlarmState,
    Reading,
    Severity,
    encode,
    replace,
)
from monitor.historian.base import Changeset, InputKind, JournalEntry, Outgoing, ReactorSnapshot
from monitor.historian.postgres import PostgresHistorian
from monitor.historian.relational import RelationalHistorian
from monitor.historian.sqlite import SqliteHistorian

REACTORS = 20
READINGS_PER_REACTOR = 10
SNAPSHOT_EVERY = 10
START = datetime(2026, 3, 1, tzinfo=UTC)
#: A reading with every process variable and set point (the widest row); what the values are does
#: not change what storing them costs.
MEASURED = replace(
    Reading(timestamp=START, reactor_id="R000", batch_id="B1", seq=0, culture_h=0.0),
    **{name: 10.0 + i for i, name in enumerate((*PROCESS_VARIABLES, *SETPOINT_FIELDS.values()))},
)


def unit(number: int, published: list[int]) -> Changeset:
    """The ``number``-th unit of work: readings ``number * 10 ...`` of every reactor."""
    readings = [
        replace(
            MEASURED,
            timestamp=START + timedelta(minutes=seq),
            reactor_id=f"R{r:03d}",
            seq=seq,
            culture_h=seq / 60,
        )
        for seq in range(number * READINGS_PER_REACTOR, (number + 1) * READINGS_PER_REACTOR)
        for r in range(REACTORS)
    ]
    events = [
        AlarmEvent(
            alarm_id=f"R{r:03d}:B1:glucose:{number}",
            reactor_id=f"R{r:03d}",
            batch_id="B1",
            check="glucose",
            severity=Severity.WARNING,
            state=AlarmState.RAISED,
            timestamp=readings[r].timestamp,
            first_seen=readings[r].timestamp,
            last_seen=readings[r].timestamp,
            message="Glucose 0.9 g/L is below the low limit 1 g/L.",
        )
        for r in range(4)
    ]
    return Changeset(
        readings=readings,
        events=events,
        journal=[JournalEntry(r.reactor_id, r.seq, InputKind.READING, encode(r)) for r in readings],
        outbox=[Outgoing(f"bioreactor/{e.reactor_id}/alarm", encode(e)) for e in events],
        published=published,
        snapshots=[
            ReactorSnapshot(f"R{r:03d}", readings[-1].seq, bytes(2048), START)
            for r in range(REACTORS)
            if number % SNAPSHOT_EVERY == SNAPSHOT_EVERY - 1
        ],
    )


def measure(historian: RelationalHistorian, units: int) -> list[tuple[float, float]]:
    """Wall-clock and this process's CPU seconds of each of ``units`` commits.

    On a shared machine the CPU time is the steadier figure; for PostgreSQL it leaves out the
    server's work, which the wall-clock time includes.
    """
    historian.try_lease(0)
    times = []
    published: list[int] = []
    for number in range(units):
        changes = unit(number, published)
        wall, cpu = time.perf_counter(), time.process_time()
        published = historian.commit(changes)
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


@contextmanager
def scratch_schema(url: str) -> Iterator[str]:
    name = f"historian_benchmark_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
        try:
            yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{name}"
        finally:
            admin.execute(f"DROP SCHEMA {name} CASCADE")


def report(backend: str, times: list[tuple[float, float]]) -> None:
    per_unit = REACTORS * READINGS_PER_REACTOR
    wall = sorted(w * 1000 for w, _ in times)
    cpu = statistics.median(c * 1000 for _, c in times)
    median = statistics.median(wall)
    print(
        f"{backend}: {len(wall)} commits of {per_unit} readings: median {median:.1f} ms"
        f" (p90 {wall[int(len(wall) * 0.9)]:.1f} ms, {per_unit / median * 1000:,.0f} readings/s),"
        f" CPU of this process {cpu:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", metavar="URL", help="also measure PostgreSQL (a temporary schema of URL)")
    parser.add_argument("--units", type=int, default=200, help="commits per backend")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, SqliteHistorian(Path(folder) / "h.sqlite") as sqlite:
        report("SQLite", measure(sqlite, args.units))
    if args.postgres:
        with scratch_schema(args.postgres) as url, PostgresHistorian(url) as postgres:
            report("PostgreSQL", measure(postgres, args.units))


if __name__ == "__main__":
    main()
