"""pH against base addition: a failed base pump, and a pH probe that drifts.

The pH loop adds base below its deadband (domain notes), so pH well below set
point with no base flowing means base is not being delivered. Conversely base
that keeps flowing while lactate (the acid a CHO culture makes) is being
consumed has nothing to neutralise: the probe is probably reading low and the
controller is chasing it.

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
BASE_FLOWING = 0.2
LACTATE_FALL = 0.3


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
    """Warn when base keeps flowing while lactate is consumed: the pH probe may read low."""

    name = "ph_probe"

    def evaluate(self, reading: Reading, history: History, state: Latch) -> list[Finding]:
        base = history.values("base_rate", BASE_SPAN)
        lactate = history.change("lactate", LACTATE_SPAN)
        if not base or lactate is None or history.before(BASE_SPAN) is None:
            return []
        flow = sum(base) / len(base)
        if not state.update(
            "ph",
            enter=flow > BASE_FLOWING and lactate < -LACTATE_FALL,
            stay=flow > BASE_FLOWING / 2 and lactate < 0,
        ):
            return []
        what = (
            f"base has been added at {flow:.2f} mL/h on average for {BASE_SPAN.seconds // 3600} h "
            f"while lactate fell by {abs(lactate):.2f} g/L in {LACTATE_SPAN.seconds // 3600} h "
            f"(pH reads {explain.quantity('ph', reading.ph)})"
        )
        return [Finding(
            check=self.name,
            severity=Severity.WARNING,
            explanation=Explanation(
                what,
                causes=("pH probe reading low (drift): the controller adds base the culture "
                        "does not need", "base pump delivering without control"),
                action="Compare the pH probe with an offline sample and recalibrate if > 0.05 apart.",
            ),
            variable="ph",
            value=reading.ph,
            limit=BASE_FLOWING,
        )]
