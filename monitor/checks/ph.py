"""pH against base addition: a failed base pump, and a pH probe that drifts.

The pH loop adds base below its deadband (domain notes), so pH well below set
point with no base flowing means base is not being delivered. Conversely base
that keeps flowing while lactate (the acid a CHO culture makes) is being
consumed has nothing to neutralise: the probe is probably reading low and the
controller is chasing it. And CO2 sparged more and more while lactate is still
being made means the loop lowers a pH the culture is already acidifying: the
probe is probably reading high (domain notes: base use no longer matches lactate).
A probe that reads low while the loop sparges CO2 shows as too little CO2: the
culture consumes lactate (which alkalinises) or makes no acid, yet over a day the
loop raises CO2 too little or even cuts it, with the reading at the top of its band.

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

import itertools
from dataclasses import dataclass, field
from datetime import timedelta

from bioreactor.contract import Reading, Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Finding, History, Latch, LatchCheck
from monitor.checks.hourly import HourlyMeans

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
#: Hours over which the CO2 side of the loop is judged against lactate: a day, because the
#: simulator's slowest probe drift, 0.04 pH/day, moves the loop that slowly (the domain notes
#: give ~0.1 pH/week for a glass electrode, slower still).
BALANCE_H = 24
#: With no lactate made, a steady cut of this much CO2 (mL/min, hourly means) is a back-off.
CO2_CUT = 0.3
#: Lactate consumption (g/L) alkalinises: consuming more than ``CONSUMED`` g/L should raise CO2
#: by at least ``CO2_PER_LACTATE`` mL/min per g/L. Clean simulated batches (seeds 7 and 11) never
#: fell below 0.85 while the loop was already sparging.
CONSUMED = 0.3
CO2_PER_LACTATE = 0.5
#: The reading's mean may sit this far above set point while the loop regulates: the CO2 side
#: of its ±0.05 deadband plus noise. Higher means the loop is saturated, not backing off.
BAND_TOP = 0.07
#: "No base" (mL/h), "no lactate made" (g/L over ``BALANCE_H``), "steady gas" (fractional fall),
#: "already sparging" (mL/min a day ago).
BASE_OFF = 0.05
LACTATE_MADE = 0.05
AIRFLOW_FALL = 0.05
SPARGING = 0.05


class BasePumpCheck(LatchCheck):
    """Critical when pH is well below set point and no base is being added."""

    name = "base_pump"

    def evaluate(self, reading: Reading, history: History, state: Latch) -> list[Finding]:
        if reading.base_rate is None:
            return []
        setpoint = self.setpoint(reading, "ph")
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


@dataclass(slots=True)
class PhProbeState:
    """The hysteresis latch and two days of hourly means for the CO2 balance."""

    latch: Latch = field(default_factory=Latch)
    hours: HourlyMeans = field(
        default_factory=lambda: HourlyMeans(("co2_flow", "ph", "base_rate", "lactate", "airflow"), 2 * BALANCE_H)
    )
    _window: _CO2Window | None = None
    _window_hour: int | None = None

    def co2_window(self) -> _CO2Window | None:
        """The CO2 window, computed again only when an hour has closed (not on every reading)."""
        if self._window_hour != self.hours.latest_hour:
            self._window, self._window_hour = _CO2Window.of(self.hours), self.hours.latest_hour
        return self._window


class PhProbeCheck(Check[PhProbeState]):
    """Warn when the pH loop's action contradicts the culture's acid: the pH probe may drift."""

    name = "ph_probe"

    def new_state(self) -> PhProbeState:
        return PhProbeState()

    def evaluate(self, reading: Reading, history: History, state: PhProbeState) -> list[Finding]:
        state.hours.add(reading)
        if history.before(BASE_SPAN) is None:
            return []
        latch = state.latch
        finding = (
            self._reads_low(reading, history, latch)
            or self._co2_short(reading, state.co2_window(), latch)
            or self._reads_high(reading, history, latch)
        )
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

    def _co2_short(self, reading: Reading, window: _CO2Window | None, state: Latch) -> Finding | None:
        setpoint = self.setpoint(reading, "ph")
        degassing = reading.culture_h < DEGASSING_H + BALANCE_H  # the window must start after it
        if window is None or degassing or window.ph >= setpoint + BAND_TOP or not window.quiet:
            state.on.discard("co2")
            return None
        consumed, rise = window.lactate_consumed, window.co2[0] - window.co2[-1]
        falling = all(later < earlier for later, earlier in itertools.pairwise(window.co2))
        backs_off = consumed > -LACTATE_MADE and falling and -rise > CO2_CUT
        lags = consumed > CONSUMED and window.co2[-1] > SPARGING and rise < CO2_PER_LACTATE * consumed
        stays = -rise > CO2_CUT / 3 or (consumed > CONSUMED / 2 and rise < 1.5 * CO2_PER_LACTATE * consumed)
        if not state.update("co2", enter=backs_off or lags, stay=stays):
            return None
        lactate = (
            f"{consumed:.2f} g/L of lactate was consumed" if consumed > LACTATE_MADE else "no lactate was made"
        )
        what = (
            f"CO2 sparging went from {window.co2[-1]:.2f} to {window.co2[0]:.2f} mL/min in {BALANCE_H} h "
            f"although {lactate} (pH reads {window.ph:.2f}, the top of its band; no base; gas flow steady): "
            "too little CO2 for what the culture does"
        )
        return self._finding(reading, what, (
            "pH probe reading low (drift): the loop lets the true pH rise",
            "CO2 mass-flow controller or supply fault",
            "the culture's acid balance changed for another reason (feed, aeration, contamination)",
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


@dataclass(frozen=True, slots=True)
class _CO2Window:
    """The CO2 side of the pH loop over the last ``BALANCE_H``, from hourly means."""

    co2: tuple[float, ...]  # now, 8, 16 and 24 h ago
    ph: float
    lactate_consumed: float
    quiet: bool  # no base and steady gas: nothing else moves the loop

    @classmethod
    def of(cls, hours: HourlyMeans) -> _CO2Window | None:
        co2 = [hours.mean("co2_flow", ago) for ago in range(0, BALANCE_H + 1, BALANCE_H // 3)]
        ph = hours.span_mean("ph", 0, BALANCE_H - 1)
        base = hours.span_mean("base_rate", 0, BALANCE_H - 1)
        lactate_now, lactate_then = hours.mean("lactate", 0), hours.mean("lactate", BALANCE_H)
        air_now = hours.span_mean("airflow", 0, BALANCE_H - 1)
        air_then = hours.span_mean("airflow", BALANCE_H, 2 * BALANCE_H - 1)
        known = tuple(c for c in co2 if c is not None)
        if (
            len(known) < len(co2) or ph is None or base is None or lactate_now is None
            or lactate_then is None or not air_now or not air_then
        ):
            return None
        steady = air_now / air_then > 1 - AIRFLOW_FALL
        return cls(known, ph, lactate_then - lactate_now, base < BASE_OFF and steady)


def _hours(span: timedelta) -> int:
    return int(span.total_seconds() // 3600)

