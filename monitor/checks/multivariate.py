"""Multivariate monitoring: the profile's batch-evolution model, naming the variables that moved.

Each reading is standardised by the mean and spread the reference batches
showed at the same culture age and projected on their principal components
(:class:`~monitor.profile.BatchEvolutionModel`). Hotelling's T² measures an
unusual combination inside the model plane, SPE a departure from the
correlations it knows; either above ``margin`` times its 99.9 % quantile over
held-out reference batches (leave-one-batch-out, so the limit is honest) raises
a warning that lists the variables contributing most.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from bioreactor.contract import Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Findings, Histories, Latches
from monitor.config import MonitorConfig
from monitor.slots import FloatArray, Slots
from monitor.wave import COLUMN, Wave

#: Variables a reading must measure, as a share of the model's, to be scored.
MEASURED_SHARE = 0.6


class MultivariateCheck(Check):
    """Warn when T² or SPE of a reading leaves the region of the reference batches."""

    name = "multivariate"

    def __init__(self, config: MonitorConfig, slots: Slots, histories: Histories) -> None:
        super().__init__(config, slots, histories)
        self.model = config.profile.evolution if config.profile is not None else None
        self.columns = [COLUMN[v] for v in self.model.variables] if self.model is not None else []
        self.latches = self.remember(Latches.create(1))

    def cannot_run(self, measured: Collection[str], interval_s: float) -> str | None:
        if self.model is None:
            return "no multivariate model: fit a process profile on enough reference batches"
        share = sum(v in measured for v in self.model.variables) / len(self.model.variables)
        if share < MEASURED_SHARE:
            return f"measures {share:.0%} of the model's variables ({', '.join(self.model.variables)})"
        return None

    def evaluate(self, wave: Wave) -> list[Findings]:
        if self.model is None:
            empty = np.zeros(len(wave), dtype=bool)
            return [Findings(self.name, None, Severity.WARNING, empty, empty, np.full(len(wave), np.nan),
                             np.full(len(wave), np.nan), lambda i: Explanation(""))]
        model, margin = self.model, self.config.multivariate.margin
        x = wave.values[:, self.columns]
        t2, spe, contribution = model.score(wave.hours, x)
        excess: FloatArray = np.maximum(t2 / (margin * model.t2.q999), spe / (margin * model.spe.q999))
        known = (~np.isnan(x)).mean(axis=1) >= MEASURED_SHARE
        on = self.latches.update(wave.slots, 0, enter=excess > 1.0, stay=excess > 0.7, known=known)
        return [Findings(
            self.name, None, Severity.WARNING, on, known, excess, np.ones(len(wave)),
            lambda i: self._explain(float(wave.hours[i]), float(t2[i]), float(spe[i]), contribution[i]),
        )]

    def _explain(self, hours: float, t2: float, spe: float, contribution: np.ndarray) -> Explanation:
        assert self.model is not None
        margin = self.config.multivariate.margin
        top = [self.model.variables[j] for j in np.argsort(np.nan_to_num(contribution))[::-1][:3]]
        names = ", ".join(explain.label(v) for v in top)
        what = (
            f"the combination of signals is unusual for culture hour {hours:.0f} (T² {t2:.1f} vs limit "
            f"{margin * self.model.t2.q999:.1f}, SPE {spe:.1f} vs limit {margin * self.model.spe.q999:.1f}); "
            f"largest contributions: {names}"
        )
        return Explanation(
            what,
            causes=(f"an abnormal change in {names}", "a sensor fault on one of them"),
            action=f"Look at the trends of {names} together.",
        )
