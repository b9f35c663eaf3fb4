"""Reading CSV files into validated readings: defaults, bad rows, DataFrames."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bioreactor.columns import ColumnMap, ColumnMapError
from bioreactor.contract import Reading
from bioreactor.csvio import (
    FRAME_COLUMNS,
    CsvReadings,
    MissingColumnsError,
    Row,
    RowError,
    read_frame,
)
from simulator.dataset import generate_frame, write_csv

NINE = ("vcd", "glucose", "lactate", "do", "ph", "temperature", "agitation", "airflow", "feed_rate")
GOOD = {
    "vcd": "1.5",
    "glucose": "5.2",
    "lactate": "0.8",
    "do": "40",
    "ph": "7.0",
    "temperature": "36.9",
    "agitation": "120",
    "airflow": "0.05",
    "feed_rate": "3",
}
START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def write(path: Path, header: list[str], rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def good_row(**overrides: object) -> dict[str, object]:
    return {**GOOD, **overrides}


def stream(header: list[str], rows: Sequence[Mapping[str, object]]) -> io.StringIO:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, header)
    writer.writeheader()
    writer.writerows(rows)
    text.seek(0)
    return text


def results(
    header: list[str], rows: Sequence[Mapping[str, object]], **kwargs: Any
) -> list[Row | RowError]:
    return list(CsvReadings(stream(header, rows), start=START, **kwargs))


def readings(results: Iterable[Row | RowError]) -> list[Reading]:
    """The readings of results that must all be good."""
    out = []
    for result in results:
        assert isinstance(result, Row), str(result)
        out.append(result.reading)
    return out


def test_seed_style_dataset_with_batch_and_time_columns(tmp_path: Path) -> None:
    """Only the nine variables, a batch and a time column: usable with one option."""
    header = ["batch", "time", *NINE]
    rows = [[batch, h, *GOOD.values()] for batch in ("B1", "B2") for h in (0, 0.5, 1.0)]
    path = write(tmp_path / "seed run 3.csv", header, rows)
    with pytest.raises(MissingColumnsError, match="timestamp or culture_h"):
        CsvReadings(path)
    good = readings(CsvReadings(path, ColumnMap.parse(["time=culture_h"]), start=START))
    assert [(r.reactor_id, r.batch_id, r.seq) for r in good] == [
        ("seed-run-3", b, i) for i, b in enumerate(["B1"] * 3 + ["B2"] * 3)
    ]
    assert [r.timestamp - START for r in good] == [timedelta(hours=h) for h in (0, 0.5, 1.0)] * 2
    assert good[0].vcd == float(GOOD["vcd"])


def test_missing_columns_are_reported_before_any_row(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", ["Time [h]", "Glc (mM)", "VCD", "agit", "Bad"], [["x"] * 5])
    with pytest.raises(MissingColumnsError) as err:
        CsvReadings(path)
    message = str(err.value)
    # Every process variable is optional; a bare "Time [h]" is never taken for culture hours.
    assert err.value.missing == ("timestamp or culture_h",)
    assert "columns found: 'Time [h]', 'Glc (mM)', 'VCD', 'agit', 'Bad'" in message
    assert "--map 'SOURCE=FIELD:UNIT'" in message


def test_identifier_defaults_and_derived_culture_hours() -> None:
    header = ["timestamp", "batch_id", *NINE]
    stamps = ["2026-03-01T06:00:00Z", "2026-03-01T07:30:00Z", "2026-03-02T06:00:00+00:00"]
    rows = [
        {"timestamp": s, "batch_id": b, **GOOD}
        for s, b in zip(stamps, ["B1", "B1", "B2"], strict=True)
    ]
    good = readings(results(header, rows, reactor_id="R9"))
    assert [r.reactor_id for r in good] == ["R9"] * 3
    assert [r.seq for r in good] == [0, 1, 2]
    # Culture hours count from the first row of each batch.
    assert [r.culture_h for r in good] == [0.0, 1.5, 0.0]


def test_naive_timestamps_are_taken_as_utc() -> None:
    rows = [{"timestamp": "2026-03-01 06:00:00", **GOOD}]
    (row,) = results(["timestamp", *NINE], rows)
    assert isinstance(row, Row)
    assert row.reading.timestamp == START


def test_reactor_override_replaces_the_reactor_column() -> None:
    rows = [{"reactor_id": "R1", "culture_h": 0, **GOOD}]
    (row,) = results(["reactor_id", "culture_h", *NINE], rows, reactor_id="Other")
    assert isinstance(row, Row)
    assert (row.reading.reactor_id, row.reading.batch_id) == ("Other", "Other")


def test_seq_counts_good_rows_per_reactor() -> None:
    rows = [
        {"reactor_id": "A", "culture_h": 0, **GOOD},
        {"reactor_id": "B", "culture_h": 0, **GOOD},
        {"reactor_id": "A", "culture_h": 1, **good_row(ph="x")},
        {"reactor_id": "A", "culture_h": 2, **GOOD},
    ]
    out = results(["reactor_id", "culture_h", *NINE], rows)
    assert [(r.reading.reactor_id, r.reading.seq) for r in out if isinstance(r, Row)] == [
        ("A", 0),
        ("B", 0),
        ("A", 1),
    ]


@pytest.mark.parametrize(("cell", "field"), [("", "glucose"), ("NA", "do"), ("nan", "ph"), ("-1", "feed_rate")])
def test_empty_and_out_of_range_cells_are_not_row_errors(cell: str, field: str) -> None:
    """An empty cell is a measurement not taken; a value outside an instrument's range is the
    monitor's to flag ("bad value" alarm), not the file reader's."""
    header = ["timestamp", "reactor_id", "seq", *NINE]
    good = {"timestamp": "2026-03-01T06:00:00Z", "reactor_id": "R1", "seq": 0, **GOOD}
    (row,) = results(header, [{**good, field: cell}])
    assert isinstance(row, Row)
    assert getattr(row.reading, field) == (-1.0 if cell == "-1" else None)


@pytest.mark.parametrize(
    ("cell", "field", "reason"),
    [
        ("abc", "glucose", "not a number: 'abc'"),
        ("inf", "vcd", "must be a finite number"),
        ("-inf", "do", "must be a finite number"),
        ("1e10", "agitation", "<= 1000000000.0"),
        ("yesterday", "timestamp", "not an ISO 8601 timestamp: 'yesterday'"),
        ("R 1/x", "reactor_id", "cannot name an MQTT topic"),
        ("1.5", "seq", "expected `int`, got `float`"),
    ],
)
def test_bad_cells_become_row_errors_naming_the_field(cell: str, field: str, reason: str) -> None:
    header = ["timestamp", "reactor_id", "seq", *NINE]
    good = {"timestamp": "2026-03-01T06:00:00Z", "reactor_id": "R1", "seq": 0, **GOOD}
    out = results(header, [good, {**good, field: cell}, good])
    assert [type(r) for r in out] == [Row, RowError, Row]
    error = out[1]
    assert isinstance(error, RowError)
    assert (error.line, error.field) == (3, field)
    assert reason in error.reason
    assert error.text == ",".join(str(v) for v in {**good, field: cell}.values())
    assert error.reactor_id == (None if field == "reactor_id" else "R1")
    assert str(error).startswith(f"line 3: {field} (column '{field}'): ")


def test_optional_cells_may_be_empty_and_labels_are_kept() -> None:
    header = ["culture_h", *NINE, "viability", "volume", "fault", "fault_effective"]
    rows = [
        {
            "culture_h": 0,
            **GOOD,
            "viability": "",
            "volume": "nan",
            "fault": "none",
            "fault_effective": 0,
        },
        {
            "culture_h": 1,
            **GOOD,
            "viability": "0.97e2",
            "volume": "2",
            "fault": "do_drift",
            "fault_effective": "1",
        },
    ]
    first, second = readings(results(header, rows))
    assert (first.viability, first.volume, first.fault, first.fault_effective) == (
        None,
        None,
        "none",
        0,
    )
    assert (second.viability, second.volume, second.fault, second.fault_effective) == (
        97.0,
        2.0,
        "do_drift",
        1,
    )


def test_ragged_rows_blank_lines_and_line_numbers(tmp_path: Path) -> None:
    values = ",".join(GOOD.values())
    text = f"culture_h,{','.join(NINE)}\n0,{values}\n\n1,{values},extra\n2,{values}\n"
    path = tmp_path / "r.csv"
    path.write_text(text)
    out = list(CsvReadings(path))
    assert [(type(r).__name__, r.line) for r in out] == [("Row", 2), ("RowError", 4), ("Row", 5)]
    assert "has 11 cells, the header has 10" in str(out[1])
    assert [r.line for r in CsvReadings(path)] == [2, 4, 5]  # a path can be read again


def test_semicolons_and_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    header = ";".join(["culture_h", *NINE])
    path.write_text(f"{header}\n0;{';'.join(GOOD.values())}\n", encoding="utf-8-sig")
    (row,) = CsvReadings(path)
    assert isinstance(row, Row)


def test_foreign_units_are_converted() -> None:
    header = [
        "Time [h]",
        "VCD",
        "Glc (mM)",
        "Lactate (mM)",
        "DO",
        "pH",
        "Temp_F",
        "rpm",
        "Air (mL/min)",
        "Feed (L/day)",
    ]
    options = [
        "Time [h]=culture_h",
        "rpm=agitation",
        "Air (mL/min)=airflow:mL/min",
        "Feed (L/day)=feed_rate:L/day",
        "VCD=vcd:cells/mL",
    ]
    row = dict(zip(header, [2, 3.1e6, 27.75, 5.55, 42, 7.01, 98.6, 110, 60, 0.24], strict=True))
    (result,) = list(CsvReadings(stream(header, [row]), ColumnMap.parse(options), start=START))
    assert isinstance(result, Row)
    r = result.reading
    assert r.culture_h == 2 and r.timestamp == START + timedelta(hours=2)
    assert r.vcd == pytest.approx(3.1)
    assert r.glucose == pytest.approx(27.75 * 180.16 / 1000)
    assert r.lactate == pytest.approx(5.55 * 90.08 / 1000)
    assert r.temperature == pytest.approx(37.0)
    assert r.airflow == pytest.approx(0.06)
    assert r.feed_rate == pytest.approx(10.0)


def test_unknown_mapped_column_fails_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", ["culture_h", *NINE], [])
    with pytest.raises(ColumnMapError, match="'Glc' not in the file"):
        CsvReadings(path, ColumnMap.parse(["Glc=glucose"]))


NUMERIC = ("culture_h", "seq", *NINE, "viability", "volume", "titer", "fault_effective")
garbage = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["nan", "-inf", "inf", "1e400", "-0.5", "1e9", "NaN", "--1", "0x10", "1,5"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from([*NUMERIC, "timestamp"]), cell=garbage)
def test_garbage_cells_never_raise_and_errors_name_the_field(field: str, cell: str) -> None:
    header = [
        "timestamp",
        "reactor_id",
        "batch_id",
        "seq",
        "culture_h",
        *NINE,
        "viability",
        "volume",
        "titer",
        "fault_effective",
    ]
    good = {
        "timestamp": "2026-03-01T06:00:00Z",
        "reactor_id": "R1",
        "batch_id": "B1",
        "seq": 3,
        "culture_h": 1.0,
        **GOOD,
        "viability": 95,
        "volume": 2,
        "titer": 0.1,
        "fault_effective": 0,
    }
    first, second = results(header, [{**good, field: cell}, good])
    assert isinstance(second, Row)
    assert first.line == 2 and second.line == 3 + sum(cell.count(c) for c in "\r\n") - cell.count(
        "\r\n"
    )
    if isinstance(first, RowError):
        assert (first.field, first.column) == (field, field)
    else:  # the cell parsed: it must hold a valid value for the field
        value = getattr(first.reading, field)
        assert value is None or isinstance(value, datetime) or math.isfinite(value)


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.text(max_size=8), max_size=16))
def test_garbage_rows_never_raise(cells: list[str]) -> None:
    header = ["culture_h", *NINE]
    text = io.StringIO(newline="")
    csv.writer(text).writerows([header, cells, ["0", *GOOD.values()]])
    text.seek(0)
    out = list(CsvReadings(text))
    assert isinstance(out[-1], Row)
    assert all(isinstance(r, Row | RowError) for r in out)


def test_read_frame_round_trips_a_generated_dataset(tmp_path: Path) -> None:
    generated = generate_frame(batches=2, seed=5, days=0.25)
    path = tmp_path / "generated.csv"
    write_csv(generated, path)
    frame, errors = read_frame(path)
    assert errors == []
    assert list(frame.columns) == [c for c in FRAME_COLUMNS if c in generated.columns]
    assert list(frame.columns) == list(generated.columns)
    assert frame["timestamp"].dtype == "datetime64[ms, UTC]"
    assert frame["seq"].dtype == "int64" and frame["fault_effective"].dtype == "Int64"
    assert frame["fault"].tolist() == generated["fault"].tolist()
    pd.testing.assert_series_equal(frame["vcd"], generated["vcd"].astype(float), rtol=1e-5)


def test_read_frame_reports_bad_rows_and_keeps_only_present_optional_columns() -> None:
    rows = [{"culture_h": h, **good_row(glucose="?" if h == 1 else "5")} for h in range(3)]
    frame, errors = read_frame(stream(["culture_h", *NINE], rows), reactor_id="R2", start=START)
    assert len(frame) == 2 and frame["seq"].tolist() == [0, 1]
    assert [(e.line, e.field) for e in errors] == [(3, "glucose")]
    assert "viability" not in frame.columns and "fault" not in frame.columns
    assert frame["timestamp"].iloc[1] == pd.Timestamp(START + timedelta(hours=2))
    assert set(frame.columns) == {"timestamp", "reactor_id", "batch_id", "seq", "culture_h", *NINE}


def test_read_frame_of_a_file_without_data_rows(tmp_path: Path) -> None:
    frame, errors = read_frame(write(tmp_path / "empty.csv", ["culture_h", *NINE], []))
    assert frame.empty and errors == []
    required = {"timestamp", "reactor_id", "batch_id", "seq", "culture_h", *NINE}
    assert list(frame.columns) == [c for c in FRAME_COLUMNS if c in required]


def test_reading_type_is_the_contract() -> None:
    (row,) = results(["culture_h", *NINE], [{"culture_h": 0, **GOOD}])
    assert isinstance(row, Row) and isinstance(row.reading, Reading)
