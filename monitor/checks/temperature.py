"""Temperature-control failure: more than 0.5 °C from set point and still moving away.

A healthy jacket loop brings the culture to a new set point within minutes
(domain notes: "departs > 0.5 °C from set point and keeps going"); the check waits
for a set-point change to settle, so the planned 37 -> 33 °C shift is not a fault.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import History, reading_at
>>> from monitor.config import MonitorConfig
>>> check = TemperatureControlCheck(MonitorConfig.default())
>>> state, history = check.new_state(), History(timedelta(hours=4))
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> found = []
>>> for i in range(30):
...     t = 37.0 + max(0, i - 10) * 0.03  # drifting 0.36 °C/h from sample 10
...     history.append(r := reading_at(t0 + timedelta(minutes=5 * i), temperature=t))
...     found.append(bool(check.evaluate(r, history, state)))
>>> found.index(True)  # 0.51 °C off
27
"""

from __future__ import annotations

from datetime import timedelta

from bioreactor.contract import Reading, Severity
from monitor import explain
from monitor.checks.base import Explanation, Finding, History, Latch, LatchCheck

#: Span over which "still moving away" is judged.
TREND_SPAN = timedelta(minutes=30)


class TemperatureControlCheck(LatchCheck):
    """Critical when the temperature leaves its set point and keeps going."""

    name = "temperature_control"

    def evaluate(self, reading: Reading, history: History, state: Latch) -> list[Finding]:
        if reading.temperature_setpoint is None or not history.settled(
            "temperature_setpoint", self.settle
        ):
            return []
        limit = self.config.process.temperature_deviation
        offset = reading.temperature - reading.temperature_setpoint
        change = history.change("temperature", TREND_SPAN)
        away = change is not None and change * offset > 0
        if not state.update("temperature", enter=abs(offset) > limit and away,
                            stay=abs(offset) > limit * 0.6):
            return []
        direction = "above" if offset > 0 else "below"
        rate = f", moving {abs(change or 0.0) * 2:.2f} °C/h further {direction}" if away else ""
        what = (
            f"temperature {explain.quantity('temperature', reading.temperature)} is "
            f"{abs(offset):.2f} °C {direction} its set point "
            f"{explain.quantity('temperature', reading.temperature_setpoint)}{rate}"
        )
        heating = "heater or jacket supply" if offset < 0 else "cooling water or jacket valve"
        return [Finding(
            check=self.name,
            severity=Severity.CRITICAL,
            explanation=Explanation(
                what,
                causes=(f"temperature-control failure ({heating})", "controller in manual",
                        "temperature probe fault"),
                action=f"Check the {heating} and the temperature controller mode.",
            ),
            variable="temperature",
            value=reading.temperature,
            limit=reading.temperature_setpoint + (limit if offset > 0 else -limit),
        )]
