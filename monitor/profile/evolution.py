"""The batch-evolution model: PCA of readings standardised by maturity, with honest T² and SPE limits.

Batch processes are monitored against how the reference batches evolved
(Nomikos & MacGregor 1995, *AIChE J.* 41:1033; Wold et al. 1998, *Chemom.
Intell. Lab. Syst.* 44:331, "batch evolution"): each reading is centred and
scaled by the mean and spread of the reference batches *at the same culture
age* (bins of ``bin_h`` hours), so the normal course of a batch is not an
anomaly, then projected on the principal components of the standardised
reference readings (components kept up to :data:`EXPLAINED_VARIANCE`).

- Hotelling's T² (sum of squared scores over their variances) measures an
  unusual *size* of a known pattern of variation;
- SPE (squared prediction error, the residual off the component plane) a
  *broken correlation*: a pattern the reference never showed.

Limits must hold for batches the model has not seen. In-sample statistics are
too small (the model fitted its own noise), so the stored distributions of T²
and SPE are **leave-one-batch-out**: for each reference batch, the
standardisation and PCA are refitted on all the others (with the same number of
components) and the left-out batch's readings are scored; the scores of all
folds are pooled. Each fold reuses per-batch sufficient statistics (counts,
sums and cross-products per maturity bin), so 100 folds cost about as much as
one fit.

A variable not measured in a reading contributes nothing: its standardised
value is taken as 0, the reference mean at that age. Spreads are floored at the
variable's measurement noise and at a quarter of its typical spread, so a
variable that is constant at some age (feed 0 before feeding starts, a pump idle
in most batches) does not turn a small change into a huge score.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> hours = np.tile(np.arange(0.0, 48.0, 0.5), 8)
>>> batch = np.repeat(np.arange(8), 96)
>>> common = rng.normal(size=hours.size)
>>> x = np.column_stack([hours + common, 2 * hours + common + 0.3 * rng.normal(size=hours.size)])
>>> model = fit_evolution(hours, batch, x, ("a", "b"), noise=np.array([0.01, 0.01]), bin_h=12.0)
>>> model.axes.shape, round(model.explained, 2)
((2, 1), 0.99)
>>> t2, spe, contributions = model.score(np.array([6.0, 6.0]), np.array([[6.0, 12.0], [9.0, 6.0]]))
>>> bool(spe[0] < model.spe.q99 < spe[1]), contributions.shape
(True, (2, 2))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.profile.equality import equal
from monitor.profile.quantiles import Quantiles, rounded

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Components are kept until they explain this share of the standardised variance.
EXPLAINED_VARIANCE = 0.9
#: A variable's spread at one age is at least this share of its typical spread (root mean
#: square over the ages), and at least its measurement noise. Without it, a pump idle at some
#: age in all reference batches but one (base, CO2) gives that batch's readings z-scores of
#: hundreds, and the leave-one-batch-out T² of normal batches a 99.9 % quantile in the tens of
#: thousands: a spread estimated from a few batches is shrunk towards the variable's usual one.
TYPICAL_SPREAD_FLOOR = 0.25
#: Fewer reference batches than this give no batch-evolution model: leave-one-batch-out
#: limits from a handful of batches say little about the next one.
MIN_EVOLUTION_BATCHES = 6


@dataclass(frozen=True, eq=False)
class BatchEvolutionModel:
    """PCA by maturity: per-bin standardisation, principal axes, and leave-one-batch-out T²/SPE spreads.

    Attributes
    ----------
    bin_h
        Width of a maturity bin (h); bin ``i`` covers culture hours ``[i * bin_h, (i + 1) * bin_h)``.
    variables
        The variables, in column order of ``x`` in :meth:`score`.
    means, scales
        ``(bins, V)`` mean and spread of each variable at each maturity.
    axes
        ``(V, k)`` principal axes.
    eigenvalues
        ``(k,)`` variance of the scores on each axis.
    t2, spe
        Spread of T² and SPE over reference readings scored leave-one-batch-out.
    explained
        Share of the standardised variance the ``k`` components explain.
    unusual_batches
        Reference batches unlike the others: most of their readings, scored leave-one-batch-out,
        lie beyond the 99 % quantile of T² or SPE of the other batches' readings. They widen
        the limits; the user should check that they are good batches.
    """

    bin_h: float
    variables: tuple[str, ...]
    means: FloatArray
    scales: FloatArray
    axes: FloatArray
    eigenvalues: FloatArray
    t2: Quantiles
    spe: Quantiles
    explained: float
    unusual_batches: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        return equal(self, other)

    __hash__ = None  # type: ignore[assignment]  # holds arrays: not hashable

    def standardise(self, hours: FloatArray, x: FloatArray) -> FloatArray:
        """``(n, V)`` readings centred and scaled at their maturity; 0 where not measured."""
        return _standardise(x, self.bins(hours), self.means, self.scales)

    def bins(self, hours: FloatArray) -> IntArray:
        """Maturity bin of each culture hour; before the first bin the first, after the last the last."""
        return np.clip(np.floor(np.nan_to_num(hours) / self.bin_h), 0, len(self.means) - 1).astype(np.int64)

    def score(self, hours: FloatArray, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """T² ``(n,)``, SPE ``(n,)`` and per-variable contributions ``(n, V)`` of ``n`` readings.

        Contributions split T² and SPE over the variables, each part in units of its
        99.9 % limit (so T² and SPE weigh alike), as ``monitor/checks/multivariate.py``
        did: the T² part of variable ``j`` is ``z_j * (P Λ⁻¹ Pᵀ z)_j`` (Westerhuis et al.
        2000, *Chemom. Intell. Lab. Syst.* 51:95; it can be negative), its SPE part the
        squared residual ``e_j²``. A row's contributions sum to ``T²/T²₉₉.₉ + SPE/SPE₉₉.₉``.

        Parameters
        ----------
        hours
            ``(n,)`` culture hours.
        x
            ``(n, V)`` readings of :attr:`variables`, NaN where not measured.
        """
        z = self.standardise(hours, x)
        t2, spe, scores, residual = _statistics(z, self.axes, self.eigenvalues)
        t2_part = z * ((scores / self.eigenvalues) @ self.axes.T)
        return t2, spe, t2_part / self.t2.q999 + residual**2 / self.spe.q999


def _standardise(x: FloatArray, bins: IntArray, means: FloatArray, scales: FloatArray) -> FloatArray:
    z = (x - means[bins]) / scales[bins]
    return np.where(np.isnan(z), 0.0, z)


def _statistics(
    z: FloatArray, axes: FloatArray, eigenvalues: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """T², SPE, scores and residuals of standardised rows ``z``."""
    scores = z @ axes
    residual = z - scores @ axes.T
    return (scores**2 / eigenvalues).sum(axis=1), (residual**2).sum(axis=1), scores, residual


@dataclass(frozen=True)
class _BinStatistics:
    """Per maturity bin (and batch): pairwise counts, sums and cross-products of the readings.

    ``count[..., i, j]`` counts readings with both ``i`` and ``j`` measured, ``sums[..., i, j]``
    sums ``x_i`` over them and ``products[..., i, j]`` sums ``x_i x_j``; the diagonals are the
    per-variable count, sum and sum of squares; ``rows`` counts readings. Shapes
    ``(..., bins, V, V)`` and ``(..., bins)``: per batch, or summed over batches.
    """

    count: FloatArray
    sums: FloatArray
    products: FloatArray
    rows: FloatArray

    @classmethod
    def per_batch(cls, x: FloatArray, batch: IntArray, bins: IntArray, n_bins: int) -> _BinStatistics:
        """Statistics of each batch; readings must be sorted by batch, then bin."""
        n_batches, n_vars = int(batch.max()) + 1, x.shape[1]
        count, sums, products = (np.zeros((n_batches, n_bins, n_vars, n_vars)) for _ in range(3))
        rows = np.zeros((n_batches, n_bins))
        measured = np.isfinite(x).astype(np.float64)
        filled = np.where(measured > 0, x, 0.0)
        group = batch * n_bins + bins
        starts = np.flatnonzero(np.diff(group, prepend=-1))
        where = np.unravel_index(group[starts], (n_batches, n_bins))
        rows[where] = np.diff(np.append(starts, len(group)))
        # Outer products a chunk of whole groups at a time, so memory stays a few MB per chunk.
        for chunk in np.array_split(np.arange(len(starts)), max(1, len(x) // 20_000)):
            if chunk.size == 0:
                continue
            first, stop = starts[chunk[0]], (starts[chunk[-1] + 1] if chunk[-1] + 1 < len(starts) else len(x))
            offsets = starts[chunk] - first
            m, v = measured[first:stop], filled[first:stop]
            cells = (where[0][chunk], where[1][chunk])
            for target, left, right in ((count, m, m), (sums, v, m), (products, v, v)):
                target[cells] = np.add.reduceat(left[:, :, None] * right[:, None, :], offsets, axis=0)
        return cls(count, sums, products, rows)

    def total(self) -> _BinStatistics:
        """The statistics summed over batches."""
        return _BinStatistics(*(a.sum(axis=0) for a in (self.count, self.sums, self.products, self.rows)))

    def without_each_batch(self) -> _BinStatistics:
        """For every batch, the statistics of all the other batches (the leave-one-batch-out folds)."""
        total = self.total()
        return _BinStatistics(
            total.count[None] - self.count,
            total.sums[None] - self.sums,
            total.products[None] - self.products,
            total.rows[None] - self.rows,
        )

    def moments(self, noise: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Per-bin means and spreads ``(..., bins, V)``; see :data:`TYPICAL_SPREAD_FLOOR` for the floor."""
        n, total, squares = (np.diagonal(a, axis1=-2, axis2=-1) for a in (self.count, self.sums, self.products))
        with np.errstate(invalid="ignore", divide="ignore"):
            means = total / n
            spreads = np.sqrt(np.maximum((squares - n * means**2) / (n - 1), 0.0))
        means = _fill_empty_bins(means, n == 0)
        spreads = np.nan_to_num(_fill_empty_bins(spreads, n < 2))
        typical = np.sqrt(np.mean(spreads**2, axis=-2, keepdims=True))
        return means, np.maximum(spreads, np.maximum(noise, TYPICAL_SPREAD_FLOOR * typical))

    def covariance(self, means: FloatArray, scales: FloatArray) -> FloatArray:
        """Covariance of the standardised readings (unmeasured values as 0), over all bins.

        Per bin, over the readings with both measured,
        ``sum z_i z_j = (S_ij - m_j P_ij - m_i P_ji + m_i m_j N_ij) / (s_i s_j)``;
        ``(..., V, V)``.
        """
        m_i, m_j = means[..., :, None], means[..., None, :]
        centred = self.products - m_j * self.sums - m_i * np.swapaxes(self.sums, -1, -2) + m_i * m_j * self.count
        standardised = centred / (scales[..., :, None] * scales[..., None, :])
        readings = self.rows.sum(axis=-1)
        covariance: FloatArray = standardised.sum(axis=-3) / np.maximum(readings - 1, 1)[..., None, None]
        return covariance


def _fill_empty_bins(a: FloatArray, empty: NDArray[np.bool_]) -> FloatArray:
    """Empty bins take the value of the nearest earlier bin, else of the nearest later one."""
    a = np.where(empty, np.nan, a)
    for step in (1, -1):  # forward, then backward along the bins axis
        view = a[..., ::step, :]
        for i in range(1, view.shape[-2]):
            view[..., i, :] = np.where(np.isnan(view[..., i, :]), view[..., i - 1, :], view[..., i, :])
    return a


def _principal_axes(covariance: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Eigenvalues (descending, floored above 0) and axes (columns) of symmetric matrices ``(..., V, V)``."""
    eigenvalues, axes = np.linalg.eigh(covariance)
    return np.maximum(eigenvalues[..., ::-1], 1e-12), axes[..., ::-1]


def fit_evolution(
    hours: FloatArray,
    batch: IntArray,
    x: FloatArray,
    variables: tuple[str, ...],
    *,
    noise: FloatArray,
    bin_h: float,
    batch_names: Sequence[str] = (),
) -> BatchEvolutionModel:
    """Fit the model on reference readings and set its T²/SPE spreads leave-one-batch-out.

    Parameters
    ----------
    hours
        ``(n,)`` culture hour of each reading.
    batch
        ``(n,)`` batch of each reading, ``0..B-1``.
    x
        ``(n, V)`` readings of ``variables``, NaN where not measured.
    noise
        ``(V,)`` measurement noise: the floor of every spread.
    bin_h
        Width of a maturity bin (h).
    batch_names
        Name of each batch, for :attr:`BatchEvolutionModel.unusual_batches` (default: its number).

    Raises
    ------
    ValueError
        Fewer than two batches: no batch can be left out.
    """
    if np.unique(batch).size < 2:
        raise ValueError("a batch-evolution model needs at least two batches (one is left out at a time)")
    bins = np.maximum(np.floor(hours / bin_h), 0).astype(np.int64)
    order = np.lexsort((bins, batch))
    x, batch, bins = x[order], batch[order], bins[order]
    per_batch = _BinStatistics.per_batch(x, batch, bins, int(bins.max()) + 1)
    total = per_batch.total()
    means, scales = total.moments(noise)
    eigenvalues, axes = _principal_axes(total.covariance(means, scales))
    cumulative = np.cumsum(eigenvalues) / eigenvalues.sum()
    k = int(np.searchsorted(cumulative, EXPLAINED_VARIANCE) + 1)
    t2, spe = _left_out_statistics(per_batch, x, batch, bins, noise=noise, components=k)
    return BatchEvolutionModel(
        bin_h=bin_h,
        variables=variables,
        means=means,
        scales=scales,
        axes=axes[:, :k].copy(),
        eigenvalues=eigenvalues[:k].copy(),
        t2=Quantiles.of(t2),
        spe=Quantiles.of(spe),
        explained=rounded(float(cumulative[k - 1])),
        unusual_batches=tuple(str(batch_names[b]) if batch_names else str(b) for b in _unusual_batches(t2, spe, batch)),
    )


def _unusual_batches(t2: FloatArray, spe: FloatArray, batch: IntArray) -> list[int]:
    """Batches most of whose readings lie beyond the 99 % quantile of the other batches' T² or SPE."""
    unusual = []
    for b in np.unique(batch):
        own = batch == b
        t2_limit, spe_limit = np.quantile(t2[~own], 0.99), np.quantile(spe[~own], 0.99)
        if np.median(np.maximum(t2[own] / t2_limit, spe[own] / spe_limit)) > 1.0:
            unusual.append(int(b))
    return unusual


def _left_out_statistics(
    per_batch: _BinStatistics, x: FloatArray, batch: IntArray, bins: IntArray, *, noise: FloatArray, components: int
) -> tuple[FloatArray, FloatArray]:
    """T² and SPE of every reading under the model fitted without its batch (all folds at once)."""
    folds = per_batch.without_each_batch()
    means, scales = folds.moments(noise)  # (B, bins, V)
    eigenvalues, axes = _principal_axes(folds.covariance(means, scales))
    eigenvalues, axes = eigenvalues[:, :components], axes[:, :, :components]
    t2, spe = np.empty(len(x)), np.empty(len(x))
    bounds = np.searchsorted(batch, np.arange(len(means) + 1))  # readings are sorted by batch
    for b in range(len(means)):
        rows = slice(bounds[b], bounds[b + 1])
        z = _standardise(x[rows], bins[rows], means[b], scales[b])
        t2[rows], spe[rows], _, _ = _statistics(z, axes[b], eigenvalues[b])
    return t2, spe
