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
The day-long rules read the hourly history.

>>> from datetime import datetime, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.harness import CheckHarness
>>> harness = CheckHarness(BasePumpCheck)
>>> harness.feed(reading_at(datetime(2026, 1, 1, tzinfo=UTC), ph=6.88, base_rate=0.0))
['base_pump:ph']
>>> print(harness.explain("base_pump:ph").what)
pH 6.88 is 0.12 below its set point 7.00 with no base added (0.00 mL/h)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bioreactor.contract import Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Findings, Histories, Latches
from monitor.config import MonitorConfig
from monitor.slots import BoolArray, FloatArray, IntArray, SlotArrays, Slots, per_slot
from monitor.wave import Wave

#: Base and CO2 flows are judged as shares of their usual (99 %) level in the profile's reference
#: batches; without a profile, the bench vessel's: base 0.5 mL/h, and CO2 20 mL/min, its mass-flow
#: controller's full scale, which the loop reaches late in culture.
USUAL_BASE = 0.5
USUAL_CO2 = 20.0
#: A base flow below this share of its usual level counts as none.
IDLE_SHARE = 0.02
#: Spans over which base use and lactate consumption are judged (s).
BASE_S = 3 * 3600.0
LACTATE_S = 6 * 3600.0
#: Mean base flow, as a share of its usual level, that counts as "keeps flowing"; lactate fall (g/L)
#: that counts as "consumed".
FLOWING_SHARE = 0.7
LACTATE_FALL = 0.5
#: Span of the CO2 rise, and the rise that counts as the loop sparging more (share of its usual level).
CO2_S = 6 * 3600.0
CO2_RISE_SHARE = 0.015
#: Lactate rise (g/L over ``PRODUCTION_S``, hourly means) that counts as "still produced".
PRODUCTION_S = 12 * 3600.0
LACTATE_RISE = 0.2
#: Before this culture age the loop strips the CO2 of the fresh medium: sparging is normal.
DEGASSING_H = 24.0
#: Hours over which the CO2 side of the loop is judged against lactate: a day, because a slow
#: probe drift (0.04 pH/day; domain notes: ~0.1 pH/week for a glass electrode) moves the loop
#: that slowly.
BALANCE_H = 24
#: With no lactate made, a steady cut of CO2 (share of its usual level, hourly means) is a back-off.
CO2_CUT_SHARE = 0.015
#: Lactate consumption (g/L) alkalinises: consuming more than ``CONSUMED`` g/L should raise CO2 by
#: at least ``CO2_PER_LACTATE`` (share of its usual level) per g/L. Clean simulated batches (seeds 7
#: and 11) never fell below 0.04 while the loop was already sparging.
CONSUMED = 0.3
CO2_PER_LACTATE = 0.024
#: The reading's mean may sit this far above set point while the loop regulates: the CO2 side
#: of its ±0.05 deadband plus noise. Higher means the loop is saturated, not backing off.
BAND_TOP = 0.07
#: "No lactate made" (g/L over ``BALANCE_H``), "steady gas" (fractional fall), "already sparging"
#: (share of the usual CO2 level a day ago).
LACTATE_MADE = 0.05
AIRFLOW_FALL = 0.05
SPARGING_SHARE = 0.003


def _span_mean(hourly: FloatArray, first: int, last: int) -> FloatArray:
    """The mean of hourly means ``first`` to ``last - 1`` hours back, if at least half of them are known."""
    part = hourly[:, first:last]
    known = (~np.isnan(part)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(part, axis=1) / known
    return np.where(2 * known >= last - first, mean, np.nan)


@dataclass
class _Day(SlotArrays):
    """The day-long quantities of the CO2 rules, per reactor, for the clock hour they were worked out in."""

    hour: IntArray = per_slot(fill=-1)
    co2: FloatArray = per_slot(fill=np.nan, shape=(BALANCE_H // (BALANCE_H // 3) + 1,))
    ph: FloatArray = per_slot(fill=np.nan)
    base: FloatArray = per_slot(fill=np.nan)
    air_ratio: FloatArray = per_slot(fill=np.nan)
    consumed: FloatArray = per_slot(fill=np.nan)  # lactate consumed over the day (g/L)
    lactate_made: FloatArray = per_slot(fill=np.nan)  # lactate made over PRODUCTION_S (g/L)


class BasePumpCheck(Check):
    """Critical when pH is well below set point and no base is being added."""

    name = "base_pump"
    inputs = ("ph", "base_rate")

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.idle = IDLE_SHARE * config.typical_high("base_rate", USUAL_BASE)
        self.latches = self.remember(Latches.create(1))

    def evaluate(self, wave: Wave) -> list[Findings]:
        limit = self.config.process.ph_deficit
        ph, base, setpoint = wave["ph"], wave["base_rate"], wave.setpoint("ph")
        deficit = setpoint - ph
        known = wave.measured("ph", "base_rate")
        with np.errstate(invalid="ignore"):
            idle = base < self.idle
            on = self.latches.update(
                wave.slots, 0, enter=idle & (deficit > limit), stay=idle & (deficit > limit / 2), known=known
            )
        return [Findings(
            self.name, "ph", Severity.CRITICAL, on, known, ph, setpoint - limit,
            lambda i: Explanation(
                f"pH {explain.quantity('ph', float(ph[i]))} is {float(deficit[i]):.2f} below its set point "
                f"{explain.quantity('ph', float(setpoint[i]))} with no base added "
                f"({explain.quantity('base_rate', float(base[i]))})",
                causes=("base pump failure or empty base bottle", "base line blocked or clamped",
                        "pH controller in manual"),
                action="Check the base bottle, pump and line.",
            ),
        )]


class PhProbeCheck(Check):
    """Warn when the pH loop's action contradicts the culture's acid: the pH probe may drift."""

    name = "ph_probe"
    inputs = ("ph", "lactate", "base_rate", "co2_flow", "airflow")

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.base_usual = config.typical_high("base_rate", USUAL_BASE)
        self.co2_usual = config.typical_high("co2_flow", USUAL_CO2)
        self.latches = self.remember(Latches.create(1, on=(3,)))
        self.day = self.remember(_Day.create(1))

    def evaluate(self, wave: Wave) -> list[Findings]:
        known = wave.measured("ph")
        low = self._reads_low(wave)
        short = self._co2_short(wave)
        high = self._reads_high(wave)
        holds = low | short | high
        return [Findings(
            self.name, "ph", Severity.WARNING, holds, known, wave["ph"], np.full(len(wave), np.nan),
            lambda i: self._explain(wave, i, bool(low[i]), bool(short[i])),
        )]

    def _reads_low(self, wave: Wave) -> BoolArray:
        """Base keeps flowing while lactate is consumed: nothing to neutralise."""
        recent, slots, times = self.histories.recent, wave.slots, wave.times
        n, base, _ = recent.window(slots, times, "base_rate", BASE_S)
        lactate, apart = recent.change(slots, times, "lactate", wave["lactate"], span_s=LACTATE_S,
                                       tolerance_s=3600.0)
        known = (n > 0) & ~np.isnan(lactate) & (apart >= BASE_S)
        flowing = FLOWING_SHARE * self.base_usual
        with np.errstate(invalid="ignore"):
            return self.latches.update(
                slots, 0, enter=(base > flowing) & (lactate < -LACTATE_FALL), stay=(base > flowing / 2) & (lactate < 0),
                known=known,
            )

    def _hourly(self, wave: Wave, variable: str) -> FloatArray:
        """Means of ``variable`` per completed hour, the last first, over two days: ``(n, hours)``."""
        return self.histories.hourly.means(wave.slots, wave.times, variable, 2 * BALANCE_H + 2)[:, 1:]

    def _day(self, wave: Wave) -> _Day:
        """The day-long quantities, worked out again only for reactors whose clock hour has moved on
        (they come from completed hours, so they hold for the rest of the hour)."""
        hour = np.floor(wave.times / 3600.0).astype(np.int64)
        day, slots = self.day, wave.slots
        rows = np.flatnonzero(day.hour[slots] != hour)
        if len(rows):
            fresh = wave.take(rows)
            co2 = self._hourly(fresh, "co2_flow")[:, : BALANCE_H + 1 : BALANCE_H // 3]  # now, 8, 16, 24 h ago
            lactate, air = self._hourly(fresh, "lactate"), self._hourly(fresh, "airflow")
            at = slots[rows]
            day.hour[at] = hour[rows]
            day.co2[at] = co2
            day.ph[at] = _span_mean(self._hourly(fresh, "ph"), 0, BALANCE_H)
            day.base[at] = _span_mean(self._hourly(fresh, "base_rate"), 0, BALANCE_H)
            with np.errstate(invalid="ignore", divide="ignore"):
                day.air_ratio[at] = _span_mean(air, 0, BALANCE_H) / _span_mean(air, BALANCE_H, 2 * BALANCE_H)
            day.consumed[at] = lactate[:, BALANCE_H] - lactate[:, 0]
            day.lactate_made[at] = lactate[:, 0] - lactate[:, int(PRODUCTION_S // 3600) - 1]
        return day

    def _co2_short(self, wave: Wave) -> BoolArray:
        """Over a day, the loop raised CO2 too little for the lactate consumed, or cut it with no acid made."""
        day, slots = self._day(wave), wave.slots
        co2, consumed, ph = day.co2[slots].T, day.consumed[slots], day.ph[slots]
        with np.errstate(invalid="ignore", divide="ignore"):
            quiet = (day.base[slots] < IDLE_SHARE * self.base_usual * 10) & (day.air_ratio[slots] > 1 - AIRFLOW_FALL)
            known = ~np.isnan(co2).any(axis=0) & ~np.isnan(consumed + ph + day.air_ratio[slots])
            known &= wave.hours >= DEGASSING_H + BALANCE_H  # the window must start after the degassing
            top = ph < wave.setpoint("ph") + BAND_TOP
            rise = (co2[0] - co2[-1]) / self.co2_usual
            falling = np.all(co2[:-1] < co2[1:], axis=0)
            backs_off = (consumed > -LACTATE_MADE) & falling & (-rise > CO2_CUT_SHARE)
            needed = CO2_PER_LACTATE * consumed
            lags = (consumed > CONSUMED) & (co2[-1] > SPARGING_SHARE * self.co2_usual) & (rise < needed)
            stays = (-rise > CO2_CUT_SHARE / 3) | ((consumed > CONSUMED / 2) & (rise < 1.5 * needed))
            return self.latches.update(
                slots, 1, enter=quiet & top & (backs_off | lags), stay=quiet & top & stays, known=known
            )

    def _reads_high(self, wave: Wave) -> BoolArray:
        """CO2 sparged more and more while lactate is still made: the loop lowers an acidifying culture."""
        recent, slots, times = self.histories.recent, wave.slots, wave.times
        co2, _ = recent.change(slots, times, "co2_flow", wave["co2_flow"], span_s=CO2_S, tolerance_s=3600.0)
        lactate = self._day(wave).lactate_made[slots]
        known = ~np.isnan(co2) & ~np.isnan(lactate) & (wave.hours >= DEGASSING_H)
        rise = CO2_RISE_SHARE * self.co2_usual
        with np.errstate(invalid="ignore"):
            return self.latches.update(
                slots, 2, enter=(co2 > rise) & (lactate > LACTATE_RISE), stay=(co2 > 0) & (lactate > 0), known=known
            )

    def _explain(self, wave: Wave, i: int, low: bool, short: bool) -> Explanation:
        ph = explain.quantity("ph", float(wave["ph"][i]))
        if low:
            what = f"base keeps being added while lactate is consumed (pH reads {ph})"
            causes: tuple[str, ...] = (
                "pH probe reading low (drift): the controller adds base the culture does not need",
                "base pump delivering without control",
            )
        elif short:
            day, slot = self.day, int(wave.slots[i])
            consumed = float(day.consumed[slot])
            lactate = f"{consumed:.2f} g/L of lactate was consumed" if consumed > LACTATE_MADE else (
                "no lactate was made"
            )
            before, now, ph_mean = float(day.co2[slot, -1]), float(day.co2[slot, 0]), float(day.ph[slot])
            what = (
                f"CO2 sparging went from {before:.2f} to {now:.2f} mL/min in {BALANCE_H} h "
                f"although {lactate} (pH reads {ph_mean:.2f}, the top of its band; no base; gas flow steady): "
                "too little CO2 for what the culture does"
            )
            causes = (
                "pH probe reading low (drift): the loop lets the true pH rise",
                "CO2 mass-flow controller or supply fault",
                "the culture's acid balance changed for another reason (feed, aeration, contamination)",
            )
        else:
            what = f"the pH loop keeps raising CO2 sparging while lactate is still being made (pH reads {ph})"
            causes = (
                "pH probe reading high (drift): the controller lowers a pH the lactate already lowers",
                "CO2 controller fault",
            )
        return Explanation(
            what, causes=causes, action="Compare the pH probe with an offline sample and recalibrate if > 0.05 apart."
        )

