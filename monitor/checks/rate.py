"""Rate of change: a variable moving faster than the process can move it.

The change is taken over a span of time (``rate_span_min``, or one sampling
interval of a sparser reactor), not between consecutive fast samples, so that
measurement noise does not masquerade as speed.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.harness import CheckHarness
>>> harness = CheckHarness(RateCheck)
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> found = [harness.feed(reading_at(t0 + timedelta(minutes=5 * i), do=40.0 - max(0, i - 5) * 6))
...          for i in range(12)]
>>> found[6], found[9]
([], ['rate:do'])
"""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

import numpy as np

from bioreactor.contract import Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Findings, Histories, Latches
from monitor.config import MonitorConfig
from monitor.slots import FloatArray, Slots
from monitor.wave import Wave


class RateCheck(Check):
    """Warn when a variable changes faster than its configured rate per hour."""

    name = "rate"

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.rates = dict(config.statistics.rate_per_h)
        self.span_s = config.statistics.rate_span_min * 60.0
        self.latches = self.remember(Latches.create(1, on=(max(len(self.rates), 1),)))

    def cannot_run(self, measured: Collection[str], interval_s: float) -> str | None:
        if not any(v in measured for v in self.rates):
            return f"needs one of {', '.join(self.rates)}, which this reactor does not measure"
        return None

    def evaluate(self, wave: Wave) -> list[Findings]:
        interval = np.nan_to_num(wave.interval_s, nan=0.0)
        span = np.maximum(self.span_s, interval)
        found = []
        for key, (variable, limit) in enumerate(self.rates.items()):
            value = wave[variable]
            change, apart = self.histories.recent.change(
                wave.slots, wave.times, variable, value, span_s=span, tolerance_s=np.maximum(interval, 600.0)
            )
            rate = change / (apart / 3600.0)
            known = ~np.isnan(rate) & wave.settled(variable, self.settle_s)
            with np.errstate(invalid="ignore"):
                on = self.latches.update(
                    wave.slots, key, enter=np.abs(rate) > limit, stay=np.abs(rate) > limit / 2, known=known
                )
            found.append(Findings(
                self.name, variable, Severity.WARNING, on, known, value, np.full(len(wave), limit),
                partial(_explain, variable, value, rate, limit),
            ))
        return found


def _explain(variable: str, values: FloatArray, rates: FloatArray, limit: float, i: int) -> Explanation:
    name = explain.label(variable)
    unit = explain.UNITS.get(variable, "")
    value, rate = float(values[i]), float(rates[i])
    what = (
        f"{name} is {'rising' if rate > 0 else 'falling'} at {abs(rate):.3g} {unit}/h "
        f"(now {explain.quantity(variable, value)}; plausible at most {limit:g} {unit}/h)"
    )
    return Explanation(
        what,
        causes=("equipment or control failure", "sensor fault", "manual intervention"),
        action=f"Check the {name} controller output and the probe.",
    )
