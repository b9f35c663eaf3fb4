"""Feeding: a missed feed, overfeeding and glucose starvation.

The culture is fed continuously from ``feed_start_h`` (domain notes: from day 3).
A feed pump at zero while glucose is below its target means a feed is due and
not delivered; a feed rate far above its recent level is overfeeding (domain
notes: glucose > 8-10 g/L follows); low glucose while lactate is consumed is
starvation.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import History, reading_at
>>> check = MissedFeedCheck(MonitorConfig.default())
>>> state, history = check.new_state(), History(timedelta(hours=2))
>>> history.append(r := reading_at(datetime(2026, 1, 1, tzinfo=UTC), feed_rate=0.0, glucose=2.5))
>>> [f.check for f in check.evaluate(r, history, state)]
['missed_feed']
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import timedelta

from bioreactor.contract import Reading, Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Finding, History, Latch, LatchCheck
from monitor.config import MonitorConfig

#: How far back the feed-rate reference looks.
FEED_REFERENCE = timedelta(hours=8)
#: A feed pump below this (mL/h) is stopped.
STOPPED = 0.01
#: Span over which starvation looks for lactate being consumed.
LACTATE_SPAN = timedelta(hours=3)
#: Overfeeding also needs this much extra feed (mL/h): small rates wander by large factors.
MIN_EXCESS = 0.5


class MissedFeedCheck(LatchCheck):
    """Critical when the feed pump is at zero while a feed is due."""

    name = "missed_feed"

    def evaluate(self, reading: Reading, history: History, state: Latch) -> list[Finding]:
        p = self.config.process
        # A full vessel stops the feed on purpose: nothing is missed.
        full = reading.volume is not None and reading.volume >= p.at_max_fraction * p.max_volume
        due = reading.culture_h >= p.feed_start_h and reading.vcd > 0.5 and not full
        stopped = reading.feed_rate < STOPPED
        if not state.update(
            "feed",
            enter=due and stopped and reading.glucose < p.feed_due_glucose,
            stay=due and stopped,
        ):
            return []
        fed = [v for v in history.values("feed_rate", FEED_REFERENCE) if v >= STOPPED]
        corroborating: tuple[str, ...] = (
            (f"the pump delivered {statistics.fmean(fed):.2f} mL/h earlier",) if fed else ()
        )
        drop = history.change("glucose", timedelta(hours=2))
        if drop is not None and drop < 0:
            corroborating += (f"glucose fell {abs(drop):.2f} g/L in 2 h",)
        what = (
            f"feed rate is 0 mL/h at culture hour {reading.culture_h:.0f} while glucose is "
            f"{explain.quantity('glucose', reading.glucose)} (feeding due below "
            f"{p.feed_due_glucose:g} g/L)"
        )
        return [Finding(
            check=self.name,
            severity=Severity.CRITICAL,
            explanation=Explanation(
                what,
                corroborating=corroborating,
                causes=("feed pump stopped or tubing off the pump head", "feed bottle empty",
                        "feed schedule not started"),
                action="Check the feed pump, bottle and line.",
            ),
            variable="feed_rate",
            value=reading.feed_rate,
            limit=STOPPED,
        )]


@dataclass(slots=True)
class FeedState:
    """The feed-rate reference, frozen while an overfeeding alarm stands."""

    reference: float | None = None
    latch: Latch = field(default_factory=Latch)


class OverfeedingCheck(Check[FeedState]):
    """Warn when the feed rate jumps far above its recent median."""

    name = "overfeeding"

    def new_state(self) -> FeedState:
        return FeedState()

    def evaluate(self, reading: Reading, history: History, state: FeedState) -> list[Finding]:
        factor = self.config.process.overfeed_factor
        if "feed" not in state.latch.on:
            recent = history.values("feed_rate", FEED_REFERENCE)[:-1]
            # Only a feed established over the whole window is a reference (not the start-up ramp).
            steady = len(recent) >= 12 and min(recent) >= STOPPED
            state.reference = statistics.median(recent) if steady else None
        reference = state.reference
        if reference is None or reference < 0.2:
            state.latch.on.discard("feed")
            return []
        ratio = reading.feed_rate / reference
        excess = reading.feed_rate - reference
        if not state.latch.update(
            "feed", enter=ratio > factor and excess > MIN_EXCESS, stay=ratio > (1 + factor) / 2
        ):
            return []
        rise = history.change("glucose", timedelta(hours=3))
        corroborating = (
            (f"glucose up {rise:.2f} g/L in 3 h to {explain.quantity('glucose', reading.glucose)}",)
            if rise is not None and rise > 0.2 else ()
        )
        what = (
            f"feed rate {explain.quantity('feed_rate', reading.feed_rate)} is x{ratio:.1f} its "
            f"recent level {explain.quantity('feed_rate', reference)}"
        )
        return [Finding(
            check=self.name,
            severity=Severity.WARNING,
            explanation=Explanation(
                what,
                corroborating=corroborating,
                causes=("feed pump set point wrong (overfeeding)", "feed pump calibration error"),
                action="Check the feed pump set point against the schedule.",
            ),
            variable="feed_rate",
            value=reading.feed_rate,
            limit=reference * factor,
        )]


class StarvationCheck(LatchCheck):
    """Critical when glucose is low and the cells have turned to lactate."""

    name = "glucose_starvation"

    def __init__(self, config: MonitorConfig) -> None:
        super().__init__(config)
        limits = [lim for lim in config.limits if lim.variable == "glucose" and lim.low]
        self.low = (limits[0].low or 1.0) if limits else 1.0
        self.deadband = limits[0].deadband if limits else 0.3

    def evaluate(self, reading: Reading, history: History, state: Latch) -> list[Finding]:
        low = self.low
        lactate = history.smoothed_change("lactate", LACTATE_SPAN)
        consuming = lactate is not None and lactate < -0.1
        if not state.update("glucose", enter=reading.glucose < low and consuming,
                            stay=reading.glucose < low + self.deadband):
            return []
        what = (
            f"glucose {explain.quantity('glucose', reading.glucose)} is below "
            f"{explain.quantity('glucose', low)} and lactate fell {abs(lactate or 0.0):.2f} g/L "
            "in 3 h: the cells are starving and consuming lactate"
        )
        return [Finding(
            check=self.name,
            severity=Severity.CRITICAL,
            explanation=Explanation(
                what,
                corroborating=(f"feed rate {explain.quantity('feed_rate', reading.feed_rate)}",),
                causes=("missed or too small feed", "feed line blocked", "uptake above plan"),
                action="Check the feed pump and line; consider a glucose bolus.",
            ),
            variable="glucose",
            value=reading.glucose,
            limit=low,
        )]

