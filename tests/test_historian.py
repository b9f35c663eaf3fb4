"""The historian's behaviour, the same on every backend: each test runs on SQLite and on PostgreSQL.

PostgreSQL tests use the machine's server (``BIOREACTOR_TEST_POSTGRES``, by default
``postgresql://postgres@127.0.0.1:5432/test``; ``./run test`` starts it when it is down),
each in a schema of its own that is dropped afterwards.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from typer.testing import CliRunner

from bioreactor.cli import app
from bioreactor.contract import (
    Acknowledgement,
    AlarmEvent,
    AlarmState,
    DeadLetter,
    Driver,
    Incident,
    IncidentAlarm,
    IncidentState,
    Recommendation,
    Severity,
    replace,
)
from monitor.historian import (
    AcknowledgementRecord,
    Changeset,
    ExportFormat,
    InputKind,
    JournalEntry,
    Outgoing,
    ReactorSnapshot,
    RelationalHistorian,
    Retention,
    SqliteHistorian,
    Table,
    export,
    open_historian,
    partition_of,
)
from tests.monitor_helpers import START, reading

POSTGRES_URL = os.environ.get("BIOREACTOR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
#: Integrity errors of the two drivers (a duplicate reading key).
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError)


def in_schema(name: str) -> str:
    """The URL of the test database with ``name`` as its search path."""
    return f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options=-csearch_path%3D{name}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL of the test database whose tables go to a new, uniquely named schema, dropped on exit."""
    name = f"historian_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True)
    except psycopg.OperationalError as err:
        raise RuntimeError(f"PostgreSQL is not reachable at {POSTGRES_URL} (./run test starts it): {err}") from err
    with admin:
        admin.execute(f"CREATE SCHEMA {name}")
        try:
            yield in_schema(name)
        finally:
            admin.execute(f"DROP SCHEMA {name} CASCADE")


@dataclass
class Store:
    """One empty store of one backend; every :meth:`open` opens the same store."""

    location: str | Path

    def open(self, *, readonly: bool = False) -> RelationalHistorian:
        return open_historian(self.location, readonly=readonly)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite":
        yield Store(tmp_path / "sub" / "h.sqlite")
    else:
        with postgres_schema() as url:
            yield Store(url)


@pytest.fixture
def historian(store) -> Iterator[RelationalHistorian]:
    """A historian for writing, holding partitions 0 and 1."""
    with store.open() as h:
        assert h.try_lease(0) and h.try_lease(1)
        yield h


def alarm(batch_id: str = "B1", state: AlarmState = AlarmState.RAISED, reactor_id: str = "R01", **values) -> AlarmEvent:
    event = AlarmEvent(
        alarm_id=f"{reactor_id}:{batch_id}:glucose:x",
        reactor_id=reactor_id,
        batch_id=batch_id,
        check="glucose",
        severity=Severity.CRITICAL,
        state=state,
        timestamp=START,
        first_seen=START,
        last_seen=START,
        message="Glucose 0.2 g/L is below the low-low limit 0.5 g/L.",
        variable="glucose",
        value=0.2,
        limit=0.5,
        incident_id="I1",
    )
    return replace(event, **values)


def incident(state: IncidentState = IncidentState.OPENED, **values) -> Incident:
    raised = alarm()
    base = Incident(
        incident_id="I1",
        reactor_id="R01",
        batch_id="B1",
        state=state,
        timestamp=START,
        opened_at=START,
        diagnosis="glucose",
        severity=Severity.CRITICAL,
        message=raised.message,
        alarms=(IncidentAlarm(raised.alarm_id, raised.check, raised.severity, raised.state, raised.first_seen),),
    )
    return replace(base, **values)


def acknowledgement(at: datetime = START, comment: str | None = "on it") -> AcknowledgementRecord:
    ack = Acknowledgement(alarm_id=alarm().alarm_id, user="ana", timestamp=at - timedelta(seconds=2), comment=comment)
    event = alarm(state=AlarmState.ACKNOWLEDGED, user="ana", comment=comment, timestamp=at, received_at=at)
    return AcknowledgementRecord(ack, event, received_at=datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC))


def recommendation(timestamp: datetime = START, batch_id: str = "B1") -> Recommendation:
    return Recommendation(
        reactor_id="R01",
        batch_id=batch_id,
        timestamp=timestamp,
        recommended_feed_rate=12.0,
        current_feed_rate=10.0,
        delta=2.0,
        interval_low=11.0,
        interval_high=13.0,
        drivers=(Driver("glucose", -1.5),),
    )


def dead_letter(timestamp: datetime = START) -> DeadLetter:
    return DeadLetter(
        topic="bioreactor/R01/reading",
        payload="{",
        size=1,
        reason="malformed JSON",
        source="monitor",
        timestamp=timestamp,
    )


def entry(reactor_id: str, position: int) -> JournalEntry:
    return JournalEntry(reactor_id, position, InputKind.READING, f"{reactor_id}-{position}".encode())


def snapshot(reactor_id: str, position: int) -> ReactorSnapshot:
    return ReactorSnapshot(reactor_id, position, f"state-{reactor_id}-{position}".encode(), START)


def test_records_round_trip(historian):
    sparse = reading(
        seq=1, vcd=None, glucose=None, ph=None, do_setpoint=None, timestamp=START + timedelta(microseconds=7)
    )
    labelled = reading(seq=2, fault="do_drift", fault_effective=1, biomass=3.5)
    ack = acknowledgement()
    historian.commit(
        Changeset(
            readings=[reading(seq=0), sparse, labelled],
            events=[alarm(), ack.event],
            incidents=[incident(), incident(IncidentState.UPDATED, acknowledged=True)],
            acknowledgements=[ack],
            recommendations=[recommendation()],
            dead_letters=[dead_letter()],
        )
    )

    assert historian.find_reading("R01", "B1", 0) == reading(seq=0)
    assert historian.find_reading("R01", "B1", 1) == sparse
    assert historian.find_reading("R01", "B1", 2) == labelled
    assert historian.find_reading("R01", "B1", 7) is None
    assert historian.has_acknowledgement(ack.ack)
    assert not historian.has_acknowledgement(replace(ack.ack, comment=None))
    assert not historian.has_acknowledgement(replace(ack.ack, user="bo"))

    readings = historian.frame(Table.READINGS)
    assert list(readings["seq"]) == [0, 1, 2]
    assert readings["timestamp"].iloc[1] == pd.Timestamp(START + timedelta(microseconds=7))
    assert str(readings["timestamp"].dt.tz) == "UTC"
    alarms = historian.frame(Table.ALARMS)
    assert list(alarms["state"]) == ["raised", "acknowledged"]
    assert alarms["timestamp"].iloc[0] == pd.Timestamp(START)
    assert alarms["received_at"].isna().iloc[0] and alarms["incident_id"].iloc[1] == "I1"
    incidents = historian.frame(Table.INCIDENTS)
    assert list(incidents["state"]) == ["opened", "updated"]
    assert list(incidents["acknowledged"]) == [False, True]
    assert '"check":"glucose"' in incidents["alarms"].iloc[0]
    acks = historian.frame(Table.ACKNOWLEDGEMENTS)
    assert acks.columns.tolist() == [
        "reactor_id",
        "batch_id",
        "alarm_id",
        "user",
        "comment",
        "timestamp",
        "event_timestamp",
        "received_at",
    ]
    row = acks.iloc[0]
    assert [row["batch_id"], row["user"], row["comment"]] == ["B1", "ana", "on it"]
    assert row["timestamp"] == pd.Timestamp(ack.ack.timestamp)
    assert row["event_timestamp"] == pd.Timestamp(ack.event.timestamp)
    assert row["received_at"] == pd.Timestamp(ack.received_at)
    recs = historian.frame(Table.RECOMMENDATIONS)
    assert recs["recommended_feed_rate"].iloc[0] == 12.0
    assert recs["drivers"].iloc[0] == '[{"variable":"glucose","contribution":-1.5}]'
    assert historian.frame(Table.DEAD_LETTERS)["reason"].tolist() == ["malformed JSON"]


def test_acknowledgements_are_an_append_only_trail(historian):
    first, again = acknowledgement(comment="on it"), acknowledgement(START + timedelta(hours=1), comment="still on it")
    historian.commit(Changeset(acknowledgements=[first]))
    historian.commit(Changeset(acknowledgements=[again]))
    assert historian.frame(Table.ACKNOWLEDGEMENTS)["comment"].tolist() == ["on it", "still on it"]


def test_a_failing_changeset_stores_nothing(historian):
    historian.commit(Changeset(readings=[reading(seq=0)], journal=[entry("R01", 1)]))
    with pytest.raises(INTEGRITY_ERRORS):
        historian.commit(
            Changeset(
                readings=[reading(seq=1), reading(seq=0)],
                events=[alarm()],
                journal=[entry("R01", 2)],
                snapshots=[snapshot("R01", 2)],
                outbox=[Outgoing("t", b"x")],
                service_state=b"s",
            )
        )
    assert len(historian.frame(Table.READINGS)) == 1
    assert historian.frame(Table.ALARMS).empty
    assert historian.journal("R01", 0) == [entry("R01", 1)]
    assert historian.snapshots({0}, 1) == []
    assert historian.pending(0) == []
    assert historian.service_state(0) is None


def test_an_empty_changeset_is_nothing_to_store(historian):
    assert historian.commit(Changeset(partition=5)) == []


def test_outbox_keeps_order_per_partition_until_confirmed(historian):
    ids = historian.commit(Changeset(outbox=[Outgoing("a", b"1"), Outgoing("b", b"2", retain=True)]))
    other = historian.commit(Changeset(partition=1, outbox=[Outgoing("z", b"9")]))
    more = historian.commit(Changeset(outbox=[Outgoing("c", b"3")], published=[ids[0]]))
    assert [(i, m.topic, m.payload, m.retain) for i, m in historian.pending(0)] == [
        (ids[1], "b", b"2", True),
        (more[0], "c", b"3", False),
    ]
    assert ids[0] < ids[1] < more[0]
    historian.commit(Changeset(published=other))  # partition 0 cannot confirm partition 1's messages
    assert [m.topic for _, m in historian.pending(1)] == ["z"]
    historian.commit(Changeset(partition=1, published=other))
    assert historian.pending(1) == []


def test_journal_and_snapshots(historian):
    reactors = ["R01", "R02", "R03", "R04"]
    historian.commit(Changeset(journal=[entry(r, p) for r in reactors for p in (1, 2, 3)]))
    assert historian.journal("R01", 1) == [entry("R01", 2), entry("R01", 3)]
    in_zero = [r for r in reactors if partition_of(r, 2) == 0]
    assert historian.journaled_reactors({0}, 2) == in_zero
    assert historian.journaled_reactors({0, 1}, 2) == reactors

    # A snapshot drops the journal it covers, even entries of its own changeset.
    historian.commit(Changeset(journal=[entry("R01", 4)], snapshots=[snapshot("R01", 4), snapshot("R02", 2)]))
    assert historian.journal("R01", 0) == []
    assert historian.journal("R02", 0) == [entry("R02", 3)]
    assert historian.journaled_reactors({0, 1}, 2) == ["R02", "R03", "R04"]
    historian.commit(Changeset(snapshots=[snapshot("R02", 3)]))
    assert historian.snapshots({0, 1}, 2) == [snapshot("R01", 4), snapshot("R02", 3)]
    assert historian.snapshots({0}, 2) == [
        s for s in (snapshot("R01", 4), snapshot("R02", 3)) if s.reactor_id in in_zero
    ]


def test_service_state_per_partition(historian):
    historian.commit(Changeset(service_state=b"zero-1"))
    historian.commit(Changeset(partition=1, service_state=b"one"))
    historian.commit(Changeset(service_state=b"zero-2"))
    assert (historian.service_state(0), historian.service_state(1), historian.service_state(2)) == (
        b"zero-2",
        b"one",
        None,
    )


def test_everything_survives_reopening(store):
    with store.open() as h:
        h.try_lease(0)
        h.commit(
            Changeset(
                readings=[reading()],
                journal=[entry("R01", 1), entry("R01", 2)],
                snapshots=[snapshot("R01", 1)],
                outbox=[Outgoing("t", b"x")],
                service_state=b"s",
            )
        )
    with store.open() as h:
        assert h.find_reading("R01", "B1", 0) == reading()
        assert h.snapshots({0}, 1) == [snapshot("R01", 1)]
        assert h.journal("R01", 1) == [entry("R01", 2)]
        assert [m.topic for _, m in h.pending(0)] == ["t"]
        assert h.service_state(0) == b"s"


def test_a_readonly_historian_reads_what_was_committed(store):
    with store.open() as writer:
        writer.try_lease(0)
        writer.commit(Changeset(readings=[reading()]))
        with store.open(readonly=True) as reader:
            assert reader.find_reading("R01", "B1", 0) == reading()
            writer.commit(Changeset(readings=[reading(seq=1)]))
            assert len(reader.frame(Table.READINGS)) == 2
            with pytest.raises(PermissionError, match="read-only"):
                reader.commit(Changeset(readings=[reading(seq=2)]))


def test_readonly_refuses_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        SqliteHistorian(tmp_path / "none.sqlite", readonly=True)


def test_sqlite_uses_wal_and_creates_its_directory(tmp_path):
    with SqliteHistorian(tmp_path / "sub" / "h.sqlite") as h:
        assert h.path.parent.is_dir()
        assert sqlite3.connect(h.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_is_one_instance_holding_every_partition(tmp_path):
    with SqliteHistorian(tmp_path / "h.sqlite") as h:
        assert h.try_lease(0) and h.try_lease(3)
        h.release(0)
        assert h.held() == {3}
        assert h.heartbeat("host-a:1") == h.heartbeat("host-b:2") == 1
        h.commit(Changeset(partition=7, readings=[reading()]))  # a single process needs no lease to write


def test_frames_filter_by_batch_reactor_and_time(historian):
    hour = timedelta(hours=1)
    historian.commit(
        Changeset(
            readings=[
                *(reading(seq=i) for i in range(3)),
                *(reading(seq=i, batch_id="B2") for i in range(2)),
                *(reading("R02", seq=i) for i in range(4)),
            ],
            events=[alarm(), alarm("B2", timestamp=START + 2 * hour), alarm(reactor_id="R02")],
            recommendations=[recommendation(), recommendation(START + hour, "B2")],
            dead_letters=[dead_letter(START), dead_letter(START + 3 * hour)],
        )
    )
    assert historian.frame(Table.READINGS, "B1")["reactor_id"].tolist() == ["R01"] * 3 + ["R02"] * 4
    assert len(historian.frame(Table.READINGS, "B1", reactor_id="R02")) == 4
    recent = historian.frame(Table.READINGS, reactor_id="R02", since=START + timedelta(minutes=10))
    assert recent["seq"].tolist() == [2, 3]
    assert historian.frame(Table.ALARMS, since=START + hour)["batch_id"].tolist() == ["B2"]
    assert historian.frame(Table.ALARMS, reactor_id="R02")["reactor_id"].tolist() == ["R02"]
    assert historian.frame(Table.RECOMMENDATIONS, "B2")["batch_id"].tolist() == ["B2"]
    assert len(historian.frame(Table.DEAD_LETTERS, since=START + hour)) == 1
    with pytest.raises(ValueError, match="no batch"):
        historian.frame(Table.DEAD_LETTERS, "B1")
    with pytest.raises(ValueError, match="no reactor"):
        historian.frame(Table.DEAD_LETTERS, reactor_id="R01")


def test_batches_lists_each_reactors_batches(historian):
    assert historian.batches().empty
    historian.commit(
        Changeset(
            readings=[
                *(reading(seq=i) for i in range(3)),
                *(reading(seq=i, batch_id="B2", timestamp=START + timedelta(days=20, minutes=i)) for i in range(2)),
                reading("R02", seq=0),
            ]
        )
    )
    batches = historian.batches()
    assert batches.columns.tolist() == ["reactor_id", "batch_id", "first", "last", "readings"]
    assert batches[["reactor_id", "batch_id", "readings"]].values.tolist() == [
        ["R01", "B1", 3],
        ["R01", "B2", 2],
        ["R02", "B1", 1],
    ]
    assert batches["first"].iloc[0] == pd.Timestamp(START)
    assert batches["last"].iloc[0] == pd.Timestamp(START + timedelta(minutes=10))
    assert batches["last"].iloc[1] == pd.Timestamp(START + timedelta(days=20, minutes=1))


def test_retention_removes_old_history_but_never_working_state(historian):
    old, new = START, START + timedelta(days=100)
    historian.commit(
        Changeset(
            readings=[reading(seq=0, timestamp=old), reading(seq=1, timestamp=new)],
            events=[alarm(timestamp=old), alarm(state=AlarmState.CLEARED, timestamp=new)],
            incidents=[incident(timestamp=old), incident(IncidentState.CLOSED, timestamp=new)],
            acknowledgements=[acknowledgement(old), acknowledgement(new)],
            recommendations=[recommendation(old), recommendation(new)],
            dead_letters=[dead_letter(old), dead_letter(new)],
            journal=[entry("R01", 1)],
            snapshots=[snapshot("R02", 5)],
            outbox=[Outgoing("t", b"x")],
            service_state=b"s",
        )
    )
    keep_60_days = timedelta(days=60)
    removed = historian.apply_retention(
        new, Retention(readings=keep_60_days, events=keep_60_days, dead_letters=keep_60_days)
    )
    assert removed == {
        "readings": 1,
        "alarms": 1,
        "incidents": 1,
        "acknowledgements": 1,
        "recommendations": 1,
        "dead_letters": 1,
    }
    assert historian.frame(Table.READINGS)["seq"].tolist() == [1]
    for table in (Table.ALARMS, Table.INCIDENTS, Table.RECOMMENDATIONS, Table.DEAD_LETTERS):
        assert historian.frame(table)["timestamp"].tolist() == [pd.Timestamp(new)], table
    assert historian.frame(Table.ACKNOWLEDGEMENTS)["event_timestamp"].tolist() == [pd.Timestamp(new)]
    assert historian.journal("R01", 0) == [entry("R01", 1)]
    assert historian.snapshots({0}, 1) == [snapshot("R02", 5)]
    assert len(historian.pending(0)) == 1
    assert historian.service_state(0) == b"s"


def test_retention_thins_old_readings_to_one_per_period(historian):
    # Every 5 minutes for 3 hours, in two reactors; a batch change in R01 at 01:30.
    readings = [
        reading(r, seq=i, batch_id="B1" if r == "R02" or i < 18 else "B2", timestamp=START + i * timedelta(minutes=5))
        for i in range(36)
        for r in ("R01", "R02")
    ]
    historian.commit(Changeset(readings=readings))
    now = START + timedelta(hours=2, days=10)  # readings before START + 2 h are older than 10 days
    retention = Retention(readings=timedelta(days=10), downsample=timedelta(hours=1))
    removed = historian.apply_retention(now, retention)
    kept = historian.frame(Table.READINGS)
    r01 = kept[kept["reactor_id"] == "R01"]
    # 08:00 and 09:00 of B1, 09:30 (the first of B2 in that hour), then the last hour untouched.
    assert r01["seq"].tolist() == [0, 12, 18, *range(24, 36)]
    assert kept[kept["reactor_id"] == "R02"]["seq"].tolist() == [0, 12, *range(24, 36)]
    assert removed["readings"] == 72 - len(kept)
    assert historian.apply_retention(now, retention)["readings"] == 0  # thinning again changes nothing


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_export_every_table(tmp_path, historian, fmt):
    historian.commit(
        Changeset(
            readings=[
                *(reading(seq=i, glucose=4.0 + i) for i in range(4)),
                *(reading(seq=i, batch_id="B2") for i in range(2)),
            ],
            events=[alarm("B1"), alarm("B2")],
            incidents=[incident()],
            acknowledgements=[acknowledgement()],
            recommendations=[recommendation()],
            dead_letters=[dead_letter()],
        )
    )
    out = tmp_path / f"b1.{fmt}"
    assert export(historian, out, batch_id="B1", fmt=fmt) == 4
    frame = pd.read_csv(out) if fmt is ExportFormat.CSV else pd.read_parquet(out)
    assert list(frame["seq"]) == [0, 1, 2, 3]
    assert list(frame["glucose"]) == [4.0, 5.0, 6.0, 7.0]
    assert set(frame["batch_id"]) == {"B1"}
    assert "vcd" in frame and "schema" not in frame and "id" not in frame
    for table, batch, rows in (
        (Table.ALARMS, "B2", 1),
        (Table.INCIDENTS, "B1", 1),
        (Table.ACKNOWLEDGEMENTS, "B1", 1),
        (Table.RECOMMENDATIONS, None, 1),
        (Table.DEAD_LETTERS, None, 1),
    ):
        assert export(historian, tmp_path / f"{table}.{fmt}", batch_id=batch, fmt=fmt, table=table) == rows


def test_export_of_an_unknown_batch_is_an_error(tmp_path, historian):
    historian.commit(Changeset(readings=[reading()]))
    with pytest.raises(LookupError, match="B9"):
        export(historian, tmp_path / "x.csv", batch_id="B9")
    assert not (tmp_path / "x.csv").exists()


def test_export_command(tmp_path):
    path = tmp_path / "h.sqlite"
    with SqliteHistorian(path) as h:
        h.commit(Changeset(readings=[reading(seq=i) for i in range(3)], acknowledgements=[acknowledgement()]))
    out = tmp_path / "out" / "b1.parquet"
    runner = CliRunner()
    args = ["export", "--historian", str(path), "--batch", "B1", "--format", "parquet"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 3 readings" in result.output
    assert list(pd.read_parquet(out)["seq"]) == [0, 1, 2]
    acks = runner.invoke(app, [*args, "--table", "acknowledgements", "--out", str(tmp_path / "acks.parquet")])
    assert acks.exit_code == 0, acks.output
    assert pd.read_parquet(tmp_path / "acks.parquet")["user"].tolist() == ["ana"]
    missing = runner.invoke(app, ["export", "--historian", str(path), "--batch", "B9", "--out", str(out)])
    assert missing.exit_code != 0 and "B9" in missing.output
