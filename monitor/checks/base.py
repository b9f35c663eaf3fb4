"""What every check shares: findings over a wave, explanations, latches, and the check interface.

A check is a small object built from the configuration. It evaluates a whole
wave of readings (one per reactor) with numpy operations and remembers, per
reactor slot, only what it declares in :class:`~monitor.slots.SlotArrays`, so
the same code runs online and offline and its memory can be saved as data.
It returns :class:`Findings`: per reading, whether its condition holds, whether
it could be evaluated at all, and a function that words the explanation — called
only when an alarm is raised, so text is never built for alarms already standing.

Each check declares the variables it needs (``inputs``); a reactor that does not
measure them cannot run it, and :meth:`Check.cannot_run` says why.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import numpy as np

from bioreactor.contract import Reading, Severity
from monitor.config import MonitorConfig
from monitor.history import BinnedHistory
from monitor.slots import BoolArray, FloatArray, IntArray, SlotArrays, Slots, per_slot
from monitor.wave import Wave

S = TypeVar("S", bound=SlotArrays)


@dataclass(frozen=True, slots=True)
class Explanation:
    """The parts of an alarm message, rendered by :func:`monitor.explain.render`.

    ``what`` names the observation and its size; ``corroborating`` the other signals
    that agree; ``causes`` the likely causes, most likely first; ``action`` the
    first thing an operator should check.
    """

    what: str
    corroborating: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    action: str = ""


@dataclass(frozen=True)
class Findings:
    """One check's condition for one alarm key (check, variable) over a wave.

    ``holds`` where the condition is true, ``known`` where it could be evaluated
    (its inputs were measured): where unknown, an alarm neither starts nor
    clears. ``explain(i)`` words the condition for wave row ``i``.
    """

    check: str
    variable: str | None
    severity: Severity
    holds: BoolArray
    known: BoolArray
    value: FloatArray
    limit: FloatArray
    explain: Callable[[int], Explanation]
    #: Raise without the on-delay (a bad value or a data gap is a fact, not a trend to confirm).
    immediate: bool = False

    @property
    def key(self) -> tuple[str, str | None]:
        """Identity of the alarm these findings feed: one alarm per check and variable."""
        return (self.check, self.variable)


@dataclass
class Latches(SlotArrays):
    """Hysteresis per slot and key: a condition enters at one threshold and leaves at another.

    >>> latches = Latches.create(1, on=(1,))
    >>> slots, known = np.array([0]), np.array([True])
    >>> [bool(latches.update(slots, 0, enter=np.array([v > 10]), stay=np.array([v > 8]), known=known)[0])
    ...  for v in (9, 11, 9, 7)]
    [False, True, True, False]
    """

    on: BoolArray = per_slot(fill=False, shape=(1,))

    def update(self, slots: IntArray, key: int, *, enter: BoolArray, stay: BoolArray, known: BoolArray) -> BoolArray:
        """Where ``key`` is latched after this wave; unknown rows keep their state."""
        before = self.on[slots, key]
        after: BoolArray = np.where(known, enter | (before & stay), before)
        self.on[slots, key] = after
        return after


class Check(ABC):
    """A rule evaluated on every wave.

    Subclasses set ``name`` (used in the configuration to disable it) and
    ``inputs`` (the variables it needs), build their parameters from the
    configuration, and return findings for every alarm key they own.
    """

    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        self.config = config
        self.histories = histories
        #: How long deviation checks wait after a set-point change (s).
        self.settle_s = config.alarms.settle_min * 60.0
        self._state: list[SlotArrays] = []
        self._slots = slots

    def remember(self, arrays: S) -> S:
        """Register per-slot arrays, so they grow, reset and persist with the engine; returns them."""
        self._slots.attach(f"check:{self.name}:{len(self._state)}", arrays)
        self._state.append(arrays)
        return arrays

    def cannot_run(self, measured: Collection[str], interval_s: float) -> str | None:
        """Why this check cannot run on a reactor measuring ``measured`` every ``interval_s``, or None."""
        missing = [v for v in self.inputs if v not in measured]
        return f"needs {_words(missing)}, which this reactor does not measure" if missing else None

    def stretch(self, window_s: float, wave: Wave) -> FloatArray:
        """``window_s`` per reading, stretched to hold ``min_samples`` readings of a sparsely sampled
        reactor (windows stay times; a 1-h sampler needs longer windows than a 10-s one), at most
        the history's span."""
        needed = self.config.statistics.min_samples * np.nan_to_num(wave.interval_s, nan=0.0)
        return np.minimum(np.maximum(window_s, needed), self.config.history.span_h * 3600.0)

    def too_sparse(self, window_s: float, interval_s: float) -> str | None:
        """Why ``min_samples`` readings do not fit in the history at this sampling interval, or None."""
        span_s = self.config.history.span_h * 3600.0
        samples = self.config.statistics.min_samples
        if interval_s * samples > span_s:
            return (
                f"needs {samples} readings within {span_s / 3600:g} h to judge a {window_s / 3600:g}-h window; "
                f"this reactor reports every {interval_s / 60:.0f} min"
            )
        return None

    @abstractmethod
    def evaluate(self, wave: Wave) -> list[Findings]:
        """Update this check's state with ``wave`` (already in the histories) and return its findings."""


@dataclass
class Histories:
    """The time-binned past every check can ask about: fine bins for hours, coarse bins for days."""

    recent: BinnedHistory
    hourly: BinnedHistory


def _words(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def reading_at(timestamp: object, **values: object) -> Reading:
    """A plausible mid-culture reading with ``values`` overriding it (for examples and tests).

    >>> from datetime import datetime, UTC
    >>> reading_at(datetime(2026, 1, 1, tzinfo=UTC), glucose=0.2).glucose
    0.2
    """
    base: dict[str, object] = {
        "reactor_id": "R01", "batch_id": "B001", "seq": 0, "culture_h": 100.0,
        "vcd": 10.0, "viability": 95.0, "glucose": 4.0, "lactate": 1.5, "do": 40.0,
        "ph": 7.0, "temperature": 37.0, "agitation": 150.0, "airflow": 0.1,
        "feed_rate": 5.0, "volume": 2.3, "titer": 1.0, "base_rate": 0.5,
        "do_setpoint": 40.0, "ph_setpoint": 7.0, "temperature_setpoint": 37.0,
    }
    base.update(values)
    return Reading(timestamp=timestamp, **base)  # type: ignore[arg-type]


def everywhere(wave: Wave) -> BoolArray:
    """A mask that holds for every row of ``wave``."""
    return np.ones(len(wave), dtype=bool)


def at(values: FloatArray, i: int) -> float:
    """Element ``i`` as a Python float (for messages)."""
    return float(values[i])


__all__ = [
    "Check",
    "Explanation",
    "Findings",
    "Histories",
    "Latches",
    "at",
    "everywhere",
    "reading_at",
]
