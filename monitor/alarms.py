"""Alarm lifecycle of every reactor: raised -> acknowledged -> cleared (ISA-18.2, reduced).

Findings become alarms only after they have held for the on-delay, and alarms
clear only after their condition has been absent for the off-delay (EEMUA 191's
cures for chattering, on top of the checks' own hysteresis). An alarm that is
already active is never raised again: further findings only move its
``last_seen`` and value (duplicate suppression). Where a check could not
evaluate its condition (an input not measured), nothing changes.

The book works on a wave at once: only rows whose condition holds or whose
reactor already has an alarm of that key are looked at in Python.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import Explanation, Findings
>>> book = AlarmBook(Delays(on=timedelta(minutes=10), off=timedelta(minutes=10)))
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
>>> def step(minutes, low):
...     findings = Findings("limit_low", "glucose", Severity.WARNING, np.array([low]), np.array([True]),
...                         np.array([0.8]), np.array([1.0]), lambda i: Explanation("glucose low"))
...     subject = Subject(np.array([0]), np.array([t0 + 60 * minutes]), ("R01",), ("B1",))
...     return [(e.check, e.state.value) for _, e in book.apply(subject, [findings], recovery=lambda f, i: "ok")]
>>> step(0, True), step(5, True), step(10, True), step(15, True)
([], [], [('limit_low', 'raised')], [])
>>> step(20, False), step(25, False), step(30, False)
([], [], [('limit_low', 'cleared')])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import numpy as np

from bioreactor.contract import (
    Acknowledgement,
    AlarmEvent,
    AlarmState,
    Severity,
    format_timestamp,
    replace,
)
from monitor import explain
from monitor.checks.base import Explanation, Findings
from monitor.slots import FloatArray, IntArray

#: How many cleared alarm ids a reactor remembers, to answer a late acknowledgement.
CLEARED_MEMORY = 200


@dataclass(frozen=True, slots=True)
class Delays:
    """How long a condition must hold before raising (``on``) and be gone before clearing."""

    on: timedelta = timedelta(0)
    off: timedelta = timedelta(0)


@dataclass(frozen=True)
class Subject:
    """Who the findings of a wave are about: slot, time (s since epoch), reactor and batch per row."""

    slots: IntArray
    times: FloatArray
    reactors: Sequence[str]
    batches: Sequence[str]


class _Alarm(msgspec.Struct, kw_only=True):
    """One alarm's record while its condition is pending or active (serialisable as data)."""

    check: str
    variable: str | None
    severity: Severity
    batch_id: str
    first_seen: float
    last_seen: float
    value: float | None = None
    limit: float | None = None
    absent_since: float | None = None
    event: AlarmEvent | None = None  # the latest published event; None while pending


class _Reactor(msgspec.Struct, kw_only=True):
    """The alarms of one reactor."""

    alarms: dict[str, _Alarm] = msgspec.field(default_factory=dict)  # key: "check|variable"
    cleared: list[str] = msgspec.field(default_factory=list)


def _key(check: str, variable: str | None) -> str:
    return f"{check}|{variable or '-'}"


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


#: Words a cleared statistical or diagnostic alarm with: its condition ended, which is not
#: the same as the value being normal again (a z-score's mean catches up with a new level).
Recovery = Callable[[Findings, int], str]


@dataclass
class AlarmBook:
    """The pending and active alarms of every reactor slot."""

    delays: Delays
    _reactors: dict[int, _Reactor] = field(default_factory=dict)
    #: Per alarm key, the slots that have a pending or active alarm of it.
    _tracked: dict[str, set[int]] = field(default_factory=dict)

    def apply(
        self, subject: Subject, findings: Iterable[Findings], *, recovery: Recovery
    ) -> list[tuple[int, AlarmEvent]]:
        """Apply a wave's findings; return ``(wave row, event)`` in the order they happened."""
        events: list[tuple[int, AlarmEvent]] = []
        on, off = self.delays.on.total_seconds(), self.delays.off.total_seconds()
        for f in findings:
            key = _key(f.check, f.variable)
            tracked = self._tracked.get(key)
            mask = f.holds & f.known
            if tracked:
                mask = mask | np.isin(subject.slots, list(tracked))
            for i in np.flatnonzero(mask).tolist():
                event = self._step(subject, i, f, key, on=on, off=off, recovery=recovery)
                if event is not None:
                    events.append((i, event))
        events.sort(key=lambda pair: pair[0])  # stable: within a row, in check order
        return events

    def _step(
        self, subject: Subject, i: int, f: Findings, key: str, *, on: float, off: float, recovery: Recovery
    ) -> AlarmEvent | None:
        slot, now = int(subject.slots[i]), float(subject.times[i])
        reactor = self._reactors.setdefault(slot, _Reactor())
        alarm = reactor.alarms.get(key)
        if not f.known[i]:
            return None
        if f.holds[i]:
            if alarm is None:
                alarm = reactor.alarms[key] = _Alarm(
                    check=f.check, variable=f.variable, severity=f.severity, batch_id=subject.batches[i],
                    first_seen=now, last_seen=now,
                )
                self._tracked.setdefault(key, set()).add(slot)
            alarm.last_seen, alarm.absent_since = now, None
            alarm.value, alarm.limit = _number(f.value[i]), _number(f.limit[i])
            if alarm.event is None and (f.immediate or now - alarm.first_seen >= on):
                return self._raise(reactor, alarm, subject.reactors[i], now, f.explain(i))
            return None
        if alarm is None:
            return None
        if alarm.event is None:  # pending only: the condition did not last
            self._forget(slot, reactor, key)
            return None
        alarm.absent_since = alarm.absent_since if alarm.absent_since is not None else now
        if now - alarm.absent_since >= off:
            alarm.value = _number(f.value[i])
            return self._clear(slot, reactor, key, now, recovery(f, i))
        return None

    def raise_now(
        self, slot: int, reactor_id: str, batch_id: str, *, check: str, variable: str | None, severity: Severity,
        now: float, explanation: Explanation, value: float | None = None,
    ) -> list[AlarmEvent]:
        """Raise an alarm at once (no on-delay) unless its key is already pending or active."""
        reactor = self._reactors.setdefault(slot, _Reactor())
        key = _key(check, variable)
        if key in reactor.alarms:
            return []
        alarm = reactor.alarms[key] = _Alarm(
            check=check, variable=variable, severity=severity, batch_id=batch_id, first_seen=now, last_seen=now,
            value=value,
        )
        self._tracked.setdefault(key, set()).add(slot)
        return [self._raise(reactor, alarm, reactor_id, now, explanation)]

    def has(self, slot: int, check: str, variable: str | None = None) -> bool:
        """Whether ``slot`` has a pending or active alarm of this key."""
        reactor = self._reactors.get(slot)
        return reactor is not None and _key(check, variable) in reactor.alarms

    def clear_check(self, slot: int, check: str, now: float, what: str) -> list[AlarmEvent]:
        """Clear every active alarm of ``check`` at once (no off-delay); forget pending ones."""
        reactor = self._reactors.get(slot)
        if reactor is None:
            return []
        events = []
        for key, alarm in list(reactor.alarms.items()):
            if alarm.check != check:
                continue
            if alarm.event is None:
                self._forget(slot, reactor, key)
            else:
                events.append(self._clear(slot, reactor, key, max(now, alarm.last_seen), what))
        return events

    def clear_all(self, slot: int, now: float, what: str) -> list[AlarmEvent]:
        """Clear every active alarm of ``slot`` and forget pending ones (e.g. the batch ended)."""
        reactor = self._reactors.get(slot)
        if reactor is None:
            return []
        events = []
        for key, alarm in list(reactor.alarms.items()):
            if alarm.event is None:
                self._forget(slot, reactor, key)
            else:
                events.append(self._clear(slot, reactor, key, max(now, alarm.last_seen), what))
        return events

    def acknowledge(self, slot: int, ack: Acknowledgement, data_time: float, received_at: datetime) -> AlarmEvent:
        """Move an active alarm to acknowledged.

        ``data_time`` stamps the event on the reactor's data clock (so an alarm's raise
        and acknowledgement are on one clock); ``received_at`` is this machine's wall
        clock when the acknowledgement arrived, kept for the trail. Raises ``KeyError``
        for an unknown alarm id and ``ValueError`` if it is already acknowledged or cleared.
        """
        reactor = self._reactors.get(slot, _Reactor())
        for alarm in reactor.alarms.values():
            if alarm.event is not None and alarm.event.alarm_id == ack.alarm_id:
                if alarm.event.state is AlarmState.ACKNOWLEDGED:
                    raise ValueError(f"alarm {ack.alarm_id} is already acknowledged")
                alarm.event = replace(
                    self._current(alarm),
                    state=AlarmState.ACKNOWLEDGED,
                    timestamp=_time(max(data_time, alarm.event.timestamp.timestamp())),
                    user=ack.user,
                    comment=ack.comment,
                    received_at=received_at,
                )
                return alarm.event
        if ack.alarm_id in reactor.cleared:
            raise ValueError(f"alarm {ack.alarm_id} is already cleared")
        raise KeyError(ack.alarm_id)

    def active(self, slot: int) -> tuple[AlarmEvent, ...]:
        """The raised and acknowledged alarms of ``slot``, oldest first."""
        reactor = self._reactors.get(slot)
        if reactor is None:
            return ()
        events = (self._current(a) for a in reactor.alarms.values() if a.event is not None)
        return tuple(sorted(events, key=lambda e: (e.first_seen, e.alarm_id)))

    def dump(self, slot: int) -> bytes:
        """Everything ``slot``'s alarms remember, as msgpack data."""
        return msgspec.msgpack.encode(self._reactors.get(slot, _Reactor()))

    def load(self, slot: int, data: bytes) -> None:
        """Restore what :meth:`dump` wrote."""
        reactor = msgspec.msgpack.decode(data, type=_Reactor)
        self._reactors[slot] = reactor
        for key in reactor.alarms:
            self._tracked.setdefault(key, set()).add(slot)

    def _forget(self, slot: int, reactor: _Reactor, key: str) -> None:
        del reactor.alarms[key]
        self._tracked[key].discard(slot)

    def _current(self, alarm: _Alarm) -> AlarmEvent:
        """The alarm's latest event with up-to-date last_seen and value."""
        assert alarm.event is not None
        return replace(alarm.event, last_seen=_time(alarm.last_seen), value=alarm.value, limit=alarm.limit)

    def _raise(
        self, reactor: _Reactor, alarm: _Alarm, reactor_id: str, now: float, explanation: Explanation
    ) -> AlarmEvent:
        first = _time(alarm.first_seen)
        alarm.event = AlarmEvent(
            alarm_id=":".join((reactor_id, alarm.batch_id, alarm.check, alarm.variable or "-",
                               format_timestamp(first))),
            reactor_id=reactor_id,
            batch_id=alarm.batch_id,
            check=alarm.check,
            severity=alarm.severity,
            state=AlarmState.RAISED,
            timestamp=_time(now),
            first_seen=first,
            last_seen=_time(alarm.last_seen),
            message=explain.render(explanation, since=first, now=_time(now))[:4000],
            variable=alarm.variable,
            value=alarm.value,
            limit=alarm.limit,
        )
        return alarm.event

    def _clear(self, slot: int, reactor: _Reactor, key: str, now: float, what: str) -> AlarmEvent:
        alarm = reactor.alarms[key]
        assert alarm.event is not None
        raised = alarm.event
        self._forget(slot, reactor, key)
        reactor.cleared = [*reactor.cleared[-(CLEARED_MEMORY - 1):], raised.alarm_id]
        return replace(
            self._current(alarm),
            state=AlarmState.CLEARED,
            timestamp=_time(now),
            message=explain.cleared(what, raised=raised.timestamp, now=_time(now))[:4000],
            user=None,
            comment=None,
            received_at=None,
        )


def _number(value: Any) -> float | None:
    number = float(value)
    return None if np.isnan(number) else number
