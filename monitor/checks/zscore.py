"""Sudden steps and spikes: a reading far from its rolling mean, in rolling standard deviations.

The window is a time span (stretched to hold enough readings of a sparsely
sampled reactor) and the reading is compared with the window without itself.
The standard deviation is floored at the sensor noise: a quiet, well-controlled
signal must not make every small wiggle look huge. Set-point variables are
judged on their deviation, and only once the set point has held for a window.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.harness import CheckHarness
>>> harness = CheckHarness(ZScoreCheck)
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> found = [harness.feed(reading_at(t0 + timedelta(minutes=5 * i),
...                                  ph=7.0 + 0.01 * (i % 2) - (0.3 if i == 39 else 0))) for i in range(40)]
>>> found[38], found[39]
([], ['zscore:ph'])
"""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

import numpy as np

from bioreactor.contract import Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Findings, Histories, Latches
from monitor.config import MonitorConfig
from monitor.slots import FloatArray, Slots
from monitor.wave import Wave


class ZScoreCheck(Check):
    """Warn when a variable jumps more than ``z_limit`` rolling standard deviations."""

    name = "zscore"

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.variables = config.statistics.zscore_variables
        self.window_s = config.statistics.window_h * 3600.0
        self.latches = self.remember(Latches.create(1, on=(max(len(self.variables), 1),)))

    def cannot_run(self, measured: Collection[str], interval_s: float) -> str | None:
        if not any(v in measured for v in self.variables):
            return f"needs one of {', '.join(self.variables)}, which this reactor does not measure"
        return self.too_sparse(self.window_s, interval_s)

    def evaluate(self, wave: Wave) -> list[Findings]:
        limit = self.config.statistics.z_limit
        window = self.stretch(self.window_s, wave)
        found = []
        for key, variable in enumerate(self.variables):
            value = wave[variable]
            n, mean, std = self.histories.recent.window(wave.slots, wave.times, variable, window, excluding=value)
            floor = self.config.noise(variable)
            spread = np.maximum(np.nan_to_num(std, nan=0.0), floor)
            enough = (n >= self.config.statistics.min_samples) & (spread > 0)
            known = ~np.isnan(value) & enough & wave.settled(variable, window.max(initial=0.0))
            with np.errstate(invalid="ignore", divide="ignore"):
                z = (value - mean) / spread
                on = self.latches.update(
                    wave.slots, key, enter=np.abs(z) > limit, stay=np.abs(z) > limit / 2, known=known
                )
            found.append(Findings(
                self.name, variable, Severity.WARNING, on, known, value, mean + np.sign(z) * limit * spread,
                partial(_explain, variable, (value, mean, z, window)),
            ))
        return found


def _explain(variable: str, columns: tuple[FloatArray, FloatArray, FloatArray, FloatArray], i: int) -> Explanation:
    """``columns``: the values, window means, z-scores and windows (s) of the wave."""
    value, mean, z, window_s = (float(c[i]) for c in columns)
    name = explain.label(variable)
    jump = value - mean
    what = (
        f"{name} jumped to {explain.quantity(variable, value)}, {explain.quantity(variable, abs(jump))} "
        f"{'above' if jump > 0 else 'below'} its {window_s / 3600:g}-h mean ({abs(z):.1f} standard deviations)"
    )
    return Explanation(
        what,
        causes=("sensor spike or glitch", "sudden process upset", "manual intervention"),
        action=f"Check whether other signals moved with {name}; if not, inspect the probe.",
    )
