"""Start the live page with the past: load the monitor's historian into the fleet state.

Without it, a dashboard started mid-batch or after harvest shows only what arrives
from then on. Each reactor's whole latest batch is loaded (the fleet state thins
a long one evenly); the historian is opened read-only (SQLite WAL, or the shared
PostgreSQL store of several monitors), so the monitor keeps writing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pandas as pd

from bioreactor.contract import AlarmEvent, ContractError, Reading, Recommendation, from_record
from dashboards.state import FleetState
from monitor.historian import Table, open_historian

T = TypeVar("T")


def backfill(state: FleetState, location: str | Path) -> int:
    """Load each reactor's latest batch (readings, recommendations) and its alarm events.

    ``location`` is what the monitor's ``--historian`` says: a SQLite file or a
    ``postgresql://`` URL. Returns the number of readings loaded. Raises
    ``FileNotFoundError`` when there is no historian file at ``location``.
    """
    loaded = 0
    with open_historian(location, readonly=True) as historian:
        batches = historian.batches()
        # batches() is ordered by reactor and start: the last row of a reactor is its latest batch.
        for row in batches.groupby("reactor_id").tail(1).itertuples():
            reactor_id, batch_id = str(row.reactor_id), str(row.batch_id)
            tables = {t: historian.frame(t, batch_id, reactor_id=reactor_id) for t in _TABLES}
            loaded += sum(state.add_reading(r) for r in stored_payloads(Reading, tables[Table.READINGS]))
            # Events and recommendations after readings: they are placed on the readings' time axis.
            for recommendation in stored_payloads(Recommendation, tables[Table.RECOMMENDATIONS]):
                state.add_recommendation(recommendation)
            for event in stored_payloads(AlarmEvent, tables[Table.ALARMS]):
                state.add_event(event)
    return loaded


_TABLES = (Table.READINGS, Table.RECOMMENDATIONS, Table.ALARMS)


def stored_payloads(cls: type[T], frame: pd.DataFrame) -> Iterator[T]:
    """The rows of a historian table as payloads; a row that no longer validates is skipped."""
    for row in frame.to_dict("records"):
        if isinstance(row.get("drivers"), str):
            row["drivers"] = json.loads(row["drivers"])
        try:
            yield from_record(cls, row)
        except ContractError:
            continue
