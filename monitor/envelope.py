"""The golden-batch envelope: how every variable normally evolves with culture age.

Learnt from reference (good) batches: culture time is cut into bins, and in
each bin the spread of a variable across the reference batches gives a band
around its median. Batch monitoring systems call this "limits by maturity"
(Nomikos & MacGregor 1995, *AIChE J.* 41:1033): what is normal at hour 10 is
not normal at hour 200.

A band holds two things. Every reference reading in the bin (the lowest and
highest each batch reached there, so a variable that climbs through a bin is
not judged against its bin average). And a statistical tolerance interval of
the batches' bin means, which widens the band when only a few reference
batches were seen: 14 batches show little of a plant's batch-to-batch spread,
so their extremes alone would alarm on a perfectly normal fifteenth (Howe 1969,
*JASA* 64:610, two-sided interval for 99 % of batches with 95 % confidence).
Bins a variable was not measured in stay empty (NaN), and a band is never
narrower than ``min_width`` so a quiet reference set does not turn sensor noise
into alarms.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> frame = pd.DataFrame({
...     "batch_id": np.repeat(["B1", "B2", "B3", "B4"], 48),
...     "culture_h": np.tile(np.arange(48.0), 4),
...     "glucose": np.tile(np.linspace(6, 2, 48), 4) + rng.normal(0, 0.1, 192),
... })
>>> envelope = Envelope.fit(frame, ("glucose",), bin_h=12.0)
>>> envelope.hours.tolist()
[6.0, 18.0, 30.0, 42.0]
>>> low, median, high = envelope.at("glucose", 40.0)
>>> bool(low < median < high), round(float(median), 1)
(True, 2.5)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Envelope:
    """Per-maturity bands of variables.

    Attributes
    ----------
    bin_h
        Width of a culture-time bin (h); bin ``i`` covers ``[i * bin_h, (i + 1) * bin_h)``.
    variables
        The variables, in column order of the arrays.
    low, median, high
        ``(bins, variables)`` arrays: the band of each variable in each bin.
    """

    bin_h: float
    variables: tuple[str, ...]
    low: FloatArray
    median: FloatArray
    high: FloatArray

    @property
    def hours(self) -> FloatArray:
        """The centre of each bin (h)."""
        centres: FloatArray = (np.arange(len(self.median), dtype=np.float64) + 0.5) * self.bin_h
        return centres

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        variables: Sequence[str],
        *,
        bin_h: float,
        quantiles: tuple[float, float] = (0.01, 0.99),
        min_width: Mapping[str, float] | None = None,
    ) -> Envelope:
        """Learn the bands from reference batches (``batch_id``, ``culture_h`` and the variables).

        ``quantiles`` are taken over the batches' lowest and highest values in a bin, so
        one batch sampled more often does not weigh more. ``min_width`` widens a band
        to at least that full width (e.g. a few sensor-noise sigmas) around its median.
        """
        present = [v for v in variables if v in frame.columns]
        bins = np.floor(frame["culture_h"].to_numpy(np.float64) / bin_h).astype(np.int64)
        keep = bins >= 0
        grouped = (
            frame.loc[keep, present]
            .astype(np.float64)
            .groupby([frame.loc[keep, "batch_id"], bins[keep]])
        )
        lowest, highest, means = grouped.min(), grouped.max(), grouped.mean()
        n_bins = int(bins[keep].max()) + 1 if keep.any() else 0
        shape = (n_bins, len(present))
        low, median, high = (np.full(shape, np.nan) for _ in range(3))
        for number, group in means.groupby(level=1):
            b = int(str(number))
            bin_means = group.to_numpy(np.float64)
            with np.errstate(all="ignore"):
                centre = np.nanmean(bin_means, axis=0)
                counts = np.sum(~np.isnan(bin_means), axis=0)
                spread = np.nanstd(bin_means, axis=0, ddof=1) * tolerance_factor(counts)
                median[b] = np.nanmedian(bin_means, axis=0)
                low[b] = np.fmin(np.nanquantile(lowest.xs(number, level=1), quantiles[0], axis=0), centre - spread)
                high[b] = np.fmax(np.nanquantile(highest.xs(number, level=1), quantiles[1], axis=0), centre + spread)
        for j, variable in enumerate(present):
            width = (min_width or {}).get(variable, 0.0)
            low[:, j] = np.fmin(low[:, j], median[:, j] - width / 2)
            high[:, j] = np.fmax(high[:, j], median[:, j] + width / 2)
        return cls(bin_h, tuple(present), low, median, high)

    def at(self, variable: str, culture_h: float) -> tuple[float, float, float]:
        """``(low, median, high)`` of ``variable`` at ``culture_h`` (NaN where unknown)."""
        low, median, high = self.at_hours(variable, np.array([culture_h]))
        return (float(low[0]), float(median[0]), float(high[0]))

    def at_hours(self, variable: str, hours: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Low, median and high of ``variable``'s band at each of ``hours`` (NaN beyond the reference's length)."""
        j = self.variables.index(variable)
        bins = np.floor(hours / self.bin_h).astype(np.int64)
        inside = (bins >= 0) & (bins < len(self.median))
        index = np.clip(bins, 0, max(len(self.median) - 1, 0))
        low, median, high = (np.where(inside, array[index, j], np.nan) for array in (self.low, self.median, self.high))
        return low, median, high

    def band(self, variable: str) -> pd.DataFrame:
        """The band of ``variable`` as a table: ``culture_h`` (bin centre), ``low``, ``median``, ``high``."""
        j = self.variables.index(variable)
        return pd.DataFrame(
            {"culture_h": self.hours, "low": self.low[:, j], "median": self.median[:, j], "high": self.high[:, j]}
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain lists (NaN as ``None``) for JSON; :meth:`from_dict` reads it back."""

        def plain(array: FloatArray) -> list[list[float | None]]:
            return [[None if np.isnan(v) else float(v) for v in row] for row in array]

        return {
            "bin_h": self.bin_h,
            "variables": list(self.variables),
            "low": plain(self.low),
            "median": plain(self.median),
            "high": plain(self.high),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Envelope:
        """The envelope written by :meth:`to_dict`."""

        def array(rows: list[list[float | None]]) -> FloatArray:
            return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64).reshape(
                len(rows), len(data["variables"])
            )

        return cls(
            float(data["bin_h"]),
            tuple(data["variables"]),
            array(data["low"]),
            array(data["median"]),
            array(data["high"]),
        )


def tolerance_factor(
    batches: NDArray[np.int64], *, coverage: float = 0.99, confidence: float = 0.95
) -> FloatArray:
    """Two-sided normal tolerance factor *k* for samples of ``batches`` values (Howe 1969).

    ``mean ± k·s`` of ``n`` values covers ``coverage`` of the population with
    ``confidence``. The chi-square quantile uses the Wilson–Hilferty approximation,
    within 2 % of the exact factor from 5 values up (15 % at 3). NaN below 2 values.

    >>> [round(float(k), 2) for k in tolerance_factor(np.array([5, 14, 50, 1000]))]
    [6.79, 3.96, 3.13, 2.68]
    """
    n = batches.astype(np.float64)
    z_coverage = NormalDist().inv_cdf((1 + coverage) / 2)
    z_low_tail = NormalDist().inv_cdf(1 - confidence)
    with np.errstate(all="ignore"):
        dof = n - 1
        chi2 = dof * (1 - 2 / (9 * dof) + z_low_tail * np.sqrt(2 / (9 * dof))) ** 3
        k = z_coverage * np.sqrt(dof * (1 + 1 / n) / chi2)
    factor: FloatArray = np.where(n >= 2, k, np.nan)
    return factor
