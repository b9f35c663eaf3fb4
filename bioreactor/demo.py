"""The main job in one command: a simulated fleet, the monitor, alerts and the dashboard.

Each part runs as its own process, exactly as it would be deployed, talking only
through the broker. When no broker answers at the given address on this
machine, the demo starts a secured Mosquitto there (``deploy/mosquitto-secure.conf``:
no anonymous clients, the per-role ACL ``deploy/acl``, TLS) with passwords and
certificates of the run's own, and stops it on exit; each process then logs in
as its own identity, its password passed in a file named by its environment.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bioreactor.broker import ROLES, SecureMosquitto
from bioreactor.contract import ContractError, Metrics, Status, StatusState, decode
from bioreactor.contract.topics import MONITOR_METRICS, MONITOR_STATUS
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
from bioreactor.signals import set_from_handler
from models.ensure import ensure_model
from models.outputs import DEFAULT_MODEL_PATH

#: Faults injected into the demo fleet, so alarms have something to explain.
DEMO_FAULTS = (
    "R02=aeration_loss@100:0.8",
    "R03=base_pump_failure@60",
    "R04=missed_feed@110:1:40",
)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
#: The demo's monitor; its broker session is dropped at every start (see :func:`fresh_start`).
MONITOR_CLIENT_ID = "bioreactor-demo-monitor"
#: The variables a process takes its broker login from. On the demo's own broker each process
#: gets its role's; the caller's would name another identity (and a password wins over a file).
LOGIN_VARIABLES = (ENV_USERNAME, ENV_PASSWORD, ENV_PASSWORD_FILE, ENV_CA_FILE)
#: The identity the demo itself connects as: it clears the monitor's session and reads its
#: status and metrics, all within the monitor's ACL role.
CONDUCTOR_ROLE = "monitor"


@dataclass(frozen=True)
class DemoPlan:
    broker: str | None = None  # a broker of the user's; None: a secured one of the demo's own
    reactors: int = 4
    days: float = 14.0
    speed: float | None = 3600.0  # culture seconds per wall second; None: as fast as possible
    dashboard_port: int = 5006
    workdir: Path = Path("runs/demo")
    keep_running: bool = True  # leave monitor and dashboard up after harvest, until Ctrl-C
    model: Path = DEFAULT_MODEL_PATH  # trained on simulated batches first when missing
    faults: Sequence[str] = DEMO_FAULTS


def bioreactor_command(*args: str) -> list[str]:
    """The ``bioreactor`` command line run by this interpreter (works without the venv on PATH)."""
    return [sys.executable, "-m", "bioreactor", *args]


@dataclass(frozen=True)
class DemoBroker:
    """The broker of a demo run, and how each of its processes logs in.

    Parameters
    ----------
    url
        What every process gets as ``--broker``; never holds a password.
    secured
        The demo's own Mosquitto, whose credentials each role's process gets through
        its environment; ``None`` for a broker of the user's, to which every process
        logs in with the caller's ``BIOREACTOR_MQTT_*`` variables.
    """

    url: str
    secured: SecureMosquitto | None = None

    def environment(self, role: str) -> dict[str, str]:
        """The environment of the demo's process that logs in as ``role`` (one of :data:`ROLES`)."""
        if self.secured is None:
            return dict(os.environ)
        inherited = {name: value for name, value in os.environ.items() if name not in LOGIN_VARIABLES}
        return inherited | self.secured.environment(role)

    def address(self, role: str) -> BrokerAddress:
        """The address, with ``role``'s login, through which the demo itself connects."""
        return BrokerAddress.parse(self.url, env=self.environment(role))


@contextmanager
def broker_for(address: BrokerAddress | None, workdir: Path) -> Iterator[DemoBroker]:
    """The broker at ``address``; a secured Mosquitto of the demo's own there if none answers,
    or on free ports when no address is given (so the demo never depends on, nor writes to,
    whatever broker this machine happens to run).

    Parameters
    ----------
    address
        Where the user wants the broker (``--broker``), with the login from the environment;
        ``None``: the demo's own.
    workdir
        The demo's directory. Its own Mosquitto persists to ``mosquitto/`` and keeps its
        configuration, log, passwords (``broker/secrets/``) and certificates
        (``broker/certs/``) in ``broker/``; passwords and keys are deleted on exit.

    Yields
    ------
    DemoBroker
        The broker the demo's processes use.

    Raises
    ------
    ConnectionError
        When nothing answers at ``address`` and it is not on this machine.
    """
    if address is not None and broker_answers(address):
        yield DemoBroker(str(address))
        return
    if address is not None and address.host not in LOCAL_HOSTS:
        raise ConnectionError(f"no MQTT broker answers at {address}")
    data_dir = workdir / "mosquitto"
    data_dir.mkdir(parents=True, exist_ok=True)
    broker_dir = workdir / "broker"
    # New passwords and keys for every run, also after a run killed before it could delete its own.
    shutil.rmtree(broker_dir, ignore_errors=True)
    port, tls_port = (None, None) if address is None else (None, address.port) if address.tls else (address.port, None)
    with SecureMosquitto(port, tls_port, data_dir=data_dir.resolve(), workdir=broker_dir.resolve()) as mosquitto:
        url = f"mqtts://127.0.0.1:{mosquitto.tls_port}"
        why = "" if address is None else f"no broker answered at {address}: "
        print(
            f"{why}started a secured Mosquitto from deploy/mosquitto-secure.conf "
            f"(passwords and ACL, no anonymous clients) at {url} (TLS) and mqtt://127.0.0.1:{mosquitto.port}",
            flush=True,
        )
        print(
            f"MQTT users {', '.join(ROLES)}, one per process; passwords (new every run, deleted on exit): "
            f"{mosquitto.password_file('USER')}, CA certificate: {mosquitto.ca_file}",
            flush=True,
        )
        yield DemoBroker(url, mosquitto)


@contextmanager
def background(
    command: list[str], log: Path | None = None, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` for the duration of the block; SIGTERM (clean shutdown) on the way out.

    Parameters
    ----------
    command
        The command line.
    log
        File for its output; the terminal when ``None``.
    env
        Its environment; this process's when ``None``.
    """
    out = log.open("wb") if log else None
    process = subprocess.Popen(command, stdout=out or None, stderr=subprocess.STDOUT if out else None, env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if out:
            out.close()


def run_demo(plan: DemoPlan) -> int:
    """Run the whole chain; returns the fleet's exit code."""
    plan.workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        wanted = BrokerAddress.parse(plan.broker) if plan.broker else None
        broker = stack.enter_context(broker_for(wanted, plan.workdir))
        address = broker.address(CONDUCTOR_ROLE)
        historian = plan.workdir / "historian.sqlite"
        model = str(ensure_model(plan.model))
        fresh_start(address, historian)
        started = datetime.now(UTC)

        def start(role: str, args: list[str], log: Path | None = None) -> None:
            stack.enter_context(background(bioreactor_command(*args), log, env=broker.environment(role)))

        monitor = ["monitor", "--broker", broker.url, "--historian", str(historian), "--model", model]
        start("monitor", [*monitor, "--client-id", MONITOR_CLIENT_ID], plan.workdir / "monitor.log")
        start("alerts", ["alerts", "--broker", broker.url])

        def online(payload: bytes) -> bool:
            status = decode(Status, payload)
            return status.state is StatusState.ONLINE and status.timestamp >= started

        # Once the monitor is online its session exists, so no early reading of the fleet is
        # lost, and its historian too, which the dashboard opens to show whole batches. The
        # timestamp passes over a retained "online" of an earlier run's monitor.
        wait_for(address, MONITOR_STATUS, online, 60.0)
        dashboard = ["dashboard", "--broker", broker.url, "--port", str(plan.dashboard_port), "--model", model]
        start("dashboard", [*dashboard, "--historian", str(historian)], plan.workdir / "dashboard.log")
        print(f"dashboard: http://127.0.0.1:{plan.dashboard_port}/live", flush=True)
        print(f"logs and historian (replaced by the next demo run): {plan.workdir}/", flush=True)
        fleet = ["simulate", "--broker", broker.url, "--reactors", str(plan.reactors), "--days", str(plan.days)]
        fleet += ["--as-fast-as-possible"] if plan.speed is None else ["--speed", str(plan.speed)]
        fleet_ids = {f"R{i + 1:02d}" for i in range(plan.reactors)}
        for fault in plan.faults:
            if fault.split("=", 1)[0] in fleet_ids:  # a smaller fleet skips the others' faults
                fleet += ["--fault", fault]
        code = subprocess.call(bioreactor_command(*fleet), env=broker.environment("simulator"))
        if not plan.keep_running:
            wait_until_monitor_idle(address, after=datetime.now(UTC))
        elif code == 0:
            print("fleet harvested; monitor and dashboard keep running - Ctrl-C to stop", flush=True)
            _wait_for_interrupt()
        return code
    return 1  # pragma: no cover - ExitStack does not swallow exceptions


def fresh_start(address: BrokerAddress, historian: Path) -> None:
    """Every demo run starts afresh: without the last run's historian and engine state (its
    fleet clock would make the new reactors look stale), and without the messages the broker
    queued for the demo's monitor since (its persistent session)."""
    for path in (historian, *(historian.with_name(historian.name + suffix) for suffix in ("-wal", "-shm"))):
        path.unlink(missing_ok=True)
    client = make_client(MONITOR_CLIENT_ID, persistent=False)  # a clean start drops the old session
    connect(client, address)
    disconnect(client)


def wait_for(address: BrokerAddress, topic: str, accept: Callable[[bytes], bool], timeout: float) -> None:
    """Block until a message on ``topic`` (retained ones included) satisfies ``accept``."""
    messages: queue.Queue[bytes] = queue.Queue()
    client = make_client(f"demo-wait-{uuid.uuid4().hex[:8]}", persistent=False)
    client.on_message = lambda _c, _u, message: messages.put(bytes(message.payload))
    connect(client, address)
    client.subscribe(topic, qos=1)
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"nothing acceptable on {topic} within {timeout:g} s")
            try:
                if accept(messages.get(timeout=remaining)):
                    return
            except (queue.Empty, ContractError):
                continue
    finally:
        disconnect(client)


def wait_until_monitor_idle(
    address: BrokerAddress, *, after: datetime, readings: int | None = None, timeout: float = 300.0
) -> None:
    """Wait until the monitor has worked off what was published before ``after`` (wall clock).

    With ``readings``, until it reports at least that many processed and an empty queue;
    without, until two of its metrics published after ``after`` show an empty queue and the
    same number of readings processed. Metrics are retained, so one published before
    ``after`` says nothing about what came later and is passed over.
    """
    totals: list[int] = []

    def idle(payload: bytes) -> bool:
        metrics = decode(Metrics, payload)
        if metrics.timestamp <= after or metrics.queue_depth:
            return False
        if readings is not None:
            return metrics.readings >= readings
        totals.append(metrics.readings)
        return len(totals) >= 2 and totals[-1] == totals[-2]

    wait_for(address, MONITOR_METRICS, idle, timeout)


def _wait_for_interrupt() -> None:
    """Until Ctrl-C or SIGTERM. Handlers of its own: a process started in the background by a
    non-interactive shell (``nohup``, ``&``, a CI runner) inherits SIGINT ignored, and Python
    then never raises ``KeyboardInterrupt``."""
    stop = threading.Event()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, lambda *_: set_from_handler(stop))
    try:
        stop.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
