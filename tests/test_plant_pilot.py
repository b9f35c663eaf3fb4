"""Clean batches of the 200 L pilot plant: its loops hold its set points within its actuator ranges."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from bioreactor.contract import Reading, decode
from bioreactor.contract.topics import ROOT, status_topic
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from simulator.dataset import generate_frame
from simulator.engine import BatchConfig, Simulation
from simulator.fleet import FleetPlan, publish_fleet, record_to_readings
from simulator.plant import load_plant
from tests.monitor_helpers import Collector, wait_until

START = datetime(2026, 1, 1, tzinfo=UTC)
PILOT = load_plant("pilot_200l")
VESSEL, CONTROL = PILOT.vessel, PILOT.control


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    """Eight fault-free 14-day pilot batches (canonical columns)."""
    return generate_frame(8, seed=17, fault_fraction=0.0, plant=PILOT)


def _after_cascade_takes_over(batch: pd.DataFrame) -> pd.DataFrame:
    """Readings from 6 h after DO first comes down to its set point (before, the cascade idles at its minimum)."""
    reached = float(batch.loc[batch["do"] <= CONTROL.do_setpoint + 2.0, "culture_h"].min())
    return batch.loc[batch["culture_h"] >= reached + 6.0]


def test_sampled_every_15_minutes(clean: pd.DataFrame) -> None:
    assert np.allclose(np.diff(clean.loc[clean["batch_id"] == clean["batch_id"].iloc[0], "culture_h"]), 0.25)


def test_cascade_holds_do_at_30_percent(clean: pd.DataFrame) -> None:
    for batch_id, batch in clean.groupby("batch_id"):
        held = _after_cascade_takes_over(batch)
        assert held["culture_h"].min() < 96.0, f"{batch_id}: DO never came down to its set point"
        error = held["do"] - CONTROL.do_setpoint
        assert abs(error.mean()) < 0.3, batch_id
        # Optical probe noise is 0.7 % (1 sigma): 3 % is beyond four sigma.
        assert (error.abs() < 3.0).mean() > 0.995, batch_id


def test_ph_is_held_at_its_pilot_set_point(clean: pd.DataFrame) -> None:
    low_edge = CONTROL.ph_setpoint - CONTROL.ph_deadband
    for batch_id, batch in clean.groupby("batch_id"):
        ph = batch.loc[batch["culture_h"] > 24, "ph"]
        assert abs(ph.median() - CONTROL.ph_setpoint) < 0.1, batch_id
        # Base holds the low edge of the band; 0.06 is probe noise and lag.
        assert ph.min() > low_edge - 0.06, batch_id


def test_temperature_shifts_to_32_on_day_6_to_7(clean: pd.DataFrame) -> None:
    shifted = 0
    for batch_id, batch in clean.groupby("batch_id"):
        cooled = batch.loc[batch["temperature_setpoint"] == CONTROL.shift_temperature, "culture_h"]
        if cooled.empty:  # some batches run without a shift (simulator.dataset.random_configs)
            assert (batch["temperature_setpoint"] == CONTROL.temperature).all(), batch_id
            continue
        shifted += 1
        start, end = CONTROL.shift_window_h
        assert start <= cooled.min() <= end + 0.25, batch_id
        # The jacket settles within five of the pilot's 0.6 h time constants.
        settled = batch.loc[batch["culture_h"] >= cooled.min() + 3.0, "temperature"]
        assert (settled - CONTROL.shift_temperature).abs().max() < 0.3, batch_id
    assert shifted >= 4


def test_volume_stays_within_the_vessel(clean: pd.DataFrame) -> None:
    first = clean.groupby("batch_id")["volume"].first()
    assert (first == VESSEL.initial_volume).all()
    assert clean["volume"].max() <= VESSEL.max_volume
    assert clean.groupby("batch_id")["volume"].max().min() > VESSEL.initial_volume + 10.0  # fed


def test_actuators_stay_within_the_pilot_ranges(clean: pd.DataFrame) -> None:
    # Readings carry sensor noise: 0.5 rpm and 1 % of the mass-flow controller's full scale (1 sigma).
    airflow_noise = 0.01 * VESSEL.airflow_max
    airflow_min = VESSEL.airflow_min_vvm * VESSEL.initial_volume
    assert clean["agitation"].between(VESSEL.agitation_min - 3.0, VESSEL.agitation_max + 3.0).all()
    assert clean["airflow"].between(airflow_min - 6 * airflow_noise, VESSEL.airflow_max + 6 * airflow_noise).all()
    assert clean["agitation"].max() > VESSEL.agitation_max - 3.0  # the cascade does use its range
    assert (clean["feed_rate"] <= CONTROL.max_feed_rate).all()
    assert (clean["base_rate"] <= CONTROL.base_max_rate).all()
    assert clean["base_rate"].max() > 0.0


def test_a_full_vessel_takes_no_more_feed_or_base() -> None:
    sim = Simulation([BatchConfig("B", "R1", START)], plant=PILOT)
    sim.state.volume[:] = VESSEL.max_volume
    record = sim.advance()
    assert np.asarray(record["feed_rate"])[0] == 0.0 and np.asarray(record["base_rate"])[0] == 0.0
    assert sim.state.volume[0] == VESSEL.max_volume


def test_fleet_batches_shift_in_the_middle_of_the_plant_window() -> None:
    sim = Simulation(FleetPlan(reactors=1, plant=PILOT).configs(START), plant=PILOT, sample_minutes=60)
    readings = [record_to_readings(sim, sim.advance())[0] for _ in range(160)]
    setpoints = {round(r.culture_h): r.temperature_setpoint for r in readings}
    assert CONTROL.shift_midpoint_h == 156.0
    assert (setpoints[155], setpoints[156]) == (CONTROL.temperature, CONTROL.shift_temperature)


def test_mqtt_readings_are_canonical_with_the_pilot_set_points() -> None:
    sim = Simulation([BatchConfig("B", "R1", START)], plant=PILOT)
    readings = record_to_readings(sim, sim.advance())
    reading = readings[0]
    assert isinstance(reading, Reading)
    assert (reading.do_setpoint, reading.ph_setpoint, reading.temperature_setpoint) == (30.0, 6.95, 37.0)
    assert reading.culture_h == 0.25 and reading.volume == pytest.approx(VESSEL.initial_volume, abs=0.01)
    assert reading.airflow is not None
    assert VESSEL.airflow_min_vvm * VESSEL.initial_volume * 0.5 < reading.airflow < VESSEL.airflow_max  # L/min


@pytest.mark.broker
def test_simulate_publishes_canonical_pilot_readings(broker: BrokerAddress) -> None:
    prefix = f"P{uuid.uuid4().hex[:6]}-"
    plan = FleetPlan(reactors=1, days=0.5, seed=3, reactor_prefix=prefix, plant=PILOT)
    with Collector(broker, f"{ROOT}/{prefix}01/reading") as inbox:
        published = publish_fleet(plan, broker, speed=None)
        wait_until(lambda: len(inbox.payloads("#")) == published, what="every pilot reading")
        readings = [decode(Reading, payload) for payload in inbox.payloads("#")]
    eraser = make_client(f"eraser-{prefix}", persistent=False)
    connect(eraser, broker)
    eraser.publish(status_topic(f"{prefix}01"), b"", qos=1, retain=True).wait_for_publish(10)  # no retained leftovers
    disconnect(eraser)
    assert published == 12 * 4 + 1  # 15-minute sampling for half a day
    assert {r.do_setpoint for r in readings} == {30.0}
    assert readings[-1].culture_h == 12.0 and readings[-1].volume == pytest.approx(VESSEL.initial_volume, abs=1.0)
