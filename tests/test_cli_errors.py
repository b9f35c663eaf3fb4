"""Every command fails in one line, and what reaches the monitor is what it can use.

Each command runs as its own process, as a user runs it, against a broker that
cannot be reached (a port nothing listens on: refused at once, so nothing waits
for a timeout), with a malformed broker address, or without a file it needs; it
must exit non-zero with exactly one line on stderr and no traceback. Then, over
this module's own Mosquitto: a replay that would put overlapping batches on one
reactor is refused before it publishes anything while ``--reactor-id`` over a
one-reactor file streams what the monitor accepts, and an empty payload (MQTT's
way of clearing a retained message) is ignored by the monitor and by
``bioreactor alerts`` instead of being taken for a malformed message.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bioreactor.broker import free_port
from bioreactor.cli import app
from bioreactor.contract import Status, StatusState, decode, encode, topics
from bioreactor.mqtt import BrokerAddress
from monitor.alerts import AlertFilter, AlertTail, Follow, Notice
from monitor.engine import MonitorEngine
from monitor.historian import SqliteHistorian, Table
from monitor.service import MonitorService, ServiceSettings
from simulator.replay import replay_file
from tests.dashboard_helpers import alarm
from tests.monitor_helpers import START, Collector, Publisher, reading, wait_until

NINE = ("vcd", "glucose", "lactate", "do", "ph", "temperature", "agitation", "airflow", "feed_rate")
GOOD = ("1.5", "5.2", "0.8", "40", "7.0", "36.9", "120", "0.05", "3")
#: A readable CSV of readings, written into each command's working directory.
READINGS = "readings.csv"


def write_readings(path: Path, rows: Sequence[tuple[str, str, int]]) -> Path:
    """A CSV of healthy readings: one row per ``(reactor_id, batch_id, minutes after START)``."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["reactor_id", "batch_id", "timestamp", *NINE])
        for reactor, batch, minutes in rows:
            writer.writerow([reactor, batch, (START + timedelta(minutes=minutes)).isoformat(), *GOOD])
    return path


def bioreactor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``bioreactor ARGS`` in ``cwd``, without the caller's broker login (it would be checked first)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("BIOREACTOR_MQTT_")}
    return subprocess.run(
        [sys.executable, "-m", "bioreactor", *args],
        cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """A non-zero exit with exactly one ``error:`` line on stderr holding ``fragments``; the line."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode != 0, result.stdout
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


# --- one line in every command -----------------------------------------------------------------

#: Every command that talks to the broker, with what else it needs (relative to its working directory).
BROKER_COMMANDS = {
    "simulate": ["simulate", "--reactors", "1", "--days", "0.01"],
    "replay": ["replay", READINGS, "--as-fast-as-possible"],
    "monitor": ["monitor", "--historian", "monitor.sqlite"],
    "alerts": ["alerts"],
    "dashboard": ["dashboard", "--port", "0"],
}


@pytest.mark.parametrize("args", BROKER_COMMANDS.values(), ids=BROKER_COMMANDS.keys())
def test_an_unreachable_broker_is_one_line(tmp_path: Path, args: list[str]) -> None:
    write_readings(tmp_path / READINGS, [("R1", "B1", m) for m in range(3)])
    port = free_port()
    result = bioreactor(*args, "--broker", f"mqtt://127.0.0.1:{port}", cwd=tmp_path)
    assert_one_line_error(result, f"cannot reach the MQTT broker at mqtt://127.0.0.1:{port} (connection refused)")
    assert result.returncode == 1


MALFORMED = [
    *((args, "http//foo", "malformed broker address 'http//foo'") for args in BROKER_COMMANDS.values()),
    (["demo", "--workdir", "demo"], "http//foo", "malformed broker address 'http//foo'"),
    (["alerts"], "http://x", "unsupported broker scheme 'http'"),
    (["alerts"], "mqtt://host:notaport", "the port must be a number"),
    (["alerts"], "mqtt://:{port}", "no host in broker address"),
]


@pytest.mark.parametrize(
    ("args", "url", "message"), MALFORMED, ids=[f"{args[0]}-{url}" for args, url, _ in MALFORMED]
)
def test_a_malformed_broker_address_is_one_line(tmp_path: Path, args: list[str], url: str, message: str) -> None:
    write_readings(tmp_path / READINGS, [("R1", "B1", 0)])
    result = bioreactor(*args, "--broker", url.format(port=free_port()), cwd=tmp_path)
    assert_one_line_error(result, message)
    assert result.returncode == 2


#: Every command that reads a file, each told to read one that does not exist (``missing.*``).
MISSING_FILES = {
    "replay": ["replay", "missing.csv"],
    "analyze": ["analyze", "missing.csv", "--out", "events.csv"],
    "predict": ["predict", "missing.csv"],
    "predict-model": ["predict", READINGS, "--model", "missing.joblib"],
    "train": ["train", "--data", "missing.csv"],
    "evaluate-detection": ["evaluate-detection", "--data", "missing.csv"],
    "evaluate-feeding": ["evaluate-feeding", "--model", "missing.joblib"],
    "profile-fit": ["profile", "fit", "missing.csv", "--out", "plant.profile.toml"],
    "profile-show": ["profile", "show", "missing.profile.toml"],
    "monitor": ["monitor", "--profile", "missing.profile.toml"],
    "export": ["export", "--historian", "missing.sqlite", "--out", "readings-out.csv"],
    "dashboard": ["dashboard", "--historian", "missing.sqlite"],
    "generate": ["generate", "--plant", "missing.toml", "--out", "generated.csv"],
    "simulate": ["simulate", "--plant", "missing.toml"],
}


@pytest.mark.parametrize("args", MISSING_FILES.values(), ids=MISSING_FILES.keys())
def test_a_missing_file_is_one_line(tmp_path: Path, args: list[str]) -> None:
    write_readings(tmp_path / READINGS, [("R1", "B1", 0)])
    missing = next(arg for arg in args if arg.startswith("missing."))
    assert_one_line_error(bioreactor(*args, cwd=tmp_path), missing)


def test_a_group_alone_shows_its_help_and_a_bug_keeps_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    alone = runner.invoke(app, ["profile"])
    assert "fit" in alone.stdout and alone.stderr == ""

    def broken(*args: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr("monitor.analyze.analyze_csv", broken)
    csv_file = write_readings(tmp_path / READINGS, [("R1", "B1", 0)])
    result = runner.invoke(app, ["analyze", str(csv_file), "--out", str(tmp_path / "events.csv")])
    assert isinstance(result.exception, KeyError) and "error:" not in result.stderr


def test_broker_addresses_other_than_mqtt_are_refused_and_its_forms_still_parse() -> None:
    for url in ["http//foo", "http://x", "mqtt://host:notaport", "mqtt://:8080", "mqtt://h:0", "mqtt://h:70000",
                "mqtt://my host", "mqtt://[::1", "ws://h"]:  # fmt: skip
        with pytest.raises(ValueError, match=re.escape(repr(url))):
            BrokerAddress.parse(url, env={})
    assert BrokerAddress.parse("mqtts://ana:s3cret@broker.example.org:9000", env={}) == BrokerAddress(
        "broker.example.org", 9000, tls=True, username="ana", password="s3cret"
    )
    assert BrokerAddress.parse("mqtt://[::1]:8080", env={}) == BrokerAddress("::1", 8080)
    assert BrokerAddress.parse("broker.local", env={}).host == "broker.local"


# --- what reaches the monitor, over a real broker ------------------------------------------------


def stored_seqs(service: MonitorService, reactor_id: str) -> list[tuple[str, int]]:
    """``(batch, seq)`` of the readings of ``reactor_id`` in the monitor's historian."""
    assert isinstance(service.store, SqliteHistorian)
    with SqliteHistorian(service.store.path, readonly=True) as historian:
        frame = historian.frame(Table.READINGS)
    mine = frame[frame["reactor_id"] == reactor_id]
    return list(zip(mine["batch_id"], mine["seq"], strict=True))


@pytest.fixture
def monitor(broker: BrokerAddress, tmp_path: Path) -> Iterator[MonitorService]:
    """A monitor service of this test's own, returned once it is subscribed."""
    client_id = f"cli-errors-{uuid.uuid4().hex[:6]}"
    service = MonitorService(
        broker, SqliteHistorian(tmp_path / "monitor.sqlite"), MonitorEngine, ServiceSettings(client_id=client_id)
    )
    with Collector(broker, topics.MONITOR_STATUS) as statuses:
        service.start()

        def online() -> bool:
            # The monitor subscribes before announcing itself, so its "online" means it hears everything after.
            seen = [decode(Status, payload) for payload in statuses.payloads(topics.MONITOR_STATUS) if payload]
            return any(status.source == client_id and status.state is StatusState.ONLINE for status in seen)

        wait_until(online, what="the monitor online")
    yield service
    service.stop()


@pytest.mark.broker
def test_reactor_id_refuses_overlapping_batches_and_renames_one_reactor(
    tmp_path: Path, monitor: MonitorService
) -> None:
    target = f"RX{uuid.uuid4().hex[:8]}"
    # Two reactors that ran side by side: on one reactor their batches would overlap.
    fleet = write_readings(tmp_path / "fleet.csv", [(r, f"B-{r}", m) for m in range(6) for r in ("R1", "R2")])
    log = io.StringIO()
    status = replay_file(fleet, speed=None, broker=str(monitor.address), reactor_id=target, log=log)
    assert status == 2
    assert log.getvalue().splitlines() == [
        f"error: fleet.csv: 2 batches of reactor {target} overlap in time (B-R1, B-R2), but a reactor runs one "
        "batch at a time: replay without --reactor-id to keep the file's reactors, or name each batch's reactor "
        "in a reactor_id column"
    ]
    # One reactor under another name: topic and payload name the new reactor alike.
    single = write_readings(tmp_path / "single.csv", [("OLD", "B7", m) for m in range(6)])
    out = io.StringIO()
    assert replay_file(single, speed=None, broker=str(monitor.address), reactor_id=target, out=out) == 0
    assert "replayed 6 readings of 1 reactor " in out.getvalue() and "0 rows skipped" in out.getvalue()
    wait_until(lambda: len(stored_seqs(monitor, target)) >= 6, what="the renamed readings stored")
    # Nothing of the refused file came before them, and the monitor refused none.
    assert stored_seqs(monitor, target) == [("B7", seq) for seq in range(6)]
    assert monitor.counters.dead_letters == 0


@pytest.mark.broker
def test_the_monitor_ignores_empty_payloads(broker: BrokerAddress, monitor: MonitorService) -> None:
    reactor = f"E{uuid.uuid4().hex[:8]}"
    with Publisher(broker) as pub:
        pub.send_retained(topics.reading_topic(reactor), encode(reading(reactor, 0)))  # retained by mistake
        for topic in (topics.reading_topic(reactor), topics.status_topic(reactor), f"bioreactor/{reactor}/ack/ana"):
            pub.send_retained(topic, b"")  # cleared: the broker passes the empty payload on
        pub.readings([reading(reactor, 1)])
    wait_until(lambda: len(stored_seqs(monitor, reactor)) >= 2, what="the readings around the clears")
    assert stored_seqs(monitor, reactor) == [("B1", 0), ("B1", 1)]
    assert monitor.counters.dead_letters == 0 and monitor.counters.errors == 0


@pytest.mark.broker
def test_alerts_ignore_empty_payloads(broker: BrokerAddress) -> None:
    reactor = f"E{uuid.uuid4().hex[:8]}"
    seen: list[Notice] = []
    tail = AlertTail(broker, [seen.append], AlertFilter(reactors=frozenset({reactor}), follow=Follow.ALARMS))
    tail.start()
    try:
        first, second = alarm(reactor), alarm(reactor, check="ph_high")
        with Publisher(broker) as pub:
            pub.send_retained(topics.alarm_topic(reactor), encode(first))  # retained by mistake
            pub.send_retained(topics.alarm_topic(reactor), b"")  # and cleared
            pub.send(topics.alarm_topic(reactor), encode(second))
        wait_until(lambda: len(seen) >= 2, what="both alarms")
    finally:
        tail.stop()
    assert seen == [first, second]
    assert tail.malformed == 0 and tail.errors == 0
