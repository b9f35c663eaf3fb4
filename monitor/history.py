"""Each reactor's recent past as time bins: counts, sums and sums of squares per variable.

A ring of fixed-width time bins per reactor and variable holds what the checks
ask of the past — a mean some hours ago, the spread over a window, how many
samples a window holds — whatever the sampling rate: at 10-second sampling a
5-minute bin pools 30 readings, at hourly sampling most bins are empty. Memory
and cost per reading are fixed by the span and the bin width, not by the
sampling rate, and windows are defined in time, never in samples.

All queries are vectorised over a wave of readings (one per reactor); each
variable's bins are stored contiguously so a query gathers with one ``take``.

>>> import numpy as np
>>> from monitor.slots import Slots
>>> slots = Slots()
>>> history = BinnedHistory(slots, ("do",), bin_s=300.0, span_s=6 * 3600.0)
>>> for minute in range(0, 120, 10):  # DO falls 1 % every 10 minutes
...     history.add(np.array([0]), np.array([minute * 60.0]), np.array([[40.0 - minute / 10]]))
>>> now = np.array([110 * 60.0])
>>> value, ago = history.at(np.array([0]), now, "do", age_s=3600.0, tolerance_s=900.0)
>>> value.tolist(), (ago / 60).tolist()  # the bin 50-55 min, whose middle was 57.5 min ago
([35.0], [57.5])
>>> count, mean, std = history.window(np.array([0]), now, "do", span_s=1800.0)
>>> count.tolist(), mean.tolist()
([3.0], [30.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from monitor.slots import FloatArray, IntArray, SlotArrays, Slots, per_slot


@dataclass
class _Bins(SlotArrays):
    count: FloatArray = per_slot(fill=0.0)
    total: FloatArray = per_slot(fill=0.0)
    squares: FloatArray = per_slot(fill=0.0)
    #: The absolute bin number (time // bin width) each position of the ring holds; -1: none.
    number: IntArray = per_slot(fill=-1)


class BinnedHistory:
    """Ring buffers of time bins, one per reactor slot, for ``variables``.

    Parameters
    ----------
    slots
        The engine's slot table (the arrays grow with it).
    variables
        The variables kept, in column order of the values passed to :meth:`add`.
    bin_s
        Width of a bin in seconds.
    span_s
        How far back the ring reaches.
    """

    def __init__(self, slots: Slots, variables: Sequence[str], *, bin_s: float, span_s: float) -> None:
        self.variables = tuple(variables)
        self.bin_s = bin_s
        self.bins = int(np.ceil(span_s / bin_s)) + 1
        self._column = {v: i for i, v in enumerate(self.variables)}
        n = len(self.variables)
        # Per slot: (variables, bins) — one variable's ring is contiguous for take().
        self.arrays = _Bins.create(
            slots.capacity, count=(n, self.bins), total=(n, self.bins), squares=(n, self.bins), number=(self.bins,)
        )
        slots.attach(f"history:{bin_s:g}s", self.arrays)
        # The gathered bins of the wave being checked, reused by its queries.
        self._added = 0
        # The wave the cache holds: its arrays themselves, not their id()s, which a later
        # wave's arrays may reuse once these are freed (a sub-wave taken to explain one row).
        self._key: tuple[IntArray, FloatArray, int] | None = None
        self._cache: dict[str, _Segment] = {}
        #: Per variable, the widest range of bins (and whether squares) any query has asked for.
        self._widest: dict[str, tuple[int, int, bool]] = {}
        self._newest = np.empty(0, dtype=np.int64)

    def add(self, slots: IntArray, times: FloatArray, values: FloatArray) -> None:
        """Account for one reading per slot (``values``: rows of :attr:`variables`, NaN = not measured)."""
        a = self.arrays
        number = np.floor(times / self.bin_s).astype(np.int64)
        position = number % self.bins
        stale = a.number[slots, position] != number
        if stale.any():  # the position last held an older bin: start it afresh
            fresh_slots, fresh_positions = slots[stale], position[stale]
            a.count[fresh_slots, :, fresh_positions] = 0.0
            a.total[fresh_slots, :, fresh_positions] = 0.0
            a.squares[fresh_slots, :, fresh_positions] = 0.0
            a.number[fresh_slots, fresh_positions] = number[stale]
        measured = ~np.isnan(values)
        clean = np.where(measured, values, 0.0)
        a.count[slots, :, position] += measured
        a.total[slots, :, position] += clean
        a.squares[slots, :, position] += clean * clean
        self._added += 1

    def _segment(
        self, slots: IntArray, times: FloatArray, variable: str, low: int, high: int, *, squares: bool = False
    ) -> _Segment:
        """Bins ``low`` to ``high - 1`` back of ``variable`` for a wave.

        A wave asks dozens of questions of a few variables over nested ranges (the last
        30 minutes, 3 hours, 8 hours...), so each variable is gathered once per wave over
        the widest range any query has asked of it, and every query gets a slice of that.
        """
        key = self._key
        if key is None or key[0] is not slots or key[1] is not times or key[2] != self._added:
            self._key, self._cache = (slots, times, self._added), {}
            self._newest = np.floor(times / self.bin_s).astype(np.int64)
        widest_low, widest_high, with_squares = self._widest.get(variable, (low, high, squares))
        wanted = (min(widest_low, low), max(widest_high, high), with_squares or squares)
        self._widest[variable] = wanted
        cached = self._cache.get(variable)
        if cached is None or (cached.low, cached.high, cached.squares is not None) != wanted:
            cached = self._cache[variable] = self._gather(slots, variable, *wanted)
        return cached.part(low, high)

    def _gather(self, slots: IntArray, variable: str, low: int, high: int, squares: bool) -> _Segment:
        wanted = self._newest[:, None] - np.arange(low, high)[None, :]
        ring = slots[:, None] * self.bins + wanted % self.bins
        valid = self.arrays.number.ravel().take(ring) == wanted
        # The variable's ring of a slot starts at (slot * variables + column) * bins.
        index = ring + (slots[:, None] * (len(self.variables) - 1) + self._column[variable]) * self.bins
        a = self.arrays
        return _Segment(
            low,
            high,
            np.where(valid, a.count.ravel().take(index), 0.0),
            np.where(valid, a.total.ravel().take(index), 0.0),
            np.where(valid, a.squares.ravel().take(index), 0.0) if squares else None,
        )

    def _bins_back(self, times: FloatArray, seconds: float | FloatArray) -> IntArray:
        """How many bins back from each reading's own bin the time ``seconds`` ago falls."""
        now = np.floor(times / self.bin_s)
        then = np.floor((times - np.asarray(seconds, dtype=np.float64)) / self.bin_s)
        back: IntArray = np.clip(now - then, 0, self.bins - 1).astype(np.int64)
        return back

    def window(
        self,
        slots: IntArray,
        times: FloatArray,
        variable: str,
        span_s: float | FloatArray,
        *,
        age_s: float | FloatArray = 0.0,
        excluding: FloatArray | None = None,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Samples, mean and standard deviation of ``variable`` over ``span_s`` ending ``age_s`` ago
        (NaN if none).

        ``excluding`` takes the current readings' values out again (a reading compared with its
        own window must not pull the window towards itself); NaN there excludes nothing.
        """
        first = self._bins_back(times, age_s)
        width = np.maximum(np.ceil(np.asarray(span_s, dtype=np.float64) / self.bin_s), 1).astype(np.int64)
        last = np.minimum(first + width, self.bins)  # exclusive
        low, high = int(first.min(initial=0)), int(last.max(initial=1))
        segment = self._segment(slots, times, variable, low, high, squares=True)
        assert segment.squares is not None
        # Mask per row only where windows differ.
        if np.ndim(width) == 0 and not first.any():
            mask: np.ndarray | bool = True
        else:
            offsets = np.arange(low, high)[None, :]
            mask = (offsets >= first[:, None]) & (offsets < last[:, None])
        n = np.where(mask, segment.count, 0.0).sum(axis=1)
        s = np.where(mask, segment.total, 0.0).sum(axis=1)
        q = np.where(mask, segment.squares, 0.0).sum(axis=1)
        if excluding is not None:
            own = ~np.isnan(excluding)
            x = np.where(own, excluding, 0.0)
            n, s, q = n - own, s - x, q - x * x
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s / n
            variance = np.maximum(q / n - mean * mean, 0.0) * n / np.maximum(n - 1.0, 1.0)
        return n, mean, np.sqrt(variance)

    def means(self, slots: IntArray, times: FloatArray, variable: str, bins: int) -> FloatArray:
        """The mean of ``variable`` in each of the last ``bins`` bins, newest first, ``(n, bins)``; NaN if empty."""
        segment = self._segment(slots, times, variable, 0, min(bins, self.bins))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(segment.count > 0, segment.total / segment.count, np.nan)

    def at(
        self,
        slots: IntArray,
        times: FloatArray,
        variable: str,
        *,
        age_s: float | FloatArray,
        tolerance_s: float | FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """The mean of ``variable`` in the latest non-empty bin between ``age_s`` and ``age_s + tolerance_s``
        ago, and how long ago that bin's middle was (both NaN when those bins are empty or older
        than the ring)."""
        first = self._bins_back(times, age_s)
        last = self._bins_back(times, np.asarray(age_s) + np.asarray(tolerance_s))
        low, high = int(first.min(initial=0)), int(last.max(initial=0)) + 1  # only the bins some row needs
        segment = self._segment(slots, times, variable, low, high)
        offsets = np.arange(low, high)[None, :]
        usable = (segment.count > 0) & (offsets >= first[:, None]) & (offsets <= last[:, None])
        pick = np.argmax(usable, axis=1)
        rows = np.arange(len(times))
        found = usable[rows, pick]
        middle = (self._newest - (pick + low) + 0.5) * self.bin_s
        with np.errstate(invalid="ignore", divide="ignore"):
            return (np.where(found, segment.total[rows, pick] / segment.count[rows, pick], np.nan),
                    np.where(found, times - middle, np.nan))

    def change(
        self, slots: IntArray, times: FloatArray, variable: str, now: FloatArray, *, span_s: float | FloatArray,
        tolerance_s: float | FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """``now`` minus the value about ``span_s`` ago, and the seconds between them (NaN if unknown)."""
        before, ago = self.at(slots, times, variable, age_s=span_s, tolerance_s=tolerance_s)
        return now - before, ago


@dataclass(frozen=True)
class _Segment:
    """Bins ``low`` to ``high - 1`` back of one variable for a wave, newest first: counts, sums,
    and sums of squares if asked."""

    low: int
    high: int
    count: FloatArray
    total: FloatArray
    squares: FloatArray | None

    def part(self, low: int, high: int) -> _Segment:
        """The bins ``low`` to ``high - 1`` back (views, no copy)."""
        if (low, high) == (self.low, self.high):
            return self
        columns = slice(low - self.low, high - self.low)
        squares = self.squares[:, columns] if self.squares is not None else None
        return _Segment(low, high, self.count[:, columns], self.total[:, columns], squares)
