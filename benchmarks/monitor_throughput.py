"""Readings per second of the monitor service against a bare paho subscriber, in the same run.

Both consumers face the same situation: a backlog of simulated readings waiting
in their persistent session on a private Mosquitto, at QoS 1. The baseline only
counts messages (paho acknowledges them itself); the monitor decodes, checks,
stores in SQLite, publishes events and acknowledges after storing. The ratio is
what reliability and the checks cost.

    .venv/bin/python benchmarks/monitor_throughput.py [--batches 8] [--days 2]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bioreactor.broker import Mosquitto
from bioreactor.contract import Reading, encode, from_dict, topics
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from monitor.engine import MonitorEngine
from monitor.historian import SqliteHistorian
from monitor.service import MonitorService, ServiceSettings, engine_factory
from simulator.dataset import generate_frame


def simulated_readings(batches: int, days: float) -> list[Reading]:
    """Readings of ``batches`` simulated batches, interleaved in time like a live fleet."""
    frame = generate_frame(batches, seed=7, days=days).sort_values(["timestamp", "reactor_id"])
    return [
        from_dict(
            Reading,
            {str(k): v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))},
        )
        for row in frame.to_dict("records")
    ]


def preload(address: BrokerAddress, subscribe: Any, readings: list[Reading]) -> None:
    """Register the consumer's session via ``subscribe()``, then queue every reading for it."""
    subscribe()
    publisher = make_client("benchmark-publisher", persistent=False)
    connect(publisher, address)
    infos = [publisher.publish(topics.reading_topic(r.reactor_id), encode(r), qos=1) for r in readings]
    while not all(i.is_published() for i in infos):
        time.sleep(0.01)
    disconnect(publisher)


def baseline(address: BrokerAddress, readings: list[Reading]) -> float:
    """Readings/s of a paho subscriber that only counts."""
    received = 0
    done = threading.Event()

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        nonlocal received
        received += 1
        if received == len(readings):
            done.set()

    def register() -> None:
        client = make_client("benchmark-baseline")
        connect(client, address)
        client.subscribe(topics.READINGS_WILDCARD, qos=1)
        time.sleep(0.5)
        disconnect(client)

    preload(address, register, readings)
    client = make_client("benchmark-baseline")
    client.on_message = on_message
    started = time.perf_counter()
    connect(client, address)
    if not done.wait(600):
        raise RuntimeError(f"baseline received only {received} of {len(readings)}")
    elapsed = time.perf_counter() - started
    disconnect(client)
    return len(readings) / elapsed


def monitored(address: BrokerAddress, readings: list[Reading], workdir: Path) -> float:
    """Readings/s of the monitor service, from connecting to the last reading stored."""
    path = workdir / "historian.sqlite"
    settings = ServiceSettings(client_id="benchmark-monitor", stale_check_interval_s=0)

    def service() -> MonitorService:
        return MonitorService(address, SqliteHistorian(path), engine_factory(), settings)

    def register() -> None:
        first = service()
        first.start()
        time.sleep(0.5)
        first.stop()

    preload(address, register, readings)
    second = service()
    started = time.perf_counter()
    second.start()
    while second.counters.readings < len(readings):
        if second.failure is not None:
            raise RuntimeError("the monitor failed") from second.failure
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    second.stop()
    return len(readings) / elapsed


def engine_only(readings: list[Reading]) -> float:
    """Readings/s of the engine alone, without MQTT or storage."""
    engine = MonitorEngine()
    started = time.perf_counter()
    for r in readings:
        engine.process(r)
    return len(readings) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--batches", type=int, default=8, help="simulated batches (one per reactor)")
    parser.add_argument("--days", type=float, default=2.0, help="culture days per batch (5-min samples)")
    args = parser.parse_args()

    readings = simulated_readings(args.batches, args.days)
    print(f"{len(readings)} readings from {args.batches} reactors")
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(data_dir=Path(tmp)) as broker:
        bare = baseline(broker.address, readings)
        monitor = monitored(broker.address, readings, Path(tmp))
    engine = engine_only(readings)
    print(f"bare paho subscriber : {bare:10.0f} readings/s")
    print(f"monitor service      : {monitor:10.0f} readings/s")
    print(f"engine alone         : {engine:10.0f} readings/s")
    print(f"monitor / baseline   : {monitor / bare:10.3f}")


if __name__ == "__main__":
    main()
