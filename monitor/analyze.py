"""Offline analysis: the monitor engine over a CSV file, events to a CSV, a summary per batch.

The file is read by :mod:`bioreactor.csvio` (column and unit mapping, row
validation), so a file is judged exactly as the replay and the model judge it,
and the engine is the one the MQTT service runs: the same readings give the same
events online and offline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bioreactor.columns import ColumnMap
from bioreactor.contract import AlarmEvent, AlarmState, format_timestamp
from bioreactor.csvio import CsvReadings, Row, RowError
from monitor.config import MonitorConfig
from monitor.engine import MonitorEngine, ReadingRejected

#: Columns of the events file.
EVENT_COLUMNS: tuple[str, ...] = (
    "timestamp", "reactor_id", "batch_id", "check", "severity", "state", "message",
    "alarm_id", "variable", "value", "limit", "first_seen", "last_seen",
)


@dataclass
class BatchSummary:
    """What happened to one batch's rows: used, rejected (with reasons), alarms by check."""

    reactor_id: str
    batch_id: str
    rows: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    alarms: Counter[str] = field(default_factory=Counter)


@dataclass
class Analysis:
    """Every event, in order, and the per-batch summaries."""

    events: list[AlarmEvent] = field(default_factory=list)
    batches: dict[tuple[str, str], BatchSummary] = field(default_factory=dict)

    def batch(self, reactor_id: str, batch_id: str) -> BatchSummary:
        """The summary of a batch, created on first use."""
        key = (reactor_id, batch_id)
        if key not in self.batches:
            self.batches[key] = BatchSummary(reactor_id, batch_id)
        return self.batches[key]


def analyze_rows(rows: Iterable[Row | RowError], engine: MonitorEngine) -> Analysis:
    """Feed parsed rows through ``engine``; rows the CSV reader or the engine refuse are counted."""
    analysis = Analysis()
    for row in rows:
        if isinstance(row, RowError):
            # A row that failed validation has no trusted batch id; count it on its reactor.
            summary = analysis.batch(row.reactor_id or "?", "(unparsed rows)")
            summary.rejected[f"{row.field or 'row'}: {_reason(row.reason)}"] += 1
            continue
        reading = row.reading
        summary = analysis.batch(reading.reactor_id, reading.batch_id)
        summary.rows += 1
        try:
            events = engine.process(reading)
        except ReadingRejected as error:
            summary.rejected[_reason(error.reason)] += 1
            continue
        for event in events:
            if event.state is AlarmState.RAISED:
                analysis.batch(event.reactor_id, event.batch_id).alarms[event.check] += 1
        analysis.events += events
    return analysis


def analyze_csv(
    path: str | Path, columns: ColumnMap | None = None, config: MonitorConfig | None = None
) -> Analysis:
    """Run a fresh engine over the CSV file at ``path``."""
    return analyze_rows(CsvReadings(path, columns), MonitorEngine(config))


def events_frame(events: Iterable[AlarmEvent]) -> pd.DataFrame:
    """The events as a table with :data:`EVENT_COLUMNS`."""
    rows = [
        {
            "timestamp": format_timestamp(e.timestamp), "reactor_id": e.reactor_id,
            "batch_id": e.batch_id, "check": e.check, "severity": e.severity.value,
            "state": e.state.value, "message": e.message, "alarm_id": e.alarm_id,
            "variable": e.variable, "value": e.value, "limit": e.limit,
            "first_seen": format_timestamp(e.first_seen),
            "last_seen": format_timestamp(e.last_seen),
        }
        for e in events
    ]
    return pd.DataFrame(rows, columns=list(EVENT_COLUMNS))


def summary_text(analysis: Analysis) -> str:
    """One paragraph per batch: rows, rejected rows with reasons, alarms by check."""
    lines = []
    for (reactor, batch), s in sorted(analysis.batches.items()):
        rejected = sum(s.rejected.values())
        lines.append(f"{reactor} {batch}: {s.rows} rows, {rejected} rejected, "
                     f"{sum(s.alarms.values())} alarms")
        lines += [f"  rejected {n} x {reason}" for reason, n in s.rejected.most_common()]
        lines += [f"  alarm {check}: {n}" for check, n in sorted(s.alarms.items())]
    return "\n".join(lines)


def _reason(text: str) -> str:
    """A reason without its row-specific numbers, so equal reasons group together."""
    if text.startswith("duplicate"):
        return " ".join(text.split()[:2])
    return "out of order" if text.startswith("out of order") else text
