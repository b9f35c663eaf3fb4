"""The recent past of many live streams, for computing features of their latest readings.

A live stream (a reactor on MQTT, a batch in a closed-loop simulation) delivers
one reading at a time. :class:`FeatureHistory` keeps, per stream, just enough
history for the longest feature window plus the integral of viable cells carried
over from older readings, and computes the features of every stream's latest
reading with the window statistics of :mod:`models.features` -- the formulas used
for training, so live features cannot drift from the ones the model learnt.

Only the latest reading's features are needed, so instead of rebuilding the
features of every held reading on each call, each stream keeps running (prefix)
sums of the terms its windows add up: a window's sums are the difference of two
prefix sums, so a call costs a few array operations per stream plus the summing
of the readings added since, however many readings the windows hold.

>>> history = FeatureHistory()
>>> for hour in range(3):
...     history.append(["R01"], ["B1"], {"culture_h": [hour], "vcd": [1.0 + hour],
...         "glucose": [5.0], "lactate": [1.0], "do": [40.0], "ph": [7.0],
...         "temperature": [37.0], "agitation": [100.0], "airflow": [0.05]})
>>> history.latest(["R01"]).loc["R01", "ivc"]
np.float64(4.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.features import (
    MAX_WINDOW_H,
    MEAN_WINDOW_H,
    OPTIONAL_INPUTS,
    REQUIRED_INPUTS,
    SLOPE_WINDOW_H,
    TIME,
    TRENDED,
    FloatArray,
    InputError,
    feature_frame,
    mean_feature,
    slope_feature,
    window_mean,
    window_slope,
)

#: The raw columns a stream's history keeps.
COLUMNS: tuple[str, ...] = (TIME, *REQUIRED_INPUTS, *OPTIONAL_INPUTS)

_CHECKED = [COLUMNS.index(c) for c in (TIME, *REQUIRED_INPUTS)]
_TRENDED = [COLUMNS.index(v) for v in TRENDED]
_VCD = COLUMNS.index("vcd")

# Columns of the per-reading terms whose prefix sums a stream keeps.
# Times and trended values are summed less the stream's origin (its values at row 0):
# the windows' slopes are differences of such sums, which lose the less to
# cancellation the nearer the values summed are to the window's.
_INVALID, _COUNT, _T, _TT, _STEP = range(5)  # t: culture time less its origin
_X = slice(5, 5 + len(TRENDED))  # x: the trended values less theirs
_TX = slice(_X.stop, _X.stop + len(TRENDED))  # their products t·x
#: Columns of the origin of the sums.
_ORIGIN = [0, *_TRENDED]
_TERMS = _TX.stop

#: Trailing windows of the means and of the slopes (h), in the order searched.
_WINDOWS_H = np.array([MEAN_WINDOW_H, SLOPE_WINDOW_H])


def _terms(rows: FloatArray, origin: FloatArray) -> FloatArray:
    """The summed terms of readings ``rows``, each less its stream's ``origin`` row.

    A row's IVC step is the trapezoid of VCD since the row before; the caller
    overwrites it where that row is another stream's. A reading missing a required
    input counts in ``_INVALID``; its other terms are NaN, harmless because no
    features are computed while it is held.
    """
    culture_h = rows[:, 0]
    t = culture_h - origin[:, 0]
    x = rows[:, _TRENDED] - origin[:, 1:]
    vcd = rows[:, _VCD]
    terms = np.empty((len(rows), _TERMS))
    terms[:, _INVALID] = np.isnan(rows[:, _CHECKED]).any(axis=1)
    terms[:, _COUNT] = 1.0
    terms[:, _T] = t
    terms[:, _TT] = t * t
    terms[:, _X] = x
    terms[:, _TX] = t[:, None] * x
    terms[1:, _STEP] = (vcd[1:] + vcd[:-1]) / 2 * (culture_h[1:] - culture_h[:-1])
    return terms


def _sum_new_rows(streams: Sequence[_Stream]) -> None:
    """Extend the prefix sums of ``streams`` over the readings added since, all terms at once."""
    pending = [s for s in dict.fromkeys(streams) if s.summed < s.size]  # each stream once
    if not pending:
        return
    for stream in pending:
        if not stream.summed:
            stream.origin = stream.values[0, _ORIGIN]
    # a block opens with the last summed reading, if any: the first new one's IVC step needs it
    firsts = [max(s.summed - 1, 0) for s in pending]
    sizes = [s.size - first for s, first in zip(pending, firsts, strict=True)]
    terms = _terms(
        np.concatenate([s.values[first : s.size] for s, first in zip(pending, firsts, strict=True)]),
        np.repeat(np.stack([s.origin for s in pending]), sizes, axis=0),
    )
    heads = np.cumsum(sizes) - sizes
    # a block's first row is dropped below, or a stream's first reading: the IVC before
    # it is carried in ivc_start
    terms[heads, _STEP] = 0.0
    for stream, head, size in zip(pending, heads, sizes, strict=True):
        new = terms[head + min(stream.summed, 1) : head + size]
        # summed per stream: one stream's sums never carry another's rounding
        stream.sums[stream.summed + 1 : stream.size + 1] = stream.sums[stream.summed] + np.cumsum(new, axis=0)
        stream.summed = stream.size


class _Stream:
    """One stream's readings in growable arrays, with prefix sums of their terms.

    Rows before ``kept`` are trimmed but still stored: they are dropped, and the
    sums restarted from the first kept row, only once they outnumber the kept rows
    or precede them by more than the kept span. So each reading is copied and
    summed a bounded number of times, and the sums stay of the size of a window's.
    """

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        self.values: FloatArray = np.empty((16, len(COLUMNS)))
        self.size = 0
        # sums[i] holds the sums of the terms of rows [0, i); rows [0, summed) are in
        self.sums: FloatArray = np.zeros((len(self.values) + 1, _TERMS))
        self.summed = 0
        self.origin: FloatArray = np.zeros(len(_ORIGIN))  # row 0's values when the sums started
        self.kept = 0
        self.ivc_start = 0.0  # IVC at row 0

    def add(self, row: FloatArray) -> None:
        if self.size == len(self.values):
            self.values = np.concatenate([self.values, np.empty_like(self.values)])
            self.sums = np.concatenate([self.sums, np.empty_like(self.sums[1:])])
        self.values[self.size] = row
        self.size += 1

    def invalid(self) -> bool:
        """Whether a kept reading lacks a required input (the features are undefined)."""
        return bool(self.sums[self.size, _INVALID] > self.sums[self.kept, _INVALID])

    def trim(self, keep_h: float) -> None:
        """Drop the readings older than ``keep_h`` before the latest one."""
        times = self.values[: self.size, 0]
        self.kept = max(self.kept, int(np.searchsorted(times, times[-1] - keep_h, side="left")))
        if self.kept < self.size - self.kept and times[self.kept] - self.origin[0] <= keep_h:
            return
        self.ivc_start += float(self.sums[self.kept + 1, _STEP])
        self.size -= self.kept
        self.values[: self.size] = self.values[self.kept : self.kept + self.size]
        self.kept = self.summed = 0
        _sum_new_rows([self])


class FeatureHistory:
    """Bounded per-stream history of readings and the features of the latest ones.

    Parameters
    ----------
    keep_h
        Culture hours of history kept per stream; at least the longest feature window.

    Notes
    -----
    A stream restarts (its history is dropped) when its batch changes or its
    culture time goes backwards, e.g. a replay started again.
    """

    def __init__(self, keep_h: float = MAX_WINDOW_H) -> None:
        if keep_h < MAX_WINDOW_H:
            raise ValueError(f"keep_h must cover the longest feature window ({MAX_WINDOW_H} h)")
        self.keep_h = keep_h
        self._streams: dict[str, _Stream] = {}

    def __len__(self) -> int:
        return len(self._streams)

    def rows(self, key: str) -> int:
        """Number of readings currently held for ``key`` (0 if unknown)."""
        stream = self._streams.get(key)
        return stream.size - stream.kept if stream else 0

    def append(
        self,
        keys: Sequence[str],
        batch_ids: Sequence[str],
        values: Mapping[str, npt.ArrayLike],
    ) -> None:
        """Add one reading per key; ``values`` maps column names to one value per key.

        Optional inputs may be missing from ``values`` or NaN.
        """
        matrix = np.column_stack(
            [
                np.asarray(values[c], dtype=float) if c in values else np.full(len(keys), np.nan)
                for c in COLUMNS
            ]
        )
        for key, batch_id, row in zip(keys, batch_ids, matrix, strict=True):
            stream = self._streams.get(key)
            if stream is None or stream.batch_id != batch_id or row[0] < stream.values[stream.size - 1, 0]:
                stream = self._streams[key] = _Stream(batch_id)
            stream.add(row)

    def latest(self, keys: Sequence[str]) -> pd.DataFrame:
        """Features of the latest reading of each key (index: the distinct keys), then trim old rows.

        Raises
        ------
        InputError
            If a reading held for one of the keys lacks a required input; nothing
            is trimmed then.
        """
        streams = [self._streams[k] for k in keys]
        _sum_new_rows(streams)
        invalid = [k for k, s in zip(keys, streams, strict=True) if s.invalid()]
        if invalid:
            raise InputError(f"a held reading lacks a required input: {', '.join(invalid)}")
        last = np.empty((len(keys), len(COLUMNS)))
        # per stream: the sums up to its latest reading, then before its mean and slope windows
        sums = np.empty((len(keys), 3, _TERMS))
        ivc_start, origin = np.empty(len(keys)), np.empty((len(keys), len(_ORIGIN)))
        for i, stream in enumerate(streams):
            # the windows lie within the kept rows; trimming first may restart the sums nearer them
            stream.trim(self.keep_h)
            times = stream.values[: stream.size, 0]
            last[i] = stream.values[stream.size - 1]
            starts = np.searchsorted(times, times[-1] - _WINDOWS_H, side="right")
            sums[i] = stream.sums[[stream.size, *starts]]
            ivc_start[i], origin[i] = stream.ivc_start, stream.origin
        return _features(last, sums, ivc_start, origin, pd.Index(keys))


def _features(
    last: FloatArray, sums: FloatArray, ivc_start: FloatArray, origin: FloatArray, index: pd.Index
) -> pd.DataFrame:
    """Features of the latest readings ``last`` from the prefix ``sums`` gathered for them."""
    mean_window = sums[:, 0] - sums[:, 1]
    slope_window = sums[:, 0] - sums[:, 2]
    n, st, stt = slope_window[:, _COUNT, None], slope_window[:, _T, None], slope_window[:, _TT, None]
    sx, stx = slope_window[:, _X], slope_window[:, _TX]
    x0 = origin[:, 1:]
    means = x0 + window_mean(mean_window[:, _X], mean_window[:, _COUNT, None])
    slopes = window_slope(n, st, sx, stt, stx, origin=origin[:, :1])
    out = {c: last[:, j] for j, c in enumerate(COLUMNS)}
    for j, v in enumerate(TRENDED):
        out[mean_feature(v)] = means[:, j]
        out[slope_feature(v)] = slopes[:, j]
    out["ivc"] = ivc_start + sums[:, 0, _STEP]
    vcd = TRENDED.index("vcd")
    return feature_frame(out, x0[:, vcd] + window_mean(sx[:, vcd], n[:, 0]), index)
