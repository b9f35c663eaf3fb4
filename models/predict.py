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
from models.artifact import FeedModel
from models.features import InputError, build_features

RECOMMENDED = "feed_rate_recommended"
LOW = "feed_rate_low"
HIGH = "feed_rate_high"
#: Rows of a bad CSV quoted in an error message.
ERRORS_SHOWN = 5


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


def read_readings(source: Path, column_options: Sequence[str] = ()) -> pd.DataFrame:
    """A CSV of readings as a canonical frame; any unreadable row is an :class:`InputError`.

    Every row must get a recommendation, so a row the parser had to skip
    (empty or non-numeric required value, value out of range) stops the run
    with the first few reasons instead of being dropped silently.
    """
    frame, errors = read_frame(source, ColumnMap.parse(column_options))
    if errors:
        shown = "\n".join(f"  {e}" for e in errors[:ERRORS_SHOWN])
        more = f"\n  ... and {len(errors) - ERRORS_SHOWN} more" if len(errors) > ERRORS_SHOWN else ""
        raise InputError(f"{len(errors)} row(s) of {source} cannot be used:\n{shown}{more}")
    if frame.empty:
        raise InputError(f"{source} holds no readings")
    return frame


def predict_csv(
    model: FeedModel, source: Path, out: Path, column_options: Sequence[str] = ()
) -> pd.DataFrame:
    """Read ``source``, add recommendations, write ``out``; return the written frame."""
    result = recommend_frame(model, read_readings(source, column_options))
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(out, index=False, float_format="%.6g")
    return result
