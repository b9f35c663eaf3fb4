"""Train the feed-rate model on labelled batches and measure it honestly.

Rows of one batch are strongly correlated (a 5-minute sample looks like the
previous one), so every split is by batch: the hyper-parameter search uses
:class:`~sklearn.model_selection.GroupKFold`, the final test holds out whole
batches (:class:`~sklearn.model_selection.GroupShuffleSplit`). The R² of a
row-random split is reported beside it only to show how much such a split
flatters the model.

The target is the feed rate the expert set in response to a reading: the
simulator (and an operator) decides the feed from the latest reading, so the
rate in force during the *next* sample is the decision taken at this one.
Rows whose target falls under a fault that alters feeding (``missed_feed``,
``overfeeding``) are left out: there the pump, not the expert, set the rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from scipy.stats import randint, uniform
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    RandomizedSearchCV,
    train_test_split,
)
from sklearn.pipeline import Pipeline

from models.artifact import FeedModel, ModelCard, frame_hash
from models.features import BATCH, TIME, build_features, feature_groups
from models.importance import grouped_permutation_importance

TARGET = "feed_rate"
#: Faults under which the recorded feed is not the expert's decision.
FEEDING_FAULTS = frozenset({"missed_feed", "overfeeding"})

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingConfig:
    """How hard to search and how much data to use.

    ``row_stride`` keeps every n-th row of each batch for fitting: neighbouring
    5-minute rows carry almost the same information, and fewer rows make the
    search affordable on a small machine. Features are computed on all rows first.
    """

    test_fraction: float = 0.25
    cv_folds: int = 3
    candidates: int = 8
    row_stride: int = 12
    n_estimators: tuple[int, int] = (50, 120)
    #: Share of the rows each tree is grown on; small shares make big forests affordable.
    max_samples: tuple[float, ...] = (0.2, 0.35)
    importance_repeats: int = 5
    importance_rows: int = 6000
    random_state: int = 0
    n_jobs: int = -1


@dataclass(frozen=True)
class TrainingSet:
    """Features, target and batch of every usable row."""

    X: pd.DataFrame
    y: pd.Series
    groups: pd.Series
    excluded_rows: int
    data_hash: str


@dataclass
class TrainingReport:
    """The trained model and what was measured on the way."""

    model: FeedModel
    metrics: dict[str, Any]
    importances: pd.DataFrame
    best_params: dict[str, Any] = field(default_factory=dict)


def training_set(frame: pd.DataFrame, row_stride: int = 1) -> TrainingSet:
    """Features of every reading and the feed decided from it; see the module docstring."""
    if TARGET not in frame.columns:
        raise ValueError(f"training data need a {TARGET!r} column (the expert's feed rate)")
    frame = frame.reset_index(drop=True)
    features = build_features(frame)
    ordered = frame.sort_values([BATCH, TIME], kind="stable")
    following = ordered.groupby(BATCH, sort=False)
    target = following[TARGET].shift(-1)
    fault = following["fault"].shift(-1) if "fault" in frame.columns else None
    usable = target.notna()
    if fault is not None:
        usable &= ~fault.isin(FEEDING_FAULTS)
    keep = usable & (following.cumcount() % row_stride == 0)
    rows = ordered.index[keep.to_numpy()]
    return TrainingSet(
        X=features.loc[rows].reset_index(drop=True),
        y=target.loc[rows].reset_index(drop=True).rename(TARGET),
        groups=frame.loc[rows, BATCH].astype(str).reset_index(drop=True),
        excluded_rows=int((~usable).sum()),
        data_hash=frame_hash(frame),
    )


def make_pipeline(random_state: int = 0, n_jobs: int = -1) -> Pipeline:
    """Median imputation (viability and volume may be missing) and a random forest.

    No scaling: tree splits do not depend on the scale of a feature.
    """
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("forest", RandomForestRegressor(random_state=random_state, n_jobs=n_jobs)),
        ]
    )


def _search_space(config: TrainingConfig) -> dict[str, Any]:
    low, high = config.n_estimators
    return {
        "forest__n_estimators": randint(low, high + 1),
        "forest__max_depth": [None, 16, 24],
        "forest__min_samples_leaf": randint(1, 10),
        "forest__max_features": uniform(0.3, 0.5),
        "forest__max_samples": list(config.max_samples),
    }


def _held_out_metrics(model: FeedModel, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    prediction = model.predict(X)
    inside = (y >= prediction.low) & (y <= prediction.high)
    return {
        "r2_test": float(r2_score(y, prediction.value)),
        "mae_test": float(mean_absolute_error(y, prediction.value)),
        "interval_coverage_test": float(inside.mean()),
    }


def train(
    frame: pd.DataFrame,
    config: TrainingConfig | None = None,
    progress: Progress | None = None,
) -> TrainingReport:
    """Search, fit, evaluate and explain a feed-rate model on labelled batches.

    ``progress`` is called with the name of each stage as it starts.
    """
    config = config or TrainingConfig()
    step = progress or (lambda stage: None)
    started = time.perf_counter()
    step("features")
    data = training_set(frame, config.row_stride)
    batches = data.groups.nunique()
    if batches < config.cv_folds + 1:
        raise ValueError(f"need at least {config.cv_folds + 1} batches to train, got {batches}")
    splitter = GroupShuffleSplit(
        n_splits=1, test_size=config.test_fraction, random_state=config.random_state
    )
    train_rows, test_rows = next(splitter.split(data.X, data.y, data.groups))
    X_train, y_train, g_train = (
        data.X.iloc[train_rows], data.y.iloc[train_rows], data.groups.iloc[train_rows]
    )
    X_test, y_test = data.X.iloc[test_rows], data.y.iloc[test_rows]

    step("search")
    search = RandomizedSearchCV(
        make_pipeline(config.random_state, config.n_jobs),
        _search_space(config),
        n_iter=config.candidates,
        scoring="r2",
        cv=GroupKFold(n_splits=config.cv_folds),
        random_state=config.random_state,
        refit=True,
    )
    search.fit(X_train, y_train, groups=g_train)
    pipeline: Pipeline = search.best_estimator_

    step("evaluate")
    draft = FeedModel(pipeline, ModelCard.describe(X_train, data_hash=data.data_hash))
    metrics: dict[str, Any] = {
        "r2_train": float(r2_score(y_train, pipeline.predict(X_train))),
        "r2_cv": float(search.best_score_),
        **_held_out_metrics(draft, X_test, y_test),
        "r2_test_random_split": _random_split_r2(pipeline, data, config),
        "n_batches_train": int(g_train.nunique()),
        "n_batches_test": int(data.groups.iloc[test_rows].nunique()),
        "n_rows_train": len(train_rows),
        "n_rows_test": len(test_rows),
        "rows_excluded_feeding_faults": data.excluded_rows,
        "row_stride": config.row_stride,
        "cv_folds": config.cv_folds,
        "search_candidates": config.candidates,
    }

    step("importance")
    sample = X_test.sample(
        n=min(config.importance_rows, len(X_test)), random_state=config.random_state
    )
    importances = grouped_permutation_importance(
        pipeline,
        sample,
        y_test.loc[sample.index],
        feature_groups(),
        n_repeats=config.importance_repeats,
        random_state=config.random_state,
    )
    metrics["training_seconds"] = round(time.perf_counter() - started, 1)
    card = ModelCard.describe(
        X_train,
        data_hash=data.data_hash,
        metrics=metrics,
        ranking=tuple(importances.index),
    )
    best = {k.removeprefix("forest__"): v for k, v in search.best_params_.items()}
    return TrainingReport(FeedModel(pipeline, card), metrics, importances, best)


def _random_split_r2(pipeline: Pipeline, data: TrainingSet, config: TrainingConfig) -> float:
    """R² on a row-random split with the chosen hyper-parameters: the leaky comparison."""
    X_train, X_test, y_train, y_test = train_test_split(
        data.X, data.y, test_size=config.test_fraction, random_state=config.random_state
    )
    leaky = clone(pipeline).fit(X_train, y_train)
    return float(r2_score(y_test, leaky.predict(X_test)))

