"""Permutation importance of raw variables, not just of single engineered features.

Most features derive from one raw variable (glucose, its rolling mean, its slope,
the uptake rate...). Permuting them one at a time understates a variable whose
information is spread over correlated features, so the variable's features are
permuted *together*, with the same row permutation.

:func:`sklearn.inspection.permutation_importance` permutes columns of ``X``;
:class:`_GroupIndex` gives it one column per group holding row numbers, and
predicts from the feature matrix with each group's features taken from the rows
those numbers point to. Permuting a column of row numbers therefore permutes a
whole group jointly, and scikit-learn does the repeats and the scoring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.inspection import permutation_importance


class _GroupIndex(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Adapter: predicts ``model`` on ``features`` re-assembled from per-group row numbers."""

    def __init__(self, model: Any, features: pd.DataFrame, groups: Sequence[Sequence[str]]) -> None:
        self.model = model
        self.features = features
        self.groups = groups

    def fit(self, X: Any, y: Any = None) -> _GroupIndex:  # the wrapped model is already fitted
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict(self, X: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        rows = np.asarray(X, dtype=np.int64)
        assembled = self.features.copy()
        for g, columns in enumerate(self.groups):
            assembled[list(columns)] = self.features[list(columns)].to_numpy()[rows[:, g]]
        return np.asarray(self.model.predict(assembled), dtype=float)


def grouped_permutation_importance(
    model: Any,
    X: pd.DataFrame,
    y: npt.ArrayLike,
    groups: Mapping[str, Sequence[str]],
    *,
    n_repeats: int = 5,
    random_state: int = 0,
) -> pd.DataFrame:
    """Drop in R² when each group's features are permuted jointly, largest first.

    Parameters
    ----------
    model
        A fitted regressor taking ``X``'s columns.
    X, y
        Held-out data (rows of batches the model never saw).
    groups
        Group name -> its columns in ``X``; use one column per group for plain
        per-feature importance.

    Returns
    -------
    DataFrame indexed by group with ``importance_mean``, ``importance_std`` and ``rank``.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    >>> y = 3 * X["a"] + 0.1 * X["b"]
    >>> table = grouped_permutation_importance(LinearRegression().fit(X, y), X, y,
    ...                                        {"a": ["a"], "b": ["b"]})
    >>> table.index.tolist()
    ['a', 'b']
    """
    names = list(groups)
    members = [list(groups[n]) for n in names]
    index = np.tile(np.arange(len(X))[:, None], (1, len(names)))
    result = permutation_importance(
        _GroupIndex(model, X.reset_index(drop=True), members),
        index,
        np.asarray(y, dtype=float),
        scoring="r2",
        n_repeats=n_repeats,
        random_state=random_state,
    )
    table = pd.DataFrame(
        {"importance_mean": result.importances_mean, "importance_std": result.importances_std},
        index=pd.Index(names, name="variable"),
    ).sort_values("importance_mean", ascending=False)
    table["rank"] = np.arange(1, len(table) + 1)
    return table
