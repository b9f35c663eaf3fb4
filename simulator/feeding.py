"""Feeding policies: who decides the feed rate, from what the sensors show.

A policy is called once per sample for every simulated batch at once (numpy
arrays), so a model-based policy can batch its predictions.

>>> import numpy as np
>>> obs = Observation.from_values(culture_h=100.0, vcd=8.0, glucose=3.0, lactate=1.5, do=40.0,
...                               volume=2.3)
>>> rates = ExpertPolicy(seed=0, noise=0.0)(obs)
>>> bool(0.0 < rates[0] < 12.0)
True
>>> float(FixedSchedulePolicy()(obs)[0])
3.333...
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from simulator.parameters import Control, Vessel

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Observation:
    """What a feeding decision can see: the latest sensor values of every batch.

    ``batch_index`` identifies the batch a column belongs to, so that the
    fault-free twin of a faulty batch receives the same operator noise.
    """

    culture_h: FloatArray
    vcd: FloatArray
    viability: FloatArray
    glucose: FloatArray
    lactate: FloatArray
    do: FloatArray
    ph: FloatArray
    temperature: FloatArray
    agitation: FloatArray
    airflow: FloatArray
    volume: FloatArray
    feed_rate: FloatArray
    batch_index: NDArray[np.int64] = field(default_factory=lambda: np.zeros(1, dtype=np.int64))

    @classmethod
    def from_values(cls, **values: float) -> Observation:
        """A one-batch observation; unspecified variables take typical mid-culture values."""
        typical: dict[str, Any] = {
            "culture_h": 0.0,
            "vcd": 1.0,
            "viability": 95.0,
            "glucose": 5.0,
            "lactate": 0.5,
            "do": 40.0,
            "ph": 7.0,
            "temperature": 37.0,
            "agitation": 100.0,
            "airflow": 0.05,
            "volume": 2.0,
            "feed_rate": 0.0,
        }
        typical.update(values)
        arrays: dict[str, Any] = {k: np.array([v], dtype=np.float64) for k, v in typical.items()}
        return cls(**arrays)

    def __len__(self) -> int:
        return len(self.vcd)


OBSERVED_VARIABLES = tuple(f.name for f in fields(Observation) if f.name != "batch_index")


class FeedPolicy(Protocol):
    """Decides the feed rate (mL/h) of every batch from an observation."""

    def __call__(self, obs: Observation) -> FloatArray: ...


@dataclass
class ExpertPolicy:
    """An experienced operator's continuous feeding, with human variability.

    Feeds from ``start_h`` (earlier if glucose falls below ``early_start_glucose``)
    what the culture needs: glucose demand estimated from VCD and volume plus a
    proportional correction towards ``target_glucose``;
    holds back when lactate is high (overflow metabolism) or DO is below
    ``low_do_fraction`` of the set point (cells cannot use more substrate without
    oxygen). The operator revises the rate's
    noise factor every ``revise_h`` hours (log-normal, ``noise`` sigma).
    """

    seed: int = 0
    noise: float = 0.05
    start_h: float = 60.0
    early_start_glucose: float = 3.0  # g/L: a fast culture is fed before start_h
    lactate_limit: float = 2.0  # g/L above which feeding is held back (overflow metabolism)
    low_do_fraction: float = 0.75  # of the DO set point, below which feeding is held back
    target_glucose: float = 4.0  # g/L, middle of the 2-6 g/L band (domain notes)
    uptake_per_cell: float = 0.009  # g glucose/h per (1e6 cells/mL x L), ~50 fmol/cell/h
    gain: float = 0.12  # 1/h
    revise_h: float = 4.0
    control: Control = field(default_factory=Control)
    _factors: FloatArray = field(init=False, repr=False, default_factory=lambda: np.ones(0))
    _revised_at: float = field(init=False, repr=False, default=-np.inf)
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def _noise_factors(self, obs: Observation) -> FloatArray:
        now = float(obs.culture_h.max())
        size = int(obs.batch_index.max()) + 1
        if now - self._revised_at >= self.revise_h or len(self._factors) < size:
            self._factors = np.exp(self._rng.normal(0.0, self.noise, size))
            self._revised_at = now
        return self._factors[obs.batch_index]

    def __call__(self, obs: Observation) -> FloatArray:
        feed_glucose_g_per_ml = self.control.feed_glucose * 0.18016 / 1000.0
        demand = self.uptake_per_cell * obs.vcd * obs.volume  # g/h
        correction = self.gain * (self.target_glucose - obs.glucose) * obs.volume  # g/h
        rate = np.maximum(demand + correction, 0.0) / feed_glucose_g_per_ml  # mL/h
        # Holding back only makes sense while glucose is plentiful; a short culture is fed regardless.
        # The weight fades in over 2 g/L so that noisy glucose readings do not toggle the feed.
        plenty = np.clip((obs.glucose - (self.target_glucose - 3.0)) / 2.0, 0.0, 1.0)
        low_do = self.low_do_fraction * self.control.do_setpoint
        hold = np.clip(1.0 - 0.2 * (obs.lactate - self.lactate_limit), 0.6, 1.0) * np.clip(obs.do / low_do, 0.5, 1.0)
        rate *= 1.0 - plenty * (1.0 - hold)
        rate *= self._noise_factors(obs)
        rate[(obs.culture_h < self.start_h) & (obs.glucose > self.early_start_glucose)] = 0.0
        return np.clip(rate, 0.0, self.control.max_feed_rate)


@dataclass(frozen=True)
class FixedSchedulePolicy:
    """The textbook baseline: a constant feed of ``percent_per_day`` of the initial volume from ``start_h``."""

    start_h: float = 60.0
    percent_per_day: float = 4.0
    initial_volume: float = field(default_factory=lambda: Vessel().initial_volume)  # L, the bench's by default

    def __call__(self, obs: Observation) -> FloatArray:
        rate = self.percent_per_day / 100.0 * self.initial_volume * 1000.0 / 24.0
        return np.where(obs.culture_h >= self.start_h, rate, 0.0)
