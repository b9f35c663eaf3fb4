"""Every injected fault leaves readings untouched before its onset and changes its signals after."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from simulator.engine import BatchConfig, simulate
from simulator.faults import FAULT_SPECS, FAULT_TYPES, Fault, FaultType

START = datetime(2026, 1, 1, tzinfo=UTC)
ONSET_H = 70.0
DAYS = 5.0

#: The signal a fault must move, and by how much, within the days after onset (domain notes' signatures).
SIGNATURE: dict[FaultType, tuple[str, float]] = {
    FaultType.DO_DRIFT: ("agitation", 5.0),  # the controller follows the false reading
    FaultType.DO_STUCK: ("do", 1.0),  # frozen: the noise of the live probe is gone
    FaultType.AERATION_LOSS: ("agitation", 20.0),
    FaultType.AGITATOR_FAILURE: ("agitation", 40.0),
    FaultType.PH_DRIFT: ("base_rate", 0.3),
    FaultType.BASE_PUMP_FAILURE: ("ph", 0.1),
    FaultType.TEMPERATURE_CONTROL_FAILURE: ("temperature", 2.0),
    FaultType.MISSED_FEED: ("feed_rate", 1.0),
    FaultType.OVERFEEDING: ("glucose", 1.5),
    FaultType.CONTAMINATION: ("do", 10.0),
}


@pytest.fixture(scope="module")
def runs() -> dict[str, pd.DataFrame]:
    """The same batch (same seed) clean and with each fault, simulated together."""
    configs = [BatchConfig("clean", "R00", START)]
    for i, kind in enumerate(FAULT_TYPES):
        spec = FAULT_SPECS[kind]
        magnitude = -spec.magnitude_range[1] if kind is FaultType.PH_DRIFT else spec.magnitude_range[1]
        configs.append(BatchConfig(kind.value, f"R{i + 1:02d}", START, fault=Fault(kind, ONSET_H, magnitude)))
    # Each batch is simulated alone so that all share the clean batch's noise draws.
    frames = {c.batch_id: simulate([c], seed=5, days=DAYS, sample_minutes=15) for c in configs}
    return frames


def test_every_fault_type_has_a_signature() -> None:
    assert set(SIGNATURE) == set(FAULT_TYPES)


@pytest.mark.parametrize("kind", FAULT_TYPES, ids=str)
def test_fault_changes_its_signals_after_onset_only(kind: FaultType, runs: dict[str, pd.DataFrame]) -> None:
    clean, faulty = runs["clean"], runs[kind.value]
    before = faulty["culture_h"] < ONSET_H
    numeric = ["vcd", "glucose", "lactate", "do", "ph", "temperature", "agitation", "airflow", "feed_rate"]
    pd.testing.assert_frame_equal(faulty.loc[before, numeric], clean.loc[before, numeric])
    column, size = SIGNATURE[kind]
    gap = np.abs(faulty.loc[~before, column].to_numpy() - clean.loc[~before, column].to_numpy())
    assert gap.max() > size, f"{kind}: {column} moved at most {gap.max():.3g}"


@pytest.mark.parametrize("kind", FAULT_TYPES, ids=str)
def test_labels_follow_onset_and_effect(kind: FaultType, runs: dict[str, pd.DataFrame]) -> None:
    faulty = runs[kind.value]
    before = faulty["culture_h"] < ONSET_H
    assert (faulty.loc[before, "fault"] == "none").all()
    assert (faulty.loc[before, "fault_effective"] == 0).all()
    assert (faulty.loc[~before, "fault"] == kind.value).all()
    effective = faulty.loc[faulty["fault_effective"] == 1, "culture_h"]
    assert not effective.empty, f"{kind} never became effective"
    assert effective.min() >= ONSET_H
    assert (runs["clean"]["fault_effective"] == 0).all()


def test_sensor_stuck_flattens_the_reading(runs: dict[str, pd.DataFrame]) -> None:
    faulty = runs[FaultType.DO_STUCK.value]
    after = faulty.loc[faulty["culture_h"] > ONSET_H + 1, "do"]
    before = faulty.loc[faulty["culture_h"].between(ONSET_H - 24, ONSET_H), "do"]
    assert after.std() < 0.2 * before.std()


def test_fault_parse_rejects_bad_specs() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Fault.parse("leak@10")
    with pytest.raises(ValueError, match="needs an onset"):
        Fault.parse("do_drift")
    with pytest.raises(ValueError, match="must be numbers"):
        Fault.parse("do_drift@soon")
    assert Fault.parse("overfeeding@80:3:24") == Fault(FaultType.OVERFEEDING, 80.0, 3.0, 24.0)
