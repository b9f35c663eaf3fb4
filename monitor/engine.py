"""The monitor engine: every check over every reactor, the alarms they cause, and their incidents.

Pure in-process logic: no I/O and no wall clock (time comes from the readings or
the arguments), deterministic, so the same readings give the same events online
(the MQTT service) and offline (``bioreactor analyze``), whatever way they are
cut into waves: a reactor's readings are processed in their order, and one
reactor's never depend on another's.

A reactor's stream is checked before its readings are: a duplicate or an
earlier reading is refused (:class:`ReadingRejected`, state unchanged), a jump
in ``seq`` beyond ``max_seq_jump`` is refused as suspect, a smaller gap raises a
data-gap warning naming the missing range, and a new batch clears the alarms of
the one before.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.config import MonitorConfig
>>> engine = MonitorEngine(MonitorConfig.default())
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> events = []
>>> for i in range(4):
...     events += engine.process(reading_at(t0 + timedelta(minutes=5 * i), seq=i, glucose=0.3)).events
>>> [(e.check, e.severity.value, e.state.value) for e in events]
[('limit_low_low', 'critical', 'raised'), ('limit_low', 'warning', 'raised')]
>>> engine.process(reading_at(t0, seq=3)).rejected[0][1]
'duplicate seq 3 for R01 (already processed)'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np

from bioreactor.contract import (
    Acknowledgement,
    ActiveAlarms,
    AlarmEvent,
    Coverage,
    Incident,
    Reading,
    Severity,
    SkippedCheck,
    format_timestamp,
    replace,
)
from monitor import explain
from monitor.alarms import AlarmBook, Delays, Subject
from monitor.checks import CHECK_TYPES, DATA_GAP, STALE
from monitor.checks.base import Explanation, Findings
from monitor.config import MonitorConfig
from monitor.incidents import IncidentBook
from monitor.pipeline import Pipeline
from monitor.wave import COLUMN

#: Version of the state format of :meth:`MonitorEngine.dump`.
STATE_VERSION = 3
#: Batches of a reactor remembered as finished, to refuse their late readings.
FINISHED_MEMORY = 20


class ReadingRejected(Exception):  # noqa: N818 - a decision about a reading, not an error of the engine
    """A reading the engine refuses without changing any state: duplicate, out of order, suspect."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Stream(msgspec.Struct, kw_only=True):
    """What the engine knows about a reactor's stream (serialisable as data)."""

    batch_id: str
    last_seq: int
    last_time: float
    finished: list[str] = msgspec.field(default_factory=list)
    ended: bool = False  # the publisher announced the end of the batch: no stale alarms
    coverage: list[str] = msgspec.field(default_factory=list)  # the last coverage reported, to tell changes


class _Saved(msgspec.Struct):
    version: int
    stream: _Stream
    arrays: dict[str, dict[str, bytes]]
    alarms: bytes
    incidents: bytes


@dataclass
class Outcome:
    """What a call changed: alarm and incident events in order, refused readings, reactors to restate."""

    events: list[AlarmEvent] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    rejected: list[tuple[Reading, str]] = field(default_factory=list)
    #: Reactors whose active alarms or incidents changed (their retained list is out of date).
    touched: set[str] = field(default_factory=set)
    #: Reactors whose coverage (which checks can run) changed, with the new coverage.
    coverage: dict[str, Coverage] = field(default_factory=dict)

    def __iadd__(self, other: Outcome) -> Outcome:
        self.events += other.events
        self.incidents += other.incidents
        self.rejected += other.rejected
        self.touched |= other.touched
        self.coverage.update(other.coverage)
        return self


def waves(readings: Iterable[Reading]) -> Iterable[list[Reading]]:
    """Consecutive runs of readings of distinct reactors: each reactor's readings stay in order.

    >>> from datetime import datetime, UTC
    >>> from monitor.checks.base import reading_at
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> [[r.reactor_id for r in w] for w in waves([reading_at(t, reactor_id=i) for i in "ABAC"])]
    [['A', 'B'], ['A', 'C']]
    """
    wave: list[Reading] = []
    seen: set[str] = set()
    for reading in readings:
        if reading.reactor_id in seen:
            yield wave
            wave, seen = [], set()
        wave.append(reading)
        seen.add(reading.reactor_id)
    if wave:
        yield wave


class MonitorEngine:
    """Run the checks per reactor and keep each reactor's alarms and incidents."""

    def __init__(self, config: MonitorConfig | None = None) -> None:
        self.config = config or MonitorConfig.default()
        self.pipeline = Pipeline(self.config, CHECK_TYPES)
        alarms = self.config.alarms
        self.book = AlarmBook(Delays(on=timedelta(minutes=alarms.on_delay_min),
                                     off=timedelta(minutes=alarms.off_delay_min)))
        self.incidents = IncidentBook()
        self._streams: dict[str, _Stream] = {}

    # -- readings ------------------------------------------------------------------------------

    def process(self, readings: Reading | Iterable[Reading]) -> Outcome:
        """Check readings (one or many, in arrival order); returns what they changed."""
        outcome = Outcome()
        for wave in waves([readings] if isinstance(readings, Reading) else readings):
            outcome += self._process_wave(wave)
        return outcome

    def _process_wave(self, readings: list[Reading]) -> Outcome:
        outcome = Outcome()
        accepted: list[Reading] = []
        for reading in readings:
            try:
                outcome += self._admit(reading)
            except ReadingRejected as refused:
                outcome.rejected.append((reading, refused.reason))
                continue
            accepted.append(reading)
        if not accepted:
            return outcome
        pipeline = self.pipeline
        wave = pipeline.wave(accepted)
        findings = pipeline.findings(wave)
        startup = wave.hours < self.config.alarms.startup_h
        if startup.any():  # start-up: checks learn, alarms wait (data-quality alarms do not)
            findings = [f if f.check == "bad_value" else _quiet(f, startup) for f in findings]
        subject = Subject(wave.slots, wave.times, [r.reactor_id for r in accepted], [r.batch_id for r in accepted])
        for i, event in self.book.apply(subject, findings, recovery=_recovery):
            self._emit(outcome, int(wave.slots[i]), [event])
        for reading in accepted:
            stream = self._streams[reading.reactor_id]
            stream.last_seq, stream.last_time, stream.ended = reading.seq, reading.timestamp.timestamp(), False
        for i in pipeline.coverage_changed(wave):
            self._note_coverage(accepted[i], int(wave.slots[i]), self._streams[accepted[i].reactor_id], outcome)
        return outcome

    def _admit(self, reading: Reading) -> Outcome:
        """Stream checks before the readings are: new batch, duplicates, order, gaps, stale alarms."""
        outcome = Outcome()
        stream = self._streams.get(reading.reactor_id)
        now = reading.timestamp.timestamp()
        if stream is None or reading.batch_id != stream.batch_id:
            if stream is not None:
                if reading.batch_id in stream.finished:
                    raise ReadingRejected(
                        f"out of order: batch {reading.batch_id} of {reading.reactor_id} has ended "
                        f"(current batch {stream.batch_id})"
                    )
                slot = self._slot(reading.reactor_id)
                what = f"batch {stream.batch_id} ended ({reading.batch_id} started)"
                self._emit(outcome, slot, self.book.clear_all(slot, max(now, stream.last_time), what))
                stream.finished = [*stream.finished[-(FINISHED_MEMORY - 1):], stream.batch_id]
                self.pipeline.slots.reset([slot])
            self._streams[reading.reactor_id] = _Stream(
                batch_id=reading.batch_id, last_seq=reading.seq - 1, last_time=-np.inf,
                finished=stream.finished if stream else [],
            )
            stream = self._streams[reading.reactor_id]
            self._slot(reading.reactor_id)
        else:
            self._refuse_replay(stream, reading, now)
        slot = self._slot(reading.reactor_id)
        if self.book.has(slot, STALE):
            self._emit(outcome, slot, self.book.clear_check(slot, STALE, now, "readings resumed"))
        missing = reading.seq - stream.last_seq - 1
        if missing > 0 and self.config.enabled(DATA_GAP):
            self._emit(outcome, slot, self._gap(reading, slot, stream, missing))
        return outcome

    def _refuse_replay(self, stream: _Stream, reading: Reading, now: float) -> None:
        rid = reading.reactor_id
        if reading.seq == stream.last_seq:
            raise ReadingRejected(f"duplicate seq {reading.seq} for {rid} (already processed)")
        if now == stream.last_time:
            raise ReadingRejected(f"duplicate timestamp {format_timestamp(reading.timestamp)} for {rid}")
        if reading.seq < stream.last_seq or now < stream.last_time:
            raise ReadingRejected(
                f"out of order: seq {reading.seq} at {format_timestamp(reading.timestamp)} is earlier than seq "
                f"{stream.last_seq} at {format_timestamp(_time(stream.last_time))} for {rid}"
            )
        if reading.seq - stream.last_seq > self.config.alarms.max_seq_jump:
            raise ReadingRejected(
                f"suspect seq jump for {rid}: from {stream.last_seq} to {reading.seq} "
                f"(more than {self.config.alarms.max_seq_jump}); a publisher restart must start a new batch"
            )

    def _gap(self, reading: Reading, slot: int, stream: _Stream, missing: int) -> list[AlarmEvent]:
        first, last = stream.last_seq + 1, reading.seq - 1
        span = f"seq {first}" if missing == 1 else f"seq {first} to {last}"
        since = f" since {format_timestamp(_time(stream.last_time))}" if np.isfinite(stream.last_time) else ""
        explanation = Explanation(
            f"{missing} reading(s) of {reading.reactor_id} never arrived: {span}{since}",
            causes=("data acquisition or network outage", "broker restart that lost queued messages",
                    "publisher restarted mid-batch"),
            action="Check the gateway's buffer and the broker's persistence; the gap's data may need a backfill.",
        )
        return self.book.raise_now(
            slot, reading.reactor_id, reading.batch_id, check=DATA_GAP, variable=None, severity=Severity.WARNING,
            now=reading.timestamp.timestamp(), explanation=explanation, value=float(missing),
        )

    # -- other inputs --------------------------------------------------------------------------

    def acknowledge(self, reactor_id: str, ack: Acknowledgement, received_at: datetime | None = None) -> Outcome:
        """Acknowledge an active alarm (``KeyError``: unknown reactor or alarm; ``ValueError``: already done).

        The event is stamped on the reactor's data clock (its last reading), so raise and
        acknowledgement are on one clock; ``received_at`` (this machine's clock) is kept too.
        """
        stream = self._streams[reactor_id]
        slot = self._slot(reactor_id)
        event = self.book.acknowledge(slot, ack, stream.last_time, received_at or ack.timestamp)
        outcome = Outcome()
        self._emit(outcome, slot, [event])
        return outcome

    def end_batch(self, reactor_id: str, batch_id: str | None) -> Outcome:
        """The reactor's publisher announced the end of ``batch_id`` (None: the current batch).

        Clears the reactor's alarms ('batch ended'), stamped at its last reading, and stops
        stale alarms until its next reading. An unknown reactor, or an end announced for
        another batch than the current one (an old retained status), changes nothing.
        """
        outcome = Outcome()
        stream = self._streams.get(reactor_id)
        if stream is None or batch_id not in (None, stream.batch_id):
            return outcome
        stream.ended = True
        slot = self._slot(reactor_id)
        self._emit(outcome, slot, self.book.clear_all(slot, stream.last_time, f"batch {stream.batch_id} ended"))
        return outcome

    def stale(self, reactor_id: str, silent: timedelta) -> Outcome:
        """Raise 'stale' when ``reactor_id`` has been silent for ``silent`` on its own data clock.

        The service judges silence per reactor from the wall clock and the pace of the
        reactor's own stream (``monitor.staleness``); the alarm is stamped when the
        stream became overdue, its last reading plus the timeout, so nothing runs ahead
        of the data. The next reading clears it.
        """
        outcome = Outcome()
        stream = self._streams.get(reactor_id)
        timeout = timedelta(minutes=self.config.alarms.stale_timeout_min)
        if stream is None or stream.ended or silent <= timeout or not self.config.enabled(STALE):
            return outcome
        last = _time(stream.last_time)
        explanation = Explanation(
            f"no reading from {reactor_id} for {explain.duration(silent)} on its own clock "
            f"(last at {format_timestamp(last)}, seq {stream.last_seq})",
            causes=("data acquisition or network outage", "publisher stopped", "batch ended without notice"),
            action="Check the reactor's data connection and publisher status.",
        )
        slot = self._slot(reactor_id)
        overdue = (last + timeout).timestamp()
        self._emit(outcome, slot, self.book.raise_now(
            slot, reactor_id, stream.batch_id, check=STALE, variable=None, severity=Severity.WARNING, now=overdue,
            explanation=explanation, value=silent.total_seconds() / 60.0,
        ))
        return outcome

    # -- views ---------------------------------------------------------------------------------

    def active_alarms(self, reactor_id: str) -> ActiveAlarms:
        """The reactor's raised and acknowledged alarms and open incidents (``KeyError`` if unknown)."""
        stream = self._streams[reactor_id]
        slot = self._slot(reactor_id)
        incidents = self.incidents.active(slot)
        grouped = {m.alarm_id: i.incident_id for i in incidents for m in i.alarms}
        alarms = tuple(replace(a, incident_id=grouped.get(a.alarm_id)) for a in self.book.active(slot))
        return ActiveAlarms(
            reactor_id=reactor_id, timestamp=_time(max(stream.last_time, 0.0)), alarms=alarms, incidents=incidents
        )

    def reactors(self) -> list[str]:
        """The reactors seen so far, sorted."""
        return sorted(self._streams)

    def last_time(self, reactor_id: str) -> datetime:
        """The time of the reactor's last reading (its data clock)."""
        return _time(self._streams[reactor_id].last_time)

    def coverage(self, reactor_id: str) -> Coverage:
        """Which checks run on the reactor, and which cannot and why (``KeyError`` if unknown)."""
        stream = self._streams[reactor_id]
        running, skipped = self.pipeline.coverage(self._slot(reactor_id))
        return Coverage(
            reactor_id=reactor_id, timestamp=_time(max(stream.last_time, 0.0)), running=tuple(running),
            skipped=tuple(SkippedCheck(check=c, reason=r) for c, r in skipped),
        )

    # -- state ---------------------------------------------------------------------------------

    def dump(self, reactor_id: str) -> bytes:
        """Everything the engine remembers of one reactor, as msgpack data (never code)."""
        slot = self._slot(reactor_id)
        saved = _Saved(
            STATE_VERSION, self._streams[reactor_id], self.pipeline.slots.dump(slot), self.book.dump(slot),
            self.incidents.dump(slot),
        )
        return msgspec.msgpack.encode(saved)

    def load(self, reactor_id: str, data: bytes) -> None:
        """Continue a reactor from :meth:`dump` output.

        ``ValueError`` for another format version or a state saved with another configuration.
        """
        saved = msgspec.msgpack.decode(data, type=_Saved)
        if saved.version != STATE_VERSION:
            raise ValueError(f"engine state version {saved.version} is not {STATE_VERSION}")
        slot = self._slot(reactor_id)
        try:
            self.pipeline.slots.load(slot, saved.arrays)
        except ValueError:
            self.pipeline.slots.load(slot, {})  # nothing half-loaded stays behind
            raise
        self._streams[reactor_id] = saved.stream
        self.book.load(slot, saved.alarms)
        self.incidents.load(slot, saved.incidents)

    def save_state(self) -> bytes:
        """Every reactor's :meth:`dump`, in one msgpack map."""
        return msgspec.msgpack.encode({r: self.dump(r) for r in self.reactors()})

    @classmethod
    def load_state(cls, data: bytes, config: MonitorConfig | None = None) -> MonitorEngine:
        """An engine continuing from :meth:`save_state` output."""
        engine = cls(config)
        for reactor_id, dumped in msgspec.msgpack.decode(data, type=dict[str, bytes]).items():
            engine.load(reactor_id, dumped)
        return engine

    # -- internals -----------------------------------------------------------------------------

    def _slot(self, reactor_id: str) -> int:
        return self.pipeline.slots.index(reactor_id)

    def _emit(self, outcome: Outcome, slot: int, events: Sequence[AlarmEvent]) -> None:
        for event in events:
            incidents = self.incidents.record(slot, event)
            outcome.events.append(replace(event, incident_id=incidents[-1].incident_id) if incidents else event)
            outcome.incidents += incidents
            outcome.touched.add(event.reactor_id)

    def _note_coverage(self, reading: Reading, slot: int, stream: _Stream, outcome: Outcome) -> None:
        running, skipped = self.pipeline.coverage(slot)
        signature = [*running, "|", *(f"{c}:{r}" for c, r in skipped)]
        if signature != stream.coverage:
            stream.coverage = signature
            outcome.coverage[reading.reactor_id] = Coverage(
                reactor_id=reading.reactor_id, timestamp=reading.timestamp, running=tuple(running),
                skipped=tuple(SkippedCheck(check=c, reason=r) for c, r in skipped),
            )


def _quiet(findings: Findings, mask: np.ndarray) -> Findings:
    """``findings`` with the condition forced off where ``mask`` holds."""
    return Findings(findings.check, findings.variable, findings.severity, findings.holds & ~mask, findings.known,
                    findings.value, findings.limit, findings.explain, findings.immediate)


#: How the statistical checks' conditions end, for their cleared messages.
_CONDITION_ENDED: dict[str, str] = {
    "zscore": "{name} no longer stands out from its recent mean",
    "rate": "{name} no longer changes faster than plausible",
    "cusum": "{name} no longer drifts from its set point",
    "flatline": "{name} shows its usual noise again",
    "envelope": "{name} is back within the reference batches' band",
}


def _recovery(findings: Findings, i: int) -> str:
    """What returned to normal, in words.

    Only a limit alarm clears because the value is back; a statistical or diagnostic
    alarm clears when its condition ends (a z-score's mean catches up with a new level),
    so its message says that and gives the value without calling it normal.
    """
    words = findings.check.replace("_", " ")
    variable = findings.variable
    value = float(findings.value[i]) if variable in COLUMN else float("nan")
    if variable is None or np.isnan(value):
        return f"{words} condition no longer present"
    name, now = explain.label(variable), explain.quantity(variable, value)
    if findings.check.startswith("limit") or findings.check == "bad_value":
        return f"{name} back to {now}"
    template = _CONDITION_ENDED.get(findings.check, words + " condition no longer present")
    return f"{template.format(name=name)} ({name} now {now})"


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


__all__ = ["MonitorEngine", "Outcome", "ReadingRejected", "waves"]
