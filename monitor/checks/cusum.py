"""Slow drift away from a set point: a tabular CUSUM on the deviation (Page 1954).

Each reading adds its deviation beyond an allowance ``k`` (in units of sensor
noise, outside any controller deadband ``band``) to a running sum, weighted by
the time it stands for (``per_min`` minutes count as one), so the decision
takes the same time at any sampling rate; the alarm fires when the sum exceeds
``h``. Small persistent offsets that a fixed limit would never see add up. The
sum is capped so an alarm clears within a few hours of recovery.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.harness import CheckHarness
>>> harness = CheckHarness(CusumCheck)
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> found = [bool(harness.feed(reading_at(t0 + timedelta(minutes=5 * i), temperature=37.3)))
...          for i in range(60)]
>>> found.index(True)  # 0.3 °C is 6 noise sigmas: 5 net sigmas per 5 min pass h = 40 at the 9th reading
8
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import partial

import numpy as np

from bioreactor.contract import Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Findings, Histories, Latches
from monitor.config import MonitorConfig
from monitor.slots import FloatArray, SlotArrays, Slots, per_slot
from monitor.wave import CONTROLLED, Wave

#: The sums stop growing at this multiple of ``h`` so that recovery is seen in bounded time.
CAP = 1.5
#: A gap in the data counts for at most this many ``per_min`` steps: an outage is not evidence.
MAX_STEP = 3.0


@dataclass
class _Sums(SlotArrays):
    upper: FloatArray = per_slot(fill=0.0, shape=(1,))
    lower: FloatArray = per_slot(fill=0.0, shape=(1,))
    last_time: FloatArray = per_slot(fill=np.nan, shape=(1,))


class CusumCheck(Check):
    """Warn when the deviation from set point accumulates beyond the decision interval."""

    name = "cusum"

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.settings = config.cusum
        self.variables = [v for v in config.cusum.variables if config.noise(v) > 0]
        shape = (max(len(self.variables), 1),)
        self.sums = self.remember(_Sums.create(1, upper=shape, lower=shape, last_time=shape))
        self.latches = self.remember(Latches.create(1, on=shape))

    def cannot_run(self, measured: Collection[str], interval_s: float) -> str | None:
        if not any(v in measured for v in self.variables):
            return f"needs one of {', '.join(self.variables)} with a known sensor noise"
        return None

    def evaluate(self, wave: Wave) -> list[Findings]:
        s, slots = self.settings, wave.slots
        cap = CAP * s.h
        found = []
        for key, variable in enumerate(self.variables):
            deviation = wave.deviation(variable)
            noise = self.config.noise(variable)
            settled = wave.settled(variable, self.settle_s)
            known = ~np.isnan(deviation) & settled
            last = self.sums.last_time[slots, key]
            step = np.clip(np.nan_to_num((wave.times - last) / (s.per_min * 60.0), nan=1.0), 0.0, MAX_STEP)
            below, above = s.band_of(variable)
            sides = s.sides.get(variable, "both")
            high = (deviation - above) / noise if sides != "low" else np.zeros(len(wave))
            low = (-deviation - below) / noise if sides != "high" else np.zeros(len(wave))
            upper = np.clip(self.sums.upper[slots, key] + (high - s.k) * step, 0.0, cap)
            lower = np.clip(self.sums.lower[slots, key] + (low - s.k) * step, 0.0, cap)
            # A set-point change starts the sums afresh; an unmeasured reading leaves them as they were.
            self.sums.upper[slots, key] = np.where(known, upper, np.where(settled, self.sums.upper[slots, key], 0.0))
            self.sums.lower[slots, key] = np.where(known, lower, np.where(settled, self.sums.lower[slots, key], 0.0))
            self.sums.last_time[slots[known], key] = wave.times[known]
            score = np.maximum(self.sums.upper[slots, key], self.sums.lower[slots, key])
            on = self.latches.update(slots, key, enter=score > s.h, stay=score > s.h / 2, known=known)
            value = wave[variable]
            found.append(Findings(
                self.name, variable, Severity.WARNING, on, known, value, value - deviation,
                partial(_explain, variable, value, deviation),
            ))
        return found


def _explain(variable: str, values: FloatArray, deviations: FloatArray, i: int) -> Explanation:
    value, deviation = float(values[i]), float(deviations[i])
    name = explain.label(variable)
    reference = "its set point" if variable in CONTROLLED else "zero"
    direction = "above" if deviation > 0 else "below"
    what = (
        f"{name} has stayed {direction} {reference} long enough to add up to a drift "
        f"(now {explain.quantity(variable, value)}, {explain.quantity(variable, abs(deviation))} off)"
    )
    return Explanation(
        what,
        causes=(f"{name} controller no longer holding its set point", f"{name} probe drift"),
        action=f"Check the {name} controller output, then compare the probe with an offline value.",
    )
