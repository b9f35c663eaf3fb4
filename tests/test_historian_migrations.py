"""Schema versions: the first file format migrates in place, a newer contract field becomes a column."""

from __future__ import annotations

import logging
import pickle
import sqlite3
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from bioreactor.contract import AlarmState, to_dict
from monitor.historian import (
    SCHEMA_VERSION,
    Changeset,
    PostgresHistorian,
    SchemaError,
    SqliteHistorian,
    Table,
    open_historian,
    schema,
)
from monitor.historian.schema import Column, Kind
from tests import test_historian
from tests.monitor_helpers import START, reading
from tests.test_historian import alarm, recommendation

store = test_historian.store  # the fixture: each test below runs on SQLite and on PostgreSQL

#: The tables of schema 1 (before versions), in the exact DDL the historian of that format ran.
VERSION_1_DDL = (
    'CREATE TABLE IF NOT EXISTS readings (id INTEGER PRIMARY KEY, "timestamp", "reactor_id", "batch_id", "seq",'
    ' "culture_h", "vcd", "glucose", "lactate", "do", "ph", "temperature", "agitation", "airflow", "feed_rate",'
    ' "viability", "volume", "titer", "base_rate", "co2_flow", "biomass", "do_setpoint", "ph_setpoint",'
    ' "temperature_setpoint", "fault", "fault_effective", UNIQUE (reactor_id, batch_id, seq))',
    'CREATE TABLE IF NOT EXISTS alarms (id INTEGER PRIMARY KEY, "alarm_id", "reactor_id", "batch_id", "check",'
    ' "severity", "state", "timestamp", "first_seen", "last_seen", "message", "variable", "value", "limit", "user",'
    ' "comment", "received_at", "incident_id")',
    'CREATE TABLE IF NOT EXISTS acknowledgements (id INTEGER PRIMARY KEY, "reactor_id", "batch_id", "alarm_id",'
    ' "timestamp", "comment", "user")',
    'CREATE TABLE IF NOT EXISTS recommendations (id INTEGER PRIMARY KEY, "reactor_id", "batch_id", "timestamp",'
    ' "recommended_feed_rate", "current_feed_rate", "delta", "interval_low", "interval_high", "model_version",'
    ' "drivers")',
    'CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY, "topic", "payload", "size", "reason", "source",'
    ' "timestamp")',
    "CREATE INDEX IF NOT EXISTS alarms_batch ON alarms (batch_id)",
    "CREATE INDEX IF NOT EXISTS recommendations_batch ON recommendations (batch_id)",
    "CREATE INDEX IF NOT EXISTS acknowledgements_alarm ON acknowledgements (alarm_id)",
    "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, topic TEXT NOT NULL,"
    " payload BLOB NOT NULL, retain INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " engine BLOB NOT NULL, service BLOB NOT NULL)",
)

RAISED = alarm()
ACK_RECEIVED = START + timedelta(minutes=5, seconds=1)
ACKED = alarm(
    state=AlarmState.ACKNOWLEDGED,
    user="ana",
    comment="on it",
    timestamp=START + timedelta(minutes=5),
    received_at=ACK_RECEIVED,
)
READINGS = [reading(seq=0), reading(seq=1, vcd=None, fault="do_drift", fault_effective=1)]


def insert_as_version_1(db: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """Rows as the schema-1 historian wrote them: every column from the payload's JSON values
    (times as ISO text), missing ones empty."""
    names = [name for (name,) in db.execute("SELECT name FROM pragma_table_info(?)", (table,))]
    marks = ", ".join("?" for _ in names)
    db.executemany(
        f"INSERT INTO {table} ({schema.quoted(names)}) VALUES ({marks})", [[row.get(n) for n in names] for row in rows]
    )


@pytest.fixture
def version_1_file(tmp_path):
    """A schema-1 historian with a few rows of each kind and a pickled engine state."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    for statement in VERSION_1_DDL:
        db.execute(statement)
    insert_as_version_1(db, "readings", [to_dict(r) for r in READINGS])
    insert_as_version_1(db, "alarms", [to_dict(e) for e in (RAISED, ACKED)])
    insert_as_version_1(
        db,
        "acknowledgements",
        [
            {
                "reactor_id": "R01",
                "batch_id": "B1",
                "alarm_id": RAISED.alarm_id,
                "timestamp": "2026-03-01T08:04:58Z",
                "comment": "on it",
                "user": "ana",
            }
        ],
    )
    insert_as_version_1(
        db,
        "recommendations",
        [to_dict(recommendation()) | {"drivers": '[{"variable": "glucose", "contribution": -1.5}]'}],
    )
    insert_as_version_1(
        db,
        "dead_letters",
        [
            {
                "topic": "bioreactor/R01/reading",
                "payload": "{",
                "size": 1,
                "reason": "malformed JSON",
                "source": "monitor",
                "timestamp": "2026-03-01T09:00:00.250000Z",
            }
        ],
    )
    insert_as_version_1(db, "outbox", [{"topic": "bioreactor/R01/alarm", "payload": b"{}", "retain": 0}])
    insert_as_version_1(db, "state", [{"id": 1, "engine": pickle.dumps({"engine": 1}), "service": b"{}"}])
    db.commit()
    db.close()
    return path


def test_a_version_1_file_keeps_its_history_and_drops_its_pickled_state(version_1_file, monkeypatch, caplog):
    def never(*args, **kwargs):
        raise AssertionError("stored engine state must never be unpickled")

    monkeypatch.setattr(pickle, "loads", never)
    monkeypatch.setattr(pickle, "load", never)
    with caplog.at_level(logging.INFO, logger="monitor.historian.schema"), SqliteHistorian(version_1_file) as h:
        assert h.find_reading("R01", "B1", 0) == READINGS[0]
        assert h.find_reading("R01", "B1", 1) == READINGS[1]
        alarms = h.frame(Table.ALARMS)
        assert alarms["state"].tolist() == ["raised", "acknowledged"]
        assert alarms["received_at"].iloc[1] == pd.Timestamp(ACK_RECEIVED)
        acks = h.frame(Table.ACKNOWLEDGEMENTS).iloc[0]
        assert [acks["user"], acks["comment"]] == ["ana", "on it"]
        assert acks["timestamp"] == pd.Timestamp("2026-03-01T08:04:58Z")
        assert acks["event_timestamp"] == pd.Timestamp(ACKED.timestamp)  # from the acknowledged event
        assert acks["received_at"] == pd.Timestamp(ACK_RECEIVED)
        assert h.frame(Table.RECOMMENDATIONS)["drivers"].iloc[0] == '[{"variable": "glucose", "contribution": -1.5}]'
        letters = h.frame(Table.DEAD_LETTERS)
        assert letters["timestamp"].iloc[0] == pd.Timestamp("2026-03-01T09:00:00.250Z")
        assert [(m.topic, m.payload, m.retain) for _, m in h.pending(0)] == [("bioreactor/R01/alarm", b"{}", False)]
        assert h.snapshots({0}, 1) == [] and h.service_state(0) is None
        assert h.batches()["readings"].tolist() == [2]
        h.commit(Changeset(readings=[reading(seq=2)]))  # and it takes new history
    assert "dropped unread" in caplog.text and "2 readings" in caplog.text
    db = sqlite3.connect(version_1_file)
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "state" not in tables and not any(name.startswith("version_1_") for name in tables)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_a_migrated_file_migrates_once(version_1_file, caplog):
    SqliteHistorian(version_1_file).close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="monitor.historian.schema"), SqliteHistorian(version_1_file) as h:
        assert len(h.frame(Table.READINGS)) == 2
    assert "migrated" not in caplog.text


def test_a_failed_migration_leaves_the_file_as_it_was(version_1_file, monkeypatch):
    step = schema.MIGRATIONS[1]

    def interrupted(*args):
        step(*args)
        raise OSError("disk full")

    monkeypatch.setitem(schema.MIGRATIONS, 1, interrupted)
    with pytest.raises(OSError, match="disk full"):
        SqliteHistorian(version_1_file)
    db = sqlite3.connect(version_1_file)
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"state", "readings", "outbox"} <= tables and "schema_version" not in tables
    assert db.execute('SELECT "timestamp" FROM readings ORDER BY id').fetchall()[0] == ("2026-03-01T08:00:00Z",)


def test_reading_an_old_file_asks_for_a_migration(version_1_file):
    with pytest.raises(SchemaError, match=r"schema 1.*open it for writing"):
        SqliteHistorian(version_1_file, readonly=True)


def test_a_newer_schema_is_refused(store):
    newer = SCHEMA_VERSION + 1
    with store.open() as h, h._transaction() as cursor:
        cursor.execute(h.dialect.sql("UPDATE schema_version SET version = ?"), (newer,))
    for readonly in (False, True):
        with pytest.raises(SchemaError, match=f"schema {newer}, newer"):
            store.open(readonly=readonly)


def test_a_new_reading_field_becomes_a_column_of_an_existing_store(store, monkeypatch):
    with store.open() as h:
        h.try_lease(0)
        h.commit(Changeset(readings=[reading(seq=0)]))
    monkeypatch.setattr(schema, "READING_COLUMNS", (*schema.READING_COLUMNS, Column("osmolality", Kind.REAL)))
    with store.open() as h:
        h.try_lease(0)
        h.commit(Changeset(readings=[reading(seq=1)]))
        readings = h.frame(Table.READINGS)
        assert readings.columns[-1] == "osmolality" and readings["osmolality"].isna().all()
        assert h.find_reading("R01", "B1", 0) == reading(seq=0)
    monkeypatch.undo()
    with store.open(readonly=True) as h:  # the older code still reads the store
        assert h.find_reading("R01", "B1", 1) == reading(seq=1)


def test_open_historian_takes_a_path_or_a_postgresql_url(tmp_path, store):
    with open_historian(store.location) as h:
        assert isinstance(h, PostgresHistorian if str(store.location).startswith("postgresql://") else SqliteHistorian)
    with open_historian(str(tmp_path / "by-name.sqlite")) as h:
        assert isinstance(h, SqliteHistorian)
