"""The golden batch: a variable outside the band the reference batches showed at the same culture age.

The process profile learnt, per culture-time bin, the spread of every variable
across the plant's good batches (:class:`~monitor.envelope.Envelope`). A reading
outside that band, widened by a margin (a few sensor-noise sigmas or a share of
the band's width, whichever is larger), is unusual for its maturity: what is
normal at hour 10 is not normal at hour 200 (limits by maturity, Nomikos &
MacGregor 1995). Set-point variables are left to their limits.
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


class EnvelopeCheck(Check):
    """Warn when a variable leaves its per-maturity band of the reference batches."""

    name = "envelope"

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.envelope = config.profile.envelope if config.profile is not None else None
        known = self.envelope.variables if self.envelope is not None else ()
        self.variables = [v for v in config.envelope.variables if v in known]
        self.latches = self.remember(Latches.create(1, on=(max(len(self.variables), 1),)))

    def cannot_run(self, measured: Collection[str], interval_s: float) -> str | None:
        if self.envelope is None:
            return "no golden-batch envelope: fit a process profile on reference batches"
        if not any(v in measured for v in self.variables):
            return "none of the variables with an envelope is measured"
        return None

    def evaluate(self, wave: Wave) -> list[Findings]:
        settings, envelope = self.config.envelope, self.envelope
        if envelope is None:  # no profile: nothing to compare with (cannot_run reports it)
            return []
        found = []
        for key, variable in enumerate(self.variables):
            value = wave[variable]
            low, median, high = envelope.at_hours(variable, wave.hours)
            margin = np.maximum(settings.margin_sigmas * self.config.noise(variable),
                                settings.margin_fraction * (high - low))
            known = ~np.isnan(value) & ~np.isnan(low) & ~np.isnan(high)
            with np.errstate(invalid="ignore"):
                outside = (value < low - margin) | (value > high + margin)
                inside = (value > low - margin / 2) & (value < high + margin / 2)
                on = self.latches.update(wave.slots, key, enter=outside, stay=~inside, known=known)
            found.append(Findings(
                self.name, variable, Severity.WARNING, on, known, value,
                np.where(value < low, low - margin, high + margin),
                partial(_explain, variable, value, wave.hours, (low, median, high)),
            ))
        return found


def _explain(
    variable: str, values: FloatArray, hours: FloatArray, bands: tuple[FloatArray, FloatArray, FloatArray], i: int
) -> Explanation:
    value = float(values[i])
    low, median, high = (float(b[i]) for b in bands)
    name = explain.label(variable)
    side = "below" if value < low else "above"
    what = (
        f"{name} {explain.quantity(variable, value)} is {side} what the reference batches showed at culture "
        f"hour {float(hours[i]):.0f} ({explain.quantity(variable, low)} to {explain.quantity(variable, high)}, "
        f"typically {explain.quantity(variable, median)})"
    )
    return Explanation(
        what,
        causes=(f"the batch departs from the golden batch in {name}", f"{name} measurement fault"),
        action=f"Compare {name} with the reference trend and check what changed in the batch.",
    )
