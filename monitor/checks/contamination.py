"""Contamination: glucose uptake jumps while the culture acidifies or demands more oxygen.

Bacteria double in under an hour (domain notes) and take up glucose and oxygen
far faster than CHO cells, making acids. Uptake is estimated from the glucose
balance, uptake = -dG/dt + F·G_feed/V, over ``UPTAKE_SPAN`` (long enough to
average the Raman noise), and compared with its level before.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import History, reading_at
>>> from monitor.config import MonitorConfig
>>> check = ContaminationCheck(MonitorConfig.default())
>>> state, history = check.new_state(), History(timedelta(hours=12))
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> found = []
>>> for i in range(150):
...     bad = max(0, i - 120)  # from sample 120, glucose crashes and pH falls
...     r = reading_at(t0 + timedelta(minutes=5 * i), glucose=4.0 - 0.08 * bad, ph=7.0 - 0.01 * bad)
...     history.append(r)
...     found.append(bool(check.evaluate(r, history, state)))
>>> found.index(True)
129
"""

from __future__ import annotations

from datetime import timedelta

from bioreactor.contract import Reading, Severity
from monitor import explain
from monitor.checks.base import Explanation, Finding, History, Latch, LatchCheck

UPTAKE_SPAN = timedelta(hours=2)
#: The uptake it is compared with: the same estimate this long before.
REFERENCE_AGE = timedelta(hours=6)


def glucose_uptake(history: History, feed_glucose: float, end_age: timedelta = timedelta(0)) -> (
    float | None
):
    """Glucose uptake (g/L/h) over ``UPTAKE_SPAN`` ending ``end_age`` ago, from the balance.

    >>> from datetime import datetime, UTC
    >>> from monitor.checks.base import reading_at
    >>> h = History(timedelta(hours=4))
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> for i in range(30):
    ...     h.append(reading_at(t0 + timedelta(minutes=5 * i), glucose=4.0 - 0.01 * i, feed_rate=0))
    >>> round(glucose_uptake(h, 150.0), 3)  # 0.01 g/L per 5 min
    0.12
    """
    end = history.before(end_age) if end_age else history.latest
    start = history.before(end_age + UPTAKE_SPAN)
    if end is None or start is None or end.volume is None:
        return None
    hours = (end.timestamp - start.timestamp).total_seconds() / 3600
    fed = (start.feed_rate + end.feed_rate) / 2 / 1000 * feed_glucose / end.volume
    return (start.glucose - end.glucose) / hours + fed


class ContaminationCheck(LatchCheck):
    """Critical when glucose uptake jumps and pH, DO or agitation confirm a new consumer."""

    name = "contamination"

    def evaluate(self, reading: Reading, history: History, state: Latch) -> list[Finding]:
        p = self.config.process
        now = glucose_uptake(history, p.feed_glucose)
        before = glucose_uptake(history, p.feed_glucose, REFERENCE_AGE)
        if now is None or before is None:
            state.on.clear()
            return []
        jump = now - before
        signs = self._corroboration(reading, history)
        if not state.update("uptake", enter=jump > p.uptake_jump and bool(signs),
                            stay=jump > p.uptake_jump / 2):
            return []
        what = (
            f"glucose uptake jumped to {now:.2f} g/L/h from {before:.2f} g/L/h "
            f"{REFERENCE_AGE.seconds // 3600} h earlier"
        )
        return [Finding(
            check=self.name,
            severity=Severity.CRITICAL,
            explanation=Explanation(
                what,
                corroborating=signs,
                causes=("bacterial contamination", "glucose sensor fault"),
                action="Take a sample for microscopy and a sterility check now.",
            ),
            variable="glucose",
            value=reading.glucose,
            limit=before + p.uptake_jump,
        )]

    def _corroboration(self, reading: Reading, history: History) -> tuple[str, ...]:
        """The other signs of a fast-growing consumer that are present."""
        signs = []
        setpoint = self.setpoint(reading, "ph")
        if reading.ph < setpoint - 0.08:  # beyond the deadband by 3 noise sigmas
            signs.append(f"pH {explain.quantity('ph', reading.ph)} below set point")
        agitation = history.change("agitation", timedelta(hours=1))
        if agitation is not None and agitation > 10:
            signs.append(f"agitation up {agitation:.0f} rpm in 1 h")
        do = history.change("do", timedelta(hours=1))
        if do is not None and do < -5:
            signs.append(f"DO down {abs(do):.1f} % in 1 h")
        viability = history.change("viability", timedelta(hours=6))
        if viability is not None and viability < -3:
            signs.append(f"viability down {abs(viability):.1f} % in 6 h")
        return tuple(signs)
