"""The batch-evolution model: exact folds, honest limits, vectorised scoring with missing values."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.profile import BatchEvolutionModel, Quantiles, fit_profile
from monitor.profile.evolution import TYPICAL_SPREAD_FLOOR, fit_evolution
from monitor.profile.reference import Reference
from tests.profile_helpers import bench

BIN_H = 12.0


def synthetic(seed: int = 3, batches: int = 7, rows: int = 150) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correlated variables with trends, 10 % of values missing."""
    rng = np.random.default_rng(seed)
    hours = np.tile(np.sort(rng.uniform(0, 60, rows)), batches)
    batch = np.repeat(np.arange(batches), rows)
    x = rng.normal(size=(hours.size, 4)) + hours[:, None] * np.array([1, 0.5, -0.2, 0])
    x[:, 1] += x[:, 0]
    x[rng.random(x.shape) < 0.1] = np.nan
    return hours, batch, x


def direct_fit(hours: np.ndarray, x: np.ndarray, noise: np.ndarray, k: int) -> BatchEvolutionModel:
    """The model fitted the slow, obvious way: per-bin nan-statistics, then the covariance of z."""
    bins = np.floor(hours / BIN_H).astype(int)
    means = np.array([np.nanmean(x[bins == b], axis=0) for b in range(bins.max() + 1)])
    spreads = np.array([np.nanstd(x[bins == b], axis=0, ddof=1) for b in range(bins.max() + 1)])
    floor = np.maximum(noise, TYPICAL_SPREAD_FLOOR * np.sqrt(np.mean(spreads**2, axis=0)))
    scales = np.maximum(spreads, floor)
    z = np.nan_to_num((x - means[bins]) / scales[bins])
    eigenvalues, axes = np.linalg.eigh(z.T @ z / (len(z) - 1))
    unknown = Quantiles(*[np.nan] * 5)
    return BatchEvolutionModel(
        BIN_H, tuple("abcd"), means, scales, axes[:, ::-1][:, :k], eigenvalues[::-1][:k], unknown, unknown, 0.0
    )


def test_sufficient_statistics_give_the_same_model_and_folds_as_a_direct_fit() -> None:
    hours, batch, x = synthetic()
    noise = np.full(4, 0.05)
    model = fit_evolution(hours, batch, x, tuple("abcd"), noise=noise, bin_h=BIN_H)
    k = model.axes.shape[1]
    direct = direct_fit(hours, x, noise, k)
    np.testing.assert_allclose(model.means, direct.means, atol=1e-10)
    np.testing.assert_allclose(model.scales, direct.scales, atol=1e-10)
    np.testing.assert_allclose(model.eigenvalues, direct.eigenvalues, atol=1e-10)
    # One fold by hand: fit without batch 2, score batch 2; its statistics are among the pooled ones.
    fold = direct_fit(hours[batch != 2], x[batch != 2], noise, k)
    t2, spe, _ = fold.score(hours[batch == 2], x[batch == 2])
    assert model.t2.q001 <= np.quantile(t2, 0.5) <= model.t2.q999
    assert model.spe.q001 <= np.quantile(spe, 0.5) <= model.spe.q999


def test_leave_one_batch_out_limits_are_above_the_in_sample_ones() -> None:
    frame = bench()
    profile = fit_profile(frame, name="bench", source="simulator")
    model = profile.evolution
    assert model is not None
    reference = Reference.of(frame)
    t2, spe, _ = model.score(reference.hours(), reference.frame[list(model.variables)].to_numpy(np.float64))
    assert np.quantile(t2, 0.99) < model.t2.q99 and np.quantile(t2, 0.999) < model.t2.q999
    assert np.quantile(spe, 0.99) < model.spe.q99 and np.quantile(spe, 0.999) < model.spe.q999
    assert 0.85 <= model.explained < 1.0


def test_a_missing_value_contributes_nothing_and_late_hours_use_the_last_bin() -> None:
    hours, batch, x = synthetic()
    model = fit_evolution(hours, batch, x, tuple("abcd"), noise=np.full(4, 0.05), bin_h=BIN_H)
    row = np.array([[10.0, 12.0, np.nan, 1.0]])
    filled = row.copy()
    filled[0, 2] = model.means[2, 2]  # the reference mean at that age: z = 0
    for a, b in zip(model.score(np.array([30.0]), row), model.score(np.array([30.0]), filled), strict=True):
        np.testing.assert_allclose(a, b)
    last = (len(model.means) - 1) * BIN_H
    for a, b in zip(model.score(np.array([last]), row), model.score(np.array([10 * last]), row), strict=True):
        np.testing.assert_allclose(a, b)


def test_scores_are_vectorised_and_contributions_add_up() -> None:
    hours, batch, x = synthetic()
    model = fit_evolution(hours, batch, x, tuple("abcd"), noise=np.full(4, 0.05), bin_h=BIN_H)
    t2, spe, contributions = model.score(hours, x)
    assert t2.shape == spe.shape == (len(x),) and contributions.shape == x.shape
    one = model.score(hours[5:6], x[5:6])
    assert one[0][0] == pytest.approx(t2[5]) and one[1][0] == pytest.approx(spe[5])
    np.testing.assert_allclose(contributions.sum(axis=1), t2 / model.t2.q999 + spe / model.spe.q999)


def test_a_broken_correlation_shows_in_spe_and_names_its_variable() -> None:
    rng = np.random.default_rng(4)
    hours, batch = np.tile(np.arange(0.0, 48.0, 0.25), 8), np.repeat(np.arange(8), 192)
    a, b = rng.normal(size=(2, hours.size))
    x = np.column_stack([a, a + 0.1 * rng.normal(size=hours.size), b, b + 0.1 * rng.normal(size=hours.size)])
    model = fit_evolution(hours, batch, x, tuple("abcd"), noise=np.full(4, 0.01), bin_h=BIN_H)
    assert model.axes.shape[1] == 2  # two patterns: a with its twin, c with its twin
    normal = np.array([[1.0, 1.0, -1.0, -1.0]])
    broken = np.array([[1.0, -1.0, -1.0, -1.0]])  # the twin of a no longer follows it
    _, spe_normal, _ = model.score(np.array([30.0]), normal)
    _, spe_broken, contributions = model.score(np.array([30.0]), broken)
    assert spe_broken[0] > model.spe.q999 > spe_normal[0]
    assert model.variables[int(np.argmax(contributions[0]))] in ("a", "b")


def test_a_batch_unlike_the_others_is_named() -> None:
    hours, batch, x = synthetic(batches=8)
    x[batch == 5, 0] += 30.0
    names = [f"B{i}" for i in range(8)]
    model = fit_evolution(hours, batch, x, tuple("abcd"), noise=np.full(4, 0.05), bin_h=BIN_H, batch_names=names)
    assert model.unusual_batches == ("B5",)
