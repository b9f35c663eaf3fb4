"""Plant descriptions: the default is the bench, presets load, plant files are checked key by key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bioreactor.cli import app
from simulator.engine import BatchConfig, Simulation
from simulator.plant import DEFAULT_PLANT, Plant, PlantError, load_plant, preset_names
from tests.test_sample_dataset import COMMAND, SAMPLE

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_default_plant_is_the_bench_preset() -> None:
    assert DEFAULT_PLANT in preset_names()
    assert load_plant(DEFAULT_PLANT) == Plant()
    sim = Simulation([BatchConfig("B", "R1", START)])
    assert sim.plant == Plant()
    assert (sim.vessel.initial_volume, sim.control.do_setpoint, sim.sample_hours) == (2.0, 40.0, 5 / 60)


def test_bench_plant_named_explicitly_reproduces_the_sample_dataset(tmp_path: Path) -> None:
    out = tmp_path / "sample.csv"
    result = CliRunner().invoke(app, [*COMMAND, "--plant", DEFAULT_PLANT, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == SAMPLE.read_bytes()
    assert "--map" not in result.output  # the canonical format needs no mapping


def test_pilot_preset_loads() -> None:
    pilot = load_plant("pilot_200l")
    vessel, control = pilot.vessel, pilot.control
    assert (vessel.initial_volume, vessel.max_volume, vessel.total_volume) == (130.0, 200.0, 250.0)
    assert (vessel.agitation_min, vessel.agitation_max) == (40.0, 140.0)
    assert (vessel.airflow_min_vvm, vessel.airflow_max_vvm) == (0.005, 0.05)
    assert vessel.impeller_diameter / vessel.vessel_diameter == pytest.approx(1 / 3)
    assert (control.do_setpoint, control.ph_setpoint, control.shift_temperature) == (30.0, 6.95, 32.0)
    assert control.shift_window_h == (144.0, 168.0)
    assert pilot.sample_minutes == 15.0
    assert not pilot.export.setpoints
    # Pumps sized per litre of broth like the bench's (3 mL/h of base per L at most).
    bench = Plant()
    per_litre = control.base_max_rate / vessel.initial_volume
    assert per_litre == pytest.approx(bench.control.base_max_rate / bench.vessel.initial_volume)


def test_a_plant_file_overrides_only_what_it_says(tmp_path: Path) -> None:
    path = tmp_path / "hot_room.toml"
    path.write_text("sample_minutes = 10\n[control]\ntemperature = 36.5\nshift_window_h = [100, 110]\n")
    plant = load_plant(path)
    assert plant.name == "hot_room"
    assert plant.sample_minutes == 10.0
    assert plant.control.temperature == 36.5 and plant.control.shift_midpoint_h == 105.0
    assert plant.vessel == Plant().vessel and plant.export == Plant().export


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[vessel\n", "not valid TOML"),
        ("[vessel]\nimpeller_diameter_m = 0.2\n", r"\[vessel\] unknown key\(s\) impeller_diameter_m"),
        ("colour = 'blue'\n", r"\[top level\] unknown key\(s\) colour"),
        ("[control]\ndo_setpoint = 'thirty'\n", r"\[control\] do_setpoint must be a number"),
        ("[control]\nshift_window_h = [150]\n", "must be a list of 2 numbers"),
        ("[vessel]\ninitial_volume = 300\n", r"volumes must satisfy"),
        ("[vessel]\nagitation_min = 200\nagitation_max = 100\n", "agitation range"),
        ("sample_minutes = 0\n", "sample_minutes must be positive"),
        ("[export]\nomit = ['culture_h']\n", "cannot leave out culture_h"),
        ("[export]\ntimestamp_format = '%d.%m.%Y %H:%M'\n", "must write ISO 8601"),
        ("[export.columns]\nglucose = { name = 'Glc', unit = 'mol/L' }\n", "unknown unit 'mol/L' for glucose"),
        ("[export.columns]\nglucose = { name = 'vcd' }\n", "'vcd' used twice"),
        ("[export.columns]\nbatch_id = { name = 'Run', unit = 'h' }\n", "takes no unit"),
        ("[export.columns]\nnitrogen = { name = 'N2' }\n", "unknown field 'nitrogen'"),
    ],
)
def test_bad_plant_files_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(PlantError, match=message):
        Plant.from_toml(text, name="bad")


def test_unknown_plant_names_the_presets() -> None:
    with pytest.raises(PlantError, match=r"unknown plant 'pilot_2000l'.*pilot_200l"):
        load_plant("pilot_2000l")
    with pytest.raises(PlantError, match="cannot read plant file"):
        load_plant("/nonexistent/plant.toml")


def test_cli_refuses_an_unknown_plant(tmp_path: Path) -> None:
    for command in (["generate", "--out", str(tmp_path / "x.csv")], ["simulate", "--days", "0.01"]):
        result = CliRunner().invoke(app, [*command, "--plant", "nowhere"])
        assert result.exit_code == 2
        assert "unknown plant 'nowhere'" in result.output
