"""Every injected fault, on every shipped plant, leaves readings alone before its onset and moves its signals after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from simulator.engine import BatchConfig, simulate
from simulator.faults import FAULT_SPECS, FAULT_TYPES, Fault, FaultType
from simulator.plant import Plant, load_plant

START = datetime(2026, 1, 1, tzinfo=UTC)
NUMERIC = ["vcd", "glucose", "lactate", "do", "ph", "temperature", "agitation", "airflow", "feed_rate"]
#: Fault onset and run length (days) per plant. The pilot's cascade takes over from its minimum
#: around day 3 (30 % DO at a lower VCD than the bench's 40 %), so its faults start on day 4,
#: when every loop is working.
SCHEDULE = {"bench_5l": (70.0, 5.0), "pilot_200l": (100.0, 6.0)}


@dataclass(frozen=True)
class FaultRuns:
    """One batch of ``plant`` run clean and with each fault from ``onset_h``, keyed by fault name."""

    plant: Plant
    onset_h: float
    frames: dict[str, pd.DataFrame]


@pytest.fixture(scope="module", params=list(SCHEDULE))
def runs(request: pytest.FixtureRequest) -> FaultRuns:
    """The same batch (same seed) clean and with each fault at its strongest.

    Each batch is simulated alone so that all share the clean batch's noise draws.
    A pH drift is made negative, the direction the loop hides (it adds base).
    """
    plant = load_plant(request.param)
    onset_h, days = SCHEDULE[request.param]
    configs = [BatchConfig("clean", "R00", START)]
    for i, kind in enumerate(FAULT_TYPES):
        spec = FAULT_SPECS[kind]
        magnitude = -spec.magnitude_range[1] if kind is FaultType.PH_DRIFT else spec.magnitude_range[1]
        configs.append(BatchConfig(kind.value, f"R{i + 1:02d}", START, fault=Fault(kind, onset_h, magnitude)))
    frames = {c.batch_id: simulate([c], seed=5, days=days, sample_minutes=15, plant=plant) for c in configs}
    return FaultRuns(plant, onset_h, frames)


def signature(kind: FaultType, plant: Plant) -> tuple[str, float]:
    """The signal a fault must move, and by how much (domain notes' signatures).

    Actuator moves are fractions of the plant's ranges; on the bench (250 rpm, 6 mL/h
    of base, 12 mL/h of feed at most) they are 5, 20 and 40 rpm, 0.24 and 1 mL/h.
    """
    top_speed = plant.vessel.agitation_max
    sizes: dict[FaultType, tuple[str, float]] = {
        FaultType.DO_DRIFT: ("agitation", 0.02 * top_speed),  # the controller follows the false reading
        FaultType.DO_STUCK: ("do", 1.0),  # frozen: the noise of the live probe is gone
        FaultType.AERATION_LOSS: ("agitation", 0.08 * top_speed),
        FaultType.AGITATOR_FAILURE: ("agitation", 0.16 * top_speed),
        # The loop pumps base for the false low reading: ~70 % more than the clean twin at either scale.
        FaultType.PH_DRIFT: ("base_rate", 0.04 * plant.control.base_max_rate),
        FaultType.BASE_PUMP_FAILURE: ("ph", 0.1),
        FaultType.TEMPERATURE_CONTROL_FAILURE: ("temperature", 2.0),
        FaultType.MISSED_FEED: ("feed_rate", plant.control.max_feed_rate / 12.0),
        FaultType.OVERFEEDING: ("glucose", 1.5),
        # Bacterial acids; DO falls only where the cascade has no spare oxygen transfer (bench, not pilot).
        FaultType.CONTAMINATION: ("ph", 0.3),
    }
    return sizes[kind]


@pytest.mark.parametrize("kind", FAULT_TYPES, ids=str)
def test_fault_changes_its_signals_after_onset_only(kind: FaultType, runs: FaultRuns) -> None:
    clean, faulty = runs.frames["clean"], runs.frames[kind.value]
    before = faulty["culture_h"] < runs.onset_h
    pd.testing.assert_frame_equal(faulty.loc[before, NUMERIC], clean.loc[before, NUMERIC])
    column, size = signature(kind, runs.plant)
    gap = np.abs(faulty.loc[~before, column].to_numpy() - clean.loc[~before, column].to_numpy())
    assert gap.max() > size, f"{kind}: {column} moved at most {gap.max():.3g}, expected > {size:.3g}"


@pytest.mark.parametrize("kind", FAULT_TYPES, ids=str)
def test_labels_follow_onset_and_effect(kind: FaultType, runs: FaultRuns) -> None:
    faulty = runs.frames[kind.value]
    before = faulty["culture_h"] < runs.onset_h
    assert (faulty.loc[before, "fault"] == "none").all()
    assert (faulty.loc[before, "fault_effective"] == 0).all()
    assert (faulty.loc[~before, "fault"] == kind.value).all()
    effective = faulty.loc[faulty["fault_effective"] == 1, "culture_h"]
    assert not effective.empty, f"{kind} never became effective"
    assert effective.min() >= runs.onset_h
    assert (runs.frames["clean"]["fault_effective"] == 0).all()


def test_sensor_stuck_flattens_the_reading(runs: FaultRuns) -> None:
    faulty = runs.frames[FaultType.DO_STUCK.value]
    after = faulty.loc[faulty["culture_h"] > runs.onset_h + 1, "do"]
    before = faulty.loc[faulty["culture_h"].between(runs.onset_h - 24, runs.onset_h), "do"]
    assert after.std() < 0.2 * before.std()


def test_aeration_loss_drives_air_to_the_plants_own_full_scale(runs: FaultRuns) -> None:
    faulty = runs.frames[FaultType.AERATION_LOSS.value]
    after = faulty.loc[faulty["culture_h"] > runs.onset_h + 6, "airflow"]
    assert after.median() == pytest.approx(runs.plant.vessel.airflow_max, rel=0.05)
