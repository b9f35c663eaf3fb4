"""The long table of readings: one row per batch and sample, in the canonical CSV column order."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bioreactor.contract import Reading, field_names

if TYPE_CHECKING:
    from simulator.engine import Record, Simulation

#: Reading fields a CHO culture model has no use for: ``biomass`` is dry weight, for microbial processes.
_NOT_SIMULATED = frozenset({"biomass", "fault", "fault_effective"})

#: Canonical CSV columns: the Reading fields the simulator produces, then the two labels.
CSV_COLUMNS: tuple[str, ...] = (
    *(f for f in field_names(Reading) if f not in _NOT_SIMULATED),
    "fault",
    "fault_effective",
)


#: Decimals kept per reading field: below sensor resolution, and stable across platforms.
DECIMALS = {
    "culture_h": 4,
    "vcd": 3,
    "viability": 2,
    "glucose": 3,
    "lactate": 3,
    "do": 2,
    "ph": 3,
    "temperature": 2,
    "agitation": 1,
    "airflow": 4,
    "feed_rate": 3,
    "volume": 4,
    "titer": 4,
    "base_rate": 3,
    "co2_flow": 3,
}


def records_to_frame(sim: Simulation, records: Iterable[Record]) -> pd.DataFrame:
    """Long format: one row per batch and sample, ordered by batch then time."""
    columns: dict[str, list[np.ndarray]] = {}
    labels: list[list[str]] = []
    n = sim.batches
    for record in records:
        for key, value in record.items():
            if key == "fault":
                labels.append(value)  # type: ignore[arg-type]
            else:
                columns.setdefault(key, []).append(np.broadcast_to(np.asarray(value), (n,)))
    stacked = {k: np.stack(v, axis=1).ravel() for k, v in columns.items()}  # batch-major
    samples = len(labels)
    frame = pd.DataFrame(stacked)
    frame["fault"] = np.array(labels, dtype=object).T.ravel()
    frame["reactor_id"] = np.repeat([c.reactor_id for c in sim.configs], samples)
    frame["batch_id"] = np.repeat([c.batch_id for c in sim.configs], samples)
    starts = np.repeat(
        np.array([c.start.astimezone(UTC).replace(tzinfo=None) for c in sim.configs], dtype="datetime64[ms]"), samples
    )
    elapsed_ms = frame["seq"].to_numpy() * round(sim.sample_hours * 3_600_000)
    stamps = starts + elapsed_ms.astype("timedelta64[ms]")
    frame["timestamp"] = pd.to_datetime(stamps, utc=True).strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    frame["do_setpoint"] = sim.control.do_setpoint
    frame["ph_setpoint"] = sim.control.ph_setpoint
    return frame[list(CSV_COLUMNS)]
