"""Fitting a profile on simulated bench batches recovers what the simulator was configured with."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitor.profile import ProcessProfile, ProfileError, describe, fit_profile
from monitor.profile.instruments import DEFAULT_RANGES
from simulator.parameters import Control, Vessel
from simulator.sensors import SensorNoise
from tests.profile_helpers import bench, without_setpoints

CONTROL, VESSEL, NOISE = Control(), Vessel(), SensorNoise()


@pytest.fixture(scope="module")
def learnt() -> ProcessProfile:
    """The profile of bench batches exported without set-point columns."""
    return fit_profile(without_setpoints(bench()), name="bench", source="simulator")


def first_hour(frame: pd.DataFrame, condition: pd.Series) -> pd.Series:
    """Per batch, the culture hour of the first reading where ``condition`` holds."""
    return frame[condition].groupby("batch_id")["culture_h"].min()


def test_sampling_interval_and_variables(learnt: ProcessProfile) -> None:
    assert learnt.sampling_minutes == 5.0
    assert "vcd" in learnt.variables and "biomass" not in learnt.variables
    assert learnt.coverage["biomass"] == 0.0 and learnt.coverage["do"] == 1.0
    assert set(learnt.coverage) == set(DEFAULT_RANGES)


def test_temperature_shift_and_its_window_are_learnt_from_the_signal(learnt: ProcessProfile) -> None:
    frame = bench()
    schedule = learnt.setpoints["temperature"]
    assert not schedule.from_columns
    assert schedule.levels == pytest.approx((CONTROL.temperature, CONTROL.shift_temperature), abs=0.05)
    shifts = first_hour(frame, frame["temperature_setpoint"] < CONTROL.temperature)
    assert schedule.change_h is not None
    assert schedule.change_h == pytest.approx((shifts.min(), shifts.max()), abs=0.2)  # within a reading or two
    assert CONTROL.shift_window_h[0] <= schedule.change_h[0] < schedule.change_h[1] <= CONTROL.shift_window_h[1]
    assert schedule.change_share == pytest.approx(len(shifts) / frame["batch_id"].nunique(), abs=1e-3)


def test_do_and_ph_set_points_are_learnt_from_the_signal(learnt: ProcessProfile) -> None:
    do, ph = learnt.setpoints["do"], learnt.setpoints["ph"]
    assert do.levels == pytest.approx((CONTROL.do_setpoint,), abs=0.5) and do.change_h is None
    # DO sits near saturation until the culture consumes oxygen: the loop holds it from day 1.5-3.
    assert 24.0 < do.held_from_h[0] <= do.held_from_h[1] < 96.0
    assert ph.levels == pytest.approx((CONTROL.ph_setpoint,), abs=0.02)
    assert ph.deadband == pytest.approx(CONTROL.ph_deadband, abs=0.01)
    assert not do.from_columns and not ph.from_columns


def test_set_point_columns_are_read_when_present() -> None:
    profile = fit_profile(bench(), name="bench", source="simulator")
    assert all(s.from_columns for s in profile.setpoints.values())
    assert profile.setpoints["do"].levels == (CONTROL.do_setpoint,)
    assert profile.setpoints["temperature"].levels == (CONTROL.temperature, CONTROL.shift_temperature)


def test_deviations_are_measured_while_the_loop_holds(learnt: ProcessProfile) -> None:
    # Settling after the shift and DO above its set point before control are not deviations.
    temperature, do = learnt.deviations["temperature"], learnt.deviations["do"]
    assert -0.3 < temperature.q001 < 0 < temperature.q999 < 0.3
    assert do.q999 < 10.0


def test_actuators_as_operated_match_the_vessel_ranges(learnt: ProcessProfile) -> None:
    agitation, airflow = learnt.actuators["agitation"], learnt.actuators["airflow"]
    assert agitation == pytest.approx((VESSEL.agitation_min, VESSEL.agitation_max), abs=3 * NOISE.agitation)
    airflow_sigma = NOISE.airflow_full_scale * VESSEL.airflow_max
    airflow_min = VESSEL.airflow_min_vvm * VESSEL.initial_volume
    assert airflow[0] == pytest.approx(airflow_min, abs=3 * airflow_sigma)
    # The cascade raises air only when agitation is at its maximum: clean batches use part of the range.
    assert airflow_min < airflow[1] <= VESSEL.airflow_max + 3 * airflow_sigma
    assert airflow[1] == pytest.approx(bench()["airflow"].quantile(0.995), rel=1e-3)


def test_noise_is_within_half_again_of_the_sensors(learnt: ProcessProfile) -> None:
    sensors = {
        "do": NOISE.do, "ph": NOISE.ph, "temperature": NOISE.temperature, "agitation": NOISE.agitation,
        "glucose": NOISE.glucose, "lactate": NOISE.lactate, "viability": NOISE.viability,
        "airflow": NOISE.airflow_full_scale * VESSEL.airflow_max,
        "vcd": NOISE.vcd_relative * float(bench()["vcd"].median()),  # relative noise at the typical density
    }  # fmt: skip
    for variable, sigma in sensors.items():
        assert sigma / 1.5 <= learnt.noise[variable] <= sigma * 1.5, variable


def test_feed_starts_when_the_operator_starts_feeding(learnt: ProcessProfile) -> None:
    frame = bench()
    starts = first_hour(frame, frame["feed_rate"] > 0)
    assert learnt.feed.start_h == pytest.approx(starts.median(), abs=0.5)
    assert learnt.feed.continuous
    assert learnt.feed.due_glucose is not None and 1.0 < learnt.feed.due_glucose < 8.0


def test_instrument_ranges_hold_an_overdose_but_not_garbage(learnt: ProcessProfile) -> None:
    assert learnt.instruments["ph"] == (0.0, 14.0)
    assert learnt.instruments["temperature"] == (-20.0, 150.0)
    frame = bench()
    for variable in ("glucose", "volume", "feed_rate", "airflow"):
        low, high = learnt.instruments[variable]
        assert low == 0.0 and 10 * frame[variable].max() <= high <= 100 * frame[variable].max(), variable
    assert learnt.instruments["biomass"] == DEFAULT_RANGES["biomass"]  # not measured: the wide default


def test_envelope_bands_every_variable_by_maturity(learnt: ProcessProfile) -> None:
    envelope = learnt.envelope
    assert envelope.variables == learnt.variables and envelope.bin_h == 12.0
    low, median, high = envelope.at("temperature", 200.0)
    assert low < median < high and median == pytest.approx(CONTROL.shift_temperature, abs=0.1)
    # At least +/-3 noise sigmas wide, even where every batch holds the same value.
    assert (envelope.high - envelope.low)[:, envelope.variables.index("ph")].min() >= 6 * learnt.noise["ph"] - 1e-9


def test_describe_speaks_of_what_was_learnt(learnt: ProcessProfile) -> None:
    text = describe(learnt)
    assert "Sampled every 5 min" in text
    assert "temperature 37.0 °C, shifted to 33.0 °C between hour" in text
    assert "DO 40.0 % air sat." in text and "learnt from the signal" in text
    assert "does not measure biomass" in text
    assert "leave-one-batch-out over 12 batches" in text


def test_a_reference_with_faulty_batches_is_refused() -> None:
    frame = bench().copy()
    frame.loc[frame["batch_id"] == frame["batch_id"].iloc[0], "fault"] = "do_drift"
    with pytest.raises(ProfileError, match="labelled faulty in the reference"):
        fit_profile(frame, name="x", source="x")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"batch_id": ["B1"], "do": [40.0]}), "no column for: culture_h"),
        (pd.DataFrame({"batch_id": ["B1"], "culture_h": [0.0]}), "no process variable"),
        (pd.DataFrame({"batch_id": ["B1", "B2"] * 20, "culture_h": np.arange(40.0), "do": 40.0}), "too few readings"),
    ],
)
def test_unusable_references_are_refused_in_one_line(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(ProfileError, match=message) as error:
        fit_profile(frame, name="x", source="x")
    assert "\n" not in str(error.value)


def test_few_batches_give_no_multivariate_model_and_say_why() -> None:
    frame = bench()
    few = frame[frame["batch_id"].isin(frame["batch_id"].unique()[:4])]
    profile = fit_profile(few, name="few", source="x")
    assert profile.evolution is None
    assert "No multivariate model: 4 reference batches; at least 6 are needed" in describe(profile)
