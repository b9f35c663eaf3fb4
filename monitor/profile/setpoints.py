"""Set points of the controlled variables and their schedule over a batch, from columns or from the signal.

With set-point columns (``do_setpoint``, ``ph_setpoint``, ``temperature_setpoint``)
the levels and the hours they change are read from them. Without, they are
inferred from the signal: a loop holds its variable at the set point, so the
levels are where the variable dwells (:mod:`monitor.profile.dwell`), and each
batch's schedule is the order in which it visits them. A visit counts when it
lasts :data:`MIN_VISIT_H`; a level change happens at the first reading after the
last one at the old level (the set point had changed by then: the variable
starts to move at once). So a CHO temperature shift 37 → 33 °C between hours 96
and 144 is learnt as levels (37, 33) and the window of the batches' shift hours.

The loop holds its variable only from the first reading at the level: DO sits
above its set point until the culture consumes enough oxygen, and after a set-point
change the variable takes a while to settle. The deviation (reading - set point)
is measured while the loop holds the variable: from that first reading until
the next change, excursions included.

>>> import numpy as np, pandas as pd
>>> from monitor.profile.reference import Reference
>>> hours = np.arange(0.0, 200.0, 0.25)
>>> frame = pd.concat([pd.DataFrame({"batch_id": f"B{i}", "culture_h": hours,
...     "temperature": np.where(hours < 100 + 10 * i, 37.0, 33.0) + 0.05 * np.sin(hours * 7)})
...     for i in range(4)])
>>> learnt = learn_setpoint(Reference.of(frame), "temperature", sigma=0.05)
>>> learnt.schedule.levels, learnt.schedule.change_h, learnt.schedule.from_columns
((37.0, 33.0), (100.0, 130.0), False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bioreactor.contract import SETPOINT_FIELDS
from monitor.profile.dwell import CORE_SIGMAS, Level, dwell_levels
from monitor.profile.model import SetpointSchedule
from monitor.profile.quantiles import Quantiles, rounded
from monitor.profile.reference import Reference

FloatArray = NDArray[np.float64]

#: Widest deadband (between its edges) expected per variable: pH loops act on base
#: below the band and CO2 (or acid) above it, with a band of +/-0.05-0.1 (domain notes);
#: DO and temperature loops hold their set point. A pH set-point change smaller than
#: this is read as a deadband unless set-point columns say otherwise.
DEADBAND_MAX: dict[str, float] = {"ph": 0.25}
#: A batch visits a level when it stays there at least this long (h).
MIN_VISIT_H = 1.0


@dataclass(frozen=True)
class LearntSetpoint:
    """A schedule and, for every reference reading, its set point and whether the loop held it.

    Attributes
    ----------
    schedule
        The set-point schedule.
    setpoint
        ``(n,)`` set point in force at each reading (NaN where unknown).
    held
        ``(n,)`` True from the first reading at the set point until it next changes.
    """

    schedule: SetpointSchedule
    setpoint: FloatArray
    held: NDArray[np.bool_]

    def deviations(self, values: FloatArray) -> Quantiles:
        """Spread of (reading - set point) over the readings where the loop held the variable."""
        return Quantiles.of((values - self.setpoint)[self.held])


@dataclass(frozen=True)
class _Levels:
    """Set-point levels and which is in force at each reading (-1: unknown), with the change readings."""

    values: FloatArray
    level_of: NDArray[np.int64]
    change_rows: NDArray[np.int64]
    deadband: float


def learn_setpoint(reference: Reference, variable: str, sigma: float) -> LearntSetpoint | None:
    """The set point of ``variable`` (measurement noise ``sigma``); ``None`` when it has none.

    From the set-point column when the reference has one with values, else from the signal.
    """
    column = SETPOINT_FIELDS.get(variable, "")
    from_columns = column in reference.frame.columns and bool(reference.frame[column].notna().any())
    levels = (
        _from_column(reference, variable, column, sigma) if from_columns else _from_signal(reference, variable, sigma)
    )
    return None if levels is None else _learnt(reference, variable, levels, sigma, from_columns=from_columns)


def _dwell(reference: Reference, variable: str, values: FloatArray, sigma: float) -> list[Level]:
    return dwell_levels(values, _batch_weights(reference), sigma, deadband_max=DEADBAND_MAX.get(variable, 0.0))


def _from_column(reference: Reference, variable: str, column: str, sigma: float) -> _Levels:
    setpoint = reference.frame[column].to_numpy(np.float64)
    # Rounded so that a unit conversion's last bits (98.6 °F = 37.000000000000004 °C) make no new level.
    setpoint = pd.Series(setpoint).groupby(reference.codes).ffill().round(6).to_numpy(np.float64)
    finite = np.isfinite(setpoint)
    levels = np.unique(setpoint[finite])
    level_of = np.full(len(setpoint), -1, dtype=np.int64)
    level_of[finite] = np.searchsorted(levels, setpoint[finite])
    # The band the loop leaves the variable in: dwell levels of the deviation from the set point.
    edges = _dwell(reference, variable, reference.values(variable) - setpoint, sigma)
    deadband = min(edges, key=lambda level: abs(level.value)).deadband if edges else 0.0
    return _Levels(levels, level_of, _changes(reference, level_of), deadband)


def _from_signal(reference: Reference, variable: str, sigma: float) -> _Levels | None:
    values = reference.values(variable)
    found = _dwell(reference, variable, values, sigma)
    if not found:
        return None
    levels = np.array([level.value for level in found])
    tolerance = np.array([level.deadband for level in found]) + CORE_SIGMAS * sigma
    distance = np.abs(values[:, None] - levels[None, :])
    nearest = np.argmin(np.where(np.isnan(distance), np.inf, distance), axis=1)
    at_level = np.where(distance[np.arange(len(values)), nearest] <= tolerance[nearest], nearest, -1)
    visits = _visits(reference, at_level)
    if visits.empty:
        return None
    level_of, changes = _schedule_of_visits(reference, visits)
    return _Levels(levels, level_of, changes, max(level.deadband for level in found))


def _batch_weights(reference: Reference) -> FloatArray:
    """Each reading's weight when every batch should count once: 1 / readings of its batch."""
    sizes = np.bincount(reference.codes)
    return 1.0 / sizes[reference.codes]


def _visits(reference: Reference, at_level: NDArray[np.int64]) -> pd.DataFrame:
    """Stays of each batch at a level lasting :data:`MIN_VISIT_H`, in time order.

    Readings at no level (passing between levels, excursions) are skipped: a stay goes
    on across them while the batch comes back to the same level. Columns: ``batch``,
    ``level``, ``first`` and ``last`` (row numbers of the stay's first and last reading).
    """
    rows = np.flatnonzero(at_level >= 0)
    runs = pd.DataFrame({"batch": reference.codes[rows], "level": at_level[rows], "row": rows})
    new_run = (runs["batch"].diff() != 0) | (runs["level"].diff() != 0)
    runs = runs.groupby(new_run.cumsum()).agg(
        batch=("batch", "first"), level=("level", "first"), first=("row", "first"), last=("row", "last")
    )
    hours = reference.hours()
    runs = runs[hours[runs["last"]] - hours[runs["first"]] >= MIN_VISIT_H]
    same_stay = (runs["batch"].diff() == 0) & (runs["level"].diff() == 0)
    return (
        runs.groupby((~same_stay).cumsum())
        .agg(batch=("batch", "first"), level=("level", "first"), first=("first", "first"), last=("last", "last"))
        .reset_index(drop=True)
    )


def _schedule_of_visits(reference: Reference, visits: pd.DataFrame) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The level in force at each reading, and the readings at which levels changed.

    A batch is at the level of its first visit from its start; the level changes at the
    first reading after the last reading of a visit that the next visit (another level) follows.
    """
    level_of = np.full(len(reference.codes), -1, dtype=np.int64)
    starts = np.flatnonzero(~reference.same_batch_as_previous())
    first_visits = visits.groupby("batch").first()
    level_of[starts[first_visits.index]] = first_visits["level"].to_numpy()
    follows = (visits["batch"].diff() == 0).to_numpy()
    change_rows = visits["last"].to_numpy()[np.flatnonzero(follows) - 1] + 1
    level_of[change_rows] = visits["level"].to_numpy()[follows]
    known = pd.Series(np.where(level_of >= 0, level_of, np.nan)).groupby(reference.codes).ffill()
    return np.asarray(known.fillna(-1), dtype=np.int64), change_rows.astype(np.int64)


def _changes(reference: Reference, level_of: NDArray[np.int64]) -> NDArray[np.int64]:
    """The readings at which the level differs from the previous reading's (both known)."""
    previous = np.roll(level_of, 1)
    changed = reference.same_batch_as_previous() & (level_of != previous) & (level_of >= 0) & (previous >= 0)
    return np.flatnonzero(changed)


def _learnt(
    reference: Reference, variable: str, levels: _Levels, sigma: float, *, from_columns: bool
) -> LearntSetpoint:
    """The schedule (levels in order of first use) and the held readings, from the level at each reading."""
    hours, level_of, change_rows = reference.hours(), levels.level_of, levels.change_rows
    used = level_of >= 0
    first_use = pd.Series(hours[used]).groupby([reference.codes[used], level_of[used]]).min()
    order = first_use.groupby(level=1).median().sort_values().index.to_numpy()
    setpoint = np.where(used, levels.values[np.maximum(level_of, 0)], np.nan)
    held = _held(reference, reference.values(variable), setpoint, levels.deadband + CORE_SIGMAS * sigma)
    held_from = pd.Series(hours[held]).groupby(reference.codes[held]).min().to_numpy(np.float64)
    scheduled = np.unique(reference.codes[used]).size
    schedule = SetpointSchedule(
        variable=variable,
        levels=tuple(rounded(float(levels.values[i])) for i in order),
        change_h=_window(hours[change_rows]),
        from_columns=from_columns,
        deadband=rounded(levels.deadband),
        held_from_h=_window(held_from) or (0.0, 0.0),
        change_share=rounded(np.unique(reference.codes[change_rows]).size / max(scheduled, 1)),
    )
    return LearntSetpoint(schedule, setpoint, held)


def _window(hours: NDArray[np.floating[Any]]) -> tuple[float, float] | None:
    """``(earliest, latest)`` of ``hours``; None when there are none."""
    return (rounded(float(hours.min())), rounded(float(hours.max()))) if hours.size else None


def _held(reference: Reference, values: FloatArray, setpoint: FloatArray, tolerance: float) -> NDArray[np.bool_]:
    """True from the first reading within ``tolerance`` of the set point until the set point changes."""
    changed = ~reference.same_batch_as_previous() | (setpoint != np.roll(setpoint, 1))
    near = np.abs(values - setpoint) <= tolerance
    segment = np.cumsum(changed)
    reached = pd.Series(near).groupby(segment).cummax().to_numpy(bool)
    return reached & np.isfinite(setpoint)
