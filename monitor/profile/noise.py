"""Measurement noise of each variable: the high-frequency scatter a sensor adds to the process.

For white noise of standard deviation sigma on a slowly varying signal, the
second difference ``x[t+1] - 2 x[t] + x[t-1]`` cancels the trend to first
order and has variance ``6 sigma**2`` (the idea of von Neumann's mean square
successive difference, *Ann. Math. Stat.* 12:367, 1941, one order further). Its
median absolute deviation, times 1.4826, estimates its standard deviation
robustly (Rousseeuw & Croux 1993, *JASA* 88:1273), so a temperature shift or a
feed step, rare in the series, does not count as noise:

    sigma = 1.4826 * MAD(second differences) / sqrt(6)

Differences are taken within a batch, between consecutive *measured* values, so
an offline variable sampled every 4 h gets an estimate from what it has (its
slow trend then adds a little). Triples of identical readings are left out: an
actuator at its limit or a value held by the historian says nothing about the
sensor. The estimate is floored at :data:`FLOOR_SHARE` of the variable's normal
range (its 1-99 % spread; its size when that is zero), because below that it
measures the export's rounding, and a zero noise would make any change an
alarm.

>>> import numpy as np, pandas as pd
>>> from monitor.profile.reference import Reference
>>> rng = np.random.default_rng(1)
>>> hours = np.arange(0.0, 100.0, 0.1)
>>> frame = pd.DataFrame({"batch_id": np.repeat(["B1", "B2", "B3"], hours.size), "culture_h": np.tile(hours, 3),
...                       "glucose": np.tile(6 - 0.04 * hours, 3) + rng.normal(0, 0.12, 3 * hours.size)})
>>> round(noise_sigma(Reference.of(frame), "glucose"), 2)
0.12
"""

from __future__ import annotations

import numpy as np

from monitor.profile.quantiles import rounded
from monitor.profile.reference import Reference

#: A noise is never below this share of the variable's 1-99 % range.
FLOOR_SHARE = 1e-3
#: MAD to standard deviation for normal data.
MAD_TO_SIGMA = 1.4826


def noise_sigma(reference: Reference, variable: str) -> float:
    """1-sigma measurement noise of ``variable`` (0 when it never varies)."""
    values = reference.values(variable)
    measured = np.isfinite(values)
    x = values[measured]
    codes = reference.codes[measured]
    floor = _floor(x)
    if x.size < 3:
        return floor
    second = x[2:] - 2.0 * x[1:-1] + x[:-2]
    held = (x[2:] == x[1:-1]) & (x[1:-1] == x[:-2])
    usable = second[(codes[2:] == codes[:-2]) & ~held]  # rows are sorted by batch: same ends, same batch
    if usable.size == 0:
        return floor
    mad = float(np.median(np.abs(usable - np.median(usable))))
    return rounded(max(MAD_TO_SIGMA * mad / np.sqrt(6.0), floor))


def _floor(x: np.ndarray) -> float:
    if x.size == 0:
        return 0.0
    low, high = np.quantile(x, [0.01, 0.99])
    scale = float(high - low) or float(np.max(np.abs(x)))
    return FLOOR_SHARE * scale


def measurement_noise(reference: Reference, variables: tuple[str, ...]) -> dict[str, float]:
    """:func:`noise_sigma` of each variable."""
    return {v: noise_sigma(reference, v) for v in variables}
