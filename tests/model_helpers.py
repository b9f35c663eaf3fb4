"""Small simulated data sets and models shared by the feed-model tests (built once per session)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from tempfile import mkdtemp

import pandas as pd

from models.artifact import FeedModel, save_model
from models.training import TrainingConfig, TrainingReport, train
from simulator.dataset import generate_frame

#: A forest small enough to train in a second or two.
TINY = TrainingConfig(
    candidates=1,
    cv_folds=2,
    row_stride=2,
    n_estimators=(12, 12),
    max_samples=(0.5,),
    importance_repeats=1,
    importance_rows=500,
    n_jobs=1,
)


@cache
def small_frame() -> pd.DataFrame:
    """Six batches of five days (feeding starts at 60 h), 15-minute samples, half with faults."""
    return generate_frame(6, seed=7, days=5, sample_minutes=15)


@cache
def tiny_report() -> TrainingReport:
    return train(small_frame(), TINY)


def tiny_model() -> FeedModel:
    return tiny_report().model


@cache
def tiny_model_path() -> Path:
    """The tiny model saved in a session-wide temporary folder (do not modify the file)."""
    return save_model(tiny_model(), Path(mkdtemp(prefix="feed-model-")) / "feed_model.joblib")
