"""Live features from the running window sums equal the offline features, tick by tick."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.features import (
    FEATURE_NAMES,
    MAX_WINDOW_H,
    SLOPE_WINDOW_H,
    TRENDED,
    FloatArray,
    InputError,
    build_features,
    slope_feature,
)
from models.history import COLUMNS, FeatureHistory

#: Relative tolerance of the live features against the offline ones.
RTOL = 1e-9


def _reading(rng: np.random.Generator, t: float, level: float) -> dict[str, float]:
    """A plausible reading at culture time ``t``: trends plus noise, optional inputs often missing."""
    values = {
        "culture_h": t,
        "vcd": level * np.exp(0.03 * t) * rng.uniform(0.97, 1.03),
        "glucose": 6.0 - 0.02 * t + rng.normal(0, 0.2),
        "lactate": 0.5 + 0.01 * t + rng.normal(0, 0.1),
        "do": 40.0 + 5 * np.sin(t / 5) + rng.normal(0, 1.0),
        "ph": 7.1 - 0.002 * t + rng.normal(0, 0.01),
        "temperature": 37.0 + rng.normal(0, 0.1),
        "agitation": 100.0 + rng.normal(0, 1.0),
        "airflow": 0.05 + rng.normal(0, 0.001),
        "viability": rng.uniform(90, 99),
        "volume": 2.0 + 0.001 * t,
    }
    for optional in ("viability", "volume"):
        if rng.random() < 0.4:
            values[optional] = np.nan
    return values


class _Fleet:
    """Random streams with irregular sampling, restarts by batch change and by time going back.

    With a ``grid``, culture times are multiples of it: readings then fall exactly
    on window boundaries, which the windows ``(t - width, t]`` must leave out. A
    power of two keeps the offline times exact, whatever rows share its frame.
    """

    def __init__(self, seed: int, streams: int, grid: float | None) -> None:
        self.rng = np.random.default_rng(seed)
        self.grid = grid
        self.keys = [f"R{i}" for i in range(streams)]
        self.time = {k: float(self.rng.uniform(0, 20)) for k in self.keys}
        self.batch = {k: 0 for k in self.keys}
        self.level = {k: float(self.rng.uniform(0.3, 3.0)) for k in self.keys}

    def step(self, key: str) -> tuple[str, dict[str, float]]:
        """The next reading of ``key`` and its batch id."""
        event = self.rng.random()
        if event < 0.01:  # a new batch
            self.batch[key] += 1
            self.time[key] = float(self.rng.uniform(0, 2))
        elif event < 0.02:  # a replay started again: same batch, culture time back
            self.time[key] = float(self.rng.uniform(0, self.time[key]))
        else:  # irregular sampling, with bursts and gaps longer than the windows
            gap = self.rng.choice([0.0, 0.01, 0.1, 0.25, 1.0, 3.0, 8.0], p=[0.03, 0.2, 0.3, 0.3, 0.1, 0.05, 0.02])
            self.time[key] += float(gap * self.rng.uniform(0.5, 1.5) if gap else 0.0)
        if self.grid:
            self.time[key] = round(self.time[key] / self.grid) * self.grid
        return f"B{self.batch[key]}", _reading(self.rng, self.time[key], self.level[key])


#: Features from the windows' least-squares slopes.
SLOPED = [*(slope_feature(v) for v in TRENDED), "growth_rate", "glucose_uptake_rate", "specific_glucose_uptake"]


def _offline_latest(log: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The reference: features of every reading since each stream's (re)start, last row per key."""
    features = build_features(log)
    last = log.groupby("key", sort=False).tail(1).set_index("key")
    return features.loc[last.loc[keys, "row"]].set_index(pd.Index(keys))


def _exact_sloped(run: FloatArray) -> list[float]:
    """:data:`SLOPED` at the last of readings ``run`` (culture time, then :data:`TRENDED`).

    ``build_features`` sums raw culture times, which cancel badly in windows of a
    few readings close together (up to ~1e-5 relative here), so the reference of
    these features is the least-squares fit about the window's means.
    """
    t = run[:, 0]
    window = run[t > t[-1] - SLOPE_WINDOW_H]
    tc = window[:, 0] - window[:, 0].mean()
    x = window[:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):  # single readings: NaN, as offline
        slope = dict(zip(TRENDED, tc @ (x - x.mean(axis=0)) / (tc @ tc), strict=True))
    vcd_mean = float(x[:, TRENDED.index("vcd")].mean())
    return [*slope.values(), slope["vcd"] / vcd_mean, -slope["glucose"], -slope["glucose"] / vcd_mean]


@pytest.mark.parametrize(
    ("seed", "keep_h", "grid"), [(1, MAX_WINDOW_H, None), (2, MAX_WINDOW_H, 1 / 64), (3, 10.0, 1 / 16)]
)
def test_latest_equals_the_offline_features_every_tick(seed: int, keep_h: float, grid: float | None) -> None:
    """Each tick, NaNs and features equal ``build_features`` over each stream's run to 1e-9.

    Slopes and the rates from them are held to the exact fit instead (see
    :func:`_exact_sloped`).
    """
    fleet = _Fleet(seed, streams=6, grid=grid)
    history = FeatureHistory(keep_h)
    rows: list[dict[str, object]] = []
    runs: dict[str, list[list[float]]] = {}  # culture time and trended values since each (re)start
    run: dict[str, tuple[int, str, float]] = {}  # per key: restarts so far, batch, culture time
    for _ in range(300):
        # a random subset of streams reports, some several times, before one latest()
        keys = [str(k) for k in fleet.rng.choice(fleet.keys, size=fleet.rng.integers(1, 10))]
        for key in keys:
            batch, reading = fleet.step(key)
            restarts, last_batch, last_h = run.get(key, (0, "", np.inf))
            if last_batch != batch or reading["culture_h"] < last_h:
                restarts += 1
            run[key] = (restarts, batch, reading["culture_h"])
            rows.append({"key": key, "batch_id": f"{key}/{restarts}", "row": len(rows), **reading})
            runs.setdefault(f"{key}/{restarts}", []).append([reading[c] for c in ("culture_h", *TRENDED)])
            history.append([key], [batch], {c: [reading[c]] for c in COLUMNS})
        asked = sorted(set(keys))
        live = history.latest(asked)
        offline = _offline_latest(pd.DataFrame(rows), asked)
        assert list(live.columns) == list(FEATURE_NAMES)
        pd.testing.assert_frame_equal(live.isna(), offline.isna())
        rest = [f for f in FEATURE_NAMES if f not in SLOPED]
        np.testing.assert_allclose(live[rest].to_numpy(), offline[rest].to_numpy(), rtol=RTOL, atol=0.0)
        exact = pd.DataFrame(
            [_exact_sloped(np.array(runs[f"{k}/{run[k][0]}"])) for k in asked],
            index=asked,
            columns=SLOPED,
        ).where(offline[SLOPED].notna())
        np.testing.assert_allclose(live[SLOPED].to_numpy(), exact.to_numpy(), rtol=RTOL, atol=0.0)
    assert max(history.rows(k) for k in fleet.keys) < len(rows) / 4  # trimmed all along


def test_a_held_reading_without_a_required_input_stops_the_features_until_a_restart() -> None:
    """As with ``build_features`` over the held readings: an error, and nothing trimmed."""
    history = FeatureHistory()

    def add(key: str, batch: str, hour: float, **missing: list[float]) -> None:
        history.append([key], [batch], {**{c: [1.0] for c in COLUMNS}, "culture_h": [hour], **missing})

    add("R1", "B1", 0.0)
    add("R2", "B1", 0.0)
    add("R1", "B1", 1.0, glucose=[np.nan])
    for hour in range(2, 12):
        add("R1", "B1", float(hour))
        with pytest.raises(InputError, match="R1"):
            history.latest(["R1", "R2"])
    assert history.rows("R1") == 12
    assert history.latest(["R2"]).loc["R2", "ivc"] == 0.0
    add("R1", "B2", 0.0)
    assert history.latest(["R1"]).loc["R1", "ivc"] == 0.0
