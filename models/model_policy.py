"""The feed model in charge of the pumps: a simulator feeding policy.

At every decision time the policy computes the features of all batches' latest
readings and asks the model for all of them in one call; between decisions it
holds the rates, as an automation system applying periodic recommendations would.
"""

from __future__ import annotations

import numpy as np

from models.artifact import FeedModel
from models.history import COLUMNS, FeatureHistory
from simulator.feeding import FloatArray, Observation


class ModelPolicy:
    """Applies the model's recommended feed rate (mL/h), deciding every ``decide_every_h``.

    Parameters
    ----------
    model
        A trained feed model.
    decide_every_h
        Hours between decisions; the rate is held in between.
    """

    def __init__(self, model: FeedModel, decide_every_h: float = 0.5) -> None:
        self.model = model
        self.decide_every_h = decide_every_h
        self.predict_calls = 0
        self._history = FeatureHistory()
        self._rates = np.zeros(0)
        self._decided_at = -np.inf

    def __call__(self, obs: Observation) -> FloatArray:
        keys = [str(i) for i in range(len(obs))]
        self._history.append(keys, keys, {c: getattr(obs, c) for c in COLUMNS})
        now = float(obs.culture_h.max())
        if now - self._decided_at >= self.decide_every_h - 1e-9 or len(self._rates) != len(obs):
            self._rates = self.model.predict(self._history.latest(keys)).value
            self._decided_at = now
            self.predict_calls += 1
        return self._rates.copy()
