"""The fungal dataset export: historian headers, units the column mapper converts, labels, the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bioreactor.cli import app
from bioreactor.columns import ColumnMap
from simulator.fungal.dataset import CONTRACT_MAP, HEADERS, generate_frame, random_batches
from simulator.fungal.faults import FaultKind

#: The export's columns, as a plant historian (IndPenSim style) names them; no set points.
EXPECTED_HEADERS = [
    "Batch ref",
    "Vessel",
    "Date time (UTC)",
    "Time (h)",
    "Biomass X (g/L)",
    "Substrate S (g/L)",
    "Penicillin P (g/L)",
    "Dissolved oxygen DO2 (%)",
    "pH",
    "Temperature T (K)",
    "Agitator RPM (rpm)",
    "Aeration rate Fg (L/h)",
    "Sugar feed rate Fs (L/h)",
    "Vessel volume V (L)",
    "Acid flow Fa (L/h)",
    "Base flow Fb (L/h)",
    "Offgas CO2 (%)",
    "fault",
    "fault_effective",
]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_frame(3, seed=5, hours=12.0, fault_fraction=0.0)


def test_export_has_historian_headers_and_no_set_points(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == EXPECTED_HEADERS == list(HEADERS)
    assert not [c for c in frame.columns if "set" in c.lower() or c.lower().endswith("sp")]


def test_contract_map_converts_every_mapped_column_to_canonical_units(frame: pd.DataFrame) -> None:
    resolved = ColumnMap.parse(CONTRACT_MAP).resolve(list(frame.columns))
    assert not resolved.ambiguous
    assert set(resolved.unused) == {"Acid flow Fa (L/h)", "Offgas CO2 (%)"}
    fields = resolved.fields
    assert fields["fault"].source == "fault" and fields["fault_effective"].source == "fault_effective"
    assert fields["temperature"].convert(298.15) == pytest.approx(25.0)
    assert fields["airflow"].convert(60_000.0) == pytest.approx(1000.0)  # L/h -> L/min
    assert fields["feed_rate"].convert(100.0) == pytest.approx(100_000.0)  # L/h -> mL/h
    assert fields["base_rate"].convert(2.5) == pytest.approx(2500.0)  # L/h -> mL/h
    assert fields["volume"].convert(58_000.0) == 58_000.0
    assert fields["glucose"].convert(0.1) == 0.1 and fields["titer"].convert(20.0) == 20.0
    for column in resolved.fields.values():
        if column.field not in ("batch_id", "reactor_id", "timestamp", "fault"):
            converted = frame[column.source].map(column.convert)
            # Biomass is an offline sample: most rows leave it empty, but those it has are numbers.
            measured = converted.dropna() if column.field == "biomass" else converted
            assert len(measured) and np.isfinite(measured).all(), column.source


def test_timestamps_are_utc_iso_8601_and_match_culture_time(frame: pd.DataFrame) -> None:
    for _, batch in frame.groupby("Batch ref"):
        stamps = [datetime.fromisoformat(s) for s in batch["Date time (UTC)"]]
        assert all(s.endswith("Z") for s in batch["Date time (UTC)"])
        assert all(s.utcoffset() == timedelta(0) for s in stamps)
        elapsed = [(s - stamps[0]).total_seconds() / 3600.0 for s in stamps]
        np.testing.assert_allclose(elapsed, batch["Time (h)"], atol=1e-4)


def test_biomass_is_a_lab_value_every_four_hours(frame: pd.DataFrame) -> None:
    batch = frame[frame["Batch ref"] == frame["Batch ref"].iloc[0]]
    measured = batch.loc[batch["Biomass X (g/L)"].notna(), "Time (h)"]
    assert measured.tolist() == [0.0, 4.0, 8.0, 12.0]


def test_fault_fraction_picks_faulty_batches_and_cycles_the_requested_kinds() -> None:
    kinds = [FaultKind.FEED_STOP, FaultKind.CONTAMINATION]
    batches = random_batches(10, seed=3, hours=230.0, fault_fraction=0.4, faults=kinds)
    faults = [b.fault.kind for b in batches if b.fault is not None]
    assert sorted(faults) == sorted(kinds * 2)
    assert len({b.batch_ref for b in batches}) == 10


def run_cli(*args: str) -> None:
    result = CliRunner().invoke(app, ["generate-fungal", *args])
    assert result.exit_code == 0, result.output


def test_cli_same_seed_same_bytes(tmp_path: Path) -> None:
    common = ["--batches", "3", "--hours", "6", "--sample-minutes", "30"]
    run_cli("--out", str(tmp_path / "a.csv"), "--seed", "4", *common)
    run_cli("--out", str(tmp_path / "b.csv"), "--seed", "4", *common)
    run_cli("--out", str(tmp_path / "c.csv"), "--seed", "5", *common)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()
    written = pd.read_csv(tmp_path / "a.csv")
    assert list(written.columns) == EXPECTED_HEADERS
    assert len(written) == 3 * 13


def test_cli_draws_only_the_requested_fault(tmp_path: Path) -> None:
    out = tmp_path / "stop.csv"
    run_cli("--out", str(out), "--batches", "2", "--hours", "70", "--fault", "feed_stop", "--fault-fraction", "1")
    written = pd.read_csv(out)
    assert set(written["fault"]) == {"none", "feed_stop"}
    assert set(written.loc[written["fault"] == "feed_stop", "Batch ref"]) == set(written["Batch ref"])
    assert (written.loc[written["fault"] == "none", "fault_effective"] == 0).all()
