"""Stuck sensor: a signal whose spread over a window collapses below its measurement noise.

A live probe always shows noise; a frozen value (stuck probe, frozen transmitter,
held value in the historian) shows none. The window is a time span, stretched
to hold enough readings of a sparsely sampled reactor.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.harness import CheckHarness
>>> harness = CheckHarness(FlatlineCheck)
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> found = []
>>> for i in range(60):
...     do = 40.0 + (1.0 if i % 2 else -1.0) if i < 20 else 41.7
...     found.append("flatline:do" in harness.feed(reading_at(t0 + timedelta(minutes=5 * i), do=do)))
>>> found.index(True) * 5  # minutes: once the 1.5-h window holds only the frozen value (from 100 min)
185
"""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

import numpy as np

from bioreactor.contract import Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Findings, Histories, Latches
from monitor.config import MonitorConfig
from monitor.slots import FloatArray, Slots
from monitor.wave import Wave


class FlatlineCheck(Check):
    """Warn when a sensor's rolling standard deviation falls far below its noise."""

    name = "flatline"

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.variables = [v for v in config.statistics.flatline_variables if config.noise(v) > 0]
        self.window_s = config.statistics.flatline_window_h * 3600.0
        self.latches = self.remember(Latches.create(1, on=(max(len(self.variables), 1),)))

    def cannot_run(self, measured: Collection[str], interval_s: float) -> str | None:
        if not any(v in measured for v in self.variables):
            return f"needs one of {', '.join(self.variables)} with a known sensor noise"
        return self.too_sparse(self.window_s, interval_s)

    def evaluate(self, wave: Wave) -> list[Findings]:
        settings = self.config.statistics
        window = self.stretch(self.window_s, wave)
        found = []
        for key, variable in enumerate(self.variables):
            value = wave[variable]
            n, _, std = self.histories.recent.window(wave.slots, wave.times, variable, window)
            floor = settings.flatline_fraction * self.config.noise(variable)
            # The window must reach back its whole length: at a batch's start it holds too little.
            known = ~np.isnan(value) & (n >= settings.min_samples) & (wave.observed_s >= window)
            on = self.latches.update(wave.slots, key, enter=std < floor, stay=std < 2 * floor, known=known)
            found.append(Findings(
                self.name, variable, Severity.WARNING, on, known, value, np.full(len(wave), floor),
                partial(_explain, variable, (value, std, window), floor),
            ))
        return found


def _explain(variable: str, columns: tuple[FloatArray, FloatArray, FloatArray], floor: float, i: int) -> Explanation:
    """``columns``: the values, window standard deviations and windows (s) of the wave."""
    value, std, window_s = (float(c[i]) for c in columns)
    name = explain.label(variable)
    what = (
        f"{name} has not moved from {explain.quantity(variable, value)} for {window_s / 3600:g} h "
        f"(standard deviation {std:.3g}, a live probe shows at least {floor:.3g})"
    )
    return Explanation(
        what,
        causes=(f"{name} probe or transmitter stuck", "signal held by the data system"),
        action=f"Compare {name} with a handheld or offline measurement; check the transmitter.",
    )
