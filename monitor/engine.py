"""The monitor engine: every check over every reactor, and the alarms they cause.

Pure in-process logic: no I/O and no wall clock (time comes from the readings or
the ``now`` argument), deterministic, so the same readings give the same events
online (the MQTT service) and offline (``bioreactor analyze``).

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.config import MonitorConfig
>>> engine = MonitorEngine(MonitorConfig.from_mapping({"alarms": {"disabled": ["multivariate"]}}))
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> events = []
>>> for i in range(4):
...     events += engine.process(reading_at(t0 + timedelta(minutes=5 * i), seq=i, glucose=0.3))
>>> [(e.check, e.severity.value, e.state.value) for e in events]
[('limit_low_low', 'critical', 'raised'), ('limit_low', 'warning', 'raised')]
>>> engine.process(reading_at(t0, seq=3))
Traceback (most recent call last):
...
monitor.engine.ReadingRejected: duplicate seq 3 for R01 (already processed)
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bioreactor.contract import (
    Acknowledgement,
    ActiveAlarms,
    AlarmEvent,
    Reading,
    Severity,
    format_timestamp,
)
from monitor import explain
from monitor.alarms import AlarmBook, Delays
from monitor.checks import STALE, Check, Explanation, Finding, History, build_checks
from monitor.config import MonitorConfig

#: Version of the ``save_state`` format.
STATE_VERSION = 1


class ReadingRejected(Exception):  # noqa: N818 - name agreed with the service
    """A reading the engine refuses without changing any state: duplicate or out of order."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Reactor:
    """Everything the engine remembers about one reactor."""

    batch_id: str
    last_seq: int
    last_timestamp: datetime
    history: History
    states: dict[str, Any]
    book: AlarmBook
    finished: set[str] = field(default_factory=set)
    ended: bool = False  # the publisher announced the end of the batch: no stale alarms


class MonitorEngine:
    """Run the checks per reactor and keep each reactor's alarm lifecycle."""

    def __init__(self, config: MonitorConfig | None = None) -> None:
        self.config = config or MonitorConfig.default()
        self._checks: list[Check[Any]] = build_checks(self.config)
        self._reactors: dict[str, _Reactor] = {}
        alarms = self.config.alarms
        self._delays = Delays(
            on=timedelta(minutes=alarms.on_delay_min), off=timedelta(minutes=alarms.off_delay_min)
        )

    def process(self, reading: Reading) -> list[AlarmEvent]:
        """Run every check for the reading's reactor; return the events it caused, in order.

        An unknown reactor is registered on its first valid reading; a new batch on a
        known reactor clears its alarms and starts its per-batch state afresh. Raises
        :class:`ReadingRejected` for a duplicate or out-of-order reading (state unchanged).
        """
        reactor = self._reactors.get(reading.reactor_id)
        events: list[AlarmEvent] = []
        if reactor is None or reading.batch_id != reactor.batch_id:
            if reactor is not None:
                self._reject_finished(reactor, reading)
                events += reactor.book.clear_all(
                    reading.timestamp, f"batch {reactor.batch_id} ended ({reading.batch_id} started)"
                )
                reactor.finished.add(reactor.batch_id)
            reactor = self._start_batch(reading, reactor)
        else:
            self._reject_replay(reactor, reading)
        reactor.ended = False
        events += reactor.book.clear_check(STALE, reading.timestamp, "readings resumed")
        reactor.history.append(reading)
        reactor.last_seq, reactor.last_timestamp = reading.seq, reading.timestamp
        findings: list[Finding] = []
        for check in self._checks:
            findings += check.evaluate(reading, reactor.history, reactor.states[check.name])
        if reading.culture_h < self.config.alarms.startup_h:
            findings = []  # start-up: checks learn, alarms wait
        events += reactor.book.observe(reading, findings, exempt=(STALE,))
        return events

    def acknowledge(self, reactor_id: str, ack: Acknowledgement) -> AlarmEvent:
        """Acknowledge an active alarm.

        Raises ``KeyError`` for an unknown reactor or alarm id, ``ValueError`` if the
        alarm is already acknowledged or cleared.
        """
        return self._reactors[reactor_id].book.acknowledge(ack)

    def end_batch(
        self, reactor_id: str, batch_id: str | None, timestamp: datetime
    ) -> list[AlarmEvent]:
        """The reactor's publisher announced the end of ``batch_id`` (None: the current batch).

        Clears the reactor's alarms ('batch ended') and stops stale checks for it
        until its next reading. An unknown reactor, or an end announced for another
        batch than the current one (e.g. an old retained status), changes nothing.
        Events are stamped at the later of ``timestamp`` and the last reading, since
        a publisher's clock and the data time differ in replays.
        """
        reactor = self._reactors.get(reactor_id)
        if reactor is None or batch_id not in (None, reactor.batch_id):
            return []
        reactor.ended = True
        now = max(timestamp, reactor.last_timestamp)
        return reactor.book.clear_all(now, f"batch {reactor.batch_id} ended")

    def check_stale(self, now: datetime) -> list[AlarmEvent]:
        """Raise 'stale' for reactors silent longer than the timeout; the next reading clears it.

        Reactors whose batch has ended (:meth:`end_batch`) are not expected to report.
        """
        timeout = timedelta(minutes=self.config.alarms.stale_timeout_min)
        events: list[AlarmEvent] = []
        if not self.config.enabled(STALE):
            return events
        for reactor_id in sorted(self._reactors):
            reactor = self._reactors[reactor_id]
            silent = now - reactor.last_timestamp
            if reactor.ended or silent <= timeout:
                continue
            what = (
                f"no reading from {reactor_id} for {explain.duration(silent)} "
                f"(last at {format_timestamp(reactor.last_timestamp)}, seq {reactor.last_seq})"
            )
            finding = Finding(
                check=STALE,
                severity=Severity.WARNING,
                explanation=Explanation(
                    what,
                    causes=("data acquisition or network outage", "publisher stopped",
                            "batch ended without notice"),
                    action="Check the reactor's data connection and publisher status.",
                ),
            )
            events += reactor.book.raise_now(finding, reactor.batch_id, now)
        return events

    def active_alarms(self, reactor_id: str) -> ActiveAlarms:
        """The reactor's raised and acknowledged alarms (``KeyError`` if unknown)."""
        reactor = self._reactors[reactor_id]
        return reactor.book.active(reactor.last_timestamp)

    def reactors(self) -> list[str]:
        """The reactors seen so far, sorted."""
        return sorted(self._reactors)

    def save_state(self) -> bytes:
        """Everything the engine remembers, as bytes for :meth:`load_state`.

        The format is a pickle: load it only from a file this program wrote (trusted
        local data), never from the network.
        """
        return pickle.dumps({"version": STATE_VERSION, "reactors": self._reactors})

    @classmethod
    def load_state(cls, data: bytes, config: MonitorConfig | None = None) -> MonitorEngine:
        """An engine continuing from :meth:`save_state` output (trusted local data only)."""
        saved = pickle.loads(data)
        if not isinstance(saved, dict) or saved.get("version") != STATE_VERSION:
            raise ValueError("not a monitor engine state of a supported version")
        engine = cls(config)
        engine._reactors = saved["reactors"]
        for reactor in engine._reactors.values():
            for check in engine._checks:
                reactor.states.setdefault(check.name, check.new_state())
        return engine

    def _start_batch(self, reading: Reading, previous: _Reactor | None) -> _Reactor:
        reactor = _Reactor(
            batch_id=reading.batch_id,
            last_seq=reading.seq,
            last_timestamp=reading.timestamp,
            history=History(timedelta(hours=self.config.alarms.history_h)),
            states={check.name: check.new_state() for check in self._checks},
            book=previous.book if previous else AlarmBook(reading.reactor_id, self._delays),
            finished=previous.finished if previous else set(),
        )
        self._reactors[reading.reactor_id] = reactor
        return reactor

    @staticmethod
    def _reject_finished(reactor: _Reactor, reading: Reading) -> None:
        if reading.batch_id in reactor.finished:
            raise ReadingRejected(
                f"out of order: batch {reading.batch_id} of {reading.reactor_id} has ended "
                f"(current batch {reactor.batch_id})"
            )

    @staticmethod
    def _reject_replay(reactor: _Reactor, reading: Reading) -> None:
        rid = reading.reactor_id
        if reading.seq == reactor.last_seq:
            raise ReadingRejected(f"duplicate seq {reading.seq} for {rid} (already processed)")
        if reading.timestamp == reactor.last_timestamp:
            raise ReadingRejected(
                f"duplicate timestamp {format_timestamp(reading.timestamp)} for {rid}"
            )
        if reading.seq < reactor.last_seq or reading.timestamp < reactor.last_timestamp:
            raise ReadingRejected(
                f"out of order: seq {reading.seq} at {format_timestamp(reading.timestamp)} is "
                f"earlier than seq {reactor.last_seq} at "
                f"{format_timestamp(reactor.last_timestamp)} for {rid}"
            )
