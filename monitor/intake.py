"""What the monitor admits from the network: one decision per MQTT message, never an exception.

Every message becomes exactly one of

* an :class:`Admitted` input for the engine (a reading, an acknowledgement, a status),
* an :class:`Ignored` message that needs nothing (an empty payload: MQTT's way of
  clearing a retained message, delivered to subscribers like any other; a service's
  own status), or
* a :class:`Rejected` message with the reason, which the service dead-letters.

The payload's own validity is the contract's business (sizes, nesting, numbers,
timestamps: :mod:`bioreactor.contract.codec`); here are the rules that need the
topic or the clock:

* the reactor in the payload must be the reactor of the topic;
* an acknowledgement's user is the last level of its topic, which the broker's
  ACL lets each identity write only under its own name; a user typed into the
  payload is not trusted;
* a *live* stream's readings may not come from the future (more than
  ``future_tolerance`` ahead of this machine's clock): a publisher with a broken
  clock must not push a reactor's data clock years ahead. A stream whose retained
  status declares ``clock: replay`` streams historical timestamps and is exempt.

>>> from datetime import datetime, UTC
>>> intake = Intake(now=lambda: datetime(2026, 1, 1, tzinfo=UTC))
>>> intake.admit("bioreactor/R1/status", b"")
Ignored(reason='empty retained payload (an MQTT retained-message clear)')
>>> intake.admit("bioreactor/R1/reading", b"").reason
'empty retained payload (an MQTT retained-message clear)'
>>> intake.admit("bioreactor/R1/ack/alice", b'{"alarm_id": "A1", "timestamp": "2026-01-01T00:00:00Z"}').user
'alice'
>>> intake.admit("bioreactor/R1/reading", b'{"nope": 1}').reason
"field 'timestamp': is required"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bioreactor.contract import (
    Acknowledgement,
    Clock,
    Codec,
    ContractError,
    Reading,
    Status,
)
from bioreactor.contract import topics as t

#: How far ahead of this machine's clock a live reading may be (clocks drift; NTP keeps them
#: within seconds, so minutes are generous).
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Admitted:
    """An input for the engine, with the reactor of its topic (and the sender of an ack)."""

    reactor_id: str
    payload: Reading | Acknowledgement | Status
    user: str | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    """A message that needs no action and is not an error."""

    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message the monitor cannot use; it goes to the dead-letter topic with ``reason``."""

    reason: str


Decision = Admitted | Ignored | Rejected


class Intake:
    """Decides, message by message, what the monitor does with what arrives.

    Parameters
    ----------
    codec
        Decoder with the payload limits.
    now
        This machine's clock (a parameter so tests can fix it).
    future_tolerance
        How far ahead of ``now`` a live reading may be stamped.
    """

    def __init__(
        self,
        codec: Codec | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        future_tolerance: timedelta = FUTURE_TOLERANCE,
    ) -> None:
        self.codec = codec or Codec()
        self.now = now
        self.future_tolerance = future_tolerance
        #: The clock each stream declared in its retained status (live when never declared).
        self.clocks: dict[str, Clock] = {}

    def admit(self, topic: str, payload: bytes) -> Decision:
        """The decision for one message (never raises for anything a network can send)."""
        reactor_id = t.reactor_from_topic(topic)
        leaf = topic.split("/", 2)[-1] if reactor_id else ""
        if reactor_id is None:
            if topic.startswith(f"{t.ROOT}/_") and topic.endswith(f"/{t.STATUS}"):
                return Ignored("a service's own status")
            return Rejected("not a reading, acknowledgement or status topic")
        if not payload:  # on any topic: a retained reading or ack published by mistake is cleared this way too
            return Ignored("empty retained payload (an MQTT retained-message clear)")
        try:
            if leaf == t.READING:
                return self._reading(reactor_id, payload)
            if leaf == t.STATUS:
                return self._status(reactor_id, payload)
            user = t.user_from_ack_topic(topic)
            if user is not None:
                ack = self.codec.decode(Acknowledgement, payload)
                return Admitted(reactor_id, ack, user)
        except ContractError as err:
            return Rejected(str(err))
        return Rejected("not a reading, acknowledgement or status topic")

    def _reading(self, reactor_id: str, payload: bytes) -> Decision:
        reading = self.codec.decode(Reading, payload)
        if reading.reactor_id != reactor_id:
            return Rejected(
                f"reactor_id {reading.reactor_id!r} in the payload does not match the topic's {reactor_id!r}"
            )
        if self.clocks.get(reactor_id, Clock.LIVE) is Clock.LIVE:
            ahead = reading.timestamp - self.now()
            if ahead > self.future_tolerance:
                return Rejected(
                    f"timestamp {reading.timestamp.isoformat()} is {_hours(ahead)} ahead of this machine's clock "
                    f"(a live stream may be at most {_hours(self.future_tolerance)} ahead; "
                    "a replay declares clock=replay in its status)"
                )
        return Admitted(reactor_id, reading)

    def _status(self, reactor_id: str, payload: bytes) -> Decision:
        status = self.codec.decode(Status, payload)
        self.clocks[reactor_id] = status.clock
        return Admitted(reactor_id, status)


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{span.total_seconds() / 60:.0f} min"
