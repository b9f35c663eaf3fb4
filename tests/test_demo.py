"""The main job end to end: with no broker at the address, the demo starts a secured Mosquitto
(no anonymous clients, the per-role ACL, TLS), runs the fleet through the monitor to the alerts
and the dashboard, each process logged in as its own identity, and stops everything it started.

One demo run serves the module (the first one trains the feed model): the tests look at it
while it runs, after the fleet's harvest, and the last one stops it with Ctrl-C.
"""

from __future__ import annotations

import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bioreactor.broker import ROLES, SecureMosquitto, free_port
from bioreactor.demo import MONITOR_CLIENT_ID, broker_for, fresh_start
from bioreactor.mqtt import (
    ENV_CA_FILE,
    ENV_PASSWORD,
    ENV_PASSWORD_FILE,
    ENV_USERNAME,
    BrokerAddress,
    broker_answers,
    connect,
    disconnect,
    make_client,
)
from tests.monitor_helpers import Publisher, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

#: Long enough for the aeration loss the demo injects on R02 at culture hour 100 to raise alarms.
DAYS = 5
REACTORS = 2
#: A reading every 5 culture minutes, both ends of the batch included.
READINGS_PER_REACTOR = DAYS * 24 * 12 + 1
HARVESTED = "fleet harvested"
#: The subcommand each long-running process of the demo runs, and the user it must log in as.
PROCESS_ROLES = {"monitor": "monitor", "dashboard": "dashboard", "alerts": "alerts"}


@dataclass
class RunningDemo:
    """A ``bioreactor demo`` process of the test's own and what it printed so far."""

    process: subprocess.Popen[str]
    workdir: Path
    port: int
    dashboard_port: int
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "".join(list(self.lines))

    @property
    def secrets(self) -> Path:
        return self.workdir / "broker" / "secrets"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "broker" / "certs" / "ca.crt"

    def passwords(self) -> dict[str, str]:
        return {role: (self.secrets / f"{role}.password").read_text().strip() for role in ROLES}

    def tls_address(self, env: dict[str, str]) -> BrokerAddress:
        """The TLS listener the demo printed, with the login in ``env``."""
        match = re.search(r"at (mqtts://127\.0\.0\.1:\d+) \(TLS\)", self.output())
        assert match, self.output()
        return BrokerAddress.parse(match.group(1), env={ENV_CA_FILE: str(self.ca_file), **env})

    def stop(self) -> int:
        """Ctrl-C, as a user stops it; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    """The demo on a free port with no broker, its fleet harvested, its monitor and dashboard still up."""
    workdir = tmp_path_factory.mktemp("demo")
    port, dashboard_port = free_port(), free_port()
    command = [
        sys.executable, "-m", "bioreactor", "demo", "--broker", f"mqtt://127.0.0.1:{port}",
        "--days", str(DAYS), "--speed", "100000", "--reactors", str(REACTORS),
        "--dashboard-port", str(dashboard_port), "--workdir", str(workdir),
        "--model", str(workdir / "feed_model.joblib"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    running = RunningDemo(process, workdir, port, dashboard_port)
    assert process.stdout is not None
    threading.Thread(target=lambda: running.lines.extend(process.stdout or ()), daemon=True).start()
    try:
        wait_until(lambda: HARVESTED in running.output() or process.poll() is not None, 600, "the fleet's harvest")
        assert process.poll() is None, running.output()
        yield running
    finally:
        running.stop()


def test_the_broker_refuses_anonymous_clients_and_wrong_passwords(demo: RunningDemo) -> None:
    plain = BrokerAddress("127.0.0.1", demo.port)
    tls = demo.tls_address({})
    for anonymous in (plain, tls):
        with pytest.raises(ConnectionError, match="refused an anonymous connection"):
            connect(make_client(f"anonymous-{uuid.uuid4().hex[:8]}", persistent=False), anonymous)
    # Another role's password is not the monitor's.
    wrong = demo.tls_address({ENV_USERNAME: "monitor", ENV_PASSWORD: demo.passwords()["alerts"]})
    with pytest.raises(ConnectionError, match="refused user 'monitor'"):
        connect(make_client(f"impostor-{uuid.uuid4().hex[:8]}", persistent=False), wrong)


def test_credentials_are_private_files_named_in_the_output(demo: RunningDemo) -> None:
    output = demo.output()
    assert f"MQTT users {', '.join(ROLES)}, one per process" in output
    assert str(demo.secrets.resolve() / "USER.password") in output
    assert str(demo.ca_file.resolve()) in output
    assert not any(password in output for password in demo.passwords().values())
    assert demo.secrets.stat().st_mode & 0o777 == 0o700
    for name in ("passwd", *(f"{role}.password" for role in ROLES)):
        assert (demo.secrets / name).stat().st_mode & 0o777 == 0o600, name


def test_each_process_logs_in_as_its_own_user_with_a_password_file(demo: RunningDemo) -> None:
    passwords = demo.passwords().values()
    found = {}
    for pid in _children(demo.process.pid):
        argv, env = _cmdline(pid), _environ(pid)
        assert not any(password in arg for password in passwords for arg in argv), argv
        subcommand = argv[3] if argv[1:3] == ["-m", "bioreactor"] else None
        if subcommand in PROCESS_ROLES:
            found[subcommand] = env
    assert found.keys() == PROCESS_ROLES.keys()
    for subcommand, env in found.items():
        role = PROCESS_ROLES[subcommand]
        assert env[ENV_USERNAME] == role, subcommand
        assert Path(env[ENV_PASSWORD_FILE]) == demo.secrets.resolve() / f"{role}.password", subcommand
        assert ENV_PASSWORD not in env, subcommand


def test_each_role_does_its_job(demo: RunningDemo) -> None:
    historian = demo.workdir / "historian.sqlite"
    # Only the simulator role may publish readings, only the monitor's may read them.
    wait_until(lambda: _count(historian, "readings") == REACTORS * READINGS_PER_REACTOR, 120, "every reading stored")
    assert _count(historian, "recommendations") > 0  # the model trained on first run advised on the feed
    assert (demo.workdir / "feed_model.joblib").exists()
    # The alerts process prints what only the monitor may publish: the alarms of R02's aeration loss.
    incident = r"Z  R02  CRITICAL  (opened|updated) +"
    wait_until(lambda: re.search(incident, demo.output()), 120, "a critical incident on R02")
    # The dashboard loads the monitor's historian, then logs in and subscribes, and only then serves.
    wait_until(lambda: _http_status(f"http://127.0.0.1:{demo.dashboard_port}/live") == 200, 120, "the live page")
    dashboard_log = (demo.workdir / "dashboard.log").read_text()
    assert re.search(rf"loaded \d+ readings from {re.escape(str(historian))}", dashboard_log), dashboard_log
    assert f"dashboard: http://127.0.0.1:{demo.dashboard_port}/live" in demo.output()


def test_ctrl_c_stops_everything_and_deletes_the_passwords_and_keys(demo: RunningDemo) -> None:
    """Last in the module: the other tests look at the running demo."""
    tls = demo.tls_address({})
    assert demo.stop() == 0, demo.output()
    assert not broker_answers(BrokerAddress("127.0.0.1", demo.port)), "the demo left its broker running"
    assert not broker_answers(tls)
    assert not demo.secrets.exists()
    assert not (demo.workdir / "broker" / "certs").exists()
    assert (demo.workdir / "historian.sqlite").exists()


def test_a_broker_of_the_users_is_used_with_the_callers_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SecureMosquitto() as secured:
        for name, value in secured.environment("monitor").items():
            monkeypatch.setenv(name, value)
        url = f"mqtts://127.0.0.1:{secured.tls_port}"
        with broker_for(BrokerAddress.parse(url), tmp_path) as broker:
            assert broker.secured is None
            assert not (tmp_path / "broker").exists()  # no broker of the demo's own
            assert broker.environment("dashboard")[ENV_USERNAME] == "monitor"  # the caller's, for every process
            fresh_start(broker.address("monitor"), tmp_path / "historian.sqlite")


def test_without_a_broker_option_the_demo_runs_its_own_secured_one(tmp_path: Path) -> None:
    """Whatever broker this machine runs, the demo neither depends on it nor writes to it."""
    with broker_for(None, tmp_path) as broker:
        assert broker.secured is not None
        address = broker.address("monitor")
        assert address.tls and address.port == broker.secured.tls_port
        assert broker_answers(address)
        fresh_start(address, tmp_path / "historian.sqlite")  # the monitor's login works on it
        with pytest.raises(ConnectionError, match="refused an anonymous connection"):
            connect(make_client(f"anonymous-{uuid.uuid4().hex[:8]}", persistent=False),
                    BrokerAddress("127.0.0.1", broker.secured.port))
    assert not broker_answers(address)


def test_a_new_demo_run_starts_afresh(private_broker, tmp_path: Path) -> None:
    address = private_broker.address
    workdir = tmp_path / "demo"
    workdir.mkdir()
    historian = workdir / "historian.sqlite"
    for name in ("historian.sqlite", "historian.sqlite-wal", "historian.sqlite-shm"):
        (workdir / name).write_bytes(b"the last run")
    # The last run's monitor left its session, which queued a message meanwhile.
    subscribed = threading.Event()
    monitor = make_client(MONITOR_CLIENT_ID)
    monitor.on_subscribe = lambda *args: subscribed.set()
    connect(monitor, address)
    monitor.subscribe("bioreactor/+/reading", qos=1)
    assert subscribed.wait(10)
    disconnect(monitor)
    with Publisher(address) as publisher:
        publisher.send("bioreactor/R09/reading", b"left over")

    fresh_start(address, historian)

    assert not list(workdir.iterdir())
    # Without a session on the broker, nothing it queued for the monitor can arrive.
    session_present: queue.Queue[bool] = queue.Queue()
    again = make_client(MONITOR_CLIENT_ID)
    again.on_connect = lambda client, userdata, flags, reason, props: session_present.put(flags.session_present)
    connect(again, address)
    disconnect(again)
    assert session_present.get(timeout=10) is False


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").rstrip("\0").split("\0")


def _environ(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def _count(historian: Path, table: str) -> int:
    """Rows in a historian table; -1 while it cannot be read (the monitor writing it, say)."""
    try:
        with closing(sqlite3.connect(f"file:{historian}?mode=ro", uri=True)) as db:
            (rows,) = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    except sqlite3.Error:
        return -1
    return int(rows)


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except (urllib.error.URLError, OSError):
        return None
