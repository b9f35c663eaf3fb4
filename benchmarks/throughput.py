"""Monitor throughput, publish-to-alarm latency and memory against a bare paho subscriber.

For each fleet size (10, 100 and 1,000 reactors by default, the largest last) one
run on a private Mosquitto measures:

``ceiling_rps``
    readings/s a bare paho subscriber (QoS 1, persistent session) drains from a
    backlog of ``--backlog`` readings of that fleet: the most any consumer written
    with paho can take;
``monitor_rps``, ``us_per_reading``
    readings/s the monitor service drains from the same backlog, with every check
    on, feed recommendations from the RandomForest, history and journal in SQLite
    and every event published, and the wall time that leaves per reading;
``ratio``
    ``monitor_rps / ceiling_rps``;
``p50_ms``, ``p99_ms``, ``latency_samples``
    publish-to-alarm-event latency while another process publishes ``--rate``
    readings/s for ``--soak-min`` minutes (every reactor's stream carries a
    ``bad_value`` probe every ``--probe-every`` readings, see ``benchmarks/fleet.py``);
``rss_start_mb``, ``rss_end_mb``
    the monitor process's resident memory one minute into that soak (every reactor
    known, its buffers allocated) and at its end.

Usage::

    python benchmarks/throughput.py [--json] [--fleets 10 100 1000] [--soak-min 10]

Both consumers run in this process, one after the other; the soak's publisher
runs in its own process so it does not share the monitor's interpreter lock.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.connection
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

if not __package__:  # run as ``python benchmarks/throughput.py``: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.fleet import EPOCH, PROBE_TEMPERATURE, Fleet, SimulatedLibrary, reactor_id
from bioreactor.broker import Mosquitto
from bioreactor.contract import AlarmEvent, AlarmState, Clock, Status, StatusState, decode, encode, topics
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from models.ensure import ensure_model
from models.outputs import DEFAULT_MODEL_PATH
from models.recommender import FeedRecommender
from monitor.engine import MonitorEngine
from monitor.historian import SqliteHistorian
from monitor.run import monitor_config
from monitor.service import MonitorService, ServiceSettings

#: The soak's memory is first read this long after it starts (s).
WARM_UP_S = 60.0


@dataclass(frozen=True)
class FleetResult:
    """One fleet size's figures (the keys of ``--json``)."""

    reactors: int
    readings: int
    ceiling_rps: float
    monitor_rps: float
    ratio: float
    us_per_reading: float
    rate_rps: float
    latency_samples: int
    p50_ms: float
    p99_ms: float
    rss_start_mb: float
    rss_end_mb: float


def rss_mb() -> float:
    """This process's resident set size (MB), from ``/proc``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 900.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.005)


def announce_replay(client: mqtt.Client, reactors: int) -> None:
    """Tell the monitor each reactor's timestamps are a replay's (not retained: nothing left behind)."""
    for i in range(reactors):
        status = Status(source="benchmark", state=StatusState.ONLINE, timestamp=EPOCH, clock=Clock.REPLAY)
        client.publish(topics.status_topic(reactor_id(i)), encode(status), qos=1)


def publish_backlog(address: BrokerAddress, fleet: Fleet, count: int) -> None:
    """Queue ``count`` readings of ``fleet`` (and its replay status) for every registered session."""
    client = make_client("benchmark-publisher", persistent=False)
    connect(client, address)
    announce_replay(client, fleet.reactors)
    infos = [
        client.publish(topics.reading_topic(r.reactor_id), encode(r), qos=1)
        for r in islice(fleet.interleaved(), count)
    ]
    wait_for(lambda: all(i.is_published() for i in infos), "the backlog to be queued")
    disconnect(client)


def register_then_queue(address: BrokerAddress, fleet: Fleet, count: int, register: Callable[[], None]) -> None:
    """Create the consumer's persistent session (``register``), then queue the backlog for it."""
    register()
    publish_backlog(address, fleet, count)


def bare_subscriber(address: BrokerAddress, fleet: Fleet, count: int) -> float:
    """Readings/s of a paho subscriber that only counts what it receives."""
    received = 0
    done = threading.Event()

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        nonlocal received
        if message.topic.endswith(topics.READING):
            received += 1
            if received == count:
                done.set()

    def register() -> None:
        client = make_client("benchmark-bare")
        connect(client, address)
        client.subscribe([(topics.READINGS_WILDCARD, 1), (topics.STATUS_WILDCARD, 1)])
        wait_for(lambda: bool(client.is_connected()), "the bare subscriber's session")
        disconnect(client)

    register_then_queue(address, fleet, count, register)
    client = make_client("benchmark-bare")
    client.on_message = on_message
    started = time.perf_counter()
    connect(client, address)
    if not done.wait(900):
        raise TimeoutError(f"the bare subscriber received {received} of {count}")
    elapsed = time.perf_counter() - started
    disconnect(client)
    return count / elapsed


def monitor_service(address: BrokerAddress, workdir: Path, name: str, model: Path) -> MonitorService:
    """The monitor as ``bioreactor monitor`` runs it: default profile, every check, feed advice."""
    config = monitor_config(None, None)
    settings = ServiceSettings(client_id=name, stale_check_interval_s=0)
    historian = SqliteHistorian(workdir / f"{name}.sqlite")
    return MonitorService(address, historian, lambda: MonitorEngine(config), settings,
                          FeedRecommender(model))


def drained(service: MonitorService, count: int) -> Callable[[], bool]:
    def done() -> bool:
        if service.failure is not None:
            raise RuntimeError("the monitor failed") from service.failure
        return service.counters.readings >= count

    return done


def monitored(address: BrokerAddress, fleet: Fleet, count: int, workdir: Path, model: Path) -> float:
    """Readings/s of the monitor service on the same backlog, from start to the last reading stored."""

    def register() -> None:
        first = monitor_service(address, workdir, "benchmark-monitor", model)
        first.start()
        wait_for(lambda: first.queue_depth == 0 and bool(first.partitions), "the monitor's session")
        first.stop()

    register_then_queue(address, fleet, count, register)
    service = monitor_service(address, workdir, "benchmark-monitor", model)
    started = time.perf_counter()
    service.start()
    wait_for(drained(service, count), "the monitor to drain the backlog")
    elapsed = time.perf_counter() - started
    service.stop()
    return count / elapsed


@dataclass(frozen=True)
class Load:
    """What the soak's publisher sends: ``rate`` readings/s of ``reactors`` for ``seconds``,
    a probe every ``probe_every`` readings."""

    reactors: int
    probe_every: int
    rate: float
    seconds: float


def paced_publisher(
    address: BrokerAddress, library: SimulatedLibrary, load: Load, results: multiprocessing.connection.Connection,
) -> None:
    """Publish ``load``; send back (published, latencies in ms of probe alarms)."""
    reactors, rate, seconds = load.reactors, load.rate, load.seconds
    fleet = Fleet(library, reactors, probe_every=load.probe_every)
    sent: dict[tuple[str, str], float] = {}
    latencies: list[float] = []
    lock = threading.Lock()

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        arrived = time.perf_counter()
        event = decode(AlarmEvent, message.payload)
        if event.state is AlarmState.RAISED and event.check == "bad_value":
            with lock:
                published = sent.pop((event.reactor_id, event.timestamp.isoformat()), None)
            if published is not None:
                latencies.append(1000 * (arrived - published))

    listener = make_client("benchmark-latency", persistent=False)
    listener.on_message = on_message
    connect(listener, address)
    listener.subscribe(topics.ALARMS_WILDCARD, qos=1)
    client = make_client("benchmark-paced", persistent=False)
    connect(client, address)
    announce_replay(client, reactors)
    stream: Iterator[Any] = fleet.interleaved()
    started = time.perf_counter()
    published = 0
    while (now := time.perf_counter()) - started < seconds:
        due = int((now - started) * rate)
        for reading in islice(stream, max(due - published, 0)):
            if reading.temperature == PROBE_TEMPERATURE:
                with lock:
                    sent[(reading.reactor_id, reading.timestamp.isoformat())] = time.perf_counter()
            client.publish(topics.reading_topic(reading.reactor_id), encode(reading), qos=1)
            published += 1
        time.sleep(0.001)
    deadline = time.perf_counter() + 60
    while sent and time.perf_counter() < deadline:  # the last probes' alarms are on their way
        time.sleep(0.01)
    disconnect(client)
    disconnect(listener)
    results.send((published, latencies))


def soak(
    address: BrokerAddress, library: SimulatedLibrary, reactors: int, args: argparse.Namespace, workdir: Path,
) -> tuple[list[float], float, float]:
    """Run the monitor under a paced publisher; return the probe latencies (ms) and RSS at start and end (MB)."""
    service = monitor_service(address, workdir, "benchmark-soak", args.model)
    service.start()
    wait_for(lambda: bool(service.partitions), "the soak monitor's partitions")
    receiving, sending = multiprocessing.get_context("spawn").Pipe(duplex=False)
    publisher = multiprocessing.get_context("spawn").Process(
        target=paced_publisher,
        args=(address, library, Load(reactors, args.probe_every, args.rate, args.soak_min * 60), sending),
    )
    publisher.start()
    warm = time.monotonic() + min(WARM_UP_S, args.soak_min * 30)
    wait_for(lambda: time.monotonic() > warm, "the warm-up", timeout=WARM_UP_S + 5)
    rss_start = rss_mb()
    published, latencies = receiving.recv()
    publisher.join()
    wait_for(drained(service, published), "the monitor to take every soak reading", timeout=120)
    rss_end = rss_mb()
    service.stop()
    return latencies, rss_start, rss_end


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def measure(reactors: int, library: SimulatedLibrary, args: argparse.Namespace) -> FleetResult:
    fleet = Fleet(library, reactors)
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(data_dir=Path(tmp)) as broker:
        ceiling = bare_subscriber(broker.address, fleet, args.backlog)
        rps = monitored(broker.address, fleet, args.backlog, Path(tmp), args.model)
        latencies, rss_start, rss_end = soak(broker.address, library, reactors, args, Path(tmp))
    return FleetResult(
        reactors=reactors,
        readings=args.backlog,
        ceiling_rps=round(ceiling),
        monitor_rps=round(rps),
        ratio=round(rps / ceiling, 3),
        us_per_reading=round(1e6 / rps, 1),
        rate_rps=args.rate,
        latency_samples=len(latencies),
        p50_ms=round(percentile(latencies, 0.5), 1),
        p99_ms=round(percentile(latencies, 0.99), 1),
        rss_start_mb=round(rss_start, 1),
        rss_end_mb=round(rss_end, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", type=int, nargs="+", default=[10, 100, 1000], help="reactors per run")
    parser.add_argument("--backlog", type=int, default=30_000, help="readings both consumers drain")
    parser.add_argument("--rate", type=float, default=1000.0, help="readings/s during the soak")
    parser.add_argument("--soak-min", type=float, default=10.0, help="length of the soak (minutes)")
    parser.add_argument("--probe-every", type=int, default=100, help="a bad_value probe every N readings")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH, help="feed model (trained if missing)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per fleet size")
    args = parser.parse_args()
    ensure_model(args.model)
    library = SimulatedLibrary.generate()
    header = f"{'reactors':>8} {'ceiling/s':>10} {'monitor/s':>10} {'ratio':>6} {'µs/reading':>10} " \
             f"{'p50 ms':>7} {'p99 ms':>7} {'RSS start':>9} {'RSS end':>8}"
    if not args.json:
        print(header)
    for reactors in sorted(args.fleets):
        result = measure(reactors, library, args)
        if args.json:
            print(json.dumps(asdict(result)), flush=True)
        else:
            print(f"{result.reactors:>8} {result.ceiling_rps:>10.0f} {result.monitor_rps:>10.0f} {result.ratio:>6.3f} "
                  f"{result.us_per_reading:>10.1f} {result.p50_ms:>7.1f} {result.p99_ms:>7.1f} "
                  f"{result.rss_start_mb:>9.1f} {result.rss_end_mb:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
