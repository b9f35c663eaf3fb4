"""Offline analysis: the monitor engine over a CSV file, events to a CSV, a summary per batch.

The file is read by :mod:`bioreactor.csvio` (column and unit mapping, row
validation), so a file is judged exactly as the replay and the model judge it,
and the engine is the one the MQTT service runs: the same readings give the same
events online and offline. Rows that cannot be used are skipped and summarised
by reason; checks that cannot run on a reactor (a variable it does not measure,
sampling too sparse) are listed with the reason, and so is where each set point
comes from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bioreactor.columns import ColumnMap
from bioreactor.contract import (
    SETPOINT_FIELDS,
    AlarmEvent,
    AlarmState,
    Coverage,
    Incident,
    IncidentState,
    Reading,
    format_timestamp,
)
from bioreactor.csvio import CsvReadings, Row, RowError
from bioreactor.rejections import RejectionSummary
from monitor.config import MonitorConfig
from monitor.engine import MonitorEngine

#: Columns of the events file.
EVENT_COLUMNS: tuple[str, ...] = (
    "timestamp", "reactor_id", "batch_id", "check", "severity", "state", "message",
    "alarm_id", "variable", "value", "limit", "first_seen", "last_seen", "incident_id",
)


@dataclass
class BatchSummary:
    """What happened to one batch's rows: used, refused by the engine (by reason), alarms by check."""

    reactor_id: str
    batch_id: str
    rows: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    alarms: Counter[str] = field(default_factory=Counter)
    incidents: int = 0


@dataclass
class Analysis:
    """Every event and incident, in order, per-batch summaries, skipped rows, coverage, set-point sources."""

    events: list[AlarmEvent] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    batches: dict[tuple[str, str], BatchSummary] = field(default_factory=dict)
    skipped: RejectionSummary = field(default_factory=RejectionSummary)
    coverage: dict[str, Coverage] = field(default_factory=dict)
    setpoints: dict[str, str] = field(default_factory=dict)

    def batch(self, reactor_id: str, batch_id: str) -> BatchSummary:
        """The summary of a batch, created on first use."""
        key = (reactor_id, batch_id)
        if key not in self.batches:
            self.batches[key] = BatchSummary(reactor_id, batch_id)
        return self.batches[key]


def analyze_rows(rows: Iterable[Row | RowError], engine: MonitorEngine) -> Analysis:
    """Feed parsed rows through ``engine``; rows the reader or the engine refuse are counted by reason."""
    analysis = Analysis()
    readings: list[Reading] = []
    for row in rows:
        if isinstance(row, RowError):
            analysis.skipped.add(row.line, row.field, row.reason, row.value)
            continue
        readings.append(row.reading)
        analysis.batch(row.reading.reactor_id, row.reading.batch_id).rows += 1
    outcome = engine.process(readings)
    for reading, reason in outcome.rejected:
        analysis.batch(reading.reactor_id, reading.batch_id).refused[_reason(reason)] += 1
    for event in outcome.events:
        if event.state is AlarmState.RAISED:
            analysis.batch(event.reactor_id, event.batch_id).alarms[event.check] += 1
    for incident in outcome.incidents:
        if incident.state is IncidentState.OPENED:
            analysis.batch(incident.reactor_id, incident.batch_id).incidents += 1
    analysis.events, analysis.incidents = outcome.events, outcome.incidents
    analysis.coverage = {r: engine.coverage(r) for r in engine.reactors()}
    analysis.setpoints = setpoint_sources(readings, engine.config)
    return analysis


def setpoint_sources(readings: list[Reading], config: MonitorConfig) -> dict[str, str]:
    """Where each set point comes from, in words: the data, the profile's learnt schedule, or a default."""
    sources = {}
    profile = config.profile
    for variable, name in SETPOINT_FIELDS.items():
        if any(getattr(r, name) is not None for r in readings):
            sources[variable] = f"from the data ({name})"
        elif profile is not None and variable in profile.setpoints and profile.setpoints[variable].levels:
            schedule = profile.setpoints[variable]
            levels = " then ".join(f"{v:g}" for v in schedule.levels)
            change = schedule.change_h
            window = f" between hours {change[0]:.0f} and {change[1]:.0f}" if change else ""
            sources[variable] = f"not in the data: following the learnt schedule {levels}{window}"
        else:
            sources[variable] = f"not in the data: the configured default {config.setpoints.default(variable):g}"
    return sources


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
            "last_seen": format_timestamp(e.last_seen), "incident_id": e.incident_id,
        }
        for e in events
    ]
    return pd.DataFrame(rows, columns=list(EVENT_COLUMNS))


def summary_text(analysis: Analysis) -> str:
    """Skipped rows by reason, set-point sources, coverage per reactor, then one paragraph per batch."""
    lines = []
    if analysis.skipped.total:
        lines.append(analysis.skipped.text())
    if analysis.setpoints:
        lines.append("set points:")
        lines += [f"  {variable}: {source}" for variable, source in analysis.setpoints.items()]
    for reactor, coverage in sorted(analysis.coverage.items()):
        if coverage.skipped:
            lines.append(f"{reactor}: {len(coverage.running)} checks run; cannot run:")
            lines += [f"  {s.check}: {s.reason}" for s in coverage.skipped]
    for (reactor, batch), s in sorted(analysis.batches.items()):
        refused = sum(s.refused.values())
        lines.append(f"{reactor} {batch}: {s.rows} rows, {refused} refused, {sum(s.alarms.values())} alarms "
                     f"in {s.incidents} incidents")
        lines += [f"  refused {n} x {reason}" for reason, n in s.refused.most_common()]
        lines += [f"  alarm {check}: {n}" for check, n in sorted(s.alarms.items())]
    return "\n".join(lines)


def _reason(text: str) -> str:
    """A reason without its row-specific numbers, so equal reasons group together."""
    for start in ("duplicate seq", "duplicate timestamp", "out of order", "suspect seq jump"):
        if text.startswith(start):
            return start
    return text
