"""Each fungal fault: identical to its twin before onset, its signature after, labelled by onset, end and effect."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from simulator.fungal.faults import FAULT_TYPES, NO_FAULT, Fault, FaultKind
from simulator.fungal.feeding import OperatorPlan
from simulator.fungal.simulation import DEPARTURE, FungalBatch, Record, simulate

HOURS = 150.0
#: Onsets in each type's window; the base pump fails while growth needs base.
ONSET_H = {kind: 90.0 for kind in FaultKind} | {FaultKind.BASE_PUMP_FAILURE: 60.0}
#: Drifts upward; everything else at the middle of its range. Finite faults last 8 h.
MAGNITUDE = {FaultKind.DO_PROBE_DRIFT: 10.0, FaultKind.PH_PROBE_DRIFT: 0.15}
DURATION_H = 8.0

#: What each fault must do (faulty minus twin, noise-free), while in force:
#: signal, direction, least size. From the signatures in the fault types' docstrings.
SIGNATURE: dict[FaultKind, list[tuple[str, int, float]]] = {
    FaultKind.AERATION_LOSS: [("aeration", -1, 500.0), ("offgas_co2", +1, 1.0), ("true_do", -1, 5.0)],
    FaultKind.AGITATOR_FAILURE: [("agitation", -1, 20.0), ("true_do", -1, 20.0), ("aeration", +1, 1000.0)],
    FaultKind.FEED_OVERDOSE: [("feed", +1, 200.0), ("sugar", +1, 2.0), ("offgas_co2", +1, 0.5)],
    FaultKind.FEED_STOP: [("feed", -1, 50.0), ("sugar", -1, 0.2), ("offgas_co2", -1, 0.3), ("do", +1, 10.0)],
    FaultKind.COOLING_FAILURE: [("temperature", +1, 1.5)],
    FaultKind.BASE_PUMP_FAILURE: [("base", -1, 10.0), ("ph", -1, 0.1)],
    FaultKind.DO_PROBE_DRIFT: [("do", +1, 5.0), ("true_do", -1, 5.0)],
    FaultKind.PH_PROBE_DRIFT: [("true_ph", -1, 0.1), ("base", -1, 2.0)],
    FaultKind.CONTAMINATION: [
        ("offgas_co2", +1, 0.1),
        ("true_do", -1, 3.0),
        ("base", +1, 10.0),
        ("penicillin", -1, 0.5),
    ],
}


@pytest.fixture(scope="module")
def record() -> Record:
    """A clean batch and one batch per fault type, all with the same culture and operator."""
    operator = OperatorPlan.draw(np.random.default_rng(4), HOURS)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batches = [FungalBatch("clean", "F01", start, operator)]
    for kind, fault_type in FAULT_TYPES.items():
        magnitude = MAGNITUDE.get(kind, float(np.mean(fault_type.magnitude_range)))
        duration = None if fault_type.duration_range_h is None else DURATION_H
        fault = Fault(kind, ONSET_H[kind], magnitude, duration)
        batches.append(FungalBatch(kind.value, "F01", start, operator, fault=fault))
    return simulate(batches, hours=HOURS, sample_minutes=12, rng=np.random.default_rng(2))


def column_of(record: Record, kind: FaultKind) -> int:
    return next(i for i, b in enumerate(record.batches) if b.fault is not None and b.fault.kind is kind)


def test_there_are_at_least_seven_fault_types_each_with_a_documented_signature() -> None:
    assert len(FAULT_TYPES) >= 7
    assert set(SIGNATURE) == set(FAULT_TYPES)
    for fault_type in FAULT_TYPES.values():
        assert "Signature:" in (type(fault_type).__doc__ or ""), fault_type.kind


@pytest.mark.parametrize("kind", list(FaultKind), ids=str)
def test_fault_leaves_every_reading_identical_to_the_twin_before_onset(kind: FaultKind, record: Record) -> None:
    batch = column_of(record, kind)
    twin = record.twin[batch]
    before = record.minutes / 60.0 < ONSET_H[kind]
    for name, values in record.readings.items():
        np.testing.assert_array_equal(values[before, batch], values[before, twin], err_msg=name)
    for group in (record.clean, record.truth):
        for name, values in group.items():
            np.testing.assert_array_equal(values[before, batch], values[before, twin], err_msg=name)


@pytest.mark.parametrize("kind", list(FaultKind), ids=str)
def test_fault_shows_its_signature_while_in_force(kind: FaultKind, record: Record) -> None:
    batch = column_of(record, kind)
    twin = record.twin[batch]
    in_force = record.labels[:, batch] == kind.value
    for name, direction, size in SIGNATURE[kind]:
        values = record.clean.get(name, record.truth.get(name))
        assert values is not None, name
        gap = direction * (values[in_force, batch] - values[in_force, twin])
        assert gap.max() > size, f"{kind}: {name} moved by at most {gap.max():.3g} (wanted {direction * size:+})"


@pytest.mark.parametrize("kind", list(FaultKind), ids=str)
def test_labels_follow_onset_end_and_effect(kind: FaultKind, record: Record) -> None:
    batch = column_of(record, kind)
    fault = record.batches[batch].fault
    assert fault is not None
    hours = record.minutes / 60.0
    in_force = (hours >= fault.onset_h) & (hours < fault.end_h)
    np.testing.assert_array_equal(record.labels[:, batch], np.where(in_force, kind.value, NO_FAULT))
    effective = record.effective[:, batch] == 1
    assert effective.any(), f"{kind} never took effect"
    assert not (effective & ~in_force).any()
    first = int(np.argmax(effective))
    # Once effective, it stays so while the fault is in force.
    assert effective[first:][in_force[first:]].all()


@pytest.mark.parametrize("kind", list(FaultKind), ids=str)
def test_effect_starts_at_the_first_departure_from_the_twin(kind: FaultKind, record: Record) -> None:
    batch = column_of(record, kind)
    twin = record.twin[batch]
    first = int(np.argmax(record.effective[:, batch] == 1))
    signals = record.clean | record.truth

    def departs(row: int) -> bool:
        return any(
            abs(signals[name][row, batch] - signals[name][row, twin])
            > absolute + relative * abs(signals[name][row, twin])
            for name, (absolute, relative) in DEPARTURE.items()
        )

    assert departs(first)
    assert not any(departs(row) for row in range(first))


def test_clean_batch_is_never_labelled(record: Record) -> None:
    assert (record.labels[:, 0] == NO_FAULT).all()
    assert (record.effective[:, 0] == 0).all()
    assert record.twin[0] == -1


@pytest.mark.parametrize("kind", list(FaultKind), ids=str)
def test_random_faults_fall_in_their_ranges_and_before_harvest(kind: FaultKind) -> None:
    rng = np.random.default_rng(7)
    fault_type = FAULT_TYPES[kind]
    for hours in (230.0, 40.0):
        for _ in range(20):
            fault = Fault.draw(kind, rng, hours)
            low, high = fault_type.magnitude_range
            assert low <= abs(fault.magnitude) <= high
            assert fault.onset_h <= max(hours - 6.0, 0.0)
            if hours == 230.0:
                assert fault_type.onset_range_h[0] <= fault.onset_h <= fault_type.onset_range_h[1]
            if fault_type.duration_range_h is None:
                assert fault.duration_h is None
            else:
                assert fault.duration_h is not None
                assert fault_type.duration_range_h[0] <= fault.duration_h <= fault_type.duration_range_h[1]
