"""Agitator failure: the impeller turns slower than the DO cascade can ever ask for.

The cascade never commands less than its minimum speed, and it speeds the impeller
up, never down, while DO is below set point. A speed under the minimum, or a fall
while DO is short, therefore means the drive (motor, coupling, controller) has failed.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import History, reading_at
>>> from monitor.config import MonitorConfig
>>> check = AgitatorCheck(MonitorConfig.default())
>>> state, history = check.new_state(), History(timedelta(hours=2))
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> history.append(r := reading_at(t0, agitation=30.0))
>>> [f.check for f in check.evaluate(r, history, state)]
['agitator_failure']
"""

from __future__ import annotations

from datetime import timedelta

from bioreactor.contract import Reading, Severity
from monitor import explain
from monitor.checks.base import Explanation, Finding, History, Latch, LatchCheck

#: Span over which a fall of speed is measured, and the fall that counts.
DROP_SPAN = timedelta(minutes=15)
DROP_FRACTION = 0.2


class AgitatorCheck(LatchCheck):
    """Critical when agitation is below the cascade minimum or falls while DO is short."""

    name = "agitator_failure"

    def evaluate(self, reading: Reading, history: History, state: Latch) -> list[Finding]:
        p = self.config.process
        floor = 0.95 * p.agitation_min
        setpoint = self.setpoint(reading, "do")
        change = history.change("agitation", DROP_SPAN)
        before = reading.agitation - change if change is not None else reading.agitation
        fell = change is not None and change < -DROP_FRACTION * before
        short = reading.do < setpoint - 2.0
        below = reading.agitation < floor
        if not state.update(
            "agitation", enter=below or (fell and short), stay=below or reading.agitation < 0.9 * before
        ):
            return []
        do_change = history.change("do", timedelta(minutes=30))
        corroborating = (
            (f"DO {explain.quantity('do', reading.do)}, {abs(do_change):.1f} % lower than 30 min ago",)
            if do_change is not None and do_change < -1.0
            else ()
        )
        what = (
            f"agitation {explain.quantity('agitation', reading.agitation)} "
            + (f"is below the cascade minimum {p.agitation_min:g} rpm" if below
               else f"fell from {before:.0f} rpm within {DROP_SPAN.seconds // 60} min while DO is "
                    f"below its set point")
        )
        return [Finding(
            check=self.name,
            severity=Severity.CRITICAL,
            explanation=Explanation(
                what,
                corroborating=corroborating,
                causes=("agitator drive failure (motor, coupling, speed controller)",
                        "speed sensor fault"),
                action="Check the agitator motor and coupling; watch DO closely.",
            ),
            variable="agitation",
            value=reading.agitation,
            limit=floor,
        )]
