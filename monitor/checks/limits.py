"""Fixed alarm limits per variable with hysteresis: L/H warnings, LL/HH critical alarms.

Limits are learnt from a profile's reference batches or configured; DO, pH and
temperature limits are offsets from their set point, and wait after a set-point
change while the loop follows it.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.harness import CheckHarness
>>> harness = CheckHarness(LimitCheck)
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> [harness.feed(reading_at(t0 + timedelta(minutes=5 * i), glucose=g)) for i, g in enumerate((0.9, 1.3, 1.6))]
[['limit_low:glucose'], ['limit_low:glucose'], []]
>>> harness.feed(reading_at(t0 + timedelta(minutes=20), glucose=0.2))
['limit_low_low:glucose', 'limit_low:glucose']
>>> print(harness.explain("limit_low_low:glucose").what)
glucose 0.20 g/L is 0.30 g/L below its low-low limit 0.50 g/L
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import partial

import numpy as np

from bioreactor.contract import Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Findings, Histories, Latches
from monitor.config import Limit, MonitorConfig
from monitor.slots import FloatArray, Slots
from monitor.wave import Wave

#: Likely causes and first action when a variable leaves its range, per direction.
_ADVICE: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("glucose", "low"): (
        ("feed too small or missed", "feed line blocked or pump stopped", "uptake faster than planned"),
        "Check the feed pump and line, then the feed schedule.",
    ),
    ("glucose", "high"): (
        ("overfeeding (wrong feed rate or concentrate)", "uptake has slowed (growth stopped)"),
        "Check the feed pump rate against the schedule.",
    ),
    ("lactate", "high"): (
        ("overflow metabolism from high glucose", "oxygen limitation", "high pCO2 or pH excursion"),
        "Check glucose, DO and pH trends.",
    ),
    ("do", "low"): (
        ("oxygen demand above transfer capacity", "sparger clog or gas-supply loss", "agitator fault",
         "DO probe fault"),
        "Check the gas supply, agitator and DO cascade output.",
    ),
    ("ph", "low"): (
        ("base pump or line failure", "acid accumulation (lactate, CO2)", "pH probe drift"),
        "Check base delivery and compare with an offline pH sample.",
    ),
    ("ph", "high"): (
        ("excess base addition", "CO2 stripping by high airflow", "pH probe drift"),
        "Compare with an offline pH sample and check the base pump.",
    ),
    ("temperature", "low"): (
        ("temperature-control failure (jacket/heater)", "temperature probe fault"),
        "Check the heater/jacket and the temperature controller.",
    ),
    ("temperature", "high"): (
        ("temperature-control failure (cooling)", "temperature probe fault"),
        "Check the cooling water and the temperature controller.",
    ),
    ("viability", "low"): (
        ("nutrient starvation", "contamination", "shear or oxygen stress", "late-culture decline"),
        "Take a sample for a cell count and a sterility check.",
    ),
}

_LEVELS: tuple[tuple[str, str, Severity], ...] = (
    ("low_low", "low", Severity.CRITICAL),
    ("low", "low", Severity.WARNING),
    ("high", "high", Severity.WARNING),
    ("high_high", "high", Severity.CRITICAL),
)


@dataclass(frozen=True, slots=True)
class _Bound:
    limit: Limit
    level: str
    direction: str
    severity: Severity
    offset: float


class LimitCheck(Check):
    """Raise when a variable crosses a limit; clear once back inside by the deadband."""

    name = "limit"

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self._bounds = [
            _Bound(limit, level, direction, severity, offset)
            for limit in self.config.limits
            for level, direction, severity in _LEVELS
            if (offset := getattr(limit, level)) is not None
        ]
        self.latches = self.remember(Latches.create(1, on=(max(len(self._bounds), 1),)))

    def cannot_run(self, measured: Collection[str], interval_s: float) -> str | None:
        if not any(b.limit.variable in measured for b in self._bounds):
            return "no variable with limits is measured"
        return None

    def evaluate(self, wave: Wave) -> list[Findings]:
        found = []
        for key, bound in enumerate(self._bounds):
            limit = bound.limit
            value = wave[limit.variable]
            relative = limit.relative_to is not None
            reference = wave.setpoint(limit.variable) if relative else np.zeros(len(wave))
            known = ~np.isnan(value) & (wave.settled(limit.variable, self.settle_s) if relative else True)
            threshold = reference + bound.offset
            beyond = (threshold - value) if bound.direction == "low" else (value - threshold)
            with np.errstate(invalid="ignore"):
                on = self.latches.update(
                    wave.slots, key, enter=beyond > 0, stay=beyond > -limit.deadband, known=known
                )
            found.append(Findings(
                f"limit_{bound.level}", limit.variable, bound.severity, on, known, value, threshold,
                partial(_explain, bound, value, threshold, reference),
            ))
        return found


def _explain(bound: _Bound, values: FloatArray, thresholds: FloatArray, references: FloatArray, i: int) -> Explanation:
    value, threshold, reference = float(values[i]), float(thresholds[i]), float(references[i])
    limit, var = bound.limit, bound.limit.variable
    name = explain.label(var)
    level = bound.level.replace("_", "-")
    side = "below" if bound.direction == "low" else "above"
    past = value < threshold if bound.direction == "low" else value > threshold
    setpoint = [f"set point {explain.quantity(var, reference)}"] if limit.relative_to is not None else []
    if past:
        what = (
            f"{name} {explain.quantity(var, value)} is {explain.quantity(var, abs(value - threshold))} "
            f"{side} its {level} limit {explain.quantity(var, threshold)}"
        )
        details = setpoint
    else:  # latched: back at the limit but not yet beyond the deadband
        clear_at = threshold + (limit.deadband if bound.direction == "low" else -limit.deadband)
        back = "above" if bound.direction == "low" else "below"
        what = (
            f"{name} went {side} its {level} limit {explain.quantity(var, threshold)} and is not yet "
            f"back {back} {explain.quantity(var, clear_at)}"
        )
        details = [f"the limit with its {explain.quantity(var, limit.deadband)} deadband",
                   f"now {explain.quantity(var, value)}", *setpoint]
    if details:
        what += f" ({'; '.join(details)})"
    causes, action = _ADVICE.get((var, bound.direction), ((), "Check the trend and the sensor."))
    return Explanation(what, causes=causes, action=action)

