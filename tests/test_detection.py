"""Detection on simulated batches: injected faults found after onset, clean batches quiet."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import MonitorConfig
from monitor.detection import Evaluation, evaluate, table
from simulator.engine import BatchConfig, simulate
from simulator.faults import Fault, FaultType

START = datetime(2026, 1, 5, tzinfo=UTC)
FAULTS = [
    Fault(FaultType.AERATION_LOSS, 80.0, 0.85),
    Fault(FaultType.MISSED_FEED, 80.0, 1.0, 24.0),
    Fault(FaultType.TEMPERATURE_CONTROL_FAILURE, 80.0, 0.3),
    Fault(FaultType.AGITATOR_FAILURE, 80.0, 0.8, 10.0),
]


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    configs = [
        BatchConfig(f"T-B{i}", f"R{i + 1:02d}", START + timedelta(hours=i), fault=fault)
        for i, fault in enumerate([None, None, *FAULTS])
    ]
    frame = simulate(configs, seed=5, days=5.0)
    return evaluate(frame, MonitorConfig.default(), jobs=1)


@pytest.mark.slow
def test_injected_faults_are_detected_after_onset(evaluation: Evaluation) -> None:
    for outcome in evaluation.monitor:
        if outcome.fault == "none":
            continue
        assert outcome.detected_h is not None, outcome.fault
        assert outcome.onset_h <= outcome.detected_h <= outcome.effective_h + 6.0, outcome


@pytest.mark.slow
def test_clean_batches_raise_no_alarm(evaluation: Evaluation) -> None:
    clean = [o for o in evaluation.monitor if o.fault == "none"]
    assert len(clean) == 2
    assert all(o.alarms_h == () for o in clean)


@pytest.mark.slow
def test_tables_hold_sane_numbers(evaluation: Evaluation) -> None:
    monitor = table(evaluation.monitor).set_index("fault")
    assert set(monitor.index) >= {f.kind.value for f in FAULTS}
    rows = monitor.drop(index="(fault-free operation)")
    assert rows["recall"].between(0, 1).all()
    assert (rows["median_delay_h"].dropna() >= 0).all()
    free = monitor.to_dict("index")["(fault-free operation)"]
    assert free["reactor_days"] > 2 * 5 and not math.isnan(free["false_alarms_per_10_reactor_days"])
    baseline = table(evaluation.baseline).set_index("fault").to_dict("index")["agitator_failure"]
    assert baseline["recall"] <= rows.to_dict("index")["agitator_failure"]["recall"]
