"""The SQLite historian: atomic changesets, lookups, outbox, export."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from bioreactor.cli import app
from bioreactor.contract import (
    Acknowledgement,
    AlarmEvent,
    AlarmState,
    DeadLetter,
    Driver,
    Recommendation,
    Severity,
)
from monitor.historian import (
    Changeset,
    ExportFormat,
    Outgoing,
    Snapshot,
    SqliteHistorian,
    Table,
    export,
)
from tests.monitor_helpers import START, reading


def alarm(batch_id: str = "B1", state: AlarmState = AlarmState.RAISED) -> AlarmEvent:
    return AlarmEvent(
        alarm_id=f"R01:{batch_id}:glucose:x",
        reactor_id="R01",
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
    )


@pytest.fixture
def historian(tmp_path):
    with SqliteHistorian(tmp_path / "sub" / "h.sqlite") as h:
        yield h


def test_uses_wal_and_creates_its_directory(historian):
    assert historian.path.parent.is_dir()
    mode = sqlite3.connect(historian.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_changeset_round_trip(historian):
    readings = [reading(seq=i) for i in range(3)]
    ack = Acknowledgement(alarm_id=alarm().alarm_id, user="ana", timestamp=START, comment="on it")
    acked = replace(alarm(), state=AlarmState.ACKNOWLEDGED, user="ana")
    rec = Recommendation(
        reactor_id="R01",
        batch_id="B1",
        timestamp=START,
        recommended_feed_rate=12.0,
        current_feed_rate=10.0,
        delta=2.0,
        interval_low=11.0,
        interval_high=13.0,
        drivers=(Driver("glucose", -1.5),),
    )
    historian.commit(
        Changeset(
            readings=readings,
            events=[alarm(), acked],
            acknowledgements=[(ack, acked)],
            recommendations=[rec],
            snapshot=Snapshot(b"engine", b"{}"),
        )
    )

    assert historian.find_reading("R01", "B1", 1) == readings[1]
    assert historian.find_reading("R01", "B1", 7) is None
    assert historian.has_acknowledgement(ack)
    assert not historian.has_acknowledgement(replace(ack, comment=None))
    assert historian.snapshot() == Snapshot(b"engine", b"{}")
    alarms = historian.frame(Table.ALARMS)
    assert list(alarms["state"]) == ["raised", "acknowledged"]
    assert alarms["timestamp"].iloc[0] == pd.Timestamp(START)
    acks = historian.frame(Table.ACKNOWLEDGEMENTS)
    assert acks[["batch_id", "user", "comment"]].iloc[0].tolist() == ["B1", "ana", "on it"]
    recs = historian.frame(Table.RECOMMENDATIONS)
    assert recs["recommended_feed_rate"].iloc[0] == 12.0
    assert "glucose" in recs["drivers"].iloc[0]


def test_a_failing_changeset_stores_nothing(historian):
    historian.commit(Changeset(readings=[reading(seq=0)]))
    with pytest.raises(sqlite3.IntegrityError):
        historian.commit(
            Changeset(
                readings=[reading(seq=1), reading(seq=0)],
                snapshot=Snapshot(b"s", b"{}"),
                outbox=[Outgoing("t", b"x")],
            )
        )
    assert len(historian.frame(Table.READINGS)) == 1
    assert historian.snapshot() is None
    assert historian.pending() == []


def test_outbox_keeps_order_until_confirmed(historian):
    ids = historian.commit(Changeset(outbox=[Outgoing("a", b"1"), Outgoing("b", b"2", retain=True)]))
    more = historian.commit(Changeset(outbox=[Outgoing("c", b"3")], published=[ids[0]]))
    assert [(i, m.topic, m.retain) for i, m in historian.pending()] == [
        (ids[1], "b", True),
        (more[0], "c", False),
    ]


def test_state_survives_reopening(tmp_path):
    path = tmp_path / "h.sqlite"
    with SqliteHistorian(path) as h:
        h.commit(Changeset(readings=[reading()], snapshot=Snapshot(b"one", b"{}")))
        h.commit(Changeset(snapshot=Snapshot(b"two", b"{}")))
    with SqliteHistorian(path) as h:
        assert h.snapshot() == Snapshot(b"two", b"{}")
        assert h.find_reading("R01", "B1", 0) == reading()


def test_readonly_refuses_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        SqliteHistorian(tmp_path / "none.sqlite", readonly=True)


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_export_one_batch(tmp_path, historian, fmt):
    historian.commit(
        Changeset(
            readings=[
                *(reading(seq=i, glucose=4.0 + i) for i in range(4)),
                *(reading(seq=i, batch_id="B2") for i in range(2)),
            ],
            events=[alarm("B1"), alarm("B2")],
        )
    )
    out = tmp_path / f"b1.{fmt}"
    assert export(historian, out, batch_id="B1", fmt=fmt) == 4
    frame = pd.read_csv(out) if fmt is ExportFormat.CSV else pd.read_parquet(out)
    assert list(frame["seq"]) == [0, 1, 2, 3]
    assert list(frame["glucose"]) == [4.0, 5.0, 6.0, 7.0]
    assert set(frame["batch_id"]) == {"B1"}
    assert "vcd" in frame and "schema" not in frame
    alarms_out = tmp_path / f"alarms.{fmt}"
    assert export(historian, alarms_out, batch_id="B2", fmt=fmt, table=Table.ALARMS) == 1


def test_export_of_an_unknown_batch_is_an_error(tmp_path, historian):
    historian.commit(Changeset(readings=[reading()]))
    with pytest.raises(LookupError, match="B9"):
        export(historian, tmp_path / "x.csv", batch_id="B9")
    assert not (tmp_path / "x.csv").exists()


def test_dead_letters_export_without_batch(tmp_path, historian):
    letter = DeadLetter(
        topic="bioreactor/R01/reading",
        payload="{",
        reason="malformed JSON",
        source="monitor",
        timestamp=START + timedelta(hours=1),
    )
    historian.commit(Changeset(dead_letters=[letter]))
    with pytest.raises(ValueError, match="no batch"):
        historian.frame(Table.DEAD_LETTERS, "B1")
    assert export(historian, tmp_path / "dl.csv", batch_id=None, table=Table.DEAD_LETTERS) == 1


def test_export_command(tmp_path):
    path = tmp_path / "h.sqlite"
    with SqliteHistorian(path) as h:
        h.commit(Changeset(readings=[reading(seq=i) for i in range(3)]))
    out = tmp_path / "out" / "b1.parquet"
    runner = CliRunner()
    args = ["export", "--historian", str(path), "--batch", "B1", "--format", "parquet"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 3 readings" in result.output
    assert list(pd.read_parquet(out)["seq"]) == [0, 1, 2]
    missing = runner.invoke(app, ["export", "--historian", str(path), "--batch", "B9", "--out", str(out)])
    assert missing.exit_code != 0 and "B9" in missing.output
