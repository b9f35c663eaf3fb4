"""Slow drift away from a set point: a tabular CUSUM on the deviation (Page 1954).

Each sample adds its deviation beyond an allowance ``k`` (in units of sensor
noise, outside any controller deadband ``band``) to a running sum; the alarm
fires when the sum exceeds ``h``. Small persistent offsets that a fixed limit
would never see add up. The sum is capped so an alarm clears within a few hours
of recovery.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import History, reading_at
>>> from monitor.config import MonitorConfig
>>> check = CusumCheck(MonitorConfig.default())
>>> state, history = check.new_state(), History(timedelta(hours=4))
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> found = []
>>> for i in range(60):
...     history.append(r := reading_at(t0 + timedelta(minutes=5 * i), temperature=37.3))
...     found.append(bool(check.evaluate(r, history, state)))
>>> found.index(True)  # 0.3 °C is 6 noise sigmas: 5 net sigmas per sample reach h = 40
8
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bioreactor.contract import Reading, Severity
from monitor import explain
from monitor.checks.base import SETPOINTS, Check, Explanation, Finding, History, Latch, deviation

#: The sums stop growing at this multiple of ``h`` so that recovery is seen in bounded time.
CAP = 1.5


@dataclass(slots=True)
class CusumState:
    """Upper and lower cumulative sums per variable."""

    upper: dict[str, float] = field(default_factory=dict)
    lower: dict[str, float] = field(default_factory=dict)
    latch: Latch = field(default_factory=Latch)


class CusumCheck(Check[CusumState]):
    """Warn when the deviation from set point accumulates beyond the decision interval."""

    name = "cusum"

    def new_state(self) -> CusumState:
        return CusumState()

    def evaluate(self, reading: Reading, history: History, state: CusumState) -> list[Finding]:
        settings = self.config.cusum
        findings = []
        for var in settings.variables:
            dev = deviation(reading, var, self.default_setpoints)
            noise = self.config.statistics.noise.get(var, 0.0)
            if dev is None or noise <= 0:
                continue
            if var in SETPOINTS and not history.settled(SETPOINTS[var], self.settle):
                state.upper[var] = state.lower[var] = 0.0
                continue
            band = settings.band.get(var, 0.0)
            sides = settings.sides.get(var, "both")
            cap = CAP * settings.h
            high = (dev - band) / noise if sides != "low" else 0.0
            low = (-dev - band) / noise if sides != "high" else 0.0
            state.upper[var] = min(max(0.0, state.upper.get(var, 0.0) + high - settings.k), cap)
            state.lower[var] = min(max(0.0, state.lower.get(var, 0.0) + low - settings.k), cap)
            score = max(state.upper[var], state.lower[var])
            if state.latch.update(var, enter=score > settings.h, stay=score > settings.h / 2):
                direction = "above" if state.upper[var] >= state.lower[var] else "below"
                findings.append(self._finding(var, reading, dev, direction))
        return findings

    def _finding(self, var: str, reading: Reading, dev: float, direction: str) -> Finding:
        name = explain.label(var)
        value = float(getattr(reading, var))
        reference = "its set point" if var in SETPOINTS else "zero"
        what = (
            f"{name} has stayed {direction} {reference} long enough to add up to a drift "
            f"(now {explain.quantity(var, value)}, {explain.quantity(var, abs(dev))} off)"
        )
        return Finding(
            check=self.name,
            severity=Severity.WARNING,
            explanation=Explanation(
                what,
                causes=(f"{name} controller no longer holding its set point", f"{name} probe drift"),
                action=f"Check the {name} controller output, then compare the probe with an offline value.",
            ),
            variable=var,
            value=value,
            limit=value - dev,
        )
