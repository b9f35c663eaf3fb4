"""Profile files: a readable TOML and a model file that must match it; nothing in them can run code."""

from __future__ import annotations

import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from monitor.profile import ProcessProfile, ProfileError, fit_profile, load_profile, save_profile
from monitor.profile.store import model_path
from tests.profile_helpers import bench, without_setpoints


@pytest.fixture(scope="module")
def profile() -> ProcessProfile:
    frame = bench()
    return fit_profile(without_setpoints(frame), name="bench", source="simulator")


@pytest.fixture
def saved(profile: ProcessProfile, tmp_path: Path) -> Path:
    path = tmp_path / "bench.profile.toml"
    save_profile(profile, path)
    return path


def test_a_saved_profile_loads_back_equal(profile: ProcessProfile, saved: Path) -> None:
    assert load_profile(saved) == profile  # arrays compare by value


def test_the_toml_is_readable_and_names_its_model_file(saved: Path) -> None:
    text = saved.read_text(encoding="utf-8")
    document = tomllib.loads(text)
    assert document["model"]["file"] == "bench.profile.npz" and len(document["model"]["sha256"]) == 64
    assert "do = 0.7" in text and "# % air sat." in text  # values with their units
    assert "[setpoints.temperature]  # °C, learnt from the signal" in text
    assert "change_h" not in document["setpoints"]["do"]  # None is left out


def test_the_model_file_holds_only_arrays_and_metadata(saved: Path) -> None:
    with zipfile.ZipFile(model_path(saved)) as archive:
        names = sorted(archive.namelist())
    assert "metadata.npy" in names and "envelope_median.npy" in names and "evolution_axes.npy" in names
    with np.load(model_path(saved), allow_pickle=False) as arrays:  # no object arrays: pickle never needed
        assert all(arrays[name].dtype != object for name in arrays.files)
        assert "data_sha256" in str(arrays["metadata"])


def test_a_tampered_model_file_is_refused(saved: Path) -> None:
    model = model_path(saved)
    data = bytearray(model.read_bytes())
    data[-100] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ProfileError, match="does not match the profile") as error:
        load_profile(saved)
    assert "\n" not in str(error.value)


def test_a_model_file_of_another_fit_is_refused(profile: ProcessProfile, saved: Path, tmp_path: Path) -> None:
    frame = without_setpoints(bench())
    other = fit_profile(frame[frame["batch_id"] != frame["batch_id"].iloc[0]], name="bench", source="simulator")
    other_path = tmp_path / "other" / "bench.profile.toml"
    save_profile(other, other_path)
    # Someone copies the other model file over and fixes the hash in the TOML by hand.
    model_path(saved).write_bytes(model_path(other_path).read_bytes())
    text = saved.read_text(encoding="utf-8")
    old_hash = tomllib.loads(text)["model"]["sha256"]
    saved.write_text(text.replace(old_hash, tomllib.loads(other_path.read_text())["model"]["sha256"]))
    with pytest.raises(ProfileError, match="card"):
        load_profile(saved)


def test_the_toml_may_be_edited(saved: Path) -> None:
    text = saved.read_text(encoding="utf-8")
    do = text.index("[setpoints.do]")
    start = text.index("levels = [", do)
    end = text.index("]", start)
    saved.write_text(text[:start] + "levels = [45" + text[end:])  # an integer where a float was
    assert load_profile(saved).setpoints["do"].levels == (45.0,)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace("[noise]", "[noise"), "not valid TOML"),
        (lambda text: text.replace('format = "bioreactor-process-profile"', 'format = "x"'), "not a process profile"),
        (lambda text: text.replace("format_version = 1", "format_version = 99"), "profile format 99"),
        (lambda text: text.replace("sampling_minutes = 5.0", 'sampling_minutes = "5"'), r"\[sampling_minutes\]"),
        (lambda text: text.replace('file = "bench.profile.npz"', 'file = "../x.npz"'), "next to the profile"),
    ],
)
def test_a_broken_profile_is_refused_in_one_line(saved: Path, edit: object, message: str) -> None:
    saved.write_text(edit(saved.read_text(encoding="utf-8")))  # type: ignore[operator]
    with pytest.raises(ProfileError, match=message) as error:
        load_profile(saved)
    assert "\n" not in str(error.value)


def test_a_missing_model_file_is_refused(saved: Path) -> None:
    model_path(saved).unlink()
    with pytest.raises(ProfileError, match="cannot read the model file"):
        load_profile(saved)
