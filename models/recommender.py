"""Live feed-rate recommendations for a fleet of reactors, one batched inference per tick.

A random forest costs about as much to evaluate for one row as for fifty, so
:class:`FeedRecommender` gathers the latest reading of every reactor that
reported since the last call and evaluates them -- together with the rows
needed to explain each recommendation -- in a single ``predict`` call.

Drivers are a cheap local explanation: for each of the model's most important
raw variables (ranked on held-out batches at training time), the change in the
recommendation when that variable's features are replaced by their training
means. A positive contribution means the variable's current state raises the
recommended feed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bioreactor.contract import Driver, Reading, Recommendation
from models.artifact import FeedModel, IncompatibleModelError, load_model
from models.features import REQUIRED_INPUTS
from models.history import COLUMNS, FeatureHistory

log = logging.getLogger(__name__)

#: Raw variables explained per recommendation.
TOP_DRIVERS = 4


@dataclass(frozen=True)
class _Explained:
    """Rows to predict: the latest features, then one copy per driver with that variable neutralised."""

    frame: pd.DataFrame
    drivers: tuple[str, ...]

    @classmethod
    def build(cls, X: pd.DataFrame, model: FeedModel, top: int) -> _Explained:
        card = model.card
        drivers = tuple(card.ranking[:top])
        copies = [X]
        for variable in drivers:
            neutral = X.copy()
            for feature in (f for f in card.features if card.sources[f] == variable):
                neutral[feature] = card.feature_means[feature]
            copies.append(neutral)
        return cls(pd.concat(copies, ignore_index=True), drivers)


class FeedRecommender:
    """Recommends a feed rate for each reactor from its recent readings.

    Parameters
    ----------
    model_path
        A model written by ``bioreactor train``; it is loaded again whenever the
        file's modification time changes (a new model is picked up live; a bad
        new file is logged and the previous model kept).
    top_drivers
        How many raw variables to explain in each recommendation.
    """

    def __init__(self, model_path: Path, top_drivers: int = TOP_DRIVERS) -> None:
        self.model_path = Path(model_path)
        self.top_drivers = top_drivers
        self._mtime = self.model_path.stat().st_mtime_ns if self.model_path.exists() else None
        self._model = load_model(self.model_path)
        self._history = FeatureHistory()

    @property
    def model(self) -> FeedModel:
        return self._model

    @property
    def model_version(self) -> str:
        return self._model.card.version

    def _reload_if_changed(self) -> None:
        try:
            mtime = self.model_path.stat().st_mtime_ns
        except FileNotFoundError:
            return  # keep serving the loaded model while a new file is being put in place
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            self._model = load_model(self.model_path)
            log.info("feed model reloaded from %s (%s)", self.model_path, self.model_version)
        except IncompatibleModelError as error:
            log.error("keeping feed model %s: %s", self.model_version, error)

    def recommend(self, readings: Sequence[Reading]) -> list[Recommendation]:
        """One recommendation per reactor among ``readings``, for its latest reading.

        Readings are added to each reactor's history in the order given. A reactor
        whose latest reading lacks a variable the model needs gets no recommendation.
        """
        if not readings:
            return []
        self._reload_if_changed()
        self._history.append(
            [r.reactor_id for r in readings],
            [r.batch_id for r in readings],
            {c: [_value(r, c) for r in readings] for c in COLUMNS},
        )
        latest = {r.reactor_id: r for r in readings}
        keys = [k for k, r in latest.items() if r.feed_rate is not None and all(
            getattr(r, c) is not None for c in REQUIRED_INPUTS
        )]
        if not keys:
            return []
        explained = _Explained.build(self._history.latest(keys), self._model, self.top_drivers)
        prediction = self._model.predict(explained.frame)
        n = len(keys)
        value = prediction.value.reshape(-1, n)
        contributions = value[0] - value[1:]
        out = []
        for i, key in enumerate(keys):
            reading = latest[key]
            current = float(reading.feed_rate or 0.0)  # present: checked above
            recommended = float(value[0, i])
            order = np.argsort(-np.abs(contributions[:, i]))
            drivers = tuple(
                Driver(explained.drivers[j], round(float(contributions[j, i]), 4)) for j in order
            )
            out.append(
                Recommendation(
                    reactor_id=key,
                    batch_id=reading.batch_id,
                    timestamp=reading.timestamp,
                    recommended_feed_rate=round(recommended, 4),
                    current_feed_rate=current,
                    delta=round(recommended - current, 4),
                    interval_low=round(float(prediction.low[i]), 4),
                    interval_high=round(float(prediction.high[i]), 4),
                    model_version=self.model_version,
                    drivers=drivers,
                )
            )
        return out


def _value(reading: Reading, column: str) -> float:
    value = getattr(reading, column)
    return np.nan if value is None else float(value)
