"""Offline recommendations: a feed rate and its interval for every row of a CSV.

The CSV goes through the project's one parser (:mod:`bioreactor.csvio`), so
foreign column names and units are mapped exactly as for a replay. The output
holds the readings in canonical names and units plus three columns:
``feed_rate_recommended``, ``feed_rate_low`` and ``feed_rate_high`` (mL/h).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bioreactor.columns import ColumnMap
from bioreactor.csvio import read_frame
from bioreactor.rejections import RejectionSummary
from models.artifact import FeedModel
from models.features import REQUIRED_INPUTS, InputError, build_features

RECOMMENDED = "feed_rate_recommended"
LOW = "feed_rate_low"
HIGH = "feed_rate_high"
#: The column of :func:`~bioreactor.csvio.read_frame` with each row's line in the file.
LINE = "line"


def recommend_frame(model: FeedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the model's recommendation and interval added to every row.

    Raises :class:`~models.features.InputError` when a needed column is missing
    or holds NaN.
    """
    prediction = model.predict(build_features(frame))
    out = frame.copy()
    out[RECOMMENDED] = prediction.value
    out[LOW] = prediction.low
    out[HIGH] = prediction.high
    return out


def read_readings(source: Path, column_options: Sequence[str] = ()) -> tuple[pd.DataFrame, RejectionSummary]:
    """The rows of a CSV the model can use, and a summary of those it cannot.

    A row the parser rejects, or that lacks a measurement the model needs, is
    skipped and counted by reason; a few bad rows never fail the file. A file
    without a needed column at all, or without one usable row, is an
    :class:`InputError`.
    """
    frame, errors = read_frame(source, ColumnMap.parse(column_options), lines=True)
    skipped = RejectionSummary()
    for error in errors:
        skipped.add(error.line, error.field, error.reason, error.value)
    missing = [c for c in REQUIRED_INPUTS if c not in frame.columns]
    if missing:
        hint = f"map foreign names with --map SOURCE={missing[0]} ..."
        raise InputError(f"missing column(s): {', '.join(missing)} ({hint})")
    unmeasured = frame[list(REQUIRED_INPUTS)].isna()
    for column in REQUIRED_INPUTS:
        for line in frame.loc[unmeasured[column], LINE]:
            skipped.add(int(line), column, "not measured (the model needs it)")
    frame = frame[~unmeasured.any(axis=1)].drop(columns=LINE).reset_index(drop=True)
    if frame.empty:
        raise InputError(f"{source} holds no usable readings\n{skipped.text()}".rstrip())
    return frame, skipped


def predict_csv(
    model: FeedModel, source: Path, out: Path, column_options: Sequence[str] = ()
) -> tuple[pd.DataFrame, RejectionSummary]:
    """Read ``source``, add recommendations, write ``out``; return the written frame and the skipped rows."""
    frame, skipped = read_readings(source, column_options)
    result = recommend_frame(model, frame)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(out, index=False, float_format="%.6g")
    return result, skipped
