"""Several monitor instances share one PostgreSQL store: a killed instance's reactors move to the others.

Three `bioreactor monitor` processes with one client id base (so each partition's
persistent MQTT session, ``<client id>-p<n>``, can be resumed by whichever instance
leases that partition), different instance names, six partitions and the PostgreSQL
historian share the fleet out. One of them is killed with SIGKILL while readings
stream in; the survivors must lease its partitions within 30 s, restore
its reactors from what PostgreSQL holds, and between them store every reading once
and exactly the alarm events the engine finds offline, uninterrupted: none lost,
none repeated.

Which instance holds which partition is read from PostgreSQL itself: the leases are
advisory locks (``pg_locks``) of the instances' sessions, each named by its
``application_name``.
"""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from bioreactor.contract import AlarmEvent, Reading, Status, StatusState, decode, encode, topics
from bioreactor.mqtt import BrokerAddress
from monitor.historian.base import partition_of
from tests.monitor_helpers import (
    Collector,
    EventKey,
    PacedPublisher,
    Publisher,
    event_key,
    fleet,
    offline_events,
    start_monitor,
    wait_until,
)
from tests.test_historian import postgres_schema

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PARTITIONS = 6
INSTANCES = ("a", "b", "c")
#: A dead instance's reactors are monitored again by the others within this.
TAKEOVER_S = 30.0
ALL = set(range(PARTITIONS))
T = TypeVar("T")


def union(partitions: Iterable[set[int]]) -> set[int]:
    return set().union(*partitions)


class Store:
    """Reads the shared store: leases per instance, readings per reactor, alarm events.

    Every method returns None when the query fails (the tables not created yet, a
    connection lost), so polling predicates built on them cannot raise.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._db: psycopg.Connection[Any] | None = None

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]] | None:
        try:
            if self._db is None or self._db.closed:
                self._db = psycopg.connect(self.url, autocommit=True)
            return self._db.execute(sql, params).fetchall()
        except psycopg.Error:
            if self._db is not None:
                self._db.close()
                self._db = None
            return None

    def leases(self, names: list[str]) -> dict[str, set[int]] | None:
        """The partitions each named instance's session holds (instances holding none are left out)."""
        rows = self._rows(
            "SELECT a.application_name, l.objid::bigint FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND a.application_name = ANY(%s)",
            (names,),
        )
        if rows is None:
            return None
        held: dict[str, set[int]] = {}
        for name, partition in rows:
            held.setdefault(name, set()).add(int(partition))
        return held

    def readings(self) -> dict[str, int] | None:
        """Readings stored per reactor."""
        rows = self._rows("SELECT reactor_id, count(*) FROM readings GROUP BY reactor_id")
        return None if rows is None else {r: int(n) for r, n in rows}

    def reading_keys(self) -> list[tuple[str, str, int]] | None:
        rows = self._rows("SELECT reactor_id, batch_id, seq FROM readings")
        return None if rows is None else [(r, b, int(s)) for r, b, s in rows]

    def events(self) -> list[tuple[str, str, str, str]] | None:
        """Stored alarm events: reactor, alarm id, state, message."""
        rows = self._rows("SELECT reactor_id, alarm_id, state, message FROM alarms")
        return None if rows is None else [(r, a, s, m) for r, a, s, m in rows]

    def dead_letters(self) -> int | None:
        rows = self._rows("SELECT count(*) FROM dead_letters")
        return None if rows is None else int(rows[0][0])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


class Instances:
    """Three `bioreactor monitor` processes sharing one store and one client id base."""

    def __init__(self, address: BrokerAddress, url: str, workdir: Path) -> None:
        self.address, self.url, self.workdir = address, url, workdir
        tag = uuid.uuid4().hex[:6]
        self.client_id = f"failover-{tag}"
        self.names = [f"failover-{tag}-{n}" for n in INSTANCES]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start_all(self) -> None:
        for name in self.names:
            # application_name tells the instances' sessions apart in pg_stat_activity.
            url = f"{self.url}&application_name={name}"
            self.processes[name] = start_monitor(
                self.address, url, self.client_id, self.log(name),
                "--instance", name, "--partitions", str(PARTITIONS),
            )  # fmt: skip

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{self.log(n).read_text()[-4000:]}" for n in self.names if self.log(n).exists())

    @contextmanager
    def explained(self) -> Iterator[None]:
        """Failed assertions (time-outs included) come with the end of each instance's log."""
        try:
            yield
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.logs()}") from err

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(30)

    def running(self) -> list[str]:
        return [n for n, p in self.processes.items() if p.poll() is None]

    def stop_all(self) -> dict[str, int]:
        """SIGTERM to every instance still running (a clean stop), SIGKILL to any that does not end."""
        for name in self.running():
            self.processes[name].send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        return codes


@pytest.fixture
def store() -> Iterator[tuple[str, Store]]:
    """A fresh schema of the test database, dropped afterwards."""
    with postgres_schema() as url:
        reader = Store(url)
        try:
            yield url, reader
        finally:
            reader.close()


@pytest.fixture
def instances(broker, store, reactors, tmp_path) -> Iterator[Instances]:
    """The instances, stopped after the test: before its retained messages are cleared and its schema dropped."""
    url, _ = store
    fleet_of = Instances(broker, url, tmp_path)
    try:
        yield fleet_of
    finally:
        fleet_of.stop_all()  # before the schema is dropped


@pytest.fixture
def reactors(broker) -> Iterator[list[str]]:
    """The test's reactor ids; what the test left retained on the broker is cleared afterwards."""
    ids = [f"F{i + 1:02d}" for i in range(12)]
    yield ids
    leftovers = [topics.MONITOR_STATUS, topics.MONITOR_METRICS]
    for reactor in ids:
        leftovers += [topics.status_topic(reactor), topics.active_alarms_topic(reactor),
                      topics.coverage_topic(reactor)]  # fmt: skip
    with Publisher(broker) as eraser:
        for topic in leftovers:
            eraser.send_retained(topic, b"")


def answer(query: Callable[[], T | None]) -> T:
    """What ``query`` returns once it answers (it returns None while the store does not)."""
    answers: list[T | None] = [None]

    def answered() -> bool:
        answers[0] = query()
        return answers[0] is not None

    wait_until(answered, 30, "an answer from the store")
    assert answers[0] is not None
    return answers[0]


def end_of_stream(reading: Reading) -> Status:
    return Status(reading.reactor_id, StatusState.END_OF_STREAM, datetime.now(UTC), reading.batch_id, "done")


def test_a_killed_instance_s_reactors_are_taken_over_without_loss_or_repeats(broker, store, instances, reactors):
    _, db = store
    readings = fleet(reactors=len(reactors), count=80, crash_at=10, prefix="F")
    assert sorted({r.reactor_id for r in readings}) == reactors
    partition = {r: partition_of(r, PARTITIONS) for r in reactors}
    per_reactor = Counter(r.reactor_id for r in readings)
    # Each batch ends with its publisher's end-of-stream status: its alarms clear and it is never
    # judged stale while the test waits after the stream.
    expected = offline_events(readings, end_batches=True)
    assert any(state == "raised" for _, state, _ in expected)
    names = instances.names

    def holders() -> dict[str, set[int]]:
        return db.leases(names) or {}

    def stored() -> dict[str, int]:
        return db.readings() or {}

    def stored_events() -> list[tuple[str, str, str, str]]:
        return db.events() or []

    with Collector(broker, topics.ALARMS_WILDCARD) as seen, instances.explained():
        instances.start_all()

        def shared_out() -> bool:
            now = holders()
            return sorted(len(p) for p in now.values()) == [2, 2, 2] and union(now.values()) == ALL

        wait_until(shared_out, 180, f"the three instances holding two of the {PARTITIONS} partitions each")
        assert instances.running() == names

        publisher = PacedPublisher(broker, readings, pause_s=0.03, hold_at=len(readings) // 2)
        wait_until(lambda: sum(stored().values()) >= len(readings) * 0.35, 120, "a third of the readings stored")
        # The victim: the instance whose reactors have the most alarm events stored, so that the
        # survivors must restore raised alarms (and not raise them again).
        held = holders()
        events_now = Counter(partition[r] for r, *_ in stored_events() if r in partition)
        victim = max(names, key=lambda n: (sum(events_now[p] for p in held.get(n, ())), len(held.get(n, ()))))
        victim_partitions = held[victim]
        victim_reactors = sorted(r for r in reactors if partition[r] in victim_partitions)
        instances.kill(victim)
        killed = time.monotonic()
        sent_at_kill = publisher.sent
        publisher.resume()
        survivors = [n for n in names if n != victim]

        def remaining_s() -> float:
            return TAKEOVER_S - (time.monotonic() - killed)

        # Its session ended (its locks are gone) only after any commit it had sent: nothing of
        # the victim's is stored after this.
        def victim_gone() -> bool:
            now = db.leases(names)
            return now is not None and victim not in now

        wait_until(victim_gone, remaining_s(), "the victim's session gone")
        at_kill = answer(db.readings)
        events_at_kill = [e for e in answer(db.events) if e[0] in victim_reactors]
        leased_s: float | None = None

        def taken_over() -> bool:
            """The survivors hold every partition and have stored new readings of each of the victim's reactors."""
            nonlocal leased_s
            if leased_s is None and union(holders().get(n, set()) for n in survivors) == ALL:
                leased_s = time.monotonic() - killed
            now = stored()
            return leased_s is not None and all(now.get(r, 0) > at_kill.get(r, 0) for r in victim_reactors)

        wait_until(taken_over, timeout=remaining_s(), what=f"the survivors monitoring all {PARTITIONS} partitions")
        takeover_s = time.monotonic() - killed
        after = holders()

        publisher.finish()
        last = {r.reactor_id: r for r in readings}
        with Publisher(broker) as ender:
            for reactor in reactors:
                ender.send_retained(topics.status_topic(reactor), encode(end_of_stream(last[reactor])))
        wait_until(lambda: stored() == per_reactor, 120, "every reading stored")
        # Every input has been handled once the end-of-stream clearances are stored too.
        wanted = Counter(expected)

        def stored_keys() -> Counter[EventKey]:
            return Counter((a, s, m) for _, a, s, m in stored_events())

        wait_until(lambda: not wanted - stored_keys(), 120, "every expected alarm event stored")
        wait_until(
            lambda: set(expected) <= {event_key(decode(AlarmEvent, p)) for p in seen.payloads(topics.ALARMS_WILDCARD)},
            60, "every expected alarm event published",
        )  # fmt: skip
        published = [event_key(decode(AlarmEvent, p)) for p in seen.payloads(topics.ALARMS_WILDCARD)]
        final = stored_keys()
        keys = db.reading_keys() or []
        dead_letters = db.dead_letters()
        assert instances.running() == survivors
        codes = instances.stop_all()
        assert all(codes[n] == 0 for n in survivors), codes  # SIGTERM: drained and stopped cleanly

    restored = "\n".join(
        f"{n}: {line.split(' INFO ', 1)[-1]}" for n in survivors for line in instances.log(n).read_text().splitlines()
        if "reactors restored" in line
    )
    moved = {n: sorted(after.get(n, set()) - held.get(n, set())) for n in survivors}
    by_state = Counter((a, s) for a, s, _ in final)
    wanted_by_state = Counter((a, s) for a, s, _ in expected)
    print(
        f"\nreadings: {len(readings)} published ({sent_at_kill} before the kill), {len(keys)} stored, "
        f"{len(keys) - len(set(keys))} stored twice; victim {victim} held partitions {sorted(victim_partitions)} "
        f"({len(victim_reactors)} reactors, {sum(at_kill.get(r, 0) for r in victim_reactors)} readings and "
        f"{len(events_at_kill)} alarm events stored before the kill)\n"
        f"takeover: partitions leased {leased_s:.1f} s after the kill, every reactor of the victim's processed "
        f"again after {takeover_s:.1f} s; partitions taken over: {moved}\n{restored}\n"
        f"events: {len(expected)} offline, {final.total()} stored, {(final - wanted).total()} stored twice or "
        f"unexpected, {(wanted - final).total()} missing; {len(published)} published "
        f"({len(published) - len(set(published))} resent from the outbox)"
    )
    assert 0 < sum(at_kill.get(r, 0) for r in victim_reactors) < sum(per_reactor[r] for r in victim_reactors)
    assert events_at_kill, "the victim must die holding alarms that its successors restore"
    assert sorted(keys) == sorted({(r.reactor_id, r.batch_id, r.seq) for r in readings})
    assert by_state == wanted_by_state, (by_state - wanted_by_state, wanted_by_state - by_state)
    assert final == wanted
    assert set(published) == set(expected)
    assert dead_letters == 0
