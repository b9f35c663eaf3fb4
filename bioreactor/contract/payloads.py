"""The JSON payloads exchanged over MQTT, as typed, validated dataclasses.

Ranges are plausibility limits for a CHO fed-batch culture (see the README's
contract table); a value outside them is a data error, not a process alarm.

>>> from datetime import datetime, UTC
>>> from bioreactor.contract import Reading, decode, encode
>>> r = Reading(timestamp=datetime(2026, 1, 1, tzinfo=UTC), reactor_id="R1", batch_id="B1",
...             seq=0, culture_h=0.0, vcd=0.4, glucose=6.0, lactate=0.2, do=95.0,
...             ph=7.05, temperature=37.0, agitation=80.0, airflow=0.02, feed_rate=0.0,
...             viability=98.0, volume=2.0)
>>> decode(Reading, encode(r)) == r
True
>>> decode(Reading, b'{"schema": 1}')
Traceback (most recent call last):
...
bioreactor.contract.codec.ContractError: field 'timestamp': is required
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bioreactor.contract.codec import SCHEMA_VERSION, quantity

#: The process variables of a reading, in the order used by CSV files and models.
PROCESS_VARIABLES: tuple[str, ...] = (
    "vcd",
    "viability",
    "glucose",
    "lactate",
    "do",
    "ph",
    "temperature",
    "agitation",
    "airflow",
    "feed_rate",
    "volume",
)


@dataclass(frozen=True, slots=True)
class Reading:
    """One sample of one reactor: what the simulator, a replay or a real DCS publishes.

    The nine process variables of every bioreactor data set (VCD, glucose,
    lactate, DO, pH, temperature, agitation, airflow, feed rate) are required;
    viability and volume are optional because many plants measure them offline.
    ``fault``/``fault_effective`` are ground-truth labels written by the
    simulator; the monitor never reads them.
    """

    timestamp: datetime
    reactor_id: str
    batch_id: str
    seq: int = quantity("count", 0)
    culture_h: float = quantity("h", 0, 24 * 60)
    vcd: float = quantity("1e6 cells/mL", 0, 200)
    glucose: float = quantity("g/L", 0, 60)
    lactate: float = quantity("g/L", 0, 30)
    do: float = quantity("% air sat.", 0, 500)
    ph: float = quantity("pH", 3.0, 11.0)
    temperature: float = quantity("°C", 0, 60)
    agitation: float = quantity("rpm", 0, 2000)
    airflow: float = quantity("L/min", 0, 100)
    feed_rate: float = quantity("mL/h", 0, 10_000)
    viability: float | None = quantity("%", 0, 100, default=None)
    volume: float | None = quantity("L", 0.001, 50_000, default=None)
    titer: float | None = quantity("g/L", 0, 50, default=None)
    base_rate: float | None = quantity("mL/h", 0, 10_000, default=None)
    co2_flow: float | None = quantity("mL/min", 0, 100_000, default=None)
    do_setpoint: float | None = quantity("% air sat.", 0, 500, default=None)
    ph_setpoint: float | None = quantity("pH", 3.0, 11.0, default=None)
    temperature_setpoint: float | None = quantity("°C", 0, 60, default=None)
    fault: str | None = None
    fault_effective: int | None = quantity("0/1", 0, 1, default=None)
    schema: int = SCHEMA_VERSION


class Severity(StrEnum):
    """Alarm priority: ``warning`` for L/H limits, ``critical`` for LL/HH and diagnoses of harm."""

    WARNING = "warning"
    CRITICAL = "critical"


class AlarmState(StrEnum):
    """ISA-18.2 lifecycle, reduced to the transitions the monitor publishes."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """A change in one alarm's life: raised, acknowledged or cleared."""

    alarm_id: str
    reactor_id: str
    batch_id: str
    check: str
    severity: Severity
    state: AlarmState
    timestamp: datetime
    first_seen: datetime
    last_seen: datetime
    message: str
    variable: str | None = None
    value: float | None = None
    limit: float | None = None
    user: str | None = None
    comment: str | None = None
    schema: int = SCHEMA_VERSION

    @property
    def key(self) -> tuple[str, AlarmState]:
        """The event's identity: an alarm is raised, acknowledged and cleared at most once each.

        QoS 1 can deliver an event twice (the monitor stopped between publishing it and
        recording that it did); subscribers drop repeats by this key.
        """
        return (self.alarm_id, self.state)


@dataclass(frozen=True, slots=True)
class ActiveAlarms:
    """The retained set of a reactor's alarms that are raised or acknowledged."""

    reactor_id: str
    timestamp: datetime
    alarms: tuple[AlarmEvent, ...] = ()
    schema: int = SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """A command from an operator or a system: acknowledge one alarm."""

    alarm_id: str
    user: str
    timestamp: datetime
    comment: str | None = None
    schema: int = SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class Driver:
    """One input of the feed model and how much it moved the recommendation."""

    variable: str
    contribution: float


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A feed-rate recommendation for one reactor."""

    reactor_id: str
    batch_id: str
    timestamp: datetime
    recommended_feed_rate: float = quantity("mL/h", 0)
    current_feed_rate: float = quantity("mL/h", 0)
    delta: float = quantity("mL/h")
    interval_low: float = quantity("mL/h", 0)
    interval_high: float = quantity("mL/h", 0)
    model_version: str = "unknown"
    drivers: tuple[Driver, ...] = ()
    schema: int = SCHEMA_VERSION


class StatusState(StrEnum):
    """Life of a publisher (a reactor's simulator or replay, or a service)."""

    ONLINE = "online"
    OFFLINE = "offline"
    END_OF_STREAM = "end_of_stream"


@dataclass(frozen=True, slots=True)
class Status:
    """Retained status of a publisher; the broker publishes ``offline`` as its last will."""

    source: str
    state: StatusState
    timestamp: datetime
    batch_id: str | None = None
    detail: str | None = None
    schema: int = SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be used, kept with the reason so nothing is lost.

    ``payload`` is the original text; undecodable bytes are escaped (``backslashreplace``).
    """

    topic: str
    payload: str
    reason: str
    source: str
    timestamp: datetime
    schema: int = SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class Metrics:
    """Health figures a service publishes periodically."""

    source: str
    timestamp: datetime
    readings_per_s: float = quantity("1/s", 0)
    queue_depth: int = quantity("messages", 0)
    active_alarms: int = quantity("alarms", 0)
    dead_letters: int = quantity("messages", 0)
    backpressure_waits: int = quantity("count", 0)
    schema: int = SCHEMA_VERSION
