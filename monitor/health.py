"""The monitor's own alarm: a message it could not handle because of an unexpected error.

Such a message is dead-lettered and the service keeps going, but a reading may
have gone unchecked, so an operator must know. The alarm is raised on the first
error, counts the further ones while it stands (one alarm, not one per message:
EEMUA 191 floods), and clears after ``quiet`` without errors. Its times are this
machine's wall clock, published on ``bioreactor/_monitor/alarm``.

>>> from datetime import datetime, timedelta, UTC
>>> health = ServiceHealth("monitor-1", quiet=timedelta(minutes=10))
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> health.error("bioreactor/R1/reading", ValueError("boom"), t0).state.value
'raised'
>>> health.error("bioreactor/R1/reading", ValueError("again"), t0 + timedelta(minutes=1)) is None
True
>>> health.tick(t0 + timedelta(minutes=5)) is None
True
>>> print(health.tick(t0 + timedelta(minutes=12)).message)
Cleared: no unexpected error for 10 min; 2 message(s) were dead-lettered after 12 min in alarm.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bioreactor.contract import AlarmEvent, AlarmState, Severity, format_timestamp, replace
from monitor import explain

#: The reactor id of the monitor's own alarms (it cannot clash: reactor ids start with a letter or digit).
SERVICE_REACTOR = "_monitor"
CHECK = "monitor_error"


class ServiceHealth:
    """Raises and clears the monitor's own alarm as unexpected errors come and go.

    Parameters
    ----------
    source
        The monitor's client id (the alarm's ``batch_id``, so instances are told apart).
    quiet
        How long without errors before the alarm clears.
    """

    def __init__(self, source: str, quiet: timedelta = timedelta(minutes=10)) -> None:
        self.source = source
        self.quiet = quiet
        self.errors = 0
        self._active: AlarmEvent | None = None
        self._count = 0
        self._last: datetime | None = None

    def error(self, topic: str, error: BaseException, now: datetime) -> AlarmEvent | None:
        """Record an error on a message of ``topic``; the raised event if the alarm was not active."""
        self.errors += 1
        self._count += 1
        self._last = now
        if self._active is not None:
            self._active = replace(self._active, last_seen=now, value=float(self._count))
            return None
        message = (
            f"the monitor could not handle a message on {topic} ({type(error).__name__}: {error}); "
            "it was dead-lettered and the service goes on, but that input was not checked. "
            f"Likely cause: a bug in the monitor. Look at {explain.label('dead letters')} on "
            "bioreactor/_deadletter and the monitor's log."
        )
        self._active = AlarmEvent(
            alarm_id=f"{SERVICE_REACTOR}:{self.source}:{CHECK}:{format_timestamp(now)}",
            reactor_id=SERVICE_REACTOR,
            batch_id=self.source,
            check=CHECK,
            severity=Severity.CRITICAL,
            state=AlarmState.RAISED,
            timestamp=now,
            first_seen=now,
            last_seen=now,
            message=message[:4000],
            value=1.0,
        )
        return self._active

    def tick(self, now: datetime) -> AlarmEvent | None:
        """The cleared event once ``quiet`` has passed since the last error, else ``None``."""
        if self._active is None or self._last is None or now - self._last < self.quiet:
            return None
        raised, count = self._active, self._count
        self._active, self._count = None, 0
        return replace(
            raised,
            state=AlarmState.CLEARED,
            timestamp=now,
            message=explain.cleared(
                f"no unexpected error for {explain.duration(self.quiet)}; {count} message(s) were dead-lettered",
                raised=raised.timestamp,
                now=now,
            ),
        )
