"""What the dashboard knows about the fleet, shared by every browser session.

One MQTT bridge per server process writes here (from paho's network thread);
each browser session reads from here (on the server's event loop) and keeps its
own Bokeh models. Everything is guarded by one lock and every history is
bounded, so a long batch or a chatty publisher cannot exhaust memory.

A session pulls only what is new since its last look with a :class:`Cursor`;
when a reactor starts a new batch its histories restart and the cursor says so
(``reset``), so the session replaces its plot data instead of appending to it.

>>> from datetime import datetime, UTC
>>> from bioreactor.contract import Reading, Status, StatusState, encode
>>> state = FleetState(history=4)
>>> at = datetime(2026, 1, 1, tzinfo=UTC)
>>> for seq in range(7):
...     state.apply("bioreactor/R1/reading", encode(Reading(
...         timestamp=at, reactor_id="R1", batch_id="B1", seq=seq, culture_h=seq * 0.5,
...         vcd=1.0, glucose=5.0, lactate=1.0, do=40.0, ph=7.0, temperature=37.0,
...         agitation=120.0, airflow=0.1, feed_rate=2.0)))
>>> update = state.readings_since("R1")
>>> [r.seq for r in update.items], update.reset  # the older half thinned, the newest kept
([0, 4, 5, 6], True)
>>> state.readings_since("R1", update.cursor).items
()
>>> state.apply("bioreactor/R1/status", b"{not json")
>>> state.malformed
1
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from bioreactor.contract import (
    ActiveAlarms,
    AlarmEvent,
    AlarmState,
    ContractError,
    Incident,
    Reading,
    Recommendation,
    Severity,
    Status,
    decode,
)
from bioreactor.contract import topics as t
from bioreactor.recent import RecentKeys

T = TypeVar("T")

#: Readings kept per reactor at full resolution before the older half is thinned: two weeks
#: at one sample per 5 minutes, so a typical fed-batch is drawn unthinned.
DEFAULT_HISTORY = 4032
#: Alarm events kept for the fleet-wide event list.
DEFAULT_EVENTS = 500


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a reader stopped in one series: the series' generation and how many items it had seen."""

    generation: int = -1
    seen: int = 0


@dataclass(frozen=True, slots=True)
class Update(Generic[T]):
    """Items new since a cursor; ``reset`` means they replace everything the reader had."""

    items: tuple[T, ...]
    cursor: Cursor
    reset: bool


class _Series(Generic[T]):
    """A bounded history of a whole batch that readers follow with cursors.

    While it has room it only grows. Once full, it thins its older part to every
    ``stride``-th item (the stride doubling as the batch goes on) instead of
    dropping the oldest: an operator opening a reactor late, or after harvest,
    still sees the whole batch, evenly sampled, with the newest quarter of
    the history at full resolution. Thinning rewrites history, so it starts a new
    generation and every reader's next look is a reset.
    """

    def __init__(self, maxlen: int) -> None:
        self._maxlen = maxlen
        self._items: list[tuple[int, T]] = []  # (arrival number, item)
        self._total = 0
        self._generation = 0
        self._stride = 1

    def append(self, item: T) -> None:
        if len(self._items) >= self._maxlen:
            self._thin()
        self._items.append((self._total, item))
        self._total += 1

    def restart(self) -> None:
        self._items.clear()
        self._total = 0
        self._stride = 1
        self._generation += 1

    def last(self) -> T | None:
        return self._items[-1][1] if self._items else None

    def __len__(self) -> int:
        return len(self._items)

    def since(self, cursor: Cursor) -> Update[T]:
        new = self._total - cursor.seen
        reset = cursor.generation != self._generation or new > len(self._items)
        kept = self._items if reset else self._items[len(self._items) - new :]
        return Update(tuple(item for _, item in kept), Cursor(self._generation, self._total), reset)

    def _thin(self) -> None:
        """Keep the newest quarter and every ``stride``-th older item, to an eighth of the room free."""
        recent_from = self._total - self._maxlen // 4
        while True:
            kept = [(n, item) for n, item in self._items if n >= recent_from or n % self._stride == 0]
            if len(kept) <= self._maxlen * 7 // 8:
                break
            self._stride *= 2
        self._items = kept
        self._generation += 1


@dataclass(frozen=True, slots=True)
class Timed(Generic[T]):
    """A payload placed on its batch's culture-time axis (``None`` before any reading)."""

    culture_h: float | None
    payload: T


@dataclass
class _Reactor:
    history: int
    batch_id: str | None = None
    last_seq: int = -1
    status: Status | None = None
    active: tuple[AlarmEvent, ...] = ()
    incidents: tuple[Incident, ...] = ()
    readings: _Series[Reading] = field(init=False)
    recommendations: _Series[Timed[Recommendation]] = field(init=False)
    events: _Series[Timed[AlarmEvent]] = field(init=False)

    def __post_init__(self) -> None:
        self.readings = _Series(self.history)
        self.recommendations = _Series(self.history)
        self.events = _Series(self.history)

    def new_batch(self, batch_id: str) -> None:
        self.batch_id = batch_id
        self.last_seq = -1
        for series in (self.readings, self.recommendations, self.events):
            series.restart()

    def culture_h_at(self, timestamp: datetime, batch_id: str) -> float | None:
        """Culture hours at ``timestamp``, from the latest reading of the same batch."""
        last = self.readings.last()
        if last is None or batch_id != self.batch_id:
            return None
        return last.culture_h + (timestamp - last.timestamp).total_seconds() / 3600


@dataclass(frozen=True, slots=True)
class ReactorView:
    """A snapshot of one reactor for the fleet overview."""

    reactor_id: str
    batch_id: str | None
    latest: Reading | None
    status: Status | None
    active: tuple[AlarmEvent, ...]
    recommendation: Recommendation | None
    incidents: tuple[Incident, ...] = ()

    def worst_alarm(self) -> AlarmEvent | None:
        """The alarm an operator should look at first: critical over warning, unacknowledged
        over acknowledged, then the longest standing."""
        return min(self.active, key=urgency, default=None)

    def incident_of(self, alarm: AlarmEvent) -> Incident | None:
        """The active incident that groups ``alarm`` with others of its root cause, if any."""
        return next((i for i in self.incidents if i.incident_id == alarm.incident_id), None)

    def alarm_counts(self) -> dict[Severity, int]:
        """Active alarms by severity, every severity present (zero when none)."""
        counts = dict.fromkeys(Severity, 0)
        for alarm in self.active:
            counts[alarm.severity] += 1
        return counts


class FleetState:
    """Thread-safe latest state and bounded history of every reactor seen on the broker.

    Parameters
    ----------
    history
        Readings (and recommendations, and alarm markers) kept per reactor.
    events
        Alarm events kept for the fleet-wide list of recent events.
    """

    def __init__(self, history: int = DEFAULT_HISTORY, events: int = DEFAULT_EVENTS) -> None:
        if history < 1 or events < 1:
            raise ValueError("history and events must keep at least one item")
        self.history = history
        self._lock = threading.Lock()
        self._reactors: dict[str, _Reactor] = {}
        self._events: deque[AlarmEvent] = deque(maxlen=events)
        self._monitor: Status | None = None
        self._malformed = 0
        self._last_problem: str | None = None
        self._duplicates = 0
        self._seen_events: RecentKeys[tuple[str, AlarmState]] = RecentKeys()
        self._leaves: dict[str, Callable[[str, bytes], None]] = {
            t.READING: self._on_reading,
            t.STATUS: self._on_status,
            t.ALARM: self._on_event,
            t.ACTIVE_ALARMS: self._on_active,
            t.RECOMMENDATION: self._on_recommendation,
        }

    # -- writing (the MQTT bridge) ---------------------------------------------------------

    def apply(self, topic: str, payload: bytes) -> None:
        """Take one MQTT message; a payload that breaks the contract is counted and ignored.

        An empty payload on a retained topic is the broker clearing it and
        clears what the dashboard shows. Topics the dashboard does not show are ignored.
        """
        try:
            if topic == t.MONITOR_STATUS:
                self._on_monitor(payload)
                return
            reactor_id = t.reactor_from_topic(topic)
            handler = self._leaves.get(topic.split("/", 2)[-1]) if reactor_id else None
            if reactor_id is not None and handler is not None:
                handler(reactor_id, payload)
        except ContractError as err:
            self._count_malformed(f"{topic}: {err}")

    def add_reading(self, reading: Reading) -> bool:
        """Append a reading; ``False`` for a repeat or an older one of the same batch (QoS 1 redelivery)."""
        with self._lock:
            reactor = self._reactor(reading.reactor_id)
            if reading.batch_id != reactor.batch_id:
                reactor.new_batch(reading.batch_id)
            elif reading.seq <= reactor.last_seq:
                self._duplicates += 1
                return False
            reactor.last_seq = reading.seq
            reactor.readings.append(reading)
            return True

    def add_event(self, event: AlarmEvent) -> None:
        """Record an alarm event (once) in the recent list and, for the current batch, on its reactor's time axis."""
        with self._lock:
            if not self._seen_events.first_time(event.key):
                self._duplicates += 1
                return
            self._events.append(event)
            reactor = self._reactor(event.reactor_id)
            if event.batch_id == reactor.batch_id:
                reactor.events.append(Timed(reactor.culture_h_at(event.timestamp, event.batch_id), event))

    def add_recommendation(self, recommendation: Recommendation) -> None:
        """Record a feed recommendation of the reactor's current batch."""
        with self._lock:
            reactor = self._reactor(recommendation.reactor_id)
            if recommendation.batch_id == reactor.batch_id:
                at = reactor.culture_h_at(recommendation.timestamp, recommendation.batch_id)
                reactor.recommendations.append(Timed(at, recommendation))

    def set_status(self, reactor_id: str, status: Status | None) -> None:
        with self._lock:
            self._reactor(reactor_id).status = status

    def set_active(self, reactor_id: str, active: ActiveAlarms | None) -> None:
        with self._lock:
            reactor = self._reactor(reactor_id)
            reactor.active = active.alarms if active else ()
            reactor.incidents = active.incidents if active else ()

    # -- reading (browser sessions) --------------------------------------------------------

    @property
    def malformed(self) -> int:
        """Messages ignored because they broke the contract."""
        with self._lock:
            return self._malformed

    @property
    def last_problem(self) -> str | None:
        """Why the latest malformed message was ignored."""
        with self._lock:
            return self._last_problem

    @property
    def duplicates(self) -> int:
        """Repeated messages ignored: a reading older than its reactor's latest of the same batch,
        or an alarm event already received (QoS 1 redelivery)."""
        with self._lock:
            return self._duplicates

    @property
    def monitor_status(self) -> Status | None:
        """The monitor service's retained status, if it ever published one."""
        with self._lock:
            return self._monitor

    def reactors(self) -> list[str]:
        """Every reactor seen, sorted."""
        with self._lock:
            return sorted(self._reactors)

    def overview(self) -> list[ReactorView]:
        """A snapshot of every reactor, trouble first: by its worst active alarm (see
        :meth:`ReactorView.worst_alarm`), reactors without one last, then by id."""
        with self._lock:
            views = [self._view(rid, r) for rid, r in self._reactors.items()]
        return sorted(views, key=_trouble)

    def view(self, reactor_id: str) -> ReactorView | None:
        with self._lock:
            reactor = self._reactors.get(reactor_id)
            return None if reactor is None else self._view(reactor_id, reactor)

    def active_alarms(self) -> list[AlarmEvent]:
        """Active alarms of the whole fleet, most urgent first (see :meth:`ReactorView.worst_alarm`)."""
        with self._lock:
            alarms = [a for r in self._reactors.values() for a in r.active]
        return sorted(alarms, key=urgency)

    def recent_events(self, limit: int | None = None) -> list[AlarmEvent]:
        """The latest alarm events of the fleet, newest first."""
        with self._lock:
            events = list(self._events)
        events.reverse()
        return events[:limit]

    def readings_since(self, reactor_id: str, cursor: Cursor = Cursor()) -> Update[Reading]:
        return self._since(reactor_id, cursor, lambda r: r.readings)

    def recommendations_since(self, reactor_id: str, cursor: Cursor = Cursor()) -> Update[Timed[Recommendation]]:
        return self._since(reactor_id, cursor, lambda r: r.recommendations)

    def events_since(self, reactor_id: str, cursor: Cursor = Cursor()) -> Update[Timed[AlarmEvent]]:
        """Alarm events of the reactor's current batch, on its culture-time axis."""
        return self._since(reactor_id, cursor, lambda r: r.events)

    # -- internals ------------------------------------------------------------------------

    def _since(self, reactor_id: str, cursor: Cursor, series: Callable[[_Reactor], _Series[T]]) -> Update[T]:
        with self._lock:
            reactor = self._reactors.get(reactor_id)
            if reactor is None:
                return Update((), Cursor(), cursor != Cursor())
            return series(reactor).since(cursor)

    def _reactor(self, reactor_id: str) -> _Reactor:
        """The reactor's record, created on first mention; call with the lock held."""
        reactor = self._reactors.get(reactor_id)
        if reactor is None:
            reactor = self._reactors[reactor_id] = _Reactor(self.history)
        return reactor

    @staticmethod
    def _view(reactor_id: str, reactor: _Reactor) -> ReactorView:
        last = reactor.recommendations.last()
        return ReactorView(
            reactor_id,
            reactor.batch_id,
            reactor.readings.last(),
            reactor.status,
            reactor.active,
            last.payload if last else None,
            reactor.incidents,
        )

    def _count_malformed(self, problem: str) -> None:
        with self._lock:
            self._malformed += 1
            self._last_problem = problem

    def _on_monitor(self, payload: bytes) -> None:
        status = decode(Status, payload) if payload else None
        with self._lock:
            self._monitor = status

    def _on_reading(self, reactor_id: str, payload: bytes) -> None:
        reading = decode(Reading, payload)
        _same_reactor(reactor_id, reading.reactor_id)
        self.add_reading(reading)

    def _on_status(self, reactor_id: str, payload: bytes) -> None:
        self.set_status(reactor_id, decode(Status, payload) if payload else None)

    def _on_event(self, reactor_id: str, payload: bytes) -> None:
        event = decode(AlarmEvent, payload)
        _same_reactor(reactor_id, event.reactor_id)
        self.add_event(event)

    def _on_active(self, reactor_id: str, payload: bytes) -> None:
        active = decode(ActiveAlarms, payload) if payload else None
        if active is not None:
            _same_reactor(reactor_id, active.reactor_id)
            for alarm in active.alarms:
                _same_reactor(reactor_id, alarm.reactor_id)
        self.set_active(reactor_id, active)

    def _on_recommendation(self, reactor_id: str, payload: bytes) -> None:
        recommendation = decode(Recommendation, payload)
        _same_reactor(reactor_id, recommendation.reactor_id)
        self.add_recommendation(recommendation)


def urgency(alarm: AlarmEvent) -> tuple[bool, bool, datetime, str]:
    """Sort key of alarms: critical first, unacknowledged first (ISA-18.2), then the oldest, then by id."""
    return (alarm.severity is not Severity.CRITICAL, alarm.state is AlarmState.ACKNOWLEDGED, alarm.first_seen,
            alarm.alarm_id)


def _trouble(view: ReactorView) -> tuple[bool, tuple[bool, bool, datetime, str] | tuple[()], str]:
    worst = view.worst_alarm()
    return (worst is None, () if worst is None else urgency(worst), view.reactor_id)


def _same_reactor(topic_reactor: str, payload_reactor: str) -> None:
    """A payload filed under another reactor's topic would show on the wrong card: refuse it."""
    if topic_reactor != payload_reactor:
        raise ContractError("reactor_id", f"{payload_reactor!r} does not match the topic's reactor {topic_reactor!r}")
