"""The sugar feed: the recipe's profile, started and trimmed by the operators.

The feed is open loop, as in IndPenSim's sequential batch control: a profile in
time since the feed started, which the shift operator nudges up or down at each
8-hour shift change (IndPenSim's optional PRBS adds random +-15 L/h steps every
20 h for the same reason: real batches are not fed by the book). A batch's operator decisions are
drawn once, so a faulty batch and its twin are fed alike.

>>> plan = OperatorPlan(feed_start_h=40.0, feed_scale=1.0, shift_trims=(1.0,) * 30)
>>> schedule = FeedSchedule.of([plan], Recipe())
>>> [float(v) for v in schedule.rate(39.0)], [float(v) for v in schedule.rate(52.0)]
([0.0], [60.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.fungal.parameters import Recipe

FloatArray = NDArray[np.float64]

#: Length of an operator shift (h): trims change at shift handover.
SHIFT_H = 8.0


@dataclass(frozen=True, slots=True)
class OperatorPlan:
    """One batch's operator decisions: when the feed starts, its overall level, and each shift's trim."""

    feed_start_h: float
    feed_scale: float
    shift_trims: tuple[float, ...]

    @classmethod
    def draw(cls, rng: np.random.Generator, hours: float) -> OperatorPlan:
        """Random decisions: start at 38-44 h (when the batch sugar runs out, ~35-40 h), level +-4 %, trims +-3 %.

        The spreads are assumed: an operator watches the DO rise that marks sugar
        exhaustion and starts the pump within a few hours; trims are small steps.
        """
        shifts = int(np.ceil(hours / SHIFT_H)) + 1
        return cls(
            feed_start_h=float(rng.uniform(38.0, 44.0)),
            feed_scale=float(rng.normal(1.0, 0.04)),
            shift_trims=tuple(float(v) for v in 1.0 + rng.normal(0.0, 0.03, shifts)),
        )


@dataclass(frozen=True)
class FeedSchedule:
    """The feed every column asks for, as arrays: start, level and trims per shift."""

    start_h: FloatArray
    scale: FloatArray
    trims: FloatArray  # (columns, shifts)
    profile_h: FloatArray
    profile_l_h: FloatArray

    @classmethod
    def of(cls, plans: Sequence[OperatorPlan], recipe: Recipe) -> FeedSchedule:
        shifts = max(len(p.shift_trims) for p in plans)
        trims = np.ones((len(plans), shifts))
        for row, plan in enumerate(plans):
            trims[row, : len(plan.shift_trims)] = plan.shift_trims
        times, rates = zip(*recipe.feed_profile, strict=True)
        return cls(
            start_h=np.array([p.feed_start_h for p in plans]),
            scale=np.array([p.feed_scale for p in plans]),
            trims=trims,
            profile_h=np.array(times),
            profile_l_h=np.array(rates),
        )

    def rate(self, t: float) -> FloatArray:
        """The feed each column's operator sets.

        Parameters
        ----------
        t
            Culture time (h).

        Returns
        -------
        numpy.ndarray
            Sugar feed per column (L/h); zero before the feed starts.
        """
        since_start = t - self.start_h
        shift = min(int(t // SHIFT_H), self.trims.shape[1] - 1)
        profile = np.interp(since_start, self.profile_h, self.profile_l_h)
        return np.where(since_start >= 0.0, profile * self.scale * self.trims[:, shift], 0.0)
