"""Multivariate monitoring: PCA with Hotelling T² and SPE, naming the variables that moved.

Each reading becomes a feature vector (deviations from set points, metabolites,
actuators, log VCD), standardised by the mean and spread that fault-free batches
show at the same culture age (24-h bins, so the normal course of a batch is not
an anomaly), and projected on the principal components of those batches. T²
measures an unusual combination inside the model plane, SPE a departure from
the correlations the model knows; either above its limit raises a warning
that lists the variables contributing most.

The model is fitted deterministically at first use from clean batches generated
by ``simulator.dataset.generate_frame`` (``[multivariate]`` settings: number of
batches and seed). Generating them takes up to a minute, so the fitted parameters
(a few kB) are stored in a generated ``.npz`` file in the user cache directory
(``$XDG_CACHE_HOME/bioreactor-monitor``, never committed), keyed by the settings
and a hash of the simulator's source, and loaded from there afterwards.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> hours = np.tile(np.arange(0, 96, 0.5), 10)
>>> x = rng.normal(size=(hours.size, len(FEATURES)))
>>> model = PcaModel.fit(hours, x, variance=0.9, quantile=0.99, margin=1.0)
>>> t2, spe, _ = model.score(48.0, np.zeros(len(FEATURES)))
>>> bool(t2 < model.t2_limit and spe < model.spe_limit)
True
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bioreactor.contract import Reading, Severity
from monitor import explain
from monitor.checks.base import Explanation, Finding, History, Latch, LatchCheck, deviation
from monitor.config import MonitorConfig, MultivariateSettings

FloatArray = NDArray[np.float64]

#: The features of one reading, in model order.
FEATURES: tuple[str, ...] = (
    "do", "ph", "temperature", "glucose", "lactate", "agitation", "airflow",
    "feed_rate", "base_rate", "viability", "log_vcd",
)
#: Width of the culture-age bins used for standardisation (h).
BIN_H = 24.0


def features(reading: Reading) -> FloatArray | None:
    """The feature vector of ``reading`` (None when an optional field is missing)."""
    if reading.viability is None or reading.base_rate is None or reading.vcd <= 0:
        return None
    values = [deviation(reading, v) for v in FEATURES[:3]]
    values += [getattr(reading, v) for v in FEATURES[3:-1]]
    values.append(math.log(reading.vcd))
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True)
class PcaModel:
    """Per-age standardisation, principal axes, eigenvalues and control limits."""

    means: FloatArray  # (bins, features)
    scales: FloatArray  # (bins, features)
    axes: FloatArray  # (features, components)
    eigenvalues: FloatArray  # (components,)
    t2_limit: float
    spe_limit: float

    @classmethod
    def fit(
        cls, hours: FloatArray, x: FloatArray, *, variance: float, quantile: float, margin: float
    ) -> PcaModel:
        """Fit on fault-free rows ``x`` observed at culture ages ``hours``."""
        bins = (hours // BIN_H).astype(int)
        n_bins = int(bins.max()) + 1
        means = np.zeros((n_bins, x.shape[1]))
        scales = np.ones((n_bins, x.shape[1]))
        for b in range(n_bins):
            rows = x[bins == b]
            if len(rows) > 1:
                means[b] = rows.mean(axis=0)
                scales[b] = np.maximum(rows.std(axis=0), 1e-3)
        z = (x - means[bins]) / scales[bins]
        _, singular, vt = np.linalg.svd(z, full_matrices=False)
        eigen = singular**2 / (len(z) - 1)
        keep = int(np.searchsorted(np.cumsum(eigen) / eigen.sum(), variance) + 1)
        model = cls(means, scales, vt[:keep].T, eigen[:keep], math.inf, math.inf)
        t2, spe = model._statistics(z)
        return cls(
            means, scales, vt[:keep].T, eigen[:keep],
            float(np.quantile(t2, quantile) * margin), float(np.quantile(spe, quantile) * margin),
        )

    def _statistics(self, z: FloatArray) -> tuple[FloatArray, FloatArray]:
        scores = z @ self.axes
        residual = z - scores @ self.axes.T
        return (scores**2 / self.eigenvalues).sum(axis=-1), (residual**2).sum(axis=-1)

    def score(self, hours: float, x: FloatArray) -> tuple[float, float, FloatArray]:
        """T², SPE and each feature's contribution (share of T² + SPE) for one reading."""
        b = min(int(hours // BIN_H), len(self.means) - 1)
        z = (x - self.means[b]) / self.scales[b]
        t2, spe = self._statistics(z)
        residual = z - (z @ self.axes) @ self.axes.T
        t2_part = z * (self.axes @ ((self.axes.T @ z) / self.eigenvalues))
        contribution = t2_part / self.t2_limit + residual**2 / self.spe_limit
        return float(t2), float(spe), contribution


    def save(self, path: Path) -> None:
        """Write the parameters to ``path`` (numpy ``.npz``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as file:
            np.savez(file, means=self.means, scales=self.scales, axes=self.axes,
                     eigenvalues=self.eigenvalues, limits=[self.t2_limit, self.spe_limit])

    @classmethod
    def load(cls, path: Path) -> PcaModel:
        """Read parameters written by :meth:`save`."""
        with np.load(path) as data:
            t2, spe = (float(v) for v in data["limits"])
            return cls(data["means"], data["scales"], data["axes"], data["eigenvalues"], t2, spe)


def cache_path(settings: MultivariateSettings) -> Path:
    """Where the model for ``settings`` and the current simulator is stored."""
    import simulator  # noqa: PLC0415 - only to locate its sources

    digest = hashlib.sha256(repr(settings).encode())
    for source in sorted(Path(simulator.__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "bioreactor-monitor" / f"multivariate-{digest.hexdigest()[:16]}.npz"


@cache
def trained_model(settings: MultivariateSettings) -> PcaModel:
    """The model fitted on ``settings.training_batches`` generated fault-free batches."""
    path = cache_path(settings)
    if path.exists():
        return PcaModel.load(path)
    model = _fit(settings)
    model.save(path)
    return model


def _fit(settings: MultivariateSettings) -> PcaModel:
    from simulator.dataset import generate_frame  # noqa: PLC0415 - only needed to train

    frame = generate_frame(settings.training_batches, settings.training_seed, fault_fraction=0.0)
    frame = frame[frame["culture_h"] > 0]
    dev = {v: frame[v] - frame[f"{v}_setpoint"] for v in ("do", "ph", "temperature")}
    columns = [dev[v] if v in dev else frame[v] for v in FEATURES[:-1]]
    x = np.column_stack([*columns, np.log(frame["vcd"].clip(lower=1e-3))]).astype(np.float64)
    return PcaModel.fit(
        frame["culture_h"].to_numpy(np.float64), x,
        variance=settings.variance, quantile=settings.quantile, margin=settings.margin,
    )


class MultivariateCheck(LatchCheck):
    """Warn when T² or SPE of a reading leaves the fault-free region."""

    name = "multivariate"

    def __init__(self, config: MonitorConfig) -> None:
        super().__init__(config)
        self.model = trained_model(config.multivariate)

    def evaluate(self, reading: Reading, history: History, state: Latch) -> list[Finding]:
        x = features(reading)
        if x is None:
            return []
        t2, spe, contribution = self.model.score(reading.culture_h, x)
        excess = max(t2 / self.model.t2_limit, spe / self.model.spe_limit)
        if not state.update("pca", enter=excess > 1.0, stay=excess > 0.7):
            return []
        top = [FEATURES[i] for i in np.argsort(contribution)[::-1][:3]]
        names = ", ".join(explain.label(v.removeprefix("log_")) for v in top)
        what = (
            f"the combination of signals is unusual for culture hour {reading.culture_h:.0f} "
            f"(T² {t2:.1f} vs limit {self.model.t2_limit:.1f}, SPE {spe:.1f} vs limit "
            f"{self.model.spe_limit:.1f}); largest contributions: {names}"
        )
        return [Finding(
            check=self.name,
            severity=Severity.WARNING,
            explanation=Explanation(
                what,
                causes=(f"an abnormal change in {names}", "a sensor fault on one of them"),
                action=f"Look at the trends of {names} together.",
            ),
            value=round(excess, 3),
            limit=1.0,
        )]
