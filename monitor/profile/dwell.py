"""Where a controlled variable dwells: the levels a control loop holds it at.

A loop holds its variable at the set point to within the sensor's noise, for
hours, in every batch, so its readings crowd into a narrow peak at the set
point: the levels are the peaks of the distribution of readings (a kernel
density with the noise sigma as bandwidth, each batch weighing the same). A
value the variable only passes through (DO falling from saturation before the
culture needs oxygen) or floats at, differently in each batch (pH above its
band when lactate is consumed), spreads wider. A peak is a level when

- it holds at least :data:`MIN_SHARE` of the readings within 3 sigma of it, and
- it is sharp: at least :data:`SHARPNESS` times as many readings within 3 sigma
  as between 3 and 6 sigma (noise alone leaves 0.3 % beyond 3 sigma).

A deadband controller (pH: base below the band, CO2 above it) holds its
variable at the *edges* of the band, not at the set point: two levels closer
than the widest deadband expected (``deadband_max``) are the edges of one band,
whose middle is the set point.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> ph = np.concatenate([6.95 + rng.normal(0, 0.01, 600), 7.05 + rng.normal(0, 0.01, 300),
...                      np.linspace(7.05, 7.2, 100)])
>>> [(round(x.value, 2), round(x.deadband, 2)) for x in dwell_levels(ph, np.ones(ph.size), 0.01)]
[(6.95, 0.0), (7.05, 0.0)]
>>> [(round(x.value, 2), round(x.deadband, 2)) for x in dwell_levels(ph, np.ones(ph.size), 0.01, deadband_max=0.25)]
[(7.0, 0.05)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: A level holds at least this share of the readings (a loop holding its variable for
#: less than a twentieth of a batch cannot be told from the variable passing by).
MIN_SHARE = 0.05
#: Readings within 3 sigma of a level over those 3 to 6 sigma away, at least.
SHARPNESS = 4.0
#: Levels are looked for within this many sigmas (the core) of a density peak.
CORE_SIGMAS = 3.0
#: The density grid never has more than about this many points.
MAX_GRID = 4000


@dataclass(frozen=True)
class Level:
    """One level a loop holds: its set point, deadband half-width and share of the readings."""

    value: float
    deadband: float
    share: float


def weighted_median(x: FloatArray, weights: FloatArray) -> float:
    """The value below which half of the total weight lies.

    >>> weighted_median(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 5.0]))
    3.0
    """
    order = np.argsort(x)
    cumulative = np.cumsum(weights[order])
    return float(x[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


def dwell_levels(values: FloatArray, weights: FloatArray, sigma: float, *, deadband_max: float = 0.0) -> list[Level]:
    """The levels ``values`` dwell at, lowest first.

    Parameters
    ----------
    values
        Readings of one variable (NaN ignored).
    weights
        Weight of each reading (e.g. 1 / readings of its batch, so each batch counts once).
    sigma
        The variable's measurement noise: the kernel bandwidth and the unit of the core.
    deadband_max
        Two levels closer than this are the edges of one deadband (0: never).
    """
    finite = np.isfinite(values)
    x, w = values[finite], weights[finite]
    if x.size == 0 or w.sum() <= 0:
        return []
    w = w / w.sum()
    low, high = float(x.min()), float(x.max())
    if high == low:
        return [Level(low, 0.0, 1.0)]
    bandwidth = max(sigma, (high - low) / MAX_GRID * 4)
    peaks = _density_peaks(x, w, bandwidth, low, high)
    core = CORE_SIGMAS * bandwidth
    levels: list[Level] = []
    for peak in peaks:
        distance = np.abs(x - peak)
        inside = distance <= core
        share = float(w[inside].sum())
        shoulder = float(w[(distance > core) & (distance <= 2 * core)].sum())
        if share < MIN_SHARE or share < SHARPNESS * shoulder:
            continue
        value = weighted_median(x[inside], w[inside])
        if levels and abs(value - levels[-1].value) <= core:  # one level seen as two nearby peaks
            if share > levels[-1].share:
                levels[-1] = Level(value, 0.0, share)
            continue
        levels.append(Level(value, 0.0, share))
    return _pair_deadband_edges(levels, deadband_max)


def _density_peaks(x: FloatArray, w: FloatArray, bandwidth: float, low: float, high: float) -> FloatArray:
    """Local maxima of a Gaussian kernel density of ``x`` (grid step a quarter bandwidth)."""
    step = bandwidth / 4.0
    edges = np.arange(low - 5 * bandwidth, high + 5 * bandwidth + step, step)
    histogram, _ = np.histogram(x, edges, weights=w)
    taps = np.arange(-16, 17) / 4.0  # +/- 4 bandwidths
    kernel = np.exp(-0.5 * taps**2)
    density = np.convolve(histogram, kernel / kernel.sum(), mode="same")
    centres = (edges[:-1] + edges[1:]) / 2.0
    rising = density[1:-1] > density[:-2]
    falling = density[1:-1] >= density[2:]
    return centres[1:-1][rising & falling]


def _pair_deadband_edges(levels: list[Level], deadband_max: float) -> list[Level]:
    """Adjacent levels closer than ``deadband_max``, merged into one level at their middle."""
    merged: list[Level] = []
    i = 0
    while i < len(levels):
        if i + 1 < len(levels) and levels[i + 1].value - levels[i].value <= deadband_max:
            low, high = levels[i], levels[i + 1]
            merged.append(Level((low.value + high.value) / 2, (high.value - low.value) / 2, low.share + high.share))
            i += 2
        else:
            merged.append(levels[i])
            i += 1
    return merged
