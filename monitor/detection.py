"""How well the monitor detects faults: recall, delay and false alarms on labelled batches.

For every fault type, over many simulated (or supplied) labelled batches:

* **recall**: share of batches whose fault shows in the signals (``fault_effective``
  becomes 1) with an alarm raised between the fault's onset and its end;
* **delay**: first alarm raised at or after the effective onset (or already raised
  since the onset, counted as 0) minus the effective onset, in hours: median and
  90th percentile over the detected batches;
* **false alarms** per 10 reactor-days of fault-free operation: alarms raised in
  clean batches and before the onset in faulty ones.

The same batches are scored for the textbook baseline (the same fixed limits
alone: no hysteresis, no delays, no rolling statistics, no diagnoses) and for an
estimated operator. The operator estimate assumes someone who reviews the trend
display every ``REVIEW_H`` hours and recognises a fault once a textbook limit is
crossed: its delay is the baseline's first alarm rounded up to the next review
(a fault that never crosses a fixed limit is never noticed by this operator).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from bioreactor.contract import AlarmState, Reading
from monitor.checks.multivariate import trained_model
from monitor.config import MonitorConfig
from monitor.engine import MonitorEngine

#: Hours between an operator's reviews of the trend display (estimate; shift rounds).
REVIEW_H = 4.0

_READING_FIELDS = tuple(
    f for f in Reading.__dataclass_fields__ if f not in ("schema", "fault", "fault_effective")
)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """The detection facts of one batch for one detector."""

    batch_id: str
    fault: str
    onset_h: float  # culture hour the fault started (inf: clean)
    effective_h: float  # culture hour it became visible (inf: never)
    end_h: float
    clean_days: float  # fault-free exposure before onset, days
    alarms_h: tuple[float, ...]  # culture hours of raised alarms
    alarm_checks: tuple[str, ...] = ()  # the check that raised each of them

    @property
    def false_alarms(self) -> int:
        return sum(1 for t in self.alarms_h if t < self.onset_h)

    @property
    def detected_h(self) -> float | None:
        """Culture hour the fault counts as detected, None if missed or never visible."""
        if math.isinf(self.effective_h):
            return None
        hits = [t for t in self.alarms_h if self.onset_h <= t <= self.end_h]
        return max(hits[0], self.effective_h) if hits else None


def readings(batch: pd.DataFrame) -> Iterator[Reading]:
    """The rows of one batch as readings (labels are not passed to the engine)."""
    frame = batch.loc[:, [c for c in _READING_FIELDS if c in batch.columns]]
    timestamps = pd.to_datetime(frame["timestamp"], utc=True)
    frame = frame.assign(timestamp=timestamps.dt.to_pydatetime())
    for record in frame.to_dict("records"):
        clean: dict[str, Any] = {
            str(k): (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in record.items()
        }
        yield Reading(**clean)


def score_batch(batch: pd.DataFrame, engine: MonitorEngine) -> BatchOutcome:
    """Run ``engine`` over one batch and collect its detection facts."""
    hours = batch["culture_h"].to_numpy(np.float64)
    faulty = batch["fault"].to_numpy() != "none"
    effective = batch["fault_effective"].to_numpy() == 1
    kind = str(batch["fault"][faulty].iloc[0]) if faulty.any() else "none"
    onset = float(hours[faulty][0]) if faulty.any() else math.inf
    end = float(hours[faulty][-1]) if faulty.any() else math.inf
    alarms: list[tuple[float, str]] = []
    for reading in readings(batch):
        for event in engine.process(reading):
            if event.state is AlarmState.RAISED:
                alarms.append((reading.culture_h, event.check))
    last = float(hours[-1])
    return BatchOutcome(
        batch_id=str(batch["batch_id"].iloc[0]),
        fault=kind,
        onset_h=onset,
        effective_h=float(hours[effective][0]) if effective.any() else math.inf,
        end_h=end,
        clean_days=min(onset, last) / 24.0,
        alarms_h=tuple(t for t, _ in alarms),
        alarm_checks=tuple(c for _, c in alarms),
    )


def table(outcomes: list[BatchOutcome], *, operator: bool = False) -> pd.DataFrame:
    """Per fault type: n, visible, recall, delays (h); plus false alarms per 10 reactor-days."""
    rows = []
    kinds = sorted({o.fault for o in outcomes} - {"none"})
    for kind in kinds:
        group = [o for o in outcomes if o.fault == kind]
        visible = [o for o in group if not math.isinf(o.effective_h)]
        delays = [o.detected_h - o.effective_h for o in visible if o.detected_h is not None]
        if operator:
            delays = [math.ceil(d / REVIEW_H) * REVIEW_H for d in delays]
        rows.append({
            "fault": kind, "n": len(group), "visible": len(visible),
            "recall": len(delays) / len(visible) if visible else math.nan,
            "median_delay_h": float(np.median(delays)) if delays else math.nan,
            "p90_delay_h": float(np.quantile(delays, 0.9)) if delays else math.nan,
        })
    exposure = sum(o.clean_days for o in outcomes)
    false = sum(o.false_alarms for o in outcomes)
    rows.append({
        "fault": "(fault-free operation)", "n": len(outcomes), "visible": 0,
        "recall": math.nan, "median_delay_h": math.nan, "p90_delay_h": math.nan,
        "false_alarms_per_10_reactor_days": 10.0 * false / exposure if exposure else math.nan,
        "false_alarms": false, "reactor_days": exposure,
    })
    return pd.DataFrame(rows)


def false_alarms_by_check(outcomes: list[BatchOutcome]) -> pd.Series:
    """How many alarms of fault-free operation each check raised, most first."""
    checks = [
        check
        for o in outcomes
        for hour, check in zip(o.alarms_h, o.alarm_checks, strict=True)
        if hour < o.onset_h
    ]
    return pd.Series(checks, dtype=object).value_counts().rename("false_alarms")


@dataclass
class Evaluation:
    """Per-batch outcomes of the monitor and the baseline, and the wall time taken."""

    monitor: list[BatchOutcome]
    baseline: list[BatchOutcome]
    seconds: float

    def combined(self) -> pd.DataFrame:
        """All tables in one, with a ``detector`` column."""
        return pd.concat(
            [t.assign(detector=name) for name, t in self.tables().items()], ignore_index=True
        )

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "monitor": table(self.monitor),
            "baseline (fixed limits)": table(self.baseline),
            f"operator estimate (baseline + {REVIEW_H:g}-h trend reviews)": table(
                self.baseline, operator=True
            ),
        }


def _score_both(
    batch: pd.DataFrame, config: MonitorConfig
) -> tuple[BatchOutcome, BatchOutcome]:
    batch = batch.sort_values("culture_h")
    return (
        score_batch(batch, MonitorEngine(config)),
        score_batch(batch, MonitorEngine(config.baseline())),
    )


def evaluate(
    frame: pd.DataFrame, config: MonitorConfig | None = None, *, jobs: int = -1
) -> Evaluation:
    """Score the monitor and the textbook baseline on every batch of a labelled frame.

    Batches are independent, so they are scored in ``jobs`` processes (-1: one per core).
    """
    config = config or MonitorConfig.default()
    start = time.perf_counter()
    if config.enabled("multivariate"):
        trained_model(config.multivariate)  # fit (or load) once, before the workers start
    pairs = Parallel(n_jobs=jobs)(
        delayed(_score_both)(batch, config) for _, batch in frame.groupby("batch_id", sort=True)
    )
    monitor = [m for m, _ in pairs]
    baseline = [b for _, b in pairs]
    return Evaluation(monitor, baseline, time.perf_counter() - start)


def labelled_frame(path: Path | None, *, batches: int, seed: int) -> pd.DataFrame:
    """The labelled readings of ``path`` (a CSV with ``fault``/``fault_effective``), or simulated.

    Simulated sets have 65 % faulty batches, every fault type equally often, so 160
    batches give each of the ten types at least 10, beside 56 clean batches.
    """
    if path is not None:
        return pd.read_csv(path)
    from simulator.dataset import generate_frame  # noqa: PLC0415 - only needed to simulate

    return generate_frame(batches, seed, fault_fraction=0.65)


def report(evaluation: Evaluation) -> str:
    """The tables as text, with the wall time."""
    parts = []
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        for name, frame in evaluation.tables().items():
            parts.append(f"{name}:\n{frame.round(3).to_string(index=False)}")
        by_check = false_alarms_by_check(evaluation.monitor)
        if not by_check.empty:
            parts.append(f"monitor false alarms by check:\n{by_check.to_string()}")
    parts.append(f"wall time {evaluation.seconds:.1f} s for {len(evaluation.monitor)} batches")
    return "\n\n".join(parts)
