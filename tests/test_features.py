"""Causal features: no look-ahead, batches independent, streaming equals offline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.features import (
    FEATURE_NAMES,
    SLOPE_WINDOW_H,
    InputError,
    build_features,
    feature_groups,
    validate_input,
)
from models.history import COLUMNS, FeatureHistory
from tests.model_helpers import small_frame


def _one_batch(frame: pd.DataFrame) -> pd.DataFrame:
    batch: pd.DataFrame = frame[frame["batch_id"] == frame["batch_id"].iloc[0]].reset_index(drop=True)
    return batch


def test_features_use_only_the_past() -> None:
    batch = _one_batch(small_frame())
    full = build_features(batch)
    for cut in (10, 150, len(batch) - 1):
        prefix = build_features(batch.iloc[: cut + 1])
        pd.testing.assert_frame_equal(prefix, full.iloc[: cut + 1])


def test_changing_the_future_leaves_past_features_alone() -> None:
    batch = _one_batch(small_frame())
    altered = batch.copy()
    altered.loc[200:, ["vcd", "glucose", "lactate", "do"]] *= 3.0
    pd.testing.assert_frame_equal(build_features(altered).iloc[:200], build_features(batch).iloc[:200])


def test_batches_do_not_mix_and_row_order_does_not_matter() -> None:
    frame = small_frame()
    together = build_features(frame.sample(frac=1.0, random_state=1))
    for batch_id, rows in frame.groupby("batch_id"):
        alone = build_features(rows)
        pd.testing.assert_frame_equal(together.loc[alone.index], alone, obj=str(batch_id))


def test_ivc_is_the_trapezoid_integral_of_vcd() -> None:
    batch = _one_batch(small_frame())
    expected = np.concatenate(
        [[0.0], np.cumsum((batch.vcd[1:].to_numpy() + batch.vcd[:-1].to_numpy()) / 2 * np.diff(batch.culture_h))]
    )
    np.testing.assert_allclose(build_features(batch)["ivc"], expected)


def test_slope_recovers_a_linear_trend() -> None:
    batch = _one_batch(small_frame()).copy()
    batch["glucose"] = 6.0 - 0.05 * batch["culture_h"]
    features = build_features(batch)
    slope = features[f"glucose_slope_{SLOPE_WINDOW_H:g}h"].iloc[1:]
    np.testing.assert_allclose(slope, -0.05, atol=1e-6)
    np.testing.assert_allclose(features["glucose_uptake_rate"].iloc[1:], 0.05, atol=1e-6)


def test_every_feature_belongs_to_one_raw_variable() -> None:
    groups = feature_groups()
    assert sorted(f for members in groups.values() for f in members) == sorted(FEATURE_NAMES)
    assert {"vcd", "glucose", "lactate", "do", "culture_h"} <= set(groups)


def test_missing_required_column_is_named() -> None:
    frame = small_frame().drop(columns=["lactate"])
    with pytest.raises(InputError, match=r"missing column.*lactate"):
        validate_input(frame)


def test_nan_in_a_required_column_is_located() -> None:
    frame = small_frame().copy()
    frame.loc[frame.index[5], "glucose"] = np.nan
    with pytest.raises(InputError, match=r"glucose: 1 empty/NaN value\(s\), first at row 5"):
        build_features(frame)


def test_optional_inputs_may_be_absent() -> None:
    features = build_features(small_frame().drop(columns=["viability", "volume"]))
    assert features["volume"].isna().all()
    assert features["vcd_mean_2h"].notna().all()


def test_streaming_history_reproduces_offline_features() -> None:
    """The live buffer (trimmed to the longest window, IVC carried) gives the training features."""
    frame = small_frame()
    batches = list(frame["batch_id"].unique()[:3])
    # 40 h: long enough to trim the buffer several times and carry the IVC over
    rows = frame[frame["batch_id"].isin(batches) & (frame["culture_h"] <= 40)]
    rows = rows.sort_values(["culture_h", "batch_id"])
    offline = build_features(rows)
    history = FeatureHistory()
    for _, tick in rows.groupby("culture_h", sort=True):
        keys = tick["batch_id"].tolist()
        history.append(keys, keys, {c: tick[c].to_numpy() for c in COLUMNS})
        live = history.latest(keys)
        expected = offline.loc[tick.index].set_index(pd.Index(keys))
        pd.testing.assert_frame_equal(live, expected, check_names=False, rtol=1e-9)
    assert max(history.rows(k) for k in batches) <= SLOPE_WINDOW_H * 4 + 1  # 15-minute samples


def test_history_restarts_when_the_batch_changes() -> None:
    history = FeatureHistory()
    values = {c: [1.0] for c in COLUMNS}
    for hour in range(3):
        history.append(["R1"], ["B1"], {**values, "culture_h": [float(hour)]})
    history.append(["R1"], ["B2"], {**values, "culture_h": [0.0]})
    assert history.rows("R1") == 1
    assert history.latest(["R1"]).loc["R1", "ivc"] == 0.0
