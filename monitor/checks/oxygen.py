"""Oxygen: the cascade's transfer against the culture's demand.

**Transfer limitation.** DO below set point although agitation and airflow are
at their maximum as operated: the vessel cannot transfer more (domain notes:
aeration loss, sparger clog).

**Oxygen balance.** The oxygen the cascade transfers per unit of culture
(:mod:`monitor.oxygen_balance`) stays nearly constant for a healthy batch. It
rises when transfer is lost (the cascade works harder for the same demand), when
an organism other than the cells consumes oxygen (contamination) or when the DO
probe reads low; it falls when the DO probe reads high. The check compares a
fast average of log r with a slow reference, frozen while the alarm stands so
the reference does not absorb the fault. X is the viable cell density, or the
biomass of a microbial process.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.harness import CheckHarness
>>> harness = CheckHarness(OxygenTransferCheck)
>>> harness.feed(reading_at(datetime(2026, 1, 1, tzinfo=UTC), do=20.0, agitation=250.0, airflow=0.2))
['oxygen_transfer:do']
>>> harness = CheckHarness(OxygenBalanceCheck)
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> found = [bool(harness.feed(reading_at(t0 + timedelta(minutes=5 * i), agitation=150.0 if i < 300 else 230.0)))
...          for i in range(400)]
>>> found.index(True)  # the cascade speeds up with no more cells
302
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from bioreactor.contract import Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Findings, Histories, Latches
from monitor.config import MonitorConfig
from monitor.oxygen_balance import MAX_STEP_S, READY_S, culture_amount, log_transfer_ratio, smooth
from monitor.slots import BoolArray, FloatArray, SlotArrays, Slots, per_slot
from monitor.wave import Wave


def biomass_or_cells(wave: Wave) -> tuple[FloatArray, str]:
    """The culture's amount per reading: VCD where measured, else dry-weight biomass."""
    vcd, biomass = wave["vcd"], wave["biomass"]
    return culture_amount(vcd, biomass), ("VCD" if np.isnan(biomass).all() else "biomass")


class OxygenTransferCheck(Check):
    """Critical when DO is well below set point with agitation and airflow at their maximum."""

    name = "oxygen_transfer"
    inputs = ("do", "agitation", "airflow")

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.latches = self.remember(Latches.create(1))

    def evaluate(self, wave: Wave) -> list[Findings]:
        p = self.config.process
        do, setpoint = wave["do"], wave.setpoint("do")
        with np.errstate(invalid="ignore"):
            saturated = (wave["agitation"] >= p.at_max_fraction * p.agitation_max) & (
                wave["airflow"] >= p.at_max_fraction * p.airflow_max
            )
            deficit = setpoint - do
            known = wave.measured(*self.inputs)
            short, still_short = deficit > p.do_deficit, deficit > p.do_deficit / 2
            on = self.latches.update(
                wave.slots, 0, enter=saturated & short, stay=saturated & still_short, known=known
            )
        return [Findings(
            self.name, "do", Severity.CRITICAL, on, known, do, setpoint - p.do_deficit,
            lambda i: self._explain(wave, i),
        )]

    def _explain(self, wave: Wave, i: int) -> Explanation:
        do, setpoint = float(wave["do"][i]), float(wave.setpoint("do")[i])
        drops, _ = self.histories.recent.change(
            wave.slots[i : i + 1], wave.times[i : i + 1], "do", wave["do"][i : i + 1], span_s=3600.0, tolerance_s=1800.0
        )
        drop = float(drops[0])
        trend = f", {explain.quantity('do', abs(drop))} lower than an hour ago" if drop < 0 else ""
        what = (
            f"DO {explain.quantity('do', do)} is {explain.quantity('do', setpoint - do)} below its set point "
            f"{explain.quantity('do', setpoint)}{trend} while agitation is at its maximum "
            f"{explain.quantity('agitation', float(wave['agitation'][i]))} and airflow at "
            f"{explain.quantity('airflow', float(wave['airflow'][i]))}"
        )
        return Explanation(
            what,
            causes=("oxygen-transfer limitation (sparger clog, gas supply loss)",
                    "oxygen demand above the vessel's capacity", "contamination"),
            action="Check the gas supply and sparger first.",
        )


@dataclass
class _Balance(SlotArrays):
    fast: FloatArray = per_slot(fill=np.nan)
    reference: FloatArray = per_slot(fill=np.nan)
    averaged_s: FloatArray = per_slot(fill=0.0)
    last_time: FloatArray = per_slot(fill=np.nan)
    frozen: BoolArray = per_slot(fill=False)


class OxygenBalanceCheck(Check):
    """Warn when the oxygen the cascade transfers no longer matches what the culture demands."""

    name = "oxygen_balance"
    inputs = ("do", "agitation", "airflow", "volume")

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.balance = self.remember(_Balance.create(1))
        self.latches = self.remember(Latches.create(1))

    def cannot_run(self, measured: Collection[str], interval_s: float) -> str | None:
        if "vcd" not in measured and "biomass" not in measured:
            return "needs VCD or biomass, which this reactor does not measure"
        return super().cannot_run(measured, interval_s)

    def log_ratio(self, wave: Wave) -> FloatArray:
        """log r per reading; NaN where it is not informative (DO near saturation, too few cells)."""
        p = self.config.process
        cells, _ = biomass_or_cells(wave)
        return log_transfer_ratio(
            do=wave["do"], agitation=wave["agitation"], airflow=wave["airflow"], volume=wave["volume"],
            temperature=wave["temperature"], cells=cells,
            power_exponent=p.kla_power_exponent, gas_exponent=p.kla_gas_exponent,
        )

    def evaluate(self, wave: Wave) -> list[Findings]:
        p, b, slots = self.config.process, self.balance, wave.slots
        value = self.log_ratio(wave)
        known = ~np.isnan(value)
        dt = np.nan_to_num(wave.times - b.last_time[slots], nan=0.0).clip(0.0, MAX_STEP_S)
        fast, reference = smooth(b.fast[slots], b.reference[slots], dt, value, p.oxygen_reference_h)
        reference = np.where(b.frozen[slots], b.reference[slots], reference)
        gap = np.where(b.averaged_s[slots] >= READY_S, fast - reference, np.nan)
        limit = p.oxygen_balance_limit
        with np.errstate(invalid="ignore"):
            on = self.latches.update(
                slots, 0, enter=np.abs(gap) > limit, stay=np.abs(gap) > limit / 2, known=known & ~np.isnan(gap)
            )
        b.fast[slots[known]] = fast[known]
        b.reference[slots[known]] = reference[known]
        b.averaged_s[slots[known]] += dt[known]
        b.last_time[slots[known]] = wave.times[known]
        b.frozen[slots] = on
        return [Findings(
            self.name, "do", Severity.WARNING, on, known & ~np.isnan(gap), wave["do"], np.exp(gap),
            lambda i: self._explain(wave, i, float(gap[i])),
        )]

    def _explain(self, wave: Wave, i: int, gap: float) -> Explanation:
        cells, label = biomass_or_cells(wave)
        amount = f"{label} {float(cells[i]):.2f}"
        what = (
            f"oxygen balance off: at agitation {explain.quantity('agitation', float(wave['agitation'][i]))}, "
            f"airflow {explain.quantity('airflow', float(wave['airflow'][i]))} and DO "
            f"{explain.quantity('do', float(wave['do'][i]))} the vessel transfers x{np.exp(gap):.2f} the oxygen "
            f"per unit of culture it did over the preceding {self.config.process.oxygen_reference_h:g} h ({amount})"
        )
        if gap > 0:
            causes: tuple[str, ...] = (
                "gas transfer lost (sparger clog, gas supply): the cascade works harder",
                "extra oxygen demand from contamination",
                "DO probe reading low (drift or fouling)",
            )
            action = "Check the gas supply and sparger, then take a sample for a sterility check."
        else:
            causes = ("DO probe reading high (drift or fouling): the controller holds a false value",
                      f"{label} measurement reading high")
            action = "Compare the DO probe with an offline blood-gas measurement."
        return Explanation(what, causes=causes, action=action)
