"""One incident per root cause: co-occurring alarms of a reactor grouped under the diagnosis that explains them.

A temperature-control failure raises the diagnosis, then the temperature limits,
a CUSUM drift, the multivariate alarm and, hours later, low viability: one
problem, seven rows. ISA-18.2 asks for consequential alarms to be handled under
their cause, and EEMUA 191 for fewer than 10 alarms per 10 minutes in an upset.
So an alarm raised while a reactor has an open incident joins it; the member
that explains most becomes its diagnosis (a process-aware diagnosis over a
critical limit, over a warning limit, over a statistical alarm, over the
multivariate one). Data-quality alarms (bad values, stale or gappy streams, a
stuck sensor) form incidents of their own: they are not consequences of the
process. The individual alarms are still published and stored; the incident is
what an operator looks at.

>>> from datetime import datetime, timedelta, UTC
>>> from bioreactor.contract import AlarmEvent, AlarmState, Severity
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> def alarm(check, minutes, severity=Severity.WARNING, state=AlarmState.RAISED):
...     at = t0 + timedelta(minutes=minutes)
...     return AlarmEvent(alarm_id=f"R1:B1:{check}", reactor_id="R1", batch_id="B1", check=check,
...                       severity=severity, state=state, timestamp=at, first_seen=at, last_seen=at,
...                       message=f"{check} message")
>>> book = IncidentBook()
>>> [(i.state.value, i.diagnosis) for i in book.record(0, alarm("limit_high", 0))]
[('opened', 'limit_high')]
>>> diagnosis = alarm("temperature_control", 5, Severity.CRITICAL)
>>> [(i.state.value, i.diagnosis, len(i.alarms)) for i in book.record(0, diagnosis)]
[('updated', 'temperature_control', 2)]
>>> [(i.state.value, i.severity.value) for i in book.record(0, alarm("limit_high", 60, state=AlarmState.CLEARED))]
[('updated', 'critical')]
>>> [i.state.value for i in book.record(0, alarm("temperature_control", 90, Severity.CRITICAL, AlarmState.CLEARED))]
['closed']
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from bioreactor.contract import (
    AlarmEvent,
    AlarmState,
    Incident,
    IncidentAlarm,
    IncidentState,
    Severity,
    format_timestamp,
    replace,
)

#: Process-aware diagnoses: each names a cause, so each explains the alarms around it.
DIAGNOSES = frozenset({
    "oxygen_transfer", "agitator_failure", "base_pump", "temperature_control", "missed_feed", "overfeeding",
    "glucose_starvation", "contamination", "oxygen_balance", "ph_probe",
})
#: Alarms about the data rather than the process.
DATA_QUALITY = frozenset({"bad_value", "stale", "data_gap", "flatline"})
#: How much each kind of alarm explains (higher explains more).
_RANK = {"limit_low_low": 3, "limit_high_high": 3, "limit_low": 2, "limit_high": 2, "multivariate": 0}


def rank(check: str, severity: Severity) -> float:
    """How well an alarm of ``check`` explains the others of its incident.

    >>> rank("base_pump", Severity.CRITICAL) > rank("limit_low_low", Severity.CRITICAL)
    True
    >>> rank("limit_low_low", Severity.CRITICAL) > rank("cusum", Severity.WARNING)
    True
    """
    base = 4 if check in DIAGNOSES else _RANK.get(check, 1)
    return base + (0.5 if severity is Severity.CRITICAL else 0.0)


class _Open(msgspec.Struct, kw_only=True):
    """An incident while it has members that have not cleared."""

    incident: Incident
    quality: bool


class _Reactor(msgspec.Struct, kw_only=True):
    open: list[_Open] = msgspec.field(default_factory=list)


class IncidentBook:
    """The open incidents of every reactor slot, updated from alarm events."""

    def __init__(self) -> None:
        self._reactors: dict[int, _Reactor] = {}

    def record(self, slot: int, event: AlarmEvent) -> list[Incident]:
        """Apply one alarm event; the incident events it causes (opened, updated, closed)."""
        reactor = self._reactors.setdefault(slot, _Reactor())
        if event.state is AlarmState.RAISED:
            return [self._join(reactor, event)]
        for entry in reactor.open:
            if any(member.alarm_id == event.alarm_id for member in entry.incident.alarms):
                return [self._update(reactor, entry, event)]
        return []

    def record_all(self, slot: int, events: Iterable[AlarmEvent]) -> list[Incident]:
        """:meth:`record` for several events of one slot, in order."""
        return [incident for event in events for incident in self.record(slot, event)]

    def active(self, slot: int) -> tuple[Incident, ...]:
        """The open incidents of ``slot``, oldest first."""
        reactor = self._reactors.get(slot)
        return tuple(entry.incident for entry in reactor.open) if reactor else ()

    def dump(self, slot: int) -> bytes:
        """What ``slot``'s incidents remember, as msgpack data."""
        return msgspec.msgpack.encode(self._reactors.get(slot, _Reactor()))

    def load(self, slot: int, data: bytes) -> None:
        """Restore what :meth:`dump` wrote."""
        self._reactors[slot] = msgspec.msgpack.decode(data, type=_Reactor)

    def _join(self, reactor: _Reactor, event: AlarmEvent) -> Incident:
        quality = event.check in DATA_QUALITY
        member = IncidentAlarm(
            alarm_id=event.alarm_id, check=event.check, severity=event.severity, state=event.state,
            first_seen=event.first_seen, variable=event.variable,
        )
        for entry in reactor.open:
            incident = entry.incident
            if entry.quality == quality and incident.batch_id == event.batch_id:
                members = (*incident.alarms, member)
                root = rank(event.check, event.severity) > rank(incident.diagnosis, incident.severity)
                if root:  # the new alarm explains more: it becomes the diagnosis, listed first
                    members = (member, *incident.alarms)
                entry.incident = replace(
                    incident,
                    state=IncidentState.UPDATED,
                    timestamp=event.timestamp,
                    diagnosis=event.check if root else incident.diagnosis,
                    message=event.message if root else incident.message,
                    severity=_worst(members),
                    alarms=members[:200],
                    acknowledged=False,
                )
                return entry.incident
        incident = Incident(
            incident_id=f"{event.reactor_id}:{event.batch_id}:incident:{format_timestamp(event.first_seen)}",
            reactor_id=event.reactor_id,
            batch_id=event.batch_id,
            state=IncidentState.OPENED,
            timestamp=event.timestamp,
            opened_at=event.first_seen,
            diagnosis=event.check,
            severity=event.severity,
            message=event.message,
            alarms=(member,),
        )
        reactor.open.append(_Open(incident=incident, quality=quality))
        return incident

    def _update(self, reactor: _Reactor, entry: _Open, event: AlarmEvent) -> Incident:
        members = tuple(
            replace(m, state=event.state) if m.alarm_id == event.alarm_id else m for m in entry.incident.alarms
        )
        standing = [m for m in members if m.state is not AlarmState.CLEARED]
        closed = not standing
        entry.incident = replace(
            entry.incident,
            state=IncidentState.CLOSED if closed else IncidentState.UPDATED,
            timestamp=_later(event.timestamp, entry.incident.timestamp),
            alarms=members,
            severity=_worst(standing or members),
            acknowledged=all(m.state is AlarmState.ACKNOWLEDGED for m in standing),
        )
        if closed:
            reactor.open.remove(entry)
        return entry.incident


def _worst(members: Iterable[IncidentAlarm]) -> Severity:
    return Severity.CRITICAL if any(m.severity is Severity.CRITICAL for m in members) else Severity.WARNING


def _later(a: datetime, b: datetime) -> datetime:
    return max(a, b)
