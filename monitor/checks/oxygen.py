"""Oxygen: the cascade's transfer against the culture's demand.

At quasi-steady state the oxygen the vessel transfers equals what the cells take
up: kLa (C* - C) = qO2 VCD. kLa follows from agitation, airflow and volume by the
van 't Riet correlation (domain notes), so the ratio

    r = kLa(N, Q, V) · C*(T) · (1 - DO/100) / VCD

stays nearly constant for a healthy batch whatever the cascade does. It rises when
transfer is lost (the cascade works harder for the same demand: sparger clog, gas
supply), when an organism other than the cells consumes oxygen (contamination) or
when the DO probe reads low; it falls when the DO probe reads high. The check
compares a fast average of log r with its reference over the preceding hours,
frozen while the alarm stands so the reference does not absorb the fault.

>>> import math
>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import History, reading_at
>>> config = MonitorConfig.default()
>>> check = OxygenBalanceCheck(config)
>>> state, history = check.new_state(), History(timedelta(hours=12))
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> first = None
>>> for i in range(400):
...     agitation = 150.0 if i < 300 else 230.0  # the cascade speeds up with no more cells
...     history.append(r := reading_at(t0 + timedelta(minutes=5 * i), agitation=agitation))
...     if check.evaluate(r, history, state) and first is None:
...         first = i
>>> first
302
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from river import stats, utils

from bioreactor.contract import Reading, Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Finding, History, Latch, LatchCheck, clock
from monitor.config import MonitorConfig, ProcessSettings

#: Air density is irrelevant here: kLa is only compared with itself, so constants cancel.
WATER_DENSITY = 1000.0  # kg/m3
#: Fading factor of the fast average (about the last hour at 5-minute sampling).
FAST_FADING = 0.3


def relative_kla(reading: Reading, process: ProcessSettings) -> float | None:
    """kLa up to a constant factor: (P/V)^b · v_s^c, SI units (None without volume or gas).

    >>> from datetime import datetime, UTC
    >>> from monitor.checks.base import reading_at
    >>> p = MonitorConfig.default().process
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> relative_kla(reading_at(t, agitation=200), p) > relative_kla(reading_at(t, agitation=100), p)
    True
    """
    if reading.volume is None or reading.airflow <= 0:
        return None
    speed = reading.agitation / 60.0
    power = process.power_number * WATER_DENSITY * speed**3 * process.impeller_diameter**5
    power_per_volume = power / (reading.volume / 1000.0) + process.gas_mixing_power
    area = math.pi * process.vessel_diameter**2 / 4.0
    superficial = reading.airflow / 1000.0 / 60.0 / area
    return float(
        power_per_volume**process.kla_power_exponent * superficial**process.kla_gas_exponent
    )


def log_oxygen_ratio(reading: Reading, process: ProcessSettings) -> float | None:
    """log r, or None where it is not informative (DO near saturation, too few cells)."""
    kla = relative_kla(reading, process)
    if kla is None or reading.vcd < 0.3 or not 0.5 < reading.do < 85.0:
        return None
    # O2 solubility rises ~1.3 % per °C below 37 °C (domain notes: at 37 °C ≈ 0.2 mM).
    c_star = 1.0 + 0.013 * (37.0 - reading.temperature)
    return math.log(kla * c_star * (1.0 - reading.do / 100.0) / reading.vcd)


@dataclass(slots=True)
class BalanceState:
    """Fast average and reference window of log r."""

    fast: stats.EWMean = field(default_factory=lambda: stats.EWMean(fading_factor=FAST_FADING))
    reference: Any = None  # a river TimeRolling(stats.Mean), created at the first valid sample
    frozen: float | None = None
    latch: Latch = field(default_factory=Latch)

    def gap(self) -> float | None:
        """Fast average minus reference, once the reference holds enough samples."""
        if self.frozen is not None:
            return float(self.fast.get()) - self.frozen
        if self.reference is None or self.reference.obj.n < 24:
            return None
        return float(self.fast.get() - self.reference.get())


class OxygenBalanceCheck(Check[BalanceState]):
    """Warn when the oxygen the cascade transfers no longer matches what the VCD demands."""

    name = "oxygen_balance"

    def __init__(self, config: MonitorConfig) -> None:
        super().__init__(config)
        self.window = timedelta(hours=config.process.oxygen_reference_h)

    def new_state(self) -> BalanceState:
        return BalanceState()

    def evaluate(self, reading: Reading, history: History, state: BalanceState) -> list[Finding]:
        value = log_oxygen_ratio(reading, self.config.process)
        if value is None:
            return []
        if state.reference is None:
            state.reference = utils.TimeRolling(stats.Mean, period=self.window)
        state.fast.update(value)
        gap = state.gap()
        limit = self.config.process.oxygen_balance_limit
        latched = gap is not None and state.latch.update(
            "ratio", enter=abs(gap) > limit, stay=abs(gap) > limit / 2
        )
        if latched and state.frozen is None:
            state.frozen = float(state.reference.get())
        elif not latched:
            state.frozen = None
            state.reference.update(value, t=clock(reading))
        return [self._finding(reading, gap)] if latched and gap is not None else []

    def _finding(self, reading: Reading, gap: float) -> Finding:
        factor = math.exp(gap)
        what = (
            f"oxygen balance off: at agitation {explain.quantity('agitation', reading.agitation)}, "
            f"airflow {explain.quantity('airflow', reading.airflow)} and DO "
            f"{explain.quantity('do', reading.do)} the vessel transfers "
            f"x{factor:.2f} the oxygen per cell it did over the previous "
            f"{self.config.process.oxygen_reference_h:g} h (VCD {explain.quantity('vcd', reading.vcd)})"
        )
        if gap > 0:
            causes: tuple[str, ...] = (
                "gas transfer lost (sparger clog, gas supply): the cascade works harder",
                "extra oxygen demand from contamination",
                "DO probe reading low (drift or fouling)",
            )
            action = "Check the gas supply and sparger, then take a sample for a sterility check."
        else:
            causes = (
                "DO probe reading high (drift or fouling): the controller holds a false value",
                "VCD probe reading high",
            )
            action = "Compare the DO probe with an offline blood-gas measurement."
        return Finding(
            check=self.name,
            severity=Severity.WARNING,
            explanation=Explanation(what, causes=causes, action=action),
            variable="do",
            value=reading.do,
            limit=round(factor, 3),
        )


class OxygenTransferCheck(LatchCheck):
    """DO below set point although agitation and airflow are at their maximum."""

    name = "oxygen_transfer"

    def evaluate(self, reading: Reading, history: History, state: Latch) -> list[Finding]:
        p = self.config.process
        setpoint = self.setpoint(reading, "do")
        saturated = (
            reading.agitation >= p.at_max_fraction * p.agitation_max
            and reading.airflow >= p.at_max_fraction * p.airflow_max
        )
        deficit = setpoint - reading.do
        if not state.update("do", enter=saturated and deficit > p.do_deficit,
                            stay=saturated and deficit > p.do_deficit / 2):
            return []
        drop = history.change("do", timedelta(hours=1))
        trend = f", {explain.quantity('do', abs(drop))} lower than an hour ago" if drop and drop < 0 else ""
        what = (
            f"DO {explain.quantity('do', reading.do)} is {explain.quantity('do', deficit)} below its set point "
            f"{explain.quantity('do', setpoint)}{trend} while agitation is at its maximum "
            f"{explain.quantity('agitation', reading.agitation)} and airflow at "
            f"{explain.quantity('airflow', reading.airflow)}"
        )
        grew = history.change("vcd", timedelta(hours=6))
        demand = grew is not None and grew > 0.1 * reading.vcd
        causes = (
            "oxygen-transfer limitation (sparger clog, gas supply loss)",
            "oxygen demand above the vessel's capacity" + (" (VCD still rising)" if demand else ""),
            "contamination",
        )
        return [Finding(
            check=self.name,
            severity=Severity.CRITICAL,
            explanation=Explanation(
                what, causes=causes, action="Check the gas supply and sparger first."
            ),
            variable="do",
            value=reading.do,
            limit=setpoint - p.do_deficit,
        )]
