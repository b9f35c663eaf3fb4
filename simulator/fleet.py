"""Publish a simulated fleet of bioreactors over MQTT, in real time or accelerated.

Each reactor has its own MQTT connection, as each real reactor's gateway would:
its retained ``status`` says ``online`` while it runs, ``end_of_stream`` when the
batch is harvested, and the broker publishes ``offline`` (its last will) if the
process dies. Readings go out at QoS 1 through an
:class:`~bioreactor.publisher.OrderedPublisher`: in order across a broker restart,
and never more than a bounded number awaiting the broker.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bioreactor.contract import Clock, Reading, Status, StatusState, encode
from bioreactor.contract.topics import reading_topic, status_topic
from bioreactor.mqtt import BrokerAddress, connect, make_client
from bioreactor.publisher import OrderedPublisher
from simulator.engine import BatchConfig, Record, Simulation
from simulator.faults import Fault
from simulator.plant import Plant

#: Seconds to wait at the end for the broker to acknowledge what is in flight.
_DRAIN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class FleetPlan:
    """What to run: ``reactors`` batches of ``plant`` starting now, with optional faults per reactor id.

    ``sample_minutes`` defaults to the plant's sampling period.
    """

    reactors: int = 3
    days: float = 14.0
    sample_minutes: float | None = None
    seed: int = 0
    faults: tuple[tuple[str, Fault], ...] = ()
    batch_prefix: str = "FLEET"
    reactor_prefix: str = "R"
    plant: Plant = field(default_factory=Plant)

    def configs(self, start: datetime) -> list[BatchConfig]:
        faults = dict(self.faults)
        ids = [f"{self.reactor_prefix}{i + 1:02d}" for i in range(self.reactors)]
        unknown = set(faults) - set(ids)
        if unknown:
            raise ValueError(f"faults name unknown reactors {sorted(unknown)}; the fleet has {ids[0]}..{ids[-1]}")
        stamp = start.strftime("%Y%m%dT%H%M")
        return [BatchConfig(f"{self.batch_prefix}-{stamp}-{rid}", rid, start, fault=faults.get(rid)) for rid in ids]


def record_to_readings(sim: Simulation, record: Record) -> list[Reading]:
    """The contract readings of one simulated sample, one per batch."""
    readings = []
    for i, config in enumerate(sim.configs):
        values = {k: _item(v, i) for k, v in record.items()}
        culture_h = float(values.pop("culture_h"))
        readings.append(
            Reading(
                timestamp=config.start + values["seq"] * timedelta(hours=sim.sample_hours),
                reactor_id=config.reactor_id,
                batch_id=config.batch_id,
                culture_h=culture_h,
                do_setpoint=sim.control.do_setpoint,
                ph_setpoint=sim.control.ph_setpoint,
                **values,
            )
        )
    return readings


def _item(value: object, i: int) -> Any:
    """Element ``i`` of a per-batch array or list, as a plain Python value; scalars as they are."""
    item = value[i] if isinstance(value, np.ndarray | list) else value
    return item.item() if isinstance(item, np.generic) else item


class Pacer:
    """Sleeps so that culture time advances ``speed`` times faster than wall time (None: no waiting)."""

    def __init__(self, speed: float | None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (1 = real time)")
        self.speed = speed
        self._start = time.monotonic()

    def wait_until(self, culture_h: float) -> None:
        if self.speed is None:
            return
        delay = self._start + culture_h * 3600.0 / self.speed - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def publish_fleet(
    plan: FleetPlan,
    address: BrokerAddress,
    *,
    speed: float | None,
    on_sample: Callable[[list[Reading]], None] | None = None,
    start: datetime | None = None,
) -> int:
    """Run the fleet to harvest (or Ctrl-C) and publish every reading; returns how many were published."""
    sim = Simulation(
        plan.configs(start or datetime.now(UTC)), seed=plan.seed, sample_minutes=plan.sample_minutes, plant=plan.plant
    )
    # Readings are stamped with simulated time: only at real-time speed is it the wall clock.
    clock = Clock.LIVE if speed == 1.0 else Clock.REPLAY
    publishers = {c.reactor_id: _connect_reactor(c, address, clock) for c in sim.configs}
    samples = round(plan.days * 24 * 60 / sim.sample_minutes)
    pacer = Pacer(speed)
    published = 0
    never = threading.Event()  # publishing waits for the broker; Ctrl-C interrupts the wait
    try:
        record = sim.initial_record()
        for step in range(samples + 1):
            if step:
                record = sim.advance()
            readings = record_to_readings(sim, record)
            pacer.wait_until(readings[0].culture_h)
            for reading in readings:
                publishers[reading.reactor_id].publish(reading_topic(reading.reactor_id), encode(reading), never)
            published += len(readings)
            if on_sample is not None:
                on_sample(readings)
        _finish(publishers, sim.configs, f"harvested after {plan.days:g} days, {published} readings")
    except KeyboardInterrupt:
        print("interrupted: stopping the fleet", file=sys.stderr)
        _finish(publishers, sim.configs, "stopped by the operator")
    return published


def _connect_reactor(config: BatchConfig, address: BrokerAddress, clock: Clock) -> OrderedPublisher:
    topic = status_topic(config.reactor_id)
    offline = Status(
        config.reactor_id, StatusState.OFFLINE, datetime.now(UTC), config.batch_id, "publisher lost", clock
    )
    publisher = OrderedPublisher(make_client(f"sim-{config.batch_id}", persistent=False, will=(topic, encode(offline))))

    def announce() -> None:
        online = Status(
            config.reactor_id, StatusState.ONLINE, datetime.now(UTC), config.batch_id, "simulated batch running", clock
        )
        publisher.publish(topic, encode(online), None, retain=True)

    connect(publisher.client, address)
    announce()
    publisher.announce = announce  # restated after a reconnection: the broker may have lost it
    return publisher


def _finish(publishers: dict[str, OrderedPublisher], configs: Sequence[BatchConfig], detail: str) -> None:
    for config in configs:
        publisher = publishers[config.reactor_id]
        publisher.announce = None
        done = Status(config.reactor_id, StatusState.END_OF_STREAM, datetime.now(UTC), config.batch_id, detail)
        publisher.window.drain(_DRAIN_TIMEOUT_S)  # every reading before the end marker
        publisher.publish(status_topic(config.reactor_id), encode(done), None, retain=True)
        publisher.close(_DRAIN_TIMEOUT_S)
