"""How well the monitor detects faults: recall, delay and false alarms on labelled batches.

For every fault type, over many labelled batches (simulated, or a user's file with
``fault``/``fault_effective`` columns):

* **recall**: share of batches whose fault shows in the signals (``fault_effective``
  becomes 1) with an alarm raised between the fault's onset and its end;
* **delay**: first alarm raised at or after the effective onset (or already raised
  since the onset, counted as 0) minus the effective onset, in hours: median and
  90th percentile over the detected batches;
* **false alarms** per 10 reactor-days of fault-free operation: alarms raised in
  clean batches and before the onset in faulty ones.

Beside the monitor, the same batches are scored for the textbook baseline — the
same fixed limits with a 24-hour rolling z-score, no hysteresis, no delays, no
diagnoses — and for an estimated operator who reviews the trend display every
``REVIEW_H`` hours and recognises a fault once the baseline would have alarmed.

The profile the monitor uses must not have seen the batches it is scored on:
:func:`split_reference` fits it on half of the clean batches and scores the other
half and every faulty batch. Alarm floods are measured too: alarms per incident
and the peak number of new alarms (and of new incidents) in any 10 minutes.

Batches are independent, so all of them run through one engine at once, one
pseudo-reactor per batch, in waves across batches.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from bioreactor.columns import ColumnMap
from bioreactor.contract import AlarmState, IncidentState, Reading, field_names, from_record
from bioreactor.csvio import read_frame
from monitor.config import MonitorConfig
from monitor.engine import MonitorEngine

#: Hours between an operator's reviews of the trend display (estimate; shift rounds).
REVIEW_H = 4.0
#: The window of an alarm flood (EEMUA 191: fewer than 10 alarms in 10 minutes after an upset).
FLOOD_H = 10.0 / 60.0

_READING_FIELDS = tuple(f for f in field_names(Reading) if f not in ("fault", "fault_effective"))


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
    incidents_h: tuple[float, ...] = ()  # culture hours incidents were opened

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


def peak(hours: Sequence[float], window_h: float = FLOOD_H) -> int:
    """The most events in any window of ``window_h`` hours.

    >>> peak([1.0, 1.05, 1.1, 5.0])
    3
    """
    times = np.sort(np.asarray(hours, dtype=np.float64))
    if not len(times):
        return 0
    ends = np.searchsorted(times, times + window_h, side="right")
    return int((ends - np.arange(len(times))).max())


def readings(batch: pd.DataFrame, reactor_id: str) -> list[Reading]:
    """The rows of one batch as readings of ``reactor_id`` (labels are not passed to the engine)."""
    frame = batch.loc[:, [c for c in _READING_FIELDS if c in batch.columns]]
    frame = frame.assign(reactor_id=reactor_id, timestamp=pd.to_datetime(frame["timestamp"], utc=True))
    records = frame.to_dict("records")
    return [from_record(Reading, r) for r in records]


def _labels(batch: pd.DataFrame) -> dict[str, Any]:
    hours = batch["culture_h"].to_numpy(np.float64)
    faulty = batch["fault"].fillna("none").to_numpy() != "none"
    effective = batch["fault_effective"].fillna(0).to_numpy() == 1
    onset = float(hours[faulty][0]) if faulty.any() else math.inf
    return {
        "batch_id": str(batch["batch_id"].iloc[0]),
        "fault": str(batch["fault"][faulty].iloc[0]) if faulty.any() else "none",
        "onset_h": onset,
        "effective_h": float(hours[effective][0]) if effective.any() else math.inf,
        "end_h": float(hours[faulty][-1]) if faulty.any() else math.inf,
        "clean_days": min(onset, float(hours[-1])) / 24.0,
    }


def score_batches(batches: Sequence[pd.DataFrame], config: MonitorConfig) -> list[BatchOutcome]:
    """Run one engine over every batch at once (one pseudo-reactor per batch) and collect their facts."""
    streams = [readings(b.sort_values("culture_h"), f"X{i}") for i, b in enumerate(batches)]
    interleaved = [r for step in _round_robin(streams) for r in step]
    outcome = MonitorEngine(config).process(interleaved)
    alarms: dict[str, list[tuple[float, str]]] = {f"X{i}": [] for i in range(len(batches))}
    opened: dict[str, list[float]] = {f"X{i}": [] for i in range(len(batches))}
    for event in outcome.events:
        if event.state is AlarmState.RAISED and event.reactor_id in alarms:
            alarms[event.reactor_id].append((_culture_h(streams, event.reactor_id, event.timestamp), event.check))
    for incident in outcome.incidents:
        if incident.state is IncidentState.OPENED and incident.reactor_id in opened:
            opened[incident.reactor_id].append(_culture_h(streams, incident.reactor_id, incident.opened_at))
    return [
        BatchOutcome(
            **_labels(batch),
            alarms_h=tuple(h for h, _ in alarms[f"X{i}"]),
            alarm_checks=tuple(c for _, c in alarms[f"X{i}"]),
            incidents_h=tuple(opened[f"X{i}"]),
        )
        for i, batch in enumerate(batches)
    ]


def _round_robin(streams: Sequence[list[Reading]]) -> list[list[Reading]]:
    """The i-th reading of every stream together, for every i: waves across batches."""
    longest = max((len(s) for s in streams), default=0)
    return [[s[i] for s in streams if i < len(s)] for i in range(longest)]


def _culture_h(streams: Sequence[list[Reading]], reactor_id: str, at: Any) -> float:
    """The culture hour of ``reactor_id``'s batch at time ``at`` (from its first reading)."""
    first = streams[int(reactor_id[1:])][0]
    return float(first.culture_h + (at - first.timestamp).total_seconds() / 3600.0)


def table(outcomes: list[BatchOutcome], *, operator: bool = False) -> pd.DataFrame:
    """Per fault type: n, visible, recall, delays (h); plus false alarms per 10 reactor-days."""
    rows = []
    for kind in sorted({o.fault for o in outcomes} - {"none"}):
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


def floods(outcomes: list[BatchOutcome]) -> pd.DataFrame:
    """Over faulty batches: alarms per incident, and the peak of new alarms and new incidents in 10 min."""
    faulty = [o for o in outcomes if o.fault != "none"]
    alarms = sum(len(o.alarms_h) for o in faulty)
    incidents = sum(len(o.incidents_h) for o in faulty)
    return pd.DataFrame([{
        "faulty_batches": len(faulty),
        "alarms": alarms,
        "incidents": incidents,
        "alarms_per_incident": alarms / incidents if incidents else math.nan,
        "peak_alarms_per_10_min": max((peak(o.alarms_h) for o in faulty), default=0),
        "peak_incidents_per_10_min": max((peak(o.incidents_h) for o in faulty), default=0),
    }])


def false_alarms_by_check(outcomes: list[BatchOutcome]) -> pd.Series:
    """How many alarms of fault-free operation each check raised, most first."""
    checks = [c for o in outcomes for h, c in zip(o.alarms_h, o.alarm_checks, strict=True) if h < o.onset_h]
    return pd.Series(checks, dtype=object).value_counts().rename("false_alarms")


@dataclass
class Evaluation:
    """Per-batch outcomes of the monitor and the baseline, what the profile was fitted on, the time taken."""

    monitor: list[BatchOutcome]
    baseline: list[BatchOutcome]
    seconds: float
    fitted_on: tuple[str, ...] = ()

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "monitor": table(self.monitor),
            "baseline (fixed limits + 24-h rolling z-score)": table(self.baseline),
            f"operator estimate (baseline + {REVIEW_H:g}-h trend reviews)": table(self.baseline, operator=True),
        }

    def combined(self) -> pd.DataFrame:
        """All tables in one, with a ``detector`` column."""
        return pd.concat([t.assign(detector=name) for name, t in self.tables().items()], ignore_index=True)


def evaluate(
    frame: pd.DataFrame, config: MonitorConfig, *, jobs: int = -1, fitted_on: Sequence[str] = ()
) -> Evaluation:
    """Score the monitor and the textbook baseline on every batch of a labelled frame.

    The batches are shared out to ``jobs`` processes (-1: one per core), each running one engine.
    """
    start = time.perf_counter()
    batches = [b for _, b in frame.groupby("batch_id", sort=True)]
    # Monitor and baseline run side by side; with more cores each also splits its batches (an engine's
    # cost per wave is mostly fixed, so fewer, larger waves are cheaper per reading).
    shares = max(1, min(len(batches), _cores(jobs) // 2))
    chunks = [batches[i::shares] for i in range(shares)]
    results = Parallel(n_jobs=2 * shares)(
        delayed(score_batches)(chunk, c) for c in (config, config.baseline()) for chunk in chunks
    )
    order = {str(b["batch_id"].iloc[0]): i for i, b in enumerate(batches)}

    def ordered(parts: list[list[BatchOutcome]]) -> list[BatchOutcome]:
        return sorted((o for part in parts for o in part), key=lambda o: order[o.batch_id])

    return Evaluation(
        monitor=ordered(results[:shares]),
        baseline=ordered(results[shares:]),
        seconds=time.perf_counter() - start,
        fitted_on=tuple(fitted_on),
    )


def _cores(jobs: int) -> int:
    import os  # noqa: PLC0415 - only here

    return (os.cpu_count() or 1) if jobs < 0 else jobs


def split_reference(frame: pd.DataFrame, seed: int) -> tuple[list[str], pd.DataFrame]:
    """Half of the clean batches (drawn with ``seed``) to fit a profile on, and the frame to score:
    the other clean batches and every faulty one.

    >>> frame = pd.DataFrame({"batch_id": ["A", "B", "C", "D"], "fault": ["none", "none", "x", "none"]})
    >>> fit, rest = split_reference(frame, seed=0)
    >>> len(fit), sorted(set(rest["batch_id"]) | set(fit)) == ["A", "B", "C", "D"], "C" in set(rest["batch_id"])
    (1, True, True)
    """
    faulty = set(frame.loc[frame["fault"].fillna("none") != "none", "batch_id"])
    clean = sorted(set(frame["batch_id"]) - faulty)
    rng = np.random.default_rng(seed)
    fit = sorted(rng.choice(clean, size=len(clean) // 2, replace=False).tolist()) if clean else []
    return fit, frame[~frame["batch_id"].isin(fit)]


def labelled_frame(path: Path | None, maps: Sequence[str], *, batches: int, seed: int) -> pd.DataFrame:
    """The labelled readings of ``path`` (mapped with ``maps``; bad rows skipped), or simulated ones.

    Simulated sets have 65 % faulty batches, every fault type equally often, so 160
    batches give each of the ten types at least 10, beside 56 clean batches.
    """
    if path is not None:
        frame, _ = read_frame(path, ColumnMap.parse(maps))
        if "fault" not in frame.columns or "fault_effective" not in frame.columns:
            raise ValueError(f"{path} has no fault/fault_effective labels: it cannot score detection")
        return frame
    from simulator.dataset import generate_frame  # noqa: PLC0415 - only needed to simulate

    return generate_frame(batches, seed, fault_fraction=0.65)


def report(evaluation: Evaluation) -> str:
    """The tables as text, with the wall time."""
    parts = []
    if evaluation.fitted_on:
        parts.append(f"profile fitted on {len(evaluation.fitted_on)} clean batches, not scored: "
                     + ", ".join(evaluation.fitted_on[:8]) + (" ..." if len(evaluation.fitted_on) > 8 else ""))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        for name, frame in evaluation.tables().items():
            parts.append(f"{name}:\n{frame.round(3).to_string(index=False)}")
        by_check = false_alarms_by_check(evaluation.monitor)
        if not by_check.empty:
            parts.append(f"monitor false alarms by check:\n{by_check.to_string()}")
        flood = floods(evaluation.monitor).round(2).to_string(index=False)
        parts.append(f"alarm floods, monitor (faulty batches):\n{flood}")
    parts.append(f"wall time {evaluation.seconds:.1f} s for {len(evaluation.monitor)} batches")
    return "\n\n".join(parts)
