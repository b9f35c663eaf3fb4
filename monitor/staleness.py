"""Is a reactor silent? Judged against its own stream's pace and this machine's clock, never another reactor's.

A live reactor reports in real time; a replay may stream a day per minute. So
for each reactor the service tracks when its readings arrive (wall clock) and
how much data time they cover: the *pace* (data seconds per wall second).
Silence in wall time, times the pace, is how long the reactor has been silent
on its own data clock; the engine's stale alarm fires when that passes the
timeout. Short wall-clock pauses (a garbage collection, a broker hiccup) are
not silence: the reactor must be overdue by several of its own arrival
intervals and by a floor of seconds before anything is judged.

>>> pace = StreamPace()
>>> for wall, data in [(0.0, 0.0), (1.0, 3600.0), (2.0, 7200.0)]:  # an hour of data per second
...     pace.saw(data, wall)
>>> pace.silent(3.0)  # one second late: not yet overdue
datetime.timedelta(0)
>>> pace.silent(12.0)  # ten seconds of silence at 3600x: ten hours of data time
datetime.timedelta(seconds=36000)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

#: Weight of the newest arrival in the running means of the pace and the arrival interval.
WEIGHT = 0.2
#: A reactor is overdue only after this many of its usual arrival intervals...
OVERDUE_INTERVALS = 5.0
#: ...and at least this many seconds of wall time.
FLOOR_S = 5.0


@dataclass
class StreamPace:
    """The arrival rhythm of one reactor's readings."""

    last_data: float | None = None  # data time of the last reading (s since the epoch)
    last_wall: float | None = None  # when it arrived (monotonic s)
    pace: float | None = None  # data seconds per wall second (real time until known)
    interval: float | None = None  # wall seconds between arrivals

    def saw(self, data_time: float, wall_time: float) -> None:
        """A reading stamped ``data_time`` arrived at ``wall_time``."""
        if self.last_data is not None and self.last_wall is not None:
            data_step, wall_step = data_time - self.last_data, wall_time - self.last_wall
            if wall_step > 0 and data_step > 0:
                ratio = min(data_step / wall_step, 1e7)
                self.interval = _blend(self.interval, wall_step)
                self.pace = _blend(self.pace, ratio)
        self.last_data, self.last_wall = data_time, wall_time

    def silent(self, wall_now: float) -> timedelta:
        """How long the reactor has been silent on its own data clock (zero while it is not overdue)."""
        if self.last_wall is None:
            return timedelta(0)
        waited = wall_now - self.last_wall
        if waited < max(FLOOR_S, OVERDUE_INTERVALS * (self.interval or 0.0)):
            return timedelta(0)
        return timedelta(seconds=waited * (self.pace or 1.0))


def _blend(mean: float | None, value: float) -> float:
    return value if mean is None else (1 - WEIGHT) * mean + WEIGHT * value
