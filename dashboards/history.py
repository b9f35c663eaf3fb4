"""Start the live page with the past: load the monitor's historian into the fleet state.

Without it, a dashboard started mid-batch shows only what arrives from then on.
The historian is opened read-only (SQLite WAL), so the monitor keeps writing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pandas as pd

from bioreactor.contract import AlarmEvent, ContractError, Reading, Recommendation, from_record
from dashboards.state import FleetState
from monitor.historian import SqliteHistorian, Table

T = TypeVar("T")


def backfill(state: FleetState, path: Path) -> int:
    """Load each reactor's latest batch (readings, recommendations) and recent alarm events.

    Returns the number of readings loaded. Raises ``FileNotFoundError`` when
    there is no historian at ``path``.
    """
    with SqliteHistorian(path, readonly=True) as historian:
        readings = _latest_batches(historian.frame(Table.READINGS), state.history)
        recommendations = historian.frame(Table.RECOMMENDATIONS)
        events = historian.frame(Table.ALARMS)
    loaded = sum(state.add_reading(r) for r in _payloads(Reading, readings))
    # Events and recommendations after readings: they are placed on the readings' time axis.
    for recommendation in _payloads(Recommendation, recommendations):
        state.add_recommendation(recommendation)
    for event in _payloads(AlarmEvent, events):
        state.add_event(event)
    return loaded


def _latest_batches(readings: pd.DataFrame, per_reactor: int) -> pd.DataFrame:
    """The last ``per_reactor`` readings of each reactor's most recent batch, in stored order."""
    if readings.empty:
        return readings
    latest = readings.groupby("reactor_id")["batch_id"].transform("last")
    return readings[readings["batch_id"] == latest].groupby("reactor_id").tail(per_reactor)


def _payloads(cls: type[T], frame: pd.DataFrame) -> Iterator[T]:
    """The rows of a historian table as payloads; a row that no longer validates is skipped."""
    for row in frame.to_dict("records"):
        if isinstance(row.get("drivers"), str):
            row["drivers"] = json.loads(row["drivers"])
        try:
            yield from_record(cls, row)
        except ContractError:
            continue
