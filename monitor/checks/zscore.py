"""Sudden steps and spikes: a reading far from its rolling mean, in rolling standard deviations.

The rolling window is time-based (``river.utils.TimeRolling``), so gaps in the data
do not stretch it. The standard deviation is floored at the sensor noise: a
quiet, well-controlled signal must not make every small wiggle look huge.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import History, reading_at
>>> check = ZScoreCheck(MonitorConfig.default())
>>> state, history = check.new_state(), History(timedelta(hours=4))
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> found = []
>>> for i in range(40):
...     r = reading_at(t0 + timedelta(minutes=5 * i), ph=7.0 + 0.01 * (i % 2) - (0.3 if i == 39 else 0))
...     history.append(r)
...     found.append([f.check for f in check.evaluate(r, history, state)])
>>> found[38], found[39]
([], ['zscore'])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from river import stats, utils

from bioreactor.contract import Reading, Severity
from monitor import explain
from monitor.checks.base import (
    SETPOINTS,
    Check,
    Explanation,
    Finding,
    History,
    Latch,
    clock,
    deviation,
)
from monitor.config import MonitorConfig


@dataclass(slots=True)
class RollingState:
    """A time-windowed variance per variable, plus the hysteresis latch."""

    # river's rolling wrappers are not precisely typed; each value is a TimeRolling(stats.Var).
    windows: dict[str, Any] = field(default_factory=dict)
    latch: Latch = field(default_factory=Latch)


class ZScoreCheck(Check[RollingState]):
    """Warn when a variable jumps more than ``z_limit`` rolling standard deviations."""

    name = "zscore"

    def __init__(self, config: MonitorConfig) -> None:
        super().__init__(config)
        settings = config.statistics
        self.window = timedelta(hours=settings.window_h)

    def new_state(self) -> RollingState:
        return RollingState()

    def evaluate(self, reading: Reading, history: History, state: RollingState) -> list[Finding]:
        settings = self.config.statistics
        findings = []
        for var in settings.zscore_variables:
            value = deviation(reading, var, self.default_setpoints)
            if value is None:
                continue
            window: Any = state.windows.get(var)
            if window is None or not _settled(history, var, self.settle):
                # A new set point starts a new regime: forget the old one.
                window = state.windows[var] = utils.TimeRolling(stats.Var, period=self.window)
            mean = float(window.obj.mean.get())
            std = max(math.sqrt(max(window.get(), 0.0)), settings.noise.get(var, 0.0))
            enough = window.obj.mean.n >= settings.min_samples and std > 0
            z = (value - mean) / std if enough else 0.0
            window.update(value, t=clock(reading))
            limit = settings.z_limit
            if state.latch.update(var, enter=abs(z) > limit, stay=abs(z) > limit / 2):
                findings.append(self._finding(var, reading, z=z, jump=value - mean, mean=mean, std=std))
        return findings

    def _finding(
        self, var: str, reading: Reading, *, z: float, jump: float, mean: float, std: float
    ) -> Finding:
        value = float(getattr(reading, var))
        offset = value - (mean + jump)  # the set point, when the check watches a deviation
        name = explain.label(var)
        what = (
            f"{name} jumped to {explain.quantity(var, value)}, "
            f"{explain.quantity(var, abs(jump))} {'above' if jump > 0 else 'below'} its "
            f"{self.config.statistics.window_h:g}-h mean ({abs(z):.1f} standard deviations)"
        )
        return Finding(
            check=self.name,
            severity=Severity.WARNING,
            explanation=Explanation(
                what,
                causes=("sensor spike or glitch", "sudden process upset", "manual intervention"),
                action=f"Check whether other signals moved with {name}; if not, inspect the probe.",
            ),
            variable=var,
            value=value,
            limit=offset + mean + math.copysign(self.config.statistics.z_limit * std, jump),
        )


def _settled(history: History, var: str, span: timedelta) -> bool:
    return var not in SETPOINTS or history.settled(SETPOINTS[var], span)
