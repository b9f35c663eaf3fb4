"""Stuck sensor: a signal whose variance collapses below its measurement noise.

A live probe always shows noise; a frozen value (stuck probe, frozen transmitter,
held value in the historian) shows none.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import History, reading_at
>>> check = FlatlineCheck(MonitorConfig.default())
>>> state, history = check.new_state(), History(timedelta(hours=4))
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> found = []
>>> for i in range(60):
...     do = 40.0 + (1.0 if i % 2 else -1.0) if i < 20 else 41.7
...     history.append(r := reading_at(t0 + timedelta(minutes=5 * i), do=do))
...     found.append('do' in [f.variable for f in check.evaluate(r, history, state)])
>>> found.index(True) * 5  # minutes: until the last live sample (95 min) leaves the 1.5-h window
185
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from river import stats, utils

from bioreactor.contract import Reading, Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Finding, History, clock
from monitor.checks.zscore import RollingState
from monitor.config import MonitorConfig

#: A stuck signal's standard deviation is below this fraction of the sensor noise.
STUCK_FRACTION = 0.1


class FlatlineCheck(Check[RollingState]):
    """Warn when a sensor's rolling standard deviation falls far below its noise."""

    name = "flatline"

    def __init__(self, config: MonitorConfig) -> None:
        super().__init__(config)
        self.window = timedelta(hours=config.statistics.flatline_window_h)

    def new_state(self) -> RollingState:
        return RollingState()

    def evaluate(self, reading: Reading, history: History, state: RollingState) -> list[Finding]:
        settings = self.config.statistics
        findings = []
        for var in settings.flatline_variables:
            value = getattr(reading, var)
            if value is None:
                continue
            window: Any = state.windows.get(var)
            if window is None:
                window = state.windows[var] = utils.TimeRolling(stats.Var, period=self.window)
            window.update(float(value), t=clock(reading))
            full = (
                history.before(self.window * 0.9) is not None
                and window.obj.mean.n >= settings.min_samples
            )
            std = math.sqrt(max(window.get(), 0.0))
            floor = settings.noise.get(var, 0.0) * STUCK_FRACTION
            if state.latch.update(var, enter=full and std < floor, stay=std < 2 * floor):
                findings.append(self._finding(var, float(value), std, floor))
        return findings

    def _finding(self, var: str, value: float, std: float, floor: float) -> Finding:
        name = explain.label(var)
        hours = self.config.statistics.flatline_window_h
        what = (
            f"{name} has not moved from {explain.quantity(var, value)} for {hours:g} h "
            f"(standard deviation {std:.3g}, a live probe shows at least {floor:.3g})"
        )
        return Finding(
            check=self.name,
            severity=Severity.WARNING,
            explanation=Explanation(
                what,
                causes=(f"{name} probe or transmitter stuck", "signal held by the data system"),
                action=f"Compare {name} with a handheld or offline measurement; check the transmitter.",
            ),
            variable=var,
            value=value,
            limit=floor,
        )
