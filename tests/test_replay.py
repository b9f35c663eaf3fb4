"""CSV replay over a real broker: completeness, order, units, bad rows, timing, Ctrl-C."""

from __future__ import annotations

import csv
import io
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bioreactor.broker import Mosquitto, free_port
from bioreactor.contract import DeadLetter, Reading, Status, StatusState, decode
from bioreactor.contract.topics import DEAD_LETTER, reading_topic, status_topic
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from simulator.cli import register
from simulator.replay import replay_file

NINE = ("vcd", "glucose", "lactate", "do", "ph", "temperature", "agitation", "airflow", "feed_rate")
GOOD = dict(zip(NINE, ["1.5", "5.2", "0.8", "40", "7.0", "36.9", "120", "0.05", "3"], strict=True))


@dataclass(frozen=True)
class Message:
    arrived: float
    topic: str
    payload: bytes
    retain: bool


class Collector:
    """Subscribes before a replay and hands over what arrives, in arrival order."""

    def __init__(self, address: BrokerAddress, topics: list[str], persistent: bool = False) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self.client = make_client(f"test-collector-{uuid.uuid4().hex[:8]}", persistent=persistent)
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.messages.put(
            Message(time.monotonic(), m.topic, bytes(m.payload), m.retain)
        )
        self.client.on_subscribe = lambda *args: subscribed.set()
        connect(self.client, address)
        self.client.subscribe([(topic, 1) for topic in topics])
        assert subscribed.wait(10), "no SUBACK"

    def until(self, done: Callable[[Message], bool], timeout: float = 30.0) -> list[Message]:
        """Messages until ``done(message)`` is true for one of them."""
        taken: list[Message] = []
        deadline = time.monotonic() + timeout
        while not taken or not done(taken[-1]):
            taken.append(self.messages.get(timeout=max(0.01, deadline - time.monotonic())))
        return taken

    def close(self) -> None:
        disconnect(self.client)


@pytest.fixture
def reactor_ids(broker: BrokerAddress) -> Iterator[list[str]]:
    """Fresh reactor ids; their retained statuses are cleared afterwards."""
    ids = [f"t-{uuid.uuid4().hex[:10]}-{n}" for n in range(3)]
    yield ids
    client = make_client(f"test-cleanup-{uuid.uuid4().hex[:8]}", persistent=False)
    connect(client, broker)
    for reactor in ids:
        client.publish(status_topic(reactor), b"", qos=1, retain=True).wait_for_publish(10)
    disconnect(client)


@pytest.fixture
def collector(broker: BrokerAddress, reactor_ids: list[str]) -> Iterator[Collector]:
    topics = [f"bioreactor/{reactor}/#" for reactor in reactor_ids] + [DEAD_LETTER]
    collector = Collector(broker, topics)
    yield collector
    collector.close()


def final_status(
    reactor: str, state: StatusState = StatusState.END_OF_STREAM
) -> Callable[[Message], bool]:
    def done(message: Message) -> bool:
        return (
            message.topic == status_topic(reactor)
            and decode(Status, message.payload).state is state
        )

    return done


def write_rows(path: Path, header: list[str], rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def readings_of(messages: list[Message], reactor: str) -> list[Reading]:
    return [decode(Reading, m.payload) for m in messages if m.topic == reading_topic(reactor)]


def statuses_of(messages: list[Message], reactor: str) -> list[Status]:
    return [decode(Status, m.payload) for m in messages if m.topic == status_topic(reactor)]


@pytest.mark.broker
def test_foreign_columns_and_units_arrive_in_full_in_order_converted(
    tmp_path: Path, broker: BrokerAddress, reactor_ids: list[str], collector: Collector
) -> None:
    reactor = reactor_ids[0]
    header = ["Time [h]", "VCD", "Glc (mM)", "lactate", "DO", "pH", "Temp_F", "agitation",
              "Air", "feed_rate", "Batch"]  # fmt: skip
    rows: list[list[Any]] = [
        [h / 4, 0.5e6 + h * 1e4, 33.3 - h * 0.1, 0.2, 90, 7.05, 98.6 + h / 100, 80, 20, 0, "B-42"]
        for h in range(200)
    ]
    path = write_rows(tmp_path / "historian export.csv", header, rows)
    options = ["Time [h]=culture_h", "VCD=vcd:cells/mL", "Glc (mM)=glucose:mM",
               "Temp_F=temperature:degF", "Air=airflow:mL/min"]  # fmt: skip
    out, log = io.StringIO(), io.StringIO()
    status = replay_file(
        path, maps=options, speed=None, broker=str(broker), reactor_id=reactor, out=out, log=log
    )
    assert status == 0, log.getvalue()
    messages = collector.until(final_status(reactor))
    readings = readings_of(messages, reactor)
    assert [r.seq for r in readings] == list(range(len(rows)))
    assert [r.culture_h for r in readings] == [row[0] for row in rows]
    assert {(r.reactor_id, r.batch_id) for r in readings} == {(reactor, "B-42")}
    for reading, row in zip(readings, rows, strict=True):
        assert reading.vcd == pytest.approx(row[1] / 1e6)
        assert reading.glucose == pytest.approx(row[2] * 180.16 / 1000)
        assert reading.temperature == pytest.approx((row[6] - 32) * 5 / 9)
        assert reading.airflow == pytest.approx(row[8] / 1000)
    first, last = statuses_of(messages, reactor)
    assert (first.state, first.source) == (StatusState.ONLINE, "replay")
    assert (last.state, last.batch_id) == (StatusState.END_OF_STREAM, "B-42")
    assert last.detail == f"replayed {len(rows)} rows, 0 skipped"
    assert f"replayed {len(rows)} readings of 1 reactor " in out.getvalue()
    assert log.getvalue() == ""


def dead_letters_of(messages: list[Message], reactor: str) -> list[DeadLetter]:
    return [decode(DeadLetter, m.payload) for m in messages if m.topic == DEAD_LETTER and reactor in m.payload.decode()]


@pytest.mark.broker
def test_bad_rows_are_reported_dead_lettered_and_skipped(
    tmp_path: Path, broker: BrokerAddress, reactor_ids: list[str], collector: Collector
) -> None:
    reactor = reactor_ids[0]
    header = ["reactor_id", "culture_h", *NINE]
    rows: list[list[object]] = [[reactor, h, *GOOD.values()] for h in range(12)]
    rows[2][3] = "oops"  # glucose, file line 4
    rows[5][1] = "-3000"  # culture_h beyond its bounds, line 7
    rows[7] = [reactor, 7, "1.0"]  # ragged, line 9
    path = write_rows(tmp_path / "with-bad-rows.csv", header, rows)
    lines = path.read_text().splitlines()
    out, log = io.StringIO(), io.StringIO()
    assert replay_file(path, speed=None, broker=str(broker), out=out, log=log) == 0

    messages = collector.until(final_status(reactor))
    # Dead letters come from the replay's control connection, readings and statuses from the
    # reactor's own: the broker orders each connection's messages, not one against the other.
    while len(dead_letters_of(messages, reactor)) < 3:
        messages += collector.until(lambda message: True)
    readings = readings_of(messages, reactor)
    assert [r.culture_h for r in readings] == [h for h in range(12) if h not in (2, 5, 7)]
    assert [r.seq for r in readings] == list(range(9))
    reported = log.getvalue().splitlines()
    assert reported == [
        "with-bad-rows.csv: line 4: glucose (column 'glucose'): not a number: 'oops'",
        "with-bad-rows.csv: line 7: culture_h (column 'culture_h'): expected `float` >= -1000.0",
        "with-bad-rows.csv: line 9: has 3 cells, the header has 11",
    ]
    letters = dead_letters_of(messages, reactor)
    assert [letter.payload for letter in letters] == [lines[3], lines[6], lines[8]]
    assert [letter.reason for letter in letters] == reported
    assert {letter.topic for letter in letters} == {reading_topic(reactor)}
    assert statuses_of(messages, reactor)[-1].detail == "replayed 9 rows, 3 skipped"
    assert "3 rows skipped" in out.getvalue()


@pytest.mark.broker
def test_reactors_interleave_in_time_order_with_their_spacing(
    tmp_path: Path, broker: BrokerAddress, reactor_ids: list[str], collector: Collector
) -> None:
    a, b = reactor_ids[:2]
    speed, minutes = 300.0, 12  # one culture minute every 0.2 s
    rows = [[a, f"2026-02-01T00:{m:02d}:00Z", *GOOD.values()] for m in range(0, minutes, 2)]
    rows += [[b, f"2026-02-01T00:{m:02d}:00Z", *GOOD.values()] for m in range(1, minutes, 2)]
    path = write_rows(tmp_path / "two.csv", ["reactor_id", "timestamp", *NINE], rows)
    assert replay_file(path, speed=speed, broker=str(broker), out=io.StringIO()) == 0

    messages = collector.until(final_status(b))
    arrivals = [m for m in messages if m.topic in (reading_topic(a), reading_topic(b))]
    stamps = [decode(Reading, m.payload).timestamp for m in arrivals]
    assert stamps == sorted(stamps) and len(stamps) == minutes
    expected_span = (minutes - 1) * 60 / speed
    span = arrivals[-1].arrived - arrivals[0].arrived
    assert span >= 0.8 * expected_span  # never faster than asked
    middle = (arrivals[minutes // 2].arrived - arrivals[0].arrived) / span
    assert 0.25 < middle < 0.75  # spread over the span, not bunched


@pytest.mark.broker
def test_ctrl_c_stops_cleanly(tmp_path: Path, broker: BrokerAddress, reactor_ids: list[str],
                              collector: Collector) -> None:  # fmt: skip
    reactor = reactor_ids[0]
    rows = [[h, *GOOD.values()] for h in range(100)]  # hours apart: would take days at speed 1
    path = write_rows(tmp_path / f"{reactor}.csv", ["culture_h", *NINE], rows)
    script = (
        "import sys; from pathlib import Path; from simulator.replay import replay_file; "
        "sys.exit(replay_file(Path(sys.argv[1]), speed=1.0, broker=sys.argv[2]))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(path), str(broker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        collector.until(lambda m: m.topic == reading_topic(reactor))
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "replayed 1 readings of 1 reactor " in stdout and "interrupted" in stdout
    final = statuses_of(collector.until(final_status(reactor, StatusState.OFFLINE)), reactor)[-1]
    assert (final.state, final.detail) == (
        StatusState.OFFLINE,
        "interrupted: replayed 1 rows, 0 skipped of 100",
    )


@pytest.mark.broker
def test_nothing_is_lost_across_a_broker_restart(tmp_path: Path, private_broker: Mosquitto) -> None:
    reactor = f"t-{uuid.uuid4().hex[:10]}"
    rows = [[m / 60, *GOOD.values()] for m in range(30)]  # a culture minute apart
    path = write_rows(tmp_path / "long.csv", ["culture_h", *NINE], rows)
    # A persistent session: the broker keeps what arrives while the collector reconnects.
    collector = Collector(private_broker.address, [f"bioreactor/{reactor}/#"], persistent=True)
    replay = threading.Thread(
        target=replay_file,
        args=(path,),
        kwargs={"speed": 300.0, "broker": str(private_broker.address), "reactor_id": reactor,
                "out": io.StringIO()},
    )  # fmt: skip
    replay.start()
    try:
        before = collector.until(
            lambda m: m.topic == reading_topic(reactor) and b'"seq":5' in m.payload
        )
        private_broker.restart()
        after = collector.until(final_status(reactor), timeout=60)
    finally:
        replay.join(60)
        collector.close()
    seqs = [r.seq for r in readings_of(before + after, reactor)]
    assert sorted(set(seqs)) == list(range(len(rows)))  # QoS 1 may repeat, never lose
    # The will said offline when the broker went down; the replay said online again.
    states = [s.state for s in statuses_of(after, reactor)]
    assert states[-2:] == [StatusState.ONLINE, StatusState.END_OF_STREAM]
    assert statuses_of(after, reactor)[-1].detail == f"replayed {len(rows)} rows, 0 skipped"


def command_line() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so that "replay" is a subcommand as in `bioreactor`
    register(app)
    return app


@pytest.mark.broker
def test_replay_command(tmp_path: Path, broker: BrokerAddress, reactor_ids: list[str],
                        collector: Collector) -> None:  # fmt: skip
    reactor = reactor_ids[0]
    path = write_rows(tmp_path / "x.csv", ["Hours", *NINE], [[h, *GOOD.values()] for h in range(5)])
    args = ["replay", str(path), "--as-fast-as-possible", "--map", "Hours=culture_h:h",
            "--broker", str(broker), "--reactor-id", reactor]  # fmt: skip
    result = CliRunner().invoke(command_line(), args)
    assert result.exit_code == 0, result.output
    assert "replayed 5 readings of 1 reactor " in result.stdout
    assert len(readings_of(collector.until(final_status(reactor)), reactor)) == 5


def test_replay_command_explains_unmatched_columns(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "x.csv", ["when", "Glucose"], [["0", "5"]])
    result = CliRunner().invoke(
        command_line(), ["replay", str(path), "--broker", "mqtt://127.0.0.1:1"]
    )
    assert result.exit_code == 2
    assert "no column for: timestamp or culture_h" in result.stderr
    assert "--map" in result.stderr


def test_replay_command_reports_an_unreachable_broker(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "x.csv", ["culture_h", *NINE], [[0, *GOOD.values()]])
    result = CliRunner().invoke(
        command_line(), ["replay", str(path), "--broker", f"mqtt://127.0.0.1:{free_port()}"]
    )
    assert result.exit_code == 1
    assert "cannot reach the MQTT broker" in result.stderr
