"""Feeding: a missed feed, overfeeding and starvation.

The culture is fed from ``feed_start_h`` (learnt by the profile: the hour the
reference batches' feed started). A feed pump at zero while a feed is due (glucose
below the level the operator feeds at, or, without glucose, a feed that was
running steadily) is a missed feed; a feed rate far above its recent level is
overfeeding (domain notes: glucose > 8-10 g/L follows); low glucose while lactate
is consumed is starvation.

>>> from datetime import datetime, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.harness import CheckHarness
>>> CheckHarness(MissedFeedCheck).feed(reading_at(datetime(2026, 1, 1, tzinfo=UTC), feed_rate=0.0, glucose=2.5))
['missed_feed:feed_rate']
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from bioreactor.contract import Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Findings, Histories, Latches
from monitor.checks.oxygen import biomass_or_cells
from monitor.config import MonitorConfig
from monitor.slots import FloatArray, SlotArrays, Slots, per_slot
from monitor.wave import Wave

#: How far back the feed-rate reference looks, and the recent part it leaves out (s).
REFERENCE_S = 8 * 3600.0
RECENT_S = 1800.0
#: A feed pump below this share of its usual (99 %) rate is stopped.
STOPPED_SHARE = 0.002
#: Overfeeding also needs this much extra feed, as a share of its usual rate: small rates
#: wander by large factors.
EXCESS_SHARE = 0.05
#: A reference feed is steady when its spread is below this share of its mean.
STEADY_SPREAD = 0.5
#: Span over which starvation looks for lactate being consumed (s).
LACTATE_S = 3 * 3600.0
#: Glucose below this is starvation (domain notes, CHO process ranges: < 0.5 g/L), unless a
#: glucose low limit says otherwise.
STARVATION_GLUCOSE = 0.5


def _feed_reference(check: Check, wave: Wave) -> tuple[FloatArray, FloatArray]:
    """The feed rate of the hours before (leaving out the last half hour) and its spread."""
    window = check.stretch(REFERENCE_S, wave)
    n, mean, std = check.histories.recent.window(wave.slots, wave.times, "feed_rate", window - RECENT_S,
                                                 age_s=RECENT_S)
    enough = n >= check.config.statistics.min_samples
    return np.where(enough, mean, np.nan), np.where(enough, std, np.nan)


def _glucose_change(check: Check, wave: Wave, i: int, span_s: float) -> float:
    """How much glucose moved over ``span_s`` before wave row ``i`` (for a message; NaN if unknown)."""
    row = slice(i, i + 1)
    change, _ = check.histories.recent.change(
        wave.slots[row], wave.times[row], "glucose", wave["glucose"][row], span_s=span_s, tolerance_s=1800.0
    )
    return float(change[0])


class MissedFeedCheck(Check):
    """Critical when the feed pump is at zero while a feed is due."""

    name = "missed_feed"
    inputs = ("feed_rate",)

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.stopped = STOPPED_SHARE * config.typical_high("feed_rate", 5.0)
        self.latches = self.remember(Latches.create(1))

    def evaluate(self, wave: Wave) -> list[Findings]:
        p = self.config.process
        feed, glucose = wave["feed_rate"], wave["glucose"]
        cells, _ = biomass_or_cells(wave)
        reference, _ = _feed_reference(self, wave)
        with np.errstate(invalid="ignore"):
            full = wave["volume"] >= p.at_max_fraction * p.max_volume  # a full vessel stops the feed on purpose
            alive = np.isnan(cells) | (cells > 0.5)
            due = (wave.hours >= p.feed_start_h) & alive & ~full
            stopped = feed < self.stopped
            # Without glucose, a feed that was running steadily and stopped is what can be seen.
            wanted = np.where(np.isnan(glucose), reference > 10 * self.stopped, glucose < p.feed_due_glucose)
            on = self.latches.update(
                wave.slots, 0, enter=due & stopped & wanted, stay=due & stopped, known=~np.isnan(feed)
            )
        return [Findings(
            self.name, "feed_rate", Severity.CRITICAL, on, ~np.isnan(feed), feed, np.full(len(wave), self.stopped),
            lambda i: self._explain(wave, i, float(reference[i])),
        )]

    def _explain(self, wave: Wave, i: int, reference: float) -> Explanation:
        glucose = float(wave["glucose"][i])
        drop = _glucose_change(self, wave, i, 7200.0)
        corroborating: tuple[str, ...] = ()
        if reference > 0:
            corroborating += (f"the pump delivered {explain.quantity('feed_rate', reference)} before",)
        if drop < 0:
            corroborating += (f"glucose fell {abs(drop):.2f} g/L in 2 h",)
        due = (
            f"while glucose is {explain.quantity('glucose', glucose)} (feeding due below "
            f"{self.config.process.feed_due_glucose:g} g/L)" if not np.isnan(glucose) else "although it was feeding"
        )
        return Explanation(
            f"feed rate is 0 at culture hour {float(wave.hours[i]):.0f} {due}",
            corroborating=corroborating,
            causes=("feed pump stopped or tubing off the pump head", "feed bottle empty", "feed schedule not started"),
            action="Check the feed pump, bottle and line.",
        )


@dataclass
class _Reference(SlotArrays):
    frozen: FloatArray = per_slot(fill=np.nan)


class OverfeedingCheck(Check):
    """Warn when the feed rate jumps far above its recent level."""

    name = "overfeeding"
    inputs = ("feed_rate",)

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        usual = config.typical_high("feed_rate", 10.0)
        self.stopped, self.excess = STOPPED_SHARE * usual, EXCESS_SHARE * usual
        self.reference = self.remember(_Reference.create(1))
        self.latches = self.remember(Latches.create(1))

    def evaluate(self, wave: Wave) -> list[Findings]:
        factor = self.config.process.overfeed_factor
        feed, slots = wave["feed_rate"], wave.slots
        mean, spread = _feed_reference(self, wave)
        steady = (mean > 10 * self.stopped) & (spread < STEADY_SPREAD * mean)
        latched = self.latches.on[slots, 0]
        # The reference is frozen while the alarm stands, so it does not absorb the overfeeding.
        reference = np.where(latched, self.reference.frozen[slots], np.where(steady, mean, np.nan))
        self.reference.frozen[slots] = reference
        ratio = feed / reference
        known = ~np.isnan(ratio)
        with np.errstate(invalid="ignore"):
            on = self.latches.update(
                slots, 0, enter=(ratio > factor) & (feed - reference > self.excess), stay=ratio > (1 + factor) / 2,
                known=known,
            )
        return [Findings(
            self.name, "feed_rate", Severity.WARNING, on, known, feed, reference * factor,
            lambda i: self._explain(wave, i, float(reference[i])),
        )]

    def _explain(self, wave: Wave, i: int, reference: float) -> Explanation:
        feed = float(wave["feed_rate"][i])
        rise = _glucose_change(self, wave, i, 3 * 3600.0)
        corroborating = (
            (f"glucose up {rise:.2f} g/L in 3 h to {explain.quantity('glucose', float(wave['glucose'][i]))}",)
            if rise > 0.2 else ()
        )
        return Explanation(
            f"feed rate {explain.quantity('feed_rate', feed)} is x{feed / reference:.1f} its recent level "
            f"{explain.quantity('feed_rate', reference)}",
            corroborating=corroborating,
            causes=("feed pump set point wrong (overfeeding)", "feed pump calibration error"),
            action="Check the feed pump set point against the schedule.",
        )


class StarvationCheck(Check):
    """Critical when glucose is low and the cells have turned to lactate."""

    name = "glucose_starvation"
    inputs = ("glucose", "lactate")

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        limits = [lim for lim in config.limits if lim.variable == "glucose" and lim.low is not None]
        self.low = float(limits[0].low) if limits and limits[0].low is not None else self._learnt_low(config)
        self.deadband = limits[0].deadband if limits else 0.3
        self.latches = self.remember(Latches.create(1))

    @staticmethod
    def _learnt_low(config: MonitorConfig) -> float:
        """Starvation glucose, or lower if the good reference batches went there in 0.1 % of readings.

        Not 1 %: a feeding policy that holds glucose low has good batches that sit at their 1 %
        quantile for hours late in culture, while the cells turn to lactate as they normally do.
        """
        seen = config.profile.values.get("glucose") if config.profile is not None else None
        return min(STARVATION_GLUCOSE, seen.q001) if seen is not None and np.isfinite(seen.q001) else STARVATION_GLUCOSE

    def cannot_run(self, measured: Collection[str], interval_s: float) -> str | None:
        return super().cannot_run(measured, interval_s) or self.too_sparse(LACTATE_S, interval_s)

    def evaluate(self, wave: Wave) -> list[Findings]:
        glucose = wave["glucose"]
        window = self.stretch(3600.0, wave)
        n, now, _ = self.histories.recent.window(wave.slots, wave.times, "lactate", window)
        n_then, then, _ = self.histories.recent.window(wave.slots, wave.times, "lactate", window, age_s=LACTATE_S)
        fall = now - then
        known = ~np.isnan(glucose) & (n > 0) & (n_then > 0)
        with np.errstate(invalid="ignore"):
            on = self.latches.update(
                wave.slots, 0, enter=(glucose < self.low) & (fall < -0.1), stay=glucose < self.low + self.deadband,
                known=known,
            )
        return [Findings(
            self.name, "glucose", Severity.CRITICAL, on, known, glucose, np.full(len(wave), self.low),
            lambda i: Explanation(
                f"glucose fell below {explain.quantity('glucose', self.low)} (now "
                f"{explain.quantity('glucose', float(glucose[i]))}) and lactate fell {abs(float(fall[i])):.2f} g/L "
                "in 3 h: the cells are starving and consuming lactate",
                corroborating=tuple(
                    f"feed rate {explain.quantity('feed_rate', float(feed))}"
                    for feed in wave["feed_rate"][i : i + 1] if not np.isnan(feed)
                ),
                causes=("missed or too small feed", "feed line blocked", "uptake above plan"),
                action="Check the feed pump and line; consider a glucose bolus.",
            ),
        )]
