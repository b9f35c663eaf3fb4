"""Contamination: substrate uptake jumps while the culture acidifies or demands more oxygen.

Bacteria double in under an hour (domain notes) and take up glucose and oxygen
far faster than the production organism, making acids. Uptake is estimated from
the glucose balance, uptake = -dG/dt + F·G_feed/V, over ``UPTAKE_S`` (long enough to
average analyser noise), and compared with its level ``REFERENCE_S`` before.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.harness import CheckHarness
>>> harness = CheckHarness(ContaminationCheck)
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> found = []
>>> for i in range(150):
...     bad = max(0, i - 120)  # from sample 120, glucose crashes and pH falls
...     r = reading_at(t0 + timedelta(minutes=5 * i), glucose=4.0 - 0.08 * bad, ph=7.0 - 0.01 * bad)
...     found.append(bool(harness.feed(r)))
>>> found.index(True)
129
"""

from __future__ import annotations

import numpy as np

from bioreactor.contract import Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Findings, Histories, Latches
from monitor.config import MonitorConfig
from monitor.slots import FloatArray, Slots
from monitor.wave import Wave

UPTAKE_S = 2 * 3600.0
#: pH this far below set point corroborates (the bench's deadband plus 3 noise sigmas), when it is
#: also below the golden batch's band at that culture age: a broth that normally runs at the bottom
#: of a wide band, or below its set point before the loop holds it, is no sign of acid-making bacteria.
PH_MARGIN = 0.08
#: The uptake it is compared with: the same estimate this long before.
REFERENCE_S = 6 * 3600.0


class ContaminationCheck(Check):
    """Critical when glucose uptake jumps and pH, DO, agitation or viability confirm a new consumer."""

    name = "contamination"
    inputs = ("glucose", "feed_rate", "volume")

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.latches = self.remember(Latches.create(1))
        envelope = config.profile.envelope if config.profile is not None else None
        self.envelope = envelope if envelope is not None and "ph" in envelope.variables else None

    def _uptake(self, wave: Wave, end_s: float) -> FloatArray:
        """Glucose uptake (g/L/h) over ``UPTAKE_S`` ending ``end_s`` ago, from the glucose balance."""
        recent, slots, times = self.histories.recent, wave.slots, wave.times
        tolerance = np.maximum(np.nan_to_num(wave.interval_s, nan=0.0), 900.0)

        def at(variable: str, age: float) -> tuple[FloatArray, FloatArray]:
            if age == 0:
                return wave[variable], np.zeros(len(wave))
            return recent.at(slots, times, variable, age_s=age, tolerance_s=tolerance)

        glucose_end, end_ago = at("glucose", end_s)
        glucose_start, start_ago = at("glucose", end_s + UPTAKE_S)
        feed_end, _ = at("feed_rate", end_s)
        feed_start, _ = at("feed_rate", end_s + UPTAKE_S)
        hours = (start_ago - end_ago) / 3600.0
        fed = (feed_start + feed_end) / 2 / 1000 * self.config.process.feed_glucose / wave["volume"]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(hours > 0, (glucose_start - glucose_end) / hours + fed, np.nan)

    def evaluate(self, wave: Wave) -> list[Findings]:
        jump_limit = self.config.process.uptake_jump
        now, before = self._uptake(wave, 0.0), self._uptake(wave, REFERENCE_S)
        jump = now - before
        known = ~np.isnan(jump)
        with np.errstate(invalid="ignore"):
            jumped = jump > jump_limit
            # The corroborating signs cost history queries: asked only where uptake jumped.
            corroborated = np.zeros(len(wave), dtype=bool)
            where = np.flatnonzero(jumped)
            if len(where):
                corroborated[where] = self._signs(wave.take(where)).any(axis=0)
            on = self.latches.update(
                wave.slots, 0, enter=jumped & corroborated, stay=jump > jump_limit / 2, known=known
            )
        return [Findings(
            self.name, "glucose", Severity.CRITICAL, on, known, wave["glucose"], before + jump_limit,
            lambda i: self._explain(wave, i, float(now[i]), float(before[i])),
        )]

    def _signs(self, wave: Wave) -> np.ndarray:
        """The other signs of a fast-growing consumer, one row per sign: pH, agitation, DO, viability."""
        recent, slots, times = self.histories.recent, wave.slots, wave.times
        hour = {"span_s": 3600.0, "tolerance_s": 1800.0}
        agitation, _ = recent.change(slots, times, "agitation", wave["agitation"], **hour)
        do, _ = recent.change(slots, times, "do", wave["do"], **hour)
        viability, _ = recent.change(slots, times, "viability", wave["viability"], span_s=6 * 3600.0,
                                     tolerance_s=6 * 3600.0)
        with np.errstate(invalid="ignore"):
            return np.stack([
                wave["ph"] < self._ph_floor(wave),
                agitation > 10.0,
                do < -5.0,
                viability < -3.0,
            ])

    def _ph_floor(self, wave: Wave) -> FloatArray:
        """The pH below which the culture is acidifying: below set point and the golden batch's band."""
        floor = wave.setpoint("ph") - PH_MARGIN
        if self.envelope is None:
            return floor
        low, _, _ = self.envelope.at_hours("ph", wave.hours)
        return np.fmin(floor, low)

    def _explain(self, wave: Wave, i: int, now: float, before: float) -> Explanation:
        signs = self._signs(wave.take(np.array([i])))[:, 0]
        words = [
            f"pH {explain.quantity('ph', float(wave['ph'][i]))} below set point",
            "agitation up more than 10 rpm in 1 h",
            "DO down more than 5 % in 1 h",
            "viability down more than 3 % in 6 h",
        ]
        return Explanation(
            f"glucose uptake jumped to {now:.2f} g/L/h from {before:.2f} g/L/h {REFERENCE_S / 3600:.0f} h earlier",
            corroborating=tuple(w for w, s in zip(words, signs, strict=True) if s),
            causes=("bacterial contamination", "glucose sensor fault"),
            action="Take a sample for microscopy and a sterility check now.",
        )
