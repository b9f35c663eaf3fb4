"""The saved feed-rate model: a scikit-learn pipeline plus what is needed to trust it.

Unpickling a file runs whatever code it names, so the model file is signed
(:mod:`models.signing`): a plain JSON header (format and version, the
:class:`ModelCard`, the library versions that pickled the pipeline, the
pipeline's size and SHA-256) followed by the joblib-pickled pipeline and an
HMAC-SHA256 of both, keyed by this installation's signing key. Loading checks,
in this order and before unpickling anything, the signature, the format
version and the card (feature set, library versions), so a crafted, altered,
truncated or foreign file, or a model for another scikit-learn or feature set,
is refused with :class:`IncompatibleModelError` instead of running its code,
failing somewhere inside pickle or, worse, predicting garbage.

>>> import tempfile, pathlib
>>> from sklearn.dummy import DummyRegressor
>>> from sklearn.pipeline import make_pipeline
>>> import pandas as pd
>>> from models.features import FEATURE_NAMES
>>> X = pd.DataFrame([[0.0] * len(FEATURE_NAMES)], columns=list(FEATURE_NAMES))
>>> card = ModelCard.describe(X, data_hash="abc", metrics={"r2_test": 0.9})
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> key = folder / "model-signing.key"  # not the user's own key
>>> model = FeedModel(make_pipeline(DummyRegressor()).fit(X, [1.0]), card)
>>> path = save_model(model, folder / "m.joblib", key_path=key)
>>> load_model(path, key_path=key).card.metrics["r2_test"]
0.9
>>> _ = path.write_bytes(path.read_bytes()[:-1])  # lose the signature's last byte
>>> load_model(path, key_path=key)
Traceback (most recent call last):
...
models.artifact.IncompatibleModelError: ... is truncated: ...; it was not loaded...
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

from bioreactor.files import write_atomically
from models import signing
from models.features import FEATURE_NAMES, FEATURES

FORMAT = "bioreactor-feed-model"
#: 1 was a bare joblib pickle (now refused unread, as any unsigned pickle); 2 is signed.
FORMAT_VERSION = 2
#: First line of a model file, checked before anything else is read.
MAGIC = f"{FORMAT}\n".encode("ascii")
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


def save_model(model: FeedModel, path: Path, *, key_path: Path | None = None) -> Path:
    """Write ``model`` to ``path``, signed, (parent folders created); return the path.

    Parameters
    ----------
    model
        The model to save.
    path
        Destination; it is replaced atomically, so a monitor reloading the model
        when the file changes never reads a half-written one.
    key_path
        The signing key (default :func:`models.signing.key_file`: the
        ``BIOREACTOR_MODEL_KEY_FILE`` variable or the user's config folder); a
        new random key is created there if there is none.
    """
    blob = io.BytesIO()
    joblib.dump(model.pipeline, blob, compress=3)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "card": asdict(model.card),
        # what pickled the body, which is what unpickling depends on (the card has the training run's)
        "pickled_with": library_versions(),
    }
    data = signing.seal(MAGIC, header, blob.getvalue(), signing.key_file(key_path))
    write_atomically(path, data)
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
    _check_versions(card.versions)


def _check_versions(stored: dict[str, str]) -> None:
    """Refuse pickles from another scikit-learn major.minor or NumPy major than this environment's."""
    here = library_versions()
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


def load_model(path: Path, *, key_path: Path | None = None) -> FeedModel:
    """Read a model written by :func:`save_model`, refusing untrusted and incompatible ones.

    Parameters
    ----------
    path
        The model file.
    key_path
        The signing key that must have signed it (default
        :func:`models.signing.key_file`); it is only read, never created.

    Raises
    ------
    IncompatibleModelError
        If the file is missing, not signed with this installation's key (an
        unsigned or foreign file, one signed elsewhere), altered or truncated;
        or has another format version, feature set or library versions. The
        pipeline is unpickled only after all of these checks pass.
    """
    if not path.is_file():
        raise IncompatibleModelError(f"no model file at {path}; train one with `bioreactor train`")
    try:
        data = path.read_bytes()
        header, body = signing.unseal(MAGIC, data, signing.key_file(key_path))
    except OSError as error:
        raise IncompatibleModelError(f"{path} is not a readable model file: {error}") from error
    except signing.UntrustedFileError as error:
        raise IncompatibleModelError(
            f"{path} {error}; it was not loaded, since unpickling an untrusted file can run any code "
            "(retrain with `bioreactor train`)"
        ) from None
    # from here on the header is authentic: it was written by save_model with this key
    if header.get("format") != FORMAT:
        raise IncompatibleModelError(f"{path} is not a feed-rate model file")
    if header.get("format_version") != FORMAT_VERSION:
        raise IncompatibleModelError(
            f"{path} has model format {header.get('format_version')}, this code reads "
            f"{FORMAT_VERSION}; retrain it with `bioreactor train`"
        )
    try:
        card = _card(header["card"])
        pickled_with = {str(k): str(v) for k, v in header["pickled_with"].items()}
    except (KeyError, TypeError, AttributeError) as error:  # a header from a future or broken writer
        raise IncompatibleModelError(f"{path} is not a readable model file: bad header ({error})") from error
    check_compatible(card)
    _check_versions(pickled_with)
    try:
        pipeline = joblib.load(io.BytesIO(body))
    except Exception as error:  # authentic but unloadable here, e.g. a class renamed since
        raise IncompatibleModelError(f"{path} is not a readable model file: {error}") from error
    return FeedModel(pipeline, card)
