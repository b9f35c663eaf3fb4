"""Temperature-control failure: more than a threshold from set point and still moving away.

A healthy jacket loop brings the culture to a new set point within minutes to an
hour (domain notes: "departs > 0.5 °C from set point and keeps going"); the check
waits for a set-point change to settle, so a planned shift is not a fault. The
set point is the reading's, else the one followed along the learnt schedule.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.harness import CheckHarness
>>> harness = CheckHarness(TemperatureControlCheck)
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> found = [bool(harness.feed(reading_at(t0 + timedelta(minutes=5 * i), temperature=37.0 + max(0, i - 10) * 0.03)))
...          for i in range(30)]
>>> found.index(True)  # 0.51 °C off, drifting 0.36 °C/h
27
"""

from __future__ import annotations

import numpy as np

from bioreactor.contract import Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Findings, Histories, Latches
from monitor.config import MonitorConfig
from monitor.slots import Slots
from monitor.wave import Wave

#: Span over which "still moving away" is judged (stretched for sparse sampling).
TREND_S = 1800.0


class TemperatureControlCheck(Check):
    """Critical when the temperature leaves its set point and keeps going."""

    name = "temperature_control"
    inputs = ("temperature",)

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.latches = self.remember(Latches.create(1))

    def evaluate(self, wave: Wave) -> list[Findings]:
        limit = self.config.process.temperature_deviation
        temperature, setpoint = wave["temperature"], wave.setpoint("temperature")
        offset = temperature - setpoint
        interval = np.nan_to_num(wave.interval_s, nan=0.0)
        change, apart = self.histories.recent.change(
            wave.slots, wave.times, "temperature", temperature, span_s=np.maximum(TREND_S, 1.5 * interval),
            tolerance_s=np.maximum(interval, 600.0),
        )
        known = ~np.isnan(temperature) & wave.settled("temperature", self.settle_s)
        with np.errstate(invalid="ignore"):
            away = change * offset > 0
            on = self.latches.update(
                wave.slots, 0, enter=(np.abs(offset) > limit) & away, stay=np.abs(offset) > 0.6 * limit, known=known
            )
        return [Findings(
            self.name, "temperature", Severity.CRITICAL, on, known, temperature, setpoint + np.sign(offset) * limit,
            lambda i: _explain(float(temperature[i]), float(setpoint[i]), float(change[i] / apart[i] * 3600.0)),
        )]


def _explain(temperature: float, setpoint: float, per_hour: float) -> Explanation:
    offset = temperature - setpoint
    direction = "above" if offset > 0 else "below"
    moving = per_hour * offset > 0
    rate = f", moving {abs(per_hour):.2f} °C/h further {direction}" if moving else ""
    what = (
        f"temperature {explain.quantity('temperature', temperature)} is {abs(offset):.2f} °C {direction} its "
        f"set point {explain.quantity('temperature', setpoint)}{rate}"
    )
    heating = "heater or jacket supply" if offset < 0 else "cooling water or jacket valve"
    return Explanation(
        what,
        causes=(f"temperature-control failure ({heating})", "controller in manual", "temperature probe fault"),
        action=f"Check the {heating} and the temperature controller mode.",
    )
