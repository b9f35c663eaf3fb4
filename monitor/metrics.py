"""Health counters of the monitor service and their periodic :class:`~bioreactor.contract.Metrics`.

>>> from datetime import datetime, UTC
>>> counters = ServiceCounters()
>>> meter = MetricsMeter("monitor", started=0.0)
>>> counters.readings += 50
>>> m = meter.sample(counters, now=10.0, timestamp=datetime(2026, 1, 1, tzinfo=UTC),
...                  queue_depth=3, active_alarms=2, backpressure_waits=0)
>>> m.readings_per_s, m.queue_depth, m.active_alarms
(5.0, 3, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bioreactor.contract import Metrics


@dataclass(slots=True)
class ServiceCounters:
    """Running totals since the service started; written by the worker thread only."""

    #: Every message taken from the broker, whatever became of it.
    messages: int = 0
    readings: int = 0
    redeliveries: int = 0
    dead_letters: int = 0
    events: int = 0
    acknowledgements: int = 0
    recommendations: int = 0
    errors: int = 0
    data_gaps: int = 0


class MetricsMeter:
    """Turns running totals into a :class:`Metrics` with a rate over the last interval.

    Parameters
    ----------
    source
        Who reports (the service's client id).
    started
        ``time.monotonic()`` when counting began.
    """

    def __init__(self, source: str, started: float) -> None:
        self.source = source
        self._last_time = started
        self._last_readings = 0

    def sample(
        self,
        counters: ServiceCounters,
        *,
        now: float,
        timestamp: datetime,
        queue_depth: int,
        active_alarms: int,
        backpressure_waits: int,
    ) -> Metrics:
        """The figures now; ``now`` is ``time.monotonic()``, ``timestamp`` the wall-clock time."""
        elapsed = now - self._last_time
        rate = (counters.readings - self._last_readings) / elapsed if elapsed > 0 else 0.0
        self._last_time, self._last_readings = now, counters.readings
        return Metrics(
            source=self.source,
            timestamp=timestamp,
            readings_per_s=max(rate, 0.0),
            readings=counters.readings,
            queue_depth=queue_depth,
            active_alarms=active_alarms,
            dead_letters=counters.dead_letters,
            errors=counters.errors,
            data_gaps=counters.data_gaps,
            backpressure_waits=backpressure_waits,
        )
