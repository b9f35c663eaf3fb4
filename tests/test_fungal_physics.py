"""Physical sanity of the fungal fed-batch: balances, transfer, control and the course of a clean batch."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.fungal.broth import Actuation, Broth
from simulator.fungal.dataset import generate_frame, random_batches
from simulator.fungal.gas import kla
from simulator.fungal.parameters import Organism, Recipe, Vessel
from simulator.fungal.simulation import Record, simulate

ORGANISM, VESSEL, RECIPE = Organism(), Vessel(), Recipe()
DT = 1 / 60
HOURS = 230.0


@pytest.fixture(scope="module")
def clean() -> Record:
    """Four fault-free batches of a random campaign, to harvest."""
    batches = random_batches(4, seed=21, hours=HOURS, fault_fraction=0.0)
    return simulate(batches, hours=HOURS, sample_minutes=12, rng=np.random.default_rng(21))


def grown_broth(columns: int) -> Broth:
    """Broth as at ~100 h: dense mycelium on little sugar, saturated with air at first."""
    return Broth.start(RECIPE, VESSEL, biomass=np.full(columns, 15.0), sugar=np.full(columns, 0.3))


def actuation(columns: int, **changes: float | list[float]) -> Actuation:
    """Steady actuation of ``columns`` columns; a change is one value for all or one per column."""
    values: dict[str, float | list[float]] = {
        "rpm": 90.0,
        "air_nm3_h": 2500.0,
        "feed_l_h": 100.0,
        "base_l_h": 0.0,
        "acid_l_h": 0.0,
        "cooling": 0.3,
        "coolant_k": VESSEL.coolant_inlet_k,
    }
    values |= changes
    return Actuation(
        **{name: np.broadcast_to(np.asarray(v, dtype=float), (columns,)).copy() for name, v in values.items()}
    )


def test_no_state_or_reading_is_negative(clean: Record) -> None:
    for group in (clean.clean, clean.truth):
        for name, values in group.items():
            assert values.min() >= 0.0, name
    for name, values in clean.readings.items():
        assert np.nanmin(values) >= 0.0, name


def test_sugar_fed_equals_sugar_consumed_withdrawn_and_left() -> None:
    broth = Broth.start(RECIPE, VESSEL, biomass=np.array([0.5, 8.0]), sugar=np.array([15.0, 0.05]))
    initial = broth.sugar * broth.volume
    act = actuation(2, feed_l_h=120.0)
    for minute in range(48 * 60):
        if minute % 240 == 0:
            broth.withdraw(np.full(2, RECIPE.lab_sample_l))
        broth.advance(act, DT, ORGANISM, VESSEL, RECIPE)
    left = broth.sugar * broth.volume
    accounted = left + broth.sugar_consumed_g + broth.sugar_withdrawn_g
    np.testing.assert_allclose(accounted, initial + broth.sugar_fed_g, rtol=1e-12)
    assert (broth.sugar_consumed_g > 0.5 * broth.sugar_fed_g).all()


def test_kla_rises_with_power_and_gas_and_falls_with_viscosity() -> None:
    base = kla(np.array([2e5]), np.array([7e4]), np.array([0.03]), np.array([20.0]))
    assert kla(np.array([4e5]), np.array([7e4]), np.array([0.03]), np.array([20.0])) > base
    assert kla(np.array([2e5]), np.array([7e4]), np.array([0.05]), np.array([20.0])) > base
    assert kla(np.array([2e5]), np.array([7e4]), np.array([0.03]), np.array([40.0])) < base


def test_do_falls_when_kla_drops() -> None:
    """Same broth, same demand: less agitation, then also less air (lower kLa), leave less oxygen."""
    broth = grown_broth(3)
    act = actuation(3, rpm=[110.0, 70.0, 70.0], air_nm3_h=[3000.0, 3000.0, 1500.0])
    for _ in range(30):
        broth.advance(act, DT, ORGANISM, VESSEL, RECIPE)
    high, lower, lowest = broth.do_percent
    assert high - lower > 3.0
    assert lower - lowest > 3.0


def test_feed_adds_its_volume() -> None:
    broth = grown_broth(2)
    act = actuation(2, feed_l_h=[0.0, 150.0])
    for _ in range(60):
        broth.advance(act, DT, ORGANISM, VESSEL, RECIPE)
    assert broth.volume[1] - broth.volume[0] == pytest.approx(150.0, abs=0.5)


def test_clean_batches_hold_temperature_and_ph_in_band(clean: Record) -> None:
    settled = clean.minutes >= 60
    temperature = clean.clean["temperature"][settled]
    assert np.abs(temperature - RECIPE.temperature_k).max() < 0.3
    ph = clean.truth["true_ph"][settled]
    assert np.abs(ph - RECIPE.ph).max() < RECIPE.ph_deadband + 0.05
    within_band = np.abs(ph - RECIPE.ph) <= RECIPE.ph_deadband + 0.01
    assert within_band.mean() > 0.95


def test_clean_batches_keep_do_above_the_floor(clean: Record) -> None:
    assert clean.truth["true_do"][clean.minutes >= 60].min() > RECIPE.do_floor - 2.0


def test_clean_batch_follows_a_fed_batch_course(clean: Record) -> None:
    """Batch sugar runs out before the feed starts; fed phase sugar-limited; IndPenSim-like end values."""
    hours = clean.minutes / 60.0
    c = clean.clean
    assert (c["sugar"][hours <= 1.0] > 10.0).all()
    assert (c["sugar"][(hours >= 150.0)] < 0.3).all()
    assert (c["feed"][hours < 38.0] == 0.0).all()
    assert (c["feed"][hours > 45.0] > 0.0).all()
    end = -1
    assert (c["volume"][end] > 70_000.0).all() and (c["volume"][end] < 90_000.0).all()
    assert (c["biomass"][end] > 15.0).all() and (c["biomass"][end] < 35.0).all()
    assert (c["penicillin"][end] > 10.0).all()
    fed_phase = hours > 60.0
    assert (c["offgas_co2"][fed_phase] > 0.5).all() and (c["offgas_co2"][fed_phase] < 3.0).all()


def test_same_seed_gives_the_same_data_and_another_seed_other_data() -> None:
    first = generate_frame(2, seed=8, hours=6.0, fault_fraction=0.5)
    again = generate_frame(2, seed=8, hours=6.0, fault_fraction=0.5)
    other = generate_frame(2, seed=9, hours=6.0, fault_fraction=0.5)
    assert first.equals(again)
    assert not first.equals(other)
