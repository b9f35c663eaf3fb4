"""Agitator failure: the impeller turns slower than the DO cascade ever asks for.

The cascade never commands less than its minimum speed as operated (learnt by
the profile), and it speeds the impeller up, never down, while DO is below set
point. A speed under the minimum, or a fall while DO is short, therefore means
the drive (motor, coupling, controller) has failed.

>>> from datetime import datetime, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.harness import CheckHarness
>>> CheckHarness(AgitatorCheck).feed(reading_at(datetime(2026, 1, 1, tzinfo=UTC), agitation=30.0))
['agitator_failure:agitation']
"""

from __future__ import annotations

import numpy as np

from bioreactor.contract import Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Findings, Histories, Latches
from monitor.config import MonitorConfig
from monitor.slots import Slots
from monitor.wave import Wave

#: Span over which a fall of speed is measured (stretched for sparse sampling), and the fall that counts.
DROP_S = 900.0
DROP_FRACTION = 0.2
#: Below this share of the operated minimum the speed is out of the cascade's reach.
FLOOR_SHARE = 0.95


class AgitatorCheck(Check):
    """Critical when agitation is below the cascade minimum or falls while DO is short."""

    name = "agitator_failure"
    inputs = ("agitation",)

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.latches = self.remember(Latches.create(1))

    def evaluate(self, wave: Wave) -> list[Findings]:
        p = self.config.process
        floor = FLOOR_SHARE * p.agitation_min
        agitation = wave["agitation"]
        interval = np.nan_to_num(wave.interval_s, nan=0.0)
        change, _ = self.histories.recent.change(
            wave.slots, wave.times, "agitation", agitation, span_s=np.maximum(DROP_S, 1.5 * interval),
            tolerance_s=np.maximum(interval, 600.0),
        )
        before = agitation - np.nan_to_num(change, nan=0.0)
        with np.errstate(invalid="ignore"):
            fell = change < -DROP_FRACTION * before
            short = wave["do"] < wave.setpoint("do") - 2.0  # NaN DO: not short
            below = agitation < floor
            on = self.latches.update(
                wave.slots, 0, enter=below | (fell & short), stay=below | (agitation < 0.9 * before),
                known=~np.isnan(agitation),
            )
        return [Findings(
            self.name, "agitation", Severity.CRITICAL, on, ~np.isnan(agitation), agitation,
            np.full(len(wave), floor), lambda i: self._explain(wave, i, bool(below[i]), float(before[i])),
        )]

    def _explain(self, wave: Wave, i: int, below: bool, before: float) -> Explanation:
        agitation = float(wave["agitation"][i])
        what = f"agitation {explain.quantity('agitation', agitation)} " + (
            f"is below the cascade minimum {self.config.process.agitation_min:.0f} rpm" if below
            else f"fell from {before:.0f} rpm within {DROP_S / 60:.0f} min while DO is below its set point"
        )
        return Explanation(
            what,
            causes=("agitator drive failure (motor, coupling, speed controller)", "speed sensor fault"),
            action="Check the agitator motor and coupling; watch DO closely.",
        )
