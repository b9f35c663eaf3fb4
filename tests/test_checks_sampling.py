"""Every check works at any sampling interval: the same fault, sampled every 1, 5, 10 and 30 minutes.

Each scenario describes a fault in time (hours since the start; it begins at hour 8)
and the check that must see it. All sampling rates run as separate reactors through
one pipeline, so each reactor's readings are judged by windows, delays and minimum
counts in time. The check must stay quiet before the fault and see it within the
scenario's bound at every rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest

from bioreactor.contract import Reading
from monitor.checks import CHECK_TYPES
from monitor.checks.base import reading_at
from monitor.config import MonitorConfig
from monitor.pipeline import Pipeline
from tests.check_helpers import T0

ONSET_H = 8.0
HOURS = 20.0
MINUTES = (1, 5, 10, 30)


@dataclass(frozen=True)
class Scenario:
    key: str  # check:variable
    values: Callable[[float, float], dict[str, float]]  # (hours since start, noise draw) -> reading overrides
    within_h: float


def after(t: float) -> float:
    return max(0.0, t - ONSET_H)


SCENARIOS = {
    "limit": Scenario("limit_low_low:glucose", lambda t, e: {"glucose": 4.0 + 0.1 * e if t < ONSET_H else 0.3}, 1.0),
    "zscore": Scenario("zscore:ph", lambda t, e: {"ph": 7.0 + 0.01 * e - (0.3 if t >= ONSET_H else 0.0)}, 1.0),
    "rate": Scenario("rate:do", lambda t, e: {"do": 40.0 + e - min(30.0, 60.0 * after(t))}, 1.0),
    "cusum": Scenario(
        "cusum:temperature", lambda t, e: {"temperature": 37.0 + 0.05 * e + (0.25 if t >= ONSET_H else 0)}, 3.0
    ),
    "flatline": Scenario("flatline:do", lambda t, e: {"do": 40.0 + e if t < ONSET_H else 41.3}, 5.0),
    "oxygen_transfer": Scenario(
        "oxygen_transfer:do",
        lambda t, e: {"do": 40.0 + e if t < ONSET_H else 20.0, "agitation": 250.0, "airflow": 0.2},
        1.0,
    ),
    "oxygen_balance": Scenario(
        "oxygen_balance:do", lambda t, e: {"agitation": 150.0 if t < ONSET_H else 230.0, "do": 40.0 + 0.3 * e}, 2.0
    ),
    "agitator": Scenario("agitator_failure:agitation", lambda t, e: {"agitation": 150.0 if t < ONSET_H else 20.0}, 1.0),
    "base_pump": Scenario(
        "base_pump:ph",
        lambda t, e: {"ph": 7.0 + 0.01 * e if t < ONSET_H else 6.85, "base_rate": 0.5 if t < ONSET_H else 0.0},
        1.0,
    ),
    "temperature": Scenario(
        "temperature_control:temperature", lambda t, e: {"temperature": 37.0 + 0.05 * e + 0.4 * after(t)}, 3.0
    ),
    "missed_feed": Scenario(
        "missed_feed:feed_rate", lambda t, e: {"feed_rate": 5.0 if t < ONSET_H else 0.0, "glucose": 3.0 + 0.1 * e}, 1.0
    ),
    "overfeeding": Scenario("overfeeding:feed_rate", lambda t, e: {"feed_rate": 5.0 if t < ONSET_H else 15.0}, 1.0),
    "starvation": Scenario(
        "glucose_starvation:glucose", lambda t, e: {"glucose": 0.4, "lactate": 2.0 - 0.1 * after(t)}, 5.0
    ),
    "contamination": Scenario(
        "contamination:glucose",
        lambda t, e: {"glucose": 4.0 - 1.0 * after(t), "ph": 7.0 - 0.12 * after(t), "feed_rate": 5.0},
        4.0,
    ),
    "ph_probe": Scenario(
        "ph_probe:ph",
        lambda t, e: {"lactate": 1.0 + 0.05 * t, "base_rate": 0.0, "co2_flow": 0.12 * after(t)},
        10.0,
    ),
}


@pytest.fixture(scope="module")
def found() -> dict[tuple[str, int], list[tuple[float, set[str]]]]:
    """For every scenario and sampling rate: (hours since start, keys that hold) per reading."""
    pipeline = Pipeline(MonitorConfig.default(), CHECK_TYPES)
    noise = np.random.default_rng(3)
    streams = {}
    for name, scenario in SCENARIOS.items():
        for minutes in MINUTES:
            steps = int(HOURS * 60 / minutes)
            draws = noise.normal(size=steps)
            streams[(name, minutes)] = [
                reading_at(T0 + timedelta(minutes=minutes * i), reactor_id=f"{name}-{minutes}", seq=i,
                           culture_h=100.0 + minutes * i / 60, **scenario.values(minutes * i / 60, float(draws[i])))
                for i in range(steps)
            ]
    result: dict[tuple[str, int], list[tuple[float, set[str]]]] = {key: [] for key in streams}
    owner = {f"{name}-{minutes}": (name, minutes) for name, minutes in streams}
    timeline = sorted((r.timestamp, r.reactor_id, r) for stream in streams.values() for r in stream)
    wave: list[Reading] = []
    for _, _, reading in [*timeline, (None, None, None)]:
        if reading is None or any(r.reactor_id == reading.reactor_id for r in wave):
            findings = pipeline.findings(pipeline.wave(wave))
            for i, r in enumerate(wave):
                keys = {f"{f.check}:{f.variable}" for f in findings if f.known[i] and f.holds[i]}
                result[owner[r.reactor_id]].append(((r.culture_h - 100.0), keys))
            wave = []
        if reading is not None:
            wave.append(reading)
    return result


@pytest.mark.parametrize("minutes", MINUTES)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_check_sees_its_fault_at_every_sampling_rate(found, name, minutes):
    scenario = SCENARIOS[name]
    series = found[(name, minutes)]
    before = [h for h, keys in series if h < ONSET_H and scenario.key in keys]
    assert not before, f"{scenario.key} at {minutes}-min sampling fired before the fault, at hours {before[:3]}"
    seen = [h for h, keys in series if h >= ONSET_H and scenario.key in keys]
    assert seen, f"{scenario.key} never saw the fault at {minutes}-min sampling"
    assert seen[0] - ONSET_H <= scenario.within_h, f"{scenario.key} took {seen[0] - ONSET_H:.1f} h at {minutes} min"
