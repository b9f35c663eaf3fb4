"""What every check shares: findings, explanations, latches and the recent history.

A check is a small object built from the configuration; it keeps no data itself.
Everything it remembers about one reactor lives in a *state* object that the
engine stores per reactor (and pickles with ``save_state``), so the same check
code runs online and offline.
"""

from __future__ import annotations

import bisect
import itertools
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Generic, TypeVar

from bioreactor.contract import Reading, Severity
from monitor.config import MonitorConfig

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Explanation:
    """The parts of an alarm message, rendered by :func:`monitor.explain.render`.

    ``what`` names the observation and its size; ``corroborating`` the other signals
    that agree; ``causes`` the likely causes, most likely first; ``action`` the
    first thing an operator should check.
    """

    what: str
    corroborating: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    action: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """A condition a check sees in the current reading (before on/off delays).

    >>> f = Finding("limit_low", Severity.WARNING, Explanation("glucose low"), "glucose", 0.8, 1.0)
    >>> f.key
    ('limit_low', 'glucose')
    """

    check: str
    severity: Severity
    explanation: Explanation
    variable: str | None = None
    value: float | None = None
    limit: float | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        """Identity of the alarm this finding feeds: one alarm per check and variable."""
        return (self.check, self.variable)


@dataclass(slots=True)
class Latch:
    """Hysteresis: a condition enters at one threshold and leaves at another.

    >>> latch = Latch()
    >>> [latch.update("x", enter=v > 10, stay=v > 8) for v in (9, 11, 9, 7)]
    [False, True, True, False]
    """

    on: set[str] = field(default_factory=set)

    def update(self, key: str, *, enter: bool, stay: bool) -> bool:
        """Whether ``key`` is latched after this sample."""
        if (key in self.on and stay) or enter:
            self.on.add(key)
            return True
        self.on.discard(key)
        return False


def _timestamp(reading: Reading) -> datetime:
    return reading.timestamp


class History:
    """The recent readings of one reactor's current batch, newest last.

    >>> from datetime import datetime, UTC
    >>> h = History(timedelta(hours=1))
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> for i in range(20):
    ...     h.append(reading_at(t0 + timedelta(minutes=5 * i), do=40.0 - i))
    >>> len(h), h.latest.do
    (13, 21.0)
    >>> h.change("do", timedelta(minutes=30))
    -6.0
    """

    def __init__(self, span: timedelta) -> None:
        self.span = span
        self._readings: deque[Reading] = deque()

    def append(self, reading: Reading) -> None:
        """Add the newest reading and forget those older than the span."""
        self._readings.append(reading)
        oldest = reading.timestamp - self.span
        while self._readings[0].timestamp < oldest:
            self._readings.popleft()

    def __len__(self) -> int:
        return len(self._readings)

    def __iter__(self) -> Iterator[Reading]:
        return iter(self._readings)

    @property
    def latest(self) -> Reading:
        """The newest reading (``IndexError`` when empty)."""
        return self._readings[-1]

    def before(self, age: timedelta) -> Reading | None:
        """The newest reading at least ``age`` older than the latest, if history reaches back."""
        cutoff = self._readings[-1].timestamp - age
        index = bisect.bisect_right(self._readings, cutoff, key=_timestamp)
        return self._readings[index - 1] if index else None

    def change(self, variable: str, age: timedelta) -> float | None:
        """How much ``variable`` moved over ``age`` (``None`` if unknown)."""
        past = self.before(age)
        if past is None:
            return None
        now, then = getattr(self.latest, variable), getattr(past, variable)
        if now is None or then is None:
            return None
        return float(now - then)

    def smoothed_change(
        self, variable: str, age: timedelta, over: timedelta = timedelta(hours=1)
    ) -> float | None:
        """How much the mean of ``variable`` over ``over`` moved in ``age`` (noisy analysers).

        >>> from datetime import datetime, UTC
        >>> h = History(timedelta(hours=6))
        >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
        >>> for i in range(60):
        ...     h.append(reading_at(t0 + timedelta(minutes=5 * i), lactate=1.0 + 0.01 * i))
        >>> round(h.smoothed_change("lactate", timedelta(hours=3)), 2)
        0.35
        """
        past = self.before(age)
        now = self.values(variable, over)
        if past is None or not now:
            return None
        earlier = [
            float(v) for r in self._readings
            if past.timestamp - over < r.timestamp <= past.timestamp
            and (v := getattr(r, variable)) is not None
        ]
        return sum(now) / len(now) - sum(earlier) / len(earlier) if earlier else None

    def settled(self, field: str, span: timedelta) -> bool:
        """Whether set point ``field`` has not changed over the last ``span``.

        Deviations from a set point are meaningless while the loop follows a new one
        (e.g. the planned 37 -> 33 °C shift), so such alarms wait for it to settle.
        """
        current = getattr(self._readings[-1], field)
        cutoff = self._readings[-1].timestamp - span
        for reading in reversed(self._readings):
            if reading.timestamp < cutoff:
                break
            if getattr(reading, field) != current:
                return False
        return True

    def values(self, variable: str, age: timedelta) -> list[float]:
        """The known values of ``variable`` over the last ``age``, oldest first."""
        cutoff = self._readings[-1].timestamp - age
        start = bisect.bisect_left(self._readings, cutoff, key=_timestamp)
        out = [getattr(r, variable) for r in itertools.islice(self._readings, start, None)]
        return [float(v) for v in out if v is not None]


#: The set-point field of each controlled variable.
SETPOINTS: dict[str, str] = {
    "do": "do_setpoint", "ph": "ph_setpoint", "temperature": "temperature_setpoint"
}


def deviation(reading: Reading, variable: str, defaults: Mapping[str, float] | None = None) -> float | None:
    """``variable`` minus its set point (the reading's, else ``defaults``), or the value itself
    for a variable without a set point.

    >>> from datetime import datetime, UTC
    >>> r = reading_at(datetime(2026, 1, 1, tzinfo=UTC), temperature=33.4, temperature_setpoint=33.0)
    >>> round(deviation(r, "temperature"), 2), deviation(r, "glucose")
    (0.4, 4.0)
    """
    value = getattr(reading, variable)
    if value is None:
        return None
    setpoint = getattr(reading, SETPOINTS[variable]) if variable in SETPOINTS else None
    if setpoint is None and variable in SETPOINTS and defaults is not None:
        setpoint = defaults.get(variable)
    return float(value) if setpoint is None else float(value - setpoint)


def clock(reading: Reading) -> datetime:
    """The reading's time as naive UTC, the form ``river.utils.TimeRolling`` compares."""
    return reading.timestamp.astimezone(UTC).replace(tzinfo=None)


class Check(ABC, Generic[S]):
    """A rule evaluated on every reading of a reactor.

    Subclasses set ``name`` (used in the configuration to disable it), build their
    parameters from the configuration and return the findings that hold now.
    """

    name: ClassVar[str]

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        #: How long deviation checks wait after a set-point change.
        self.settle = timedelta(minutes=config.alarms.settle_min)
        #: Set points for readings that carry none (e.g. a plant CSV), built once.
        self.default_setpoints = config.default_setpoints()

    def setpoint(self, reading: Reading, variable: str) -> float:
        """The set point of ``variable`` (``do``, ``ph``, ``temperature``): the reading's own,
        else the configured default."""
        own = getattr(reading, SETPOINTS[variable])
        return float(own) if own is not None else self.default_setpoints[variable]

    @abstractmethod
    def new_state(self) -> S:
        """Fresh per-reactor memory for a new batch."""

    @abstractmethod
    def evaluate(self, reading: Reading, history: History, state: S) -> list[Finding]:
        """Update ``state`` with ``reading`` (already appended to ``history``); return findings."""


class LatchCheck(Check[Latch]):
    """A check whose only memory is its hysteresis latch."""

    def new_state(self) -> Latch:
        return Latch()


def reading_at(timestamp: object, **values: object) -> Reading:
    """A plausible mid-culture reading with ``values`` overriding it (for examples and tests).

    >>> from datetime import datetime, UTC
    >>> reading_at(datetime(2026, 1, 1, tzinfo=UTC), glucose=0.2).glucose
    0.2
    """
    base: dict[str, object] = {
        "reactor_id": "R01", "batch_id": "B001", "seq": 0, "culture_h": 100.0,
        "vcd": 10.0, "viability": 95.0, "glucose": 4.0, "lactate": 1.5, "do": 40.0,
        "ph": 7.0, "temperature": 37.0, "agitation": 150.0, "airflow": 0.1,
        "feed_rate": 5.0, "volume": 2.3, "titer": 1.0, "base_rate": 0.5,
        "do_setpoint": 40.0, "ph_setpoint": 7.0, "temperature_setpoint": 37.0,
    }
    base.update(values)
    return Reading(timestamp=timestamp, **base)  # type: ignore[arg-type]
