"""Live recommendations: one batched inference per tick, drivers, live model reload."""

from __future__ import annotations

import dataclasses
import os
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bioreactor.contract import Reading, from_dict
from models.artifact import save_model
from models.features import build_features
from models.recommender import TOP_DRIVERS, FeedRecommender
from tests.model_helpers import small_frame, tiny_model


def _readings(rows: pd.DataFrame, reactor_prefix: str = "R") -> list[Reading]:
    out = []
    for i, record in enumerate(rows.to_dict("records")):
        row = {str(k): v for k, v in record.items() if not (isinstance(v, float) and np.isnan(v))}
        row["reactor_id"] = f"{reactor_prefix}{row['batch_id'][-2:]}"
        out.append(from_dict(Reading, row))
        assert out[-1].seq == rows.iloc[i]["seq"]
    return out


#: The live stream starts here: 12 hours of feeding, two trims of the 6-hour buffer.
START_H, END_H = 60.0, 72.0


def _window() -> pd.DataFrame:
    frame = small_frame()
    return frame[frame["culture_h"].between(START_H, END_H)]


@cache
def _ticks() -> list[list[Reading]]:
    return [_readings(tick) for _, tick in _window().groupby("culture_h", sort=True)]


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    return save_model(tiny_model(), tmp_path / "feed_model.joblib")


def _count_predicts(recommender: FeedRecommender, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = recommender.model.predict

    def counting(X: pd.DataFrame):
        calls.append(len(X))
        return original(X)

    monkeypatch.setattr(recommender.model, "predict", counting)
    return calls


def test_one_predict_call_per_tick_for_all_reactors(model_path: Path, monkeypatch) -> None:
    recommender = FeedRecommender(model_path)
    calls = _count_predicts(recommender, monkeypatch)
    ticks = _ticks()
    for tick in ticks:
        recommendations = recommender.recommend(tick)
        assert sorted(r.reactor_id for r in recommendations) == sorted(r.reactor_id for r in tick)
    reactors = len(ticks[-1])
    assert reactors == small_frame()["batch_id"].nunique() > 1
    assert len(calls) == len(ticks)
    assert calls[-1] == reactors * (1 + TOP_DRIVERS)  # latest rows + one neutralised copy per driver


def test_recommendation_equals_the_offline_prediction(model_path: Path) -> None:
    recommender = FeedRecommender(model_path)
    for tick in _ticks():
        recommendations = recommender.recommend(tick)
    window = _window()
    offline = pd.Series(tiny_model().predict(build_features(window)).value, index=window.index)
    last = window.index.to_series().groupby(window["batch_id"]).max()
    expected = {f"R{str(b)[-2:]}": offline[i] for b, i in last.items()}
    got = {r.reactor_id: r.recommended_feed_rate for r in recommendations}
    assert got.keys() == expected.keys()
    np.testing.assert_allclose([got[k] for k in expected], list(expected.values()), atol=1e-4)


def test_recommendation_fields_and_drivers(model_path: Path) -> None:
    recommender = FeedRecommender(model_path)
    for tick in _ticks():
        recommendations = recommender.recommend(tick)
    reading = {r.reactor_id: r for r in _ticks()[-1]}
    for rec in recommendations:
        assert rec.interval_low <= rec.recommended_feed_rate <= rec.interval_high
        assert rec.current_feed_rate == reading[rec.reactor_id].feed_rate
        assert rec.delta == pytest.approx(rec.recommended_feed_rate - rec.current_feed_rate, abs=1e-3)
        assert rec.model_version == tiny_model().card.version
        assert [d.variable for d in rec.drivers] != [] and len(rec.drivers) == TOP_DRIVERS
        assert {d.variable for d in rec.drivers} == set(tiny_model().card.ranking[:TOP_DRIVERS])
        sizes = [abs(d.contribution) for d in rec.drivers]
        assert sizes == sorted(sizes, reverse=True)


def test_model_is_reloaded_when_its_file_changes(model_path: Path, caplog) -> None:
    recommender = FeedRecommender(model_path)
    tick = _ticks()[0]
    assert recommender.recommend(tick)[0].model_version == tiny_model().card.version
    newer = dataclasses.replace(tiny_model().card, data_hash="f" * 64)
    save_model(dataclasses.replace(tiny_model(), card=newer), model_path)
    stat = model_path.stat()
    os.utime(model_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert recommender.recommend(tick)[0].model_version == newer.version
    model_path.write_text("not a model")
    os.utime(model_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
    assert recommender.recommend(tick)[0].model_version == newer.version  # kept the good one
    assert "keeping feed model" in caplog.text


def test_no_readings_no_recommendations(model_path: Path) -> None:
    assert FeedRecommender(model_path).recommend([]) == []
