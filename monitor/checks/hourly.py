"""Hourly means of a few signals, for trends slower than the shared 12-hour history.

A probe that drifts by a few hundredths of a pH unit a day shows only in how the
control loop's action changes over a day or more. Keeping one mean per clock hour
reaches that far back for a handful of numbers instead of every reading.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> means = HourlyMeans(("co2_flow",), hours=48)
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> for i in range(12 * 30):  # 30 h of 5-min readings, the flow rising 0.1 mL/min an hour
...     means.add(reading_at(t0 + timedelta(minutes=5 * i), co2_flow=i // 12 / 10))
>>> means.mean("co2_flow", 0), means.mean("co2_flow", 24)  # the last complete hour, and a day before it
(2.8, 0.4)
>>> means.mean("co2_flow", 30) is None  # before the first reading
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bioreactor.contract import Reading


@dataclass(slots=True)
class HourlyMeans:
    """The means of ``variables`` per completed clock hour, for the last ``hours`` hours."""

    variables: tuple[str, ...]
    hours: int
    _closed: dict[int, dict[str, float]] = field(default_factory=dict)
    _hour: int | None = None
    _sums: dict[str, tuple[float, int]] = field(default_factory=dict)

    def add(self, reading: Reading) -> None:
        """Account for ``reading`` (readings arrive in time order)."""
        hour = int(reading.timestamp.timestamp() // 3600)
        if hour != self._hour:
            self._close(hour)
        for variable in self.variables:
            value = getattr(reading, variable)
            if value is not None:
                total, count = self._sums.get(variable, (0.0, 0))
                self._sums[variable] = (total + float(value), count + 1)

    @property
    def latest_hour(self) -> int | None:
        """The clock hour (hours since the epoch) of the latest completed mean, if any."""
        return None if self._hour is None else self._hour - 1

    def mean(self, variable: str, hours_ago: int) -> float | None:
        """The mean over the completed hour ``hours_ago`` before the latest completed one (0: that one)."""
        if self.latest_hour is None:
            return None
        return self._closed.get(self.latest_hour - hours_ago, {}).get(variable)

    def span_mean(self, variable: str, first: int, last: int) -> float | None:
        """The mean of the hourly means ``first`` to ``last`` hours ago, if at least half are known."""
        known = [m for ago in range(first, last + 1) if (m := self.mean(variable, ago)) is not None]
        return sum(known) / len(known) if 2 * len(known) >= last - first + 1 else None

    def _close(self, new_hour: int) -> None:
        if self._hour is not None:
            self._closed[self._hour] = {v: total / count for v, (total, count) in self._sums.items()}
        self._hour, self._sums = new_hour, {}
        for hour in [h for h in self._closed if h < new_hour - 1 - self.hours]:
            del self._closed[hour]
