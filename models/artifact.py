"""The saved feed-rate model: a scikit-learn pipeline plus what is needed to trust it.

The joblib file holds plain metadata (feature names and units, training-data
hash, library versions, metrics, date) beside the pipeline, which is stored as
an inner joblib blob. Loading checks the metadata *before* unpickling any
scikit-learn object, so a model from an incompatible scikit-learn or for a
different feature set is refused with :class:`IncompatibleModelError` instead
of failing somewhere inside pickle or, worse, predicting garbage.

>>> import tempfile, pathlib
>>> from sklearn.dummy import DummyRegressor
>>> from sklearn.pipeline import make_pipeline
>>> import pandas as pd
>>> from models.features import FEATURE_NAMES
>>> X = pd.DataFrame([[0.0] * len(FEATURE_NAMES)], columns=list(FEATURE_NAMES))
>>> card = ModelCard.describe(X, data_hash="abc", metrics={"r2_test": 0.9})
>>> path = pathlib.Path(tempfile.mkdtemp()) / "m.joblib"
>>> _ = save_model(FeedModel(make_pipeline(DummyRegressor()).fit(X, [1.0]), card), path)
>>> load_model(path).card.metrics["r2_test"]
0.9
"""

from __future__ import annotations

import hashlib
import io
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import pandas as pd
import sklearn
from sklearn.pipeline import Pipeline

from models.features import FEATURE_NAMES, FEATURES

FORMAT = "bioreactor-feed-model"
FORMAT_VERSION = 1
#: Spread of the per-tree predictions reported as the recommendation interval (percentiles).
INTERVAL_PERCENTILES = (10.0, 90.0)


class IncompatibleModelError(RuntimeError):
    """A model file that this code cannot use safely; the message says why and what to do."""


def library_versions() -> dict[str, str]:
    """Versions that decide whether a pickled pipeline can be trusted here."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "joblib": joblib.__version__,
    }


def frame_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a data frame's contents (values and column names), for provenance.

    >>> frame_hash(pd.DataFrame({"a": [1.0]})) == frame_hash(pd.DataFrame({"a": [1.0]}))
    True
    """
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelCard:
    """Everything known about a trained model besides its parameters."""

    features: tuple[str, ...]
    units: dict[str, str]
    sources: dict[str, str]
    feature_means: dict[str, float]
    data_hash: str
    versions: dict[str, str]
    trained_at: str
    metrics: dict[str, float] = field(default_factory=dict)
    #: Raw variables by importance on held-out batches, most important first.
    ranking: tuple[str, ...] = ()
    target: str = "feed_rate"
    target_unit: str = "mL/h"

    @classmethod
    def describe(
        cls,
        X: pd.DataFrame,
        *,
        data_hash: str,
        metrics: dict[str, float] | None = None,
        ranking: tuple[str, ...] = (),
    ) -> ModelCard:
        """The card of a model trained now on the feature matrix ``X``."""
        catalogue = {f.name: f for f in FEATURES}
        names = tuple(str(c) for c in X.columns)
        return cls(
            features=names,
            units={n: catalogue[n].unit for n in names},
            sources={n: catalogue[n].source for n in names},
            feature_means={n: float(X[n].mean()) for n in names},
            data_hash=data_hash,
            versions=library_versions(),
            trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
            metrics=dict(metrics or {}),
            ranking=ranking,
        )

    @property
    def version(self) -> str:
        """Short identifier of the model: training date and data hash."""
        return f"rf-{self.trained_at[:10]}-{self.data_hash[:8]}"


@dataclass(frozen=True)
class Prediction:
    """Point predictions (mean over the trees) and the trees' spread, one value per row."""

    value: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]


@dataclass
class FeedModel:
    """A fitted pipeline ending in a random forest, with its :class:`ModelCard`."""

    pipeline: Pipeline
    card: ModelCard

    def predict(self, X: pd.DataFrame) -> Prediction:
        """Feed rate (mL/h) for each row of the feature matrix ``X``, with the trees' spread.

        The interval is the 10th-90th percentile of the individual trees'
        predictions, widened if needed to contain the point prediction (a
        skewed spread of a few trees can leave the mean outside): a measure of
        the model's disagreement, not a calibrated prediction interval (its
        held-out coverage is in the metrics).
        """
        features = X[list(self.card.features)]
        forest = self.pipeline[-1]
        if not hasattr(forest, "estimators_"):
            value = np.asarray(self.pipeline.predict(features), dtype=float)
            return Prediction(value, value, value)
        # trees skip input validation (check_input=False), which costs more than the
        # prediction itself for the few rows of a live tick; they need float32, C order
        prepared = np.ascontiguousarray(self.pipeline[:-1].transform(features), dtype=np.float32)
        per_tree = np.stack([t.predict(prepared, check_input=False) for t in forest.estimators_])
        low, high = np.percentile(per_tree, INTERVAL_PERCENTILES, axis=0)
        value = per_tree.mean(axis=0)
        return Prediction(value, np.minimum(low, value), np.maximum(high, value))


def save_model(model: FeedModel, path: Path) -> Path:
    """Write ``model`` to ``path`` (parent folders created); return the path."""
    blob = io.BytesIO()
    joblib.dump(model.pipeline, blob)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "card": asdict(model.card),
        "pipeline": blob.getvalue(),
    }
    joblib.dump(payload, path, compress=3)
    return path


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def check_compatible(card: ModelCard) -> None:
    """Raise :class:`IncompatibleModelError` unless this code can use a model with ``card``.

    The feature set must equal the current one and scikit-learn's major.minor
    version must match (pickles are not portable across them); NumPy's major too.
    """
    if tuple(card.features) != FEATURE_NAMES:
        missing = sorted(set(FEATURE_NAMES) - set(card.features))
        extra = sorted(set(card.features) - set(FEATURE_NAMES))
        detail = f"missing {missing}, unexpected {extra}" if missing or extra else "column order differs"
        raise IncompatibleModelError(
            f"the model was trained on a different feature set ({detail}); retrain it with "
            "`bioreactor train`"
        )
    here = library_versions()
    stored = card.versions
    if _major_minor(stored.get("scikit-learn", "?")) != _major_minor(here["scikit-learn"]):
        raise IncompatibleModelError(
            f"the model was saved with scikit-learn {stored.get('scikit-learn', '?')}, this "
            f"environment has {here['scikit-learn']}; retrain it with `bioreactor train`"
        )
    if stored.get("numpy", "?").split(".")[0] != here["numpy"].split(".")[0]:
        raise IncompatibleModelError(
            f"the model was saved with NumPy {stored.get('numpy', '?')}, this environment has "
            f"{here['numpy']}; retrain it with `bioreactor train`"
        )


def _card(raw: dict[str, Any]) -> ModelCard:
    raw = dict(raw)
    raw["features"] = tuple(raw["features"])
    raw["ranking"] = tuple(raw.get("ranking", ()))
    return ModelCard(**raw)


def load_model(path: Path) -> FeedModel:
    """Read a model written by :func:`save_model`, refusing incompatible ones."""
    if not path.is_file():
        raise IncompatibleModelError(f"no model file at {path}; train one with `bioreactor train`")
    try:
        payload = joblib.load(path)
    except Exception as error:  # a truncated or foreign file fails in many ways
        raise IncompatibleModelError(f"{path} is not a readable model file: {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise IncompatibleModelError(f"{path} is not a feed-rate model file")
    if payload.get("format_version") != FORMAT_VERSION:
        raise IncompatibleModelError(
            f"{path} has model format {payload.get('format_version')}, this code reads "
            f"{FORMAT_VERSION}; retrain it with `bioreactor train`"
        )
    card = _card(payload["card"])
    check_compatible(card)
    pipeline = joblib.load(io.BytesIO(payload["pipeline"]))
    return FeedModel(pipeline, card)
