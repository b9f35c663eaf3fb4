"""The JSON payloads exchanged over MQTT, as typed, validated, immutable structs.

Every payload carries ``"schema": 2``. Bounds here are hard limits of the wire
format (sizes, magnitudes, identifiers); what is plausible for a process is the
monitor's business, learnt per plant (``monitor.profile``), so a 90 m³ vessel's
volume is as valid as a 2 L one's.

>>> from datetime import datetime, UTC
>>> from bioreactor.contract import Reading, decode, encode
>>> r = Reading(timestamp=datetime(2026, 1, 1, tzinfo=UTC), reactor_id="R1", batch_id="B1",
...             seq=0, culture_h=0.0, glucose=6.0, ph=7.05)
>>> encode(r)
b'{"schema":2,"timestamp":"2026-01-01T00:00:00Z","reactor_id":"R1","batch_id":"B1","seq":0,"culture_h":0.0,\
"glucose":6.0,"ph":7.05}'
>>> decode(Reading, encode(r)) == r
True
>>> decode(Reading, b'{"schema": 2}')
Traceback (most recent call last):
...
bioreactor.contract.codec.ContractError: field 'timestamp': is required
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from bioreactor.contract.codec import SCHEMA_VERSION, check_timestamp, quantity, text
from bioreactor.contract.topics import REACTOR_ID_PATTERN, USER_PATTERN

#: The process variables a reading may carry, in field order (``biomass`` is dry weight, for
#: microbial and fungal processes; ``vcd`` counts animal cells).
PROCESS_VARIABLES: tuple[str, ...] = (
    "vcd",
    "glucose",
    "lactate",
    "do",
    "ph",
    "temperature",
    "agitation",
    "airflow",
    "feed_rate",
    "viability",
    "volume",
    "titer",
    "base_rate",
    "co2_flow",
    "biomass",
)

#: Set-point fields, by the variable they belong to.
SETPOINT_FIELDS: dict[str, str] = {
    "do": "do_setpoint",
    "ph": "ph_setpoint",
    "temperature": "temperature_setpoint",
}

Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]
ReactorId = Annotated[str, msgspec.Meta(pattern=REACTOR_ID_PATTERN.pattern)]
UserId = Annotated[str, msgspec.Meta(pattern=USER_PATTERN.pattern)]
BatchId = Annotated[str, text(128)]
Identifier = Annotated[str, text(256)]
Message = Annotated[str, text(4000)]
Comment = Annotated[str, text(500)]
Label = Annotated[str, text(64)]
Topic = Annotated[str, text(1024)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**53)]  # 2**53: exact in JSON numbers and doubles

CultureHours = Annotated[float, quantity("h", -1000.0, 100_000.0)]  # hours before inoculation are allowed
CellDensity = Annotated[float, quantity("1e6 cells/mL")]
Percent = Annotated[float, quantity("%")]
GramsPerLitre = Annotated[float, quantity("g/L")]
AirSaturation = Annotated[float, quantity("% air sat.")]
PhUnits = Annotated[float, quantity("pH")]
Celsius = Annotated[float, quantity("°C")]
Rpm = Annotated[float, quantity("rpm")]
LitresPerMinute = Annotated[float, quantity("L/min")]
MillilitresPerHour = Annotated[float, quantity("mL/h")]
MillilitresPerMinute = Annotated[float, quantity("mL/min")]
Litres = Annotated[float, quantity("L")]
Number = Annotated[float, quantity("")]
NonNegativeMlPerHour = Annotated[float, quantity("mL/h", 0.0)]
PerSecond = Annotated[float, quantity("1/s", 0.0)]


class Payload(msgspec.Struct, frozen=True, omit_defaults=True, tag_field="schema", tag=SCHEMA_VERSION):
    """Base of every payload: immutable, ``None`` fields left out, ``"schema"`` written first."""


class Reading(Payload, frozen=True):
    """One sample of one reactor: what the simulator, a replay or a plant gateway publishes.

    Only the identity and the culture time are required: a plant measures what it
    measures, and each check declares the variables it needs. ``fault`` and
    ``fault_effective`` are ground-truth labels written by simulators; the
    monitor never reads them.
    """

    timestamp: Timestamp
    reactor_id: ReactorId
    batch_id: BatchId
    seq: Count
    culture_h: CultureHours
    vcd: CellDensity | None = None
    glucose: GramsPerLitre | None = None
    lactate: GramsPerLitre | None = None
    do: AirSaturation | None = None
    ph: PhUnits | None = None
    temperature: Celsius | None = None
    agitation: Rpm | None = None
    airflow: LitresPerMinute | None = None
    feed_rate: MillilitresPerHour | None = None
    viability: Percent | None = None
    volume: Litres | None = None
    titer: GramsPerLitre | None = None
    base_rate: MillilitresPerHour | None = None
    co2_flow: MillilitresPerMinute | None = None
    biomass: GramsPerLitre | None = None
    do_setpoint: AirSaturation | None = None
    ph_setpoint: PhUnits | None = None
    temperature_setpoint: Celsius | None = None
    fault: Label | None = None
    fault_effective: Annotated[int, msgspec.Meta(ge=0, le=1)] | None = None

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "timestamp", check_timestamp(self.timestamp))


class Severity(StrEnum):
    """Alarm priority: ``warning`` for L/H limits, ``critical`` for LL/HH and diagnoses of harm."""

    WARNING = "warning"
    CRITICAL = "critical"


class AlarmState(StrEnum):
    """ISA-18.2 lifecycle, reduced to the transitions the monitor publishes."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


class AlarmEvent(Payload, frozen=True):
    """A change in one alarm's life: raised, acknowledged or cleared.

    Times are on the reactor's data clock (the timestamps of its readings), so an
    alarm of a replayed batch sits where it happened in that batch; ``received_at``
    of an acknowledgement is the monitor's wall clock when the operator acted.
    ``incident_id`` names the incident that groups this alarm with others of the
    same root cause (see :class:`Incident`).
    """

    alarm_id: Identifier
    reactor_id: Identifier
    batch_id: BatchId
    check: Identifier
    severity: Severity
    state: AlarmState
    timestamp: Timestamp
    first_seen: Timestamp
    last_seen: Timestamp
    message: Message
    variable: Identifier | None = None
    value: Number | None = None
    limit: Number | None = None
    user: UserId | None = None
    comment: Comment | None = None
    received_at: Timestamp | None = None
    incident_id: Identifier | None = None

    @property
    def key(self) -> tuple[str, AlarmState]:
        """The event's identity: an alarm is raised, acknowledged and cleared at most once each.

        QoS 1 can deliver an event twice (the monitor stopped between publishing it and
        recording that it did); subscribers drop repeats by this key.
        """
        return (self.alarm_id, self.state)


class IncidentState(StrEnum):
    """An incident opens with its first alarm, is updated as alarms join or change, closes with the last."""

    OPENED = "opened"
    UPDATED = "updated"
    CLOSED = "closed"


class IncidentAlarm(msgspec.Struct, frozen=True, omit_defaults=True):
    """One alarm of an incident, as the incident lists it."""

    alarm_id: Identifier
    check: Identifier
    severity: Severity
    state: AlarmState
    first_seen: Timestamp
    variable: Identifier | None = None


class Incident(Payload, frozen=True):
    """Co-occurring alarms of one reactor under the diagnosis that explains them (ISA-18.2:
    consequential alarms are grouped under their cause, so an operator sees one row per problem).

    ``diagnosis`` is the check of the alarm that explains the others, ``message`` that
    alarm's full explanation; ``alarms`` lists every alarm of the incident, the
    explaining one first. ``acknowledged`` is true once every active alarm of it is.
    """

    incident_id: Identifier
    reactor_id: ReactorId
    batch_id: BatchId
    state: IncidentState
    timestamp: Timestamp
    opened_at: Timestamp
    diagnosis: Identifier
    severity: Severity
    message: Message
    alarms: Annotated[tuple[IncidentAlarm, ...], msgspec.Meta(max_length=200)] = ()
    acknowledged: bool = False

    @property
    def key(self) -> tuple[str, str, int]:
        """The event's identity for dropping QoS 1 repeats: id, state and number of alarms."""
        return (self.incident_id, self.state.value, len(self.alarms))


class ActiveAlarms(Payload, frozen=True):
    """The retained set of a reactor's alarms that are raised or acknowledged, and their incidents."""

    reactor_id: Identifier
    timestamp: Timestamp
    alarms: Annotated[tuple[AlarmEvent, ...], msgspec.Meta(max_length=500)] = ()
    incidents: Annotated[tuple[Incident, ...], msgspec.Meta(max_length=500)] = ()


class Acknowledgement(Payload, frozen=True):
    """A command from an operator or a system: acknowledge one alarm.

    It is published on ``bioreactor/<reactor>/ack/<user>``; the broker's ACL lets an
    identity write only under its own user name, so the monitor records the user
    of the topic, never a name typed into the payload. ``user`` here is ignored on
    input and filled in by the monitor in its trail; ``timestamp`` is the sender's
    clock, kept for the record only.
    """

    alarm_id: Identifier
    timestamp: Timestamp
    comment: Comment | None = None
    user: UserId | None = None


class Driver(msgspec.Struct, frozen=True):
    """One input of the feed model and how much it moved the recommendation."""

    variable: Identifier
    contribution: MillilitresPerHour


class Recommendation(Payload, frozen=True):
    """A feed-rate recommendation for one reactor."""

    reactor_id: ReactorId
    batch_id: BatchId
    timestamp: Timestamp
    recommended_feed_rate: NonNegativeMlPerHour
    current_feed_rate: NonNegativeMlPerHour
    delta: MillilitresPerHour
    interval_low: NonNegativeMlPerHour
    interval_high: NonNegativeMlPerHour
    model_version: Identifier = "unknown"
    drivers: Annotated[tuple[Driver, ...], msgspec.Meta(max_length=50)] = ()


class StatusState(StrEnum):
    """Life of a publisher (a reactor's simulator or replay, or a service)."""

    ONLINE = "online"
    OFFLINE = "offline"
    END_OF_STREAM = "end_of_stream"


class Clock(StrEnum):
    """Whose time a stream's timestamps are on.

    ``live`` readings are stamped as they are measured, so the monitor refuses ones
    from the future; a ``replay`` streams historical timestamps faster or slower
    than they happened.
    """

    LIVE = "live"
    REPLAY = "replay"


class Status(Payload, frozen=True):
    """Retained status of a publisher; the broker publishes ``offline`` as its last will."""

    source: Identifier
    state: StatusState
    timestamp: Timestamp
    batch_id: BatchId | None = None
    detail: Message | None = None
    clock: Clock = Clock.LIVE


class DeadLetter(Payload, frozen=True):
    """A message that could not be used, kept with the reason so nothing is lost silently.

    ``payload`` is the start of the original text (undecodable bytes escaped);
    ``size`` the original size in bytes, so a truncated payload is recognisable.
    """

    topic: Topic
    payload: str
    size: Count
    reason: Message
    source: Identifier
    timestamp: Timestamp


class SkippedCheck(msgspec.Struct, frozen=True):
    """A check that cannot run on a reactor, and why (a variable missing or sampled too sparsely)."""

    check: Identifier
    reason: Message


class Coverage(Payload, frozen=True):
    """Retained: which checks run on a reactor and which cannot, with their reasons."""

    reactor_id: ReactorId
    timestamp: Timestamp
    running: Annotated[tuple[str, ...], msgspec.Meta(max_length=100)] = ()
    skipped: Annotated[tuple[SkippedCheck, ...], msgspec.Meta(max_length=100)] = ()


class Metrics(Payload, frozen=True):
    """Health figures a service publishes periodically."""

    source: Identifier
    timestamp: Timestamp
    readings_per_s: PerSecond = 0.0
    #: Readings processed since the service started.
    readings: Count = 0
    queue_depth: Count = 0
    active_alarms: Count = 0
    dead_letters: Count = 0
    backpressure_waits: Count = 0
    errors: Count = 0
    data_gaps: Count = 0


__all__ = [
    "PROCESS_VARIABLES",
    "SETPOINT_FIELDS",
    "Acknowledgement",
    "ActiveAlarms",
    "AlarmEvent",
    "AlarmState",
    "Clock",
    "Coverage",
    "DeadLetter",
    "Driver",
    "Incident",
    "IncidentAlarm",
    "IncidentState",
    "Metrics",
    "Payload",
    "Reading",
    "Recommendation",
    "Severity",
    "SkippedCheck",
    "Status",
    "StatusState",
    "UserId",
]
