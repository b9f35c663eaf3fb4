"""Alarm lifecycle of one reactor: raised -> acknowledged -> cleared (ISA-18.2, reduced).

Findings from the checks become alarms only after they have held for the on-delay,
and alarms clear only after their condition has been absent for the off-delay
(EEMUA 191's cures for chattering, on top of the checks' own hysteresis). An
alarm that is already active is never raised again: further findings only move
its ``last_seen`` and value (duplicate suppression).

>>> from datetime import datetime, timedelta, UTC
>>> from bioreactor.contract import Severity
>>> from monitor.checks.base import Explanation, Finding, reading_at
>>> book = AlarmBook("R01", Delays(on=timedelta(minutes=10), off=timedelta(minutes=10)))
>>> low = Finding("limit_low", Severity.WARNING, Explanation("glucose low"), "glucose", 0.8, 1.0)
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> def step(minutes, findings):
...     r = reading_at(t0 + timedelta(minutes=minutes), glucose=0.8 if findings else 1.5)
...     return [(e.check, e.state.value) for e in book.observe(r, findings)]
>>> step(0, [low]), step(5, [low]), step(10, [low]), step(15, [low])
([], [], [('limit_low', 'raised')], [])
>>> step(20, []), step(25, []), step(30, [])
([], [], [('limit_low', 'cleared')])
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bioreactor.contract import (
    Acknowledgement,
    ActiveAlarms,
    AlarmEvent,
    AlarmState,
    Reading,
    format_timestamp,
)
from monitor import explain
from monitor.checks.base import Finding

#: How many cleared alarm ids a reactor remembers, to answer a late acknowledgement.
CLEARED_MEMORY = 1000


@dataclass(frozen=True, slots=True)
class Delays:
    """How long a condition must hold before raising (``on``) and be gone before clearing."""

    on: timedelta = timedelta(0)
    off: timedelta = timedelta(0)


@dataclass(slots=True)
class _Alarm:
    """One alarm's record while its condition is pending or active."""

    finding: Finding
    batch_id: str
    first_seen: datetime
    last_seen: datetime
    event: AlarmEvent | None = None  # the latest published event; None while pending
    absent_since: datetime | None = None


class AlarmBook:
    """The pending and active alarms of one reactor."""

    def __init__(self, reactor_id: str, delays: Delays) -> None:
        self.reactor_id = reactor_id
        self.delays = delays
        self._alarms: dict[tuple[str, str | None], _Alarm] = {}
        self._cleared: deque[str] = deque(maxlen=CLEARED_MEMORY)

    def observe(
        self, reading: Reading, findings: Iterable[Finding], *, exempt: Iterable[str] = ()
    ) -> list[AlarmEvent]:
        """Apply the findings of ``reading``; return the events (raised, cleared) in order.

        Alarms of the checks in ``exempt`` are left alone (they are not evaluated per
        reading, e.g. 'stale').
        """
        now = reading.timestamp
        seen = {f.key: f for f in findings}
        events: list[AlarmEvent] = []
        skip = set(exempt)
        for key, alarm in list(self._alarms.items()):
            if key in seen or key[0] in skip:
                continue
            if alarm.event is None:
                del self._alarms[key]  # pending only: the condition did not last
                continue
            alarm.absent_since = alarm.absent_since or now
            if now - alarm.absent_since >= self.delays.off:
                events.append(self._clear(key, now, _recovery(alarm.finding, reading)))
        for key, finding in seen.items():
            if key not in self._alarms:
                self._alarms[key] = _Alarm(finding, reading.batch_id, now, now)
            alarm = self._alarms[key]
            alarm.finding, alarm.last_seen, alarm.absent_since = finding, now, None
            if alarm.event is None and now - alarm.first_seen >= self.delays.on:
                events.append(self._raise(alarm, now))
        return events

    def raise_now(self, finding: Finding, batch_id: str, now: datetime) -> list[AlarmEvent]:
        """Raise ``finding`` without delay unless its alarm is already active."""
        if finding.key in self._alarms:
            return []
        alarm = self._alarms[finding.key] = _Alarm(finding, batch_id, now, now)
        return [self._raise(alarm, now)]

    def clear_check(self, check: str, now: datetime, what: str) -> list[AlarmEvent]:
        """Clear every active alarm of ``check`` at once (no off-delay)."""
        return [
            self._clear(key, now, what)
            for key, alarm in list(self._alarms.items())
            if key[0] == check and alarm.event is not None
        ]

    def clear_all(self, now: datetime, what: str) -> list[AlarmEvent]:
        """Clear every active alarm and forget pending ones (e.g. the batch ended)."""
        events = [
            self._clear(key, now, what)
            for key, alarm in list(self._alarms.items())
            if alarm.event is not None
        ]
        self._alarms.clear()
        return events

    def acknowledge(self, ack: Acknowledgement) -> AlarmEvent:
        """Move an active alarm to acknowledged.

        Raises ``KeyError`` for an unknown alarm id and ``ValueError`` if it is
        already acknowledged or cleared.
        """
        for alarm in self._alarms.values():
            if alarm.event is not None and alarm.event.alarm_id == ack.alarm_id:
                if alarm.event.state is AlarmState.ACKNOWLEDGED:
                    raise ValueError(f"alarm {ack.alarm_id} is already acknowledged")
                alarm.event = dataclasses.replace(
                    self._current(alarm),
                    state=AlarmState.ACKNOWLEDGED,
                    timestamp=ack.timestamp,
                    user=ack.user,
                    comment=ack.comment,
                )
                return alarm.event
        if ack.alarm_id in self._cleared:
            raise ValueError(f"alarm {ack.alarm_id} is already cleared")
        raise KeyError(ack.alarm_id)

    def active(self, now: datetime) -> ActiveAlarms:
        """The raised and acknowledged alarms, oldest first."""
        alarms = sorted(
            (self._current(a) for a in self._alarms.values() if a.event is not None),
            key=lambda e: (e.first_seen, e.alarm_id),
        )
        return ActiveAlarms(reactor_id=self.reactor_id, timestamp=now, alarms=tuple(alarms))

    def _current(self, alarm: _Alarm) -> AlarmEvent:
        """The alarm's latest event with up-to-date last_seen and value."""
        assert alarm.event is not None
        return dataclasses.replace(
            alarm.event,
            last_seen=alarm.last_seen,
            value=alarm.finding.value,
            limit=alarm.finding.limit,
        )

    def _raise(self, alarm: _Alarm, now: datetime) -> AlarmEvent:
        finding = alarm.finding
        alarm_id = ":".join(
            (self.reactor_id, alarm.batch_id, finding.check, finding.variable or "-",
             format_timestamp(alarm.first_seen))
        )
        alarm.event = AlarmEvent(
            alarm_id=alarm_id,
            reactor_id=self.reactor_id,
            batch_id=alarm.batch_id,
            check=finding.check,
            severity=finding.severity,
            state=AlarmState.RAISED,
            timestamp=now,
            first_seen=alarm.first_seen,
            last_seen=alarm.last_seen,
            message=explain.render(finding.explanation, since=alarm.first_seen, now=now),
            variable=finding.variable,
            value=finding.value,
            limit=finding.limit,
        )
        return alarm.event

    def _clear(self, key: tuple[str, str | None], now: datetime, what: str) -> AlarmEvent:
        alarm = self._alarms.pop(key)
        assert alarm.event is not None
        self._cleared.append(alarm.event.alarm_id)
        return dataclasses.replace(
            self._current(alarm),
            state=AlarmState.CLEARED,
            timestamp=now,
            message=explain.cleared(what, raised=alarm.event.timestamp, now=now),
            user=None,
            comment=None,
        )


#: How the statistical checks' conditions end, for their cleared messages.
_CONDITION_ENDED: dict[str, str] = {
    "zscore": "{name} no longer stands out from its recent mean",
    "rate": "{name} no longer changes faster than plausible",
    "cusum": "{name} no longer drifts from its set point",
    "flatline": "{name} shows its usual noise again",
}


def _recovery(finding: Finding, reading: Reading) -> str:
    """What returned to normal, in words.

    Only a limit alarm clears because the value is back; a statistical or diagnostic
    alarm clears when its condition ends (a z-score's mean catches up with a new level),
    so its message says that and gives the value without calling it normal.
    """
    words = finding.check.replace("_", " ")
    value = getattr(reading, finding.variable, None) if finding.variable else None
    if finding.variable is None or value is None:
        return f"{words} condition no longer present"
    name, now = explain.label(finding.variable), explain.quantity(finding.variable, value)
    if finding.check.startswith("limit"):
        return f"{name} back to {now}"
    template = _CONDITION_ENDED.get(finding.check, words + " condition no longer present")
    return f"{template.format(name=name)} ({name} now {now})"
