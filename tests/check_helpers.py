"""Run one check over a synthetic series, as the engine runs it, and see what it finds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bioreactor.contract import Severity
from monitor.checks.base import Check, Explanation, reading_at
from monitor.config import MonitorConfig
from monitor.pipeline import Pipeline

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Found:
    """A finding that holds for one reading."""

    check: str
    variable: str | None
    severity: Severity
    limit: float
    explanation: Explanation


def run(
    check: type[Check],
    series: Iterable[Mapping[str, Any]],
    *,
    config: MonitorConfig | None = None,
    minutes: float = 5.0,
    start: datetime = T0,
) -> list[list[Found]]:
    """Per reading of ``series`` (reading overrides, one every ``minutes``): the findings that hold."""
    pipeline = Pipeline(config or MonitorConfig.default(), [check])
    out = []
    for i, values in enumerate(series):
        reading = reading_at(start + timedelta(minutes=minutes * i), seq=i, **values)
        found = pipeline.findings(pipeline.wave([reading]))
        out.append([
            Found(f.check, f.variable, f.severity, float(f.limit[0]), f.explain(0))
            for f in found
            if f.check != "bad_value" and f.known[0] and f.holds[0]
        ])
    return out


def flags(check: type[Check], series: Iterable[Mapping[str, Any]], variable: str, **options: Any) -> list[bool]:
    """Per reading: whether ``check`` reports ``variable``."""
    return [any(f.variable == variable for f in found) for found in run(check, series, **options)]
