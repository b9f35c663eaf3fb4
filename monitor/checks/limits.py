"""Fixed alarm limits per variable with hysteresis: L/H warnings, LL/HH critical alarms.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import History, reading_at
>>> check = LimitCheck(MonitorConfig.default())
>>> state, history = check.new_state(), History(timedelta(hours=1))
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> def run(glucose):
...     history.append(r := reading_at(t0, glucose=glucose))
...     return [f.check for f in check.evaluate(r, history, state)]
>>> run(0.9), run(1.3), run(1.6)
(['limit_low'], ['limit_low'], [])
"""

from __future__ import annotations

from dataclasses import dataclass

from bioreactor.contract import Reading, Severity
from monitor import explain
from monitor.checks.base import Explanation, Finding, History, Latch, LatchCheck
from monitor.config import Limit, MonitorConfig

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
        ("oxygen demand above transfer capacity", "sparger clog or gas-supply loss",
         "agitator fault", "DO probe fault"),
        "Check the gas supply, agitator and DO cascade output.",
    ),
    ("ph", "low"): (
        ("base pump or line failure", "lactate accumulation", "CO2 accumulation", "pH probe drift"),
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
    level: str
    direction: str
    severity: Severity
    offset: float


class LimitCheck(LatchCheck):
    """Raise when a variable crosses a configured limit; clear once back inside by the deadband."""

    name = "limit"

    def __init__(self, config: MonitorConfig) -> None:
        super().__init__(config)
        self._bounds = [
            (limit, [
                _Bound(level, direction, severity, offset)
                for level, direction, severity in _LEVELS
                if (offset := getattr(limit, level)) is not None
            ])
            for limit in config.limits
        ]

    def evaluate(self, reading: Reading, history: History, state: Latch) -> list[Finding]:
        findings = []
        for limit, bounds in self._bounds:
            value = getattr(reading, limit.variable)
            if value is None:
                continue
            if limit.relative_to is not None and not history.settled(limit.relative_to, self.settle):
                continue
            reference = _reference(limit, reading)
            for bound in bounds:
                threshold = reference + bound.offset
                sign = -1.0 if bound.direction == "low" else 1.0
                beyond = sign * (value - threshold)
                if state.update(
                    f"{limit.variable}:{bound.level}",
                    enter=beyond > 0,
                    stay=beyond > -limit.deadband,
                ):
                    findings.append(self._finding(limit, bound, value, threshold, reference))
        return findings

    def _finding(
        self, limit: Limit, bound: _Bound, value: float, threshold: float, reference: float
    ) -> Finding:
        var = limit.variable
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
            details = [
                f"the limit with its {explain.quantity(var, limit.deadband)} deadband",
                f"now {explain.quantity(var, value)}",
                *setpoint,
            ]
        if details:
            what += f" ({'; '.join(details)})"
        causes, action = _ADVICE.get((var, bound.direction), ((), "Check the trend and the sensor."))
        return Finding(
            check=f"limit_{bound.level}",
            severity=bound.severity,
            explanation=Explanation(what, causes=causes, action=action),
            variable=var,
            value=float(value),
            limit=threshold,
        )


def _reference(limit: Limit, reading: Reading) -> float:
    """The value the limits are offsets from: the set point, or 0 for absolute limits."""
    if limit.relative_to is None:
        return 0.0
    setpoint = getattr(reading, limit.relative_to)
    if setpoint is None:
        setpoint = limit.default_setpoint
    return 0.0 if setpoint is None else float(setpoint)
