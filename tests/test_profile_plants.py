"""Profiles of plants the monitor was not built on: the pilot vessel's export and the fungal process."""

from __future__ import annotations

import pytest

from monitor.config import OXYGEN_BALANCE_MARGIN, MonitorConfig
from monitor.profile import ProcessProfile, describe, fit_profile
from tests.profile_helpers import PILOT, fungal_export, pilot_export, read_fungal, read_pilot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pilot(tmp_path_factory: pytest.TempPathFactory) -> ProcessProfile:
    frame = read_pilot(pilot_export(tmp_path_factory.mktemp("pilot")))
    assert not any(c.endswith("_setpoint") for c in frame.columns)  # the export has none
    return fit_profile(frame, name="pilot", source="pilot.csv")


@pytest.fixture(scope="module")
def fungal(tmp_path_factory: pytest.TempPathFactory) -> ProcessProfile:
    return fit_profile(read_fungal(fungal_export(tmp_path_factory.mktemp("fungal"))), name="fungal", source="x")


def test_pilot_sampling_and_set_points_learnt_from_its_export(pilot: ProcessProfile) -> None:
    control = PILOT.control
    assert pilot.sampling_minutes == PILOT.sample_minutes == 15.0
    assert pilot.setpoints["do"].levels == pytest.approx((control.do_setpoint,), abs=0.5)
    assert pilot.setpoints["ph"].levels == pytest.approx((control.ph_setpoint,), abs=0.02)
    temperature = pilot.setpoints["temperature"]
    assert temperature.levels == pytest.approx((control.temperature, control.shift_temperature), abs=0.1)
    assert temperature.change_h is not None
    earliest, latest = control.shift_window_h  # day 6-7
    assert earliest <= temperature.change_h[0] <= temperature.change_h[1] <= latest + 0.5
    assert not any(s.from_columns for s in pilot.setpoints.values())


def test_pilot_actuators_and_ranges_are_the_pilots(pilot: ProcessProfile) -> None:
    vessel = PILOT.vessel
    assert pilot.actuators["agitation"] == pytest.approx((vessel.agitation_min, vessel.agitation_max), abs=2.0)
    assert pilot.values["volume"].q999 <= vessel.max_volume + 1
    low, high = pilot.instruments["volume"]
    assert low == 0.0 and high >= 10 * vessel.max_volume
    assert "vcd" in pilot.variables and pilot.coverage["vcd"] == 1.0
    assert "Sampled every 15 min" in describe(pilot)
    assert "shifted to 32.0 °C between hour 1" in describe(pilot)


def test_fungal_profile_has_its_own_variables_and_set_points(fungal: ProcessProfile) -> None:
    assert {"vcd", "lactate", "viability"}.isdisjoint(fungal.variables)
    assert fungal.coverage["vcd"] == fungal.coverage["lactate"] == 0.0
    assert "biomass" in fungal.variables and fungal.coverage["biomass"] < 0.1  # an offline dry weight every 4 h
    assert 15.0 < fungal.values["biomass"].q99 < 40.0  # g/L, not cells/mL
    assert fungal.sampling_minutes == 12.0
    assert fungal.setpoints["temperature"].levels == pytest.approx((25.0,), abs=0.3)
    assert fungal.setpoints["ph"].levels == pytest.approx((6.5,), abs=0.02)
    text = describe(fungal)
    assert "does not measure VCD, lactate, viability" in text and "offline, now and then: biomass" in text


def test_fungal_volumes_and_flows_lie_inside_their_instrument_ranges(fungal: ProcessProfile) -> None:
    for variable in ("volume", "airflow", "feed_rate", "base_rate", "glucose"):
        low, high = fungal.instruments[variable]
        assert low <= fungal.values[variable].q001 and fungal.values[variable].q999 * 10 <= high, variable
    assert fungal.values["volume"].q999 > 50_000  # litres: a 100 m³ fermenter
    assert fungal.evolution is not None and "biomass" not in fungal.evolution.variables  # too sparse for it


def test_oxygen_balance_limit_is_as_loose_as_each_plants_good_batches_need(
    pilot: ProcessProfile, fungal: ProcessProfile
) -> None:
    packaged = MonitorConfig.default().process.oxygen_balance_limit
    for profile in (pilot, fungal):
        assert profile.oxygen_balance_spread is not None and profile.oxygen_balance_spread > 0
        limit = MonitorConfig.from_mapping({}, profile).process.oxygen_balance_limit
        assert limit == pytest.approx(max(packaged, OXYGEN_BALANCE_MARGIN * profile.oxygen_balance_spread))
    # A mycelial broth's uptake follows its biomass less closely than CHO cells' does.
    assert (fungal.oxygen_balance_spread or 0.0) > (pilot.oxygen_balance_spread or 0.0)
    assert "Oxygen balance: in good batches" in describe(fungal)
    # The user's file still has the last word.
    overridden = MonitorConfig.from_mapping({"process": {"oxygen_balance_limit": 0.25}}, fungal)
    assert overridden.process.oxygen_balance_limit == 0.25
