"""Offline recommendations for any CSV: foreign names and units, clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bioreactor.cli import app
from models.features import InputError
from models.predict import HIGH, LOW, RECOMMENDED, predict_csv, recommend_frame
from simulator.dataset import write_csv
from tests.model_helpers import small_frame, tiny_model, tiny_model_path

FOREIGN = {
    "batch_id": "Run",
    "culture_h": "Elapsed [h]",
    "glucose": "Glc",
    "do": "Dissolved O2",
    "temperature": "Temp_F",
}
MAPS = ["Run=batch_id", "Elapsed [h]=culture_h", "Glc=glucose:mM", "Dissolved O2=do", "Temp_F=temperature:degF"]


def _rows() -> pd.DataFrame:
    frame = small_frame()
    return frame[frame["batch_id"].isin(frame["batch_id"].unique()[:2])].reset_index(drop=True)


def _foreign_csv(path: Path) -> Path:
    frame = _rows().drop(columns=["timestamp", "reactor_id"])
    frame["glucose"] = frame["glucose"] / 0.18016  # g/L -> mM
    frame["temperature"] = frame["temperature"] * 9 / 5 + 32
    frame.rename(columns=FOREIGN).to_csv(path, index=False, float_format="%.10g")
    return path


def test_every_row_gets_a_recommendation_and_interval(tmp_path: Path) -> None:
    write_csv(_rows(), tmp_path / "run.csv")
    result, skipped = predict_csv(tiny_model(), tmp_path / "run.csv", tmp_path / "out.csv")
    assert skipped.total == 0
    written = pd.read_csv(tmp_path / "out.csv")
    assert len(written) == len(_rows())
    assert written[[RECOMMENDED, LOW, HIGH]].notna().all().all()
    assert (written[LOW] <= written[RECOMMENDED] + 1e-9).all()
    assert (written[RECOMMENDED] <= written[HIGH] + 1e-9).all()
    np.testing.assert_allclose(result[RECOMMENDED], recommend_frame(tiny_model(), _rows())[RECOMMENDED])


def test_foreign_column_names_and_units_are_mapped(tmp_path: Path) -> None:
    result, _ = predict_csv(tiny_model(), _foreign_csv(tmp_path / "plant.csv"), tmp_path / "out.csv", MAPS)
    canonical = recommend_frame(tiny_model(), _rows())
    np.testing.assert_allclose(result[RECOMMENDED], canonical[RECOMMENDED], atol=1e-6)


def test_cli_predict_with_map(tmp_path: Path) -> None:
    source = _foreign_csv(tmp_path / "plant.csv")
    args = ["predict", str(source), "--out", str(tmp_path / "p.csv"), "--model", str(tiny_model_path())]
    for option in MAPS:
        args += ["--map", option]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"{len(_rows())} rows" in result.output
    assert RECOMMENDED in pd.read_csv(tmp_path / "p.csv").columns


def test_a_file_without_a_needed_column_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    write_csv(_rows().drop(columns=["lactate"]), tmp_path / "bad.csv")
    args = ["predict", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "p.csv")]
    result = CliRunner().invoke(app, [*args, "--model", str(tiny_model_path())])
    assert result.exit_code == 2
    assert "error: missing column(s): lactate" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "p.csv").exists()


def test_bad_rows_are_skipped_and_summarised_by_reason(tmp_path: Path) -> None:
    """A few bad rows never fail the file: they are left out and counted per kind of problem."""
    rows = _rows()
    damaged = rows.assign(
        glucose=rows["glucose"].where(~rows.index.isin([3, 4])),  # not measured: the model needs it
        do=rows["do"].astype(str).where(rows.index != 0, "high"),  # not a number
        viability=rows["viability"].where(rows.index != 7, -0.05),  # out of range: the monitor's business
    )
    write_csv(damaged, tmp_path / "bad.csv")
    args = ["predict", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "p.csv")]
    result = CliRunner().invoke(app, [*args, "--model", str(tiny_model_path())])
    assert result.exit_code == 0, result.output
    assert "3 rows skipped:" in result.output
    assert "2 x glucose: not measured (the model needs it) (first at line 5)" in result.output
    assert "1 x do: not a number (first at line 2, e.g. 'high')" in result.output
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(rows) - 3


def test_frame_with_nan_is_refused_by_the_library() -> None:
    frame = _rows().copy()
    frame.loc[2, "vcd"] = np.nan
    with pytest.raises(InputError, match="vcd"):
        recommend_frame(tiny_model(), frame)


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    write_csv(_rows(), tmp_path / "run.csv")
    args = ["predict", str(tmp_path / "run.csv"), "--model", str(tmp_path / "none.joblib")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "no model file" in result.output
