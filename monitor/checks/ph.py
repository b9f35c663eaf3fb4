"""pH against base addition: a failed base pump, and a pH probe that drifts.

The pH loop adds base below its deadband (domain notes), so pH well below set
point with no base flowing means base is not being delivered. Conversely base
that keeps flowing while lactate (the acid a CHO culture makes) is being
consumed has nothing to neutralise: the probe is probably reading low and the
controller is chasing it. And CO2 sparged more and more while lactate is still
being made means the loop lowers a pH the culture is already acidifying: the
probe is probably reading high (domain notes: base use no longer matches lactate).

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import History, reading_at
>>> from monitor.config import MonitorConfig
>>> check = BasePumpCheck(MonitorConfig.default())
>>> state, history = check.new_state(), History(timedelta(hours=2))
>>> history.append(r := reading_at(datetime(2026, 1, 1, tzinfo=UTC), ph=6.88, base_rate=0.0))
>>> print(check.evaluate(r, history, state)[0].explanation.what)
pH 6.88 is 0.12 below its set point 7.00 with no base added (0.00 mL/h)
"""

from __future__ import annotations

from datetime import timedelta

from bioreactor.contract import Reading, Severity
from monitor import explain
from monitor.checks.base import Explanation, Finding, History, Latch, LatchCheck

#: Spans over which base use and lactate consumption are judged.
BASE_SPAN = timedelta(hours=3)
LACTATE_SPAN = timedelta(hours=6)
#: Mean base flow (mL/h) that counts as "keeps flowing", and lactate fall (g/L) as "consumed".
BASE_FLOWING = 0.4
LACTATE_FALL = 0.5
#: Span of the CO2 rise, and the rise (mL/min) that counts as the loop sparging more.
CO2_SPAN = timedelta(hours=6)
CO2_RISE = 0.3
#: Lactate rise (g/L over ``PRODUCTION_SPAN``, hourly means) that counts as "still produced".
PRODUCTION_SPAN = timedelta(hours=12)
LACTATE_RISE = 0.2
#: Before this culture age the loop strips the CO2 of the fresh medium: sparging is normal.
DEGASSING_H = 24.0


class BasePumpCheck(LatchCheck):
    """Critical when pH is well below set point and no base is being added."""

    name = "base_pump"

    def evaluate(self, reading: Reading, history: History, state: Latch) -> list[Finding]:
        if reading.base_rate is None:
            return []
        setpoint = reading.ph_setpoint if reading.ph_setpoint is not None else 7.0
        deficit = setpoint - reading.ph
        limit = self.config.process.ph_deficit
        idle = reading.base_rate < 0.01
        if not state.update("ph", enter=idle and deficit > limit, stay=idle and deficit > limit / 2):
            return []
        what = (
            f"pH {explain.quantity('ph', reading.ph)} is {deficit:.2f} below its set point "
            f"{explain.quantity('ph', setpoint)} with no base added "
            f"({explain.quantity('base_rate', reading.base_rate)})"
        )
        return [Finding(
            check=self.name,
            severity=Severity.CRITICAL,
            explanation=Explanation(
                what,
                causes=("base pump failure or empty base bottle", "base line blocked or clamped",
                        "pH controller in manual"),
                action="Check the base bottle, pump and line.",
            ),
            variable="ph",
            value=reading.ph,
            limit=setpoint - limit,
        )]


class PhProbeCheck(LatchCheck):
    """Warn when the pH loop's action contradicts the culture's acid: the pH probe may drift."""

    name = "ph_probe"

    def evaluate(self, reading: Reading, history: History, state: Latch) -> list[Finding]:
        if history.before(BASE_SPAN) is None:
            return []
        finding = self._reads_low(reading, history, state) or self._reads_high(reading, history, state)
        return [finding] if finding else []

    def _reads_low(self, reading: Reading, history: History, state: Latch) -> Finding | None:
        base = history.values("base_rate", BASE_SPAN)
        lactate = history.change("lactate", LACTATE_SPAN)
        if not base or lactate is None:
            state.on.discard("low")
            return None
        flow = sum(base) / len(base)
        if not state.update(
            "low",
            enter=flow > BASE_FLOWING and lactate < -LACTATE_FALL,
            stay=flow > BASE_FLOWING / 2 and lactate < 0,
        ):
            return None
        what = (
            f"base has been added at {flow:.2f} mL/h on average for {_hours(BASE_SPAN)} h "
            f"while lactate fell by {abs(lactate):.2f} g/L in {_hours(LACTATE_SPAN)} h "
            f"(pH reads {explain.quantity('ph', reading.ph)})"
        )
        return self._finding(reading, what, (
            "pH probe reading low (drift): the controller adds base the culture does not need",
            "base pump delivering without control",
        ))

    def _reads_high(self, reading: Reading, history: History, state: Latch) -> Finding | None:
        co2 = history.change("co2_flow", CO2_SPAN)
        lactate = history.smoothed_change("lactate", PRODUCTION_SPAN)
        if co2 is None or lactate is None or reading.culture_h < DEGASSING_H:
            state.on.discard("high")
            return None
        if not state.update(
            "high",
            enter=co2 > CO2_RISE and lactate > LACTATE_RISE,
            stay=co2 > 0 and lactate > 0,
        ):
            return None
        what = (
            f"the pH loop raised CO2 sparging by {co2:.2f} mL/min in {_hours(CO2_SPAN)} h while "
            f"lactate rose by {lactate:.2f} g/L in {_hours(PRODUCTION_SPAN)} h "
            f"(pH reads {explain.quantity('ph', reading.ph)})"
        )
        return self._finding(reading, what, (
            "pH probe reading high (drift): the controller lowers a pH the lactate already lowers",
            "CO2 controller fault",
        ))

    def _finding(self, reading: Reading, what: str, causes: tuple[str, ...]) -> Finding:
        return Finding(
            check=self.name,
            severity=Severity.WARNING,
            explanation=Explanation(
                what,
                causes=causes,
                action="Compare the pH probe with an offline sample and recalibrate if > 0.05 apart.",
            ),
            variable="ph",
            value=reading.ph,
        )


def _hours(span: timedelta) -> int:
    return int(span.total_seconds() // 3600)

