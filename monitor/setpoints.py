"""Set points: the readings' own, else followed along the schedule a profile learnt.

Deviation checks need the set point of DO, pH and temperature. A reading that
carries one is believed, and a change of it starts the settle time in which
deviation alarms wait for the loop. A plant export often carries none; then the
set point follows the schedule learnt from reference batches (e.g. 37 °C, then
33 °C between hours 96 and 144): the next level is taken once the variable's
30-minute mean reaches it inside the learnt window, and while the variable moves
towards it fast enough to be a planned change, the reactor counts as changing
set point, so the transition raises nothing. A slow drift (a failing loop) is
not taken for a planned change. Without a schedule, the configured default holds.

>>> import numpy as np
>>> from monitor.slots import Slots
>>> levels = {"temperature": ((37.0, 33.0), (96.0, 144.0))}
>>> follower = SetpointFollower(Slots(), levels, noise={"temperature": 0.05}, reach_sigmas=4.0,
...                             slack_h=12.0, defaults={"do": 40.0, "ph": 7.0, "temperature": 37.0})
>>> def at(hours, temperature, mean):
...     given = np.full((1, 3), np.nan)
...     sp, settled = follower.resolve(np.array([0]), times=np.array([hours * 3600.0]), hours=np.array([hours]),
...                                    given=given, recent_means={"temperature": np.array([mean])},
...                                    values={"temperature": np.array([temperature])})
...     return float(sp[0, 2]), float(settled[0, 2])
>>> at(100.0, 37.0, 37.0)
(37.0, inf)
>>> at(100.5, 35.0, 36.0)  # moving fast towards 33 inside the window: a planned change
(33.0, 0.0)
>>> at(101.0, 33.0, 33.05)  # reached: 33 °C from now on
(33.0, 0.0)
>>> at(102.0, 33.0, 33.0)
(33.0, 3600.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from monitor.slots import FloatArray, IntArray, SlotArrays, Slots, per_slot
from monitor.wave import CONTROLLED

#: A move counts as a planned change when the 30-minute mean is at least this share of the way
#: between levels and heading there: a loop following a new set point covers the gap in an hour
#: or so, a failing loop drifts far slower (domain notes: tenths of a degree per hour).
PLANNED_SHARE = 0.25


@dataclass
class _Followed(SlotArrays):
    level: IntArray = per_slot(fill=0, shape=(len(CONTROLLED),))
    changed_at: FloatArray = per_slot(fill=-np.inf, shape=(len(CONTROLLED),))
    given: FloatArray = per_slot(fill=np.nan, shape=(len(CONTROLLED),))


class SetpointFollower:
    """Resolves each reading's set points and how long ago they last changed.

    Parameters
    ----------
    slots
        The engine's slot table.
    schedules
        Per controlled variable, learnt ``(levels, (earliest_h, latest_h))``.
    noise
        Sensor noise per variable, for "reached a level".
    reach_sigmas
        How close (in noise sigmas) the 30-minute mean must be to a level to have reached it.
    slack_h
        How far outside its learnt window a level change is still accepted.
    defaults
        Set points when neither the reading nor a schedule gives one.
    """

    def __init__(
        self,
        slots: Slots,
        schedules: Mapping[str, tuple[tuple[float, ...], tuple[float, float] | None]],
        *,
        noise: Mapping[str, float],
        reach_sigmas: float,
        slack_h: float,
        defaults: Mapping[str, float],
    ) -> None:
        self.schedules = dict(schedules)
        self.noise = noise
        self.reach_sigmas = reach_sigmas
        self.slack_h = slack_h
        self.defaults = defaults
        self.state = _Followed.create(slots.capacity)
        slots.attach("setpoints", self.state)

    def follows(self, variable: str) -> bool:
        """Whether ``variable``'s learnt schedule changes level (and so follows the signal)."""
        schedule = self.schedules.get(variable)
        return schedule is not None and len(schedule[0]) > 1 and schedule[1] is not None

    def resolve(
        self,
        slots: IntArray,
        *,
        times: FloatArray,
        hours: FloatArray,
        given: FloatArray,
        recent_means: Mapping[str, FloatArray],
        values: Mapping[str, FloatArray],
    ) -> tuple[FloatArray, FloatArray]:
        """Set points ``(n, 3)`` and seconds since each last changed ``(n, 3)`` (inf: never)."""
        setpoints = np.empty_like(given)
        for j, variable in enumerate(CONTROLLED):
            own = given[:, j]
            has_own = ~np.isnan(own)
            before = self.state.given[slots, j]
            moved = has_own & ~np.isnan(before) & (own != before)
            self.state.changed_at[slots[moved], j] = times[moved]
            self.state.given[slots[has_own], j] = own[has_own]
            learnt = self._follow(slots, times, hours, j, variable, means=recent_means, values=values)
            setpoints[:, j] = np.where(has_own, own, learnt)
        settled = times[:, None] - self.state.changed_at[slots]
        return setpoints, settled

    def _follow(
        self,
        slots: IntArray,
        times: FloatArray,
        hours: FloatArray,
        j: int,
        variable: str,
        *,
        means: Mapping[str, FloatArray],
        values: Mapping[str, FloatArray],
    ) -> FloatArray:
        """The learnt schedule's set point; moves along it as the variable reaches each level."""
        schedule = self.schedules.get(variable)
        if schedule is None or not schedule[0]:
            return np.full(len(slots), self.defaults[variable])
        levels, window = np.asarray(schedule[0], dtype=np.float64), schedule[1]
        level = np.minimum(self.state.level[slots, j], len(levels) - 1)
        current: FloatArray = levels[level]
        if len(levels) == 1 or window is None or variable not in means:
            return current
        following = level < len(levels) - 1
        target = levels[np.minimum(level + 1, len(levels) - 1)]
        mean, value = means[variable], values[variable]
        reach = self.reach_sigmas * self.noise.get(variable, 0.0)
        in_window = (hours >= window[0] - self.slack_h) & (hours <= window[1] + self.slack_h)
        gap = target - current
        step = np.where(gap == 0, np.nan, gap)  # the last level has no next one: no progress to measure
        with np.errstate(invalid="ignore"):
            reached = following & in_window & (np.abs(mean - target) <= np.maximum(reach, 0.1 * np.abs(gap)))
            progress = (mean - current) / step
            moving = following & in_window & (progress >= PLANNED_SHARE) & ((value - current) / step > progress)
        # Reached: the new level holds from now; on its way: the target, and no settled time yet.
        self.state.level[slots[reached], j] = level[reached] + 1
        self.state.changed_at[slots[reached | moving], j] = times[reached | moving]
        followed: FloatArray = np.where(reached | moving, target, current)
        return followed
