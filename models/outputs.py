"""Where a trained model and its report are written, and how.

``bioreactor train`` and the automatic first training write the same three
files: the model (joblib), its metrics (JSON) and the permutation importances
of the raw variables (CSV, next to the metrics).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from models.artifact import save_model
from models.training import TrainingReport

RUNS = Path("runs")
DEFAULT_MODEL_PATH = RUNS / "feed_model.joblib"
DEFAULT_METRICS_PATH = RUNS / "metrics.json"


@dataclass(frozen=True)
class Outputs:
    """The files of one training run."""

    model: Path
    metrics: Path

    @property
    def importances(self) -> Path:
        """Importances of the raw variables, beside the metrics.

        >>> Outputs(Path("m.joblib"), Path("runs/metrics.json")).importances
        PosixPath('runs/importances.csv')
        """
        return self.metrics.with_name("importances.csv")

    @classmethod
    def beside(cls, model: Path) -> Outputs:
        """Outputs whose report sits next to ``model`` (``<stem>.metrics.json``)."""
        return cls(model, model.with_name(f"{model.stem}.metrics.json"))

    def write(self, report: TrainingReport) -> None:
        save_model(report.model, self.model)
        self.metrics.parent.mkdir(parents=True, exist_ok=True)
        metrics = {**report.metrics, "best_params": report.best_params}
        self.metrics.write_text(json.dumps(metrics, indent=2, default=_plain) + "\n")
        report.importances.to_csv(self.importances, float_format="%.5f")


def _plain(value: object) -> object:
    """JSON for NumPy scalars in hyper-parameters."""
    return value.item() if hasattr(value, "item") else str(value)
