"""From readings to findings: slots, the reactors' past, set points, and every check, per wave.

The steps for a wave (readings of distinct reactors), in order:

1. the reactor's cadence: how often it reports (its sampling interval, in time) and
   which variables it measures;
2. the instrument screen: a value outside its instrument's range is a bad value,
   reported and withheld from everything after;
3. the histories take the wave;
4. set points are resolved (the readings' own, else the learnt schedule);
5. every enabled check evaluates the wave.

The engine (:mod:`monitor.engine`) adds the alarm lifecycle on top; a
:class:`Pipeline` alone is what a single check's examples and tests run.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.limits import LimitCheck
>>> pipeline = Pipeline(MonitorConfig.default(), [LimitCheck])
>>> wave = pipeline.wave([reading_at(datetime(2026, 1, 1, tzinfo=UTC), glucose=0.3)])
>>> [f.check for f in pipeline.findings(wave) if f.holds[0]]
['limit_low_low', 'limit_low']
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from bioreactor.contract import Reading
from monitor.checks.base import Check, Findings, Histories
from monitor.checks.instruments import InstrumentCheck
from monitor.config import MonitorConfig
from monitor.history import BinnedHistory
from monitor.setpoints import SetpointFollower
from monitor.slots import BoolArray, FloatArray, IntArray, SlotArrays, Slots, per_slot
from monitor.wave import CONTROLLED, VARIABLES, Wave

#: The coarse history keeps hourly bins this far back, for checks that judge a day or two.
HOURLY_SPAN_H = 50.0
#: Set points are followed on the variable's mean over this span (seconds).
SETPOINT_MEAN_S = 1800.0
#: Weight of the newest interval in the running (geometric) mean of a reactor's sampling interval.
INTERVAL_WEIGHT = 0.2


@dataclass
class _Cadence(SlotArrays):
    first_time: FloatArray = per_slot(fill=np.nan)
    last_time: FloatArray = per_slot(fill=np.nan)
    log_interval: FloatArray = per_slot(fill=np.nan)
    measured: BoolArray = per_slot(fill=False, shape=(len(VARIABLES),))
    #: What coverage was last worked out for: the measured variables and the interval's octave.
    covered: IntArray = per_slot(fill=-1)


class Pipeline:
    """The histories, set points and checks of a fleet, run wave by wave.

    Parameters
    ----------
    config
        Settings (and the profile, if any).
    check_types
        The checks to run (only those enabled in ``config``); the instrument screen
        runs first whenever it is enabled.
    """

    def __init__(self, config: MonitorConfig, check_types: Sequence[type[Check]]) -> None:
        self.config = config
        self.slots = Slots()
        self.histories = Histories(
            recent=BinnedHistory(
                self.slots, VARIABLES, bin_s=config.history.bin_min * 60.0, span_s=config.history.span_h * 3600.0
            ),
            hourly=BinnedHistory(self.slots, VARIABLES, bin_s=3600.0, span_s=HOURLY_SPAN_H * 3600.0),
        )
        profile = config.profile
        schedules = {v: (s.levels, s.change_h) for v, s in profile.setpoints.items()} if profile else {}
        self.follower = SetpointFollower(
            self.slots,
            schedules,
            noise=config.statistics.noise,
            reach_sigmas=config.setpoints.reach_sigmas,
            slack_h=config.setpoints.window_slack_h,
            defaults={v: config.setpoints.default(v) for v in CONTROLLED},
        )
        self.cadence = _Cadence.create(self.slots.capacity)
        self.slots.attach("cadence", self.cadence)
        enabled = [kind for kind in check_types if config.enabled(kind.name)]
        self.screen = InstrumentCheck(config, self.slots, self.histories) if config.enabled("bad_value") else None
        self.checks: list[Check] = [kind(config, self.slots, self.histories) for kind in enabled]

    def wave(self, readings: Sequence[Reading]) -> Wave:
        """The columns of ``readings`` (distinct reactors), with their slots."""
        return Wave.of(readings, self.slots.of([r.reactor_id for r in readings]))

    def findings(self, wave: Wave) -> list[Findings]:
        """Run every step on ``wave``; the findings of every check, in check order."""
        slots = wave.slots
        self._pace(wave)
        found = self.screen.screen(wave) if self.screen else []
        self.histories.recent.add(slots, wave.times, wave.values)
        self.histories.hourly.add(slots, wave.times, wave.values)
        # Only a learnt schedule with a level change follows the signal's mean, and only where a reading
        # carries no set point of its own.
        means = {
            v: self.histories.recent.window(slots, wave.times, v, SETPOINT_MEAN_S)[1]
            for j, v in enumerate(CONTROLLED)
            if self.follower.follows(v) and np.isnan(wave.given_setpoints[:, j]).any()
        }
        wave.setpoints, wave.settled_s = self.follower.resolve(
            slots, times=wave.times, hours=wave.hours, given=wave.given_setpoints, recent_means=means,
            values={v: wave[v] for v in CONTROLLED},
        )
        for check in self.checks:
            found += check.evaluate(wave)
        return found

    def _pace(self, wave: Wave) -> None:
        """Each reactor's sampling interval (a running geometric mean) and what it measures."""
        c, slots = self.cadence, wave.slots
        gap = wave.times - c.last_time[slots]
        with np.errstate(invalid="ignore", divide="ignore"):
            logged = np.log(np.where(gap > 0, gap, np.nan))
        before = c.log_interval[slots]
        updated = np.where(np.isnan(before), logged, (1 - INTERVAL_WEIGHT) * before + INTERVAL_WEIGHT * logged)
        c.log_interval[slots] = np.where(np.isnan(logged), before, updated)
        c.last_time[slots] = wave.times
        c.first_time[slots] = np.where(np.isnan(c.first_time[slots]), wave.times, c.first_time[slots])
        c.measured[slots] |= ~np.isnan(wave.values)
        wave.interval_s = np.exp(c.log_interval[slots])
        wave.observed_s = wave.times - c.first_time[slots]

    def coverage_changed(self, wave: Wave) -> list[int]:
        """The wave rows whose reactor's coverage may have changed since it was last worked out:
        it measures another set of variables, or its sampling interval moved by an octave."""
        bits = (self.cadence.measured[wave.slots] * (1 << np.arange(len(VARIABLES)))).sum(axis=1)
        octave = np.nan_to_num(np.round(np.log2(wave.interval_s)), nan=-1.0).astype(np.int64)
        signature = bits * 64 + np.clip(octave + 1, 0, 63)
        changed = signature != self.cadence.covered[wave.slots]
        self.cadence.covered[wave.slots] = signature
        return np.flatnonzero(changed).tolist()

    def measured(self, slot: int) -> set[str]:
        """The variables ``slot``'s reactor has reported in its current batch."""
        return {v for v, seen in zip(VARIABLES, self.cadence.measured[slot], strict=True) if seen}

    def interval_s(self, slot: int) -> float:
        """``slot``'s typical sampling interval in seconds (NaN until it has reported twice)."""
        return float(np.exp(self.cadence.log_interval[slot]))

    def coverage(self, slot: int) -> tuple[list[str], list[tuple[str, str]]]:
        """The checks that run on ``slot``, and those that cannot with the reason."""
        measured: Collection[str] = self.measured(slot)
        interval = self.interval_s(slot)
        running, skipped = [], []
        for check in ([self.screen] if self.screen else []) + self.checks:
            reason = check.cannot_run(measured, interval)
            if reason is None:
                running.append(check.name)
            else:
                skipped.append((check.name, reason))
        return running, skipped
