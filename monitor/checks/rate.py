"""Rate of change: a variable moving faster than the process can move it.

The change is taken over ``RATE_SPAN`` rather than between consecutive samples,
so that measurement noise does not masquerade as speed.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import History, reading_at
>>> from monitor.config import MonitorConfig
>>> check = RateCheck(MonitorConfig.default())
>>> state, history = check.new_state(), History(timedelta(hours=4))
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> found = []
>>> for i in range(12):
...     history.append(r := reading_at(t0 + timedelta(minutes=5 * i), do=40.0 - max(0, i - 5) * 6))
...     found.append([f.check for f in check.evaluate(r, history, state)])
>>> found[6], found[9]
([], ['rate'])
"""

from __future__ import annotations

from datetime import timedelta

from bioreactor.contract import Reading, Severity
from monitor import explain
from monitor.checks.base import SETPOINTS, Explanation, Finding, History, Latch, LatchCheck

#: The span over which the rate is measured.
RATE_SPAN = timedelta(minutes=30)


class RateCheck(LatchCheck):
    """Warn when a variable changes faster than its configured rate per hour."""

    name = "rate"

    def evaluate(self, reading: Reading, history: History, state: Latch) -> list[Finding]:
        findings = []
        hours = RATE_SPAN.total_seconds() / 3600
        for var, limit in self.config.statistics.rate_per_h.items():
            change = history.change(var, RATE_SPAN)
            if change is None or (var in SETPOINTS and not history.settled(SETPOINTS[var], self.settle)):
                continue
            rate = change / hours
            if state.update(var, enter=abs(rate) > limit, stay=abs(rate) > limit / 2):
                findings.append(self._finding(var, float(getattr(reading, var)), rate, limit))
        return findings

    def _finding(self, var: str, value: float, rate: float, limit: float) -> Finding:
        name = explain.label(var)
        unit = explain.UNITS.get(var, "")
        what = (
            f"{name} is {'rising' if rate > 0 else 'falling'} at {abs(rate):.3g} {unit}/h "
            f"(now {explain.quantity(var, value)}; plausible at most {limit:g} {unit}/h)"
        )
        return Finding(
            check=self.name,
            severity=Severity.WARNING,
            explanation=Explanation(
                what,
                causes=("equipment or control failure", "sensor fault", "manual intervention"),
                action=f"Check the {name} controller output and the probe.",
            ),
            variable=var,
            value=value,
            limit=limit,
        )
