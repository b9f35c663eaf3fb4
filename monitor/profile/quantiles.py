"""Robust spread of one quantity over reference batches: five quantiles, from 0.1 % to 99.9 %.

Quantiles rather than mean and standard deviation because process data are
skewed and heavy-tailed (a feed rate is 0 for two days, then climbs), and the
tails are what a limit is set from.

>>> import numpy as np
>>> q = Quantiles.of(np.arange(1001.0))
>>> q.q001, q.q50, q.q999
(1.0, 500.0, 999.0)
>>> Quantiles.of(np.array([np.nan, 2.0])).q50
2.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: The probabilities of :class:`Quantiles`' fields, in field order.
PROBABILITIES: tuple[float, ...] = (0.001, 0.01, 0.5, 0.99, 0.999)

#: Learnt numbers are kept to this many significant digits: an estimate from reference
#: batches is not more precise than that, and the saved profile stays readable.
SIGNIFICANT_DIGITS = 4


def rounded(value: float) -> float:
    """``value`` to :data:`SIGNIFICANT_DIGITS` significant digits (NaN and 0 unchanged).

    >>> rounded(0.123456), rounded(123456.0), rounded(-6.99751)
    (0.1235, 123500.0, -6.998)
    """
    if not np.isfinite(value) or value == 0.0:
        return float(value)
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


@dataclass(frozen=True)
class Quantiles:
    """The 0.1, 1, 50, 99 and 99.9 % quantiles of a quantity (NaN when it was never seen)."""

    q001: float
    q01: float
    q50: float
    q99: float
    q999: float

    @classmethod
    def of(cls, values: NDArray[np.float64]) -> Quantiles:
        """The quantiles of ``values``, NaN ignored, rounded to :data:`SIGNIFICANT_DIGITS`."""
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return cls(*(np.nan,) * len(PROBABILITIES))
        return cls(*(rounded(float(q)) for q in np.quantile(finite, PROBABILITIES)))
