"""Training: the target, the rows left out, batch-wise evaluation and the importances."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bioreactor.cli import app
from models.artifact import load_model
from models.features import feature_groups
from models.training import FEEDING_FAULTS, TrainingConfig, train, training_set
from simulator.dataset import generate_frame, write_csv
from tests.model_helpers import TINY, small_frame, tiny_report


def test_target_is_the_feed_decided_from_each_reading() -> None:
    frame = small_frame()
    data = training_set(frame)
    batch = frame[frame["batch_id"] == data.groups.iloc[0]]
    n = len(batch) - 1  # the last reading has no following decision
    assert data.y.iloc[:n].tolist() == batch["feed_rate"].iloc[1:].tolist()
    assert data.X["culture_h"].iloc[:n].tolist() == batch["culture_h"].iloc[:-1].tolist()


def test_rows_where_a_fault_sets_the_feed_are_left_out() -> None:
    frame = small_frame().copy()
    batch = frame["batch_id"] == frame["batch_id"].iloc[0]
    hit = batch & frame["culture_h"].between(70.0, 80.0)
    frame.loc[hit, "fault"] = sorted(FEEDING_FAULTS)[0]
    data = training_set(frame)
    kept = data.X.loc[data.groups == frame["batch_id"].iloc[0], "culture_h"]
    # the reading just before the fault decides a faulty feed: left out as well
    assert not kept.between(70.0 - 0.25, 80.0 - 0.25).any()
    assert data.excluded_rows == training_set(small_frame()).excluded_rows + int(hit.sum())


def test_row_stride_thins_each_batch() -> None:
    full, thinned = training_set(small_frame()), training_set(small_frame(), row_stride=4)
    assert len(thinned.X) == pytest.approx(len(full.X) / 4, rel=0.05)
    assert thinned.groups.nunique() == full.groups.nunique()


def test_metrics_are_measured_on_held_out_batches() -> None:
    metrics = tiny_report().metrics
    for key in ("r2_train", "r2_cv", "r2_test", "mae_test", "r2_test_random_split"):
        assert isinstance(metrics[key], float)
    assert metrics["n_batches_train"] + metrics["n_batches_test"] == small_frame()["batch_id"].nunique()
    assert metrics["n_batches_test"] >= 1
    assert metrics["r2_test"] > 0.5  # even a 12-tree forest on four batches learns the expert
    assert 0.0 <= metrics["interval_coverage_test"] <= 1.0


def test_importances_cover_every_raw_variable_and_are_ranked() -> None:
    table = tiny_report().importances
    assert set(table.index) == set(feature_groups())
    assert table["importance_mean"].is_monotonic_decreasing
    assert table["rank"].tolist() == list(range(1, len(table) + 1))
    assert tiny_report().model.card.ranking == tuple(table.index)


def test_too_few_batches_is_refused() -> None:
    frame = small_frame()
    two = frame[frame["batch_id"].isin(frame["batch_id"].unique()[:2])]
    with pytest.raises(ValueError, match="at least 3 batches"):
        train(two, TINY)


@pytest.mark.slow
def test_importances_check_the_seed_finding_against_the_expert() -> None:
    """VCD and glucose drive the feed, and lactate matters more than variables the expert never reads.

    The seed's analysis named VCD, glucose, DO and lactate as the drivers. The
    simulator's expert (simulator.feeding.ExpertPolicy) feeds VCD x volume x
    uptake plus a glucose correction, held back above 2 g/L lactate or below 30 % DO.
    The DO loop holds DO at 40 % in healthy batches, so DO only matters where it
    leaves that band (oxygen faults): its rank depends on how many such batches the
    data hold (4th on the default 48-batch training set, lower on this small one).
    """
    frame = generate_frame(16, seed=11, fault_fraction=0.25)
    config = TrainingConfig(
        candidates=1, cv_folds=3, n_estimators=(40, 40), importance_repeats=2, importance_rows=3000
    )
    table = train(frame, config).importances["importance_mean"]
    assert set(table.index[:2]) == {"vcd", "glucose"}
    assert table["lactate"] > max(table[["temperature", "airflow", "ph", "viability"]])


def test_cli_train_writes_model_metrics_and_importances(tmp_path: Path) -> None:
    write_csv(small_frame(), tmp_path / "runs.csv")
    args = ["train", "--data", str(tmp_path / "runs.csv"), "--out", str(tmp_path / "m.joblib")]
    args += ["--metrics", str(tmp_path / "report" / "metrics.json"), "--candidates", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    required = {"r2_train", "r2_cv", "r2_test", "mae_test", "r2_test_random_split"}
    assert required | {"n_batches_train", "n_batches_test"} <= set(metrics)
    importances = pd.read_csv(tmp_path / "report" / "importances.csv", index_col="variable")
    assert set(importances.index) == set(feature_groups())
    assert load_model(tmp_path / "m.joblib").card.metrics["r2_test"] == metrics["r2_test"]
    assert "Permutation importance" in result.output
