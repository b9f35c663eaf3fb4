"""The model file: round trip, metadata, and refusal of what cannot be trusted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import sklearn

from models.artifact import IncompatibleModelError, frame_hash, load_model, save_model
from models.ensure import ensure_model
from models.features import FEATURE_NAMES, build_features
from tests.model_helpers import small_frame, tiny_model, tiny_model_path, tiny_report


def _rewrite(source: Path, target: Path, change: dict[str, Any]) -> Path:
    payload = joblib.load(source)
    payload["card"] = {**payload["card"], **change}
    joblib.dump(payload, target)
    return target


def test_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    X = build_features(small_frame()).iloc[:200]
    path = save_model(tiny_model(), tmp_path / "sub" / "m.joblib")
    loaded = load_model(path)
    before, after = tiny_model().predict(X), loaded.predict(X)
    np.testing.assert_array_equal(before.value, after.value)
    np.testing.assert_array_equal(before.low, after.low)
    assert loaded.card == tiny_model().card


def test_card_records_provenance() -> None:
    card = tiny_model().card
    assert card.features == FEATURE_NAMES
    assert card.units["glucose"] == "g/L" and card.units["ivc"] == "1e6 cells·h/mL"
    assert card.sources["glucose_uptake_rate"] == "glucose"
    assert card.data_hash == frame_hash(small_frame())
    assert card.versions["scikit-learn"] == sklearn.__version__
    assert {"python", "numpy"} <= set(card.versions)
    assert card.metrics == tiny_report().metrics
    assert card.trained_at[:4].isdigit() and card.version.startswith("rf-")


def test_interval_brackets_the_prediction() -> None:
    prediction = tiny_model().predict(build_features(small_frame()))
    assert np.all(prediction.low <= prediction.value + 1e-12)
    assert np.all(prediction.value <= prediction.high + 1e-12)


def test_other_feature_set_is_refused(tmp_path: Path) -> None:
    features = [*FEATURE_NAMES[:-1], "osmolality"]
    path = _rewrite(tiny_model_path(), tmp_path / "m.joblib", {"features": features})
    with pytest.raises(IncompatibleModelError, match=r"different feature set.*osmolality"):
        load_model(path)


@pytest.mark.parametrize("version", ["0.24.2", "1.0.1", "2.9.0"])
def test_other_sklearn_minor_version_is_refused(tmp_path: Path, version: str) -> None:
    versions = {**tiny_model().card.versions, "scikit-learn": version}
    path = _rewrite(tiny_model_path(), tmp_path / "m.joblib", {"versions": versions})
    with pytest.raises(IncompatibleModelError, match=f"scikit-learn {version}.*retrain"):
        load_model(path)


def test_same_minor_other_patch_is_accepted(tmp_path: Path) -> None:
    major, minor = sklearn.__version__.split(".")[:2]
    versions = {**tiny_model().card.versions, "scikit-learn": f"{major}.{minor}.99"}
    path = _rewrite(tiny_model_path(), tmp_path / "m.joblib", {"versions": versions})
    assert load_model(path).card.versions["scikit-learn"].endswith(".99")


def test_foreign_and_missing_files_are_refused(tmp_path: Path) -> None:
    joblib.dump({"weights": [1, 2]}, tmp_path / "other.joblib")
    with pytest.raises(IncompatibleModelError, match="not a feed-rate model"):
        load_model(tmp_path / "other.joblib")
    (tmp_path / "text.joblib").write_text("hello")
    with pytest.raises(IncompatibleModelError, match="not a readable model file"):
        load_model(tmp_path / "text.joblib")
    with pytest.raises(IncompatibleModelError, match="no model file"):
        load_model(tmp_path / "absent.joblib")


def test_ensure_model_keeps_an_existing_file(tmp_path: Path) -> None:
    path = save_model(tiny_model(), tmp_path / "feed_model.joblib")
    before = path.stat().st_mtime_ns
    assert ensure_model(path) == path
    assert path.stat().st_mtime_ns == before
