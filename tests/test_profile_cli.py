"""``bioreactor profile fit`` and ``show``: labelled files, subsets of batches, foreign exports, errors in one line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bioreactor.cli import app
from monitor.profile import load_profile
from monitor.profile.store import model_path
from simulator.dataset import generate_frame, write_csv
from tests.profile_helpers import PILOT

runner = CliRunner()


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight 4-day bench batches as `bioreactor generate` writes them, two labelled faulty from hour 24."""
    frame = generate_frame(8, 41, days=4.0, fault_fraction=0.0)
    faulty = frame["batch_id"].isin(["S41-B002", "S41-B005"]) & (frame["culture_h"] >= 24)
    frame["fault"] = frame["fault"].where(~faulty, "ph_drift")
    frame["fault_effective"] = faulty.astype(int)
    path = tmp_path_factory.mktemp("labelled") / "labelled.csv"
    write_csv(frame, path)
    return path


def clean_batches(path: Path) -> list[str]:
    frame = pd.read_csv(path, usecols=["batch_id", "fault"])
    faulty = set(frame.loc[frame["fault"] != "none", "batch_id"])
    return sorted(set(frame["batch_id"]) - faulty)


def fit(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["profile", "fit", *args])
    return result.exit_code, result.stdout, result.stderr


def test_fit_leaves_out_faulty_batches_and_show_explains(labelled: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.profile.toml"
    code, stdout, stderr = fit(str(labelled), "--out", str(out))
    assert code == 0, stderr
    clean = clean_batches(labelled)
    assert len(clean) == 6
    assert "left out 2 batches labelled faulty (a profile learns good ones): S41-B002, S41-B005" in stderr
    assert f"wrote {out} and bench.profile.npz: {len(clean)} batches, " in stdout and model_path(out).exists()
    assert list(load_profile(out).card.batches) == clean
    shown = runner.invoke(app, ["profile", "show", str(out)])
    assert shown.exit_code == 0
    assert shown.stdout.startswith(f'Process profile "labelled": {len(clean)} good batches')
    assert "Sampled every 5 min" in shown.stdout and "Multivariate model" in shown.stdout


def test_fit_on_a_subset_of_the_clean_batches(labelled: Path, tmp_path: Path) -> None:
    half = clean_batches(labelled)[:3]
    out = tmp_path / "half.profile.toml"
    code, _, stderr = fit(str(labelled), "--out", str(out), "--batches", ",".join(half), "--name", "half")
    assert code == 0, stderr
    profile = load_profile(out)
    assert list(profile.card.batches) == half and profile.card.name == "half"


def test_the_pilot_export_is_fitted_through_its_column_options(tmp_path: Path) -> None:
    export = tmp_path / "pilot.csv"
    write_csv(PILOT.export.apply(generate_frame(3, 42, days=2.0, fault_fraction=0.0, plant=PILOT)), export)
    maps = [option for column in PILOT.export.map_options() for option in ("--map", column)]
    code, _, stderr = fit(str(export), "--out", str(tmp_path / "pilot.profile.toml"), *maps)
    assert code == 0, stderr
    shown = runner.invoke(app, ["profile", "show", str(tmp_path / "pilot.profile.toml")])
    assert "Sampled every 15 min" in shown.stdout and "DO" in shown.stdout


def test_rows_that_cannot_be_read_are_skipped_and_summarised(labelled: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(labelled)
    frame["glucose"] = frame["glucose"].astype(object)
    frame.loc[frame.index[5:25], "glucose"] = "n.d."
    damaged = tmp_path / "damaged.csv"
    frame.to_csv(damaged, index=False)
    code, _, stderr = fit(str(damaged), "--out", str(tmp_path / "d.profile.toml"))
    assert code == 0, stderr
    assert "20 rows skipped:" in stderr and "20 x glucose: not a number (first at line 7, e.g. 'n.d.')" in stderr


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ("foo,bar\n1,2\n", [], "the CSV has no column for"),
        ("batch_id,culture_h,do\nB1,0,40\n", [], "too few readings"),
        (None, ["--batches", "nope"], "--batches: not in the file: nope"),
        (None, ["--map", "Glc=glucose:furlongs"], "unknown unit"),
    ],
)
def test_errors_are_one_line(
    labelled: Path, tmp_path: Path, content: str | None, options: list[str], message: str
) -> None:
    source = labelled
    if content is not None:
        source = tmp_path / "bad.csv"
        source.write_text(content)
    code, stdout, stderr = fit(str(source), "--out", str(tmp_path / "x.profile.toml"), *options)
    assert code == 1
    assert stderr.startswith("error: ") and message in stderr and stderr.count("\n") == 1
    assert "Traceback" not in stdout + stderr


def test_a_reference_with_only_faulty_batches_is_an_error(tmp_path: Path) -> None:
    faulty = tmp_path / "faulty.csv"
    write_csv(generate_frame(3, 43, days=1.0, fault_fraction=0.0).assign(fault="contamination"), faulty)
    code, _, stderr = fit(str(faulty), "--out", str(tmp_path / "f.profile.toml"))
    assert code == 1
    assert "left out 3 batches labelled faulty" in stderr and "error: " in stderr and "too few readings" in stderr


def test_show_refuses_a_tampered_profile_in_one_line(labelled: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.profile.toml"
    assert fit(str(labelled), "--out", str(out))[0] == 0
    model_path(out).write_bytes(model_path(out).read_bytes()[:-10])
    shown = runner.invoke(app, ["profile", "show", str(out)])
    assert shown.exit_code == 1
    assert shown.stderr.startswith("error: ") and "does not match the profile" in shown.stderr
    assert shown.stderr.count("\n") == 1
    missing = runner.invoke(app, ["profile", "show", str(tmp_path / "none.toml")])
    assert missing.exit_code == 1 and "cannot read the profile" in missing.stderr
