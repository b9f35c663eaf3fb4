"""Physical sanity of the fed-batch model: balances, signs, oxygen transfer, determinism."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from simulator.dataset import generate_frame
from simulator.engine import BatchConfig, Simulation
from simulator.faults import FAULT_SPECS, FAULT_TYPES, Fault, FaultType
from simulator.process import Actuation

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def faulty_fleet() -> Simulation:
    """One batch per fault type plus a clean one, run for 6 days."""
    configs = [BatchConfig("clean", "R00", START)] + [
        BatchConfig(kind.value, f"R{i + 1:02d}", START, fault=Fault(kind, 50.0, _strong(kind)))
        for i, kind in enumerate(FAULT_TYPES)
    ]
    sim = Simulation(configs, seed=3, sample_minutes=30)
    sim.trajectory = [sim.advance() for _ in range(6 * 48)]  # type: ignore[attr-defined]
    return sim


def _strong(kind: FaultType) -> float:
    return FAULT_SPECS[kind].magnitude_range[1]


def test_no_negative_state(faulty_fleet: Simulation) -> None:
    state = faulty_fleet.state
    for name in ("viable", "dead", "glucose", "glutamine", "lactate", "ammonia", "oxygen", "volume", "titer"):
        assert np.all(getattr(state, name) >= 0.0), name


def test_readings_stay_in_plausible_ranges(faulty_fleet: Simulation) -> None:
    clean = [r for r in faulty_fleet.trajectory]  # type: ignore[attr-defined]
    vcd = np.array([r["vcd"][0] for r in clean])
    glucose = np.array([r["glucose"][0] for r in clean])
    lactate = np.array([r["lactate"][0] for r in clean])
    assert 6.0 < vcd.max() < 30.0  # exponential phase reached; domain notes: peak 10-30e6/mL
    assert glucose.max() < 8.5 and glucose[-48:].min() > 0.5  # kept fed, no starvation
    assert 1.0 < lactate.max() < 5.0


def test_glucose_balance_closes(faulty_fleet: Simulation) -> None:
    """Glucose in the broth = initial + fed - consumed, for every batch, faulty ones included."""
    s = faulty_fleet.state
    per_batch = np.array([c.initial.glucose for c in faulty_fleet.configs]) * 2.0  # mmol in 2 L
    initial = per_batch[faulty_fleet._source]  # the fault-free twins start like their batch
    in_broth = s.glucose * s.volume
    np.testing.assert_allclose(in_broth, initial + s.glucose_fed - s.glucose_consumed, rtol=1e-9, atol=1e-9)
    assert s.glucose_fed[0] > 0  # the clean batch was fed (the missed-feed one may not be)
    assert np.all(s.glucose_consumed > 0)


def test_dissolved_oxygen_falls_when_kla_drops() -> None:
    sim = Simulation([BatchConfig("a", "R1", START), BatchConfig("b", "R2", START)], seed=0)
    for _ in range(12 * 72):  # 3 days: cells consume enough oxygen to matter
        sim.advance()
    state, n = sim.state, 2
    act = Actuation(
        agitation=np.full(n, 150.0),
        airflow=np.full(n, 0.05),
        co2_fraction=np.zeros(n),
        base_rate=np.zeros(n),
        feed_rate=np.zeros(n),
        temperature_drift=np.zeros(n),
        kla_factor=np.array([1.0, 0.2]),
    )
    for _ in range(60):
        state.advance(act, 1 / 60, np.full(n, 37.0), kin=sim.kinetics, vessel=sim.vessel, control=sim.control)
    do = state.do_percent()
    assert do[1] < do[0] - 10.0


def test_generation_is_deterministic_by_seed() -> None:
    a = generate_frame(batches=2, seed=11, days=1.0)
    b = generate_frame(batches=2, seed=11, days=1.0)
    c = generate_frame(batches=2, seed=12, days=1.0)
    pd.testing.assert_frame_equal(a, b)
    assert not a["vcd"].equals(c["vcd"])


def test_feed_adds_volume_and_glucose() -> None:
    frame = generate_frame(batches=1, seed=2, days=4.0, fault_fraction=0.0)
    fed = frame["feed_rate"].sum() * (5 / 60) / 1000.0  # L fed at 5-minute samples
    added = frame["volume"].iloc[-1] - frame["volume"].iloc[0]
    assert fed > 0.05
    assert added == pytest.approx(fed + frame["base_rate"].sum() * (5 / 60) / 1000.0, rel=0.05)
    assert frame["glucose"].min() > 0.5
