"""The committed 1000-row sample dataset is exactly what its documented command produces."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from bioreactor.cli import app

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "bioreactor_synthetic_1000rows.csv"
#: The command documented in the README, minus the output path.
COMMAND = ["generate", "--batches", "5", "--seed", "1000", "--samples", "200", "--sample-minutes", "90"]
NINE_VARIABLES = ["vcd", "glucose", "lactate", "do", "ph", "temperature", "agitation", "airflow", "feed_rate"]


def test_sample_dataset_is_regenerated_byte_identically(tmp_path: Path) -> None:
    out = tmp_path / "sample.csv"
    result = CliRunner().invoke(app, [*COMMAND, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == SAMPLE.read_bytes()


def test_sample_dataset_shape() -> None:
    frame = pd.read_csv(SAMPLE)
    assert len(frame) == 1000
    assert frame["batch_id"].nunique() == 5
    assert frame[NINE_VARIABLES].notna().all().all()
