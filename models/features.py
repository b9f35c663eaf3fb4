"""Causal features of a batch's own past, computed the same way offline and live.

Every feature at a row uses only that batch's rows at or before the row's culture
time: rolling means and least-squares slopes over trailing time windows, the
integral of viable cells (IVC) and rates derived from them. Nothing looks ahead,
so a model trained on these features can run on a live stream.

Windows are in hours of culture time, not in rows, so irregular sampling and
dropped readings do not change what a feature means.

>>> import pandas as pd
>>> frame = pd.DataFrame({
...     "batch_id": ["B1"] * 3, "culture_h": [0.0, 1.0, 2.0],
...     "vcd": [1.0, 2.0, 3.0], "glucose": [6.0, 5.0, 4.0], "lactate": [0.5] * 3,
...     "do": [40.0] * 3, "ph": [7.0] * 3, "temperature": [37.0] * 3,
...     "agitation": [100.0] * 3, "airflow": [0.05] * 3})
>>> features = build_features(frame)
>>> features["ivc"].tolist()
[0.0, 1.5, 4.0]
>>> features["glucose_uptake_rate"].round(6).tolist()[1:]
[1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from bioreactor.contract import Reading, field_units

FloatArray = npt.NDArray[np.float64]

BATCH = "batch_id"
TIME = "culture_h"

#: Inputs every row must carry (the contract's required process variables).
REQUIRED_INPUTS: tuple[str, ...] = (
    "vcd",
    "glucose",
    "lactate",
    "do",
    "ph",
    "temperature",
    "agitation",
    "airflow",
)
#: Inputs many plants measure offline only; missing values are imputed by the model.
OPTIONAL_INPUTS: tuple[str, ...] = ("viability", "volume")
#: Variables whose short-term level and trend drive feeding decisions.
TRENDED: tuple[str, ...] = ("vcd", "glucose", "lactate", "do", "ph")

#: Trailing window of the rolling means (h): smooths sensor noise over a few samples.
MEAN_WINDOW_H = 2.0
#: Trailing window of the slopes (h): long enough for glucose consumption to rise
#: above Raman noise (±0.2-0.3 g/L, /work/shared/domain-notes.md) yet short against
#: the exponential phase (doubling ~20-30 h).
SLOPE_WINDOW_H = 6.0
#: The longest history any feature needs; a live buffer must keep at least this much.
MAX_WINDOW_H = max(MEAN_WINDOW_H, SLOPE_WINDOW_H)


class InputError(ValueError):
    """Input data that cannot be turned into features (missing column, NaN, wrong type)."""


@dataclass(frozen=True, slots=True)
class Feature:
    """One model input: its name, the raw variable it is derived from and its unit."""

    name: str
    source: str
    unit: str


def _unit(variable: str) -> str:
    return str(_READING_UNITS[variable])


_READING_UNITS = field_units(Reading)


def mean_feature(variable: str) -> str:
    """Name of the rolling mean of ``variable``.

    >>> mean_feature("glucose")
    'glucose_mean_2h'
    """
    return f"{variable}_mean_{MEAN_WINDOW_H:g}h"


def slope_feature(variable: str) -> str:
    """Name of the rolling slope of ``variable``.

    >>> slope_feature("glucose")
    'glucose_slope_6h'
    """
    return f"{variable}_slope_{SLOPE_WINDOW_H:g}h"


def _catalogue() -> tuple[Feature, ...]:
    features = [Feature(TIME, TIME, _unit(TIME))]
    features += [Feature(v, v, _unit(v)) for v in REQUIRED_INPUTS + OPTIONAL_INPUTS]
    for v in TRENDED:
        features.append(Feature(mean_feature(v), v, _unit(v)))
        features.append(Feature(slope_feature(v), v, f"{_unit(v)}/h"))
    features += [
        Feature("ivc", "vcd", "1e6 cells·h/mL"),
        Feature("growth_rate", "vcd", "1/h"),
        Feature("glucose_uptake_rate", "glucose", "g/L/h"),
        Feature("specific_glucose_uptake", "glucose", "g/(1e9 cells·h)"),
    ]
    return tuple(features)


#: The model's inputs, in column order.
FEATURES: tuple[Feature, ...] = _catalogue()
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)


def feature_groups() -> dict[str, list[str]]:
    """Features grouped by the raw variable they come from, in catalogue order.

    >>> feature_groups()["glucose"][:2]
    ['glucose', 'glucose_mean_2h']
    """
    groups: dict[str, list[str]] = {}
    for feature in FEATURES:
        groups.setdefault(feature.source, []).append(feature.name)
    return groups


def validate_input(frame: pd.DataFrame) -> None:
    """Raise :class:`InputError` naming every problem that prevents feature building.

    Optional inputs (viability, volume) may be absent or contain gaps; required
    ones must be present, numeric and complete.

    >>> try:
    ...     validate_input(pd.DataFrame({"batch_id": ["B1"], "culture_h": [0.0], "vcd": [1.0]}))
    ... except InputError as error:
    ...     print(error)  # doctest: +NORMALIZE_WHITESPACE
    missing column(s): glucose, lactate, do, ph, temperature, agitation, airflow
    (map foreign names with --map SOURCE=glucose ...)
    """
    needed = (BATCH, TIME, *REQUIRED_INPUTS)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        hint = f"map foreign names with --map SOURCE={missing[0]} ..."
        raise InputError(f"missing column(s): {', '.join(missing)} ({hint})")
    problems = []
    for column in (TIME, *REQUIRED_INPUTS, *(c for c in OPTIONAL_INPUTS if c in frame.columns)):
        raw = frame[column]
        values = raw if pd.api.types.is_numeric_dtype(raw) else pd.to_numeric(raw, errors="coerce")
        gaps = values.isna()
        if not gaps.any():
            continue
        bad = gaps & raw.notna()
        if bad.any():
            problems.append(f"{column}: {int(bad.sum())} non-numeric value(s), first at row {_first(bad)}")
        empty = raw.isna()
        if column not in OPTIONAL_INPUTS and empty.any():
            problems.append(f"{column}: {int(empty.sum())} empty/NaN value(s), first at row {_first(empty)}")
    if frame[BATCH].isna().any():
        problems.append(f"{BATCH}: empty value(s), first at row {_first(frame[BATCH].isna())}")
    if problems:
        raise InputError("; ".join(problems))


def _first(mask: pd.Series[bool]) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0])


def build_features(
    frame: pd.DataFrame, ivc_start: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """The feature matrix of ``frame`` (columns :data:`FEATURE_NAMES`, same index and order).

    Parameters
    ----------
    frame
        Readings of one or more batches, in any row order; needs ``batch_id``,
        ``culture_h`` and the required inputs (see :func:`validate_input`).
    ivc_start
        IVC already accumulated before each batch's first row here (for a live
        buffer that holds only the recent past); 0 for batches not listed.
    """
    validate_input(frame)
    order = np.lexsort((frame[TIME].to_numpy(dtype=float), frame[BATCH].astype(str).to_numpy()))
    rows = frame.iloc[order]
    batch = rows[BATCH].astype(str).to_numpy()
    t = rows[TIME].to_numpy(dtype=float)
    codes = pd.factorize(batch)[0]
    starts = np.r_[True, codes[1:] != codes[:-1]]

    def column(name: str) -> FloatArray:
        if name not in rows.columns:
            return np.full(len(rows), np.nan)
        return pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float)

    out: dict[str, FloatArray] = {TIME: t}
    for name in REQUIRED_INPUTS + OPTIONAL_INPUTS:
        out[name] = column(name)
    mean_window = _Window(codes, t, MEAN_WINDOW_H)
    slope_window = _Window(codes, t, SLOPE_WINDOW_H)
    for v in TRENDED:
        out[mean_feature(v)] = mean_window.mean(out[v])
        out[slope_feature(v)] = slope_window.slope(out[v])

    vcd = out["vcd"]
    steps = np.where(starts, 0.0, (vcd + np.r_[vcd[:1], vcd[:-1]]) / 2 * np.diff(t, prepend=t[0]))
    offsets = np.zeros(len(rows))
    if ivc_start:
        offsets = np.asarray(pd.Series(batch).map(ivc_start).fillna(0.0), dtype=np.float64)
    cumulative = np.cumsum(steps)
    # rows are sorted by batch, so factorize numbered the batches 0, 1, 2... in row order
    out["ivc"] = offsets + cumulative - cumulative[np.flatnonzero(starts)][codes]
    return feature_frame(out, slope_window.mean(vcd), rows.index).loc[frame.index]


def feature_frame(
    columns: Mapping[str, FloatArray], vcd_mean: FloatArray, index: pd.Index
) -> pd.DataFrame:
    """The feature matrix, completed with the rates derived from the windowed features.

    Parameters
    ----------
    columns
        Every feature of :data:`FEATURE_NAMES` but the rates: the raw inputs, the
        rolling means and slopes and the IVC, one value per row.
    vcd_mean
        Mean VCD over each row's slope window, the cell count the rates are per.
    index
        Index of the rows.
    """
    out = dict(columns)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["growth_rate"] = out[slope_feature("vcd")] / vcd_mean
        out["glucose_uptake_rate"] = -out[slope_feature("glucose")]
        # per 1e9 cells: g/L/h divided by 1e6 cells/mL = g per 1e9 cells per hour
        out["specific_glucose_uptake"] = out["glucose_uptake_rate"] / vcd_mean
    features = pd.DataFrame(out, columns=list(FEATURE_NAMES))
    features = features.replace([np.inf, -np.inf], np.nan)
    features.index = index
    return features


def window_mean(total: FloatArray, count: FloatArray) -> FloatArray:
    """Means from the sums and numbers of values of windows; NaN for an empty window."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean: FloatArray = total / count
    return mean


def window_slope(
    n: FloatArray,
    st: FloatArray,
    sx: FloatArray,
    stt: FloatArray,
    stx: FloatArray,
    *,
    origin: FloatArray | float = 0.0,
) -> FloatArray:
    """Least-squares slopes of ``x`` against time from window sums of 1, t, x, t² and t·x.

    Parameters
    ----------
    n, st, sx, stt, stx
        The window sums, of culture time ``t`` less ``origin`` and of ``x`` less
        any constant.
    origin
        Culture time the sums' times are measured from. The slope depends on
        neither offset, but rounding does: values near the window's cancel less.

    Returns
    -------
    numpy.ndarray
        The slopes; NaN with fewer than two points, or when the times are too close
        together, relative to the culture time itself, to resolve their spread.
    """
    denominator = n * stt - st * st
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (n * stx - st * sx) / denominator
    # n·Σ(culture time)², whatever the origin: the degeneracy test must not depend on it
    scale = n * (stt + origin * (2 * st + n * origin))
    return np.where((n >= 2) & (denominator > 1e-9 * np.maximum(scale, 1.0)), slope, np.nan)


class _Window:
    """Trailing time windows ``(t - width, t]`` of rows sorted by batch then time.

    Sums over a window are differences of cumulative sums, so every statistic
    costs O(rows) whatever the window length; NaNs are left out of the sums.
    """

    def __init__(self, codes: npt.NDArray[np.intp], t: FloatArray, width: float) -> None:
        span = (t.max() - t.min() if len(t) else 0.0) + width + 1.0
        key = codes * span + t
        self._start = np.searchsorted(key, key - width, side="right")
        self._end = np.arange(1, len(t) + 1)
        self._t = t

    def _sum(self, values: FloatArray) -> FloatArray:
        cumulative: FloatArray = np.r_[0.0, np.cumsum(values)]
        return cumulative[self._end] - cumulative[self._start]

    def mean(self, x: FloatArray) -> FloatArray:
        valid = ~np.isnan(x)
        return window_mean(self._sum(np.where(valid, x, 0.0)), self._sum(valid.astype(float)))

    def slope(self, x: FloatArray) -> FloatArray:
        """Least-squares slope of ``x`` against time; NaN with fewer than two points."""
        valid = ~np.isnan(x)
        t = np.where(valid, self._t, 0.0)
        xv = np.where(valid, x, 0.0)
        n = self._sum(valid.astype(float))
        return window_slope(n, self._sum(t), self._sum(xv), self._sum(t * t), self._sum(t * xv))
