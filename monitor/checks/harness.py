"""Run one check over readings one at a time, as the engine runs it: for examples and tests.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.limits import LimitCheck
>>> harness = CheckHarness(LimitCheck)
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> harness.feed(reading_at(t0, glucose=0.9)), harness.feed(reading_at(t0 + timedelta(minutes=5), glucose=4.0))
(['limit_low:glucose'], [])
"""

from __future__ import annotations

from bioreactor.contract import Reading
from monitor.checks.base import Check, Explanation, Findings
from monitor.config import MonitorConfig
from monitor.pipeline import Pipeline


class CheckHarness:
    """A pipeline with one check; :meth:`feed` returns the alarm keys whose condition holds."""

    def __init__(self, check: type[Check], config: MonitorConfig | None = None) -> None:
        self.pipeline = Pipeline(config or MonitorConfig.default(), [check])
        self.last: list[Findings] = []

    def feed(self, reading: Reading) -> list[str]:
        """Findings holding for ``reading``, as ``check:variable`` (``check`` alone without a variable)."""
        self.last = [f for f in self.pipeline.findings(self.pipeline.wave([reading])) if f.known[0] and f.holds[0]]
        return [f.check + (f":{f.variable}" if f.variable else "") for f in self.last]

    def explain(self, key: str) -> Explanation:
        """The explanation of the finding ``key`` of the last reading."""
        for f in self.last:
            if f.check + (f":{f.variable}" if f.variable else "") == key:
                return f.explain(0)
        raise KeyError(key)
