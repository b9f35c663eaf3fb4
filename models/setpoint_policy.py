"""Glucose set-point tracking with an uptake rate learnt from each batch's own data.

Instead of imitating an operator, feed what the glucose balance says the
culture needs to sit at a chosen glucose set point:

    feed (L/h) = (q * VCD * V + gain * (G* - G) * V) / (S_feed - G)

where ``q`` is the specific glucose uptake (g/h per 1e6 cells/mL per L). ``q``
starts from a literature-scale prior and is re-estimated online from the
measured glucose slope, VCD and the feed actually pumped (mass balance
``dG/dt = F (S_feed - G) / V - q VCD``), smoothed exponentially because Raman
glucose noise (±0.2-0.3 g/L, domain notes) makes single estimates poor.

>>> from simulator.feeding import Observation
>>> policy = GlucoseSetpointPolicy(target_glucose=4.0, start_h=0.0)
>>> rate = policy(Observation.from_values(culture_h=100.0, vcd=10.0, glucose=3.0, volume=2.2))
>>> round(float(rate[0]), 2)
2.14
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.features import SLOPE_WINDOW_H
from models.history import COLUMNS, FeatureHistory
from simulator.feeding import FloatArray, Observation
from simulator.parameters import GLUCOSE_G_PER_MMOL, Control

#: The prior specific uptake, g glucose/h per (1e6 cells/mL x L): ~50 fmol/cell/h, the
#: scale of Xing et al. 2010's maintenance plus growth demand (domain notes).
PRIOR_UPTAKE = 0.009


@dataclass
class GlucoseSetpointPolicy:
    """Feed to hold glucose at ``target_glucose`` g/L with an adaptive uptake estimate.

    Parameters
    ----------
    target_glucose
        Set point (g/L); the domain notes' band is 2-6 g/L.
    gain
        Proportional correction of the set-point error (1/h).
    start_h
        No feed before this culture time (batch medium still rich).
    smoothing
        Weight of each new uptake estimate in the running estimate.
    """

    target_glucose: float = 4.0
    gain: float = 0.15
    start_h: float = 48.0
    smoothing: float = 0.1
    learn_every_h: float = 0.5
    control: Control = field(default_factory=Control)
    _uptake: FloatArray = field(init=False, repr=False, default_factory=lambda: np.zeros(0))
    _history: FeatureHistory = field(init=False, repr=False, default_factory=FeatureHistory)
    _learned_at: float = field(init=False, repr=False, default=-np.inf)

    @property
    def uptake(self) -> FloatArray:
        """Current per-batch specific uptake estimates (g/h per 1e6 cells/mL per L)."""
        return self._uptake.copy()

    def __call__(self, obs: Observation) -> FloatArray:
        keys = [str(i) for i in range(len(obs))]
        self._history.append(keys, keys, {c: getattr(obs, c) for c in COLUMNS})
        if len(self._uptake) != len(obs):
            self._uptake = np.full(len(obs), PRIOR_UPTAKE)
        feed_glucose = self.control.feed_glucose * GLUCOSE_G_PER_MMOL  # g/L in the concentrate
        self._learn(obs, keys, feed_glucose)
        need = self._uptake * obs.vcd * obs.volume
        correction = self.gain * (self.target_glucose - obs.glucose) * obs.volume
        rate = np.maximum(need + correction, 0.0) / np.maximum(feed_glucose - obs.glucose, 1.0)
        rate = np.where(obs.culture_h >= self.start_h, rate * 1000.0, 0.0)
        return np.clip(rate, 0.0, self.control.max_feed_rate)

    def _learn(self, obs: Observation, keys: list[str], feed_glucose: float) -> None:
        """Update the uptake estimate of batches with a full slope window and cells enough."""
        now = float(obs.culture_h.max())
        if now < SLOPE_WINDOW_H or now - self._learned_at < self.learn_every_h - 1e-9:
            return
        self._learned_at = now
        features = self._history.latest(keys)
        slope = features[f"glucose_slope_{SLOPE_WINDOW_H:g}h"].to_numpy()
        vcd = features["vcd_mean_2h"].to_numpy()
        supplied = obs.feed_rate / 1000.0 * (feed_glucose - obs.glucose) / obs.volume  # g/L/h
        with np.errstate(divide="ignore", invalid="ignore"):
            estimate = (supplied - slope) / vcd
        usable = np.isfinite(estimate) & (vcd > 1.0)
        # a single 6-hour slope can be far off; keep estimates within a plausible factor of 3
        estimate = np.clip(estimate, PRIOR_UPTAKE / 3, PRIOR_UPTAKE * 3)
        self._uptake = np.where(
            usable, (1 - self.smoothing) * self._uptake + self.smoothing * estimate, self._uptake
        )
