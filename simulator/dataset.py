"""Labelled datasets: random batches with and without faults, as a DataFrame or a CSV file.

>>> frame = generate_frame(batches=2, seed=3, days=0.5, fault_fraction=0.0)
>>> list(frame.columns) == list(CSV_COLUMNS)
True
>>> frame.groupby("batch_id").size().tolist()
[145, 145]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from simulator.engine import BatchConfig, simulate
from simulator.faults import FAULT_TYPES, FaultType, random_fault
from simulator.frame import CSV_COLUMNS
from simulator.parameters import GLUCOSE_G_PER_MMOL, InitialCulture
from simulator.plant import Plant

__all__ = ["CSV_COLUMNS", "generate_frame", "random_configs", "write_csv"]

#: First culture start of a generated campaign; batches follow each other per reactor.
CAMPAIGN_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
REACTORS = 8
TURNAROUND = timedelta(days=16)


def random_configs(
    batches: int,
    seed: int,
    *,
    fault_fraction: float = 0.5,
    faults: Sequence[FaultType] | None = None,
    plant: Plant | None = None,
) -> list[BatchConfig]:
    """Batches with biological variability; a ``fault_fraction`` share carry one random fault.

    Faulty batches cycle through ``faults`` (default: every fault type) so that each type
    occurs equally often. Most batches shift their temperature at a random time in the
    ``plant``'s shift window (default: the bench's).
    """
    shift_window_h = (plant or Plant()).control.shift_window_h
    if batches < 1:
        raise ValueError("batches must be at least 1")
    if not 0.0 <= fault_fraction <= 1.0:
        raise ValueError("fault_fraction must be between 0 and 1")
    rng = np.random.default_rng(seed)
    kinds = list(faults) if faults else list(FAULT_TYPES)
    n_faulty = round(batches * fault_fraction)
    faulty_at = set(rng.permutation(batches)[:n_faulty].tolist())
    configs = []
    next_kind = 0
    for i in range(batches):
        fault = None
        if i in faulty_at:
            fault = random_fault(kinds[next_kind % len(kinds)], rng)
            next_kind += 1
        configs.append(
            BatchConfig(
                batch_id=f"S{seed}-B{i + 1:03d}",
                reactor_id=f"R{i % REACTORS + 1:02d}",
                start=CAMPAIGN_START + (i // REACTORS) * TURNAROUND + timedelta(hours=3 * (i % REACTORS)),
                fault=fault,
                shift_h=float(rng.uniform(*shift_window_h)) if rng.random() < 0.85 else None,
                initial=InitialCulture(
                    vcd=float(rng.uniform(0.3, 0.5)),
                    glucose=float(rng.uniform(5.5, 7.5)) / GLUCOSE_G_PER_MMOL,
                    glutamine=float(rng.uniform(4.0, 6.0)),
                ),
                mu_factor=float(rng.normal(1.0, 0.06)),
                q_o2_factor=float(rng.normal(1.0, 0.08)),
                q_product_factor=float(rng.normal(1.0, 0.12)),
            )
        )
    return configs


def generate_frame(
    batches: int,
    seed: int,
    *,
    days: float = 14.0,
    sample_minutes: float | None = None,
    samples: int | None = None,
    fault_fraction: float = 0.5,
    faults: Sequence[FaultType] | None = None,
    progress: bool = False,
    plant: Plant | None = None,
) -> pd.DataFrame:
    """A labelled dataset of ``batches`` random batches of ``plant``, deterministic by ``seed``.

    Canonical columns (:data:`CSV_COLUMNS`); ``plant.export.apply`` turns them into the
    plant's own format. ``samples`` (readings per batch) overrides ``days``;
    ``sample_minutes`` defaults to the plant's.
    """
    configs = random_configs(batches, seed, fault_fraction=fault_fraction, faults=faults, plant=plant)
    return simulate(
        configs, seed=seed, days=days, sample_minutes=sample_minutes, samples=samples, progress=progress, plant=plant
    )


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a dataset; values are already rounded, so the same data give the same bytes.

    Arrow's writer is ~6x faster than pandas' for the 800k-row datasets.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="needed"))
