"""The pilot's CSV export: a historian's names and units, read back to the simulation's values by --map."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bioreactor.cli import app
from bioreactor.csvio import ColumnMap, read_frame
from simulator.dataset import generate_frame, write_csv
from simulator.export import SETPOINT_COLUMNS
from simulator.frame import DECIMALS
from simulator.plant import Plant, load_plant

PILOT = load_plant("pilot_200l")
README = Path(__file__).resolve().parent.parent / "README.md"
HISTORIAN_COLUMNS = [
    "Date/Time (UTC)", "Unit", "Run", "EFT (h)", "XV (cells/mL)", "Glc (mmol/L)", "Lac (mmol/L)", "pO2 (%)", "pH",
    "Temp (degF)", "Stirrer (rps)", "Air (L/h)", "Feed (L/day)", "Viab (fraction)", "Volume (m3)", "Titer (mg/L)",
    "Base (mL/min)", "CO2 (mL/min)", "fault", "fault_effective",
]  # fmt: skip


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    """Canonical pilot data with faults (some in force within four days)."""
    return generate_frame(6, seed=8, days=4.0, fault_fraction=1.0, plant=PILOT)


@pytest.fixture(scope="module")
def exported(simulated: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pilot") / "pilot.csv"
    write_csv(PILOT.export.apply(simulated), path)
    return path


def test_export_has_the_historian_columns_and_no_set_points(exported: Path) -> None:
    header = pd.read_csv(exported, nrows=0).columns.tolist()
    assert header == HISTORIAN_COLUMNS
    assert not set(header) & (SETPOINT_COLUMNS | {"seq"})
    first = pd.read_csv(exported, nrows=1).iloc[0]
    assert first["Date/Time (UTC)"] == "2026-01-05 08:00:00"
    assert first["Volume (m3)"] == 0.13 and first["Temp (degF)"] == pytest.approx(98.6, abs=0.2)


def test_map_options_read_the_export_back_to_the_simulated_values(simulated: pd.DataFrame, exported: Path) -> None:
    frame, errors = read_frame(exported, ColumnMap.parse(PILOT.export.map_options()))
    assert errors == []
    assert len(frame) == len(simulated)
    for field, decimals in DECIMALS.items():
        # Each exported value is at least as fine as the canonical one: back within one canonical step.
        np.testing.assert_allclose(frame[field], simulated[field], rtol=0, atol=10.0**-decimals, err_msg=field)
    stamps = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert (stamps == simulated["timestamp"]).all()
    for column in ("reactor_id", "batch_id", "fault", "fault_effective"):
        assert (frame[column].to_numpy() == simulated[column].to_numpy()).all(), column
    assert (simulated["fault"] != "none").any()
    # Without a sample counter the reader numbers each reactor's rows in file (= time) order.
    assert (frame.groupby("reactor_id")["seq"].diff().dropna() == 1).all()


def test_generate_writes_the_plant_format_and_prints_the_map(tmp_path: Path) -> None:
    out = tmp_path / "pilot.csv"
    args = ["generate", "--plant", "pilot_200l", "--batches", "2", "--seed", "3", "--days", "0.5", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out, nrows=0).columns.tolist() == HISTORIAN_COLUMNS
    printed = shlex.split(result.output.split("read it back with: ")[1])
    options = printed[1::2]
    assert printed[0::2] == ["--map"] * len(options)
    assert options == PILOT.export.map_options()
    frame, errors = read_frame(out, ColumnMap.parse(options))
    assert not errors and len(frame) == 2 * 49 and frame["do"].between(0, 110).all()


def test_generate_takes_a_plant_file(tmp_path: Path) -> None:
    plant_file = tmp_path / "litres.toml"
    plant_file.write_text('[export.columns]\nvolume = { name = "Vol [mL]", unit = "mL" }\n')
    out = tmp_path / "litres.csv"
    result = CliRunner().invoke(app, ["generate", "--plant", str(plant_file), "--batches", "1", "--days", "0.1",
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "--map 'Vol [mL]=volume:mL'" in result.output
    assert pd.read_csv(out)["Vol [mL]"].iloc[0] == 2000.0


def test_readme_documents_the_pilot_map_options() -> None:
    text = README.read_text(encoding="utf-8")
    for option in PILOT.export.map_options():
        assert f"--map {shlex.quote(option)}" in text, option


def test_the_bench_export_is_the_canonical_frame() -> None:
    frame = generate_frame(1, seed=2, days=0.2)
    pd.testing.assert_frame_equal(Plant().export.apply(frame), frame)
